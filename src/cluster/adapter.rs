//! prometheus-adapter: the rules its ConfigMap holds (as the adapter reads them), its pod, and what the
//! custom metrics API it serves answers for the Interlok pods.

use serde_json::Value;

use super::views::{ConfigMap, Pod};
use super::{get, list, Reader};
use crate::manifests::schema::AdapterRule;
use crate::problem::Problem;

pub(crate) const NAME: &str = "prometheus-adapter";
const POD_SELECTOR: &str = "app.kubernetes.io/name=prometheus-adapter";

/// Whether a rule exposes this metric name (by its `as`, or by naming the series itself).
pub(crate) fn exposes(rule: &AdapterRule, metric: &str) -> bool {
    rule.name.as_ == metric || (rule.name.as_.is_empty() && rule.series_query.contains(metric))
}

/// The rules in the adapter's ConfigMap; empty when there is no adapter.
fn installed_rules(reader: &(impl Reader + ?Sized)) -> Result<Vec<AdapterRule>, Problem> {
    let namespace = reader.cx().settings.monitoring_namespace.clone();
    let Some(configmap) = get::<ConfigMap>(reader, "configmap", &namespace, NAME)? else {
        return Ok(Vec::new());
    };
    let text = configmap.data.get("config.yaml").map(String::as_str).unwrap_or_default();
    let config: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
    let rules = config["rules"].as_sequence().cloned().unwrap_or_default();
    Ok(rules.into_iter().filter_map(|r| serde_yaml::from_value(r).ok()).collect())
}

/// The rule that exposes the wizard's metric, if any.
pub(crate) fn rule_for_metric(reader: &(impl Reader + ?Sized)) -> Result<Option<AdapterRule>, Problem> {
    let metric = reader.cx().settings.metric.clone();
    Ok(installed_rules(reader)?.into_iter().find(|r| exposes(r, &metric)))
}

/// The adapter's pod, if there is one.
pub(crate) fn pod(reader: &(impl Reader + ?Sized)) -> Result<Option<Pod>, Problem> {
    let namespace = reader.cx().settings.monitoring_namespace.clone();
    Ok(list::<Pod>(reader, "pods", &namespace, Some(POD_SELECTOR))?.into_iter().next())
}

/// The Interlok pods the custom metrics API has a value of the metric for: (pod, value).
pub(crate) fn values(reader: &(impl Reader + ?Sized)) -> Result<Vec<(String, String)>, Problem> {
    let cx = reader.cx();
    let path = format!(
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/{}/pods/*/{}",
        cx.settings.namespace, cx.settings.metric
    );
    let output = super::read(reader, &cx.kubectl().get_raw(&path))?;
    let value: Value = serde_json::from_str(&output).unwrap_or(Value::Null);
    Ok(value["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let pod = i["describedObject"]["name"].as_str()?.to_string();
                    Some((pod, i["value"].as_str().unwrap_or_default().to_string()))
                })
                .collect()
        })
        .unwrap_or_default())
}
