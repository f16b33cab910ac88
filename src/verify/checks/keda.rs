//! keda, scaledobject, external-metrics and keda-hpa: KEDA's path from the metric to a scaling decision —
//! its operator and metrics API, the wizard's ScaledObject (KEDA's conditions with their reasons, and its
//! query run directly against Prometheus), what the external metrics API serves, and the HPA KEDA made.

use crate::cluster::apiservice::{self, Availability};
use crate::cluster::keda::{self, ScaledObject};
use crate::cluster::views::Hpa;
use crate::cluster::{self, pods};
use crate::manifests;
use crate::verify::{Finding, Probe};

/// The command that writes the wizard's ScaledObject again (and removes the adapter path's leftovers).
fn setup_scaledobject() -> &'static str {
    "`interlok-k8s setup --scaler keda --only scaledobject`"
}

pub(crate) fn operator(probe: &Probe) -> Finding {
    let namespace = &probe.cx.settings.keda_namespace;
    let found = match keda::deployments(probe) {
        Ok(found) => found,
        Err(problem) => return Finding::fail(problem.message, format!("`kubectl get deployments -n {namespace}`")),
    };
    for (name, deployment) in found {
        let Some(deployment) = deployment else {
            return Finding::fail(
                format!("no Deployment {name} in {namespace}"),
                "KEDA's chart makes it: `interlok-k8s setup --scaler keda --only keda`",
            );
        };
        if deployment.available() {
            continue;
        }
        if deployment.spec.replicas == Some(0) {
            return Finding::fail(
                format!("{name} is scaled to 0 replicas: no ScaledObject is reconciled or polled"),
                format!("`kubectl scale deployment {name} -n {namespace} --replicas=1`"),
            );
        }
        let selector = deployment.spec.selector.to_query();
        let states: Vec<String> =
            cluster::list::<crate::cluster::views::Pod>(probe, "pods", namespace, Some(&selector))
                .unwrap_or_default()
                .iter()
                .map(pods::describe)
                .collect();
        return Finding::fail(
            format!(
                "{name} has no available pod ({})",
                if states.is_empty() { "no pods".into() } else { states.join("; ") }
            ),
            format!(
                "`kubectl describe pods -n {namespace} -l {selector}` shows why; restart it: `kubectl rollout restart deployment/{name} -n {namespace}`"
            ),
        );
    }
    Finding::ok(format!("{} available in {namespace}", keda::DEPLOYMENTS.join(", ")))
}

pub(crate) fn metrics_api(probe: &Probe) -> Finding {
    let name = apiservice::EXTERNAL_METRICS;
    let namespace = &probe.cx.settings.keda_namespace;
    let ours = format!("{namespace}/{}", keda::METRICS_SERVER);
    let restart = format!(
        "restart KEDA's metrics server: `kubectl rollout restart deployment/{} -n {namespace}`; its log: `kubectl logs -n {namespace} deploy/{}`",
        keda::METRICS_SERVER,
        keda::METRICS_SERVER
    );
    match apiservice::availability(probe, name) {
        Err(problem) => Finding::fail(problem.message, "`kubectl get apiservices`"),
        Ok(Availability::Missing) => Finding::fail(
            format!("APIService {name} does not exist"),
            "KEDA's chart registers it: `interlok-k8s setup --scaler keda --only keda`",
        ),
        Ok(Availability::Available { served_by } | Availability::Unavailable { served_by, .. })
            if served_by != ours =>
        {
            Finding::fail(
                format!("APIService {name} is served by {served_by}, not by KEDA's metrics server {ours}"),
                format!(
                    "a cluster has one external metrics provider: if it is a KEDA, pass its namespace (`interlok-k8s verify --keda-namespace {}`); `kubectl get apiservice {name} -o yaml` shows who registered it",
                    served_by.split('/').next().unwrap_or_default()
                ),
            )
        }
        Ok(Availability::Unavailable { why, .. }) => {
            Finding::fail(format!("APIService {name} (served by {ours}) is not Available — {why}"), restart)
        }
        Ok(Availability::Available { .. }) => Finding::ok(format!("APIService {name} Available, served by {ours}")),
    }
}

/// The wizard's ScaledObject, or the finding that it is missing.
fn scaled_object(probe: &Probe) -> Result<ScaledObject, Finding> {
    let s = &probe.cx.settings;
    match keda::scaled_object(probe) {
        Ok(Some(so)) => Ok(so),
        Ok(None) => Err(Finding::fail(
            format!("no ScaledObject {} in {}", s.deployment, s.namespace),
            format!("create it: {}", setup_scaledobject()),
        )),
        Err(problem) => Err(Finding::fail(problem.message, format!("`kubectl get scaledobjects -n {}`", s.namespace))),
    }
}

