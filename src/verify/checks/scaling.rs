//! adapter, custom-metrics, hpa and grafana: how the metric becomes a scaling decision.

use crate::adapter_rule;
use crate::manifests::schema::AdapterRule;
use crate::stages;
use crate::verify::{Finding, Probe};

use super::metrics::live_pods_with_series;

const GOOD_QUERY: &str = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)";

pub fn adapter_pod(probe: &Probe) -> Finding {
    let pods = probe
        .list("pods", &probe.cx.settings.monitoring_namespace, Some("app.kubernetes.io/name=prometheus-adapter"))
        .unwrap_or_default();
    let Some(pod) = pods.first() else {
        return Finding::fail(
            "no prometheus-adapter pod",
            format!("`kubectl get pods -n {}`", probe.cx.settings.monitoring_namespace),
        );
    };
    let status = &pod["status"]["containerStatuses"][0];
    let (name, restarts) =
        (pod["metadata"]["name"].as_str().unwrap_or("?"), status["restartCount"].as_u64().unwrap_or(0));
    let logs = format!("`kubectl logs -n {} {name}`", probe.cx.settings.monitoring_namespace);
    match (status["ready"] == true, restarts) {
        (true, 0..=3) => Finding::ok(format!("{name} ready, {restarts} restarts")),
        (true, _) => Finding::warn(format!("{name} ready but restarted {restarts} times"), logs),
        (false, _) => Finding::fail(
            format!("{name} is not ready ({}, {restarts} restarts)", pod["status"]["phase"].as_str().unwrap_or("?")),
            logs,
        ),
    }
}

fn our_rule(probe: &Probe) -> Result<Option<AdapterRule>, String> {
    let rules = stages::installed_rules(probe.cx).map_err(|p| p.message)?;
    Ok(rules.into_iter().find(|r| stages::exposes(r, &probe.cx.settings.metric)))
}

pub fn rule(probe: &Probe) -> Finding {
    match our_rule(probe) {
        Ok(Some(rule)) => {
            Finding::ok(format!("a rule exposes {} (seriesQuery {})", probe.cx.settings.metric, rule.series_query))
        }
        Ok(None) => Finding::fail(
            format!("the adapter's config has no rule for {}", probe.cx.settings.metric),
            "rerun `interlok-k8s setup --only adapter` (it adds the rule to the chart's rules.custom)",
        ),
        Err(e) => Finding::fail(e, "check the adapter's ConfigMap"),
    }
}

pub fn evaluation(probe: &Probe) -> Finding {
    let metric = &probe.cx.settings.metric;
    let Ok(Some(rule)) = our_rule(probe) else { return Finding::fail("the rule is gone", "see adapter.rule") };
    let Ok(prometheus) = probe.prometheus() else {
        return Finding::fail("Prometheus is unreachable", "see prometheus.api");
    };
    let pods = live_pods_with_series(probe);
    let fix = format!(
        "use seriesQuery '{{__name__=~\"^{metric}(_total)?$\",k8s_namespace!=\"\",k8s_pod_name!=\"\"}}', name.as {metric} and metricsQuery '{GOOD_QUERY}' (Interlok builds since 2021 push {metric}_total): rerun `interlok-k8s setup --only adapter`"
    );
    match adapter_rule::evaluate(&rule, metric, &prometheus, &probe.cx.settings.namespace, &pods) {
        Ok(values) if !pods.is_empty() && pods.iter().all(|p| values.contains_key(p)) => Finding::ok(format!(
            "the rule yields {}",
            values.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ")
        )),
        Ok(values) => {
            let literal = !rule.metrics_query.contains("<<");
            let why = if literal {
                format!(
                    "its literal metricsQuery {:?} ignores the pod matchers and may name no series",
                    rule.metrics_query
                )
            } else {
                "the metrics query returns nothing for them".into()
            };
            Finding::fail(
                format!(
                    "the rule yields no value for {} ({why}; got {})",
                    pods.iter().filter(|p| !values.contains_key(*p)).cloned().collect::<Vec<_>>().join(", "),
                    values.len()
                ),
                fix,
            )
        }
        Err(e) => Finding::fail(format!("the rule as the adapter evaluates it finds nothing: {e}"), fix),
    }
}

