//! A world's state taken after a run, to start other worlds from. Many tests begin with "a cluster that
//! `setup` made healthy"; running `setup` again in each costs 60-odd real kubectl and helm processes, while
//! starting from the state it left costs none. What is carried over is everything the run left behind:
//!
//! - every API object, pods and Helm's release Secrets included (uids, generations and status kept);
//! - the node's side of each running pod: its containers start again (the world's own Prometheus and
//!   Pushgateway behind theirs, an Interlok stand-in booted from the same files) and take up what their
//!   namesakes printed and, for an Interlok, the messages each workflow had consumed, so it pushes at once;
//! - the files the tools keep under the world's folder (the wizard's record, Helm's repositories and cache),
//!   with the chart repository's address moved to the new world's;
//! - the cluster's state (running, stopped), and the kubeconfig that goes with it.
//!
//! `start` returns once the new world's Prometheus has found as many healthy targets and pushed groups as
//! the old one had, and each autoscaler that was reading its metric reads it again (they come back last), so
//! a test sees the same answers it would have seen right after the run. Not carried: the logs of tool
//! invocations and API requests (a test sees only its own), and Prometheus's history. Nor is KEDA's operator:
//! its polls and conditions race a restored world's first scrapes, so KEDA's worlds run `setup` themselves.
//!
//! A snapshot is started in a world built the same way (`WorldBuilder::from_snapshot`): same tools,
//! versions, images and options.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::kubelet::CarriedPod;
use crate::world::{ClusterState, World};

/// The folders under a world's folder that hold the tools' own files.
const TOOL_FOLDERS: [&str; 3] = ["config", "helm", "home"];

/// Prometheus's view of what it found: healthy targets and groups pushed to the Pushgateway.
const FOUND: [&str; 2] = ["count(up == 1)", "count(push_time_seconds)"];

#[derive(Clone, Debug)]
pub struct Snapshot {
    objects: Vec<(String, Value)>,
    pods: Vec<CarriedPod>,
    files: Vec<(PathBuf, Vec<u8>)>,
    charts_url: Option<String>,
    cluster: ClusterState,
    found: Vec<usize>,
}

impl World {
    /// This world's state, to start others from (see the module's documentation).
    pub fn snapshot(&self) -> Snapshot {
        let mut files = Vec::new();
        for folder in TOOL_FOLDERS {
            collect(&self.dir, &self.dir.join(folder), &mut files);
        }
        Snapshot {
            objects: self.state.store.dump().into_iter().map(|(resource, _, _, object)| (resource, object)).collect(),
            pods: self.kubelet.carry(),
            files,
            charts_url: self.charts.as_ref().map(|c| c.url()),
            cluster: self.cluster_state(),
            found: self.prom.as_ref().map(|_| FOUND.iter().map(|q| self.found(q)).collect()).unwrap_or_default(),
        }
    }

    /// Makes this freshly started world what the snapshot's world was.
    pub(crate) fn restore(&self, snapshot: &Snapshot) {
        let new_url = self.charts.as_ref().map(|c| c.url());
        for (relative, bytes) in &snapshot.files {
            let path = self.dir.join(relative);
            std::fs::create_dir_all(path.parent().expect("a file in a folder")).expect("tool folder");
            let bytes = match (&snapshot.charts_url, &new_url, std::str::from_utf8(bytes)) {
                (Some(old), Some(new), Ok(text)) => text.replace(old.as_str(), new).into_bytes(),
                _ => bytes.clone(),
            };
            std::fs::write(&path, bytes).expect("tool file");
        }
        self.set_cluster(snapshot.cluster);
        // the autoscalers come back once what they read answers again, so their first sync finds it
        let (autoscalers, objects): (Vec<_>, Vec<_>) =
            snapshot.objects.iter().cloned().partition(|(r, _)| r.ends_with("/horizontalpodautoscalers"));
        self.state.store.restore(&objects);
        for (resource, pod) in &snapshot.objects {
            if resource == "/pods" && ready(pod) {
                crate::controllers::Kubelet::pod_started(self.kubelet.as_ref(), pod);
            }
        }
        self.kubelet.resume(&snapshot.pods);
        if let Some(prom) = &self.prom {
            for (query, had) in FOUND.iter().zip(&snapshot.found) {
                prom.wait_until(&format!("{query} to reach {had}, as before the snapshot"), WAIT, || {
                    self.found(query) >= *had
                });
            }
        }
        for (_, hpa) in autoscalers.iter().filter(|(_, hpa)| condition(hpa, "ScalingActive") == "True") {
            let what = format!("autoscaler {} to read its metric again", hpa["metadata"]["name"]);
            crate::prom::wait_until(&what, WAIT, &mut || {
                crate::controllers::hpa_reads_its_metric(&self.state, self.kubelet.as_ref(), hpa)
            });
        }
        self.state.store.restore(&autoscalers);
    }

    fn found(&self, query: &str) -> usize {
        let prom = self.prom.as_ref().expect("a world with Prometheus");
        prom.query(query).first().and_then(|s| s["value"][1].as_str()?.parse().ok()).unwrap_or(0)
    }
}

/// Rediscovery and a scrape or two: seconds, at the world's 1 s interval.
const WAIT: Duration = Duration::from_secs(30);

fn ready(pod: &Value) -> bool {
    condition(pod, "Ready") == "True"
}

/// A status condition's status ("True", "False"; "" when absent).
fn condition<'a>(object: &'a Value, kind: &str) -> &'a str {
    let conditions = object["status"]["conditions"].as_array().into_iter().flatten();
    conditions.filter(|c| c["type"] == kind).find_map(|c| c["status"].as_str()).unwrap_or_default()
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(bytes) = std::fs::read(&path) {
            files.push((path.strip_prefix(root).expect("under the world").to_path_buf(), bytes));
        }
    }
}
