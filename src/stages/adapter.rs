//! adapter: prometheus-adapter pointed at the discovered Prometheus Service, with the rule that exposes the
//! metric in the chart's custom rules (no hand-edited ConfigMap). A rule already there for the metric (the
//! guide's hand edit, say) is kept, not doubled. Validated as the HPA will use it: the adapter pod ready, its
//! APIService Available, and after a few warm-up messages, a value for every Interlok pod.

use std::time::Duration;

use serde_json::Value;

use crate::context::Context;
use crate::engine::{Check, Stage};
use crate::manifests::{self, schema::AdapterRule};
use crate::portforward::{http_get, PortForward};
use crate::problem::Problem;
use crate::wait::{self, Poll};

use super::{interlok, releases};

pub const APISERVICE: &str = "v1beta1.custom.metrics.k8s.io";
const WARM_UP_MESSAGES: usize = 5;

pub struct Adapter;

impl Stage for Adapter {
    fn name(&self) -> &'static str {
        "adapter"
    }

    fn after(&self, _cx: &Context) -> &'static [&'static str] {
        &["prometheus", "interlok"]
    }

    fn summary(&self) -> &'static str {
        "install prometheus-adapter with the MessageMetrics rule"
    }

    fn check(&self, cx: &mut Context) -> anyhow::Result<Check> {
        let release = releases::release(cx, "prometheus-adapter");
        let Some(status) = releases::status(cx, &release)? else {
            return Ok(Check::Needed("prometheus-adapter is not installed".into()));
        };
        if status.status != "deployed" {
            return Ok(Check::Needed(format!("release prometheus-adapter is {}", status.status)));
        }
        let metric = cx.settings.metric.clone();
        let rules = installed_rules(cx)?;
        match rules.iter().find(|r| exposes(r, &metric)) {
            Some(rule) => {
                let endpoints = interlok::endpoints(cx)?;
                let ours = manifests::adapter_rule(&cx.settings, &endpoints)?;
                if *rule != ours {
                    cx.note(format!("the adapter already has a rule for {metric} (seriesQuery {}); it is kept, not doubled — `interlok-k8s verify` checks it", rule.series_query));
                }
                Ok(Check::Done(format!("prometheus-adapter {} has a rule for {metric}", status.chart_version)))
            }
            None => Ok(Check::Needed(format!("the adapter has no rule for {metric}"))),
        }
    }

    fn apply(&self, cx: &mut Context) -> anyhow::Result<()> {
        let endpoints = interlok::endpoints(cx)?;
        let values = manifests::adapter_values(&cx.settings, &endpoints)?;
        let release = releases::release(cx, "prometheus-adapter");
        releases::install(cx, &release, &values.text)?;
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> anyhow::Result<String> {
        cx.ui.line("  the adapter needs about 30 s to become ready and may restart once while it does");
        wait_for_apiservice(cx)?;
        let pods = warm_up_and_wait_for_values(cx)?;
        Ok(format!("APIService {APISERVICE} Available; {} has a value for {pods}", cx.settings.metric))
    }
}

/// Whether a rule exposes this metric name (by its `as`, or by naming the series itself).
pub fn exposes(rule: &AdapterRule, metric: &str) -> bool {
    rule.name.as_ == metric || (rule.name.as_.is_empty() && rule.series_query.contains(metric))
}

/// The rules in the adapter's ConfigMap (the one its Deployment mounts), as the adapter reads them.
pub fn installed_rules(cx: &Context) -> Result<Vec<AdapterRule>, Problem> {
    let namespace = cx.settings.monitoring_namespace.clone();
    let Some(configmap) = interlok::get(cx, "configmap", &namespace, "prometheus-adapter")? else {
        return Ok(Vec::new());
    };
    let text = configmap["data"]["config.yaml"].as_str().unwrap_or_default();
    let config: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
    let rules = config["rules"].as_sequence().cloned().unwrap_or_default();
    Ok(rules.into_iter().filter_map(|r| serde_yaml::from_value(r).ok()).collect())
}

