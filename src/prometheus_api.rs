//! The Prometheus and Pushgateway HTTP APIs, as verify reads them: instant queries, series, targets, and
//! the Pushgateway's groups. Responses are parsed defensively: a server that answers garbage is a finding,
//! never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) type Labels = BTreeMap<String, String>;

fn get_json(url: &str, query: &[(&str, &str)]) -> Result<Value, String> {
    let client = reqwest::blocking::Client::builder().timeout(TIMEOUT).build().map_err(|e| e.to_string())?;
    let response = client.get(url).query(query).send().map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let text = response.text().map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url} answered HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url} answered something that is not JSON ({e})"))
}

fn data(value: &Value) -> Result<&Value, String> {
    if value["status"] != "success" {
        return Err(format!(
            "Prometheus answered {}: {}",
            value["errorType"].as_str().unwrap_or("an error"),
            value["error"].as_str().unwrap_or("")
        ));
    }
    Ok(&value["data"])
}

fn labels(value: &Value) -> Labels {
    value
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// An instant query's vector: (labels, value) per sample.
pub(crate) fn query(base: &str, promql: &str) -> Result<Vec<(Labels, f64)>, String> {
    let response = get_json(&format!("{base}/api/v1/query"), &[("query", promql)])?;
    parse_vector(&response)
}

pub fn parse_vector(response: &Value) -> Result<Vec<(Labels, f64)>, String> {
    let data = data(response)?;
    let result = data["result"].as_array().ok_or("Prometheus answered without a result vector")?;
    Ok(result
        .iter()
        .filter_map(|s| Some((labels(&s["metric"]), s["value"].get(1)?.as_str()?.parse::<f64>().ok()?)))
        .collect())
}

/// The label sets of every series matching a selector.
pub(crate) fn series(base: &str, selector: &str) -> Result<Vec<Labels>, String> {
    let response = get_json(&format!("{base}/api/v1/series"), &[("match[]", selector)])?;
    let data = data(&response)?;
    Ok(data.as_array().ok_or("Prometheus answered without a series list")?.iter().map(labels).collect())
}

/// Prometheus's build version (proves the API answers).
pub(crate) fn build_version(base: &str) -> Result<String, String> {
    let response = get_json(&format!("{base}/api/v1/status/buildinfo"), &[])?;
    Ok(data(&response)?["version"].as_str().unwrap_or("unknown").to_string())
}

/// One Pushgateway group: its grouping labels, when it was last pushed (unix seconds), and the names of the
/// metric families pushed into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub(crate) labels: Labels,
    pub(crate) last_push: Option<f64>,
    pub(crate) metrics: Vec<String>,
}

pub(crate) fn pushgateway_groups(base: &str) -> Result<Vec<Group>, String> {
    let response = get_json(&format!("{base}/api/v1/metrics"), &[])?;
    parse_groups(&response)
}

pub fn parse_groups(response: &Value) -> Result<Vec<Group>, String> {
    let data = data(response)?;
    Ok(data
        .as_array()
        .ok_or("the Pushgateway answered without a group list")?
        .iter()
        .map(|g| {
            let last_push = g["push_time_seconds"]["metrics"][0]["value"].as_str().and_then(|v| v.parse().ok());
            // the pushgateway's own bookkeeping families sit beside the pushed ones
            let metrics = g
                .as_object()
                .map(|families| {
                    families
                        .iter()
                        .filter(|(name, family)| {
                            family["metrics"].is_array()
                                && !matches!(name.as_str(), "push_time_seconds" | "push_failure_time_seconds")
                        })
                        .map(|(name, _)| name.clone())
                        .collect()
                })
                .unwrap_or_default();
            Group { labels: labels(&g["labels"]), last_push, metrics }
        })
        .collect())
}

/// A range query's first series as values (for sparklines).
pub(crate) fn range(base: &str, promql: &str, start: u64, end: u64, step: u64) -> Result<Vec<f64>, String> {
    let (start, end, step) = (start.to_string(), end.to_string(), step.to_string());
    let response = get_json(
        &format!("{base}/api/v1/query_range"),
        &[("query", promql), ("start", &start), ("end", &end), ("step", &step)],
    )?;
    let data = data(&response)?;
    let first = data["result"].as_array().and_then(|r| r.first()).cloned().unwrap_or(Value::Null);
    Ok(first["values"]
        .as_array()
        .map(|vs| vs.iter().filter_map(|v| v.get(1)?.as_str()?.parse().ok()).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vectors_and_groups_parse_and_garbage_does_not_panic() {
        let v = json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"k8s_pod_name": "p"}, "value": [1.0, "150"]}]}});
        assert_eq!(parse_vector(&v).unwrap()[0].1, 150.0);
        assert!(parse_vector(&json!({"status": "error", "errorType": "bad_data", "error": "parse error"})).is_err());
        assert!(parse_vector(&json!([1, 2])).is_err());
        let g = json!({"status": "success", "data": [{"labels": {"job": "interlok", "k8s_pod_name": "p"}, "push_time_seconds": {"metrics": [{"value": "1700000000.5"}]},
            "push_failure_time_seconds": {"metrics": [{"value": "0"}]}, "last_push_successful": true,
            "MessageMetrics": {"type": "COUNTER", "metrics": [{"value": "5"}]}}]});
        let groups = parse_groups(&g).unwrap();
        assert_eq!(groups[0].labels["job"], "interlok");
        assert_eq!(groups[0].last_push, Some(1_700_000_000.5));
        assert_eq!(groups[0].metrics, ["MessageMetrics"]);
    }
}
