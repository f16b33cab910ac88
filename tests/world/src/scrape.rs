//! What the world's Prometheus scrapes, decided as the chart's Prometheus pod decides it. The pod the real
//! Prometheus serves is found on the node; its `--config.file` is read through its mounts (the ConfigMap the
//! chart renders from `scrapeConfigs` / `serverFiles`, or the one `server.configMapOverrideName` names). Each
//! scrape job that discovers Services (`kubernetes_sd_configs`, role `service`) goes to the real Prometheus
//! with a `file_sd_configs` file in its place, holding what Kubernetes SD would find: one target per Service
//! port, with its `__meta_kubernetes_*` labels — so the job's own `relabel_configs` (the chart's keeps
//! Services annotated `prometheus.io/probe: pushgateway`), `honor_labels` and the rest are applied by the
//! real Prometheus. Only the address differs: a target is scraped where the Service's Ready pod listens (as
//! kube-proxy would connect it), or refused when it has none, and is labelled `instance` with the Service's
//! DNS address as the real target is. Jobs of other kinds are left out (the world discovers Services only);
//! the global scrape interval is the world's time scale (a job's own interval stands). No Prometheus pod,
//! no jobs. The controller loop calls `sync` after each pass: the file is rewritten when the cluster
//! changes (Prometheus notices within seconds) and Prometheus is reloaded when its jobs change.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};
use serde_yaml::{Mapping, Value as Yaml};

use crate::apiserver::ApiState;
use crate::kubelet::{self, WorldKubelet};
use crate::store::{name_of, namespace_of};

/// Where a Service without a Ready pod is scraped: nothing listens on port 1, so the connection is refused,
/// as kube-proxy refuses a Service without endpoints.
const NO_ENDPOINTS: &str = "127.0.0.1:1";

/// The container port Prometheus listens on in its pod.
const PROMETHEUS_PORT: u16 = 9090;

pub struct Discovery {
    dir: PathBuf,
    prometheus: SocketAddr,
    scrape_interval: Duration,
    written: Mutex<Written>,
}

/// What was last given to Prometheus.
#[derive(Default)]
struct Written {
    config: String,
    targets: BTreeMap<PathBuf, String>,
    reload_error: Option<String>,
}

/// A job of the pod's config that discovers Services: the job without its discovery, and the namespaces it
/// looks in (None: all).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceJob {
    pub job: Mapping,
    pub namespaces: Option<Vec<String>>,
}

impl Discovery {
    /// `dir` holds Prometheus's config file (`prometheus.yml`) and the discovery files (`sd/`).
    pub fn new(dir: &Path, prometheus: SocketAddr, scrape_interval: Duration) -> Discovery {
        Discovery { dir: dir.to_path_buf(), prometheus, scrape_interval, written: Mutex::new(Written::default()) }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("prometheus.yml")
    }

    /// The config Prometheus starts with: no jobs until a Prometheus pod runs.
    pub fn write_initial_config(&self) {
        let config = world_config(Vec::new(), self.scrape_interval);
        write_atomically(&self.config_path(), &config);
        self.written.lock().expect("written").config = config;
    }

    /// Why Prometheus refused the last config it was given, if it did.
    pub fn reload_error(&self) -> Option<String> {
        self.written.lock().expect("written").reload_error.clone()
    }

    /// Brings Prometheus's jobs and discovered targets up to date with the cluster.
    pub fn sync(&self, state: &ApiState, kubelet: &WorldKubelet) {
        let jobs = server_config(state, kubelet)
            .map(|(pod, text)| service_jobs(&text, &namespace_of(&pod)))
            .unwrap_or_default();
        let mut files = BTreeMap::new();
        let mut scrape_configs = Vec::new();
        for (index, job) in jobs.into_iter().enumerate() {
            let file = self.dir.join("sd").join(format!("job-{index}.json"));
            let targets = service_targets(state, kubelet, job.namespaces.as_deref());
            files.insert(file.clone(), serde_json::to_string_pretty(&targets).expect("targets json"));
            scrape_configs.push(with_file_sd(job.job, &file));
        }
        let config = world_config(scrape_configs, self.scrape_interval);
        let mut written = self.written.lock().expect("written");
        for (file, text) in &files {
            if written.targets.get(file) != Some(text) {
                write_atomically(file, text);
            }
        }
        written.targets = files;
        if written.config != config {
            write_atomically(&self.config_path(), &config);
            match self.reload() {
                // not reached (starting, or slow under load): the config stays unwritten, so the next sync
                // reloads again; a reload lost here would leave Prometheus on its old jobs for good
                Err(Reload::Unreachable) => {}
                result => {
                    written.config = config;
                    written.reload_error = match result {
                        Err(Reload::Refused(why)) => Some(why),
                        _ => None,
                    };
                    if let Some(error) = &written.reload_error {
                        eprintln!("testworld: Prometheus refused its new config: {error}");
                    }
                }
            }
        }
    }

