//! prometheus, pushgateway, interlok and metric: the path a message count takes from an Interlok pod,
//! through the pushgateway, into Prometheus.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::manifests;
use crate::portforward::{http_get, PortForward};
use crate::prometheus_api;
use crate::verify::{Finding, Probe};

fn ready(probe: &Probe, namespace: &str, name: &str) -> Finding {
    match probe.get("deployment", namespace, name) {
        Ok(Some(d)) if d["status"]["availableReplicas"].as_u64().unwrap_or(0) > 0 => {
            Finding::ok(format!("{name} is available"))
        }
        Ok(Some(_)) => Finding::fail(
            format!("{name} has no available pod"),
            format!("`kubectl get pods -n {namespace}` and `kubectl describe deploy {name} -n {namespace}`"),
        ),
        Ok(None) => Finding::fail(
            format!("no Deployment {name} in {namespace}"),
            "rerun `interlok-k8s setup --from prometheus`",
        ),
        Err(e) => Finding::fail(e, "check the cluster"),
    }
}

pub fn server(probe: &Probe) -> Finding {
    match probe.endpoints() {
        Ok(endpoints) => ready(probe, &probe.cx.settings.monitoring_namespace, &endpoints.prometheus.0),
        Err(e) => Finding::fail(e, "rerun `interlok-k8s setup --from prometheus`"),
    }
}

pub fn prometheus_api(probe: &Probe) -> Finding {
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

pub fn pushgateway_target(probe: &Probe) -> Finding {
    let Ok(url) = probe.prometheus() else { return Finding::fail("Prometheus is unreachable", "see prometheus.api") };
    let up = match prometheus_api::query(&url, "up") {
        Ok(up) => up,
        Err(e) => return Finding::fail(e, "check Prometheus"),
    };
    let target =
        up.iter().find(|(labels, _)| labels.get("job").is_some_and(|j| j.to_ascii_lowercase().contains("pushgateway")));
    match target {
        Some((labels, value)) if *value == 1.0 => Finding::ok(format!("Prometheus scrapes the pushgateway (job {})", labels["job"])),
        Some((labels, _)) => Finding::fail(format!("the pushgateway target {} is down", labels.get("instance").cloned().unwrap_or_default()), "check the pushgateway pod and its Service"),
        None => Finding::fail(
            "Prometheus does not scrape the pushgateway",
            "the chart's scrape job keeps Services annotated `prometheus.io/probe: pushgateway`; check that annotation, or add a scrape job for it with honor_labels: true",
        ),
    }
}

pub fn pushgateway_ready(probe: &Probe) -> Finding {
    match probe.endpoints() {
        Ok(endpoints) => ready(probe, &probe.cx.settings.monitoring_namespace, &endpoints.pushgateway.0),
        Err(e) => Finding::fail(e, "rerun `interlok-k8s setup --from prometheus`"),
    }
}

pub fn pushgateway_api(probe: &Probe) -> Finding {
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

pub fn groups(probe: &Probe) -> Finding {
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
    let live = probe.live_pods().unwrap_or_default();
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
    let deletes: Vec<String> = stale
        .iter()
        .map(|g| {
            let path: Vec<String> =
                g.labels.iter().filter(|(k, _)| *k != "job").map(|(k, v)| format!("{k}/{v}")).collect();
            format!("curl -X DELETE {url}/metrics/job/{}/{}", g.labels["job"], path.join("/"))
        })
        .collect();
    Finding::warn(
        format!(
            "stale groups of pods that no longer exist (the pushgateway never forgets): {}",
            stale.iter().filter_map(|g| g.labels.get("k8s_pod_name").cloned()).collect::<Vec<_>>().join(", ")
        ),
        format!("delete them: {}", deletes.join("; ")),
    )
}

pub fn exported_labels(probe: &Probe) -> Finding {
    let Ok(url) = probe.prometheus() else { return Finding::fail("Prometheus is unreachable", "see prometheus.api") };
    match prometheus_api::series(&url, "{exported_job=~\"(?i)interlok\"}") {
        Ok(series) if !series.is_empty() => Finding::fail(
            "Interlok's labels arrive renamed exported_job/exported_k8s_* : the pushgateway scrape job has honor_labels off",
            "set `honor_labels: true` on the pushgateway scrape job (the prometheus chart's job has it)",
        ),
        Ok(_) => Finding::ok("pushed labels are kept as pushed (honor_labels)"),
        Err(e) => Finding::fail(e, "check Prometheus"),
    }
}

fn interlok_deployment(probe: &Probe) -> Result<Value, Finding> {
    let (namespace, name) = (&probe.cx.settings.namespace, &probe.cx.settings.deployment);
    match probe.get("deployment", namespace, name) {
        Ok(Some(d)) => Ok(d),
        Ok(None) => {
            Err(Finding::fail(format!("no Deployment {name} in {namespace}"), "`interlok-k8s setup --from interlok`"))
        }
        Err(e) => Err(Finding::fail(e, "check the cluster")),
    }
}

fn env<'v>(container: &'v Value, name: &str) -> Option<&'v Value> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)
}

