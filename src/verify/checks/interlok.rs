//! interlok: the Deployment, where it pushes, the pod labels it pushes with, its HTTP consumer, and whether
//! its pods push at all.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cluster::views::{Deployment, Pod, Service};
use crate::cluster::{self, interlok, pods};
use crate::images::{self, Kind};
use crate::interlok_config;
use crate::manifests;
use crate::prometheus_api;
use crate::settings::DEFAULT_IMAGE;
use crate::verify::{Finding, Probe};

/// Interlok's pusher runs every 10 s (`collectorIntervalSeconds`); a pod that has consumed a message and
/// pushed nothing after two runs does not push.
const TWO_PUSH_INTERVALS: Duration = Duration::from_secs(20);

fn rerun(probe: &Probe) -> String {
    rerun_with(probe, "")
}

/// `interlok-k8s setup --only interlok` for this namespace and Deployment, with more words.
fn rerun_with(probe: &Probe, more: &str) -> String {
    let s = &probe.cx.settings;
    let mut words = String::from("interlok-k8s setup --only interlok");
    if s.namespace != "default" {
        words.push_str(&format!(" --namespace {}", s.namespace));
    }
    if s.deployment != "interlok" {
        words.push_str(&format!(" --deployment {}", s.deployment));
    }
    format!("`{words}{more}`")
}

/// The fix for an image that lacks what the chain needs: the guide's image, which has it.
fn guide_image(probe: &Probe) -> String {
    rerun_with(probe, &format!(" --image {DEFAULT_IMAGE}"))
}

fn deployment_of(probe: &Probe) -> Result<Deployment, Finding> {
    let s = &probe.cx.settings;
    match interlok::deployment(probe) {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(Finding::fail(
            format!("no Deployment {} in {}", s.deployment, s.namespace),
            format!("deploy it: {}", rerun(probe)),
        )),
        Err(problem) => Err(Finding::fail(problem.message, "`kubectl get deployments -A`")),
    }
}

