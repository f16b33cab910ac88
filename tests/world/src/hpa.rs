//! HorizontalPodAutoscaler versions: the store keeps `autoscaling/v2`; reads and writes in v2beta2 (same
//! shape), v2beta1 (`metricName`/`targetAverageValue`) or v1 (CPU only) are converted as a real server does.

use serde_json::{json, Value};

pub fn convert(hpa: &Value, to: &str) -> Value {
    let mut out = hpa.clone();
    let metrics = hpa["spec"]["metrics"].as_array().cloned().unwrap_or_default();
    let is_v2beta1 = metrics.iter().any(|m| m["pods"].get("metricName").or(m["external"].get("metricName")).is_some());
    let v2_metrics: Vec<Value> = metrics.iter().map(|m| if is_v2beta1 { from_v2beta1(m) } else { m.clone() }).collect();
    match to {
        "v2beta1" => {
            out["spec"]["metrics"] = json!(v2_metrics.iter().map(to_v2beta1).collect::<Vec<_>>());
        }
        "v1" => {
            if let Some(spec) = out["spec"].as_object_mut() {
                spec.remove("metrics");
            }
        }
        _ => {
            if !metrics.is_empty() {
                out["spec"]["metrics"] = json!(v2_metrics);
            }
        }
    }
    if out["apiVersion"].as_str().is_some() {
        out["apiVersion"] = json!(format!("autoscaling/{to}"));
    }
    out
}

fn from_v2beta1(metric: &Value) -> Value {
    if metric["type"] == "External" {
        let external = &metric["external"];
        let target = match &external["targetValue"] {
            Value::Null => json!({"type": "AverageValue", "averageValue": external["targetAverageValue"]}),
            value => json!({"type": "Value", "value": value}),
        };
        return json!({"type": "External", "external": {"metric": {"name": external["metricName"], "selector": external["metricSelector"]}, "target": target}});
    }
    let pods = &metric["pods"];
    json!({"type": "Pods", "pods": {"metric": {"name": pods["metricName"]},
           "target": {"type": "AverageValue", "averageValue": pods["targetAverageValue"]}}})
}

fn to_v2beta1(metric: &Value) -> Value {
    if metric["type"] == "External" {
        let external = &metric["external"];
        let target = &external["target"];
        let mut out =
            json!({"metricName": external["metric"]["name"], "metricSelector": external["metric"]["selector"]});
        match target["type"].as_str() {
            Some("Value") => out["targetValue"] = target["value"].clone(),
            _ => out["targetAverageValue"] = target["averageValue"].clone(),
        }
        return json!({"type": "External", "external": out});
    }
    let pods = &metric["pods"];
    json!({"type": "Pods", "pods": {"metricName": pods["metric"]["name"], "targetAverageValue": pods["target"]["averageValue"]}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2beta1_round_trips_through_v2() {
        let old = json!({"apiVersion": "autoscaling/v2beta1", "spec": {"metrics": [{"type": "Pods", "pods": {"metricName": "MessageMetrics", "targetAverageValue": 100}}]}});
        let v2 = convert(&old, "v2");
        assert_eq!(v2["spec"]["metrics"][0]["pods"]["metric"]["name"], "MessageMetrics");
        assert_eq!(v2["spec"]["metrics"][0]["pods"]["target"]["averageValue"], 100);
        assert_eq!(convert(&v2, "v2beta1")["spec"]["metrics"][0]["pods"]["metricName"], "MessageMetrics");
    }

    #[test]
    fn external_metrics_round_trip_through_v2beta1() {
        let selector = json!({"matchLabels": {"scaledobject.keda.sh/name": "interlok"}});
        let v2 = json!({"apiVersion": "autoscaling/v2", "spec": {"metrics": [{"type": "External", "external": {
            "metric": {"name": "s0-prometheus", "selector": selector}, "target": {"type": "AverageValue", "averageValue": "100"}}}]}});
        let old = convert(&v2, "v2beta1");
        assert_eq!(old["spec"]["metrics"][0]["external"]["metricName"], "s0-prometheus");
        assert_eq!(old["spec"]["metrics"][0]["external"]["targetAverageValue"], "100");
        assert_eq!(convert(&old, "v2"), v2);
    }
}
