//! The controllers that matter to us. Deployments get pods after a configurable latency, in the state the
//! node (`Kubelet::admit`) finds them — Ready, ImagePullBackOff, ContainerCreating or CrashLoopBackOff, with
//! the kubelet's events — or in a state a test forces on an image; pods of deleted Deployments go away; the HPA controller
//! reads the custom metrics API and scales. All of it wakes on store changes and on its own timers, never on
//! a fixed poll.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::apiserver::ApiState;
use crate::selectors;
use crate::store::{name_of, namespace_of, now_rfc3339};

const DEPLOYMENTS: &str = "apps/deployments";
const PODS: &str = "/pods";
const HPAS: &str = "autoscaling/horizontalpodautoscalers";
const REPLICASETS: &str = "apps/replicasets";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodFailure {
    ImagePullBackOff,
    CrashLoopBackOff,
}

/// How the fake cluster behaves; tests change it through `World`.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub rollout_latency: Duration,
    /// Images (by substring) that take longer to start (a large image's pull).
    pub image_latencies: Vec<(String, Duration)>,
    /// Images (by substring) whose pods never become ready.
    pub image_failures: Vec<(String, PodFailure)>,
    pub hpa_sync: Duration,
    /// The HPA's scale-down stabilization window (Kubernetes' default is 5 minutes).
    pub scale_down_stabilization: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            rollout_latency: Duration::from_millis(300),
            image_latencies: Vec::new(),
            image_failures: Vec::new(),
            hpa_sync: Duration::from_millis(500),
            scale_down_stabilization: Duration::from_secs(300),
        }
    }
}

/// What the node makes of a new pod, from its spec (see `Kubelet::admit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Runs,
    /// An image cannot be pulled: ImagePullBackOff, with the pull error in the events.
    PullFails {
        image: String,
        error: String,
    },
    /// A volume cannot be mounted: ContainerCreating, with a FailedMount event; retried as the kubelet does.
    MountFails {
        message: String,
    },
    /// The container's process exits during start-up: CrashLoopBackOff.
    Crashes {
        container: String,
    },
}

impl Verdict {
    /// A failure a test forces on an image, whatever the node would make of it.
    fn forced(failure: PodFailure, pod: &Value) -> Verdict {
        let container = &pod["spec"]["containers"][0];
        match failure {
            PodFailure::ImagePullBackOff => {
                let image = container["image"].as_str().unwrap_or_default().to_string();
                Verdict::PullFails { error: crate::images::pull_error(&image), image }
            }
            PodFailure::CrashLoopBackOff => {
                Verdict::Crashes { container: container["name"].as_str().unwrap_or_default().to_string() }
            }
        }
    }

    /// The kubelet's events for it: (type, reason, message).
    fn events(&self, pod: &Value) -> Vec<(&'static str, &'static str, String)> {
        match self {
            Verdict::Runs => Vec::new(),
            Verdict::PullFails { image, error } => vec![
                ("Normal", "Pulling", format!("Pulling image \"{image}\"")),
                ("Warning", "Failed", format!("Failed to pull image \"{image}\": {error}")),
                ("Warning", "Failed", "Error: ErrImagePull".into()),
                ("Normal", "BackOff", format!("Back-off pulling image \"{image}\"")),
                ("Warning", "Failed", "Error: ImagePullBackOff".into()),
            ],
            Verdict::MountFails { message } => vec![("Warning", "FailedMount", message.clone())],
            Verdict::Crashes { container } => vec![(
                "Warning",
                "BackOff",
                format!(
                    "Back-off restarting failed container {container} in pod {}_{}({})",
                    name_of(pod),
                    namespace_of(pod),
                    pod["metadata"]["uid"].as_str().unwrap_or_default()
                ),
            )],
        }
    }
}

/// What happens on a node when a pod starts or stops: the world runs stand-ins for some images.
pub trait Kubelet: Send + Sync {
    /// What the node makes of a pod about to start (its volumes, its images, what they run).
    fn admit(&self, _pod: &Value) -> Verdict {
        Verdict::Runs
    }
    fn pod_started(&self, pod: &Value);
    fn pod_stopped(&self, pod: &Value);
    /// Current value of a Pods metric for the HPA (what the custom metrics API answers), per pod name.
    fn pod_metrics(&self, namespace: &str, metric: &str, pods: &[String]) -> Option<HashMap<String, f64>>;
    /// One pass of the operators whose pods run on the node (KEDA); returns when they want to look again.
    fn run_operators(&self, _state: &ApiState) -> Option<Instant> {
        None
    }
    /// After each pass: what watches the cluster from a pod (Prometheus's service discovery) catches up.
    fn observe(&self, _state: &ApiState) {}
}

