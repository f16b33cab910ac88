//! Pods: which cannot start and why, and the pods behind a Service.

use super::views::{Pod, Service};
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
    pub pod: String,
    pub reason: String,
    pub message: String,
    pub image: String,
}

impl Stuck {
    pub fn pulling(&self) -> bool {
        self.reason.contains("Image") || self.reason == "ErrImagePull"
    }

    /// What to run to see more.
    pub fn hint(&self, namespace: &str) -> String {
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

/// The pods a Service sends traffic to (by its selector, in its namespace).
pub fn behind(reader: &(impl Reader + ?Sized), service: &Service) -> Result<Vec<Pod>, Problem> {
    if service.spec.selector.is_empty() {
        return Ok(Vec::new());
    }
    list(reader, "pods", &service.metadata.namespace, Some(&service.selector_query()))
}

/// Whether a Service has a ready pod behind it; otherwise what its pods are doing.
pub fn serving(reader: &(impl Reader + ?Sized), service: &Service) -> Result<Result<String, String>, Problem> {
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
}
