//! KEDA 2.20, emulated from its source (kedacore/keda v2.20.2) so that a product driving it meets what a
//! real cluster shows. The pods decide what runs: while a `ghcr.io/kedacore/keda` pod is ready the
//! operator reconciles ScaledObjects (finalizer, name label, `keda-hpa-<name>` owned by the ScaledObject,
//! the Ready/Active/Fallback/Paused/HPAActive conditions) and polls each trigger's query against the real
//! Prometheus (scaling between 0 and 1 replicas itself, as KEDA does when `minReplicaCount` is 0);
//! `keda-metrics-apiserver` pods answer `external.metrics.k8s.io` (see `metrics`); `keda-admission-webhooks`
//! pods answer the ValidatingWebhookConfiguration (see `webhook`).
//! Not emulated: scalers other than `prometheus`, fallback, pausing, scaling modifiers, ScaledJobs.

mod hpa;
pub mod metrics;
mod scale_loop;
pub mod scaler;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::apiserver::ApiState;
use crate::kubelet::WorldKubelet;
use crate::store::{finalizers, name_of, namespace_of, now_rfc3339};
use hpa::{ensure_hpa, hpa_fingerprint};
use scale_loop::{check_scalers, scale_target};
use scaler::Prometheus;

pub const SCALED_OBJECTS: &str = "keda.sh/scaledobjects";
pub const NAME_LABEL: &str = "scaledobject.keda.sh/name";
const HPAS: &str = "autoscaling/horizontalpodautoscalers";
const FINALIZER: &str = "finalizer.keda.sh";
const VERSION: &str = "2.20.2";
const READY_MESSAGE: &str = "ScaledObject is defined correctly and is ready for scaling";
/// The images of KEDA's three components (the chart's repositories, any registry and tag).
pub const OPERATOR_IMAGE: &str = "kedacore/keda";
pub const METRICS_IMAGE: &str = "kedacore/keda-metrics-apiserver";
pub const WEBHOOKS_IMAGE: &str = "kedacore/keda-admission-webhooks";

/// Whether one of the pod's containers runs this image repository.
pub fn runs(pod: &Value, repository: &str) -> bool {
    pod["spec"]["containers"].as_array().is_some_and(|containers| {
        containers.iter().filter_map(|c| c["image"].as_str()).any(|image| {
            let without_digest = image.split('@').next().unwrap_or(image);
            let name = match without_digest.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => name,
                _ => without_digest,
            };
            name == repository || name.ends_with(&format!("/{repository}"))
        })
    })
}

/// A Running, Ready pod of a KEDA component, anywhere in the cluster.
pub fn component_pod(state: &ApiState, repository: &str) -> Option<Value> {
    state.store.list("/pods", None).into_iter().find(|p| {
        runs(p, repository) && p["status"]["phase"] == "Running" && p["status"]["conditions"][0]["status"] == "True"
    })
}

/// What the operator's watches see of a ScaledObject: a change here (or a Ready condition turning True)
/// is what makes controller-runtime reconcile it again.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    uid: String,
    generation: i64,
    /// The owned HPA's UID, spec, labels and annotations (its status does not count).
    hpa: Value,
    ready: bool,
}

impl Observed {
    fn of(state: &ApiState, so: &Value) -> Observed {
        let conditions = so["status"]["conditions"].as_array().map_or(&[][..], |v| v.as_slice());
        Observed {
            uid: so["metadata"]["uid"].as_str().unwrap_or_default().to_string(),
            generation: so["metadata"]["generation"].as_i64().unwrap_or(1),
            hpa: hpa_fingerprint(state, so),
            ready: condition_status(conditions, "Ready") == "True",
        }
    }
}

/// What the operator remembers of a ScaledObject between passes (controller-runtime's queue and the
/// scale handler's loop).
struct Tracked {
    seen: Observed,
    /// The generation whose scale loop runs (requestScaleLoop), if one does.
    loop_generation: Option<i64>,
    /// After a failed reconcile, controller-runtime retries with exponential backoff.
    retry: Option<(Instant, Duration)>,
    next_poll: Instant,
}

impl Tracked {
    fn wants_reconcile(&self, now: &Observed, at: Instant) -> bool {
        self.seen.uid != now.uid
            || self.seen.generation != now.generation
            || self.seen.hpa != now.hpa
            || (now.ready && !self.seen.ready)
            || self.retry.is_some_and(|(when, _)| at >= when)
    }