    /// `POST /-/reload` (Prometheus runs with `--web.enable-lifecycle`, as the chart starts it): answers when
    /// the new config is applied, or why it was not.
    fn reload(&self) -> Result<(), Reload> {
        match ureq::post(&format!("http://{}/-/reload", self.prometheus)).timeout(Duration::from_secs(10)).call() {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(status, response)) => {
                Err(Reload::Refused(format!("{status}: {}", response.into_string().unwrap_or_default())))
            }
            Err(_) => Err(Reload::Unreachable),
        }
    }
}

/// Why a reload did not take.
enum Reload {
    /// Prometheus answered no: the config is wrong (kept, and reported).
    Refused(String),
    /// No answer at all.
    Unreachable,
}

/// Writes a file whole (a temporary file renamed over it): Prometheus never reads half of one.
fn write_atomically(path: &Path, text: &str) {
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir).expect("prometheus dir");
    let temporary = dir.join(format!(".{}.tmp", path.file_name().expect("file name").to_string_lossy()));
    std::fs::write(&temporary, text).expect("write prometheus file");
    std::fs::rename(&temporary, path).expect("rename prometheus file");
}

/// The config the real Prometheus runs: the world's time scale, the jobs given.
pub fn world_config(scrape_configs: Vec<Yaml>, scrape_interval: Duration) -> String {
    let millis = scrape_interval.as_millis();
    let interval =
        Yaml::String(if millis.is_multiple_of(1000) { format!("{}s", millis / 1000) } else { format!("{millis}ms") });
    let mut global = Mapping::new();
    global.insert("scrape_interval".into(), interval.clone());
    global.insert("evaluation_interval".into(), interval);
    let mut config = Mapping::new();
    config.insert("global".into(), Yaml::Mapping(global));
    config.insert("scrape_configs".into(), Yaml::Sequence(scrape_configs));
    serde_yaml::to_string(&config).expect("prometheus config yaml")
}

/// The job with its targets read from `file` instead of discovered.
///
/// Prometheus reads a file_sd file, then starts watching its folder: a change written between the two is missed
/// until its next periodic read (every 5 minutes by default). Kubernetes SD, which this stands in for, misses
/// nothing (it watches the API), so the file is also read every second: a change is seen within the same 5 s
/// discovery cycle either way.
fn with_file_sd(mut job: Mapping, file: &Path) -> Yaml {
    let mut sd = Mapping::new();
    sd.insert("files".into(), Yaml::Sequence(vec![Yaml::String(file.display().to_string())]));
    sd.insert("refresh_interval".into(), Yaml::String("1s".into()));
    job.insert("file_sd_configs".into(), Yaml::Sequence(vec![Yaml::Mapping(sd)]));
    Yaml::Mapping(job)
}

/// The Ready pod the real Prometheus serves (the first, if several), and the text of its `--config.file`.
pub fn server_config(state: &ApiState, kubelet: &WorldKubelet) -> Option<(Value, String)> {
    state.store.list("/pods", None).into_iter().find_map(|pod| {
        let ready = pod["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if !ready || kubelet.target(&namespace_of(&pod), &name_of(&pod), PROMETHEUS_PORT).is_none() {
            return None;
        }
        let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
        let container = containers
            .iter()
            .find(|c| c["image"].as_str().is_some_and(|i| i.contains(crate::prom::PROMETHEUS_IMAGE)))?;
        // without the flag Prometheus reads the image's own config, which scrapes only Prometheus itself
        let path = config_flag(container)?;
        let files = kubelet::mounted_files(state, &pod, container, BTreeMap::new());
        let text = files.get(&path)?.clone();
        Some((pod, text))
    })
}

/// `--config.file=PATH` or `--config.file PATH` among the container's arguments.
fn config_flag(container: &Value) -> Option<String> {
    let args: Vec<&str> = container["args"].as_array()?.iter().filter_map(Value::as_str).collect();
    args.iter().enumerate().find_map(|(i, arg)| match arg.strip_prefix("--config.file") {
        Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
        Some("") => args.get(i + 1).map(|s| s.to_string()),
        _ => None,
    })
}