pub(crate) fn exists(probe: &Probe) -> Finding {
    let so = match scaled_object(probe) {
        Ok(so) => so,
        Err(f) => return f,
    };
    let s = &probe.cx.settings;
    let target = &so.spec.scale_target_ref;
    if !so.targets(&s.deployment) {
        return Finding::fail(
            format!(
                "ScaledObject {} targets {} {}, not Deployment {}",
                so.metadata.name, target.kind, target.name, s.deployment
            ),
            format!("point it at Deployment {}: {}", s.deployment, setup_scaledobject()),
        );
    }
    let kinds: Vec<&str> = so.spec.triggers.iter().map(|t| t.kind.as_str()).collect();
    Finding::ok(format!(
        "ScaledObject {} scales Deployment {} {}–{} on {} (polled every {} s)",
        so.metadata.name,
        s.deployment,
        so.spec.min_replica_count.unwrap_or(0),
        so.spec.max_replica_count.unwrap_or(100),
        if kinds.is_empty() { "no trigger".into() } else { kinds.join(", ") },
        so.spec.polling_interval.unwrap_or(30)
    ))
}

pub(crate) fn ready(probe: &Probe) -> Finding {
    let so = match scaled_object(probe) {
        Ok(so) => so,
        Err(f) => return f,
    };
    let (name, namespace) = (&so.metadata.name, &so.metadata.namespace);
    let Some(ready) = so.condition("Ready") else {
        return Finding::fail(
            format!("KEDA has not looked at ScaledObject {name} yet (it has no Ready condition)"),
            format!("KEDA's operator reconciles it: `kubectl rollout restart deployment/keda-operator -n {}`, then `interlok-k8s verify --wait 2m`", probe.cx.settings.keda_namespace),
        );
    };
    if ready.is_true() {
        let active =
            so.condition("Active").map(|c| format!("; Active {} ({})", c.status, c.reason)).unwrap_or_default();
        return Finding::ok(format!("Ready {} ({}){active}", ready.status, ready.reason));
    }
    let failure = keda::scaler_failure(probe, &so).ok().flatten();
    let mut message = format!("ScaledObject {name} is not Ready: {} — {}", ready.reason, ready.message);
    if let Some(failure) = &failure {
        message.push_str(&format!("; KEDA's scaler: {failure}"));
    }
    let hint = match ready.reason.as_str() {
        "TriggerError" | "PartialTriggerError" => query_fix(probe, &so, failure.as_deref().unwrap_or_default()),
        _ => format!(
            "{}: it writes the wizard's ScaledObject again; `kubectl describe scaledobject {name} -n {namespace}` shows KEDA's events",
            setup_scaledobject()
        ),
    };
    Finding::fail(message, hint)
}

/// What to do about a query that fails: the wizard's back, messages for Interlok to push, or the address.
fn query_fix(probe: &Probe, so: &ScaledObject, why: &str) -> String {
    let s = &probe.cx.settings;
    let query = so.trigger_value("query");
    let wizards = manifests::keda_query(s).unwrap_or_default();
    if query != wizards {
        return format!(
            "its query {query:?} is not the wizard's, which sums {metric} (or {metric}_total, as newer Interlok builds push it) over the pods of Deployment {}: put it back with {}",
            s.deployment,
            setup_scaledobject(),
            metric = s.metric
        );
    }
    if why.contains("result is empty") || why.is_empty() {
        return format!(
            "Prometheus has no {} for the pods of Deployment {}: Interlok pushes only after it processes messages, so send some: `interlok-k8s load -n 5`",
            s.metric, s.deployment
        );
    }
    format!(
        "KEDA cannot ask Prometheus at {} (setup's --prometheus-url, or the Prometheus setup installs): fix the address and {}",
        so.trigger_value("serverAddress"),
        setup_scaledobject()
    )
}

pub(crate) fn query(probe: &Probe) -> Finding {
    let so = match scaled_object(probe) {
        Ok(so) => so,
        Err(f) => return f,
    };
    let Ok(prometheus) = probe.prometheus() else {
        return Finding::fail("Prometheus is unreachable", "see prometheus.api");
    };
    let query = so.trigger_value("query");
    let asks = so.trigger_value("serverAddress");
    match keda::evaluate(&prometheus, &query) {
        Ok(value) => Finding::ok(format!(
            "{query} = {value} now (KEDA asks {asks}; its HPA divides it by the replicas, target {} per pod)",
            so.trigger_value("threshold")
        )),
        Err(why) => Finding::fail(
            format!("the ScaledObject's query, run against Prometheus, gives no one number ({why}): {query}"),
            query_fix(probe, &so, &why),
        ),
    }
}

