//! autoscaler: the HorizontalPodAutoscaler on the metric (Pods, AverageValue), in the best autoscaling API
//! the server serves — v2, else v2beta2, else v2beta1 — always targeting the apps/v1 Deployment. Validated when
//! the HPA reports a current value (not `<unknown>`) and ScalingActive.

use crate::cluster;
use crate::cluster::views::Hpa;
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests;
use crate::problem::Problem;
use crate::settings::{Scaler, Settings};
use crate::wait::{self, Poll};

pub(crate) struct Autoscaler;

impl Stage for Autoscaler {
    fn id(&self) -> StageId {
        StageId::Autoscaler
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Adapter]
    }

    fn summary(&self) -> &'static str {
        "create the HorizontalPodAutoscaler on MessageMetrics"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        (settings.scaler == Scaler::Keda).then(|| "--scaler keda: KEDA makes the HPA for its ScaledObject".into())
    }

    fn link(&self) -> &'static [&'static str] {
        &["hpa.exists", "hpa.target", "hpa.metric", "hpa.status"]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        if let Some(reason) = super::keda::left_behind(cx)? {
            return Ok(Check::Needed(reason));
        }
        let (namespace, name) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
        let Some(hpa) = cluster::get::<Hpa>(cx, "hpa", &namespace, &name)? else {
            return Ok(Check::Needed(format!("no HorizontalPodAutoscaler {name} in {namespace} yet")));
        };
        match differs(cx, &hpa) {
            Some(difference) => Ok(Check::Needed(difference)),
            None => Ok(Check::Done(summary(cx))),
        }
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let api_version = match served_api_version(cx) {
            Ok(v) => v,
            // under --dry-run there may be no cluster yet: render for the version asked for, as `render` does
            Err(_) if cx.runner.dry_run() => {
                let version = cx
                    .settings
                    .kubernetes_version
                    .as_deref()
                    .and_then(crate::version::Version::parse)
                    .unwrap_or(crate::version::Version::new(1, 33, 0));
                manifests::hpa_api_version(version).to_string()
            }
            Err(problem) => return Err(problem),
        };
        // KEDA's HPA and this one would fight over the Deployment: the KEDA path goes first
        super::keda::leave(cx)?;
        let endpoints = super::interlok::endpoints(cx)?;
        let mut hpa = manifests::autoscaler(&cx.settings, &endpoints, manifests::version_for_api(&api_version))?;
        hpa.text = hpa.text.replace("apiVersion: autoscaling/v2\n", &format!("apiVersion: {api_version}\n"));
        let hpa: serde_json::Value = serde_json::from_str(&manifests::to_json(&hpa)?)
            .map_err(|e| Problem::new(format!("the rendered autoscaler is not JSON ({e})")))?;
        super::owned::apply(cx, vec![hpa])
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let (namespace, name) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
        let what = format!("the autoscaler {name} to read {}", cx.settings.metric);
        let current = wait::until(cx, &what, cx.settings.wait_timeout, || {
            match cluster::get::<Hpa>(cx, "hpa", &namespace, &name) {
                Ok(Some(hpa)) => match hpa.current_value() {
                    Some(value) if hpa.scaling_active() => Poll::Ready(value),
                    _ => Poll::Waiting(
                        hpa.blocking_conditions().first().map_or_else(|| "no metric read yet".into(), |c| c.explain()),
                    ),
                },
                Ok(None) => Poll::Waiting("not created yet".into()),
                Err(problem) => Poll::Failed(problem),
            }
        })
        .map_err(|p| {
            p.with_hint(format!(
                "`kubectl describe hpa {name} -n {namespace}` shows why; `interlok-k8s verify` walks the chain"
            ))
        })?;
        Ok(format!("{}; current average {current}", summary(cx)))
    }
}

fn summary(cx: &Context) -> String {
    let s = &cx.settings;
    format!(
        "Deployment {} scales {}–{} on {} at an average of {} per pod",
        s.deployment, s.min_replicas, s.max_replicas, s.metric, s.target_average
    )
}

/// The autoscaling API the server serves best, from its discovery.
fn served_api_version(cx: &Context) -> Result<String, Problem> {
    let output = cx.runner.run(&cx.kubectl().api_versions())?;
    let served: Vec<&str> = output.stdout.lines().map(str::trim).collect();
    ["autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v2beta1"]
        .into_iter()
        .find(|v| served.contains(v))
        .map(String::from)
        .ok_or_else(|| {
            Problem::new("the server serves no autoscaling/v2, v2beta2 or v2beta1 API")
                .with_hint("custom-metric autoscaling needs Kubernetes 1.8 or later")
        })
}

/// What differs between the live HPA and the settings.
fn differs(cx: &Context, hpa: &Hpa) -> Option<String> {
    let s = &cx.settings;
    let target = &hpa.spec.scale_target_ref;
    if target.name != s.deployment || target.api_version != "apps/v1" {
        return Some(format!("the autoscaler targets {} {}", target.api_version, target.name));
    }
    if hpa.spec.min_replicas != Some(s.min_replicas.into()) || hpa.spec.max_replicas != u64::from(s.max_replicas) {
        return Some(format!(
            "the autoscaler allows {}–{} replicas",
            hpa.spec.min_replicas.unwrap_or(1),
            hpa.spec.max_replicas
        ));
    }
    let metric = hpa.metric();
    let average = metric.target().unwrap_or_default();
    if metric.name() != s.metric || average != s.target_average.to_string() {
        return Some(format!("the autoscaler follows {} at {average}", metric.name()));
    }
    None
}
