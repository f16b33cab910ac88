//! The Interlok Deployment: its pods, where it pushes (`-DprometheusEndpointUrl` in JAVA_OPTS), and
//! whether its HTTP consumer answers.

use std::time::Duration;

use super::views::{Deployment, Pod};
use super::{get, list, Reader};
use crate::portforward::{http_get, PortForward};
use crate::problem::Problem;

/// The port Interlok's embedded Jetty listens on (the Service's port too).
pub const HTTP_PORT: u16 = 8080;

pub fn deployment(reader: &(impl Reader + ?Sized)) -> Result<Option<Deployment>, Problem> {
    let s = &reader.cx().settings;
    get(reader, "deployment", &s.namespace, &s.deployment)
}

/// The Deployment's pods (by the `app` label the wizard's template sets).
pub fn pods(reader: &(impl Reader + ?Sized)) -> Result<Vec<Pod>, Problem> {
    let s = &reader.cx().settings;
    list(reader, "pods", &s.namespace, Some(&format!("app={}", s.deployment)))
}

/// The names of the pods that are Running.
pub fn live_pods(reader: &(impl Reader + ?Sized)) -> Result<Vec<String>, Problem> {
    Ok(pods(reader)?.into_iter().filter(Pod::running).map(|p| p.metadata.name).collect())
}

/// The pushgateway address Interlok was given, from its JAVA_OPTS.
pub fn push_endpoint(deployment: &Deployment) -> Option<String> {
    let java_opts = deployment.container().env_value("JAVA_OPTS").unwrap_or_default().to_string();
    system_property(&java_opts, "prometheusEndpointUrl")
}

/// Reads `-Dname=value` out of a JAVA_OPTS string.
pub fn system_property(java_opts: &str, name: &str) -> Option<String> {
    let prefix = format!("-D{name}=");
    java_opts.split_whitespace().find_map(|word| word.strip_prefix(&prefix).map(String::from))
}

/// GETs a path of Interlok's HTTP consumer through a port-forward to its Service (closed afterwards).
pub fn http_status(reader: &(impl Reader + ?Sized), path: &str) -> Result<Result<u16, String>, Problem> {
    let cx = reader.cx();
    let forward = PortForward::open(cx, &cx.settings.namespace, &cx.settings.deployment, HTTP_PORT)?;
    Ok(http_get(&forward.url(path), Duration::from_secs(10)))
}