    fn reconciled(&mut self, after: Observed, outcome: Result<bool, ()>, at: Instant) {
        if after.uid != self.seen.uid {
            self.loop_generation = None;
        }
        match outcome {
            Ok(created_hpa) => {
                self.retry = None;
                if created_hpa || self.loop_generation != Some(after.generation) {
                    self.loop_generation = Some(after.generation);
                    self.next_poll = at; // a new scale loop checks at once
                }
            }
            Err(()) => {
                let backoff =
                    self.retry.map_or(Duration::from_millis(5), |(_, b)| (b * 2).min(Duration::from_secs(1000)));
                self.retry = Some((at + backoff, backoff));
            }
        }
        self.seen = after;
    }

    /// When this ScaledObject next needs the operator.
    fn wake(&self) -> Option<Instant> {
        let poll = self.loop_generation.map(|_| self.next_poll);
        [poll, self.retry.map(|(at, _)| at)].into_iter().flatten().min()
    }
}

#[derive(Default)]
pub struct KedaEmulation {
    /// For tests: poll every ScaledObject this often instead of its `pollingInterval`.
    pub polling: Mutex<Option<Duration>>,
    tracked: Mutex<HashMap<(String, String), Tracked>>,
    /// The operator pod whose memory `tracked` is (a new pod starts from scratch).
    operator_uid: Mutex<String>,
}

type Conditions = Vec<Value>;

fn set_condition(conditions: &mut Conditions, kind: &str, status: &str, reason: &str, message: &str) {
    let condition = json!({"type": kind, "status": status, "reason": reason, "message": message});
    match conditions.iter_mut().find(|c| c["type"] == kind) {
        Some(existing) => *existing = condition,
        None => conditions.push(condition),
    }
}

fn condition_status(conditions: &[Value], kind: &str) -> String {
    conditions.iter().find(|c| c["type"] == kind).and_then(|c| c["status"].as_str()).unwrap_or("").to_string()
}

/// GetInitializedConditions: Ready, Active and Fallback Unknown, Paused False.
fn initialized(conditions: &Value) -> Conditions {
    let existing = conditions.as_array().cloned().unwrap_or_default();
    if ["Ready", "Active", "Fallback", "Paused"].iter().all(|k| existing.iter().any(|c| c["type"] == *k)) {
        return existing;
    }
    vec![
        json!({"type": "Ready", "status": "Unknown"}),
        json!({"type": "Active", "status": "Unknown"}),
        json!({"type": "Fallback", "status": "Unknown"}),
        json!({"type": "Paused", "status": "False"}),
    ]
}

fn spec_i64(so: &Value, field: &str) -> Option<i64> {
    so["spec"][field].as_i64()
}

fn hpa_name(so: &Value) -> String {
    match so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"].as_str() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => format!("keda-hpa-{}", name_of(so)),
    }
}

/// The target's group, version and kind as KEDA names them (`apps/v1.Deployment`) and its resource.
pub struct Target {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub resource: String,
}

impl Target {
    pub fn of(so: &Value, state: &ApiState) -> Result<Target, String> {
        Target::from_ref(&so["spec"]["scaleTargetRef"], state)
    }

    /// ParseGVKR: a scale target reference (apps/v1 Deployment when not given) resolved to its resource.
    pub fn from_ref(reference: &Value, state: &ApiState) -> Result<Target, String> {
        let api_version = reference["apiVersion"].as_str().filter(|v| !v.is_empty()).unwrap_or("apps/v1");
        let kind = reference["kind"].as_str().filter(|k| !k.is_empty()).unwrap_or("Deployment");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = crate::resources::RESOURCES
            .iter()
            .chain(crate::crd::resources(state))
            .find(|r| r.group == group && r.kind == kind)
            .ok_or_else(|| format!("no matches for kind \"{kind}\" in version \"{api_version}\""))?;
        Ok(Target { group: group.into(), version: version.into(), kind: kind.into(), resource: resource.plural.into() })
    }

    pub fn gvk(&self) -> String {
        format!("{}/{}.{}", self.group, self.version, self.kind)
    }

    fn key(&self) -> String {
        format!("{}/{}", self.group, self.resource)
    }
}

