//! The world's "node": it decides what a pod does from its spec, as a kubelet and container runtime would.
//! Volumes mount first (a missing ConfigMap or Secret keeps the pod ContainerCreating); then each image is
//! looked up in the catalogue (`images`: an unknown name cannot be pulled); an Interlok image boots from its
//! own files overlaid by what the pod mounts (a whole folder hides the image's folder; `subPath` replaces one
//! file). Running pods get real listeners — the real Prometheus and Pushgateway for their images, a stand-in
//! Interlok per Interlok container, or any local server a test names — reached by port-forward and cluster
//! DNS through `target`; what they print is served as the pod's log.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;

use crate::admission;
use crate::apiserver::{ApiState, Extensions};
use crate::controllers::{Kubelet, Verdict};
use crate::http::{Request, Response};
use crate::images::{self, Catalogue, Image, Program};
use crate::interlok::{self, InterlokOptions, LogSink, StandIn};
use crate::store::{name_of, namespace_of};

type PodKey = (String, String);
type Env = BTreeMap<String, String>;

/// A container's output: the current run's, and the previous run's when it restarted.
#[derive(Default)]
struct ContainerLog {
    current: LogSink,
    previous: Option<String>,
}

/// A pod's containers' output and Interlok counters, carried into a world started from a snapshot.
#[derive(Clone, Debug)]
pub struct CarriedPod {
    key: PodKey,
    /// (container, what it printed, what its previous run printed)
    logs: Vec<(String, String, Option<String>)>,
    counters: Option<Vec<u64>>,
}

#[derive(Default)]
pub struct WorldKubelet {
    /// What each image holds; tests add their own through the world builder.
    pub catalogue: Mutex<Catalogue>,
    /// Image substring → where pods of that image listen, per container port.
    pub images: Mutex<Vec<(String, HashMap<u16, SocketAddr>)>>,
    targets: Mutex<HashMap<PodKey, HashMap<u16, SocketAddr>>>,
    interloks: Mutex<HashMap<PodKey, StandIn>>,
    logs: Mutex<HashMap<PodKey, HashMap<String, ContainerLog>>>,
    pub interlok: Mutex<InterlokOptions>,
    pub adapter: crate::adapter::AdapterEmulation,
    pub keda: crate::keda::KedaEmulation,
    pub state: Mutex<Weak<ApiState>>,
    pub me: Mutex<Weak<WorldKubelet>>,
    /// The real Prometheus's view of the cluster, when the world runs one.
    pub discovery: Mutex<Option<Arc<crate::scrape::Discovery>>>,
}

impl WorldKubelet {
    pub fn serve_image(&self, image: &str, ports: HashMap<u16, SocketAddr>) {
        self.images.lock().expect("images").push((image.to_string(), ports));
    }

    /// (namespace, pod, messages its workflows consumed) for each running Interlok.
    pub fn interlok_pods(&self) -> Vec<(String, String, u64)> {
        self.interloks
            .lock()
            .expect("interloks")
            .iter()
            .map(|((ns, n), s)| (ns.clone(), n.clone(), s.requests()))
            .collect()
    }

    /// Each successful push of a running Interlok ("<grouping path> <metric> <value>").
    pub fn interlok_pushes(&self, namespace: &str, pod: &str) -> Vec<String> {
        let interloks = self.interloks.lock().expect("interloks");
        interloks
            .get(&(namespace.to_string(), pod.to_string()))
            .map(|s| s.pushes.lock().expect("pushes").clone())
            .unwrap_or_default()
    }

    fn state(&self) -> Option<Arc<ApiState>> {
        self.state.lock().expect("state").upgrade()
    }

    pub fn stop_all(&self) {
        self.interloks.lock().expect("interloks").clear();
    }

    /// The image a reference names, if it exists: the catalogue's, or one a test serves.
    fn image(&self, reference: &str) -> Option<Image> {
        if let Some(image) = self.catalogue.lock().expect("catalogue").find(reference) {
            return Some(image.clone());
        }
        let served =
            self.images.lock().expect("images").iter().any(|(pattern, _)| reference.contains(pattern.as_str()));
        served.then(|| Image::other(&[]))
    }