/// When each recommendation was made, newest last.
type Recommendations = Vec<(Instant, u64)>;

pub struct Controllers {
    pub behaviour: Mutex<Behaviour>,
    pending: Mutex<HashMap<(String, String, String), Instant>>,
    /// Each HPA's recent recommendations, for the scale-down stabilization window.
    recommendations: Mutex<HashMap<(String, String), Recommendations>>,
}

impl Controllers {
    pub fn start(
        state: Arc<ApiState>,
        kubelet: Arc<dyn Kubelet>,
        behaviour: Behaviour,
    ) -> (Arc<Controllers>, JoinHandle<()>) {
        let controllers = Arc::new(Controllers {
            behaviour: Mutex::new(behaviour),
            pending: Mutex::new(HashMap::new()),
            recommendations: Mutex::new(HashMap::new()),
        });
        let me = controllers.clone();
        let handle = thread::spawn(move || me.run(&state, kubelet.as_ref()));
        (controllers, handle)
    }

    fn run(&self, state: &ApiState, kubelet: &dyn Kubelet) {
        let mut next_hpa = Instant::now();
        while !state.stopping.load(Ordering::SeqCst) {
            let seen = state.store.resource_version();
            let mut wake = Instant::now() + Duration::from_secs(1);
            for deployment in state.store.list(DEPLOYMENTS, None) {
                if let Some(due) = self.reconcile_deployment(state, kubelet, &deployment) {
                    wake = wake.min(due);
                }
            }
            self.collect_orphans(state, kubelet);
            collect_garbage(state);
            crate::crd::finish_deletions(state);
            if let Some(due) = kubelet.run_operators(state) {
                wake = wake.min(due);
            }
            kubelet.observe(state);
            if Instant::now() >= next_hpa {
                for hpa in state.store.list(HPAS, None) {
                    self.reconcile_hpa(state, kubelet, &hpa);
                }
                next_hpa = Instant::now() + self.behaviour.lock().expect("behaviour").hpa_sync;
            }
            wake = wake.min(next_hpa);
            state.store.wait_for_change(seen, wake);
        }
    }