impl KedaEmulation {
    /// One pass of the operator, if its pod runs; returns when it wants to look again.
    pub fn reconcile(&self, state: &ApiState, kubelet: &WorldKubelet) -> Option<Instant> {
        let operator = component_pod(state, OPERATOR_IMAGE)?;
        {
            let mut uid = self.operator_uid.lock().expect("operator");
            let current = operator["metadata"]["uid"].as_str().unwrap_or_default();
            if *uid != current {
                *uid = current.to_string();
                self.tracked.lock().expect("tracked").clear();
            }
        }
        let operator_ns = namespace_of(&operator);
        ensure_certificates(state, &operator, &operator_ns);
        crate::crd::find(state, "keda.sh", "scaledobjects")?;
        let mut wake: Option<Instant> = None;
        let objects = state.store.list(SCALED_OBJECTS, None);
        for so in &objects {
            let next = if so["metadata"]["deletionTimestamp"].is_null() {
                self.reconcile_one(state, kubelet, &operator_ns, so)
            } else {
                self.finalize(state, so);
                None
            };
            if let Some(next) = next {
                wake = Some(wake.map_or(next, |w| w.min(next)));
            }
        }
        let live: Vec<(String, String)> = objects.iter().map(|o| (namespace_of(o), name_of(o))).collect();
        self.tracked.lock().expect("tracked").retain(|key, _| live.contains(key));
        wake
    }

    /// finalizeScaledObject: stop the loop, restore the original replica count if asked, let the
    /// finalizer go (the HPA then goes with its owner, through the garbage collector).
    fn finalize(&self, state: &ApiState, so: &Value) {
        let key = (namespace_of(so), name_of(so));
        self.tracked.lock().expect("tracked").remove(&key);
        if !finalizers(so).iter().any(|f| f == FINALIZER) {
            return;
        }
        if so["spec"]["advanced"]["restoreToOriginalReplicaCount"] == true {
            if let (Ok(target), Some(original)) = (Target::of(so, state), so["status"]["originalReplicaCount"].as_i64())
            {
                scale_target(state, so, &target, original);
            }
        }
        let mut next = so.clone();
        let kept: Vec<String> = finalizers(so).into_iter().filter(|f| f != FINALIZER).collect();
        next["metadata"]["finalizers"] = json!(kept);
        let _ = state.store.update(SCALED_OBJECTS, next, None);
    }

    fn reconcile_one(
        &self,
        state: &ApiState,
        kubelet: &WorldKubelet,
        operator_ns: &str,
        so: &Value,
    ) -> Option<Instant> {
        let key = (namespace_of(so), name_of(so));
        let now = Instant::now();
        let observed = Observed::of(state, so);
        let due = self.tracked.lock().expect("tracked").get(&key).is_none_or(|t| t.wants_reconcile(&observed, now));
        if due {
            let outcome = self.reconcile_scaled_object(state, so);
            let after =
                state.store.get(SCALED_OBJECTS, &key.0, &key.1).map_or(observed.clone(), |l| Observed::of(state, &l));
            let mut tracked = self.tracked.lock().expect("tracked");
            let entry = tracked.entry(key.clone()).or_insert_with(|| Tracked {
                seen: observed.clone(),
                loop_generation: None,
                retry: None,
                next_poll: now,
            });
            entry.reconciled(after, outcome, now);
        } else if let Some(t) = self.tracked.lock().expect("tracked").get_mut(&key) {
            t.seen.ready = observed.ready;
        }
        {
            let mut tracked = self.tracked.lock().expect("tracked");
            let t = tracked.get_mut(&key)?;
            if t.loop_generation.is_none() || now < t.next_poll {
                return t.wake();
            }
            let interval = self.polling.lock().expect("polling").unwrap_or_else(|| {
                Duration::from_secs(spec_i64(so, "pollingInterval").filter(|s| *s > 0).unwrap_or(30) as u64)
            });
            t.next_poll = now + interval;
        }
        if let Some(current) = state.store.get(SCALED_OBJECTS, &key.0, &key.1) {
            check_scalers(state, kubelet, operator_ns, &current);
        }
        self.tracked.lock().expect("tracked").get(&key).and_then(Tracked::wake)
    }

