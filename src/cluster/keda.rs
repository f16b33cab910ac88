//! KEDA: its three Deployments, the wizard's ScaledObject (its conditions, the HPA KEDA makes for it, the
//! events its scaler leaves), what the external metrics API serves for it, and the KEDA objects the wizard
//! did not create (uninstalling KEDA, whose CRDs come with its release, would delete them).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::views::{condition, Condition, Deployment, Hpa, Meta, ScaleTargetRef};
use super::{get, list, Reader};
use crate::context::Context;
use crate::problem::Problem;
use crate::prometheus_api;
use crate::record::Created;
use crate::runner::exit_problem;

pub(crate) const RELEASE: &str = "keda";
/// The ScaledObject kind, fully qualified (a short name could be another CRD's).
pub(crate) const KIND: &str = "scaledobjects.keda.sh";
/// The chart's Deployments: the operator, the metrics API server, the admission webhooks.
pub(crate) const DEPLOYMENTS: [&str; 3] =
    ["keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks"];
/// The metrics API server's Deployment and Service.
pub(crate) const METRICS_SERVER: &str = "keda-operator-metrics-apiserver";
/// The Secret KEDA's operator makes for its certificates. The chart does not own it: `helm uninstall` leaves it.
pub(crate) const CERTS_SECRET: &str = "kedaorg-certs";
/// Every kind KEDA's chart defines: its CRDs take all their objects with them when the release goes.
const ALL_KINDS: &str = "scaledobjects.keda.sh,scaledjobs.keda.sh,triggerauthentications.keda.sh,clustertriggerauthentications.keda.sh,cloudeventsources.eventing.keda.sh,clustercloudeventsources.eventing.keda.sh";

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Trigger {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) metric_type: String,
    pub(crate) metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ScaledObjectSpec {
    pub(crate) scale_target_ref: ScaleTargetRef,
    pub(crate) min_replica_count: Option<u64>,
    pub(crate) max_replica_count: Option<u64>,
    pub(crate) polling_interval: Option<u64>,
    pub(crate) triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ScaledObjectStatus {
    pub(crate) conditions: Vec<Condition>,
    pub(crate) hpa_name: String,
    pub(crate) external_metric_names: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ScaledObject {
    pub(crate) metadata: Meta,
    pub(crate) spec: ScaledObjectSpec,
    pub(crate) status: ScaledObjectStatus,
}

impl ScaledObject {
    pub(crate) fn condition(&self, kind: &str) -> Option<&Condition> {
        condition(&self.status.conditions, kind)
    }

    pub(crate) fn ready(&self) -> bool {
        self.condition("Ready").is_some_and(Condition::is_true)
    }

    /// The first trigger's metadata value (`query`, `serverAddress`, `threshold`, …).
    pub(crate) fn trigger_value(&self, key: &str) -> String {
        self.spec.triggers.first().and_then(|t| t.metadata.get(key)).cloned().unwrap_or_default()
    }

    /// Whether it scales this Deployment (KEDA reads an empty kind as a Deployment).
    pub(crate) fn targets(&self, deployment: &str) -> bool {
        let target = &self.spec.scale_target_ref;
        target.name == deployment && (target.kind.is_empty() || target.kind == "Deployment")
    }

    /// The HPA KEDA makes for it: `keda-hpa-<name>`, or the name its status reports.
    pub(crate) fn hpa_name(&self) -> String {
        if self.status.hpa_name.is_empty() {
            format!("keda-hpa-{}", self.metadata.name)
        } else {
            self.status.hpa_name.clone()
        }
    }

    /// The external metric of its first trigger: `s0-prometheus` for the wizard's.
    pub(crate) fn metric_name(&self) -> String {
        self.status.external_metric_names.first().cloned().unwrap_or_else(|| "s0-prometheus".into())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct InvolvedObject {
    pub(crate) kind: String,
    pub(crate) name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Event {
    pub(crate) involved_object: InvolvedObject,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) last_timestamp: String,
}

/// A missing CRD reads as "no such object": without KEDA there is no ScaledObject.
fn not_served(problem: &Problem) -> bool {
    problem.output_text().contains("doesn't have a resource type")
}

/// The wizard's ScaledObject (named after the Deployment), if it exists.
pub(crate) fn scaled_object(reader: &(impl Reader + ?Sized)) -> Result<Option<ScaledObject>, Problem> {
    let s = &reader.cx().settings;
    match get::<ScaledObject>(reader, KIND, &s.namespace, &s.deployment) {
        Err(problem) if not_served(&problem) => Ok(None),
        other => other,
    }
}

/// Every ScaledObject that scales the Deployment (the wizard's, or someone else's).
pub(crate) fn scaled_objects_on_target(reader: &(impl Reader + ?Sized)) -> Result<Vec<ScaledObject>, Problem> {
    let s = &reader.cx().settings;
    match list::<ScaledObject>(reader, KIND, &s.namespace, None) {
        Err(problem) if not_served(&problem) => Ok(Vec::new()),
        other => Ok(other?.into_iter().filter(|so| so.targets(&s.deployment)).collect()),
    }
}

/// Every HPA that scales the Deployment, whoever made it.
pub(crate) fn hpas_on_target(reader: &(impl Reader + ?Sized)) -> Result<Vec<Hpa>, Problem> {
    let s = &reader.cx().settings;
    let hpas: Vec<Hpa> = list(reader, "hpa", &s.namespace, None)?;
    Ok(hpas
        .into_iter()
        .filter(|h| {
            let target = &h.spec.scale_target_ref;
            target.name == s.deployment && target.kind == "Deployment"
        })
        .collect())
}

/// Whether KEDA made this HPA (for a ScaledObject, which owns it).
pub(crate) fn made_by_keda(hpa: &Hpa) -> bool {
    hpa.metadata.owner_references.iter().any(|o| o.kind == "ScaledObject")
}

/// The HPA KEDA made for this ScaledObject, if it exists.
pub(crate) fn hpa_of(reader: &(impl Reader + ?Sized), so: &ScaledObject) -> Result<Option<Hpa>, Problem> {
    get(reader, "hpa", &so.metadata.namespace, &so.hpa_name())
}

/// KEDA's Deployments in its namespace, each as found (None: missing).
pub(crate) fn deployments(reader: &(impl Reader + ?Sized)) -> Result<Vec<(&'static str, Option<Deployment>)>, Problem> {
    let namespace = reader.cx().settings.keda_namespace.clone();
    DEPLOYMENTS.iter().map(|name| Ok((*name, get::<Deployment>(reader, "deployment", &namespace, name)?))).collect()
}

/// What the external metrics API serves for the ScaledObject's metric: Ok(value as written), or Err with
/// the API's own words (KEDA's metrics server passes the scaler's error on).
pub(crate) fn external_value(
    reader: &(impl Reader + ?Sized),
    so: &ScaledObject,
) -> Result<Result<String, String>, Problem> {
    let cx = reader.cx();
    let path = format!(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/{}/{}?labelSelector=scaledobject.keda.sh%2Fname%3D{}",
        so.metadata.namespace,
        so.metric_name(),
        so.metadata.name
    );
    let output = reader.output(&cx.kubectl().get_raw(&path))?;
    if !output.success() {
        let said = output.stderr.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no answer");
        return Ok(Err(said.to_string()));
    }
    let list: Value = serde_json::from_str(&output.stdout).unwrap_or(Value::Null);
    Ok(match list["items"][0]["value"].as_str() {
        Some(value) => Ok(value.to_string()),
        None => Err("the API answered without a value".into()),
    })
}

/// The latest error KEDA's scaler reported for the ScaledObject (its KEDAScalerFailed events).
pub(crate) fn scaler_failure(reader: &(impl Reader + ?Sized), so: &ScaledObject) -> Result<Option<String>, Problem> {
    let events: Vec<Event> = list(reader, "events", &so.metadata.namespace, None)?;
    Ok(events
        .into_iter()
        .filter(|e| {
            e.reason == "KEDAScalerFailed"
                && e.involved_object.kind == "ScaledObject"
                && e.involved_object.name == so.metadata.name
        })
        .max_by(|a, b| a.last_timestamp.cmp(&b.last_timestamp))
        .map(|e| e.message))
}

/// Runs a trigger's query the way KEDA's prometheus scaler reads the answer: exactly one sample, its value.
pub(crate) fn evaluate(prometheus: &crate::reach::Reach, query: &str) -> Result<f64, String> {
    match prometheus_api::query(prometheus, query)?.as_slice() {
        [] => Err("the result is empty".into()),
        [(_, value)] => Ok(*value),
        many => Err(format!("it returns {} series where KEDA takes exactly one", many.len())),
    }
}

/// A Quantity as a number: `150`, `1500m`, `2k`.
pub(crate) fn quantity(text: &str) -> Option<f64> {
    let (number, scale) = match text.strip_suffix('m') {
        Some(n) => (n, 0.001),
        None => match text.strip_suffix('k') {
            Some(n) => (n, 1000.0),
            None => (text, 1.0),
        },
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// KEDA objects anywhere in the cluster that the wizard did not create (as `Kind namespace/name`).
pub(crate) fn foreign_objects(cx: &Context) -> Result<Vec<String>, Problem> {
    let cmd = cx.kubectl().list_everywhere_json(ALL_KINDS);
    let output = cx.runner.run_unchecked(&cmd)?;
    // kubectl prints what it found even when one of the kinds is not served (an older chart's CRDs)
    let list: Value = match serde_json::from_str(&output.stdout) {
        Ok(list) => list,
        Err(_) if !output.success() && output.stderr.contains("doesn't have a resource type") => Value::Null,
        Err(_) if output.success() && output.stdout.trim().is_empty() => Value::Null,
        Err(e) => {
            return Err(exit_problem(&cmd, &output).reworded(format!("kubectl printed no list of KEDA objects ({e})")))
        }
    };
    let record = cx.record.lock().unwrap_or_else(|p| p.into_inner());
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let kind = item["kind"].as_str().unwrap_or_default();
            let name = item["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let namespace = item["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            let ours = Created::Object { kind: KIND.into(), name: name.clone(), namespace: namespace.clone() };
            (kind != "ScaledObject" || record.state(&ours).is_none()).then(|| format!("{kind} {namespace}/{name}"))
        })
        .collect())
}

/// The namespaces in which the wizard installed KEDA (by its record).
pub(crate) fn installed_by_wizard(cx: &Context) -> Vec<String> {
    let record = cx.record.lock().unwrap_or_else(|p| p.into_inner());
    record
        .entries()
        .into_iter()
        .filter_map(|entry| match entry.item {
            Created::Release { name, namespace } if name == RELEASE => Some(namespace),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scaled_object_reads_its_hpa_metric_and_conditions() {
        let so: ScaledObject = serde_json::from_value(json!({"metadata": {"name": "interlok", "namespace": "default"},
            "spec": {"scaleTargetRef": {"name": "interlok"}, "triggers": [{"type": "prometheus", "metadata": {"query": "sum(x)"}}]},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "TriggerError"}]}}))
        .unwrap();
        assert_eq!((so.hpa_name(), so.metric_name()), ("keda-hpa-interlok".into(), "s0-prometheus".into()));
        assert!(so.targets("interlok") && !so.targets("other"));
        assert!(!so.ready());
        assert_eq!(so.trigger_value("query"), "sum(x)");
        assert_eq!(so.condition("Ready").unwrap().reason, "TriggerError");
    }

    #[test]
    fn quantities_read_as_numbers() {
        assert_eq!(quantity("150"), Some(150.0));
        assert_eq!(quantity("1500m"), Some(1.5));
        assert_eq!(quantity("2k"), Some(2000.0));
        assert_eq!(quantity("x"), None);
    }
}
