//! One builder for tests: a workstation (platform, tools and their versions, a cluster in some state), the
//! fakes and the real binaries first on PATH, and assertions on output, exit code, the invocation log and
//! the API server's objects. Everything it starts stops when the `World` drops, also when a test fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use crate::adapter::Availability;
use crate::apiserver::{self, ApiFault, ApiState, RequestRecord};
use crate::charts::ChartRepo;
use crate::components;
use crate::controllers::{Behaviour, Controllers, PodFailure};
use crate::fakeconfig::{self, FakeConfig, Invocation, MinikubeConfig, ToolFault, WindowsConfig};
use crate::http::{Reply, Response, Server};
use crate::images::Image;
use crate::interlok::InterlokOptions;
use crate::kubelet::{WorldExtensions, WorldKubelet};
use crate::prom::{PromOptions, PromStack};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    Running,
    Stopped,
    Nonexistent,
}

pub struct WorldBuilder {
    server_version: String,
    kubectl: Option<String>,
    helm: Option<u32>,
    minikube: Option<String>,
    cluster: ClusterState,
    windows: Option<WindowsConfig>,
    prometheus: Option<PromOptions>,
    charts: bool,
    behaviour: Behaviour,
    interlok: InterlokOptions,
    images: Vec<(String, Image)>,
    shadow_kubectl: Option<String>,
    context: String,
    helm_on_path: bool,
    latencies: Vec<crate::fakeconfig::ToolLatency>,
    paces: Vec<crate::fakeconfig::ToolPace>,
    keda_polling: Option<Duration>,
    snapshot: Option<crate::snapshot::Snapshot>,
}

impl Default for WorldBuilder {
    fn default() -> Self {
        WorldBuilder {
            server_version: "v1.33.1".into(),
            kubectl: Some("1.33".into()),
            helm: Some(4),
            minikube: Some("v1.38.1".into()),
            cluster: ClusterState::Running,
            windows: None,
            prometheus: None,
            charts: false,
            behaviour: Behaviour::default(),
            interlok: InterlokOptions::default(),
            images: Vec::new(),
            shadow_kubectl: None,
            context: "minikube".into(),
            helm_on_path: true,
            latencies: Vec::new(),
            paces: Vec::new(),
            keda_polling: None,
            snapshot: None,
        }
    }
}