    /// Brings a Deployment's pods to its spec once its latency has passed; returns when to look again.
    fn reconcile_deployment(&self, state: &ApiState, kubelet: &dyn Kubelet, deployment: &Value) -> Option<Instant> {
        let (ns, name) = (namespace_of(deployment), name_of(deployment));
        let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        let hash = template_hash(&deployment["spec"]["template"]);
        let pods = owned_pods(state, &ns, &name);
        let current: Vec<&Value> =
            pods.iter().filter(|p| p["metadata"]["labels"]["pod-template-hash"] == hash).collect();
        let settled = current.len() == replicas && current.len() == pods.len();
        let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1);
        sync_replicasets(state, deployment, &hash, replicas, &current);
        self.retry_mounts(state, kubelet, &current);
        if settled {
            self.pending.lock().expect("pending").remove(&(ns.clone(), name.clone(), hash.clone()));
            write_deployment_status(state, deployment, &current, generation);
            return None;
        }
        let key = (ns.clone(), name.clone(), hash.clone());
        let due = *self
            .pending
            .lock()
            .expect("pending")
            .entry(key)
            .or_insert_with(|| Instant::now() + self.latency_for(deployment));
        if Instant::now() < due {
            write_progressing(state, deployment, &pods, current.len(), generation);
            return Some(due);
        }
        let failure = self.failure_for(deployment);
        for pod in pods.iter().filter(|p| p["metadata"]["labels"]["pod-template-hash"] != hash) {
            delete_pod(state, kubelet, pod);
        }
        for pod in current.iter().skip(replicas) {
            delete_pod(state, kubelet, pod);
        }
        for _ in current.len()..replicas {
            let mut pod = new_pod(deployment, &hash);
            let verdict = failure.map_or_else(|| kubelet.admit(&pod), |f| Verdict::forced(f, &pod));
            set_pod_status(&mut pod, &verdict);
            if let Ok(created) = state.store.create(PODS, pod) {
                record_events(state, &created, &verdict);
                if verdict == Verdict::Runs {
                    kubelet.pod_started(&created);
                }
            }
        }
        Some(Instant::now())
    }

    /// Pods waiting for a volume start once it can be mounted (the kubelet keeps retrying).
    fn retry_mounts(&self, state: &ApiState, kubelet: &dyn Kubelet, pods: &[&Value]) {
        for pod in pods
            .iter()
            .filter(|p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating")
        {
            let verdict = kubelet.admit(pod);
            if matches!(verdict, Verdict::MountFails { .. }) {
                continue;
            }
            let mut next = (*pod).clone();
            set_pod_status(&mut next, &verdict);
            if let Ok(updated) = state.store.update(PODS, next, None) {
                record_events(state, &updated, &verdict);
                if verdict == Verdict::Runs {
                    kubelet.pod_started(&updated);
                }
            }
        }
    }

    fn latency_for(&self, deployment: &Value) -> Duration {
        let behaviour = self.behaviour.lock().expect("behaviour");
        let images = deployment["spec"]["template"]["spec"]["containers"].to_string();
        behaviour
            .image_latencies
            .iter()
            .find(|(pattern, _)| images.contains(pattern.as_str()))
            .map_or(behaviour.rollout_latency, |(_, d)| *d)
    }

    fn failure_for(&self, deployment: &Value) -> Option<PodFailure> {
        let images: Vec<String> = deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["image"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let behaviour = self.behaviour.lock().expect("behaviour");
        behaviour
            .image_failures
            .iter()
            .find(|(pattern, _)| images.iter().any(|i| i.contains(pattern.as_str())))
            .map(|(_, f)| *f)
    }

    fn collect_orphans(&self, state: &ApiState, kubelet: &dyn Kubelet) {
        for rs in state.store.list(REPLICASETS, None) {
            let Some(owner) = rs["metadata"]["labels"]["testworld/deployment"].as_str() else { continue };
            if state.store.get(DEPLOYMENTS, &namespace_of(&rs), owner).is_none() {
                let _ = state.store.delete(REPLICASETS, &namespace_of(&rs), &name_of(&rs));
            }
        }
        for pod in state.store.list(PODS, None) {
            let Some(owner) = pod["metadata"]["labels"]["testworld/deployment"].as_str() else {
                continue;
            };
            if state.store.get(DEPLOYMENTS, &namespace_of(&pod), owner).is_none() {
                delete_pod(state, kubelet, &pod);
            }
        }
    }
}

/// The garbage collector: an object whose owners (by UID) are all gone is deleted, finalizers honoured.
/// Pods and ReplicaSets follow their Deployment through `collect_orphans`, which also stops their stand-ins.
fn collect_garbage(state: &ApiState) {
    let (uids, dependents) = state.store.owner_scan(&[PODS, REPLICASETS]);
    for (resource, object) in dependents {
        let owners = object["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
        let orphaned = owners.iter().all(|owner| owner["uid"].as_str().is_none_or(|uid| !uids.contains(uid)));
        if orphaned && object["metadata"]["deletionTimestamp"].is_null() {
            let _ = state.store.request_delete(&resource, &namespace_of(&object), &name_of(&object));
        }
    }
}

/// The Deployment's current ReplicaSet, owned by it (by UID) with its template plus `pod-template-hash`,
/// as Helm 3's waiter and `kubectl rollout` look for it; older ReplicaSets go.
fn sync_replicasets(state: &ApiState, deployment: &Value, hash: &str, replicas: usize, current: &[&Value]) {
    let (ns, name) = (namespace_of(deployment), name_of(deployment));
    let rs_name = format!("{name}-{hash}");
    for rs in state.store.list(REPLICASETS, Some(&ns)) {
        if rs["metadata"]["labels"]["testworld/deployment"] == name.as_str() && name_of(&rs) != rs_name {
            let _ = state.store.delete(REPLICASETS, &ns, &name_of(&rs));
        }
    }
    let ready = current.iter().filter(|p| p["status"]["conditions"][0]["status"] == "True").count();
    let mut template = deployment["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut labels = template["metadata"]["labels"].clone();
    labels["testworld/deployment"] = json!(name);
    let status = json!({"replicas": current.len(), "readyReplicas": ready, "availableReplicas": ready, "fullyLabeledReplicas": current.len(),
                        "observedGeneration": 1});
    match state.store.get(REPLICASETS, &ns, &rs_name) {
        Some(existing) => {
            let mut next = existing.clone();
            next["spec"]["replicas"] = json!(replicas);
            next["status"] = status;
            if next != existing {
                let _ = state.store.update(REPLICASETS, next, None);
            }
        }
        None => {
            let mut selector = deployment["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                             "annotations": {"deployment.kubernetes.io/revision": "1"},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                                  "uid": deployment["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"replicas": replicas, "selector": selector, "template": template},
                "status": status});
            let _ = state.store.create(REPLICASETS, rs);
        }
    }
}

fn owned_pods(state: &ApiState, ns: &str, deployment: &str) -> Vec<Value> {
    state
        .store
        .list(PODS, Some(ns))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["testworld/deployment"] == deployment)
        .collect()
}

