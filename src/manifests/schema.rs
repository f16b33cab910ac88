//! The shapes of what the wizard applies, strictly: every struct denies unknown fields, so a misspelt or
//! misplaced key in a template fails the tests instead of being ignored by the API server.
//! Most fields are never read: they are there for serde to check, which is why dead code is allowed here.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Deployment {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: DeploymentSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DeploymentSpec {
    pub(crate) replicas: Option<u32>,
    pub(crate) selector: LabelSelector,
    pub(crate) template: PodTemplate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LabelSelector {
    pub(crate) match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodTemplate {
    pub(crate) metadata: TemplateMeta,
    pub(crate) spec: PodSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateMeta {
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodSpec {
    pub(crate) containers: Vec<Container>,
    #[serde(default)]
    pub(crate) volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Volume {
    pub(crate) name: String,
    pub(crate) config_map: ConfigMapVolume,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigMapVolume {
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Container {
    pub(crate) name: String,
    pub(crate) image: String,
    #[serde(default)]
    pub(crate) ports: Vec<ContainerPort>,
    #[serde(default)]
    pub(crate) env: Vec<EnvVar>,
    #[serde(default)]
    pub(crate) volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VolumeMount {
    pub(crate) name: String,
    pub(crate) mount_path: String,
    pub(crate) sub_path: Option<String>,
    pub(crate) read_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    pub(crate) name: Option<String>,
    pub(crate) container_port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
    pub(crate) value_from: Option<EnvSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct EnvSource {
    pub(crate) field_ref: FieldRef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FieldRef {
    pub(crate) field_path: String,
}

/// The user's Interlok configuration, one key per file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ConfigMap {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) data: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Service {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: ServiceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServiceSpec {
    #[serde(rename = "type")]
    pub(crate) type_: String,
    pub(crate) selector: BTreeMap<String, String>,
    pub(crate) ports: Vec<ServicePort>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServicePort {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) target_port: serde_yaml::Value,
}

/// autoscaling/v2 and v2beta2.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HorizontalPodAutoscaler {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: HpaSpec<PodsMetricV2>,
}

/// autoscaling/v2beta1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HorizontalPodAutoscalerV2beta1 {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: HpaSpec<PodsMetricV2beta1>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HpaSpec<M> {
    pub(crate) scale_target_ref: CrossVersionObjectReference,
    pub(crate) min_replicas: u32,
    pub(crate) max_replicas: u32,
    pub(crate) metrics: Vec<MetricSpec<M>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CrossVersionObjectReference {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricSpec<M> {
    #[serde(rename = "type")]
    pub(crate) type_: String,
    pub(crate) pods: M,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodsMetricV2 {
    pub(crate) metric: MetricIdentifier,
    pub(crate) target: MetricTarget,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricIdentifier {
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MetricTarget {
    #[serde(rename = "type")]
    pub(crate) type_: String,
    pub(crate) average_value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PodsMetricV2beta1 {
    pub(crate) metric_name: String,
    pub(crate) target_average_value: String,
}

/// One prometheus-adapter rule (the adapter's own config format).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdapterRule {
    pub(crate) series_query: String,
    #[serde(default)]
    pub(crate) series_filters: Vec<BTreeMap<String, String>>,
    pub(crate) resources: AdapterResources,
    #[serde(default)]
    pub(crate) name: AdapterNaming,
    pub(crate) metrics_query: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdapterResources {
    #[serde(default)]
    pub(crate) overrides: BTreeMap<String, AdapterOverride>,
    pub(crate) template: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdapterOverride {
    pub(crate) resource: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdapterNaming {
    #[serde(default)]
    pub(crate) matches: String,
    #[serde(default, rename = "as")]
    pub(crate) as_: String,
}

/// keda.sh/v1alpha1 ScaledObject, with the one `prometheus` trigger the wizard writes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScaledObject {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: ScaledObjectSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScaledObjectSpec {
    pub(crate) scale_target_ref: CrossVersionObjectReference,
    pub(crate) min_replica_count: u32,
    pub(crate) max_replica_count: u32,
    pub(crate) polling_interval: u32,
    pub(crate) triggers: Vec<PrometheusTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PrometheusTrigger {
    #[serde(rename = "type")]
    pub(crate) type_: String,
    pub(crate) metric_type: String,
    pub(crate) metadata: PrometheusMetadata,
}

/// KEDA reads trigger metadata as strings only (its CRD refuses numbers and booleans there).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PrometheusMetadata {
    pub(crate) server_address: String,
    pub(crate) query: String,
    pub(crate) threshold: String,
    pub(crate) ignore_null_values: String,
}