pub fn deployment(probe: &Probe) -> Finding {
    let d = match interlok_deployment(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    if d["status"]["availableReplicas"].as_u64().unwrap_or(0) > 0 {
        return Finding::ok(format!(
            "{} has {} available pod(s)",
            probe.cx.settings.deployment, d["status"]["availableReplicas"]
        ));
    }
    let selector = format!("app={}", probe.cx.settings.deployment);
    let pods = probe.list("pods", &probe.cx.settings.namespace, Some(&selector)).unwrap_or_default();
    let why = pods.iter().find_map(super::platform::stuck).unwrap_or_else(|| "no pod is ready".into());
    Finding::fail(
        format!("{} is not available: {why}", probe.cx.settings.deployment),
        format!("`kubectl describe pods -l {selector} -n {}`", probe.cx.settings.namespace),
    )
}

pub fn endpoint(probe: &Probe) -> Finding {
    let d = match interlok_deployment(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    let java_opts = env(container, "JAVA_OPTS").and_then(|e| e["value"].as_str()).unwrap_or_default();
    let Some(value) = java_opts.split_whitespace().find_map(|w| w.strip_prefix("-DprometheusEndpointUrl=")) else {
        return Finding::fail(
            "JAVA_OPTS has no -DprometheusEndpointUrl: Interlok never starts its metrics push",
            "rerun `interlok-k8s setup --only interlok`",
        );
    };
    let expected =
        probe.endpoints().map(|e| manifests::pushgateway_address(&probe.cx.settings, &e)).unwrap_or_default();
    let fix = format!("set -DprometheusEndpointUrl={expected} (rerun `interlok-k8s setup --only interlok`)");
    if value.contains("://") {
        return Finding::fail(format!("prometheusEndpointUrl {value:?} has a scheme: Interlok's client adds http:// itself and never connects"), fix);
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return Finding::fail(format!("prometheusEndpointUrl {value:?} has no port"), fix);
    };
    let parts: Vec<&str> = host.split('.').collect();
    let (service, namespace) = match parts.as_slice() {
        [svc] => (svc.to_string(), probe.cx.settings.namespace.clone()),
        [svc, ns, ..] => (svc.to_string(), ns.to_string()),
        _ => return Finding::fail(format!("prometheusEndpointUrl {value:?} names no Service"), fix),
    };
    let svc = match probe.get("service", &namespace, &service) {
        Ok(Some(s)) => s,
        Ok(None) => return Finding::fail(format!("Interlok pushes to {value}, but there is no Service {service} in {namespace} (the pushgateway is {expected})"), fix),
        Err(e) => return Finding::fail(e, "check the cluster"),
    };
    let has_port = svc["spec"]["ports"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["port"].as_u64().is_some_and(|n| n.to_string() == port)));
    if has_port {
        Finding::ok(format!("Interlok pushes to {value}"))
    } else {
        Finding::fail(format!("Service {service} has no port {port}"), fix)
    }
}

pub fn downward_api(probe: &Probe) -> Finding {
    let d = match interlok_deployment(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    let field = |name: &str| {
        env(container, name).and_then(|e| e["valueFrom"]["fieldRef"]["fieldPath"].as_str()).map(String::from)
    };
    let fix = "add K8S_POD_NAME (metadata.name) and K8S_NAMESPACE (metadata.namespace) from the downward API: rerun `interlok-k8s setup --only interlok`";
    if field("K8S_POD_NAME").as_deref() != Some("metadata.name") {
        return Finding::fail(
            "K8S_POD_NAME does not come from metadata.name: every pod pushes as pod \"interlok\"",
            fix,
        );
    }
    if field("K8S_NAMESPACE").as_deref() != Some("metadata.namespace") {
        let old = if env(container, "K8S_POD_NAMESPACE").is_some() {
            " (only the guide's K8S_POD_NAMESPACE is set, which Interlok does not read)"
        } else {
            ""
        };
        return Finding::fail(
            format!("K8S_NAMESPACE does not come from metadata.namespace{old}: pods push as namespace \"default\""),
            fix,
        );
    }
    Finding::ok("K8S_POD_NAME and K8S_NAMESPACE come from the downward API")
}

pub fn in_box(probe: &Probe) -> Finding {
    let forward = match PortForward::open(probe.cx, &probe.cx.settings.namespace, &probe.cx.settings.deployment, 8080) {
        Ok(f) => f,
        Err(p) => return Finding::fail(p.message, p.hint.unwrap_or_default()),
    };
    match http_get(&forward.url("/in-box"), Duration::from_secs(10)) {
        Ok(200) => Finding::ok("/in-box answers 200"),
        Ok(status) => Finding::fail(
            format!("/in-box answers HTTP {status}"),
            "check the Interlok configuration's /in-box consumer",
        ),
        Err(e) => Finding::fail(
            format!("/in-box does not answer: {e}"),
            format!("`kubectl logs deploy/{} -n {}`", probe.cx.settings.deployment, probe.cx.settings.namespace),
        ),
    }
}

fn metric_series(probe: &Probe) -> Result<Vec<prometheus_api::Labels>, String> {
    let url = probe.prometheus()?;
    prometheus_api::series(&url, &format!("{{__name__=~\"{}(_total)?\"}}", probe.cx.settings.metric))
}

pub fn series(probe: &Probe) -> Finding {
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
        return Finding::fail(
            format!("{metric} was pushed without k8s_namespace/k8s_pod_name labels: the adapter cannot tie it to a pod"),
            "Interlok labels its push from K8S_NAMESPACE and K8S_POD_NAME; delete the unlabelled pushgateway group and fix the pusher",
        );
    }
    let names: std::collections::BTreeSet<&String> = series.iter().filter_map(|s| s.get("__name__")).collect();
    Finding::ok(format!(
        "{} series ({}) with k8s_namespace and k8s_pod_name",
        series.len(),
        names.into_iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

pub fn fresh(probe: &Probe) -> Finding {
    let series = metric_series(probe).unwrap_or_default();
    let namespace = &probe.cx.settings.namespace;
    let live = match probe.live_pods() {
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
pub fn live_pods_with_series(probe: &Probe) -> Vec<String> {
    let series = metric_series(probe).unwrap_or_default();
    probe
        .live_pods()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| series.iter().any(|s| s.get("k8s_pod_name") == Some(p)))
        .collect()
}