/// The jobs of a Prometheus config (run in namespace `own`) that discover Services. A config that does not
/// parse has none (the real Prometheus would not start with it).
pub fn service_jobs(config: &str, own: &str) -> Vec<ServiceJob> {
    let Ok(config) = serde_yaml::from_str::<Yaml>(config) else { return Vec::new() };
    let Some(jobs) = config["scrape_configs"].as_sequence() else { return Vec::new() };
    jobs.iter()
        .filter_map(|job| {
            let job = job.as_mapping()?;
            let services: Vec<&Yaml> = job
                .get("kubernetes_sd_configs")?
                .as_sequence()?
                .iter()
                .filter(|sd| sd["role"].as_str() == Some("service"))
                .collect();
            if services.is_empty() {
                return None;
            }
            // the union of what each service discovery looks at; one naming none looks everywhere
            let mut namespaces = Some(Vec::new());
            for sd in services {
                let mut names: Vec<String> = sd["namespaces"]["names"]
                    .as_sequence()
                    .map(|names| names.iter().filter_map(|n| n.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                if sd["namespaces"]["own_namespace"].as_bool() == Some(true) {
                    names.push(own.to_string());
                }
                match namespaces.as_mut() {
                    Some(all) if !names.is_empty() => all.extend(names),
                    _ => namespaces = None,
                }
            }
            let mut job = job.clone();
            job.retain(|key, _| key.as_str().is_some_and(|k| !k.ends_with("_sd_configs") && k != "static_configs"));
            Some(ServiceJob { job, namespaces })
        })
        .collect()
}

/// The targets Kubernetes SD (role `service`) finds, as a file_sd document.
pub fn service_targets(state: &ApiState, kubelet: &WorldKubelet, namespaces: Option<&[String]>) -> Value {
    let mut groups = Vec::new();
    for service in state.store.list("/services", None) {
        let namespace = namespace_of(&service);
        if namespaces.is_some_and(|names| !names.contains(&namespace)) {
            continue;
        }
        let labels = service_labels(&service);
        for port in service["spec"]["ports"].as_array().into_iter().flatten() {
            let number = port["port"].as_u64().unwrap_or_default();
            let dns = format!("{}.{namespace}.svc:{number}", name_of(&service));
            let address = crate::dns::resolve(state, kubelet, &namespace, &dns)
                .map_or_else(|_| NO_ENDPOINTS.to_string(), |a| a.to_string());
            let mut labels = labels.clone();
            labels.insert("__meta_kubernetes_service_port_name".into(), json!(port["name"].as_str().unwrap_or("")));
            labels.insert("__meta_kubernetes_service_port_number".into(), json!(number.to_string()));
            let protocol = port["protocol"].as_str().unwrap_or("TCP");
            labels.insert("__meta_kubernetes_service_port_protocol".into(), json!(protocol));
            labels.insert("instance".into(), json!(dns));
            groups.push(json!({"targets": [address], "labels": labels}));
        }
    }
    Value::Array(groups)
}

/// The labels Kubernetes SD gives every target of a Service.
fn service_labels(service: &Value) -> Map<String, Value> {
    let mut labels = Map::new();
    labels.insert("__meta_kubernetes_namespace".into(), json!(namespace_of(service)));
    labels.insert("__meta_kubernetes_service_name".into(), json!(name_of(service)));
    let kind = service["spec"]["type"].as_str().unwrap_or("ClusterIP");
    labels.insert("__meta_kubernetes_service_type".into(), json!(kind));
    if kind == "ExternalName" {
        let external = service["spec"]["externalName"].as_str().unwrap_or("");
        labels.insert("__meta_kubernetes_service_external_name".into(), json!(external));
    } else if let Some(ip) = service["spec"]["clusterIP"].as_str() {
        labels.insert("__meta_kubernetes_service_cluster_ip".into(), json!(ip));
    }
    for (field, kind) in [("labels", "label"), ("annotations", "annotation")] {
        for (key, value) in service["metadata"][field].as_object().into_iter().flatten() {
            let name = sanitize(key);
            labels.insert(format!("__meta_kubernetes_service_{kind}_{name}"), json!(value.as_str().unwrap_or("")));
            labels.insert(format!("__meta_kubernetes_service_{kind}present_{name}"), json!("true"));
        }
    }
    labels
}

/// A Kubernetes key as a Prometheus label name: anything but a letter, digit or `_` becomes `_`.
fn sanitize(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART_CONFIG: &str = "global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: prometheus-pushgateway\n  honor_labels: true\n  kubernetes_sd_configs:\n  - role: service\n  relabel_configs:\n  - action: keep\n    regex: pushgateway\n    source_labels: [__meta_kubernetes_service_annotation_prometheus_io_probe]\n- job_name: kubernetes-pods\n  kubernetes_sd_configs:\n  - role: pod\n- job_name: team\n  kubernetes_sd_configs:\n  - role: service\n    namespaces:\n      names: [team-a]\n      own_namespace: true\n  static_configs:\n  - targets: ['localhost:9090']\n";

    #[test]
    fn only_jobs_that_discover_services_are_kept_with_their_own_settings_and_namespaces() {
        let jobs = service_jobs(CHART_CONFIG, "monitoring");
        assert_eq!(jobs.len(), 2, "{jobs:?}");
        let pushgateway = &jobs[0];
        assert_eq!(pushgateway.namespaces, None, "no names: every namespace");
        assert_eq!(pushgateway.job.get("honor_labels"), Some(&Yaml::Bool(true)));
        assert!(pushgateway.job.get("relabel_configs").is_some());
        assert!(pushgateway.job.get("kubernetes_sd_configs").is_none());
        assert_eq!(jobs[1].namespaces, Some(vec!["team-a".to_string(), "monitoring".to_string()]));
        assert!(jobs[1].job.get("static_configs").is_none(), "the world discovers Services only");
        assert!(service_jobs("scrape_configs: [", "monitoring").is_empty());
        assert!(service_jobs("global: {}\n", "monitoring").is_empty());
    }

    #[test]
    fn the_world_config_reads_each_job_from_its_file_at_the_worlds_time_scale() {
        let job = service_jobs(CHART_CONFIG, "monitoring").remove(0).job;
        let text = world_config(vec![with_file_sd(job, Path::new("/w/sd/job-0.json"))], Duration::from_secs(1));
        let config: Yaml = serde_yaml::from_str(&text).unwrap();
        assert_eq!(config["global"]["scrape_interval"], Yaml::String("1s".into()));
        let job = &config["scrape_configs"][0];
        assert_eq!(job["job_name"], Yaml::String("prometheus-pushgateway".into()));
        assert_eq!(job["file_sd_configs"][0]["files"][0], Yaml::String("/w/sd/job-0.json".into()));
        assert_eq!(job["honor_labels"], Yaml::Bool(true));
    }

    #[test]
    fn a_service_gets_the_meta_labels_kubernetes_sd_gives_and_is_refused_without_a_ready_pod() {
        let state = ApiState::new("v1.33.1");
        let service = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "prometheus-prometheus-pushgateway", "namespace": "monitoring",
                         "labels": {"app.kubernetes.io/name": "prometheus-pushgateway"},
                         "annotations": {"prometheus.io/probe": "pushgateway"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "selector": {"app": "pgw"},
                     "ports": [{"name": "http", "port": 9091, "targetPort": 9091}]}});
        state.store.create("/services", service).unwrap();
        let kubelet = WorldKubelet::default();
        let targets = service_targets(&state, &kubelet, None);
        let group = &targets[0];
        assert_eq!(group["targets"], json!([NO_ENDPOINTS]));
        let labels = &group["labels"];
        assert_eq!(labels["__meta_kubernetes_service_annotation_prometheus_io_probe"], "pushgateway");
        assert_eq!(labels["__meta_kubernetes_service_annotationpresent_prometheus_io_probe"], "true");
        assert_eq!(labels["__meta_kubernetes_service_label_app_kubernetes_io_name"], "prometheus-pushgateway");
        assert_eq!(labels["__meta_kubernetes_service_port_number"], "9091");
        assert_eq!(labels["__meta_kubernetes_service_cluster_ip"], "10.96.0.20");
        assert_eq!(labels["instance"], "prometheus-prometheus-pushgateway.monitoring.svc:9091");
        assert_eq!(service_targets(&state, &kubelet, Some(&["default".to_string()])), json!([]));
    }

    #[test]
    fn the_config_flag_takes_both_spellings() {
        let joined = json!({"args": ["--web.enable-lifecycle", "--config.file=/etc/config/prometheus.yml"]});
        assert_eq!(config_flag(&joined).as_deref(), Some("/etc/config/prometheus.yml"));
        let split = json!({"args": ["--config.file", "/etc/p.yml"]});
        assert_eq!(config_flag(&split).as_deref(), Some("/etc/p.yml"));
        assert_eq!(config_flag(&json!({"args": ["--config.filex=/x"]})), None);
        assert_eq!(config_flag(&json!({})), None);
    }
}
