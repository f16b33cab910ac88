//! keda-admission-webhooks: the ScaledObject validation (apis/keda/v1alpha1/scaledobject_webhook.go in
//! kedacore/keda v2.20.2). A ScaledObject may not take a workload that another ScaledObject or an HPA it
//! does not own already scales; its replica bounds, name length and triggers must be valid. Other
//! KEDA kinds are let through (their checks are not emulated).

use serde_json::Value;

use super::{hpa_name, replica_bounds, validate_triggers, Target, NAME_LABEL, SCALED_OBJECTS};
use crate::admission::Verdict;
use crate::apiserver::ApiState;
use crate::store::{finalizers, name_of};

const SCALED_OBJECT_PATH: &str = "/validate-keda-sh-v1alpha1-scaledobject";
const MAX_LABEL_VALUE: usize = 63;

/// Answers an AdmissionReview request sent to `path`.
pub fn review(state: &ApiState, path: &str, request: &Value) -> Verdict {
    if path != SCALED_OBJECT_PATH || !matches!(request["operation"].as_str(), Some("CREATE" | "UPDATE")) {
        return Verdict::Allowed;
    }
    let so = &request["object"];
    let old = &request["oldObject"];
    let removing_finalizer =
        request["operation"] == "UPDATE" && finalizers(so).len() < finalizers(old).len() && so["spec"] == old["spec"];
    if removing_finalizer {
        return Verdict::Allowed;
    }
    let checks: [&dyn Fn() -> Result<(), String>; 5] = [
        &|| other_scaled_objects(state, so),
        &|| other_hpas(state, so),
        &|| replica_bounds(so),
        &|| name_lengths(so),
        &|| validate_triggers(so),
    ];
    match checks.iter().find_map(|check| check().err()) {
        Some(message) => Verdict::Denied(message),
        None => Verdict::Allowed,
    }
}

/// verifyScaledObjects: one ScaledObject per workload, one per HPA name.
fn other_scaled_objects(state: &ApiState, so: &Value) -> Result<(), String> {
    let ns = so["metadata"]["namespace"].as_str().unwrap_or_default();
    let target = Target::of(so, state)?;
    let wanted_name = &so["spec"]["scaleTargetRef"]["name"];
    for other in state.store.list(SCALED_OBJECTS, Some(ns)) {
        if name_of(&other) == name_of(so) {
            continue;
        }
        let other_target = Target::of(&other, state)?;
        if other_target.gvk() == target.gvk() && other["spec"]["scaleTargetRef"]["name"] == *wanted_name {
            return Err(format!(
                "the workload '{}' of type '{}' is already managed by the ScaledObject '{}'",
                wanted_name.as_str().unwrap_or_default(),
                target.gvk(),
                name_of(&other)
            ));
        }
        if hpa_name(&other) == hpa_name(so) {
            return Err(format!(
                "the HPA '{}' is already managed by the ScaledObject '{}'",
                hpa_name(&other),
                name_of(&other)
            ));
        }
    }
    Ok(())
}

/// verifyHpas: an HPA this ScaledObject does not own may not already scale its workload.
fn other_hpas(state: &ApiState, so: &Value) -> Result<(), String> {
    let ns = so["metadata"]["namespace"].as_str().unwrap_or_default();
    let target = Target::of(so, state)?;
    let workload = so["spec"]["scaleTargetRef"]["name"].as_str().unwrap_or_default();
    for hpa in state.store.list("autoscaling/horizontalpodautoscalers", Some(ns)) {
        if hpa["metadata"]["annotations"]["validations.keda.sh/hpa-ownership"] == "false" {
            continue;
        }
        let hpa_target = Target::from_ref(&hpa["spec"]["scaleTargetRef"], state)?;
        if hpa_target.gvk() != target.gvk() || hpa["spec"]["scaleTargetRef"]["name"] != workload {
            continue;
        }
        let owned = hpa["metadata"]["ownerReferences"].as_array().is_some_and(|owners| {
            owners.iter().any(|o| o["kind"] == "ScaledObject" && o["name"] == so["metadata"]["name"])
        });
        if owned {
            continue;
        }
        let transfer = so["metadata"]["annotations"]["scaledobject.keda.sh/transfer-hpa-ownership"] == "true";
        if !transfer {
            return Err(format!(
                "the workload '{workload}' of type '{}' is already managed by the hpa '{}'",
                target.gvk(),
                name_of(&hpa)
            ));
        }
        if so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"] != hpa["metadata"]["name"] {
            return Err(format!(
                "the existing hpa '{}' for workload '{workload}' of type '{}' must be specified by name in advanced settings to enable ownership transfer",
                name_of(&hpa),
                target.gvk()
            ));
        }
    }
    Ok(())
}

/// verifyName: both names end up as label values.
fn name_lengths(so: &Value) -> Result<(), String> {
    let name = name_of(so);
    if name.len() > MAX_LABEL_VALUE {
        return Err(format!(
            "scaledobject name {name:?} is {} characters long; must be no more than {MAX_LABEL_VALUE} characters because it is used as the {NAME_LABEL:?} label value",
            name.len()
        ));
    }
    let hpa = hpa_name(so);
    if hpa.len() > MAX_LABEL_VALUE {
        return Err(format!(
            "HPA name {hpa:?} derived from scaledobject is {} characters long; must be no more than {MAX_LABEL_VALUE} characters; set spec.advanced.horizontalPodAutoscalerConfig.name to a shorter name or shorten the scaledobject name",
            hpa.len()
        ));
    }
    Ok(())
}