impl WorldBuilder {
    pub fn server_version(mut self, version: &str) -> Self {
        self.server_version = version.into();
        self
    }
    pub fn kubectl(mut self, minor: &str) -> Self {
        self.kubectl = Some(minor.into());
        self
    }
    pub fn without_kubectl(mut self) -> Self {
        self.kubectl = None;
        self
    }
    /// 3 or 4 run the real helm; 2 runs the Helm 2 fake.
    pub fn helm(mut self, major: u32) -> Self {
        self.helm = Some(major);
        self
    }
    pub fn without_helm(mut self) -> Self {
        self.helm = None;
        self
    }
    /// Helm is not on PATH, but `choco install kubernetes-helm` would bring this major version.
    pub fn helm_installable(mut self, major: u32) -> Self {
        self.helm = Some(major);
        self.helm_on_path = false;
        self
    }
    pub fn minikube(mut self, version: &str) -> Self {
        self.minikube = Some(version.into());
        self
    }
    pub fn without_minikube(mut self) -> Self {
        self.minikube = None;
        self
    }
    pub fn cluster(mut self, state: ClusterState) -> Self {
        self.cluster = state;
        self
    }
    pub fn windows(mut self, config: WindowsConfig) -> Self {
        self.windows = Some(config);
        self
    }
    pub fn with_prometheus(mut self, options: PromOptions) -> Self {
        self.prometheus = Some(options);
        self
    }
    pub fn with_charts(mut self) -> Self {
        self.charts = true;
        self
    }
    pub fn rollout_latency(mut self, latency: Duration) -> Self {
        self.behaviour.rollout_latency = latency;
        self
    }
    /// Matching tool invocations take this long (emulated cluster and network time).
    pub fn latency(mut self, tool: &str, args_contain: &[&str], time: Duration) -> Self {
        self.latencies.push(crate::fakeconfig::ToolLatency {
            tool: tool.into(),
            args_contain: args_contain.iter().map(|s| s.to_string()).collect(),
            millis: time.as_millis() as u64,
        });
        self
    }
    /// Matching tool invocations print their progress lines this far apart, as the real tool does over a
    /// slow start (`minikube start` on a real Hyper-V machine takes minutes); each printed line is logged
    /// with its time (`World::printed`).
    pub fn pace(mut self, tool: &str, args_contain: &[&str], every: Duration) -> Self {
        self.paces.push(crate::fakeconfig::ToolPace {
            tool: tool.into(),
            args_contain: args_contain.iter().map(|s| s.to_string()).collect(),
            every_millis: every.as_millis() as u64,
        });
        self
    }
    /// Pods of images matching this take this long to start (a large image's pull).
    pub fn image_latency(mut self, image: &str, time: Duration) -> Self {
        self.behaviour.image_latencies.push((image.into(), time));
        self
    }
    /// Puts an old kubectl (Docker Desktop's) ahead of the real one on PATH.
    pub fn shadowing_kubectl(mut self, version: &str) -> Self {
        self.shadow_kubectl = Some(version.into());
        self
    }
    /// The kube context's name in the kubeconfig (minikube's is "minikube").
    pub fn context(mut self, name: &str) -> Self {
        self.context = name.into();
        self
    }
    /// The stand-in Interlok's time scale (push interval, counting window).
    pub fn interlok(mut self, options: InterlokOptions) -> Self {
        self.interlok = options;
        self
    }
    /// Adds an image to the catalogue (any tag of `repository`), or replaces what the catalogue says of it.
    pub fn image(mut self, repository: &str, image: Image) -> Self {
        self.images.push((repository.into(), image));
        self
    }
    /// KEDA polls every ScaledObject's triggers this often instead of its `pollingInterval` (30 s by default).
    pub fn keda_polling(mut self, interval: Duration) -> Self {
        self.keda_polling = Some(interval);
        self
    }

    /// Starts the world, or returns None (a loud skip, or a failure under CI) when a real component is missing.
    /// Starts in the state another world was in when the snapshot was taken (`snapshot`): build this one
    /// the same way.
    pub fn from_snapshot(mut self, snapshot: &crate::snapshot::Snapshot) -> Self {
        self.snapshot = Some(snapshot.clone());
        self
    }

    pub fn start(self) -> Option<World> {
        World::start(self)
    }
}

struct Cluster {
    server: Option<Server>,
    port: u16,
    state: ClusterState,
}

pub struct World {
    pub dir: PathBuf,
    pub state: Arc<ApiState>,
    pub kubelet: Arc<WorldKubelet>,
    pub controllers: Arc<Controllers>,
    pub prom: Option<PromStack>,
    pub charts: Option<ChartRepo>,
    cluster: Arc<Mutex<Cluster>>,
    context: String,
    shadowed: bool,
    _control: Server,
    controller_thread: Option<JoinHandle<()>>,
    config: Mutex<FakeConfig>,
}

static NEXT_WORLD: AtomicU64 = AtomicU64::new(0);

/// Where worlds are made: `TESTWORLD_TMPDIR` if set, else a memory file system when the machine has one
/// (`/dev/shm`), else the temporary folder. A world's tools write thousands of small files (kubectl's
/// discovery cache, Helm's, Prometheus's blocks) that nobody needs once its test ends: on a disk file system
/// creating and deleting them is a sizeable share of the suite's CPU.
fn scratch() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESTWORLD_TMPDIR") {
        return PathBuf::from(dir);
    }
    // a container's /dev/shm may be as small as 64 MiB: sixteen worlds at once need room
    const ROOM: u64 = 1 << 30;
    let shm = PathBuf::from("/dev/shm");
    let writable = std::fs::metadata(&shm).is_ok_and(|m| m.is_dir() && !m.permissions().readonly());
    #[allow(clippy::unnecessary_cast)] // the block count is 32 bits wide on some systems
    let room = nix::sys::statvfs::statvfs(&shm)
        .is_ok_and(|fs| (fs.blocks_available() as u64).saturating_mul(fs.fragment_size() as u64) >= ROOM);
    if writable && room {
        shm
    } else {
        std::env::temp_dir()
    }
}

