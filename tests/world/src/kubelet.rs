//! The world's "node": when a pod starts, the images we can stand in for get a real listener — the real
//! Prometheus and Pushgateway for their images, a stand-in Interlok per Interlok pod, or any local server a
//! test names — and port-forward reaches them through `port_target`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;

use crate::admission::Verdict;
use crate::apiserver::{ApiState, Extensions};
use crate::controllers::Kubelet;
use crate::http::{Request, Response};
use crate::interlok::{InterlokOptions, StandIn};
use crate::store::{name_of, namespace_of};

type PodKey = (String, String);

#[derive(Default)]
pub struct WorldKubelet {
    /// Image substring → where pods of that image listen, per container port.
    pub images: Mutex<Vec<(String, HashMap<u16, SocketAddr>)>>,
    targets: Mutex<HashMap<PodKey, HashMap<u16, SocketAddr>>>,
    interloks: Mutex<HashMap<PodKey, StandIn>>,
    pub interlok: Mutex<InterlokOptions>,
    pub adapter: crate::adapter::AdapterEmulation,
    pub keda: crate::keda::KedaEmulation,
    pub state: Mutex<Weak<ApiState>>,
    pub me: Mutex<Weak<WorldKubelet>>,
}

impl WorldKubelet {
    pub fn serve_image(&self, image: &str, ports: HashMap<u16, SocketAddr>) {
        self.images.lock().expect("images").push((image.to_string(), ports));
    }

    pub fn interlok_pods(&self) -> Vec<(String, String, u64)> {
        self.interloks
            .lock()
            .expect("interloks")
            .iter()
            .map(|((ns, n), s)| (ns.clone(), n.clone(), s.requests()))
            .collect()
    }

    fn state(&self) -> Option<Arc<ApiState>> {
        self.state.lock().expect("state").upgrade()
    }

    pub fn stop_all(&self) {
        self.interloks.lock().expect("interloks").clear();
    }
}

fn images_of(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["image"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

impl Kubelet for WorldKubelet {
    fn pod_started(&self, pod: &Value) {
        let key = (namespace_of(pod), name_of(pod));
        let images = images_of(pod);
        let mut ports = HashMap::new();
        for (pattern, mapping) in self.images.lock().expect("images").iter() {
            if images.iter().any(|i| i.contains(pattern.as_str())) {
                ports.extend(mapping.clone());
            }
        }
        if images.iter().any(|i| i.contains("interlok")) {
            if let Some(state) = self.state() {
                let options = self.interlok.lock().expect("options").clone();
                let me = self.me.lock().expect("me").clone();
                if let Ok(standin) = StandIn::start(&state, pod, options, me) {
                    ports.insert(8080, standin.addr);
                    self.interloks.lock().expect("interloks").insert(key.clone(), standin);
                }
            }
        }
        self.targets.lock().expect("targets").insert(key, ports);
    }

    fn pod_stopped(&self, pod: &Value) {
        let key = (namespace_of(pod), name_of(pod));
        self.targets.lock().expect("targets").remove(&key);
        self.interloks.lock().expect("interloks").remove(&key);
    }

    fn pod_metrics(&self, namespace: &str, metric: &str, pods: &[String]) -> Option<HashMap<String, f64>> {
        let state = self.state()?;
        self.adapter.pod_values(&state, self, namespace, metric, pods).ok()
    }

    fn run_operators(&self, state: &ApiState) -> Option<std::time::Instant> {
        self.keda.reconcile(state, self)
    }
}

impl WorldKubelet {
    /// Where a pod's port listens, as seen from inside the cluster.
    pub fn target(&self, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.targets.lock().expect("targets").get(&(namespace.to_string(), pod.to_string()))?.get(&port).copied()
    }
}

/// The world's API-server extensions, backed by the kubelet and the adapter emulation.
pub struct WorldExtensions(pub Arc<WorldKubelet>);

impl Extensions for WorldExtensions {
    fn apiservice_available(&self, state: &ApiState, apiservice: &Value, counted: bool) -> Result<(), String> {
        match apiservice["spec"]["group"].as_str() {
            Some("external.metrics.k8s.io") => crate::adapter::backing_service_ready(state, apiservice),
            _ => self.0.adapter.apiservice_available(state, apiservice, counted),
        }
    }

    fn aggregated(&self, state: &ApiState, request: &Request) -> Response {
        if request.path.starts_with("/apis/external.metrics.k8s.io/") {
            return crate::keda::metrics::serve(state, &self.0, request);
        }
        self.0.adapter.serve(state, &self.0, request)
    }

    fn webhook(&self, state: &ApiState, pod: &Value, path: &str, request: &Value) -> Verdict {
        if crate::keda::runs(pod, crate::keda::WEBHOOKS_IMAGE) {
            return crate::keda::webhook::review(state, path, request);
        }
        Verdict::Unreachable
    }

    fn port_target(&self, _state: &ApiState, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.0.target(namespace, pod, port)
    }
}
