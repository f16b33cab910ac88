//! What the checks share, looked up once per probe (setup's checks share one probe's lookups until the wizard
//! next changes something): the cluster's objects (a caching `Reader`: checks asking for the same object at
//! once wait for one fetch), the monitoring Services, and the Prometheus and Pushgateway URLs — given with
//! `--prometheus-url`/`--pushgateway-url`, or reached through the run's port-forwards (portforward.rs), each
//! held while the lookups that found it are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::cluster::{self, monitoring, Reader};
use crate::context::Context;
use crate::portforward::PortForward;
use crate::problem::Problem;
use crate::tools::helm::{Release, ReleaseStatus};

type Answer = Result<Option<Value>, Problem>;
type ReleaseAnswer = Result<Option<ReleaseStatus>, Problem>;

/// Kinds a verify run asks about again and again, fetched for a whole namespace in one `kubectl get`
/// (a few calls instead of dozens: against a real cluster each one is a round trip), by the names callers use.
const SNAPSHOT: &str = "deployments,services,pods,configmaps,horizontalpodautoscalers";
const SNAPSHOT_KINDS: [(&str, &[&str]); 5] = [
    ("Deployment", &["deployment", "deployments", "deploy"]),
    ("Service", &["service", "services", "svc"]),
    ("Pod", &["pod", "pods", "po"]),
    ("ConfigMap", &["configmap", "configmaps", "cm"]),
    ("HorizontalPodAutoscaler", &["hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"]),
];

/// The API kind a caller's name stands for, when it is one of the snapshot's.
fn snapshot_kind(kind: &str) -> Option<&'static str> {
    SNAPSHOT_KINDS.iter().find(|(_, names)| names.contains(&kind)).map(|(kind, _)| *kind)
}

pub struct Probe<'a> {
    pub cx: &'a Context,
    prometheus_url: Option<String>,
    pushgateway_url: Option<String>,
    found: Arc<Lookups>,
}

/// The lookups setup's checks share, with the runner's count of changes when they were begun.
pub(crate) type SharedLookups = Arc<Mutex<Option<(u64, Arc<Lookups>)>>>;

/// What a probe has looked up. Setup's probes share one set until the wizard next changes something (see
/// `Probe::shared`): the stages' checks and the closing verify ask the same questions of an unchanged cluster.
#[derive(Default)]
pub(crate) struct Lookups {
    /// One slot per lookup, filled by whichever check asks first.
    cache: Mutex<HashMap<String, Arc<OnceLock<Answer>>>>,
    /// Helm releases' status, the same way.
    releases: Mutex<HashMap<String, Arc<OnceLock<ReleaseAnswer>>>>,
    monitoring: OnceLock<Result<monitoring::Found, Problem>>,
    prometheus: OnceLock<Result<String, String>>,
    pushgateway: OnceLock<Result<String, String>>,
    /// Keeps the forwards behind the URLs above open, even once the run's pool has replaced them.
    forwards: Mutex<Vec<PortForward>>,
}

impl Reader for Probe<'_> {
    fn cx(&self) -> &Context {
        self.cx
    }

    fn get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, Problem> {
        if let Some(items) = self.snapshot(kind, namespace) {
            let api_kind = snapshot_kind(kind);
            return Ok(items.into_iter().find(|i| i["kind"].as_str() == api_kind && i["metadata"]["name"] == name));
        }
        self.cached(format!("get {kind} {namespace} {name}"), || cluster::fetch_one(self.cx, kind, namespace, name))
    }

    fn list(&self, kind: &str, namespace: &str, selector: Option<&str>) -> Result<Vec<Value>, Problem> {
        if let Some(items) = self.snapshot(kind, namespace) {
            let api_kind = snapshot_kind(kind);
            let chosen: Option<Vec<Value>> = items
                .into_iter()
                .filter(|i| i["kind"].as_str() == api_kind)
                .filter_map(|i| match selector.map(|s| cluster::selector_matches(&i, s)) {
                    None | Some(Some(true)) => Some(Some(i)),
                    Some(Some(false)) => None,
                    Some(None) => Some(None), // an operator the snapshot cannot judge: ask kubectl
                })
                .collect();
            if let Some(chosen) = chosen {
                return Ok(chosen);
            }
        }
        let answer = self.cached(format!("list {kind} {namespace} {selector:?}"), || {
            cluster::fetch_list(self.cx, kind, namespace, selector).map(|items| Some(Value::Array(items)))
        })?;
        Ok(answer.and_then(|v| v.as_array().cloned()).unwrap_or_default())
    }

    fn release(&self, release: &Release) -> ReleaseAnswer {
        let key = format!("{} {}", release.namespace, release.name);
        let slot = self.found.releases.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone();
        slot.get_or_init(|| cluster::releases::fetch_status(self.cx, release)).clone()
    }
}

