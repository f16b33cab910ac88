//! Cluster DNS as a pod sees it: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` resolve to the
//! Service, its port to a target port, and that to a Running pod behind the selector — so a wrong Service
//! name or port fails here exactly as it would in a cluster.

use std::net::SocketAddr;

use serde_json::Value;

use crate::apiserver::ApiState;
use crate::kubelet::WorldKubelet;
use crate::selectors;
use crate::store::name_of;

/// Resolves `host:port` from a pod in `from_namespace`.
pub fn resolve(
    state: &ApiState,
    kubelet: &WorldKubelet,
    from_namespace: &str,
    host_port: &str,
) -> Result<SocketAddr, String> {
    let (host, port) = host_port.rsplit_once(':').ok_or_else(|| format!("{host_port:?} has no port"))?;
    let port: u16 = port.parse().map_err(|_| format!("{host_port:?} has an invalid port"))?;
    let parts: Vec<&str> = host.split('.').collect();
    let (service, namespace) = match parts.as_slice() {
        [svc] => (*svc, from_namespace),
        [svc, ns] | [svc, ns, "svc"] | [svc, ns, "svc", "cluster", "local"] => (*svc, *ns),
        _ => return Err(format!("no such host {host:?}")),
    };
    let svc = state
        .store
        .get("/services", namespace, service)
        .ok_or_else(|| format!("dial tcp: lookup {host}: no such host"))?;
    let service_port = svc["spec"]["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|p| p["port"].as_u64() == Some(port.into())).cloned())
        .ok_or_else(|| format!("dial tcp {host_port}: connection refused (Service {service} has no port {port})"))?;
    for pod in state.store.list("/pods", Some(namespace)) {
        if pod["status"]["phase"] != "Running" || !selectors::selector_map_matches(&svc["spec"]["selector"], &pod) {
            continue;
        }
        let target_port = container_port(&pod, &service_port["targetPort"]).unwrap_or(port);
        if let Some(addr) = kubelet.target(namespace, &name_of(&pod), target_port) {
            return Ok(addr);
        }
    }
    Err(format!("dial tcp {host_port}: connection refused (no ready endpoint)"))
}

pub(crate) fn container_port(pod: &Value, target: &Value) -> Option<u16> {
    if let Some(n) = target.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = target.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    pod["spec"]["containers"].as_array()?.iter().find_map(|c| {
        c["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok())
    })
}
