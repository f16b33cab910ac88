//! Pods: which cannot start and why, and the pods behind a Service.

use super::views::{Deployment, Pod, Service};
use super::{list, Reader};
use crate::problem::Problem;

/// Waiting reasons that do not go away by waiting.
const BAD_WAITS: [&str; 6] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// A pod that cannot start, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub(crate) pod: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) image: String,
}

impl Stuck {
    fn pulling(&self) -> bool {
        self.reason.contains("Image") || self.reason == "ErrImagePull"
    }

    /// What to run to see more.
    pub(crate) fn hint(&self, namespace: &str) -> String {
        if self.pulling() {
            format!(
                "check the image name and that the cluster can reach its registry (--image); `kubectl describe pod {} -n {namespace}` shows the events",
                self.pod
            )
        } else {
            format!("see why it crashes: `kubectl logs {} -n {namespace} --previous`", self.pod)
        }
    }
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pod {} is in {} for image {}", self.pod, self.reason, self.image)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

pub fn stuck(pod: &Pod) -> Option<Stuck> {
    pod.status.container_statuses.iter().find_map(|c| {
        let waiting = c.state.waiting.as_ref()?;
        BAD_WAITS.contains(&waiting.reason.as_str()).then(|| Stuck {
            pod: pod.metadata.name.clone(),
            reason: waiting.reason.clone(),
            message: waiting.message.clone(),
            image: c.image.clone(),
        })
    })
}

/// "NAME Running, ready, 0 restarts": a pod's state in one line.
pub fn describe(pod: &Pod) -> String {
    let restarts: u64 = pod.status.container_statuses.iter().map(|c| c.restart_count).sum();
    let state = match stuck(pod) {
        Some(s) => s.reason,
        None => pod.phase().to_string(),
    };
    format!(
        "{} {state}, {}, {restarts} restart{}",
        pod.metadata.name,
        if pod.ready() { "ready" } else { "not ready" },
        if restarts == 1 { "" } else { "s" }
    )
}

/// What a Helm release still waits for, in one line ("prometheus-server 0/1 ready, pod prometheus-server-7c9
/// ContainerCreating"): its Deployments and pods by the label today's charts give them
/// (`app.kubernetes.io/instance`), else by the one the archived stable charts used (`release`).
pub(crate) fn release_progress(
    reader: &(impl Reader + ?Sized),
    release: &str,
    namespace: &str,
) -> Result<String, Problem> {
    for label in ["app.kubernetes.io/instance", "release"] {
        let selector = format!("{label}={release}");
        let deployments: Vec<Deployment> = list(reader, "deployments", namespace, Some(&selector))?;
        let pods: Vec<Pod> = list(reader, "pods", namespace, Some(&selector))?;
        if !deployments.is_empty() || !pods.is_empty() {
            return Ok(waiting_on(&deployments, &pods));
        }
    }
    Ok("nothing created yet".into())
}

/// The Deployments and pods that are not ready yet, and what each pod waits on.
fn waiting_on(deployments: &[Deployment], pods: &[Pod]) -> String {
    let mut waiting: Vec<String> = deployments
        .iter()
        .filter(|d| d.status.ready_replicas < d.spec.replicas.unwrap_or(1))
        .map(|d| format!("{} {}/{} ready", d.metadata.name, d.status.ready_replicas, d.spec.replicas.unwrap_or(1)))
        .collect();
    waiting.extend(pods.iter().filter(|p| !p.ready()).map(|pod| {
        let waits = pod.status.container_statuses.iter().find_map(|c| c.state.waiting.as_ref());
        match waits {
            Some(on) if !on.reason.is_empty() => format!("pod {} {}", pod.metadata.name, on.reason),
            _ => format!("pod {} {}", pod.metadata.name, pod.phase()),
        }
    }));
    if waiting.is_empty() {
        "everything ready".into()
    } else {
        waiting.join(", ")
    }
}

/// The pods a Service sends traffic to (by its selector, in its namespace).
pub(crate) fn behind(reader: &(impl Reader + ?Sized), service: &Service) -> Result<Vec<Pod>, Problem> {
    if service.spec.selector.is_empty() {
        return Ok(Vec::new());
    }
    list(reader, "pods", &service.metadata.namespace, Some(&service.selector_query()))
}

/// Whether a Service has a ready pod behind it; otherwise what its pods are doing.
pub(crate) fn serving(reader: &(impl Reader + ?Sized), service: &Service) -> Result<Result<String, String>, Problem> {
    let pods = behind(reader, service)?;
    let name = &service.metadata.name;
    if let Some(ready) = pods.iter().find(|p| p.ready()) {
        return Ok(Ok(format!("Service {name} is served by {} (ready)", ready.metadata.name)));
    }
    if pods.is_empty() {
        return Ok(Err(format!("Service {name} selects no pod ({})", service.selector_query())));
    }
    let states: Vec<String> = pods.iter().map(describe).collect();
    Ok(Err(format!("no pod behind Service {name} is ready: {}", states.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pull_failure_is_stuck_and_a_pending_pod_is_not() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending",
            "containerStatuses": [{"image": "nope:1", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}}]}}))
        .unwrap();
        let s = stuck(&pod).unwrap();
        assert!(s.pulling());
        assert_eq!(s.to_string(), "pod p is in ImagePullBackOff for image nope:1: Back-off");
        let starting: Pod = serde_json::from_value(
            json!({"status": {"containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}}),
        )
        .unwrap();
        assert_eq!(stuck(&starting), None);
    }

    #[test]
    fn what_a_release_waits_on_reads_as_one_line() {
        let pod = |name: &str, status: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name}, "status": status})).unwrap()
        };
        let creating = pod(
            "server-1",
            json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        let scheduled = pod("gateway-1", json!({"phase": "Pending"}));
        let ready = pod("adapter-1", json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}));
        let server: Deployment = serde_json::from_value(
            json!({"metadata": {"name": "server"}, "spec": {"replicas": 1}, "status": {"readyReplicas": 0}}),
        )
        .unwrap();
        let adapter: Deployment =
            serde_json::from_value(json!({"metadata": {"name": "adapter"}, "status": {"readyReplicas": 1}})).unwrap();
        assert_eq!(waiting_on(std::slice::from_ref(&adapter), std::slice::from_ref(&ready)), "everything ready");
        assert_eq!(
            waiting_on(&[server, adapter], &[creating, ready, scheduled]),
            "server 0/1 ready, pod server-1 ContainerCreating, pod gateway-1 Pending"
        );
    }
}
