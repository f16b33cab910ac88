//! keda (with `--scaler keda`): KEDA from its chart, kedacore/keda pinned at 2.20.2 (`--chart-version keda=…`),
//! into its own namespace (`--keda-namespace`). Validated when its three Deployments are available and the
//! APIService it registers, v1beta1.external.metrics.k8s.io, is Available.
//!
//! Also how the adapter path leaves the KEDA path: the wizard's ScaledObject goes first, while KEDA runs
//! (its finalizer needs KEDA to let it go, and KEDA's HPA goes with it), then the KEDA the wizard installed:
//! its release (whose CRDs delete every KEDA object, so never while KEDA objects the wizard did not create
//! exist), the certificate Secret its operator made (the chart does not own it), and the namespace the
//! wizard created for it.

use crate::cluster;
use crate::cluster::apiservice::{self, Availability};
use crate::cluster::keda::{self, ScaledObject};
use crate::cluster::views::Deployment;
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests;
use crate::problem::Problem;
use crate::record::Created;
use crate::settings::{Scaler, Settings};
use crate::wait::{self, Poll};

use super::releases;

pub(crate) struct Keda;

impl Stage for Keda {
    fn id(&self) -> StageId {
        StageId::Keda
    }

    /// The chart needs no Interlok and no Prometheus: it installs while they do.
    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Helm, StageId::VersionSkew]
    }

    fn summary(&self) -> &'static str {
        "install KEDA (kedacore/keda) and its external metrics API (--scaler keda)"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        (settings.scaler != Scaler::Keda).then(|| "--scaler adapter: prometheus-adapter serves the metric".into())
    }

    fn link(&self) -> &'static [&'static str] {
        &["helm.keda", "keda.operator", "keda.metrics-api"]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        if cx.helm_major() == 2 {
            return Err(Problem::new("KEDA's chart needs Helm 3 or later (Helm 2 is end-of-life)").with_hint(
                "install Helm 3 or 4 (`choco install kubernetes-helm`), or keep the adapter path: `--scaler adapter`",
            ));
        }
        if let Some(served_by) = other_provider(cx)? {
            let namespace = served_by.split('/').next().unwrap_or_default();
            return Err(Problem::new(format!(
                "APIService {} is already served by {served_by}, not by a KEDA in {}: a cluster has one external metrics provider",
                apiservice::EXTERNAL_METRICS,
                cx.settings.keda_namespace
            ))
            .with_hint(format!(
                "if that is KEDA, use it: `interlok-k8s setup --scaler keda --keda-namespace {namespace}`; `kubectl get apiservice {} -o yaml` shows who registered it",
                apiservice::EXTERNAL_METRICS
            )));
        }
        let release = releases::release(cx, keda::RELEASE);
        Ok(match releases::needs_install(cx, &release)? {
            Some(reason) => Check::Needed(reason),
            None => Check::Done(describe(cx)),
        })
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let values = manifests::keda_values(&cx.settings)?;
        let release = releases::release(cx, keda::RELEASE);
        releases::install(cx, &release, &values.text)
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let namespace = cx.settings.keda_namespace.clone();
        let what = format!("KEDA's Deployments in {namespace} to be available");
        wait::until(cx, &what, cx.settings.wait_timeout, || match keda::deployments(cx) {
            Ok(found) => {
                let waiting: Vec<&str> = found
                    .iter()
                    .filter(|(_, d)| !d.as_ref().is_some_and(Deployment::available))
                    .map(|(n, _)| *n)
                    .collect();
                if waiting.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Waiting(format!("not available yet: {}", waiting.join(", ")))
                }
            }
            Err(problem) => Poll::Failed(problem),
        })
        .map_err(|p| p.with_hint(format!("`kubectl get pods -n {namespace}` shows KEDA's pods and why they wait")))?;
        let name = apiservice::EXTERNAL_METRICS;
        wait::until(cx, &format!("APIService {name} to become Available"), cx.settings.wait_timeout, || {
            match apiservice::availability(cx, name) {
                Ok(Availability::Available { .. }) => Poll::Ready(()),
                Ok(Availability::Missing) => Poll::Waiting(format!("APIService {name} does not exist")),
                Ok(Availability::Unavailable { why, .. }) => Poll::Waiting(why),
                Err(problem) => Poll::Failed(problem),
            }
        })
        .map_err(|p| {
            p.with_hint(format!(
                "see the metrics server's log: `kubectl logs -n {namespace} deploy/{}`; `kubectl get apiservice {name}` shows the condition",
                keda::METRICS_SERVER
            ))
        })?;
        Ok(describe(cx))
    }
}

fn describe(cx: &Context) -> String {
    let release = releases::release(cx, keda::RELEASE);
    format!(
        "{} {} in {}: operator, metrics API server and admission webhooks available; APIService {} Available",
        release.chart,
        release.version,
        release.namespace,
        apiservice::EXTERNAL_METRICS
    )
}

/// Who serves external metrics, when it is not a KEDA in the wizard's KEDA namespace.
fn other_provider(cx: &Context) -> Result<Option<String>, Problem> {
    let ours = format!("{}/", cx.settings.keda_namespace);
    Ok(match apiservice::availability(cx, apiservice::EXTERNAL_METRICS)? {
        Availability::Missing => None,
        Availability::Available { served_by } | Availability::Unavailable { served_by, .. } => {
            (!served_by.starts_with(&ours)).then_some(served_by)
        }
    })
}

