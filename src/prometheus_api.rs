//! The Prometheus and Pushgateway HTTP APIs, as verify reads them: instant queries, series, targets, and
//! the Pushgateway's groups. Responses are parsed defensively: a server that answers garbage is a finding,
//! never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::reach::Reach;

const TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) type Labels = BTreeMap<String, String>;

fn get_json<T: DeserializeOwned>(reach: &Reach, path: &str, query: &[(&str, &str)]) -> Result<T, String> {
    let (status, text) = reach.get(path, query, TIMEOUT)?;
    let url = reach.shown(path);
    if !(200..300).contains(&status) {
        return Err(format!("{url} answered HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url} answered something that is not JSON ({e})"))
}

/// The envelope of every Prometheus (and Pushgateway) API answer: `data` when `status` is success.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer<T> {
    status: String,
    data: Option<T>,
    error_type: Option<String>,
    error: Option<String>,
}

impl<T> Answer<T> {
    fn data(self, what: &str) -> Result<T, String> {
        if self.status != "success" {
            return Err(format!(
                "Prometheus answered {}: {}",
                self.error_type.as_deref().unwrap_or("an error"),
                self.error.as_deref().unwrap_or("")
            ));
        }
        self.data.ok_or_else(|| format!("Prometheus answered without {what}"))
    }
}

/// A sample's value as the API writes it: `[unix seconds, "value"]`.
type Point = (f64, String);

#[derive(Deserialize)]
struct Vector {
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: Labels,
    value: Point,
}

#[derive(Deserialize)]
struct Matrix {
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    values: Vec<Point>,
}

#[derive(Deserialize)]
struct BuildInfo {
    version: String,
}

/// A Pushgateway group as `/api/v1/metrics` lists it: its labels, and beside them one entry per metric family
/// (`{"metrics": [...]}`), the pushgateway's own bookkeeping ones included, and `last_push_successful`.
#[derive(Deserialize)]
struct PushedGroup {
    #[serde(default)]
    labels: Labels,
    #[serde(flatten)]
    entries: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct Family {
    metrics: Vec<FamilyMetric>,
}

#[derive(Deserialize)]
struct FamilyMetric {
    value: Option<String>,
}

fn parse<T: DeserializeOwned>(response: &Value, what: &str) -> Result<T, String> {
    let answer: Answer<T> = serde_json::from_value(response.clone())
        .map_err(|e| format!("Prometheus answered something unexpected ({e})"))?;
    answer.data(what)
}

/// An instant query's vector: (labels, value) per sample.
pub(crate) fn query(prometheus: &Reach, promql: &str) -> Result<Vec<(Labels, f64)>, String> {
    let response: Value = get_json(prometheus, "/api/v1/query", &[("query", promql)])?;
    parse_vector(&response)
}

pub fn parse_vector(response: &Value) -> Result<Vec<(Labels, f64)>, String> {
    let vector: Vector = parse(response, "a result vector")?;
    Ok(vector.result.into_iter().filter_map(|s| Some((s.metric, s.value.1.parse::<f64>().ok()?))).collect())
}

/// The label sets of every series matching a selector.
pub(crate) fn series(prometheus: &Reach, selector: &str) -> Result<Vec<Labels>, String> {
    let answer: Answer<Vec<Labels>> = get_json(prometheus, "/api/v1/series", &[("match[]", selector)])?;
    answer.data("a series list")
}

/// Prometheus's build version (proves the API answers).
pub(crate) fn build_version(prometheus: &Reach) -> Result<String, String> {
    let answer: Answer<BuildInfo> = get_json(prometheus, "/api/v1/status/buildinfo", &[])?;
    Ok(answer.data("its build information")?.version)
}

/// One Pushgateway group: its grouping labels, when it was last pushed (unix seconds), and the names of the
/// metric families pushed into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub(crate) labels: Labels,
    pub(crate) last_push: Option<f64>,
    pub(crate) metrics: Vec<String>,
}

pub(crate) fn pushgateway_groups(pushgateway: &Reach) -> Result<Vec<Group>, String> {
    let response: Value = get_json(pushgateway, "/api/v1/metrics", &[])?;
    parse_groups(&response)
}

pub fn parse_groups(response: &Value) -> Result<Vec<Group>, String> {
    let groups: Vec<PushedGroup> = parse(response, "a group list")?;
    Ok(groups
        .into_iter()
        .map(|g| {
            let families: BTreeMap<String, Family> = g
                .entries
                .into_iter()
                .filter_map(|(name, entry)| Some((name, serde_json::from_value(entry).ok()?)))
                .collect();
            let last_push =
                families.get("push_time_seconds").and_then(|f| f.metrics.first()?.value.as_deref()?.parse().ok());
            // the pushgateway's own bookkeeping families sit beside the pushed ones
            let metrics = families
                .into_keys()
                .filter(|name| !matches!(name.as_str(), "push_time_seconds" | "push_failure_time_seconds"))
                .collect();
            Group { labels: g.labels, last_push, metrics }
        })
        .collect())
}

/// A range query's first series as values (for sparklines).
pub(crate) fn range(prometheus: &Reach, promql: &str, start: u64, end: u64, step: u64) -> Result<Vec<f64>, String> {
    let (start, end, step) = (start.to_string(), end.to_string(), step.to_string());
    let answer: Answer<Matrix> = get_json(
        prometheus,
        "/api/v1/query_range",
        &[("query", promql), ("start", &start), ("end", &end), ("step", &step)],
    )?;
    let first = answer.data("a result matrix")?.result.into_iter().next();
    Ok(first.map(|s| s.values.into_iter().filter_map(|(_, v)| v.parse().ok()).collect()).unwrap_or_default())
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