fn delete_pod(state: &ApiState, kubelet: &dyn Kubelet, pod: &Value) {
    if state.store.delete(PODS, &namespace_of(pod), &name_of(pod)).is_ok() {
        kubelet.pod_stopped(pod);
    }
}

fn template_hash(template: &Value) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in template.to_string().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

fn suffix() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|i| alphabet[((n * 7919 + i * 31) % alphabet.len() as u64) as usize] as char).collect()
}

fn new_pod(deployment: &Value, hash: &str) -> Value {
    let (ns, name) = (namespace_of(deployment), name_of(deployment));
    let template = &deployment["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    labels["testworld/deployment"] = json!(name);
    let pod_name = format!("{name}-{hash}-{}", suffix());
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                     "annotations": template["metadata"]["annotations"].clone(),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-{hash}"), "uid": "rs", "controller": true}]},
        "spec": template["spec"].clone(),
        "status": {"podIP": "10.244.0.10", "hostIP": "192.168.49.2", "startTime": now_rfc3339()}
    })
}

/// The pod's phase, conditions and container states for what the node made of it.
fn set_pod_status(pod: &mut Value, verdict: &Verdict) {
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<Value> = containers.iter().map(|c| container_status(c, verdict)).collect();
    let ready = *verdict == Verdict::Runs;
    let phase = match verdict {
        Verdict::PullFails { .. } | Verdict::MountFails { .. } => "Pending",
        Verdict::Runs | Verdict::Crashes { .. } => "Running",
    };
    let flag = if ready { "True" } else { "False" };
    pod["status"]["phase"] = json!(phase);
    pod["status"]["conditions"] = json!([{"type": "Ready", "status": flag}, {"type": "ContainersReady", "status": flag},
                                         {"type": "PodScheduled", "status": "True"}]);
    pod["status"]["containerStatuses"] = json!(statuses);
}

fn container_status(container: &Value, verdict: &Verdict) -> Value {
    let (name, image) = (container["name"].clone(), container["image"].clone());
    let running = json!({"name": name, "image": image, "ready": true, "restartCount": 0, "started": true,
                         "state": {"running": {"startedAt": now_rfc3339()}}});
    match verdict {
        Verdict::Runs => running,
        Verdict::PullFails { image: failing, .. } if image == failing.as_str() => {
            json!({"name": name, "image": image, "ready": false, "restartCount": 0,
                   "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{failing}\"")}}})
        }
        Verdict::PullFails { .. } => running,
        Verdict::MountFails { .. } => json!({"name": name, "image": image, "ready": false, "restartCount": 0,
                                             "state": {"waiting": {"reason": "ContainerCreating"}}}),
        Verdict::Crashes { container: crashed } if name == crashed.as_str() => {
            json!({"name": name, "image": image, "ready": false, "restartCount": 4,
                   "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}},
                   "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}})
        }
        Verdict::Crashes { .. } => running,
    }
}

/// Writes the kubelet's events for a pod, as `kubectl describe pod` and `kubectl get events` show them.
fn record_events(state: &ApiState, pod: &Value, verdict: &Verdict) {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let (ns, name) = (namespace_of(pod), name_of(pod));
    for (kind, reason, message) in verdict.events(pod) {
        let now = now_rfc3339();
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{:016x}", 0x17a0_0000_0000_0000u64 + NEXT.fetch_add(1, Ordering::SeqCst)), "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns,
                               "uid": pod["metadata"]["uid"]},
            "type": kind, "reason": reason, "message": message, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": "kubelet", "host": "minikube"},
            "reportingComponent": "kubelet", "reportingInstance": "minikube"});
        let _ = state.store.create("/events", event);
    }
}

