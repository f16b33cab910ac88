//! adapter, custom-metrics, hpa and grafana: how the metric becomes a scaling decision.

use crate::adapter_rule;
use crate::cluster::apiservice::{self, Availability};
use crate::cluster::views::{ConfigMap, Deployment, Hpa};
use crate::cluster::{self, adapter, interlok, pods};
use crate::manifests::schema::AdapterRule;
use crate::verify::{Finding, Probe};

use super::metrics::live_pods_with_series;

const GOOD_QUERY: &str = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)";

pub(crate) fn adapter_pod(probe: &Probe) -> Finding {
    let namespace = &probe.cx.settings.monitoring_namespace;
    let pod = match adapter::pod(probe) {
        Ok(Some(pod)) => pod,
        Ok(None) => {
            return Finding::fail(
                "no prometheus-adapter pod",
                format!("install it: `interlok-k8s setup --only adapter` (see `kubectl get pods -n {namespace}`)"),
            )
        }
        Err(problem) => return Finding::fail(problem.message, format!("`kubectl get pods -n {namespace}`")),
    };
    let name = &pod.metadata.name;
    let restarts: u64 = pod.status.container_statuses.iter().map(|c| c.restart_count).sum();
    let logs = format!("`kubectl logs -n {namespace} {name}`");
    match (pod.ready(), restarts) {
        (true, 0..=3) => Finding::ok(format!("{name} ready, {restarts} restarts")),
        (true, _) => Finding::warn(format!("{name} ready but restarted {restarts} times"), logs),
        (false, _) => Finding::fail(format!("{} is not ready", pods::describe(&pod)), logs),
    }
}

fn our_rule(probe: &Probe) -> Result<Option<AdapterRule>, String> {
    adapter::rule_for_metric(probe).map_err(|p| p.message)
}

pub(crate) fn rule(probe: &Probe) -> Finding {
    match our_rule(probe) {
        Ok(Some(rule)) => {
            Finding::ok(format!("a rule exposes {} (seriesQuery {})", probe.cx.settings.metric, rule.series_query))
        }
        Ok(None) => Finding::fail(
            format!("the adapter's config has no rule for {}", probe.cx.settings.metric),
            "add it: `interlok-k8s setup --only adapter` (it puts the rule in the chart's rules.custom)",
        ),
        Err(e) => Finding::fail(
            e,
            format!("`kubectl get configmap prometheus-adapter -n {} -o yaml`", probe.cx.settings.monitoring_namespace),
        ),
    }
}

