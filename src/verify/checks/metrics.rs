//! prometheus, pushgateway and metric: the path a message count takes from an Interlok pod, through the
//! pushgateway, into Prometheus.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::cluster::interlok;
use crate::cluster::monitoring::{self, Scrape};
use crate::cluster::pods;
use crate::cluster::views::Service;
use crate::prometheus_api;
use crate::verify::{Finding, Probe};

/// Whether pods serve one of the monitoring Services (the pushgateway, or the server).
fn served(probe: &Probe, pick: fn(&monitoring::Found) -> Option<Service>, what: &str) -> Finding {
    let found = match probe.monitoring() {
        Ok(found) => found,
        Err(problem) => return Finding::fail(problem.message, problem.hint.unwrap_or_default()),
    };
    let namespace = &probe.cx.settings.monitoring_namespace;
    let Some(service) = pick(&found) else {
        return Finding::fail(
            format!("no {what} Service in {namespace}"),
            format!(
                "install Prometheus: `interlok-k8s setup --only prometheus` (see `kubectl get svc -n {namespace}`)"
            ),
        );
    };
    match pods::serving(probe, &service) {
        Ok(Ok(evidence)) => Finding::ok(evidence),
        Ok(Err(why)) => Finding::fail(
            why,
            format!(
                "see `kubectl describe pods -n {namespace} -l {}`; reinstall: `interlok-k8s setup --only prometheus`",
                service.selector_query()
            ),
        ),
        Err(problem) => Finding::fail(problem.message, "`kubectl get pods -A`"),
    }
}

pub(crate) fn server(probe: &Probe) -> Finding {
    served(probe, |f| f.prometheus.clone(), "Prometheus server")
}

pub(crate) fn prometheus_api(probe: &Probe) -> Finding {
    let url = match probe.prometheus() {
        Ok(url) => url,
        Err(e) => {
            return Finding::fail(
                format!("cannot reach Prometheus: {e}"),
                "pass --prometheus-url, or check `kubectl get svc -n monitoring`",
            )
        }
    };
    match prometheus_api::build_version(&url) {
        Ok(version) => Finding::ok(format!("Prometheus {version} answers")),
        Err(e) => Finding::fail(format!("Prometheus's API did not answer: {e}"), "check the server pod's log"),
    }
}

pub(crate) fn pushgateway_target(probe: &Probe) -> Finding {
    let Ok(url) = probe.prometheus() else { return Finding::fail("Prometheus is unreachable", "see prometheus.api") };
    let namespace = &probe.cx.settings.monitoring_namespace;
    let service = probe.monitoring().map(|f| f.endpoints.pushgateway.0).unwrap_or_else(|_| "<pushgateway>".into());
    match monitoring::scrape(&url) {
        Ok(Scrape::Up { job }) => Finding::ok(format!("Prometheus scrapes the pushgateway (job {job})")),
        Ok(Scrape::Down { instance }) => Finding::fail(
            format!("the pushgateway target {instance} is down"),
            format!("see `kubectl describe pods -n {namespace}` for the pushgateway pod and `kubectl get endpoints {service} -n {namespace}`"),
        ),
        Ok(Scrape::NotScraped) => Finding::fail(
            "Prometheus does not scrape the pushgateway",
            format!("the chart's scrape job keeps Services annotated `prometheus.io/probe: pushgateway`: `kubectl annotate service {service} -n {namespace} prometheus.io/probe=pushgateway --overwrite`"),
        ),
        Err(e) => Finding::fail(e, "check Prometheus: `interlok-k8s verify --prometheus-url URL` reaches it directly"),
    }
}

pub(crate) fn pushgateway_ready(probe: &Probe) -> Finding {
    served(probe, |f| Some(f.pushgateway.clone()), "pushgateway")
}