    /// The ScaledObject controller's Reconcile: Ok(true) when it created the HPA, Err after writing the
    /// failure into the conditions.
    fn reconcile_scaled_object(&self, state: &ApiState, so: &Value) -> Result<bool, ()> {
        let Some(so) = ensure_metadata(state, so) else { return Err(()) };
        let mut status = if so["status"].is_object() { so["status"].clone() } else { json!({}) };
        let mut conditions = initialized(&status["conditions"]);
        let outcome = check(state, &so, &mut status);
        match &outcome {
            Ok(_) => set_condition(&mut conditions, "Ready", "True", "ScaledObjectReady", READY_MESSAGE),
            Err(message) => {
                set_condition(&mut conditions, "Ready", "False", "ScaledObjectCheckFailed", message);
                set_condition(&mut conditions, "Active", "Unknown", "UnknownState", "ScaledObject check failed");
                event(state, &so, "Warning", "ScaledObjectCheckFailed", message);
            }
        }
        if so["spec"]["fallback"].is_null() {
            set_condition(
                &mut conditions,
                "Fallback",
                "False",
                "NoFallbackFound",
                "No fallbacks are active on this scaled object",
            );
        }
        status["conditions"] = json!(conditions);
        write_status(state, &so, status);
        outcome.map_err(|_| ())
    }
}

/// The operator's certificate rotation (pkg/certificates): it creates the Secret its components mount
/// (`--cert-secret-name`, kept when KEDA is uninstalled: the chart does not own it) and writes the CA
/// into the webhook configuration (`--enable-webhook-patching`).
fn ensure_certificates(state: &ApiState, operator: &Value, namespace: &str) {
    let args: Vec<String> = operator["spec"]["containers"][0]["args"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let flag = |name: &str| args.iter().find_map(|a| a.strip_prefix(&format!("--{name}=")).map(String::from));
    let secret_name = flag("cert-secret-name").unwrap_or_else(|| "kedaorg-certs".into());
    let ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCnRlc3Qtd29ybGQgS0VEQSBDQQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";
    if state.store.get("/secrets", namespace, &secret_name).is_none() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_name, "namespace": namespace,
                         "labels": {"app": "keda-operator", "app.kubernetes.io/name": "keda-operator",
                                    "app.kubernetes.io/component": "keda-operator", "app.kubernetes.io/part-of": "keda"}},
            "data": {"ca.crt": ca, "ca.key": ca, "tls.crt": ca, "tls.key": ca}});
        let _ = state.store.create("/secrets", secret);
    }
    if flag("enable-webhook-patching").as_deref() == Some("false") {
        return;
    }
    let configurations = "admissionregistration.k8s.io/validatingwebhookconfigurations";
    if let Some(mut configuration) = state.store.get(configurations, "", "keda-admission") {
        let before = configuration.clone();
        for webhook in configuration["webhooks"].as_array_mut().into_iter().flatten() {
            webhook["clientConfig"]["caBundle"] = json!(ca);
        }
        if configuration != before {
            let _ = state.store.update(configurations, configuration, None);
        }
    }
}

/// ensureFinalizer and ensureScaledObjectLabel (one update).
fn ensure_metadata(state: &ApiState, so: &Value) -> Option<Value> {
    let name = name_of(so);
    let has_finalizer = finalizers(so).iter().any(|f| f == FINALIZER);
    if has_finalizer && so["metadata"]["labels"][NAME_LABEL] == name.as_str() {
        return Some(so.clone());
    }
    let mut next = so.clone();
    if !has_finalizer {
        let mut kept = finalizers(so);
        kept.push(FINALIZER.into());
        next["metadata"]["finalizers"] = json!(kept);
    }
    if !next["metadata"]["labels"].is_object() {
        next["metadata"]["labels"] = json!({});
    }
    next["metadata"]["labels"][NAME_LABEL] = json!(name);
    state.store.update(SCALED_OBJECTS, next, None).ok()
}