pub(crate) fn evaluation(probe: &Probe) -> Finding {
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

pub(crate) fn apiservices(probe: &Probe) -> Finding {
    let mut seen = Vec::new();
    for name in [apiservice::RESOURCE_METRICS, apiservice::CUSTOM_METRICS, apiservice::EXTERNAL_METRICS] {
        let availability = match apiservice::availability(probe, name) {
            Ok(a) => a,
            Err(problem) => return Finding::fail(problem.message, "`kubectl get apiservices`"),
        };
        match availability {
            Availability::Missing if name == apiservice::CUSTOM_METRICS => {
                return Finding::fail(
                    format!("APIService {name} does not exist"),
                    "the adapter chart creates it when it has rules: `interlok-k8s setup --only adapter`",
                )
            }
            Availability::Missing => {}
            Availability::Unavailable { served_by, why } if name == apiservice::CUSTOM_METRICS => {
                let namespace = &probe.cx.settings.monitoring_namespace;
                let pod = match adapter::pod(probe) {
                    Ok(Some(pod)) => pods::describe(&pod),
                    _ => "no adapter pod".into(),
                };
                return Finding::fail(
                    format!("APIService {name} (served by {served_by}) is not Available — {why}; adapter pod: {pod}"),
                    format!("the API server cannot reach the adapter: see `kubectl logs -n {namespace} deploy/prometheus-adapter`; restart it: `kubectl rollout restart deployment/prometheus-adapter -n {namespace}`; check proxies (no_proxy)"),
                );
            }
            Availability::Unavailable { served_by, .. } => seen.push(format!("{name} → {served_by} (not Available)")),
            Availability::Available { served_by } => seen.push(format!("{name} → {served_by}")),
        }
    }
    Finding::ok(seen.join("; "))
}

pub(crate) fn custom_metrics(probe: &Probe) -> Finding {
    let live = live_pods(probe);
    let answered: Vec<String> = adapter::values(probe).unwrap_or_default().into_iter().map(|(pod, _)| pod).collect();
    let missing: Vec<&String> = live.iter().filter(|p| !answered.contains(p)).collect();
    let metric = &probe.cx.settings.metric;
    if missing.is_empty() && !live.is_empty() {
        return Finding::ok(format!("custom.metrics.k8s.io has {metric} for every Interlok pod ({})", live.len()));
    }
    let detail = format!(
        "custom.metrics.k8s.io has no {metric} for {}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    );
    let hint = format!(
        "the adapter relists every {}s: wait with `interlok-k8s verify --wait 2m`, or see `kubectl logs -n {} deploy/prometheus-adapter`",
        probe.cx.settings.relist_interval.as_secs(),
        probe.cx.settings.monitoring_namespace
    );
    if answered.is_empty() {
        Finding::fail(detail, hint)
    } else {
        Finding::warn(detail, hint)
    }
}

fn live_pods(probe: &Probe) -> Vec<String> {
    interlok::live_pods(probe).unwrap_or_default()
}

fn hpa(probe: &Probe) -> Result<Hpa, Finding> {
    let (namespace, name) = (&probe.cx.settings.namespace, &probe.cx.settings.deployment);
    match cluster::get::<Hpa>(probe, "hpa", namespace, name) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => Err(Finding::fail(
            format!("no HorizontalPodAutoscaler {name} in {namespace}"),
            "create it: `interlok-k8s setup --only autoscaler`",
        )),
        Err(problem) => Err(Finding::fail(problem.message, "`kubectl get hpa -A`")),
    }
}

pub(crate) fn hpa_exists(probe: &Probe) -> Finding {
    match hpa(probe) {
        Ok(h) => Finding::ok(format!(
            "{} {} exists",
            if h.api_version.is_empty() { "autoscaling" } else { &h.api_version },
            probe.cx.settings.deployment
        )),
        Err(f) => f,
    }
}

pub(crate) fn hpa_target(probe: &Probe) -> Finding {
    let h = match hpa(probe) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let target = &h.spec.scale_target_ref;
    let s = &probe.cx.settings;
    match cluster::get::<Deployment>(probe, "deployment", &s.namespace, &target.name) {
        Ok(Some(_)) if target.kind == "Deployment" => {
            Finding::ok(format!("targets {} Deployment {}", target.api_version, target.name))
        }
        Ok(_) => Finding::fail(
            format!("targets {} {}, which does not exist in {}", target.kind, target.name, s.namespace),
            format!("point scaleTargetRef at Deployment {}: `interlok-k8s setup --only autoscaler`", s.deployment),
        ),
        Err(problem) => Finding::fail(problem.message, "`kubectl get deployments -A`"),
    }
}

pub(crate) fn hpa_metric(probe: &Probe) -> Finding {
    let h = match hpa(probe) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let metric = h.metric();
    let (name, wanted) = (metric.name(), &probe.cx.settings.metric);
    if metric.kind != "Pods" || &name != wanted {
        return Finding::fail(
            format!(
                "the autoscaler reads {} metric {name:?}; the adapter exposes Pods metric {wanted:?}",
                if metric.kind.is_empty() { "no" } else { &metric.kind }
            ),
            "`interlok-k8s setup --only autoscaler`",
        );
    }
    Finding::ok(format!("Pods metric {name}, target average {}", metric.target().unwrap_or_else(|| "?".into())))
}

pub(crate) fn hpa_status(probe: &Probe) -> Finding {
    let h = match hpa(probe) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let blocking: Vec<String> = h.blocking_conditions().iter().map(|c| format!("{} {}", c.kind, c.explain())).collect();
    let target = h.metric().target().unwrap_or_else(|| "?".into());
    let replicas = format!("replicas {}/{} (current/desired)", h.status.current_replicas, h.status.desired_replicas);
    match h.current_value() {
        Some(current) if h.scaling_active() && blocking.is_empty() => {
            Finding::ok(format!("{replicas}; average {current} vs target {target}"))
        }
        current => Finding::fail(
            format!(
                "the autoscaler cannot scale: current value {}; {}",
                current.unwrap_or_else(|| "<unknown>".into()),
                if blocking.is_empty() { "ScalingActive not True".into() } else { blocking.join("; ") }
            ),
            format!("`kubectl describe hpa {} -n {}`", probe.cx.settings.deployment, probe.cx.settings.namespace),
        ),
    }
}

pub(crate) fn grafana_ready(probe: &Probe) -> Finding {
    let namespace = &probe.cx.settings.monitoring_namespace;
    match cluster::get::<Deployment>(probe, "deployment", namespace, "grafana") {
        Ok(None) => Finding::ok("not installed (optional: setup --grafana)"),
        Ok(Some(d)) if d.available() => Finding::ok("grafana is available"),
        Ok(Some(_)) => Finding::fail(
            "grafana has no available pod",
            format!("`kubectl describe pods -n {namespace} -l app.kubernetes.io/name=grafana`"),
        ),
        Err(problem) => Finding::fail(problem.message, format!("`kubectl get deployments -n {namespace}`")),
    }
}

pub(crate) fn grafana_datasource(probe: &Probe) -> Finding {
    let namespace = &probe.cx.settings.monitoring_namespace;
    match cluster::get::<ConfigMap>(probe, "configmap", namespace, "grafana") {
        Ok(None) => Finding::ok("not installed (optional)"),
        Ok(Some(cm)) if cm.data.get("datasources.yaml").is_some_and(|d| d.contains("prometheus")) => {
            Finding::ok("the Prometheus datasource is provisioned")
        }
        Ok(Some(_)) => Finding::fail(
            "Grafana has no Prometheus datasource provisioned",
            "`interlok-k8s setup --only grafana --grafana`",
        ),
        Err(problem) => Finding::fail(problem.message, format!("`kubectl get configmaps -n {namespace}`")),
    }
}
