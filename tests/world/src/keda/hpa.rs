//! The HPA KEDA makes for a ScaledObject (controllers/keda/hpa.go): `keda-hpa-<name>` (or the name in
//! `advanced.horizontalPodAutoscalerConfig`), owned by the ScaledObject, one External metric per trigger,
//! KEDA's labels plus the ScaledObject's, its annotations, min 1 and max 100 unless set.

use serde_json::{json, Value};

use super::scaler::Prometheus;
use super::{hpa_name, spec_i64, Target, HPAS, VERSION};
use crate::apiserver::ApiState;
use crate::store::{name_of, namespace_of};

/// The HPA KEDA builds for a ScaledObject (newHPAForScaledObject).
pub(super) fn desired_hpa(so: &Value, target: &Target, scalers: &[Prometheus]) -> Value {
    let name = hpa_name(so);
    let mut labels = json!({"app.kubernetes.io/name": name.chars().take(63).collect::<String>(),
        "app.kubernetes.io/version": VERSION, "app.kubernetes.io/part-of": name_of(so),
        "app.kubernetes.io/managed-by": "keda-operator"});
    let excluded: Vec<&str> = so["metadata"]["annotations"]["scaledobject.keda.sh/hpa-excluded-labels"]
        .as_str()
        .map(|l| l.split(',').collect())
        .unwrap_or_default();
    if let Some(own) = so["metadata"]["labels"].as_object() {
        for (key, value) in own.iter().filter(|(k, _)| !excluded.contains(&k.as_str())) {
            labels[key] = value.clone();
        }
    }
    let min = spec_i64(so, "minReplicaCount").filter(|m| *m > 0).unwrap_or(1);
    let max = spec_i64(so, "maxReplicaCount").unwrap_or(100);
    let metrics: Vec<Value> = scalers.iter().map(|s| s.metric_spec(&name_of(so))).collect();
    let mut hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace_of(so), "labels": labels,
                     "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": name_of(so),
                                          "uid": so["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"minReplicas": min, "maxReplicas": max, "metrics": metrics,
                 "scaleTargetRef": {"name": so["spec"]["scaleTargetRef"]["name"], "kind": target.kind,
                                    "apiVersion": format!("{}/{}", target.group, target.version)}}});
    if let Some(annotations) = so["metadata"]["annotations"].as_object().filter(|a| !a.is_empty()) {
        hpa["metadata"]["annotations"] = json!(annotations);
    }
    let behavior = &so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"];
    if !behavior.is_null() {
        hpa["spec"]["behavior"] = behavior.clone();
    }
    hpa
}

/// ensureHPAForScaledObjectExists: create, rename or update the owned HPA; Ok(true) when created.
pub(super) fn ensure_hpa(
    state: &ApiState,
    so: &Value,
    target: &Target,
    scalers: &[Prometheus],
) -> Result<bool, String> {
    let ns = namespace_of(so);
    let wanted = desired_hpa(so, target, scalers);
    let recorded = so["status"]["hpaName"].as_str().filter(|n| !n.is_empty()).map(String::from);
    let looked_up = recorded.clone().unwrap_or_else(|| hpa_name(so));
    match state.store.get(HPAS, &ns, &looked_up) {
        None => {
            state.store.create(HPAS, wanted).map_err(|e| e.message)?;
            Ok(true)
        }
        Some(found) if looked_up != hpa_name(so) => {
            let _ = state.store.delete(HPAS, &ns, &name_of(&found)); // renamed in advanced settings
            state.store.create(HPAS, wanted).map_err(|e| e.message)?;
            Ok(true)
        }
        Some(found) => {
            // updateHPAIfNeeded: only when what KEDA wants is not already there, then wholesale
            let same_metrics =
                wanted["spec"]["metrics"].as_array().map(Vec::len) == found["spec"]["metrics"].as_array().map(Vec::len);
            let up_to_date = same_metrics
                && wanted["spec"]["behavior"] == found["spec"]["behavior"]
                && derivative(&wanted["spec"], &found["spec"])
                && derivative(&wanted["metadata"]["labels"], &found["metadata"]["labels"])
                && derivative(&wanted["metadata"]["annotations"], &found["metadata"]["annotations"]);
            if !up_to_date {
                let mut next = found.clone();
                next["spec"] = wanted["spec"].clone();
                next["metadata"]["labels"] = wanted["metadata"]["labels"].clone();
                match &wanted["metadata"]["annotations"] {
                    Value::Null => drop(next["metadata"].as_object_mut().and_then(|m| m.remove("annotations"))),
                    annotations => next["metadata"]["annotations"] = annotations.clone(),
                }
                state.store.update(HPAS, next, None).map_err(|e| e.message)?;
            }
            Ok(false)
        }
    }
}

/// apimachinery's DeepDerivative: everything set in `wanted` is equal in `found` (which may hold more).
fn derivative(wanted: &Value, found: &Value) -> bool {
    match (wanted, found) {
        (Value::Null, _) => true,
        (Value::Object(w), Value::Object(f)) => w.iter().all(|(k, v)| derivative(v, f.get(k).unwrap_or(&Value::Null))),
        (Value::Array(w), Value::Array(f)) => w.len() <= f.len() && w.iter().zip(f).all(|(a, b)| derivative(a, b)),
        _ => wanted == found,
    }
}

/// What KEDA watches of its HPA: spec, labels and annotations (status changes do not count).
pub(super) fn hpa_fingerprint(state: &ApiState, so: &Value) -> Value {
    let name = so["status"]["hpaName"].as_str().filter(|n| !n.is_empty()).map_or_else(|| hpa_name(so), String::from);
    match state.store.get(HPAS, &namespace_of(so), &name) {
        Some(hpa) => {
            json!([hpa["metadata"]["uid"], hpa["spec"], hpa["metadata"]["labels"], hpa["metadata"]["annotations"]])
        }
        None => Value::Null,
    }
}
