//! adapter: prometheus-adapter pointed at the discovered Prometheus Service, with the rule that exposes the
//! metric in the chart's custom rules (no hand-edited ConfigMap). A rule already there for the metric (the
//! 2019 guide's hand edit, say) is kept, not doubled. Validated as the HPA will use it: the adapter pod ready,
//! its APIService Available, and after a few warm-up messages, a value for every Interlok pod.

use crate::cluster::apiservice::{self, Availability};
use crate::cluster::{adapter, interlok, pods};
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests;
use crate::problem::Problem;
use crate::settings::{Scaler, Settings};
use crate::wait::{self, Poll};

use super::releases;

const WARM_UP_MESSAGES: usize = 5;

pub(crate) struct Adapter;

impl Stage for Adapter {
    fn id(&self) -> StageId {
        StageId::Adapter
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Prometheus, StageId::Interlok]
    }

    fn summary(&self) -> &'static str {
        "install prometheus-adapter with the MessageMetrics rule"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        (settings.scaler == Scaler::Keda).then(|| "--scaler keda: KEDA serves the metric".into())
    }

    fn link(&self) -> &'static [&'static str] {
        &[
            "interlok.pushes",
            "metric.series",
            "metric.fresh",
            "helm.adapter",
            "adapter.pod",
            "adapter.rule",
            "adapter.evaluation",
            "adapter.apiservices",
            "custom-metrics.items",
        ]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let release = releases::release(cx, adapter::NAME);
        let Some(status) = releases::status(cx, &release)? else {
            return Ok(Check::Needed("prometheus-adapter is not installed".into()));
        };
        if status.status != "deployed" {
            return Ok(Check::Needed(format!("release prometheus-adapter is {}", status.status)));
        }
        let metric = cx.settings.metric.clone();
        match adapter::rule_for_metric(cx)? {
            Some(rule) => {
                let endpoints = super::interlok::endpoints(cx)?;
                let ours = manifests::adapter_rule(&cx.settings, &endpoints)?;
                if rule != ours {
                    cx.note(format!("the adapter already has a rule for {metric} (seriesQuery {}); it is kept, not doubled — `interlok-k8s verify` checks it", rule.series_query));
                }
                Ok(Check::Done(format!("prometheus-adapter {} has a rule for {metric}", status.chart_version)))
            }
            None => Ok(Check::Needed(format!("the adapter has no rule for {metric}"))),
        }
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let endpoints = super::interlok::endpoints(cx)?;
        let values = manifests::adapter_values(&cx.settings, &endpoints)?;
        let release = releases::release(cx, adapter::NAME);
        releases::install(cx, &release, &values.text)
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        cx.ui.line("  the adapter needs about 30 s to become ready and may restart once while it does");
        wait_for_apiservice(cx)?;
        let pods = warm_up_and_wait_for_values(cx)?;
        Ok(format!(
            "APIService {} Available; {} has a value for {pods}",
            apiservice::CUSTOM_METRICS,
            cx.settings.metric
        ))
    }
}

fn wait_for_apiservice(cx: &Context) -> Result<(), Problem> {
    let name = apiservice::CUSTOM_METRICS;
    let what = format!("APIService {name} to become Available");
    wait::until(cx, &what, cx.settings.wait_timeout, || match apiservice::availability(cx, name) {
        Ok(Availability::Available { .. }) => Poll::Ready(()),
        Ok(Availability::Missing) => Poll::Waiting(format!("APIService {name} does not exist")),
        Ok(Availability::Unavailable { why, .. }) => Poll::Waiting(why),
        Err(problem) => Poll::Failed(problem),
    })
    .map_err(|p| {
        let namespace = &cx.settings.monitoring_namespace;
        let pod_state = match adapter::pod(cx) {
            Ok(Some(pod)) => pods::describe(&pod),
            _ => "no adapter pod found".into(),
        };
        let message = format!("{} — adapter pod: {pod_state}", p.message);
        p.reworded(message).with_hint(format!(
            "see the adapter's log: `kubectl logs -n {namespace} deploy/prometheus-adapter`; `kubectl get apiservice {name}` shows the condition"
        ))
    })
}

/// Sends a few messages to the inbox path (`/in-box`), then waits (bounded; the adapter relists on its interval) until the
/// custom metrics API has a value for every Interlok pod.
fn warm_up_and_wait_for_values(cx: &Context) -> Result<String, Problem> {
    let mut consumer = interlok::HttpConsumer::reach(cx)?;
    for _ in 0..WARM_UP_MESSAGES {
        let _ = consumer.get(&cx.settings.inbox_path);
    }
    let what = format!(
        "{} to reach the custom metrics API (the adapter relists every {}s)",
        cx.settings.metric,
        cx.settings.relist_interval.as_secs()
    );
    wait::until(cx, &what, cx.settings.wait_timeout, || {
        let live = match interlok::live_pods(cx) {
            Ok(live) => live,
            Err(problem) => return Poll::Failed(problem),
        };
        let values: Vec<String> = adapter::values(cx).unwrap_or_default().into_iter().map(|(pod, _)| pod).collect();
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
