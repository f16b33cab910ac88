//! HorizontalPodAutoscaler versions: the store keeps `autoscaling/v2`; reads and writes in v2beta2 (same
//! shape), v2beta1 (`metricName`/`targetAverageValue`) or v1 (CPU only) are converted as a real server does.

use serde_json::{json, Value};

pub fn convert(hpa: &Value, to: &str) -> Value {
    let mut out = hpa.clone();
    let metrics = hpa["spec"]["metrics"].as_array().cloned().unwrap_or_default();
    let is_v2beta1 = metrics.iter().any(|m| m["pods"].get("metricName").is_some());
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
    let pods = &metric["pods"];
    json!({"type": "Pods", "pods": {"metric": {"name": pods["metricName"]},
           "target": {"type": "AverageValue", "averageValue": pods["targetAverageValue"]}}})
}

fn to_v2beta1(metric: &Value) -> Value {
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
}
