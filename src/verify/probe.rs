//! What the checks share, looked up once: kubectl objects (cached by their command), the monitoring
//! Services, and the Prometheus and Pushgateway URLs — given with `--prometheus-url`/`--pushgateway-url`, or
//! reached through port-forwards the probe opens once and closes when it is dropped.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::context::Context;
use crate::manifests::Endpoints;
use crate::portforward::PortForward;
use crate::problem::Problem;

/// A lookup's result, filled once by whichever check asks first.
type Slot = std::sync::Arc<OnceLock<Result<Option<Value>, String>>>;

pub struct Probe<'a> {
    pub cx: &'a Context,
    prometheus_url: Option<String>,
    pushgateway_url: Option<String>,
    /// One slot per lookup: checks asking for the same object at once wait for the first to fetch it.
    cache: Mutex<HashMap<String, Slot>>,
    endpoints: OnceLock<Result<Endpoints, String>>,
    prometheus: OnceLock<Result<String, String>>,
    pushgateway: OnceLock<Result<String, String>>,
    forwards: Mutex<Vec<PortForward>>,
}

impl<'a> Probe<'a> {
    pub fn new(cx: &'a Context, prometheus_url: Option<String>, pushgateway_url: Option<String>) -> Probe<'a> {
        Probe {
            cx,
            prometheus_url,
            pushgateway_url,
            cache: Mutex::new(HashMap::new()),
            endpoints: OnceLock::new(),
            prometheus: OnceLock::new(),
            pushgateway: OnceLock::new(),
            forwards: Mutex::new(Vec::new()),
        }
    }

    fn cached(
        &self,
        key: String,
        fetch: impl FnOnce() -> Result<Option<Value>, String>,
    ) -> Result<Option<Value>, String> {
        let slot = self.cache.lock().expect("cache").entry(key).or_default().clone();
        slot.get_or_init(fetch).clone()
    }

    /// One object, or None when it does not exist.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        self.cached(format!("get {kind} {namespace} {name}"), || {
            crate::stages::get_object(self.cx, kind, namespace, name).map_err(|p| p.message)
        })
    }

    /// Objects of a kind, optionally by selector.
    pub fn list(&self, kind: &str, namespace: &str, selector: Option<&str>) -> Result<Vec<Value>, String> {
        let key = format!("list {kind} {namespace} {selector:?}");
        let value = self.cached(key, || {
            let cmd = self.cx.kubectl().list_json(namespace, kind, selector);
            let output = self.cx.runner.run(&cmd).map_err(|p| format!("{}: {}", p.message, p.output_text().trim()))?;
            serde_json::from_str::<Value>(&output.stdout)
                .map(Some)
                .map_err(|e| format!("kubectl printed something that is not JSON ({e})"))
        })?;
        Ok(value.and_then(|v| v["items"].as_array().cloned()).unwrap_or_default())
    }

    pub fn endpoints(&self) -> Result<Endpoints, String> {
        self.endpoints
            .get_or_init(|| {
                let services = self.list("services", &self.cx.settings.monitoring_namespace, None)?;
                crate::stages::find_endpoints(&services).ok_or_else(|| {
                    format!("no pushgateway Service in namespace {}", self.cx.settings.monitoring_namespace)
                })
            })
            .clone()
    }

    /// The Interlok pods that are Running.
    pub fn live_pods(&self) -> Result<Vec<String>, String> {
        let selector = format!("app={}", self.cx.settings.deployment);
        let pods = self.list("pods", &self.cx.settings.namespace, Some(&selector))?;
        Ok(pods
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect())
    }

    fn forward(&self, service: &str, port: u16) -> Result<String, String> {
        let forward = PortForward::open(self.cx, &self.cx.settings.monitoring_namespace, service, port)
            .map_err(|p: Problem| p.message)?;
        let url = forward.url("");
        self.forwards.lock().expect("forwards").push(forward);
        Ok(url)
    }

    /// Prometheus's base URL (given, or through a port-forward opened once).
    pub fn prometheus(&self) -> Result<String, String> {
        self.prometheus
            .get_or_init(|| match &self.prometheus_url {
                Some(url) => Ok(url.trim_end_matches('/').to_string()),
                None => {
                    let (service, port) = self.endpoints()?.prometheus;
                    self.forward(&service, port)
                }
            })
            .clone()
    }

    /// The Pushgateway's base URL (given, or through a port-forward opened once).
    pub fn pushgateway(&self) -> Result<String, String> {
        self.pushgateway
            .get_or_init(|| match &self.pushgateway_url {
                Some(url) => Ok(url.trim_end_matches('/').to_string()),
                None => {
                    let (service, port) = self.endpoints()?.pushgateway;
                    self.forward(&service, port)
                }
            })
            .clone()
    }

    /// Whether the URLs were given (then there may be no cluster to look at).
    pub fn has_direct_urls(&self) -> bool {
        self.prometheus_url.is_some()
    }
}
