//! A stand-in Interlok: an HTTP server whose `/in-box` answers 200 and counts, and a pusher that behaves as
//! Interlok's PrometheusMetricsAdapter does — POST to `/metrics/job/interlok/k8s_namespace/<ns>/k8s_pod_name/<pod>`
//! of the endpoint in `-DprometheusEndpointUrl` (host:port; client_java prepends `http://`), with the
//! labels from `K8S_NAMESPACE` / `K8S_POD_NAME` (defaults "default" / "interlok"), a per-window count.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::apiserver::ApiState;
use crate::http::{Reply, Response, Server};
use crate::kubelet::WorldKubelet;
use crate::store::{name_of, namespace_of};

#[derive(Debug, Clone)]
pub struct InterlokOptions {
    /// Exposition of the counter: simpleclient 0.6 (`MessageMetrics`) or 0.10+ (`MessageMetrics_total`).
    pub total_suffix: bool,
    pub push_interval: Duration,
    /// Interlok reports the messages of its newest ~10 s of time slices.
    pub window: Duration,
    pub metric: String,
}

impl Default for InterlokOptions {
    fn default() -> Self {
        InterlokOptions {
            total_suffix: false,
            push_interval: Duration::from_millis(500),
            window: Duration::from_secs(10),
            metric: "MessageMetrics".into(),
        }
    }
}

pub struct StandIn {
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    _server: Server,
    pub pushes: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    pub fn start(
        state: &Arc<ApiState>,
        pod: &Value,
        options: InterlokOptions,
        kubelet: Weak<WorldKubelet>,
    ) -> std::io::Result<StandIn> {
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let server = Server::start(Arc::new(move |request| {
            if request.path == "/in-box" {
                counter.fetch_add(1, Ordering::SeqCst);
                Reply::Full(Response::bytes(200, "text/plain", b"OK".to_vec()))
            } else {
                Reply::Full(Response::bytes(404, "text/plain", b"not found".to_vec()))
            }
        }))?;
        let env = environment(pod);
        let endpoint = env.get("JAVA_OPTS").and_then(|opts| system_property(opts, "prometheusEndpointUrl"));
        let namespace = env.get("K8S_NAMESPACE").cloned().unwrap_or_else(|| "default".into());
        let pod_name = env.get("K8S_POD_NAME").cloned().unwrap_or_else(|| "interlok".into());
        let stop = Arc::new(AtomicBool::new(false));
        let pushes = Arc::new(Mutex::new(Vec::new()));
        if let Some(endpoint) = endpoint {
            let pusher = Pusher {
                state: Arc::downgrade(state),
                kubelet,
                from_namespace: namespace_of(pod),
                endpoint,
                path: format!("/metrics/job/interlok/k8s_namespace/{namespace}/k8s_pod_name/{pod_name}"),
                options,
                hits: hits.clone(),
                stop: stop.clone(),
                pushes: pushes.clone(),
            };
            thread::spawn(move || pusher.run());
        }
        Ok(StandIn { addr: server.addr, hits, stop, _server: server, pushes })
    }

    pub fn requests(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The container environment with downward-API fields resolved.
pub fn environment(pod: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    for var in containers.iter().flat_map(|c| c["env"].as_array().cloned().unwrap_or_default()) {
        let Some(name) = var["name"].as_str() else {
            continue;
        };
        let value = if let Some(v) = var["value"].as_str() {
            v.to_string()
        } else {
            match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => name_of(pod),
                Some("metadata.namespace") => namespace_of(pod),
                Some("status.podIP") => pod["status"]["podIP"].as_str().unwrap_or_default().to_string(),
                _ => continue,
            }
        };
        env.insert(name.to_string(), value);
    }
    env
}

/// Reads `-Dname=value` out of a JAVA_OPTS string.
pub fn system_property(java_opts: &str, name: &str) -> Option<String> {
    let prefix = format!("-D{name}=");
    java_opts.split_whitespace().find_map(|word| word.strip_prefix(&prefix).map(String::from))
}

struct Pusher {
    state: Weak<ApiState>,
    kubelet: Weak<WorldKubelet>,
    from_namespace: String,
    endpoint: String,
    path: String,
    options: InterlokOptions,
    hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    pushes: Arc<Mutex<Vec<String>>>,
}

impl Pusher {
    /// Pushes the count of the last `window` every `push_interval`, from the first message on (before it,
    /// Interlok's calculator answers -1 and nothing is pushed).
    fn run(self) {
        let mut samples: std::collections::VecDeque<(std::time::Instant, u64)> = std::collections::VecDeque::new();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let _keep = tx;
        while !self.stop.load(Ordering::SeqCst) {
            let _ = rx.recv_timeout(self.options.push_interval); // the pusher's own fixed-delay schedule
            let now = std::time::Instant::now();
            let total = self.hits.load(Ordering::SeqCst);
            samples.push_back((now, total));
            while samples.len() > 1 && now.duration_since(samples[1].0) >= self.options.window {
                samples.pop_front();
            }
            if total == 0 {
                continue;
            }
            let oldest = if now.duration_since(samples[0].0) >= self.options.window { samples[0].1 } else { 0 };
            self.push(total - oldest);
        }
    }

    fn push(&self, value: u64) -> bool {
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        // client_java's PushGateway(String) prepends http://, so a value with a scheme never connects.
        if self.endpoint.contains("://") {
            return false;
        }
        let Some(kubelet) = self.kubelet.upgrade() else {
            return false;
        };
        let Ok(addr) = crate::dns::resolve(&state, &kubelet, &self.from_namespace, &self.endpoint) else {
            return false;
        };
        let metric = &self.options.metric;
        let body = if self.options.total_suffix {
            format!("# TYPE {metric}_total counter\n{metric}_total {value}.0\n# TYPE {metric}_created gauge\n{metric}_created 1.7E9\n")
        } else {
            format!("# TYPE {metric} counter\n{metric} {value}.0\n")
        };
        let url = format!("http://{addr}{}", self.path);
        let ok = ureq::post(&url).set("Content-Type", "text/plain; version=0.0.4").send_string(&body).is_ok();
        if ok {
            self.pushes.lock().expect("pushes").push(format!("{} {value}", self.path));
        }
        ok
    }
}