/// The APIService's Available condition: Ok(()) or the reason it gives.
pub fn apiservice_available(cx: &Context) -> Result<Result<(), String>, Problem> {
    let cmd = cx.kubectl().get_cluster_json("apiservice", APISERVICE);
    let output = cx.runner.run_unchecked(&cmd)?;
    if !output.success() {
        return Ok(Err(format!("APIService {APISERVICE} does not exist")));
    }
    let value: Value = serde_json::from_str(&output.stdout)
        .map_err(|e| crate::runner::exit_problem(&cmd, &output).reworded(format!("not JSON ({e})")))?;
    let available =
        value["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Available").cloned());
    Ok(match available {
        Some(c) if c["status"] == "True" => Ok(()),
        Some(c) => {
            Err(format!("{}: {}", c["reason"].as_str().unwrap_or("NotAvailable"), c["message"].as_str().unwrap_or("")))
        }
        None => Err("no Available condition yet".into()),
    })
}

fn wait_for_apiservice(cx: &Context) -> Result<(), Problem> {
    let what = format!("APIService {APISERVICE} to become Available");
    wait::until(&cx.ui, &what, cx.settings.wait_timeout, || match apiservice_available(cx) {
        Ok(Ok(())) => Poll::Ready(()),
        Ok(Err(why)) => Poll::Waiting(why),
        Err(problem) => Poll::Failed(problem),
    })
    .map_err(|p| {
        let namespace = &cx.settings.monitoring_namespace;
        let pod_state = adapter_pod_state(cx).unwrap_or_else(|| "no adapter pod found".into());
        let message = format!("{} — adapter pod: {pod_state}", p.message);
        p.reworded(message)
            .with_hint(format!("see the adapter's log: `kubectl logs -n {namespace} deploy/prometheus-adapter`; `kubectl get apiservice {APISERVICE}` shows the condition"))
    })
}

/// "NAME phase, ready or not, N restarts" of the adapter pod.
pub fn adapter_pod_state(cx: &Context) -> Option<String> {
    let cmd = cx.kubectl().list_json(
        &cx.settings.monitoring_namespace,
        "pods",
        Some("app.kubernetes.io/name=prometheus-adapter"),
    );
    let output = cx.runner.run(&cmd).ok()?;
    let list: Value = serde_json::from_str(&output.stdout).ok()?;
    let pod = list["items"].as_array()?.first()?.clone();
    let status = &pod["status"]["containerStatuses"][0];
    Some(format!(
        "{} {}, {}, {} restarts",
        pod["metadata"]["name"].as_str().unwrap_or("?"),
        pod["status"]["phase"].as_str().unwrap_or("Unknown"),
        if status["ready"] == true { "ready" } else { "not ready" },
        status["restartCount"].as_u64().unwrap_or(0)
    ))
}

/// Sends a few messages to /in-box, then waits (bounded; the adapter relists on its interval) until the
/// custom metrics API has a value for every Interlok pod.
fn warm_up_and_wait_for_values(cx: &Context) -> Result<String, Problem> {
    let forward = PortForward::open(cx, &cx.settings.namespace, &cx.settings.deployment, 8080)?;
    for _ in 0..WARM_UP_MESSAGES {
        let _ = http_get(&forward.url("/in-box"), Duration::from_secs(10));
    }
    let what = format!(
        "{} to reach the custom metrics API (the adapter relists every {}s)",
        cx.settings.metric,
        cx.settings.relist_interval.as_secs()
    );
    wait::until(&cx.ui, &what, cx.settings.wait_timeout, || {
        let live: Vec<String> = match interlok::pods(cx) {
            Ok(pods) => pods
                .iter()
                .filter(|p| p["status"]["phase"] == "Running")
                .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
                .collect(),
            Err(problem) => return Poll::Failed(problem),
        };
        let values = custom_metric_pods(cx);
        let missing: Vec<&String> = live.iter().filter(|p| !values.contains(p)).collect();
        if !live.is_empty() && missing.is_empty() {
            Poll::Ready(format!("{} pod{}", live.len(), if live.len() == 1 { "" } else { "s" }))
        } else {
            Poll::Waiting(format!(
                "no value yet for {}",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
        }
    })
    .map_err(|p| p.with_hint("run `interlok-k8s verify` to see which link of the metric's chain is broken"))
}

/// The pods the custom metrics API has a value for.
pub fn custom_metric_pods(cx: &Context) -> Vec<String> {
    let path = format!(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/{}/pods/*/{}",
        cx.settings.namespace, cx.settings.metric
    );
    let Ok(output) = cx.runner.run(&cx.kubectl().get_raw(&path)) else { return Vec::new() };
    let value: Value = serde_json::from_str(&output.stdout).unwrap_or(Value::Null);
    value["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["describedObject"]["name"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}