pub(crate) fn pushgateway_api(probe: &Probe) -> Finding {
    let url = match probe.pushgateway() {
        Ok(url) => url,
        Err(e) => {
            return Finding::fail(
                format!("cannot reach the pushgateway: {e}"),
                "pass --pushgateway-url, or check its Service",
            )
        }
    };
    match prometheus_api::pushgateway_groups(&url) {
        Ok(groups) => Finding::ok(format!(
            "the pushgateway answers with {} group{}",
            groups.len(),
            if groups.len() == 1 { "" } else { "s" }
        )),
        Err(e) => {
            Finding::fail(format!("the pushgateway's API did not answer: {e}"), "check the pushgateway pod's log")
        }
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

pub(crate) fn groups(probe: &Probe) -> Finding {
    let Ok(url) = probe.pushgateway() else {
        return Finding::fail("the pushgateway is unreachable", "see pushgateway.api");
    };
    let groups = match prometheus_api::pushgateway_groups(&url) {
        Ok(g) => g,
        Err(e) => return Finding::fail(e, "check the pushgateway"),
    };
    let interlok: Vec<&prometheus_api::Group> =
        groups.iter().filter(|g| g.labels.get("job").is_some_and(|j| j.eq_ignore_ascii_case("interlok"))).collect();
    if interlok.is_empty() {
        return Finding::warn(
            "no group for job interlok yet: Interlok pushes only after it has processed messages",
            "send a few: `interlok-k8s load -n 5`",
        );
    }
    let live = live_pods(probe).unwrap_or_default();
    let namespace = &probe.cx.settings.namespace;
    let stale: Vec<&&prometheus_api::Group> = interlok
        .iter()
        .filter(|g| {
            g.labels.get("k8s_namespace").is_none_or(|n| n == namespace)
                && g.labels.get("k8s_pod_name").is_some_and(|p| !live.contains(p))
        })
        .collect();
    let ages: Vec<String> = interlok
        .iter()
        .map(|g| {
            format!(
                "{} pushed {}",
                g.labels.get("k8s_pod_name").cloned().unwrap_or_else(|| "?".into()),
                g.last_push.map(|t| format!("{:.0}s ago", (now() - t).max(0.0))).unwrap_or_else(|| "never".into())
            )
        })
        .collect();
    if stale.is_empty() {
        return Finding::ok(format!(
            "{} Interlok group{}: {}",
            interlok.len(),
            if interlok.len() == 1 { "" } else { "s" },
            ages.join(", ")
        ));
    }
    Finding::warn(
        format!(
            "stale groups of pods that no longer exist (the pushgateway never forgets): {}",
            stale.iter().filter_map(|g| g.labels.get("k8s_pod_name").cloned()).collect::<Vec<_>>().join(", ")
        ),
        format!("delete them: {}", delete_groups(probe, &stale.iter().map(|g| &g.labels).collect::<Vec<_>>())),
    )
}

/// The commands that delete these pushgateway groups, runnable after verify has ended: with the URL verify
/// was given, or through a port-forward the user opens.
fn delete_groups(probe: &Probe, groups: &[&prometheus_api::Labels]) -> String {
    let (first, base) = match probe.pushgateway_given() {
        Some(url) => (String::new(), url.to_string()),
        None => {
            let (service, port) = probe.monitoring().map(|f| f.endpoints.pushgateway).unwrap_or_default();
            let namespace = &probe.cx.settings.monitoring_namespace;
            (
                format!("in another terminal `kubectl port-forward -n {namespace} svc/{service} 9091:{port}`, then "),
                "http://127.0.0.1:9091".to_string(),
            )
        }
    };
    let deletes: Vec<String> = groups
        .iter()
        .map(|labels| {
            let job = labels.get("job").cloned().unwrap_or_default();
            let path: String = labels.iter().filter(|(k, _)| *k != "job").map(|(k, v)| format!("/{k}/{v}")).collect();
            format!("`curl -X DELETE {base}/metrics/job/{job}{path}`")
        })
        .collect();
    format!("{first}{}", deletes.join(" and "))
}

pub(crate) fn exported_labels(probe: &Probe) -> Finding {
    let Ok(url) = probe.prometheus() else { return Finding::fail("Prometheus is unreachable", "see prometheus.api") };
    match monitoring::labels_renamed(&url) {
        // the rule matches on k8s_namespace/k8s_pod_name, which stay: the chain works, queries by job do not
        Ok(true) => Finding::warn(
            "Interlok's pushes arrive with their job renamed exported_job: the pushgateway scrape job has honor_labels off",
            "put the chart's `honor_labels: true` back: `interlok-k8s setup --only prometheus` reinstalls the wizard's values",
        ),
        Ok(false) => Finding::ok("pushed labels are kept as pushed (honor_labels)"),
        Err(e) => Finding::fail(e, "check Prometheus"),
    }
}

fn metric_series(probe: &Probe) -> Result<Vec<prometheus_api::Labels>, String> {
    monitoring::metric_series(&probe.prometheus()?, &probe.cx.settings.metric)
}

fn live_pods(probe: &Probe) -> Result<Vec<String>, String> {
    interlok::live_pods(probe).map_err(|p| p.message)
}

pub(crate) fn series(probe: &Probe) -> Finding {
    let metric = &probe.cx.settings.metric;
    let series = match metric_series(probe) {
        Ok(s) => s,
        Err(e) => return Finding::fail(e, "check Prometheus"),
    };
    if series.is_empty() {
        return Finding::fail(format!("Prometheus has no {metric} or {metric}_total series"), "Interlok pushes only after it processes messages: `interlok-k8s load -n 5`, then check the pushgateway groups");
    }
    let unlabelled: Vec<&prometheus_api::Labels> =
        series.iter().filter(|s| !s.contains_key("k8s_pod_name") || !s.contains_key("k8s_namespace")).collect();
    if !unlabelled.is_empty() {
        let groups = probe.pushgateway().and_then(|url| prometheus_api::pushgateway_groups(&url)).unwrap_or_default();
        let unlabelled_groups: Vec<&prometheus_api::Labels> = groups
            .iter()
            .map(|g| &g.labels)
            .filter(|l| !l.contains_key("k8s_pod_name") || !l.contains_key("k8s_namespace"))
            .collect();
        return Finding::fail(
            format!("{metric} was pushed without k8s_namespace/k8s_pod_name labels: the adapter cannot tie it to a pod"),
            format!(
                "Interlok labels its push from K8S_NAMESPACE and K8S_POD_NAME: fix the pusher, and delete the unlabelled group: {}",
                delete_groups(probe, &unlabelled_groups)
            ),
        );
    }
    let names: std::collections::BTreeSet<&String> = series.iter().filter_map(|s| s.get("__name__")).collect();
    Finding::ok(format!(
        "{} series ({}) with k8s_namespace and k8s_pod_name",
        series.len(),
        names.into_iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

pub(crate) fn fresh(probe: &Probe) -> Finding {
    let series = metric_series(probe).unwrap_or_default();
    let namespace = &probe.cx.settings.namespace;
    let live = match live_pods(probe) {
        Ok(l) => l,
        Err(e) => return Finding::fail(e, "check the cluster"),
    };
    let has = |pod: &String| {
        series.iter().any(|s| s.get("k8s_pod_name") == Some(pod) && s.get("k8s_namespace") == Some(namespace))
    };
    let missing: Vec<&String> = live.iter().filter(|p| !has(p)).collect();
    if missing.is_empty() && !live.is_empty() {
        return Finding::ok(format!("every live Interlok pod ({}) has a series in namespace {namespace}", live.len()));
    }
    let pushed_as: Vec<String> =
        series.iter().filter_map(|s| Some(format!("{}/{}", s.get("k8s_namespace")?, s.get("k8s_pod_name")?))).collect();
    let detail = format!(
        "no series for {} in namespace {namespace} (series seen: {})",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        pushed_as.join(", ")
    );
    if missing.len() == live.len() {
        Finding::fail(detail, "Interlok pushes only after it processes messages (`interlok-k8s load -n 5`); if it did, check interlok.downward-api")
    } else {
        Finding::warn(detail, "new pods push after their first messages")
    }
}

/// Exposed so scaling checks can reuse the live-pod series lookup.
pub(crate) fn live_pods_with_series(probe: &Probe) -> Vec<String> {
    let series = metric_series(probe).unwrap_or_default();
    live_pods(probe)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| series.iter().any(|s| s.get("k8s_pod_name") == Some(p)))
        .collect()
}
