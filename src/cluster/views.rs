//! Typed views of the objects the wizard reads: only the fields it uses, each defaulted, so a field a server
//! leaves out reads as empty instead of failing. Built from `kubectl -o json` (`Reader::get`/`list`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Meta {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) owner_references: Vec<OwnerReference>,
    pub(crate) creation_timestamp: String,
    /// Set once the object is being deleted (a pod terminating).
    pub(crate) deletion_timestamp: Option<String>,
    /// Moves with each change of the spec (the controller's `observedGeneration` catches up).
    pub(crate) generation: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct OwnerReference {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) controller: bool,
}

impl Meta {
    /// Whether the wizard's `app.kubernetes.io/managed-by` label is on the object.
    pub(crate) fn managed_by_wizard(&self) -> bool {
        let (key, value) = crate::settings::MANAGED_BY_LABEL;
        self.labels.get(key).is_some_and(|v| v == value)
    }
}

/// A status condition (Deployments, Pods, Nodes, APIServices, HPAs, ScaledObjects share the shape).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) message: String,
}

impl Condition {
    pub(crate) fn is_true(&self) -> bool {
        self.status == "True"
    }

    /// "Reason: message", or whichever of the two is there.
    pub(crate) fn explain(&self) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.reason, self.message),
            (false, true) => self.reason.clone(),
            (true, false) => self.message.clone(),
            (true, true) => {
                format!("{} is {}", self.kind, if self.status.is_empty() { "unknown" } else { &self.status })
            }
        }
    }
}

/// The condition of this type, if the object reports one.
pub(crate) fn condition<'c>(conditions: &'c [Condition], kind: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.kind == kind)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
    pub(crate) value_from: Option<Value>,
}

