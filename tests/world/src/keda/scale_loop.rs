//! KEDA's scale loop (pkg/scaling: checkScalers, RequestScale, handleResult): every polling interval it
//! runs the triggers' queries, sets Active (and Ready when a trigger fails), takes an idle target to
//! zero (or `idleReplicaCount`) after the cooldown and back to `minReplicaCount` (at least 1) when a
//! trigger is active, and mirrors the HPA's health in HPAActive. Between 1 and max the HPA scales.

use serde_json::{json, Value};

use super::scaler::{self, Prometheus};
use super::{
    event, initialized, set_condition, spec_i64, write_status, Conditions, Target, HPAS, READY_MESSAGE, SCALED_OBJECTS,
};
use crate::apiserver::ApiState;
use crate::kubelet::WorldKubelet;
use crate::store::{name_of, namespace_of, now_rfc3339};

/// checkScalers + RequestScale + handleResult: one poll of a ScaledObject's triggers.
pub(super) fn check_scalers(state: &ApiState, kubelet: &WorldKubelet, operator_ns: &str, so: &Value) {
    let Ok(scalers) = scaler::build(so) else { return }; // the scale loop logs and waits for a fixed spec
    let mut active_metrics = Vec::new();
    let mut any_error = false;
    for scaler in &scalers {
        match scaler.value(state, kubelet, operator_ns) {
            Ok(value) if scaler.active(value) => active_metrics.push(scaler.metric_name()),
            Ok(_) => {}
            Err(error) => {
                any_error = true;
                event(state, so, "Warning", "KEDAScalerFailed", &error);
            }
        }
    }
    let Ok(target) = Target::of(so, state) else { return };
    let ns = namespace_of(so);
    let target_name = so["spec"]["scaleTargetRef"]["name"].as_str().unwrap_or_default();
    // the real loop resolves the target's pod template first and gives up quietly when it cannot
    let Some(workload) = state.store.get(&target.key(), &ns, target_name) else { return };
    let mut conditions: Conditions = Vec::new();
    set_condition(&mut conditions, "Ready", "True", "ScaledObjectReady", READY_MESSAGE);
    let mut last_active = None;
    let names: Vec<String> = scalers.iter().map(Prometheus::metric_name).collect();
    let activity: serde_json::Map<String, Value> =
        names.iter().map(|n| (n.clone(), json!({"isActive": active_metrics.contains(n)}))).collect();
    let current = workload["spec"]["replicas"].as_i64().unwrap_or(1);
    let min = spec_i64(so, "minReplicaCount").unwrap_or(0);
    let idle = spec_i64(so, "idleReplicaCount");
    if !active_metrics.is_empty() {
        set_condition(
            &mut conditions,
            "Active",
            "True",
            "ScalerActive",
            "Scaling is performed because triggers are active",
        );
        if (idle.is_some() && current < min) || current == 0 {
            scale_target(state, so, &target, min.max(1)); // scaleFromZeroOrIdle
            last_active = Some(now_rfc3339());
        } else if any_error {
            set_condition(
                &mut conditions,
                "Ready",
                "Unknown",
                "PartialTriggerError",
                "Some triggers defined in ScaledObject are not working correctly",
            );
        } else {
            last_active = Some(now_rfc3339());
        }
    } else {
        set_condition(
            &mut conditions,
            "Active",
            "False",
            "ScalerNotActive",
            "Scaling is not performed because triggers are not active",
        );
        if any_error && so["spec"]["fallback"].is_null() {
            set_condition(
                &mut conditions,
                "Ready",
                "False",
                "TriggerError",
                "Triggers defined in ScaledObject are not working correctly",
            );
        } else if idle.is_some_and(|i| current > i) || (current > 0 && min == 0) {
            if cooled_down(so) {
                scale_target(state, so, &target, idle.unwrap_or(min)); // scaleToZeroOrIdle
            } else {
                set_condition(
                    &mut conditions,
                    "Active",
                    "False",
                    "ScalerCooldown",
                    "Scaler cooling down because triggers are not active",
                );
            }
        } else if idle.is_none() && current < min {
            scale_target(state, so, &target, min);
        }
    }
    if let Some((status, reason, message)) = hpa_health(state, so) {
        set_condition(&mut conditions, "HPAActive", &status, &reason, &message);
    }
    let Some(latest) = state.store.get(SCALED_OBJECTS, &ns, &name_of(so)) else { return };
    let mut status = if latest["status"].is_object() { latest["status"].clone() } else { json!({}) };
    let mut merged = initialized(&status["conditions"]);
    for condition in conditions {
        let (kind, s) = (condition["type"].as_str().unwrap_or(""), condition["status"].as_str().unwrap_or(""));
        set_condition(
            &mut merged,
            kind,
            s,
            condition["reason"].as_str().unwrap_or(""),
            condition["message"].as_str().unwrap_or(""),
        );
    }
    status["conditions"] = json!(merged);
    status["triggersActivity"] = Value::Object(activity);
    if let Some(at) = last_active {
        status["lastActiveTime"] = json!(at);
    }
    write_status(state, &latest, status);
}