pub(crate) fn deployment(probe: &Probe) -> Finding {
    let s = &probe.cx.settings;
    let d = match deployment_of(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    if d.available() {
        return Finding::ok(format!("{} has {} available pod(s)", s.deployment, d.status.available_replicas));
    }
    let all: Vec<Pod> = interlok::pods(probe).unwrap_or_default();
    let (why, hint) = match all.iter().find_map(pods::stuck) {
        Some(stuck) => (stuck.to_string(), stuck.hint(&s.namespace)),
        None => (
            "no pod is ready".to_string(),
            format!("`kubectl describe pods -l app={} -n {}`", s.deployment, s.namespace),
        ),
    };
    Finding::fail(format!("{} is not available: {why}", s.deployment), hint)
}

pub(crate) fn endpoint(probe: &Probe) -> Finding {
    let s = &probe.cx.settings;
    let d = match deployment_of(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let Some(value) = interlok::push_endpoint(&d) else {
        return Finding::fail(
            "JAVA_OPTS has no -DprometheusEndpointUrl: Interlok never starts its metrics push",
            format!("set it: {}", rerun(probe)),
        );
    };
    let expected = probe
        .monitoring()
        .map(|f| manifests::pushgateway_address(&probe.cx.settings, &f.endpoints))
        .unwrap_or_default();
    let fix = format!("set -DprometheusEndpointUrl={expected}: {}", rerun(probe));
    if value.contains("://") {
        return Finding::fail(
            format!("prometheusEndpointUrl {value:?} has a scheme: Interlok's client adds http:// itself and never connects"),
            fix,
        );
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return Finding::fail(format!("prometheusEndpointUrl {value:?} has no port"), fix);
    };
    let parts: Vec<&str> = host.split('.').collect();
    let (service, namespace) = match parts.as_slice() {
        [svc] => (svc.to_string(), s.namespace.clone()),
        [svc, ns, ..] => (svc.to_string(), ns.to_string()),
        _ => return Finding::fail(format!("prometheusEndpointUrl {value:?} names no Service"), fix),
    };
    let svc = match cluster::get::<Service>(probe, "service", &namespace, &service) {
        Ok(Some(svc)) => svc,
        Ok(None) => {
            return Finding::fail(
                format!("Interlok pushes to {value}, but there is no Service {service} in {namespace} (the pushgateway is {expected})"),
                fix,
            )
        }
        Err(problem) => return Finding::fail(problem.message, "`kubectl get services -A`"),
    };
    if svc.spec.ports.iter().any(|p| p.port.to_string() == port) {
        Finding::ok(format!("Interlok pushes to {value}"))
    } else {
        Finding::fail(format!("Service {service} has no port {port}"), fix)
    }
}

pub(crate) fn downward_api(probe: &Probe) -> Finding {
    let d = match deployment_of(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let container = d.container();
    let field = |name: &str| container.env(name).and_then(|e| e.field_path().map(String::from));
    let fix = format!(
        "add K8S_POD_NAME (metadata.name) and K8S_NAMESPACE (metadata.namespace) from the downward API: {}",
        rerun(probe)
    );
    if field("K8S_POD_NAME").as_deref() != Some("metadata.name") {
        return Finding::fail(
            "K8S_POD_NAME does not come from metadata.name: every pod pushes as pod \"interlok\"",
            fix,
        );
    }
    if field("K8S_NAMESPACE").as_deref() != Some("metadata.namespace") {
        let old = if container.env("K8S_POD_NAMESPACE").is_some() {
            " (only the 2019 guide's K8S_POD_NAMESPACE is set, which Interlok does not read)"
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

pub(crate) fn in_box(probe: &Probe) -> Finding {
    let s = &probe.cx.settings;
    let path = &s.inbox_path;
    match interlok::http_status(probe, path) {
        Ok(Ok(200)) => Finding::ok(format!("{path} answers 200")),
        Ok(Ok(404)) => not_found(probe),
        Ok(Ok(status)) => Finding::fail(
            format!("{path} answers HTTP {status}"),
            format!(
                "check the Interlok configuration's {path} consumer: `kubectl logs deploy/{} -n {}`",
                s.deployment, s.namespace
            ),
        ),
        Ok(Err(e)) => Finding::fail(
            format!("{path} does not answer: {e}"),
            format!("`kubectl logs deploy/{} -n {}`", s.deployment, s.namespace),
        ),
        Err(problem) => Finding::fail(problem.message, problem.hint.unwrap_or_default()),
    }
}

/// The inbox path answers Jetty's 404: no workflow of the configuration Interlok runs consumes it. Which
/// configuration that is — one mounted over the image's, or the image's own — says what to change.
fn not_found(probe: &Probe) -> Finding {
    let path = &probe.cx.settings.inbox_path;
    let d = match deployment_of(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let image = d.container().image;
    let mounted = interlok::mounted_config(probe, &d).unwrap_or_default();
    if let Some(adapter) = mounted.get("adapter.xml") {
        let workflows = interlok_config::workflows(adapter, Path::new("adapter.xml")).unwrap_or_default();
        let paths: Vec<&str> = workflows.iter().filter_map(|w| w.path.as_deref()).collect();
        let Some(first) = paths.first() else {
            return Finding::fail(
                format!("{path} answers 404: the adapter.xml mounted over {image}'s has no jetty-message-consumer"),
                format!(
                    "give it a workflow with a jetty-message-consumer on {path} (docs/interlok.md), then {}",
                    rerun_with(probe, " --interlok-config <your folder>")
                ),
            );
        };
        return Finding::fail(
            format!(
                "{path} answers 404: the adapter.xml mounted over {image}'s consumes {}, not {path}",
                paths.join(", ")
            ),
            format!(
                "send to the path it consumes: `interlok-k8s verify --inbox-path {}` (and give setup, load and demo the same --inbox-path)",
                first.trim_end_matches("/*")
            ),
        );
    }
    let known = images::known(&image);
    let why = match (known.map(|k| k.kind), known.and_then(|k| k.serves)) {
        (Some(Kind::Stock), _) => format!("{image} is a stock Interlok image: its adapter has no channels"),
        (_, Some(serves)) => format!("{image} consumes {serves}, not {path}"),
        _ => format!("no workflow of {image}'s own configuration consumes it"),
    };
    Finding::fail(
        format!("{path} answers 404: {why}"),
        format!(
            "run the guide's image, which consumes /in-box: {}; or your own configuration with --interlok-config (docs/interlok.md)",
            guide_image(probe)
        ),
    )
}

/// Whether the pods push: the pusher's warning in a pod's log, else a group on the pushgateway for a live
/// pod — after sending a message to the inbox path and two push intervals, when there is none yet (a pod
/// pushes only once it has counted a message).
pub(crate) fn pushes(probe: &Probe) -> Finding {
    let s = &probe.cx.settings;
    let d = match deployment_of(probe) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let image = d.container().image;
    let running: Vec<Pod> = interlok::pods(probe).unwrap_or_default().into_iter().filter(Pod::running).collect();
    if running.is_empty() {
        return Finding::fail(
            format!("no {} pod is running", s.deployment),
            format!("`kubectl describe pods -l app={} -n {}`", s.deployment, s.namespace),
        );
    }
    for pod in &running {
        if let Some(warning) = interlok::log(probe, pod).ok().and_then(|log| interlok::pusher_warning(&log)) {
            return Finding::fail(
                format!("pod {} ({image}) never pushes; it logs: {warning}", pod.metadata.name),
                format!(
                    "this image does not hand JAVA_OPTS' -DprometheusEndpointUrl to Interlok: add prometheusEndpointUrl={} to your bootstrap.properties, then {}",
                    endpoint_of(probe),
                    rerun_with(probe, " --interlok-config <your folder>")
                ),
            );
        }
    }
    let url = match probe.pushgateway() {
        Ok(url) => url,
        Err(e) => {
            return Finding::warn(
                format!("cannot tell whether Interlok pushes: the pushgateway does not answer ({e})"),
                "once Prometheus is installed: `interlok-k8s verify`",
            )
        }
    };
    let live: Vec<String> = running.iter().map(|p| p.metadata.name.clone()).collect();
    let look = || prometheus_api::pushgateway_groups(&url).map(|g| interlok::pushed(&g, &s.namespace, &live));
    let mut pushed = match look() {
        Ok(pushed) => pushed,
        Err(e) => return Finding::fail(e, "check the pushgateway: `interlok-k8s verify` shows pushgateway.api"),
    };
    if pushed.is_empty() {
        if let Some(cannot) = cannot_push(probe, &d, &live) {
            return cannot;
        }
        let _ = interlok::http_status(probe, &s.inbox_path);
        let deadline = Instant::now() + TWO_PUSH_INTERVALS;
        while pushed.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
            pushed = look().unwrap_or_default();
        }
    }
    if pushed.is_empty() {
        return silent(probe, &d, &live);
    }
    let metric = &s.metric;
    let total = format!("{metric}_total");
    let names: std::collections::BTreeSet<&String> = pushed.values().flatten().collect();
    if names.iter().any(|n| **n == *metric || **n == total) {
        return Finding::ok(format!(
            "{} of {} live pod(s) pushed {metric} to the pushgateway",
            pushed.len(),
            live.len()
        ));
    }
    let list: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let first = list.first().map_or("", |n| n.trim_end_matches("_total"));
    Finding::fail(
        format!(
            "Interlok pushes {} but not {metric}: the pusher names each metric after a message-metrics-interceptor's unique-id without '-'",
            list.join(", ")
        ),
        format!(
            "follow the metric it pushes: `interlok-k8s verify --metric {first}` (and give setup, load and demo the same --metric), or give the interceptor the unique-id {metric}"
        ),
    )
}

/// The pushgateway address JAVA_OPTS names (what bootstrap.properties would need).
fn endpoint_of(probe: &Probe) -> String {
    probe
        .monitoring()
        .map(|f| manifests::pushgateway_address(&probe.cx.settings, &f.endpoints))
        .unwrap_or_else(|_| "<pushgateway host:port>".into())
}

/// Pods that have not pushed and cannot: what the image and the configuration mounted over its own hold says
/// so (a stock image has no pusher; Interlok starts only the management components bootstrap.properties
/// lists), with no need to wait for a push that cannot come.
fn cannot_push(probe: &Probe, d: &Deployment, live: &[String]) -> Option<Finding> {
    let image = d.container().image;
    let what = format!("no live pod ({}) pushes to the pushgateway", live.join(", "));
    let bootstrap = interlok::mounted_config(probe, d).unwrap_or_default().remove("bootstrap.properties");
    let components = bootstrap.as_deref().map(interlok::management_components);
    match images::kind(&image) {
        Kind::Stock => Some(without_pusher(
            probe,
            &image,
            format!("{what}: {image} is a stock Interlok image, which carries no kubernetes-metrics pusher"),
        )),
        _ => components.filter(|c| !c.iter().any(|c| c == "kubernetes-metrics")).map(|components| {
            Finding::fail(
                format!(
                    "{what}: the bootstrap.properties mounted over {image}'s lists managementComponents={}, without kubernetes-metrics",
                    components.join(":")
                ),
                format!(
                    "add kubernetes-metrics to managementComponents in your bootstrap.properties, then {}",
                    rerun_with(probe, " --interlok-config <your folder>")
                ),
            )
        }),
    }
}

/// Pods that consumed a message and pushed nothing within two push intervals, though they could: why.
fn silent(probe: &Probe, d: &Deployment, live: &[String]) -> Finding {
    let s = &probe.cx.settings;
    let image = d.container().image;
    let what = format!(
        "no live pod ({}) pushed to the pushgateway within {}s (two push intervals) of a message to {}",
        live.join(", "),
        TWO_PUSH_INTERVALS.as_secs(),
        s.inbox_path
    );
    match images::kind(&image) {
        Kind::Pusher => Finding::fail(
            format!("{what}, though {image} carries the pusher"),
            format!(
                "its log says why (a pushgateway it cannot reach shows as `Could not push to Prometheus`): `kubectl logs {} -n {}`",
                live[0], s.namespace
            ),
        ),
        _ => without_pusher(
            probe,
            &image,
            format!(
                "{what}: {image} is not an image the wizard knows: it may lack the kubernetes-metrics pusher (only Interlok 3.x builds had it) or kubernetes-metrics in its managementComponents"
            ),
        ),
    }
}

/// The fix for an image that cannot push: one that carries the pusher.
fn without_pusher(probe: &Probe, image: &str, message: String) -> Finding {
    Finding::fail(
        message,
        format!(
            "{image} cannot push: run an image that carries the pusher, like the guide's: {} (with your --interlok-config, if you use one); docs/interlok.md says what an image must hold",
            guide_image(probe)
        ),
    )
}
