//! interlok: the Deployment, where it pushes, the pod labels it pushes with, and its HTTP consumer.

use crate::cluster::views::{Deployment, Pod, Service};
use crate::cluster::{self, interlok, pods};
use crate::manifests;
use crate::verify::{Finding, Probe};

fn rerun(probe: &Probe) -> String {
    let s = &probe.cx.settings;
    let namespace = if s.namespace == "default" { String::new() } else { format!(" --namespace {}", s.namespace) };
    format!("`interlok-k8s setup --only interlok{namespace}`")
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

pub fn deployment(probe: &Probe) -> Finding {
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

pub fn endpoint(probe: &Probe) -> Finding {
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

pub fn downward_api(probe: &Probe) -> Finding {
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

pub fn in_box(probe: &Probe) -> Finding {
    let s = &probe.cx.settings;
    match interlok::http_status(probe, "/in-box") {
        Ok(Ok(200)) => Finding::ok("/in-box answers 200"),
        Ok(Ok(status)) => Finding::fail(
            format!("/in-box answers HTTP {status}"),
            format!(
                "check the Interlok configuration's /in-box consumer: `kubectl logs deploy/{} -n {}`",
                s.deployment, s.namespace
            ),
        ),
        Ok(Err(e)) => Finding::fail(
            format!("/in-box does not answer: {e}"),
            format!("`kubectl logs deploy/{} -n {}`", s.deployment, s.namespace),
        ),
        Err(problem) => Finding::fail(problem.message, problem.hint.unwrap_or_default()),
    }
}