impl World {
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    fn start(b: WorldBuilder) -> Option<World> {
        let mut real = std::collections::BTreeMap::new();
        if let Some(minor) = &b.kubectl {
            real.insert(
                "kubectl".into(),
                components::require(&format!("kubectl {minor}"), components::kubectl(minor))?,
            );
        }
        // `minikube kubectl --` fetches a kubectl of the cluster's own version
        if let Some(matching) = crate::version_minor(&b.server_version).and_then(|m| components::kubectl(&m)) {
            real.insert("minikube-kubectl".into(), matching);
        }
        match b.helm {
            Some(major @ (3 | 4)) => {
                real.insert("helm".into(), components::require(&format!("helm v{major}"), components::helm(major))?);
            }
            // the Helm 2 fake renders charts with the real Helm 3
            Some(2) => {
                real.insert("helm3-renderer".into(), components::require("helm v3", components::helm(3))?);
            }
            _ => {}
        }
        let dir =
            scratch().join(format!("testworld-{}-{}", std::process::id(), NEXT_WORLD.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["bin", "docker-bin", "home", "kcache", "helm/cache", "helm/config", "helm/data", "config", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("world dir");
        }
        // Which test made this world: read when a kept world (TESTWORLD_KEEP) is looked at afterwards.
        let _ = std::fs::write(dir.join("test"), std::thread::current().name().unwrap_or("?"));
        let state = ApiState::new(&b.server_version);
        let kubelet = Arc::new(WorldKubelet::default());
        *kubelet.state.lock().expect("state") = Arc::downgrade(&state);
        *kubelet.me.lock().expect("me") = Arc::downgrade(&kubelet);
        *kubelet.interlok.lock().expect("interlok") = b.interlok.clone();
        for (repository, image) in &b.images {
            kubelet.catalogue.lock().expect("catalogue").register(repository, image.clone());
        }
        *kubelet.keda.polling.lock().expect("polling") = b.keda_polling;
        *state.ext.write().expect("ext") = Some(Arc::new(WorldExtensions(kubelet.clone())));
        let (controllers, controller_thread) = Controllers::start(state.clone(), kubelet.clone(), b.behaviour.clone());

        let cluster = Arc::new(Mutex::new(Cluster {
            server: None,
            port: crate::prom::free_port(),
            state: ClusterState::Nonexistent,
        }));
        let control = control_server(state.clone(), cluster.clone(), dir.clone());
        let prom = match b.prometheus {
            Some(options) => Some(PromStack::start(&dir.join("prometheus"), options)?),
            None => None,
        };
        if let Some(prom) = &prom {
            kubelet.serve_image(crate::prom::PROMETHEUS_IMAGE, HashMap::from([(9090, prom.prometheus)]));
            kubelet.serve_image(crate::prom::PUSHGATEWAY_IMAGE, HashMap::from([(9091, prom.pushgateway)]));
            *kubelet.discovery.lock().expect("discovery") = Some(prom.discovery.clone());
        }
        let config = FakeConfig {
            real,
            faults: Vec::new(),
            minikube: b
                .minikube
                .clone()
                .map(|version| MinikubeConfig { version, kubernetes_version: b.server_version.clone() }),
            windows: b.windows.clone(),
            control: control.url(),
            shadow_kubectl: b.shadow_kubectl.clone(),
            latencies: b.latencies.clone(),
            paces: b.paces.clone(),
        };
        let world = World {
            dir,
            state,
            kubelet,
            controllers,
            prom,
            charts: b.charts.then(ChartRepo::start),
            cluster,
            context: b.context.clone(),
            shadowed: b.shadow_kubectl.is_some(),
            _control: control,
            controller_thread: Some(controller_thread),
            config: Mutex::new(config),
        };
        world.write_config();
        world.install_tools(&b);
        if b.cluster != ClusterState::Nonexistent {
            set_cluster(&world.state, &world.cluster, &world.dir, &world.context, ClusterState::Running);
            if b.cluster == ClusterState::Stopped {
                set_cluster(&world.state, &world.cluster, &world.dir, &world.context, ClusterState::Stopped);
            }
        }
        if let Some(snapshot) = &b.snapshot {
            world.restore(snapshot);
        }
        Some(world)
    }

    fn install_tools(&self, b: &WorldBuilder) {
        let fake = components::fake_binary();
        let mut tools: Vec<&str> = Vec::new();
        if b.kubectl.is_some() {
            tools.push("kubectl");
        }
        if b.helm.is_some() && b.helm_on_path {
            tools.push("helm");
        }
        if b.minikube.is_some() {
            tools.push("minikube");
        }
        if let Some(windows) = &b.windows {
            tools.extend(["powershell", "pwsh"]);
            if windows.choco_installed {
                tools.push("choco");
            }
        }
        for tool in tools {
            self.add_tool(tool, &fake);
        }
        if b.shadow_kubectl.is_some() {
            std::os::unix::fs::symlink(&fake, self.dir.join("docker-bin/kubectl")).expect("docker kubectl");
        }
    }

    /// Brings the cluster to a state as minikube would (the API server up and the kubeconfig written, or down).
    pub(crate) fn set_cluster(&self, to: ClusterState) {
        if self.cluster_state() == to {
            return;
        }
        if to == ClusterState::Stopped {
            set_cluster(&self.state, &self.cluster, &self.dir, &self.context, ClusterState::Running);
        }
        set_cluster(&self.state, &self.cluster, &self.dir, &self.context, to);
    }

    /// Puts `name` (played by `program`) in the world's bin directory.
    pub fn add_tool(&self, name: &str, program: &Path) {
        let link = self.dir.join("bin").join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(program, link).expect("tool link");
    }

    pub fn remove_tool(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir.join("bin").join(name));
    }

    fn write_config(&self) {
        let config = self.config.lock().expect("config").clone();
        let text = serde_json::to_string_pretty(&config).expect("config json");
        let tmp = self.dir.join("world.json.tmp");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(tmp, fakeconfig::config_path(&self.dir)).expect("rename config");
    }

    /// Makes a tool invocation fail (see `Effect`); `first` limits it to the first N matching calls.
    pub fn fault(&self, tool: &str, args_contain: &[&str], effect: fakeconfig::Effect, first: Option<u32>) {
        let fault = ToolFault {
            tool: tool.into(),
            args_contain: args_contain.iter().map(|s| s.to_string()).collect(),
            effect,
            first,
        };
        self.config.lock().expect("config").faults.push(fault);
        self.write_config();
    }

    pub fn clear_faults(&self) {
        self.config.lock().expect("config").faults.clear();
        self.write_config();
    }

    /// Makes API requests matching a method and path fragment fail, hang, answer garbage or take longer.
    pub fn api_fault(
        &self,
        method: &str,
        path_contains: &str,
        effect: crate::apiserver::ApiEffect,
        first: Option<u32>,
    ) {
        self.state.faults.lock().expect("faults").push(ApiFault {
            method: method.into(),
            path_contains: path_contains.into(),
            effect,
            remaining: first,
        });
    }

    pub fn image_failure(&self, image: &str, failure: PodFailure) {
        self.controllers.behaviour.lock().expect("behaviour").image_failures.push((image.into(), failure));
    }

    pub fn adapter_availability(&self, availability: Availability) {
        self.kubelet.adapter.set(availability);
    }

    pub fn serve_image(&self, image: &str, port: u16, target: SocketAddr) {
        self.kubelet.serve_image(image, HashMap::from([(port, target)]));
    }

    /// The environment a process in this world gets: only the world's bin directory on PATH.
    pub fn env(&self) -> Vec<(String, String)> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        let path = if self.shadowed { format!("{}:{}", d("docker-bin"), d("bin")) } else { d("bin") };
        vec![
            ("PATH".into(), path),
            ("HOME".into(), d("home")),
            ("KUBECONFIG".into(), d("kubeconfig")),
            ("KUBECACHEDIR".into(), d("kcache")),
            ("HELM_CACHE_HOME".into(), d("helm/cache")),
            ("HELM_CONFIG_HOME".into(), d("helm/config")),
            ("HELM_DATA_HOME".into(), d("helm/data")),
            ("XDG_CONFIG_HOME".into(), d("config")),
            ("TESTWORLD_DIR".into(), self.dir.display().to_string()),
            ("TMPDIR".into(), d("tmp")),
            ("NO_COLOR".into(), "1".into()),
            // The real kubectl and helm (Go) run hundreds of times per test, each for a fraction of a second:
            // their garbage collector only costs CPU then (a quarter of a kubectl call's); it still runs near
            // the limit, for a long `helm upgrade --wait`. Their behaviour is the same.
            ("GOGC".into(), "off".into()),
            ("GOMEMLIMIT".into(), "256MiB".into()),
        ]
    }