/// What of the KEDA path is still there for the adapter path to remove, if anything.
pub(crate) fn left_behind(cx: &Context) -> Result<Option<String>, Problem> {
    let deployment = &cx.settings.deployment;
    if let Some(so) = keda::scaled_objects_on_target(cx)?.first() {
        return Ok(Some(format!(
            "ScaledObject {} (the KEDA path) scales Deployment {deployment}: switching to the adapter removes it first",
            so.metadata.name
        )));
    }
    let installed: Vec<String> = keda::installed_by_wizard(cx)
        .into_iter()
        .filter(|ns| releases::status(cx, &release_in(cx, ns)).ok().flatten().is_some())
        .collect();
    if installed.is_empty() || !keda::foreign_objects(cx)?.is_empty() {
        return Ok(None); // KEDA that is not the wizard's, or that others use, stays
    }
    Ok(Some(format!(
        "KEDA, which the wizard installed in {}, is still there: the adapter path removes it",
        installed.join(", ")
    )))
}

/// Leaves the KEDA path: the ScaledObjects on the Deployment (only the wizard's: another one is refused),
/// waiting for KEDA to let each go with its HPA; then the KEDA the wizard installed.
pub(crate) fn leave(cx: &mut Context) -> Result<(), Problem> {
    let namespace = cx.settings.namespace.clone();
    let on_target = match keda::scaled_objects_on_target(cx) {
        Ok(found) => found,
        Err(_) if cx.runner.dry_run() => return Ok(()), // no cluster to ask yet: nothing of KEDA's to leave
        Err(problem) => return Err(problem),
    };
    for so in on_target {
        remove_scaled_object(cx, &so, &namespace)?;
    }
    for keda_namespace in keda::installed_by_wizard(cx) {
        if releases::status(cx, &release_in(cx, &keda_namespace))?.is_some() {
            uninstall(cx, &keda_namespace)?;
        }
    }
    Ok(())
}

fn remove_scaled_object(cx: &mut Context, so: &ScaledObject, namespace: &str) -> Result<(), Problem> {
    let name = so.metadata.name.clone();
    if !so.metadata.managed_by_wizard() {
        return Err(Problem::new(format!(
            "ScaledObject {name} in {namespace} scales Deployment {}, and the wizard did not create it: an HPA beside it would fight it",
            cx.settings.deployment
        ))
        .with_hint(format!(
            "keep it with `interlok-k8s setup --scaler keda`, or delete it yourself: `kubectl delete {} {name} -n {namespace}`",
            keda::KIND
        )));
    }
    // kubectl waits while KEDA's finalizer holds it
    cx.runner.run(&cx.kubectl().delete(keda::KIND, &name, Some(namespace)))?;
    cx.note(format!("removed the KEDA path's ScaledObject {name} (KEDA's HPA {} goes with it)", so.hpa_name()));
    cx.forget(&Created::Object { kind: keda::KIND.into(), name: name.clone(), namespace: namespace.into() });
    if cx.runner.dry_run() {
        return Ok(());
    }
    let hpa = so.hpa_name();
    let what = format!("KEDA's HPA {hpa} to go with ScaledObject {name}");
    wait::until(cx, &what, cx.settings.wait_timeout, || {
        match cluster::get::<serde_json::Value>(cx, "hpa", namespace, &hpa) {
            Ok(None) => Poll::Ready(()),
            Ok(Some(_)) => Poll::Waiting("the garbage collector has not removed it yet".into()),
            Err(problem) => Poll::Failed(problem),
        }
    })
}

/// Removes the KEDA the wizard installed in `namespace`, unless KEDA objects it did not create exist.
fn uninstall(cx: &mut Context, namespace: &str) -> Result<(), Problem> {
    let foreign = keda::foreign_objects(cx)?;
    if !foreign.is_empty() {
        cx.note(format!(
            "KEDA in {namespace} is kept: uninstalling it would delete KEDA objects the wizard did not create ({})",
            foreign.join(", ")
        ));
        return Ok(());
    }
    for cmd in crate::teardown::keda_removal(cx, namespace) {
        cx.runner.run(&cmd)?;
    }
    cx.forget(&Created::Release { name: keda::RELEASE.into(), namespace: namespace.into() });
    let created = Created::Namespace { name: namespace.into() };
    let ours = cx.recorded(&created).is_some();
    if ours && (cx.runner.dry_run() || crate::teardown::foreign_objects(cx, namespace)?.is_empty()) {
        cx.runner.run(&cx.kubectl().delete("namespace", namespace, None))?;
        cx.forget(&created);
        cx.note(format!("uninstalled KEDA and removed its namespace {namespace}, which the wizard created"));
    } else {
        cx.note(format!("uninstalled KEDA from {namespace} (and the certificate Secret its operator made)"));
    }
    Ok(())
}

fn release_in(cx: &Context, namespace: &str) -> crate::tools::helm::Release {
    crate::tools::helm::Release { namespace: namespace.into(), ..releases::release(cx, keda::RELEASE) }
}