pub fn apiservices(probe: &Probe) -> Finding {
    let mut seen = Vec::new();
    for name in ["v1beta1.metrics.k8s.io", stages::APISERVICE, "v1beta1.external.metrics.k8s.io"] {
        let apiservice = match probe.get("apiservice", "", name) {
            Ok(a) => a,
            Err(e) => return Finding::fail(e, "check the cluster"),
        };
        let Some(apiservice) = apiservice else {
            if name == stages::APISERVICE {
                return Finding::fail(
                    format!("APIService {name} does not exist"),
                    "the adapter chart creates it when it has rules: rerun `interlok-k8s setup --only adapter`",
                );
            }
            continue;
        };
        let service = &apiservice["spec"]["service"];
        let owner = if service.is_null() {
            "local".to_string()
        } else {
            format!("{}/{}", service["namespace"].as_str().unwrap_or("?"), service["name"].as_str().unwrap_or("?"))
        };
        let available = apiservice["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Available").cloned());
        let ok = available.as_ref().is_some_and(|c| c["status"] == "True");
        if name == stages::APISERVICE && !ok {
            let why = available
                .map(|c| format!("{}: {}", c["reason"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or("")))
                .unwrap_or_else(|| "no condition".into());
            return Finding::fail(
                format!("APIService {name} (served by {owner}) is not Available — {why}"),
                format!("the API server cannot reach the adapter: `kubectl logs -n {} deploy/prometheus-adapter`; check proxies (no_proxy) and the adapter pod", probe.cx.settings.monitoring_namespace),
            );
        }
        seen.push(format!("{name} → {owner}{}", if ok { "" } else { " (not Available)" }));
    }
    Finding::ok(seen.join("; "))
}

pub fn custom_metrics(probe: &Probe) -> Finding {
    let live = probe.live_pods().unwrap_or_default();
    let answered = stages::custom_metric_pods(probe.cx);
    let missing: Vec<&String> = live.iter().filter(|p| !answered.contains(p)).collect();
    let metric = &probe.cx.settings.metric;
    if missing.is_empty() && !live.is_empty() {
        return Finding::ok(format!("custom.metrics.k8s.io has {metric} for every Interlok pod ({})", live.len()));
    }
    let detail = format!(
        "custom.metrics.k8s.io has no {metric} for {}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    );
    let hint =
        format!("the adapter relists every {}s: wait, or see its log", probe.cx.settings.relist_interval.as_secs());
    if answered.is_empty() {
        Finding::fail(detail, hint)
    } else {
        Finding::warn(detail, hint)
    }
}

fn hpa(probe: &Probe) -> Result<serde_json::Value, Finding> {
    let (namespace, name) = (&probe.cx.settings.namespace, &probe.cx.settings.deployment);
    match probe.get("hpa", namespace, name) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => Err(Finding::fail(
            format!("no HorizontalPodAutoscaler {name} in {namespace}"),
            "`interlok-k8s setup --only autoscaler`",
        )),
        Err(e) => Err(Finding::fail(e, "check the cluster")),
    }
}

pub fn hpa_exists(probe: &Probe) -> Finding {
    match hpa(probe) {
        Ok(h) => Finding::ok(format!(
            "{} {} exists",
            h["apiVersion"].as_str().unwrap_or("autoscaling"),
            probe.cx.settings.deployment
        )),
        Err(f) => f,
    }
}