    /// A command for a program in this world (looked up on the world's PATH unless absolute).
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = if program.starts_with('/') { PathBuf::from(program) } else { self.dir.join("bin").join(program) };
        let mut command = Command::new(path);
        command.args(args).env_clear().envs(self.env()).current_dir(self.dir.join("home")).stdin(Stdio::null());
        command
    }

    /// Runs a program to completion and captures what it printed.
    pub fn run(&self, program: &str, args: &[&str]) -> Run {
        let output = self.command(program, args).output().expect("run program");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn invocations(&self) -> Vec<Invocation> {
        fakeconfig::read_log(&self.dir)
    }

    /// The progress lines the fakes printed (minikube start's steps), each with when it was printed.
    pub fn printed(&self) -> Vec<fakeconfig::Printed> {
        fakeconfig::read_printed(&self.dir)
    }

    pub fn clear_logs(&self) {
        let _ = std::fs::remove_file(fakeconfig::log_path(&self.dir));
        self.state.log.lock().expect("log").clear();
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests()
    }

    /// Mutating API requests seen (POST, PUT, PATCH, DELETE), but for port-forwards: a POST that connects
    /// (the `connect` verb in RBAC) and changes nothing.
    pub fn mutating_requests(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
            .filter(|r| !r.path.ends_with("/portforward"))
            .collect()
    }

    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        apiserver::find_object(&self.state, group, plural, namespace, name)
    }

    pub fn objects(&self, group: &str, plural: &str) -> Vec<Value> {
        let key = apiserver::lookup(&self.state, group, plural).map(|r| r.key()).unwrap_or_default();
        self.state.store.list(&key, None)
    }

    /// Puts an object straight into the cluster (as if created before the test).
    pub fn create(&self, group: &str, plural: &str, object: Value) -> Value {
        let key = apiserver::lookup(&self.state, group, plural).expect("known resource").key();
        self.state.store.create(&key, object).expect("create object")
    }

    pub fn server_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.cluster.lock().expect("cluster").port)
    }

    pub fn cluster_state(&self) -> ClusterState {
        self.cluster.lock().expect("cluster").state
    }

    /// Messages the running Interloks' workflows consumed.
    pub fn interlok_requests(&self) -> u64 {
        self.kubelet.interlok_pods().iter().map(|(_, _, n)| n).sum()
    }

    /// What `kubectl logs` shows for a pod's container (Err: the API server's reason there is none).
    pub fn pod_log(&self, namespace: &str, pod: &str, container: &str) -> Result<String, String> {
        self.kubelet.pod_log(namespace, pod, container, false)
    }

    /// Adds lines to what a pod's container printed, as if the program had printed them.
    pub fn append_pod_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        self.kubelet.append_log(namespace, pod, container, text);
    }

    /// Waits (bounded, with backoff) for a condition on the world.
    pub fn wait_until(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        crate::prom::wait_until(what, limit, &mut done);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.state.store.nudge();
        if let Ok(mut cluster) = self.cluster.lock() {
            cluster.server = None;
        }
        self.kubelet.stop_all();
        if let Some(handle) = self.controller_thread.take() {
            let _ = handle.join();
        }
        if std::thread::panicking() {
            // a failed test's world is kept to look at (its tools' calls, Prometheus's files, log and targets)
            if let Some(prom) = &self.prom {
                let targets = ureq::get(&format!("{}/api/v1/targets", prom.prometheus_url()))
                    .timeout(Duration::from_secs(5))
                    .call()
                    .ok()
                    .and_then(|r| r.into_string().ok());
                let _ = std::fs::write(self.dir.join("prometheus-targets.json"), targets.unwrap_or_default());
            }
            eprintln!("testworld: this test's world is kept at {}", self.dir.display());
        } else if std::env::var_os("TESTWORLD_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn kubeconfig(server: &str, context: &str) -> String {
    let context = serde_json::to_string(context).expect("json string"); // a YAML-safe quoted scalar
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\nusers:\n- name: {context}\n  user: {{}}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n    namespace: default\ncurrent-context: {context}\npreferences: {{}}\n"
    )
}