/// reconcileScaledObject's checks, in its order; fills the status fields it sets. Ok(true) when the HPA
/// was created; Err carries the Ready condition's message (`<what failed>: <error>`).
fn check(state: &ApiState, so: &Value, status: &mut Value) -> Result<bool, String> {
    const TARGET: &str = "ScaledObject doesn't have correct scaleTargetRef specification";
    let target_name = so["spec"]["scaleTargetRef"]["name"].as_str().unwrap_or_default();
    if target_name.is_empty() {
        return Err(format!("{TARGET}: ScaledObject.spec.scaleTargetRef.name is missing"));
    }
    let target = Target::of(so, state).map_err(|e| format!("{TARGET}: {e}"))?;
    let ns = namespace_of(so);
    let workload = state
        .store
        .get(&target.key(), &ns, target_name)
        .ok_or_else(|| format!("{TARGET}: {}.{} \"{target_name}\" not found", target.resource, target.group))?;
    if status["scaleTargetKind"] != target.gvk().as_str() {
        status["scaleTargetKind"] = json!(target.gvk());
        status["scaleTargetGVKR"] =
            json!({"group": target.group, "version": target.version, "kind": target.kind, "resource": target.resource});
    }
    if status["originalReplicaCount"].is_null() {
        status["originalReplicaCount"] = json!(workload["spec"]["replicas"].as_i64().unwrap_or(1));
    }
    replica_bounds(so)
        .map_err(|e| format!("ScaledObject doesn't have correct Idle/Min/Max Replica Counts specification: {e}"))?;
    validate_triggers(so).map_err(|e| format!("ScaledObject doesn't have correct triggers specification: {e}"))?;
    let triggers = so["spec"]["triggers"].as_array().cloned().unwrap_or_default();
    let mut types: Vec<String> = Vec::new();
    for trigger in &triggers {
        let kind = trigger["type"].as_str().unwrap_or_default().to_string();
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    status["triggersTypes"] = json!(types.join(","));
    status["authenticationsTypes"] = json!("");
    const HPA: &str = "failed to ensure HPA is correctly created for ScaledObject";
    let scalers = scaler::build(so).map_err(|e| format!("{HPA}: {e}"))?;
    let names: Vec<String> = scalers.iter().map(Prometheus::metric_name).collect();
    status["externalMetricNames"] = json!(names);
    let created = ensure_hpa(state, so, &target, &scalers).map_err(|e| format!("{HPA}: {e}"))?;
    status["hpaName"] = json!(hpa_name(so));
    Ok(created)
}

/// CheckReplicaCountBoundsAreValid (a minReplicaCount of 0 counts as the HPA's 1 here, as in KEDA).
pub fn replica_bounds(so: &Value) -> Result<(), String> {
    let min = spec_i64(so, "minReplicaCount").map_or(0, |m| m.max(1));
    let max = spec_i64(so, "maxReplicaCount").unwrap_or(100);
    if min > max {
        return Err(format!("MinReplicaCount={min} must be less than MaxReplicaCount={max}"));
    }
    if let Some(idle) = spec_i64(so, "idleReplicaCount") {
        if idle >= min {
            return Err(format!("IdleReplicaCount={idle} must be less than MinReplicaCount={min}"));
        }
    }
    Ok(())
}

/// ValidateTriggers.
pub fn validate_triggers(so: &Value) -> Result<(), String> {
    let triggers = so["spec"]["triggers"].as_array().cloned().unwrap_or_default();
    if triggers.is_empty() {
        return Err("no triggers defined in the ScaledObject/ScaledJob".into());
    }
    let mut names = Vec::new();
    for trigger in &triggers {
        let kind = trigger["type"].as_str().unwrap_or_default();
        if trigger["useCachedMetrics"] == true && matches!(kind, "cpu" | "memory" | "cron") {
            return Err(format!("property \"useCachedMetrics\" is not supported for {kind:?} scaler"));
        }
        if let Some(name) = trigger["name"].as_str().filter(|n| !n.is_empty()) {
            if names.contains(&name) {
                return Err(format!("triggerName {name:?} is defined multiple times in the ScaledObject/ScaledJob, but it must be unique"));
            }
            names.push(name);
        }
    }
    Ok(())
}

fn write_status(state: &ApiState, so: &Value, status: Value) {
    let Some(mut latest) = state.store.get(SCALED_OBJECTS, &namespace_of(so), &name_of(so)) else { return };
    if latest["status"] == status {
        return;
    }
    latest["status"] = status;
    let _ = state.store.update(SCALED_OBJECTS, latest, None);
}

/// An Event about a ScaledObject, aggregated as client-go's recorder does (same reason and message:
/// the count goes up).
fn event(state: &ApiState, so: &Value, kind: &str, reason: &str, message: &str) {
    let ns = namespace_of(so);
    let uid = so["metadata"]["uid"].clone();
    let existing = state
        .store
        .list("/events", Some(&ns))
        .into_iter()
        .find(|e| e["involvedObject"]["uid"] == uid && e["reason"] == reason && e["message"] == message);
    let now = now_rfc3339();
    match existing {
        Some(mut event) => {
            event["count"] = json!(event["count"].as_i64().unwrap_or(1) + 1);
            event["lastTimestamp"] = json!(now);
            let _ = state.store.update("/events", event, None);
        }
        None => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let event = json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("{}.{nanos:x}", name_of(so)), "namespace": ns},
                "involvedObject": {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": name_of(so),
                                   "namespace": namespace_of(so), "uid": uid},
                "reason": reason, "message": message, "type": kind, "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": "keda-operator"}, "reportingComponent": "keda-operator"});
            let _ = state.store.create("/events", event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Verdict;

    /// A cluster with KEDA's ScaledObject CRD, an Interlok Deployment, KEDA's metrics server and (optionally)
    /// its operator running.
    fn cluster(operator: bool) -> std::sync::Arc<ApiState> {
        let state = ApiState::new("v1.33.1");
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "scaledobjects.keda.sh"},
            "spec": {"group": "keda.sh", "scope": "Namespaced", "names": {"kind": "ScaledObject", "plural": "scaledobjects", "shortNames": ["so"]},
                     "versions": [{"name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}}}]}});
        crate::crd::on_create(&mut crd).expect("crd");
        state.store.create(crate::crd::CRDS, crd).expect("crd");
        state
            .store
            .create(
                "apps/deployments",
                json!({"metadata": {"name": "interlok", "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "interlok"}}}}),
            )
            .expect("deployment");
        let mut images = vec!["ghcr.io/kedacore/keda-metrics-apiserver:2.20.2"];
        if operator {
            images.push("ghcr.io/kedacore/keda:2.20.2");
        }
        for (i, image) in images.into_iter().enumerate() {
            let pod = json!({"metadata": {"name": format!("keda-{i}"), "namespace": "keda"},
                "spec": {"containers": [{"name": "keda", "image": image}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
            state.store.create("/pods", pod).expect("pod");
        }
        state
    }

    fn scaled_object(state: &ApiState, name: &str, target: &str) -> Value {
        let so = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": "default", "labels": {"team": "a"}, "annotations": {"note": "x"}},
            "spec": {"scaleTargetRef": {"name": target}, "minReplicaCount": 1,
                     "triggers": [{"type": "prometheus", "metadata": {
                         "serverAddress": "http://prometheus-server.monitoring.svc.cluster.local:80",
                         "query": "sum(MessageMetrics)", "threshold": "100"}}]}});
        state.store.create(SCALED_OBJECTS, so).expect("so")
    }

    fn get(state: &ApiState, name: &str) -> Value {
        state.store.get(SCALED_OBJECTS, "default", name).unwrap_or(Value::Null)
    }

    fn condition(so: &Value, kind: &str) -> Value {
        so["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn the_operator_owns_an_hpa_and_reports_an_unreachable_prometheus() {
        let state = cluster(true);
        let keda = KedaEmulation::default();
        scaled_object(&state, "interlok", "interlok");
        let wake = keda.reconcile(&state, &WorldKubelet::default());
        assert!(wake.is_some(), "the scale loop wants to poll again");
        let certificates = state.store.get("/secrets", "keda", "kedaorg-certs").expect("the operator's Secret");
        assert_eq!(certificates["metadata"]["labels"]["app.kubernetes.io/part-of"], "keda");
        let so = get(&state, "interlok");
        assert_eq!(so["metadata"]["finalizers"], json!(["finalizer.keda.sh"]));
        assert_eq!(so["metadata"]["labels"][NAME_LABEL], "interlok");
        assert_eq!(so["status"]["scaleTargetGVKR"]["resource"], "deployments");
        assert_eq!(so["status"]["originalReplicaCount"], 1);
        assert_eq!(so["status"]["triggersTypes"], "prometheus");
        assert_eq!(condition(&so, "Ready")["reason"], "TriggerError", "{so}");
        assert_eq!(condition(&so, "Active")["reason"], "ScalerNotActive");
        assert_eq!(condition(&so, "Fallback")["reason"], "NoFallbackFound");
        assert_eq!(condition(&so, "Paused")["status"], "False");
        assert_eq!(so["status"]["triggersActivity"]["s0-prometheus"]["isActive"], false);
        let hpa = state.store.get(HPAS, "default", "keda-hpa-interlok").expect("hpa");
        assert_eq!(hpa["metadata"]["labels"]["app.kubernetes.io/managed-by"], "keda-operator");
        assert_eq!(hpa["metadata"]["labels"]["app.kubernetes.io/part-of"], "interlok");
        assert_eq!(hpa["metadata"]["labels"]["team"], "a", "the ScaledObject's labels are copied");
        assert_eq!(hpa["metadata"]["annotations"]["note"], "x", "and its annotations");
        assert_eq!(
            hpa["spec"]["scaleTargetRef"],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "interlok"})
        );
        assert_eq!((hpa["spec"]["minReplicas"].clone(), hpa["spec"]["maxReplicas"].clone()), (json!(1), json!(100)));
        let mut edited = hpa.clone();
        edited["metadata"]["labels"]["extra"] = json!("kept");
        edited["spec"]["maxReplicas"] = json!(7);
        state.store.update(HPAS, edited, None).expect("edit");
        keda.reconcile(&state, &WorldKubelet::default());
        let hpa = state.store.get(HPAS, "default", "keda-hpa-interlok").expect("hpa");
        assert_eq!(hpa["spec"]["maxReplicas"], 100, "KEDA puts its spec back");
        assert!(hpa["metadata"]["labels"]["extra"].is_null(), "replacing the whole HPA");
        let events = state.store.list("/events", Some("default"));
        let failed = events.iter().find(|e| e["reason"] == "KEDAScalerFailed").expect("event");
        assert!(
            failed["message"].as_str().unwrap_or("").starts_with(
                "Get \"http://prometheus-server.monitoring.svc.cluster.local:80/api/v1/query?query=sum%28MessageMetrics%29&time="
            ),
            "{failed}"
        );
        let rv = state.store.resource_version();
        keda.reconcile(&state, &WorldKubelet::default());
        assert_eq!(state.store.resource_version(), rv, "nothing to do before the next poll");
    }

    #[test]
    fn a_missing_target_fails_the_check_in_kedas_words() {
        let state = cluster(true);
        scaled_object(&state, "other", "nope");
        KedaEmulation::default().reconcile(&state, &WorldKubelet::default());
        let so = get(&state, "other");
        let ready = condition(&so, "Ready");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "ScaledObjectCheckFailed");
        assert_eq!(
            ready["message"],
            "ScaledObject doesn't have correct scaleTargetRef specification: deployments.apps \"nope\" not found"
        );
        assert_eq!(condition(&so, "Active")["reason"], "UnknownState");
        assert!(state.store.list(HPAS, None).is_empty());
    }

    #[test]
    fn nothing_happens_without_the_operator_and_deletion_waits_for_it() {
        let state = cluster(false);
        let keda = KedaEmulation::default();
        scaled_object(&state, "interlok", "interlok");
        assert!(keda.reconcile(&state, &WorldKubelet::default()).is_none());
        assert!(get(&state, "interlok")["metadata"]["finalizers"].is_null());
        assert!(state.store.list(HPAS, None).is_empty());

        let state = cluster(true);
        scaled_object(&state, "interlok", "interlok");
        keda.reconcile(&state, &WorldKubelet::default());
        state.store.request_delete(SCALED_OBJECTS, "default", "interlok").expect("delete");
        assert!(get(&state, "interlok")["metadata"]["deletionTimestamp"].is_string(), "held by the finalizer");
        keda.reconcile(&state, &WorldKubelet::default());
        assert!(get(&state, "interlok").is_null(), "the operator let it go");
    }

    fn review(state: &ApiState, operation: &str, so: Value, old: Value) -> Verdict {
        let request = json!({"operation": operation, "object": so, "oldObject": old});
        webhook::review(state, "/validate-keda-sh-v1alpha1-scaledobject", &request)
    }

    fn denied(verdict: Verdict) -> String {
        match verdict {
            Verdict::Denied(message) => message,
            Verdict::Allowed => "allowed".into(),
            Verdict::Unreachable => "unreachable".into(),
        }
    }

    #[test]
    fn the_webhook_keeps_one_autoscaler_per_workload() {
        let state = cluster(true);
        let so = json!({"metadata": {"name": "interlok", "namespace": "default"},
            "spec": {"scaleTargetRef": {"name": "interlok"}, "triggers": [{"type": "prometheus", "metadata": {}}]}});
        assert!(matches!(review(&state, "CREATE", so.clone(), Value::Null), Verdict::Allowed));
        state
            .store
            .create(
                HPAS,
                json!({"metadata": {"name": "interlok", "namespace": "default"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "interlok"}}}),
            )
            .expect("hpa");
        assert_eq!(
            denied(review(&state, "CREATE", so.clone(), Value::Null)),
            "the workload 'interlok' of type 'apps/v1.Deployment' is already managed by the hpa 'interlok'"
        );
        state.store.delete(HPAS, "default", "interlok").expect("delete");
        scaled_object(&state, "first", "interlok");
        assert_eq!(
            denied(review(&state, "CREATE", so.clone(), Value::Null)),
            "the workload 'interlok' of type 'apps/v1.Deployment' is already managed by the ScaledObject 'first'"
        );
        let mut bounds = so.clone();
        bounds["metadata"]["name"] = json!("first");
        bounds["spec"]["minReplicaCount"] = json!(3);
        bounds["spec"]["maxReplicaCount"] = json!(2);
        assert_eq!(
            denied(review(&state, "UPDATE", bounds, Value::Null)),
            "MinReplicaCount=3 must be less than MaxReplicaCount=2"
        );
        let mut leaving = get(&state, "first");
        leaving["metadata"]["finalizers"] = json!([]);
        let mut old = leaving.clone();
        old["metadata"]["finalizers"] = json!(["finalizer.keda.sh"]);
        old["spec"]["scaleTargetRef"]["name"] = leaving["spec"]["scaleTargetRef"]["name"].clone();
        assert!(
            matches!(review(&state, "UPDATE", leaving, old), Verdict::Allowed),
            "removing the finalizer is never refused"
        );
    }

    #[test]
    fn the_metrics_server_fails_as_keda_does() {
        let state = cluster(false);
        let kubelet = WorldKubelet::default();
        let request = |selector: &str| crate::http::Request {
            method: "GET".into(),
            path: "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-prometheus".into(),
            query: [("labelSelector".to_string(), selector.to_string())].into_iter().collect(),
            headers: Default::default(),
            body: Vec::new(),
        };
        let message = |response: crate::http::Response| {
            let body: Value = serde_json::from_slice(&response.body).expect("json");
            (response.status, body["message"].as_str().unwrap_or_default().to_string())
        };
        let no_operator = message(metrics::serve(&state, &kubelet, &request("scaledobject.keda.sh/name=interlok")));
        assert_eq!(no_operator.1, "timeout while waiting to establish gRPC connection to KEDA Metrics Service server");
        let state = cluster(true);
        assert_eq!(
            message(metrics::serve(&state, &kubelet, &request(""))),
            (500, "scaledObject name is not specified".to_string())
        );
        assert_eq!(
            message(metrics::serve(&state, &kubelet, &request("scaledobject.keda.sh/name=missing"))).1,
            "rpc error: code = Unknown desc = error when getting metric values error getting scalers scaledobjects.keda.sh \"missing\" not found"
        );
        scaled_object(&state, "interlok", "interlok");
        assert_eq!(
            message(metrics::serve(&state, &kubelet, &request("scaledobject.keda.sh/name=interlok"))).1,
            "rpc error: code = Unknown desc = error when getting metric values metric:s0-prometheus encountered error"
        );
    }

    #[test]
    fn images_name_the_component_whatever_the_registry_and_tag() {
        let pod = |image: &str| json!({"spec": {"containers": [{"image": image}]}});
        assert!(runs(&pod("ghcr.io/kedacore/keda:2.20.2"), OPERATOR_IMAGE));
        assert!(runs(&pod("localhost:5000/kedacore/keda@sha256:abc"), OPERATOR_IMAGE));
        assert!(!runs(&pod("ghcr.io/kedacore/keda-metrics-apiserver:2.20.2"), OPERATOR_IMAGE));
        assert!(runs(&pod("kedacore/keda-admission-webhooks"), WEBHOOKS_IMAGE));
    }
}