impl<'a> Probe<'a> {
    /// A probe of its own (verify, demo, watch, bundle): everything is looked up afresh.
    pub fn new(cx: &'a Context, prometheus_url: Option<String>, pushgateway_url: Option<String>) -> Probe<'a> {
        cx.runner.look_again();
        Probe { cx, prometheus_url, pushgateway_url, found: Arc::default() }
    }

    /// A probe for setup's checks: what was looked up since the wizard last changed something, or (when the
    /// cluster was changed since, or `fresh` asks for a new look, as a wait does each round) a new set, which
    /// later probes then share.
    pub(crate) fn shared(cx: &'a Context, fresh: bool) -> Probe<'a> {
        if fresh {
            cx.runner.look_again();
        }
        let changes = cx.runner.changes();
        let mut slot = cx.lookups.lock().unwrap_or_else(|p| p.into_inner());
        let found = match &*slot {
            Some((seen, found)) if *seen == changes && !fresh => found.clone(),
            _ => {
                let found = Arc::<Lookups>::default();
                *slot = Some((changes, found.clone()));
                found
            }
        };
        Probe { cx, prometheus_url: None, pushgateway_url: None, found }
    }

    /// The namespace's objects of the snapshot kinds, fetched once; None when `kind` is not one of them or
    /// the namespace cannot be listed that way (then each lookup asks on its own).
    fn snapshot(&self, kind: &str, namespace: &str) -> Option<Vec<Value>> {
        if namespace.is_empty() || snapshot_kind(kind).is_none() {
            return None;
        }
        let answer = self.cached(format!("snapshot {namespace}"), || {
            cluster::fetch_many(self.cx, SNAPSHOT, namespace).map(|items| Some(Value::Array(items)))
        });
        answer.ok().flatten().and_then(|v| v.as_array().cloned())
    }

    fn cached(&self, key: String, fetch: impl FnOnce() -> Answer) -> Answer {
        let slot = self.found.cache.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone();
        slot.get_or_init(fetch).clone()
    }

    /// The monitoring Services, found once.
    pub(crate) fn monitoring(&self) -> Result<monitoring::Found, Problem> {
        self.found.monitoring.get_or_init(|| monitoring::find(self)).clone()
    }

    fn forward(&self, service: &str, port: u16) -> Result<String, String> {
        let forward = PortForward::to_service(self.cx, &self.cx.settings.monitoring_namespace, service, port)
            .map_err(|p: Problem| p.message)?;
        let url = forward.url("");
        self.found.forwards.lock().unwrap_or_else(|p| p.into_inner()).push(forward);
        Ok(url)
    }

    /// Prometheus's base URL (given, or through the run's port-forward).
    pub(crate) fn prometheus(&self) -> Result<String, String> {
        self.found
            .prometheus
            .get_or_init(|| match &self.prometheus_url {
                Some(url) => Ok(url.trim_end_matches('/').to_string()),
                None => {
                    let (service, port) = self.monitoring().map_err(|p| p.message)?.endpoints.prometheus;
                    self.forward(&service, port)
                }
            })
            .clone()
    }

    /// The Pushgateway URL the user gave, if any (hints then name it: a port-forward ends with verify).
    pub(crate) fn pushgateway_given(&self) -> Option<&str> {
        self.pushgateway_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    /// The Pushgateway's base URL (given, or through the run's port-forward).
    pub(crate) fn pushgateway(&self) -> Result<String, String> {
        self.found
            .pushgateway
            .get_or_init(|| match &self.pushgateway_url {
                Some(url) => Ok(url.trim_end_matches('/').to_string()),
                None => {
                    let (service, port) = self.monitoring().map_err(|p| p.message)?.endpoints.pushgateway;
                    self.forward(&service, port)
                }
            })
            .clone()
    }
}