pub fn hpa_target(probe: &Probe) -> Finding {
    let h = match hpa(probe) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let target = &h["spec"]["scaleTargetRef"];
    let (kind, name) = (target["kind"].as_str().unwrap_or(""), target["name"].as_str().unwrap_or(""));
    match probe.get("deployment", &probe.cx.settings.namespace, name) {
        Ok(Some(_)) if kind == "Deployment" => {
            Finding::ok(format!("targets {} Deployment {name}", target["apiVersion"].as_str().unwrap_or("")))
        }
        Ok(_) => Finding::fail(
            format!("targets {kind} {name}, which does not exist in {}", probe.cx.settings.namespace),
            format!(
                "point scaleTargetRef at Deployment {}: rerun `interlok-k8s setup --only autoscaler`",
                probe.cx.settings.deployment
            ),
        ),
        Err(e) => Finding::fail(e, "check the cluster"),
    }
}

pub fn hpa_metric(probe: &Probe) -> Finding {
    let h = match hpa(probe) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let metric = &h["spec"]["metrics"][0];
    let name = metric["pods"]["metric"]["name"].as_str().or(metric["pods"]["metricName"].as_str()).unwrap_or("");
    let wanted = &probe.cx.settings.metric;
    if metric["type"] != "Pods" || name != wanted {
        return Finding::fail(
            format!(
                "the autoscaler reads {} metric {name:?}; the adapter exposes Pods metric {wanted:?}",
                metric["type"].as_str().unwrap_or("?")
            ),
            "rerun `interlok-k8s setup --only autoscaler`",
        );
    }
    Finding::ok(format!(
        "Pods metric {name}, target average {}",
        metric["pods"]["target"]["averageValue"]
            .as_str()
            .or(metric["pods"]["targetAverageValue"].as_str())
            .unwrap_or("?")
    ))
}

pub fn hpa_status(probe: &Probe) -> Finding {
    let h = match hpa(probe) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let conditions: Vec<String> = h["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["status"] != "True" && c["type"] != "ScalingLimited")
                .map(|c| {
                    format!(
                        "{} {}: {}",
                        c["type"].as_str().unwrap_or(""),
                        c["reason"].as_str().unwrap_or(""),
                        c["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let target = h["spec"]["metrics"][0]["pods"]["target"]["averageValue"].as_str().unwrap_or("?").to_string();
    let replicas =
        format!("replicas {}/{} (current/desired)", h["status"]["currentReplicas"], h["status"]["desiredReplicas"]);
    match stages::current_value(&h) {
        Some(current) if stages::scaling_active(&h) && conditions.is_empty() => {
            Finding::ok(format!("{replicas}; average {current} vs target {target}"))
        }
        current => Finding::fail(
            format!(
                "the autoscaler cannot scale: current value {}; {}",
                current.unwrap_or_else(|| "<unknown>".into()),
                if conditions.is_empty() { "ScalingActive not True".into() } else { conditions.join("; ") }
            ),
            format!("`kubectl describe hpa {} -n {}`", probe.cx.settings.deployment, probe.cx.settings.namespace),
        ),
    }
}

pub fn grafana_ready(probe: &Probe) -> Finding {
    match probe.get("deployment", &probe.cx.settings.monitoring_namespace, "grafana") {
        Ok(None) => Finding::ok("not installed (optional: setup --grafana)"),
        Ok(Some(d)) if d["status"]["availableReplicas"].as_u64().unwrap_or(0) > 0 => {
            Finding::ok("grafana is available")
        }
        Ok(Some(_)) => Finding::fail(
            "grafana has no available pod",
            format!("`kubectl get pods -n {}`", probe.cx.settings.monitoring_namespace),
        ),
        Err(e) => Finding::fail(e, "check the cluster"),
    }
}

pub fn grafana_datasource(probe: &Probe) -> Finding {
    match probe.get("configmap", &probe.cx.settings.monitoring_namespace, "grafana") {
        Ok(None) => Finding::ok("not installed (optional)"),
        Ok(Some(cm)) if cm["data"]["datasources.yaml"].as_str().is_some_and(|d| d.contains("prometheus")) => {
            Finding::ok("the Prometheus datasource is provisioned")
        }
        Ok(Some(_)) => Finding::fail(
            "Grafana has no Prometheus datasource provisioned",
            "rerun `interlok-k8s setup --only grafana --grafana`",
        ),
        Err(e) => Finding::fail(e, "check the cluster"),
    }
}