fn write_deployment_status(state: &ApiState, deployment: &Value, pods: &[&Value], generation: i64) {
    let ready = pods.iter().filter(|p| p["status"]["conditions"][0]["status"] == "True").count();
    let total = pods.len();
    let available = ready == total && total > 0 || total == 0;
    let mut status = json!({
        "observedGeneration": generation, "replicas": total, "updatedReplicas": total,
        "readyReplicas": ready, "availableReplicas": ready,
        "conditions": [
            {"type": "Available", "status": if available { "True" } else { "False" },
             "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
    });
    if ready < total {
        status["unavailableReplicas"] = json!(total - ready);
        status["conditions"][1]["reason"] = json!("ReplicaSetUpdated");
    }
    if ready == 0 {
        if let Some(map) = status.as_object_mut() {
            map.remove("readyReplicas");
            map.remove("availableReplicas");
        }
    }
    update_status(state, DEPLOYMENTS, deployment, status);
}

/// A rollout under way, counted as the real controller counts it: every pod (`replicas`), those of the new
/// template (`updatedReplicas`), and the ready ones, which keep serving meanwhile (`availableReplicas`).
fn write_progressing(state: &ApiState, deployment: &Value, pods: &[Value], updated: usize, generation: i64) {
    let mut status = deployment["status"].clone();
    if status.is_null() {
        status = json!({});
    }
    let ready = pods.iter().filter(|p| p["status"]["conditions"][0]["status"] == "True").count();
    status["observedGeneration"] = json!(generation);
    status["replicas"] = json!(pods.len());
    status["updatedReplicas"] = json!(updated);
    status["readyReplicas"] = json!(ready);
    status["availableReplicas"] = json!(ready);
    if status["conditions"].is_null() {
        status["conditions"] = json!([{"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"},
                                      {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]);
    }
    update_status(state, DEPLOYMENTS, deployment, status);
}

fn update_status(state: &ApiState, resource: &str, object: &Value, status: Value) {
    if object["status"] == status {
        return;
    }
    let Some(mut latest) = state.store.get(resource, &namespace_of(object), &name_of(object)) else {
        return;
    };
    latest["status"] = status;
    let _ = state.store.update(resource, latest, None);
}

impl Controllers {
    /// Scales down only to the highest recommendation of the stabilization window, as the real controller does.
    fn stabilized(&self, hpa: &Value, recommendation: u64) -> u64 {
        let window = self.behaviour.lock().expect("behaviour").scale_down_stabilization;
        let mut all = self.recommendations.lock().expect("recommendations");
        let history = all.entry((namespace_of(hpa), name_of(hpa))).or_default();
        let now = Instant::now();
        history.retain(|(at, _)| now.duration_since(*at) <= window);
        history.push((now, recommendation));
        history.iter().map(|(_, r)| *r).max().unwrap_or(recommendation)
    }

    fn reconcile_hpa(&self, state: &ApiState, kubelet: &dyn Kubelet, hpa: &Value) {
        reconcile_hpa(state, kubelet, hpa, &|recommendation| self.stabilized(hpa, recommendation));
    }
}

/// What one metric asks for: replicas (before min/max), its `currentMetrics` entry, and how the
/// ScalingActive condition names it.
struct Reading {
    desired: u64,
    status: Value,
    described: String,
}

/// Why a metric could not be read: the ScalingActive condition's reason and message.
struct Unreadable {
    reason: &'static str,
    message: String,
}

const TOLERANCE: f64 = 0.1;

/// The HPA algorithm for its first metric (Pods or External, AverageValue or Value): the replicas the
/// metric asks for, with the 10 % tolerance, clamped to min/max, then stabilized — as the real controller
/// does, also refusing to scale from zero and when another HPA scales the same target.
fn reconcile_hpa(state: &ApiState, kubelet: &dyn Kubelet, hpa: &Value, stabilize: &dyn Fn(u64) -> u64) {
    let ns = namespace_of(hpa);
    let spec = &hpa["spec"];
    let target_name = spec["scaleTargetRef"]["name"].as_str().unwrap_or_default();
    let min = spec["minReplicas"].as_u64().unwrap_or(1);
    let max = spec["maxReplicas"].as_u64().unwrap_or(1);
    let Some(deployment) = state.store.get(DEPLOYMENTS, &ns, target_name) else {
        let conditions = json!([{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale",
            "message": format!("the HPA controller was unable to get the target's current scale: deployments/scale.apps \"{target_name}\" not found")}]);
        update_status(state, HPAS, hpa, json!({"currentReplicas": 0, "desiredReplicas": 0, "conditions": conditions}));
        return;
    };
    let current = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let able = json!({"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale",
                      "message": "the HPA controller was able to get the target's current scale"});
    let inactive = |reason: &str, message: String, desired: u64| {
        let conditions =
            json!([able, {"type": "ScalingActive", "status": "False", "reason": reason, "message": message}]);
        update_status(
            state,
            HPAS,
            hpa,
            json!({"currentReplicas": current, "desiredReplicas": desired, "conditions": conditions}),
        );
    };
    if current == 0 && min != 0 {
        inactive("ScalingDisabled", "scaling is disabled since the replica count of the target is zero".into(), 0);
        return;
    }
    if let Some(others) = sharing_hpas(state, hpa) {
        let selector = selector_text(&deployment["spec"]["selector"]);
        let message = format!("pods by selector {selector} are controlled by multiple HPAs: [{}]", others.join(" "));
        inactive("AmbiguousSelector", message, current);
        return;
    }
    let metric = &spec["metrics"][0];
    let reading = match metric["type"].as_str() {
        Some("External") => external_reading(state, &ns, metric, current, &deployment),
        _ => pods_reading(state, kubelet, &ns, metric, current, &deployment),
    };
    let reading = match reading {
        Ok(reading) => reading,
        Err(unreadable) => return inactive(unreadable.reason, unreadable.message, current),
    };
    let limited = if reading.desired > max {
        json!({"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas", "message": "the desired replica count is more than the maximum replica count"})
    } else if reading.desired < min {
        json!({"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas", "message": "the desired replica count is less than the minimum replica count"})
    } else {
        json!({"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "the desired count is within the acceptable range"})
    };
    let desired = stabilize(reading.desired.clamp(min, max));
    let conditions = json!([
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
         "message": format!("the HPA was able to successfully calculate a replica count from {}", reading.described)},
        limited]);
    let status = json!({"currentReplicas": current, "desiredReplicas": desired,
        "currentMetrics": [reading.status], "conditions": conditions});
    update_status(state, HPAS, hpa, status);
    if desired != current {
        let mut scaled = deployment.clone();
        scaled["spec"]["replicas"] = json!(desired);
        let _ = state.store.update(DEPLOYMENTS, scaled, None);
    }
}

/// Whether an HPA's next sync would read its metric (a world started from a snapshot waits for it).
pub fn hpa_reads_its_metric(state: &ApiState, kubelet: &dyn Kubelet, hpa: &Value) -> bool {
    let ns = namespace_of(hpa);
    let target = hpa["spec"]["scaleTargetRef"]["name"].as_str().unwrap_or_default();
    let Some(deployment) = state.store.get(DEPLOYMENTS, &ns, target) else { return false };
    let current = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let metric = &hpa["spec"]["metrics"][0];
    match metric["type"].as_str() {
        Some("External") => external_reading(state, &ns, metric, current, &deployment).is_ok(),
        _ => pods_reading(state, kubelet, &ns, metric, current, &deployment).is_ok(),
    }
}

/// The other HPAs (as `namespace/name`, this one included) that scale the same target, on servers that
/// refuse to scale then (1.26+); None when this HPA is alone.
fn sharing_hpas(state: &ApiState, hpa: &Value) -> Option<Vec<String>> {
    if state.minor() < 26 {
        return None;
    }
    let target = &hpa["spec"]["scaleTargetRef"];
    let mut names: Vec<String> = state
        .store
        .list(HPAS, Some(&namespace_of(hpa)))
        .iter()
        .filter(|other| other["spec"]["scaleTargetRef"]["name"] == target["name"])
        .filter(|other| other["spec"]["scaleTargetRef"]["kind"] == target["kind"])
        .map(|other| format!("{}/{}", namespace_of(other), name_of(other)))
        .collect();
    names.sort();
    (names.len() > 1).then_some(names)
}

/// A `matchLabels` selector as a label-selector string (`app=interlok`).
fn selector_text(selector: &Value) -> String {
    let labels = selector.get("matchLabels").unwrap_or(selector);
    let mut pairs: Vec<String> = labels
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    pairs.sort();
    pairs.join(",")
}

/// A Pods metric with an AverageValue target: desired = ceil(current × average / target), pods without a
/// metric counted as the real controller counts them.
fn pods_reading(
    state: &ApiState,
    kubelet: &dyn Kubelet,
    ns: &str,
    metric: &Value,
    current: u64,
    deployment: &Value,
) -> Result<Reading, Unreadable> {
    let metric_name = metric["pods"]["metric"]["name"].as_str().unwrap_or_default().to_string();
    let target = parse_quantity(&metric["pods"]["target"]["averageValue"]).unwrap_or(0.0);
    let selector = &deployment["spec"]["selector"];
    let pods: Vec<String> = state
        .store
        .list(PODS, Some(ns))
        .into_iter()
        .filter(|p| selectors::selector_map_matches(selector, p))
        .map(|p| name_of(&p))
        .collect();
    let values = kubelet.pod_metrics(ns, &metric_name, &pods).filter(|v| !v.is_empty());
    let Some(values) = values.filter(|_| target > 0.0) else {
        return Err(Unreadable {
            reason: "FailedGetPodsMetric",
            message: format!("the HPA was unable to compute the replica count: unable to get metric {metric_name}: unable to fetch metrics from custom metrics API"),
        });
    };
    let average = values.values().sum::<f64>() / values.len() as f64;
    // as the real controller does: pods without a metric count as 0 when scaling up, as on target when scaling down
    let missing = pods.len().saturating_sub(values.len()) as f64;
    let ratio = if average > target {
        values.values().sum::<f64>() / (values.len() as f64 + missing) / target
    } else {
        (values.values().sum::<f64>() + missing * target) / (values.len() as f64 + missing) / target
    };
    let desired = if (ratio - 1.0).abs() <= TOLERANCE { current } else { (current as f64 * ratio).ceil() as u64 };
    Ok(Reading {
        desired,
        status: json!({"type": "Pods", "pods": {"metric": {"name": metric_name}, "current": {"averageValue": format_quantity(average)}}}),
        described: format!("pods metric {metric_name}"),
    })
}

/// An External metric, read through the external metrics API as the real controller reads it: an
/// AverageValue target divides the sum by the current replicas, a Value target compares the sum.
fn external_reading(
    state: &ApiState,
    ns: &str,
    metric: &Value,
    current: u64,
    deployment: &Value,
) -> Result<Reading, Unreadable> {
    let external = &metric["external"];
    let name = external["metric"]["name"].as_str().unwrap_or_default();
    let selector = &external["metric"]["selector"];
    let shown = go_label_selector(selector);
    let unreadable = |why: String| Unreadable {
        reason: "FailedGetExternalMetric",
        message: format!(
            "the HPA was unable to compute the replica count: unable to get external metric {ns}/{name}/{shown}: {why}"
        ),
    };
    let path = format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{name}");
    let list = crate::apiserver::aggregated_get(state, &path, &[("labelSelector", &selector_text(selector))])
        .map_err(|e| unreadable(format!("unable to fetch metrics from external metrics API: {}", e.message)))?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(unreadable("no metrics returned from external metrics API".into()));
    }
    let usage: f64 = items.iter().filter_map(|item| parse_quantity(&item["value"])).sum();
    let target = &external["target"];
    let (desired, current_value) = if target["type"] == "Value" {
        let goal = parse_quantity(&target["value"]).unwrap_or(0.0);
        let ratio = usage / goal;
        let ready = state
            .store
            .list(PODS, Some(ns))
            .iter()
            .filter(|p| selectors::selector_map_matches(&deployment["spec"]["selector"], p))
            .filter(|p| p["status"]["conditions"][0]["status"] == "True")
            .count() as f64;
        let desired = if (ratio - 1.0).abs() <= TOLERANCE { current } else { (ratio * ready).ceil() as u64 };
        (desired, json!({"value": format_quantity(usage)}))
    } else {
        let goal = parse_quantity(&target["averageValue"]).unwrap_or(0.0);
        let ratio = usage / (goal * current as f64);
        let desired = if (ratio - 1.0).abs() <= TOLERANCE { current } else { (usage / goal).ceil() as u64 };
        (desired, json!({"averageValue": format_quantity(usage / current as f64)}))
    };
    Ok(Reading {
        desired,
        status: json!({"type": "External", "external": {"metric": {"name": name, "selector": selector}, "current": current_value}}),
        described: format!("external metric {name}({shown})"),
    })
}

/// A label selector as Go's `%+v` prints a `*metav1.LabelSelector` (the real controller's messages).
fn go_label_selector(selector: &Value) -> String {
    if selector.is_null() {
        return "nil".into();
    }
    let mut labels: Vec<(String, String)> = selector["matchLabels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    labels.sort();
    let pairs: String = labels.iter().map(|(k, v)| format!("{k}: {v},")).collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{pairs}}},MatchExpressions:[]LabelSelectorRequirement{{}},}}"
    )
}