fn set_cluster(state: &Arc<ApiState>, cluster: &Mutex<Cluster>, dir: &Path, context: &str, to: ClusterState) {
    let mut cluster = cluster.lock().expect("cluster");
    match to {
        ClusterState::Running => {
            if cluster.server.is_none() {
                let api = state.clone();
                let handler: crate::http::Handler = Arc::new(move |r| apiserver::handle(&api, r));
                // the port was free when chosen; taken since (rarely, under load), the cluster comes up on another,
                // as minikube's may after a restart: the kubeconfig written below names it either way
                let server = loop {
                    match Server::start_on(cluster.port, handler.clone()) {
                        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => cluster.port = crate::prom::free_port(),
                        started => break started.expect("api server"),
                    }
                };
                cluster.server = Some(server);
            }
            let text = kubeconfig(&format!("http://127.0.0.1:{}", cluster.port), context);
            std::fs::write(dir.join("kubeconfig"), text).expect("kubeconfig");
        }
        ClusterState::Stopped | ClusterState::Nonexistent => cluster.server = None,
    }
    cluster.state = to;
}

/// Endpoints the fakes call: minikube start/stop/delete/status.
fn control_server(state: Arc<ApiState>, cluster: Arc<Mutex<Cluster>>, dir: PathBuf) -> Server {
    let context = "minikube";
    Server::start(Arc::new(move |request| {
        let reply = |value: Value| Reply::Full(Response::json(200, &value));
        let current = cluster.lock().expect("cluster").state;
        match request.path.as_str() {
            "/minikube/start" => {
                set_cluster(&state, &cluster, &dir, context, ClusterState::Running);
                reply(json!({"state": "Running"}))
            }
            "/minikube/stop" => {
                set_cluster(&state, &cluster, &dir, context, ClusterState::Stopped);
                reply(json!({"state": "Stopped"}))
            }
            "/minikube/delete" => {
                set_cluster(&state, &cluster, &dir, context, ClusterState::Nonexistent);
                reply(json!({"state": "Nonexistent"}))
            }
            _ => reply(json!({"state": format!("{current:?}")})),
        }
    }))
    .expect("control server")
}

/// A plain HTTP GET for tests: (status, body); transport errors are `Err`.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(response) => {
            let status = response.status();
            Ok((status, response.into_string().unwrap_or_default()))
        }
        Err(ureq::Error::Status(status, response)) => Ok((status, response.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

/// A `kubectl port-forward` running in the world; killed on drop.
pub struct PortForward {
    child: std::process::Child,
    pub port: u16,
}

impl PortForward {
    /// Starts `kubectl port-forward <args> :REMOTE` and waits for its "Forwarding from" line.
    pub fn start(world: &World, args: &[&str]) -> Result<PortForward, String> {
        use std::io::{BufRead, BufReader};
        let mut child = world
            .command("kubectl", &[&["port-forward"], args].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        // keep draining so kubectl never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        match port {
            Some(port) => Ok(PortForward { child, port }),
            None => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use std::io::Read;
                    let _ = stderr.read_to_string(&mut err);
                }
                Err(format!("port-forward did not start: {first} {err}"))
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
