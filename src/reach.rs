//! How the wizard reaches an HTTP server in the cluster (Prometheus, the Pushgateway, Interlok's consumer).
//! Through the API server's proxy to the Service's or pod's port, a GET sent over the run's `kubectl proxy`
//! (api_proxy.rs): it starts no process. Or at a URL: one the user gave, or a port-forward's, where there is
//! no proxy (Windows) or the API server cannot reach the pod (no Ready endpoint yet, or a cluster whose API
//! server has no route to its pods) — a port-forward then says why in kubectl's words, as before.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;

use crate::runner::Runner;
use crate::tools::kubectl::{escaped, Kubectl};

/// The most of an answer read (more is cut off: a server in the cluster answers what it likes).
pub(crate) const BODY_LIMIT: usize = 16 << 20;

#[derive(Clone)]
pub(crate) enum Reach {
    /// A base URL (`http://127.0.0.1:PORT`).
    Url(String),
    /// The API server's proxy to a Service's or pod's port.
    ApiServer { runner: Runner, proxy: Vec<String>, base: String, shown: String },
}

/// What a Service or pod port is, to the API server's proxy.
pub(crate) enum Port<'a> {
    Service { namespace: &'a str, name: &'a str, port: u16 },
    Pod { namespace: &'a str, name: &'a str, port: u16 },
}

impl Reach {
    /// The port through the API server, when the run has a proxy and what answers `first` there is the
    /// server behind the port (not the API server failing to reach it).
    pub(crate) fn through_api_server(
        runner: &Runner,
        kubectl: &Kubectl,
        port: Port,
        first: &str,
        timeout: Duration,
    ) -> Option<Reach> {
        let reach = Reach::api_server(runner, kubectl, port)?;
        reach.get(first, &[], timeout).ok().map(|_| reach)
    }

    /// The port through the API server (the proxy of `kubectl`), untried; None when the run reads the cluster
    /// through kubectl.
    pub(crate) fn api_server(runner: &Runner, kubectl: &Kubectl, port: Port) -> Option<Reach> {
        if !runner.reads_through_api() {
            return None;
        }
        let (kind, namespace, name, number) = match port {
            Port::Service { namespace, name, port } => ("services", namespace, name, port),
            Port::Pod { namespace, name, port } => ("pods", namespace, name, port),
        };
        let base = format!("/api/v1/namespaces/{}/{kind}/{}:{number}/proxy", escaped(namespace), escaped(name));
        let what = if kind == "services" { "Service" } else { "pod" };
        let shown = format!("{what} {name}:{number} in {namespace} (through the API server)");
        Some(Reach::ApiServer { runner: runner.clone(), proxy: kubectl.proxy(), base, shown })
    }

    /// GETs `path` with `query`: the status and body the server answered, or why it did not.
    pub(crate) fn get(&self, path: &str, query: &[(&str, &str)], timeout: Duration) -> Result<(u16, String), String> {
        match self {
            Reach::Url(base) => {
                let url = format!("{base}{path}");
                let client =
                    reqwest::blocking::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
                let response = client.get(&url).query(query).send().map_err(|e| format!("{url}: {e}"))?;
                let status = response.status().as_u16();
                let mut body = Vec::new();
                // one byte more than the limit, so that a reader can tell the answer was longer
                response.take(BODY_LIMIT as u64 + 1).read_to_end(&mut body).map_err(|e| format!("{url}: {e}"))?;
                Ok((status, String::from_utf8_lossy(&body).into_owned()))
            }
            Reach::ApiServer { runner, proxy, base, shown } => {
                let query: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", escaped(k), escaped(v))).collect();
                let path = if query.is_empty() {
                    format!("{base}{path}")
                } else {
                    format!("{base}{path}?{}", query.join("&"))
                };
                match runner.api_get(proxy, &path, timeout) {
                    None => Err(format!("{shown}: no answer")),
                    Some((status, body)) => match api_servers_own(status, &body) {
                        Some(message) => Err(format!("{shown}: {message}")),
                        None => Ok((status, body)),
                    },
                }
            }
        }
    }

    /// Where a path is, for messages.
    pub(crate) fn shown(&self, path: &str) -> String {
        match self {
            Reach::Url(base) => format!("{base}{path}"),
            Reach::ApiServer { shown, .. } => format!("{shown} {path}"),
        }
    }
}

/// The API server's own failure to reach the port (a Status: no endpoint, connection refused, not found),
/// as its message; None for the server's answer.
fn api_servers_own(status: u16, body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Status {
        kind: String,
        #[serde(default)]
        message: String,
    }
    if (200..300).contains(&status) {
        return None;
    }
    let status_object: Status = serde_json::from_str(body).ok()?;
    (status_object.kind == "Status").then(|| format!("the API server answered {status}: {}", status_object.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_status_that_is_not_success_is_the_api_servers_own_failure() {
        let no_endpoints = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"p\"","reason":"ServiceUnavailable","code":503}"#;
        assert_eq!(
            api_servers_own(503, no_endpoints).as_deref(),
            Some("the API server answered 503: no endpoints available for service \"p\"")
        );
        assert_eq!(api_servers_own(200, no_endpoints), None, "a success is the server's");
        let prometheus_error = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(api_servers_own(400, prometheus_error), None, "Prometheus's own error is its answer");
        assert_eq!(api_servers_own(503, "Service Unavailable"), None, "a plain-text answer is the server's");
    }
}
