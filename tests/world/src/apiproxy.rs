//! The `proxy` subresource of Services and pods (`…/services/[SCHEME:]NAME[:PORT]/proxy/PATH`,
//! `…/pods/NAME[:PORT]/proxy/PATH`): the API server sends the request on to the pod and hands back what the
//! pod answered, status and body unchanged. A Service's request goes to a Ready endpoint only (a pod that is
//! Running but not Ready is no endpoint); the API server's own failures are Status objects, as a real one's:
//! 404 for a Service or pod that is not there, 503 when no endpoint is ready or the pod refuses the connection.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::apiserver::ApiState;
use crate::http::{Reply, Request, Response};
use crate::store::{name_of, ApiError};

/// Answers a request for `kind`'s (`services` or `pods`) proxy subresource.
pub fn serve(state: &Arc<ApiState>, kind: &str, namespace: &str, name_port: &str, request: &Request) -> Reply {
    let (name, port) = split_name(name_port);
    let address = match kind {
        "services" => service_endpoint(state, namespace, name, port),
        _ => pod_endpoint(state, namespace, name, port),
    };
    let reply = address.and_then(|address| forward(address, tail(request, name_port), request));
    match reply {
        Ok(response) => Reply::Full(response),
        Err(e) => Reply::Full(Response::json(e.code, &e.status())),
    }
}

/// `[SCHEME:]NAME[:PORT]` as its name and port (None: the only port).
fn split_name(name_port: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = name_port.split(':').collect();
    match parts.as_slice() {
        [name] | ["http" | "https", name] => (*name, None),
        ["http" | "https", name, port] | [name, port] => (*name, Some(*port).filter(|p| !p.is_empty())),
        _ => (name_port, None),
    }
}

/// The path after `NAME/proxy`, with the request's query.
fn tail(request: &Request, name_port: &str) -> String {
    let marker = format!("/{name_port}/proxy");
    let path = request.path.split_once(&marker).map_or("", |(_, rest)| rest);
    let path = if path.is_empty() { "/" } else { path };
    let query: Vec<String> =
        request.query.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Where a Ready endpoint of the Service's port listens.
fn service_endpoint(
    state: &Arc<ApiState>,
    namespace: &str,
    name: &str,
    port: Option<&str>,
) -> Result<SocketAddr, ApiError> {
    let service =
        state.store.get("/services", namespace, name).ok_or_else(|| ApiError::not_found("/services", name))?;
    let ports = service["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let service_port = match port {
        None if ports.len() == 1 => ports.first(),
        None => None,
        Some(port) => ports
            .iter()
            .find(|p| p["name"] == port || p["port"].as_u64().map(|n| n.to_string()).as_deref() == Some(port)),
    }
    .cloned()
    .ok_or_else(|| no_endpoints(name))?;
    let ext = state.extensions().ok_or_else(|| no_endpoints(name))?;
    for pod in state.store.list("/pods", Some(namespace)) {
        if !ready(&pod) || !crate::selectors::selector_map_matches(&service["spec"]["selector"], &pod) {
            continue;
        }
        let Some(target_port) = crate::dns::container_port(&pod, &service_port["targetPort"])
            .or_else(|| service_port["port"].as_u64().and_then(|n| u16::try_from(n).ok()))
        else {
            continue;
        };
        if let Some(address) = ext.port_target(state, namespace, &name_of(&pod), target_port) {
            return Ok(address);
        }
        return Err(unreachable(&format!("dial tcp {}:{target_port}: connect: connection refused", pod_ip(&pod))));
    }
    Err(no_endpoints(name))
}

/// Where the pod's port listens.
fn pod_endpoint(
    state: &Arc<ApiState>,
    namespace: &str,
    name: &str,
    port: Option<&str>,
) -> Result<SocketAddr, ApiError> {
    let pod = state.store.get("/pods", namespace, name).ok_or_else(|| ApiError::not_found("/pods", name))?;
    let port: u16 = match port {
        Some(port) => port
            .parse()
            .or_else(|_| crate::dns::container_port(&pod, &Value::from(port)).ok_or(()))
            .map_err(|_| ApiError::new(400, "BadRequest", format!("invalid port {port:?}")))?,
        None => 80,
    };
    let refused = || unreachable(&format!("dial tcp {}:{port}: connect: connection refused", pod_ip(&pod)));
    if pod["status"]["phase"] != "Running" {
        return Err(refused());
    }
    state.extensions().and_then(|ext| ext.port_target(state, namespace, name, port)).ok_or_else(refused)
}

fn ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn pod_ip(pod: &Value) -> String {
    pod["status"]["podIP"].as_str().unwrap_or("10.244.0.1").to_string()
}

fn no_endpoints(service: &str) -> ApiError {
    ApiError::new(503, "ServiceUnavailable", format!("no endpoints available for service \"{service}\""))
}

fn unreachable(why: &str) -> ApiError {
    ApiError::new(503, "ServiceUnavailable", format!("error trying to reach service: {why}"))
}

/// Sends the request on and reads the whole answer.
fn forward(address: SocketAddr, path: String, request: &Request) -> Result<Response, ApiError> {
    let url = format!("http://{address}{path}");
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
    let mut call = agent.request(&request.method, &url);
    if let Some(content_type) = request.header("content-type") {
        call = call.set("Content-Type", content_type);
    }
    let answer = if request.body.is_empty() { call.call() } else { call.send_bytes(&request.body) };
    let response = match answer {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => return Err(unreachable(&e.to_string())),
    };
    let status = response.status();
    let content_type = response.header("content-type").unwrap_or("text/plain").to_string();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).map_err(|e| unreachable(&e.to_string()))?;
    Ok(Response::bytes(status, &content_type, body))
}
