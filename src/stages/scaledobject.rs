//! scaledobject (with `--scaler keda`): a KEDA ScaledObject instead of the wizard's HPA. It targets the
//! Interlok Deployment between the same bounds, with a `prometheus` trigger whose query sums the metric
//! (`M` or `M_total`) over the Deployment's pods against the target average (`AverageValue`). KEDA's
//! admission webhook refuses a workload another HPA scales, so the adapter path's HPA goes first, and
//! prometheus-adapter after it when the wizard installed it. Validated when the ScaledObject is Ready, KEDA's
//! HPA `keda-hpa-<name>` reads its External metric, and the external metrics API serves a value.

use crate::cluster::keda::{self, ScaledObject as Live};
use crate::cluster::{self, adapter, interlok, monitoring};
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests::{self, Endpoints};
use crate::problem::Problem;
use crate::record::Created;
use crate::settings::{Scaler, Settings};
use crate::wait::{self, Poll};

use super::releases;

/// Messages sent before the ScaledObject exists: Interlok pushes only after its first ones, and a query that
/// finds nothing is an error to the trigger (`ignoreNullValues: "false"`).
const WARM_UP_MESSAGES: usize = 5;

pub(crate) struct ScaledObject;

impl Stage for ScaledObject {
    fn id(&self) -> StageId {
        StageId::ScaledObject
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Keda, StageId::Prometheus, StageId::Interlok]
    }

    fn summary(&self) -> &'static str {
        "create the KEDA ScaledObject on MessageMetrics instead of the HPA (--scaler keda)"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        (settings.scaler != Scaler::Keda).then(|| "--scaler adapter: the wizard's HPA scales Interlok".into())
    }

    fn link(&self) -> &'static [&'static str] {
        &[
            "metric.series",
            "metric.fresh",
            "scaledobject.exists",
            "scaledobject.ready",
            "scaledobject.query",
            "external-metrics.value",
            "keda-hpa.exists",
            "keda-hpa.status",
        ]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        if let Some(reason) = adapter_path_left(cx)? {
            return Ok(Check::Needed(reason));
        }
        let (namespace, name) = (&cx.settings.namespace, &cx.settings.deployment);
        let Some(live) = keda::scaled_object(cx)? else {
            return Ok(Check::Needed(format!("no ScaledObject {name} in {namespace} yet")));
        };
        let endpoints = monitoring::endpoints(cx)?;
        match differs(cx, &live, &endpoints)? {
            Some(difference) => Ok(Check::Needed(difference)),
            None => Ok(Check::Done(summary(cx))),
        }
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        remove_adapter_hpas(cx)?;
        let endpoints = super::interlok::endpoints(cx)?;
        warm_up(cx);
        let so = manifests::scaled_object(&cx.settings, &endpoints)?;
        let object: serde_json::Value = serde_json::from_str(&manifests::to_json(&so)?)
            .map_err(|e| Problem::new(format!("the rendered ScaledObject is not JSON ({e})")))?;
        super::owned::apply(cx, vec![object]).map_err(|p| refused(cx, p))?;
        remove_adapter_release(cx)
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let (namespace, name) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
        let what = format!("ScaledObject {name} to be Ready and KEDA's HPA to read its metric");
        let (hpa, current) = wait::until(cx, &what, cx.settings.wait_timeout, || look(cx)).map_err(|p| {
            p.with_hint(format!(
                "`kubectl describe scaledobject {name} -n {namespace}` shows KEDA's events; `interlok-k8s verify` walks the chain"
            ))
        })?;
        Ok(format!("{}; KEDA's HPA {hpa} reads an average of {current} now", summary(cx)))
    }
}

fn summary(cx: &Context) -> String {
    let s = &cx.settings;
    format!(
        "ScaledObject {} scales Deployment {} {}–{} on the sum of {} over its pods at an average of {} per pod",
        s.deployment, s.deployment, s.min_replicas, s.max_replicas, s.metric, s.target_average
    )
}