impl EnvVar {
    /// The downward-API field this variable comes from (`metadata.name`, …), if it does.
    pub(crate) fn field_path(&self) -> Option<&str> {
        self.value_from.as_ref()?["fieldRef"]["fieldPath"].as_str()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Container {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) env: Vec<EnvVar>,
    pub(crate) volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct VolumeMount {
    pub(crate) name: String,
    pub(crate) mount_path: String,
    pub(crate) sub_path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Volume {
    pub(crate) name: String,
    pub(crate) config_map: Option<ConfigMapSource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct KeyToPath {
    pub(crate) key: String,
    pub(crate) path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConfigMapSource {
    pub(crate) name: String,
    /// Only these keys, at these paths (all keys when empty).
    pub(crate) items: Vec<KeyToPath>,
}

impl Container {
    pub(crate) fn env(&self, name: &str) -> Option<&EnvVar> {
        self.env.iter().find(|e| e.name == name)
    }

    pub(crate) fn env_value(&self, name: &str) -> Option<&str> {
        self.env(name)?.value.as_deref()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    pub(crate) containers: Vec<Container>,
    pub(crate) volumes: Vec<Volume>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodTemplate {
    pub(crate) metadata: Meta,
    pub(crate) spec: PodSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct LabelSelector {
    pub(crate) match_labels: BTreeMap<String, String>,
}

impl LabelSelector {
    /// As `kubectl -l` takes it: `a=b,c=d`.
    pub(crate) fn to_query(&self) -> String {
        self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct DeploymentSpec {
    pub(crate) replicas: Option<u64>,
    pub(crate) selector: LabelSelector,
    pub(crate) template: PodTemplate,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct DeploymentStatus {
    pub(crate) observed_generation: i64,
    pub(crate) replicas: u64,
    pub(crate) updated_replicas: u64,
    pub(crate) available_replicas: u64,
    pub(crate) ready_replicas: u64,
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Deployment {
    pub(crate) metadata: Meta,
    pub(crate) spec: DeploymentSpec,
    pub(crate) status: DeploymentStatus,
}

impl Deployment {
    pub(crate) fn available(&self) -> bool {
        self.status.available_replicas > 0
    }

    /// Whether the controller has rolled out the current spec, as `kubectl rollout status` judges it: the spec
    /// seen, every replica of the new template, no old pod left, and the new ones available.
    pub(crate) fn rolled_out(&self) -> bool {
        let s = &self.status;
        let wanted = self.spec.replicas.unwrap_or(1);
        self.metadata.generation <= s.observed_generation
            && s.updated_replicas >= wanted
            && s.replicas <= s.updated_replicas
            && s.available_replicas >= s.updated_replicas
    }

    /// The first container: the wizard's Deployments have one.
    pub(crate) fn container(&self) -> Container {
        self.spec.template.spec.containers.first().cloned().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Waiting {
    pub(crate) reason: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerState {
    pub(crate) waiting: Option<Waiting>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerStatus {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) ready: bool,
    pub(crate) restart_count: u64,
    pub(crate) state: ContainerState,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodStatus {
    pub(crate) phase: String,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pod {
    pub(crate) metadata: Meta,
    pub(crate) spec: PodSpec,
    pub(crate) status: PodStatus,
}

impl Pod {
    pub(crate) fn running(&self) -> bool {
        self.status.phase == "Running"
    }

    pub(crate) fn ready(&self) -> bool {
        condition(&self.status.conditions, "Ready").is_some_and(Condition::is_true)
    }

    pub(crate) fn phase(&self) -> &str {
        if self.status.phase.is_empty() {
            "Pending"
        } else {
            &self.status.phase
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServicePort {
    pub(crate) name: String,
    pub(crate) port: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServiceSpec {
    pub(crate) selector: BTreeMap<String, String>,
    pub(crate) ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    pub(crate) metadata: Meta,
    pub(crate) spec: ServiceSpec,
}

impl Service {
    /// The first port, or `default` when the Service lists none.
    pub(crate) fn port(&self, default: u16) -> u16 {
        self.spec.ports.first().and_then(|p| u16::try_from(p.port).ok()).unwrap_or(default)
    }

    pub(crate) fn selector_query(&self) -> String {
        self.spec.selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ServiceReference {
    pub(crate) name: String,
    pub(crate) namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ApiServiceSpec {
    pub(crate) service: Option<ServiceReference>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ApiServiceStatus {
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ApiService {
    pub(crate) metadata: Meta,
    pub(crate) spec: ApiServiceSpec,
    pub(crate) status: ApiServiceStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConfigMap {
    pub(crate) metadata: Meta,
    pub(crate) data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Secret {
    pub(crate) metadata: Meta,
    pub(crate) data: BTreeMap<String, String>,
}

impl Secret {
    /// A value, decoded (Secret data is base64; Windows has no `base64 --decode` to do it by hand).
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        String::from_utf8(crate::base64::decode(self.data.get(key)?)?).ok()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NodeStatus {
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Node {
    pub(crate) metadata: Meta,
    pub(crate) status: NodeStatus,
}

impl Node {
    pub(crate) fn ready(&self) -> bool {
        condition(&self.status.conditions, "Ready").is_some_and(Condition::is_true)
    }
}

/// A metric's target or current value: autoscaling/v2 nests it, v2beta1 names it flat (both are read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct MetricTarget {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) average_value: Option<Value>,
    pub(crate) value: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MetricName {
    pub(crate) name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodsMetric {
    pub(crate) metric: MetricName,
    pub(crate) target: MetricTarget,
    pub(crate) current: MetricTarget,
    /// v2beta1
    pub(crate) metric_name: String,
    pub(crate) target_average_value: Option<Value>,
    pub(crate) current_average_value: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ExternalMetric {
    pub(crate) metric: MetricName,
    pub(crate) target: MetricTarget,
    pub(crate) current: MetricTarget,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetricSpec {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) pods: Option<PodsMetric>,
    pub(crate) external: Option<ExternalMetric>,
}

impl MetricSpec {
    /// The metric's name, whichever autoscaling version wrote it.
    pub(crate) fn name(&self) -> String {
        match (&self.pods, &self.external) {
            (Some(p), _) if !p.metric.name.is_empty() => p.metric.name.clone(),
            (Some(p), _) => p.metric_name.clone(),
            (None, Some(e)) => e.metric.name.clone(),
            (None, None) => String::new(),
        }
    }

    /// The target average (or value), as the server wrote it.
    pub fn target(&self) -> Option<String> {
        let quantity = match (&self.pods, &self.external) {
            (Some(p), _) => p.target.average_value.clone().or(p.target_average_value.clone()),
            (None, Some(e)) => e.target.average_value.clone().or(e.target.value.clone()),
            (None, None) => None,
        };
        quantity.map(|q| quantity_text(&q))
    }

    /// The current average (or value), when the autoscaler has read one.
    pub(crate) fn current(&self) -> Option<String> {
        let quantity = match (&self.pods, &self.external) {
            (Some(p), _) => p.current.average_value.clone().or(p.current_average_value.clone()),
            (None, Some(e)) => e.current.average_value.clone().or(e.current.value.clone()),
            (None, None) => None,
        };
        quantity.map(|q| quantity_text(&q))
    }
}

/// A Quantity as written: a string (`"100"`, `"1500m"`) or, from some writers, a number.
fn quantity_text(value: &Value) -> String {
    value.as_str().map(String::from).unwrap_or_else(|| value.to_string())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ScaleTargetRef {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct HpaSpec {
    pub(crate) scale_target_ref: ScaleTargetRef,
    pub(crate) min_replicas: Option<u64>,
    pub(crate) max_replicas: u64,
    pub(crate) metrics: Vec<MetricSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct HpaStatus {
    pub(crate) current_replicas: u64,
    pub(crate) desired_replicas: u64,
    pub(crate) current_metrics: Vec<MetricSpec>,
    pub(crate) conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Hpa {
    pub(crate) api_version: String,
    pub(crate) metadata: Meta,
    pub(crate) spec: HpaSpec,
    pub(crate) status: HpaStatus,
}

impl Hpa {
    pub fn metric(&self) -> MetricSpec {
        self.spec.metrics.first().cloned().unwrap_or_default()
    }

    /// The current value of its (first) metric, if it has read one.
    pub fn current_value(&self) -> Option<String> {
        self.status.current_metrics.first().and_then(MetricSpec::current)
    }

    pub(crate) fn scaling_active(&self) -> bool {
        condition(&self.status.conditions, "ScalingActive").is_some_and(Condition::is_true)
    }

    /// Conditions that stop it from scaling (False ones, but for ScalingLimited which only says it is at a bound).
    pub fn blocking_conditions(&self) -> Vec<&Condition> {
        self.status.conditions.iter().filter(|c| !c.is_true() && c.kind != "ScalingLimited").collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollout_is_done_when_the_new_template_serves_alone() {
        let deployment = |generation: i64, status: serde_json::Value| -> Deployment {
            serde_json::from_value(
                json!({"metadata": {"generation": generation}, "spec": {"replicas": 1}, "status": status}),
            )
            .unwrap()
        };
        // the spec not yet seen; the old pod still serving beside the new; the new one not ready; done
        let seen = json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1});
        assert!(!deployment(3, seen.clone()).rolled_out());
        let both = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1});
        assert!(!deployment(3, both).rolled_out());
        let starting = json!({"observedGeneration": 3, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0});
        assert!(!deployment(3, starting).rolled_out());
        assert!(deployment(2, seen).rolled_out());
    }

    #[test]
    fn an_hpa_reads_the_same_in_v2_and_v2beta1() {
        let v2: Hpa = serde_json::from_value(json!({"spec": {"metrics": [{"type": "Pods", "pods": {"metric": {"name": "M"}, "target": {"type": "AverageValue", "averageValue": "100"}}}]},
            "status": {"currentMetrics": [{"type": "Pods", "pods": {"metric": {"name": "M"}, "current": {"averageValue": "1500m"}}}],
            "conditions": [{"type": "ScalingActive", "status": "True"}]}}))
        .unwrap();
        let v2beta1: Hpa = serde_json::from_value(json!({"spec": {"metrics": [{"type": "Pods", "pods": {"metricName": "M", "targetAverageValue": "100"}}]},
            "status": {"currentMetrics": [{"type": "Pods", "pods": {"metricName": "M", "currentAverageValue": "1500m"}}]}}))
        .unwrap();
        for hpa in [&v2, &v2beta1] {
            assert_eq!(hpa.metric().name(), "M");
            assert_eq!(hpa.metric().target().as_deref(), Some("100"));
            assert_eq!(hpa.current_value().as_deref(), Some("1500m"));
        }
        assert!(v2.scaling_active() && !v2beta1.scaling_active());
    }

    #[test]
    fn missing_fields_read_as_empty() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!((pod.phase(), pod.ready(), pod.running()), ("Pending", false, false));
        let d: Deployment = serde_json::from_value(json!({})).unwrap();
        assert!(!d.available());
        assert_eq!(d.container().image, "");
    }
}