/// Whether a ScaledObject that is not active may go to zero (or idle) now: `cooldownPeriod` (300 s)
/// after it was last active, or `initialCooldownPeriod` (0 s) after creation if it never was.
fn cooled_down(so: &Value) -> bool {
    let since = |field: &str| {
        so["status"][field].as_str().or(so["metadata"][field].as_str()).and_then(parse_rfc3339).map(|t| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |n| n.as_secs())
                .saturating_sub(t)
        })
    };
    match so["status"]["lastActiveTime"].as_str() {
        Some(_) => since("lastActiveTime").unwrap_or(0) > spec_i64(so, "cooldownPeriod").unwrap_or(300) as u64,
        None => since("creationTimestamp").unwrap_or(0) >= spec_i64(so, "initialCooldownPeriod").unwrap_or(0) as u64,
    }
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (`2026-01-01T00:00:00Z`).
fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let d: Vec<i64> = date.split('-').filter_map(|p| p.parse().ok()).collect();
    let t: Vec<u64> = time.split(':').filter_map(|p| p.split('.').next()?.parse().ok()).collect();
    let (&[y, m, day], &[hh, mm, ss]) = (d.as_slice(), t.as_slice()) else { return None };
    // days-from-civil (Howard Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as u64 * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The scale subresource update KEDA makes on its target.
pub(super) fn scale_target(state: &ApiState, so: &Value, target: &Target, replicas: i64) {
    let name = so["spec"]["scaleTargetRef"]["name"].as_str().unwrap_or_default();
    if let Some(workload) = state.store.get(&target.key(), &namespace_of(so), name) {
        if workload["spec"]["replicas"].as_i64() != Some(replicas) {
            let mut next = workload;
            next["spec"]["replicas"] = json!(replicas);
            let _ = state.store.update(&target.key(), next, None);
        }
    }
}

/// getHPAHealth: the HPA's ScalingActive condition, seen from the ScaledObject.
fn hpa_health(state: &ApiState, so: &Value) -> Option<(String, String, String)> {
    let name = so["status"]["hpaName"].as_str().filter(|n| !n.is_empty())?;
    let hpa = state.store.get(HPAS, &namespace_of(so), name)?;
    let conditions = hpa["status"]["conditions"].as_array()?;
    let active = conditions.iter().find(|c| c["type"] == "ScalingActive")?;
    let message = active["message"].as_str().unwrap_or("");
    Some(match (active["status"].as_str(), active["reason"].as_str()) {
        (Some("True"), _) => ("True".into(), "HPAActive".into(), "HPA is actively scaling".into()),
        (_, Some("ScalingDisabled")) => ("True".into(), "ScalingDisabled".into(), message.into()),
        (_, reason) => (
            "False".into(),
            reason.filter(|r| !r.is_empty()).unwrap_or("HPAMetricsUnavailable").into(),
            format!("HPA is not actively scaling: {message}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rfc3339;

    #[test]
    fn cooldown_counts_from_the_last_activity_or_creation() {
        assert_eq!(parse_rfc3339(&rfc3339(1_700_000_000)), Some(1_700_000_000));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let fresh = json!({"metadata": {"creationTimestamp": rfc3339(now)}, "spec": {}});
        assert!(cooled_down(&fresh), "initialCooldownPeriod is 0");
        let waiting = json!({"metadata": {"creationTimestamp": rfc3339(now)}, "spec": {"initialCooldownPeriod": 60}});
        assert!(!cooled_down(&waiting));
        let active = json!({"metadata": {}, "spec": {}, "status": {"lastActiveTime": rfc3339(now - 100)}});
        assert!(!cooled_down(&active), "cooldownPeriod is 300 s");
        let idle =
            json!({"metadata": {}, "spec": {"cooldownPeriod": 30}, "status": {"lastActiveTime": rfc3339(now - 100)}});
        assert!(cooled_down(&idle));
    }
}