/// One look at the ScaledObject, KEDA's HPA and the external metrics API: ready, or what is still missing.
fn look(cx: &Context) -> Poll<(String, String)> {
    let so = match keda::scaled_object(cx) {
        Ok(Some(so)) => so,
        Ok(None) => return Poll::Waiting("it does not exist".into()),
        Err(problem) => return Poll::Failed(problem),
    };
    if !so.ready() {
        return Poll::Waiting(not_ready(cx, &so));
    }
    let hpa = match keda::hpa_of(cx, &so) {
        Ok(Some(hpa)) => hpa,
        Ok(None) => return Poll::Waiting(format!("KEDA has not made {} yet", so.hpa_name())),
        Err(problem) => return Poll::Failed(problem),
    };
    if hpa.metric().kind != "External" {
        return Poll::Waiting(format!("{} has no External metric yet", so.hpa_name()));
    }
    match keda::external_value(cx, &so) {
        Ok(Ok(_)) => {}
        Ok(Err(said)) => return Poll::Waiting(format!("the external metrics API: {said}")),
        Err(problem) => return Poll::Failed(problem),
    }
    match hpa.current_value() {
        Some(value) if hpa.scaling_active() => Poll::Ready((so.hpa_name(), value)),
        _ => Poll::Waiting(
            hpa.blocking_conditions()
                .first()
                .map_or_else(|| format!("{} has read no value yet", so.hpa_name()), |c| c.explain()),
        ),
    }
}

/// Why a ScaledObject is not Ready, in KEDA's words: its condition and its scaler's last error.
pub(crate) fn not_ready(reader: &(impl cluster::Reader + ?Sized), so: &Live) -> String {
    let Some(ready) = so.condition("Ready") else { return "KEDA has not looked at it yet".into() };
    let mut text = format!("Ready {} ({})", ready.status, ready.explain());
    if let Ok(Some(failure)) = keda::scaler_failure(reader, so) {
        text.push_str(&format!("; KEDA's scaler: {failure}"));
    }
    text
}

/// What differs between the live ScaledObject and the wizard's.
fn differs(cx: &Context, live: &Live, endpoints: &Endpoints) -> Result<Option<String>, Problem> {
    let rendered = manifests::scaled_object(&cx.settings, endpoints)?;
    let value: serde_json::Value =
        serde_yaml::from_str(&rendered.text).map_err(|e| Problem::new(format!("{}: {e}", rendered.file)))?;
    let wanted: Live = cluster::view(keda::KIND, value)?;
    let s = &cx.settings;
    let (l, w) = (&live.spec, &wanted.spec);
    if !live.targets(&s.deployment) {
        let target = &l.scale_target_ref;
        return Ok(Some(format!("the ScaledObject targets {} {}", target.kind, target.name)));
    }
    if (l.min_replica_count, l.max_replica_count) != (w.min_replica_count, w.max_replica_count) {
        return Ok(Some(format!(
            "the ScaledObject allows {}–{} replicas",
            l.min_replica_count.unwrap_or(0),
            l.max_replica_count.unwrap_or(100)
        )));
    }
    if live.trigger_value("query") != wanted.trigger_value("query") {
        return Ok(Some(format!("the ScaledObject's query is {:?}", live.trigger_value("query"))));
    }
    if l.triggers != w.triggers || l.polling_interval != w.polling_interval {
        return Ok(Some("the ScaledObject's trigger or polling interval is not the wizard's".into()));
    }
    Ok(None)
}

/// What of the adapter path is still there for KEDA to replace: an HPA on the Deployment that KEDA did not
/// make, or the prometheus-adapter the wizard installed.
fn adapter_path_left(cx: &Context) -> Result<Option<String>, Problem> {
    let deployment = &cx.settings.deployment;
    if let Some(hpa) = keda::hpas_on_target(cx)?.into_iter().find(|h| !keda::made_by_keda(h)) {
        return Ok(Some(format!(
            "HorizontalPodAutoscaler {} scales Deployment {deployment}: KEDA's admission webhook refuses a second autoscaler, so the switch to KEDA removes it first",
            hpa.metadata.name
        )));
    }
    if adapter_ours(cx)? {
        return Ok(Some("prometheus-adapter, which the wizard installed, is still there: KEDA does not use it".into()));
    }
    Ok(None)
}