/// Parses a Kubernetes quantity as the HPA reads metric values: "100", "1500m", "1k", "2Ki".
pub fn parse_quantity(value: &Value) -> Option<f64> {
    if let Some(n) = value.as_f64() {
        return Some(n);
    }
    let text = value.as_str()?.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number * factor)
}

pub fn format_quantity(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round() as i64)
    } else {
        format!("{}m", (value * 1000.0).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_and_format() {
        assert_eq!(parse_quantity(&json!("1500m")), Some(1.5));
        assert_eq!(parse_quantity(&json!("100")), Some(100.0));
        assert_eq!(parse_quantity(&json!(100)), Some(100.0));
        assert_eq!(parse_quantity(&json!("2k")), Some(2000.0));
        assert_eq!(parse_quantity(&json!("x")), None);
        assert_eq!(format_quantity(150.0), "150");
        assert_eq!(format_quantity(1.5), "1500m");
    }

    struct NoMetrics;

    impl Kubelet for NoMetrics {
        fn pod_started(&self, _pod: &Value) {}
        fn pod_stopped(&self, _pod: &Value) {}
        fn pod_metrics(&self, _namespace: &str, _metric: &str, _pods: &[String]) -> Option<HashMap<String, f64>> {
            None
        }
    }

    fn scaling_active(state: &ApiState, name: &str) -> Value {
        let hpa = state.store.get(HPAS, "default", name).expect("hpa");
        hpa["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "ScalingActive").cloned())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn the_hpa_stands_aside_at_zero_replicas_and_when_another_hpa_scales_the_target() {
        for (version, ambiguous) in [("v1.33.1", true), ("v1.25.0", false)] {
            let state = ApiState::new(version);
            let deployment = json!({"metadata": {"name": "interlok", "namespace": "default"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "interlok"}}}});
            state.store.create(DEPLOYMENTS, deployment).expect("deployment");
            for name in ["interlok", "keda-hpa-interlok"] {
                let hpa = json!({"metadata": {"name": name, "namespace": "default"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "interlok"},
                             "minReplicas": 1, "maxReplicas": 5,
                             "metrics": [{"type": "Pods", "pods": {"metric": {"name": "M"}, "target": {"type": "AverageValue", "averageValue": "100"}}}]}});
                state.store.create(HPAS, hpa).expect("hpa");
            }
            let hpa = state.store.get(HPAS, "default", "interlok").expect("hpa");
            reconcile_hpa(&state, &NoMetrics, &hpa, &|r| r);
            assert_eq!(scaling_active(&state, "interlok")["reason"], "ScalingDisabled");
            let mut one = state.store.get(DEPLOYMENTS, "default", "interlok").expect("deployment");
            one["spec"]["replicas"] = json!(1);
            state.store.update(DEPLOYMENTS, one, None).expect("scale");
            reconcile_hpa(&state, &NoMetrics, &hpa, &|r| r);
            let active = scaling_active(&state, "interlok");
            if ambiguous {
                assert_eq!(active["reason"], "AmbiguousSelector");
                assert_eq!(
                    active["message"],
                    "pods by selector app=interlok are controlled by multiple HPAs: [default/interlok default/keda-hpa-interlok]"
                );
            } else {
                assert_eq!(active["reason"], "FailedGetPodsMetric", "servers before 1.26 do not check");
            }
        }
    }

    #[test]
    fn selectors_print_as_the_real_controller_prints_them() {
        let selector = json!({"matchLabels": {"scaledobject.keda.sh/name": "interlok"}});
        assert_eq!(
            go_label_selector(&selector),
            "&LabelSelector{MatchLabels:map[string]string{scaledobject.keda.sh/name: interlok,},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
        assert_eq!(go_label_selector(&Value::Null), "nil");
        assert_eq!(selector_text(&json!({"matchLabels": {"b": "2", "a": "1"}})), "a=1,b=2");
    }
}