pub(crate) fn external_value(probe: &Probe) -> Finding {
    let so = match scaled_object(probe) {
        Ok(so) => so,
        Err(f) => return f,
    };
    let metric = so.metric_name();
    let namespace = &probe.cx.settings.keda_namespace;
    match keda::external_value(probe, &so) {
        Ok(Ok(value)) => Finding::ok(format!(
            "external.metrics.k8s.io serves {metric} = {value} for ScaledObject {}",
            so.metadata.name
        )),
        Ok(Err(said)) => Finding::fail(
            format!("external.metrics.k8s.io has no value of {metric} for ScaledObject {}: {said}", so.metadata.name),
            format!(
                "KEDA's metrics server asks the operator, which runs the query: restart it, `kubectl rollout restart deployment/{} -n {namespace}`, and see `kubectl logs -n {namespace} deploy/keda-operator`",
                keda::METRICS_SERVER
            ),
        ),
        Err(problem) => Finding::fail(problem.message, "`kubectl get apiservice v1beta1.external.metrics.k8s.io`"),
    }
}

/// KEDA's HPA for the wizard's ScaledObject, or the finding that it is missing.
fn keda_hpa(probe: &Probe) -> Result<(ScaledObject, Hpa), Finding> {
    let so = scaled_object(probe)?;
    match keda::hpa_of(probe, &so) {
        Ok(Some(hpa)) => Ok((so, hpa)),
        Ok(None) => Err(Finding::fail(
            format!("KEDA has not made the HPA {} for ScaledObject {}", so.hpa_name(), so.metadata.name),
            format!(
                "KEDA's operator makes it: `kubectl describe scaledobject {} -n {}` shows why not; {} writes the ScaledObject again",
                so.metadata.name,
                so.metadata.namespace,
                setup_scaledobject()
            ),
        )),
        Err(problem) => Err(Finding::fail(problem.message, "`kubectl get hpa -A`")),
    }
}

pub(crate) fn hpa_exists(probe: &Probe) -> Finding {
    let (so, hpa) = match keda_hpa(probe) {
        Ok(found) => found,
        Err(f) => return f,
    };
    let s = &probe.cx.settings;
    let others: Vec<Hpa> = keda::hpas_on_target(probe)
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.metadata.name != hpa.metadata.name)
        .collect();
    if let Some(other) = others.first() {
        let name = &other.metadata.name;
        let fix = if other.metadata.managed_by_wizard() {
            format!("remove the adapter path's: {}", setup_scaledobject())
        } else {
            format!("`kubectl delete hpa {name} -n {}`", s.namespace)
        };
        return Finding::fail(
            format!(
                "two autoscalers scale Deployment {}: KEDA's {} and HorizontalPodAutoscaler {name}; they fight over it",
                s.deployment, hpa.metadata.name
            ),
            fix,
        );
    }
    let metric = hpa.metric();
    if metric.kind != "External" || metric.name() != so.metric_name() {
        return Finding::fail(
            format!(
                "{} reads {} metric {:?}, not KEDA's External metric {}",
                hpa.metadata.name,
                if metric.kind.is_empty() { "no" } else { &metric.kind },
                metric.name(),
                so.metric_name()
            ),
            format!("KEDA puts its HPA back when the ScaledObject changes: {}", setup_scaledobject()),
        );
    }
    Finding::ok(format!(
        "{} (KEDA's, for ScaledObject {}) reads External metric {}, target average {}; the only autoscaler of Deployment {}",
        hpa.metadata.name,
        so.metadata.name,
        metric.name(),
        metric.target().unwrap_or_else(|| "?".into()),
        s.deployment
    ))
}

pub(crate) fn hpa_status(probe: &Probe) -> Finding {
    let (_, hpa) = match keda_hpa(probe) {
        Ok(found) => found,
        Err(f) => return f,
    };
    let blocking: Vec<String> =
        hpa.blocking_conditions().iter().map(|c| format!("{} {}", c.kind, c.explain())).collect();
    let target = hpa.metric().target().unwrap_or_else(|| "?".into());
    let replicas =
        format!("replicas {}/{} (current/desired)", hpa.status.current_replicas, hpa.status.desired_replicas);
    match hpa.current_value() {
        Some(current) if hpa.scaling_active() && blocking.is_empty() => {
            Finding::ok(format!("{replicas}; average {current} vs target {target}"))
        }
        current => Finding::fail(
            format!(
                "KEDA's HPA {} cannot scale: current value {}; {}",
                hpa.metadata.name,
                current.unwrap_or_else(|| "<unknown>".into()),
                if blocking.is_empty() { "ScalingActive not True".into() } else { blocking.join("; ") }
            ),
            format!(
                "`kubectl describe hpa {} -n {}` shows the condition's message; the HPA reads the metric every 15 s: `interlok-k8s verify --wait 2m`",
                hpa.metadata.name, probe.cx.settings.namespace
            ),
        ),
    }
}