    /// Boots the pod's first Interlok container, if it has one: (container, its environment, boot or crash
    /// output).
    fn boot_interlok(&self, state: &ApiState, pod: &Value) -> Option<(String, Env, Result<interlok::Boot, String>)> {
        containers(pod).into_iter().find_map(|container| {
            let image = self.image(container["image"].as_str()?)?;
            let Program::Interlok { version, pusher } = &image.program else { return None };
            let files = mounted_files(state, pod, &container, image.files.clone());
            let env = environment(state, pod, &container);
            let name = container["name"].as_str().unwrap_or_default().to_string();
            let booted = interlok::boot(version, *pusher, &files, &env);
            Some((name, env, booted))
        })
    }

    fn log_sink(&self, key: &PodKey, container: &str) -> LogSink {
        let mut logs = self.logs.lock().expect("logs");
        logs.entry(key.clone()).or_default().entry(container.to_string()).or_default().current.clone()
    }

    /// Adds lines to what a container printed (a test's stand-in for lines the real program prints, e.g.
    /// Interlok logging a message's metadata at DEBUG).
    pub fn append_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        let sink = self.log_sink(&(namespace.to_string(), pod.to_string()), container);
        sink.lock().expect("log").push_str(text);
    }

    /// What `kubectl logs` shows for a container (Err: the API server's message).
    pub fn pod_log(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Result<String, String> {
        let logs = self.logs.lock().expect("logs");
        let log = logs.get(&(namespace.to_string(), pod.to_string())).and_then(|p| p.get(container));
        match (log, previous) {
            (Some(ContainerLog { previous: Some(text), .. }), true) => Ok(text.clone()),
            (_, true) => Err(format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")),
            (Some(log), false) => Ok(log.current.lock().expect("log").clone()),
            (None, false) => Ok(String::new()),
        }
    }

    /// What each pod's containers printed and, for an Interlok, what its workflows consumed: what a world
    /// started from a snapshot carries over (see `snapshot`).
    pub fn carry(&self) -> Vec<CarriedPod> {
        let logs = self.logs.lock().expect("logs");
        let interloks = self.interloks.lock().expect("interloks");
        let keys: std::collections::BTreeSet<&PodKey> = logs.keys().chain(interloks.keys()).collect();
        keys.into_iter()
            .map(|key| CarriedPod {
                key: key.clone(),
                logs: logs
                    .get(key)
                    .into_iter()
                    .flatten()
                    .map(|(c, l)| (c.clone(), l.current.lock().expect("log").clone(), l.previous.clone()))
                    .collect(),
                counters: interloks.get(key).map(StandIn::counters),
            })
            .collect()
    }

    /// Gives restarted pods what `carry` took from their namesakes.
    pub fn resume(&self, pods: &[CarriedPod]) {
        for pod in pods {
            for (container, current, previous) in &pod.logs {
                *self.log_sink(&pod.key, container).lock().expect("log") = current.clone();
                let mut logs = self.logs.lock().expect("logs");
                if let Some(log) = logs.get_mut(&pod.key).and_then(|p| p.get_mut(container)) {
                    log.previous.clone_from(previous);
                }
            }
            if let (Some(counters), Some(standin)) =
                (&pod.counters, self.interloks.lock().expect("interloks").get(&pod.key))
            {
                standin.resume(counters);
            }
        }
    }

    /// Where a pod's port listens, as seen from inside the cluster.
    pub fn target(&self, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.targets.lock().expect("targets").get(&(namespace.to_string(), pod.to_string()))?.get(&port).copied()
    }
}

fn containers(pod: &Value) -> Vec<Value> {
    pod["spec"]["containers"].as_array().cloned().unwrap_or_default()
}

impl Kubelet for WorldKubelet {
    fn admit(&self, pod: &Value) -> Verdict {
        let Some(state) = self.state() else { return Verdict::Runs };
        if let Err(message) = mount_check(&state, pod) {
            return Verdict::MountFails { message };
        }
        for container in containers(pod) {
            let image = container["image"].as_str().unwrap_or_default();
            if self.image(image).is_none() {
                return Verdict::PullFails { image: image.to_string(), error: images::pull_error(image) };
            }
        }
        if let Some((container, _, Err(output))) = self.boot_interlok(&state, pod) {
            let key = (namespace_of(pod), name_of(pod));
            let log = ContainerLog { current: Arc::new(Mutex::new(output.clone())), previous: Some(output) };
            self.logs.lock().expect("logs").entry(key).or_default().insert(container.clone(), log);
            return Verdict::Crashes { container };
        }
        Verdict::Runs
    }

    fn pod_started(&self, pod: &Value) {
        let key = (namespace_of(pod), name_of(pod));
        let images: Vec<String> =
            containers(pod).iter().filter_map(|c| c["image"].as_str().map(String::from)).collect();
        let mut ports = HashMap::new();
        for (pattern, mapping) in self.images.lock().expect("images").iter() {
            if images.iter().any(|i| i.contains(pattern.as_str())) {
                ports.extend(mapping.clone());
            }
        }
        if let Some(state) = self.state() {
            if let Some((container, env, Ok(boot))) = self.boot_interlok(&state, pod) {
                let log = self.log_sink(&key, &container);
                *log.lock().expect("log") = boot.log.clone();
                // the pusher's labels: env K8S_NAMESPACE / K8S_POD_NAME, else Interlok's defaults
                let labels = (
                    env.get("K8S_NAMESPACE").cloned().unwrap_or_else(|| "default".into()),
                    env.get("K8S_POD_NAME").cloned().unwrap_or_else(|| "interlok".into()),
                );
                let context = interlok::PodContext {
                    state: Arc::downgrade(&state),
                    kubelet: self.me.lock().expect("me").clone(),
                    namespace: key.0.clone(),
                    log,
                };
                let options = self.interlok.lock().expect("options").clone();
                if let Ok(standin) = StandIn::start(context, &boot, labels, options) {
                    if let Some(addr) = standin.addr {
                        ports.insert(8080, addr);
                    }
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
        self.logs.lock().expect("logs").remove(&key);
    }

    fn pod_metrics(&self, namespace: &str, metric: &str, pods: &[String]) -> Option<HashMap<String, f64>> {
        let state = self.state()?;
        self.adapter.pod_values(&state, self, namespace, metric, pods).ok()
    }

    fn run_operators(&self, state: &ApiState) -> Option<std::time::Instant> {
        self.keda.reconcile(state, self)
    }

    fn observe(&self, state: &ApiState) {
        let discovery = self.discovery.lock().expect("discovery").clone();
        if let Some(discovery) = discovery {
            discovery.sync(state, self);
        }
    }
}

/// Every ConfigMap and Secret volume must exist (unless optional) before any container starts.
fn mount_check(state: &ApiState, pod: &Value) -> Result<(), String> {
    let namespace = namespace_of(pod);
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let volume_name = volume["name"].as_str().unwrap_or_default();
        for (field, name_field, kind, resource) in
            [("configMap", "name", "configmap", "/configmaps"), ("secret", "secretName", "secret", "/secrets")]
        {
            let source = &volume[field];
            let Some(name) = source[name_field].as_str() else { continue };
            if source["optional"] != true && state.store.get(resource, &namespace, name).is_none() {
                return Err(format!(
                    "MountVolume.SetUp failed for volume \"{volume_name}\" : {kind} \"{name}\" not found"
                ));
            }
        }
    }
    Ok(())
}

/// The files a container sees: the image's, overlaid by its ConfigMap mounts (a whole-folder mount hides
/// what the image had in that folder; a `subPath` mount replaces one file).
pub fn mounted_files(
    state: &ApiState,
    pod: &Value,
    container: &Value,
    mut files: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let namespace = namespace_of(pod);
    let volumes = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let Some(volume) = volumes.iter().find(|v| v["name"] == mount["name"]) else { continue };
        let Some(name) = volume["configMap"]["name"].as_str() else { continue };
        let data = state.store.get("/configmaps", &namespace, name).map(|c| c["data"].clone()).unwrap_or_default();
        // the volume's files: every key, or only the listed items at their paths
        let in_volume: BTreeMap<String, String> = match volume["configMap"]["items"].as_array() {
            Some(items) => items
                .iter()
                .filter_map(|i| Some((i["path"].as_str()?.to_string(), data[i["key"].as_str()?].as_str()?.to_string())))
                .collect(),
            None => data
                .as_object()
                .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                .unwrap_or_default(),
        };
        let Some(mount_path) = mount["mountPath"].as_str().map(|p| p.trim_end_matches('/').to_string()) else {
            continue;
        };
        match mount["subPath"].as_str().filter(|s| !s.is_empty()) {
            Some(sub_path) => {
                if let Some(content) = in_volume.get(sub_path) {
                    files.insert(mount_path, content.clone());
                }
            }
            None => {
                files.retain(|path, _| !path.starts_with(&format!("{mount_path}/")));
                for (path, content) in in_volume {
                    files.insert(format!("{mount_path}/{path}"), content);
                }
            }
        }
    }
    files
}

/// A container's environment with downward-API fields and ConfigMap keys resolved.
pub fn environment(state: &ApiState, pod: &Value, container: &Value) -> Env {
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let Some(name) = var["name"].as_str() else { continue };
        let from = &var["valueFrom"];
        let value = if let Some(v) = var["value"].as_str() {
            v.to_string()
        } else if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.name" => name_of(pod),
                "metadata.namespace" => namespace_of(pod),
                "status.podIP" => pod["status"]["podIP"].as_str().unwrap_or_default().to_string(),
                _ => continue,
            }
        } else if let Some(key) = from["configMapKeyRef"]["key"].as_str() {
            let map = from["configMapKeyRef"]["name"].as_str().unwrap_or_default();
            let Some(configmap) = state.store.get("/configmaps", &namespace_of(pod), map) else { continue };
            let Some(value) = configmap["data"][key].as_str() else { continue };
            value.to_string()
        } else {
            continue;
        };
        env.insert(name.to_string(), value);
    }
    env
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

    fn webhook(&self, state: &ApiState, pod: &Value, path: &str, request: &Value) -> admission::Verdict {
        if crate::keda::runs(pod, crate::keda::WEBHOOKS_IMAGE) {
            return crate::keda::webhook::review(state, path, request);
        }
        admission::Verdict::Unreachable
    }

    fn port_target(&self, _state: &ApiState, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.0.target(namespace, pod, port)
    }

    fn pod_log(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Result<String, String> {
        self.0.pod_log(namespace, pod, container, previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(mounts: Value, volume: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default"},
               "spec": {"volumes": [volume], "containers": [{"name": "interlok", "volumeMounts": mounts}]}})
    }

    #[test]
    fn a_folder_mount_hides_the_images_folder_and_a_sub_path_mount_replaces_one_file() {
        let state = ApiState::new("v1.33.1");
        let data = json!({"adapter.xml": "<adapter/>", "extra.properties": "a=1"});
        let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": data});
        state.store.create("/configmaps", configmap).expect("configmap");
        let image = Image::guide().files;
        let volume = json!({"name": "config", "configMap": {"name": "cfg"}});

        let folder = pod(json!([{"name": "config", "mountPath": "/opt/interlok/config/"}]), volume.clone());
        let files = mounted_files(&state, &folder, &folder["spec"]["containers"][0], image.clone());
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(names, ["/opt/interlok/config/adapter.xml", "/opt/interlok/config/extra.properties"]);

        let one = pod(
            json!([{"name": "config", "mountPath": "/opt/interlok/config/adapter.xml", "subPath": "adapter.xml"}]),
            volume,
        );
        let files = mounted_files(&state, &one, &one["spec"]["containers"][0], image.clone());
        assert_eq!(files["/opt/interlok/config/adapter.xml"], "<adapter/>");
        assert_eq!(
            files["/opt/interlok/config/bootstrap.properties"],
            image["/opt/interlok/config/bootstrap.properties"]
        );

        let items = json!({"name": "config", "configMap": {"name": "cfg", "items": [{"key": "adapter.xml", "path": "my.xml"}]}});
        let listed = pod(json!([{"name": "config", "mountPath": "/opt/interlok/config"}]), items);
        let files = mounted_files(&state, &listed, &listed["spec"]["containers"][0], image);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["/opt/interlok/config/my.xml"]);
    }

    #[test]
    fn a_missing_config_map_fails_the_mount_unless_optional() {
        let state = ApiState::new("v1.33.1");
        let missing = pod(json!([]), json!({"name": "config", "configMap": {"name": "nope"}}));
        assert_eq!(
            mount_check(&state, &missing),
            Err("MountVolume.SetUp failed for volume \"config\" : configmap \"nope\" not found".into())
        );
        let optional = pod(json!([]), json!({"name": "config", "configMap": {"name": "nope", "optional": true}}));
        assert_eq!(mount_check(&state, &optional), Ok(()));
    }
}