/// Removes the HPAs on the Deployment that KEDA did not make: the wizard's; another one is refused.
fn remove_adapter_hpas(cx: &mut Context) -> Result<(), Problem> {
    let (namespace, deployment) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
    let hpas = match keda::hpas_on_target(cx) {
        Ok(found) => found,
        Err(_) if cx.runner.dry_run() => return Ok(()), // no cluster to ask yet: no HPA to remove
        Err(problem) => return Err(problem),
    };
    for hpa in hpas.into_iter().filter(|h| !keda::made_by_keda(h)) {
        let name = hpa.metadata.name.clone();
        if !hpa.metadata.managed_by_wizard() {
            return Err(Problem::new(format!(
                "HorizontalPodAutoscaler {name} in {namespace} scales Deployment {deployment}, and the wizard did not create it: KEDA's admission webhook refuses a second autoscaler"
            ))
            .with_hint(format!(
                "keep it with `--scaler adapter`, or delete it yourself: `kubectl delete hpa {name} -n {namespace}`"
            )));
        }
        cx.runner.run(&cx.kubectl().delete("hpa", &name, Some(&namespace)))?;
        cx.note(format!("removed the adapter path's HorizontalPodAutoscaler {name}"));
        cx.forget(&Created::Object { kind: "hpa".into(), name, namespace: namespace.clone() });
    }
    Ok(())
}

/// Whether prometheus-adapter is installed and the wizard installed it.
fn adapter_ours(cx: &Context) -> Result<bool, Problem> {
    let release = releases::release(cx, adapter::NAME);
    let item = Created::Release { name: release.name.clone(), namespace: release.namespace.clone() };
    let recorded = cx.recorded(&item).is_some();
    Ok(recorded && releases::status(cx, &release)?.is_some())
}

/// Uninstalls the prometheus-adapter the wizard installed: KEDA serves the metric now.
fn remove_adapter_release(cx: &mut Context) -> Result<(), Problem> {
    match adapter_ours(cx) {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(_) if cx.runner.dry_run() => return Ok(()),
        Err(problem) => return Err(problem),
    }
    let release = releases::release(cx, adapter::NAME);
    let cmd = if cx.helm_major() == 2 {
        cx.helm().delete_v2(&release.name)
    } else {
        cx.helm().uninstall(&release.name, &release.namespace)
    };
    cx.runner.run(&cmd)?;
    cx.note(format!("uninstalled {} from {}: KEDA serves the metric now", release.name, release.namespace));
    cx.forget(&Created::Release { name: release.name, namespace: release.namespace });
    Ok(())
}

/// A few messages to /in-box, so Interlok pushes and the query has a number before KEDA first runs it.
fn warm_up(cx: &Context) {
    if cx.runner.dry_run() {
        return;
    }
    let s = &cx.settings;
    if let Ok(mut consumer) = interlok::HttpConsumer::reach(cx) {
        for _ in 0..WARM_UP_MESSAGES {
            let _ = consumer.get(&s.inbox_path);
        }
    }
}

/// A refused apply, explained: KEDA missing, or its webhook refusing a second autoscaler.
fn refused(cx: &Context, problem: Problem) -> Problem {
    let text = problem.output_text();
    if text.contains("no matches for kind \"ScaledObject\"") {
        return problem
            .reworded("the cluster does not know ScaledObjects: KEDA is not installed")
            .with_hint("install it: `interlok-k8s setup --scaler keda --only keda`");
    }
    match text.lines().find(|l| l.contains("denied the request")) {
        Some(line) => {
            let why = line.rsplit("denied the request: ").next().unwrap_or(line).trim().to_string();
            problem.reworded(format!("KEDA's admission webhook refused the ScaledObject: {why}")).with_hint(format!(
                "remove the other autoscaler of Deployment {} (`kubectl get hpa,scaledobjects -n {}`), then `interlok-k8s setup --scaler keda --only scaledobject`",
                cx.settings.deployment, cx.settings.namespace
            ))
        }
        None => problem,
    }
}
