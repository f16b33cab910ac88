//! KEDA's `prometheus` scaler (pkg/scalers/prometheus_scaler.go in kedacore/keda v2.20.2): its trigger
//! metadata parsed as KEDA's typed config parses it, and its query run against the world's real
//! Prometheus, found from the operator's pod through cluster DNS. Errors use KEDA's (and Go's) words.

use std::time::Duration;

use serde_json::{json, Value};

use crate::apiserver::ApiState;
use crate::controllers::format_quantity;
use crate::kubelet::WorldKubelet;
use crate::store::now_rfc3339;

/// KEDA_HTTP_DEFAULT_TIMEOUT in the chart: 3000 ms.
const HTTP_TIMEOUT: Duration = Duration::from_millis(3000);

#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    pub index: usize,
    pub server_address: String,
    pub query: String,
    pub threshold: f64,
    pub activation_threshold: f64,
    pub ignore_null_values: bool,
    /// The trigger's `metricType`: AverageValue (the default) or Value.
    pub metric_type: String,
}

/// The scalers of a ScaledObject, one per trigger, or the error KEDA's scaler builder reports.
pub fn build(scaled_object: &Value) -> Result<Vec<Prometheus>, String> {
    let triggers = scaled_object["spec"]["triggers"].as_array().cloned().unwrap_or_default();
    triggers.iter().enumerate().map(|(index, trigger)| Prometheus::parse(index, trigger)).collect()
}

fn metadata_param(metadata: &Value, name: &str) -> Option<String> {
    metadata[name].as_str().map(str::trim).filter(|v| !v.is_empty()).map(String::from)
}

/// A float as the typed config reads one (JSON-decoded).
fn float_param(name: &str, text: &str) -> Result<f64, String> {
    serde_json::from_str::<f64>(text).map_err(|_| {
        let first = text.chars().next().unwrap_or(' ');
        format!("unable to set param \"{name}\" value \"{text}\": unable to unmarshal to field type float64: invalid character '{first}' looking for beginning of value")
    })
}

/// Go's strconv.ParseBool.
fn bool_param(name: &str, text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "unable to set param \"{name}\" value \"{text}\": unable to parse boolean value \"{text}\": strconv.ParseBool: parsing \"{text}\": invalid syntax"
        )),
    }
}

impl Prometheus {
    fn parse(index: usize, trigger: &Value) -> Result<Prometheus, String> {
        let kind = trigger["type"].as_str().unwrap_or_default();
        if kind != "prometheus" {
            return Err(format!(
                "the test world emulates only KEDA's prometheus scaler, not {kind:?} (trigger #{index})"
            ));
        }
        let metric_type = match trigger["metricType"].as_str().unwrap_or("") {
            "" => "AverageValue".to_string(),
            "Utilization" => {
                return Err("error getting scaler metric type: scaler does not support utilization metric type".into())
            }
            other => other.to_string(),
        };
        let metadata = &trigger["metadata"];
        let mut errors = Vec::new();
        let mut required = |name: &str| {
            let value = metadata_param(metadata, name);
            if value.is_none() {
                errors.push(format!("missing required parameter \"{name}\" in [triggerMetadata]"));
            }
            value.unwrap_or_default()
        };
        let server_address = required("serverAddress");
        let query = required("query");
        let threshold_text = required("threshold");
        let threshold = if threshold_text.is_empty() {
            0.0
        } else {
            float_param("threshold", &threshold_text).unwrap_or_else(|e| {
                errors.push(e);
                0.0
            })
        };
        let activation_threshold = match metadata_param(metadata, "activationThreshold") {
            Some(text) => float_param("activationThreshold", &text).unwrap_or_else(|e| {
                errors.push(e);
                0.0
            }),
            None => 0.0,
        };
        let ignore_null_values = bool_param(
            "ignoreNullValues",
            &metadata_param(metadata, "ignoreNullValues").unwrap_or_else(|| "true".into()),
        )
        .unwrap_or_else(|e| {
            errors.push(e);
            true
        });
        if !errors.is_empty() {
            // NewPrometheusScaler and parsePrometheusMetadata both wrap the typed config's joined errors
            return Err(format!(
                "error parsing prometheus metadata: error parsing prometheus metadata: {}",
                errors.join("\n")
            ));
        }
        Ok(Prometheus {
            index,
            server_address,
            query,
            threshold,
            activation_threshold,
            ignore_null_values,
            metric_type,
        })
    }

    /// `s<index>-prometheus`, the External metric's name in the HPA and the metrics API.
    pub fn metric_name(&self) -> String {
        format!("s{}-prometheus", self.index)
    }

    /// The HPA's metric for this trigger, selected by the ScaledObject's name label.
    pub fn metric_spec(&self, scaled_object: &str) -> Value {
        let quantity = format_quantity(milli(self.threshold));
        let target = if self.metric_type == "AverageValue" {
            json!({"type": "AverageValue", "averageValue": quantity})
        } else {
            json!({"type": self.metric_type, "value": quantity})
        };
        json!({"type": "External", "external": {
            "metric": {"name": self.metric_name(), "selector": {"matchLabels": {super::NAME_LABEL: scaled_object}}},
            "target": target}})
    }

    /// Whether a value makes this trigger active.
    pub fn active(&self, value: f64) -> bool {
        value > self.activation_threshold
    }

    /// ExecutePromQuery: the query's single number, from the Prometheus `serverAddress` names as seen from
    /// a pod in `from_namespace`.
    pub fn value(&self, state: &ApiState, kubelet: &WorldKubelet, from_namespace: &str) -> Result<f64, String> {
        let url =
            format!("{}/api/v1/query?query={}&time={}", self.server_address, query_escape(&self.query), now_rfc3339());
        let get_error = |why: String| format!("Get \"{url}\": {why}");
        let (scheme, rest) = self.server_address.split_once("://").unwrap_or(("", &self.server_address));
        if scheme != "http" && scheme != "https" {
            return Err(get_error(format!("unsupported protocol scheme \"{scheme}\"")));
        }
        let (host_port, path) = rest.split_once('/').map_or((rest, String::new()), |(h, p)| (h, format!("/{p}")));
        let host_port = if host_port.contains(':') {
            host_port.to_string()
        } else {
            format!("{host_port}:{}", if scheme == "https" { 443 } else { 80 })
        };
        let addr = crate::dns::resolve(state, kubelet, from_namespace, &host_port).map_err(get_error)?;
        if scheme == "https" {
            return Err(get_error("http: server gave HTTP response to HTTPS client".into()));
            // the world's Prometheus speaks HTTP
        }
        let response = ureq::get(&format!("http://{addr}{path}/api/v1/query"))
            .timeout(HTTP_TIMEOUT)
            .query("query", &self.query)
            .query("time", &now_rfc3339())
            .call();
        let body = match response {
            Ok(response) => response.into_string().map_err(|e| e.to_string())?,
            Err(ureq::Error::Status(status, _)) => {
                return Err(format!("prometheus query api returned error. status: {status}"))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(get_error(match t.kind() {
                    ureq::ErrorKind::ConnectionFailed => format!("dial tcp {host_port}: connect: connection refused"),
                    _ => "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into(),
                }))
            }
        };
        self.read_result(&body)
    }

    /// How KEDA reads Prometheus' answer: zero or one sample; empty means 0 with ignoreNullValues.
    pub fn read_result(&self, body: &str) -> Result<f64, String> {
        let answer: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        let result = &answer["data"]["result"];
        let samples = match result {
            Value::Array(items) if items.iter().all(Value::is_object) => items.clone(),
            Value::Null => Vec::new(),
            _ => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field .data.result of type struct {{ Metric struct {{}} \"json:\\\"metric\\\"\"; Value []interface {{}} \"json:\\\"value\\\"\" }}",
                    json_kind(result.as_array().and_then(|a| a.first()).unwrap_or(result))
                ))
            }
        };
        let null = |what: &str| {
            if self.ignore_null_values {
                Ok(0.0)
            } else {
                Err(format!("prometheus metrics 'prometheus' target may be lost, {what}"))
            }
        };
        match samples.as_slice() {
            [] => null("the result is empty"),
            [sample] => {
                let value = sample["value"].as_array().cloned().unwrap_or_default();
                match value.len() {
                    0 => null("the value list is empty"),
                    1 => Err(format!("prometheus query {} didn't return enough values", self.query)),
                    _ => {
                        let text = value[1].as_str().unwrap_or_default();
                        let number = go_parse_float(text)
                            .map_err(|_| format!("strconv.ParseFloat: parsing {text:?}: invalid syntax"))?;
                        if number.is_finite() {
                            Ok(number)
                        } else if self.ignore_null_values {
                            Ok(0.0)
                        } else {
                            Err(format!("prometheus query returns {}", go_float(number)))
                        }
                    }
                }
            }
            _ => Err(format!("prometheus query {} returned multiple elements", self.query)),
        }
    }
}

/// A value as KEDA turns it into a quantity: milli precision, negative or not finite as 0.
pub fn milli(value: f64) -> f64 {
    if value.is_finite() && value >= 0.0 {
        (value * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// Prometheus writes NaN and ±Inf as Go does; strconv.ParseFloat reads them.
fn go_parse_float(text: &str) -> Result<f64, ()> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| ()),
    }
}

/// Go's `%f`: NaN, +Inf, -Inf.
fn go_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

/// Go's url.QueryEscape: unreserved characters stay, space becomes '+', the rest %XX.
pub fn query_escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(metadata: Value) -> Value {
        json!({"type": "prometheus", "metadata": metadata})
    }

    fn scaler(ignore_null: &str) -> Prometheus {
        Prometheus::parse(
            0,
            &trigger(json!({"serverAddress": "http://p:80", "query": "sum(x)", "threshold": "100", "ignoreNullValues": ignore_null})),
        )
        .expect("valid")
    }

    #[test]
    fn metadata_parses_with_keda_defaults() {
        let s = Prometheus::parse(
            1,
            &trigger(json!({"serverAddress": "http://p:80", "query": "sum(x)", "threshold": "2.5"})),
        )
        .unwrap();
        assert_eq!((s.threshold, s.activation_threshold, s.ignore_null_values), (2.5, 0.0, true));
        assert_eq!(s.metric_type, "AverageValue");
        assert_eq!(s.metric_name(), "s1-prometheus");
        assert_eq!(s.metric_spec("so")["external"]["target"], json!({"type": "AverageValue", "averageValue": "2500m"}));
        assert_eq!(
            s.metric_spec("so")["external"]["metric"]["selector"]["matchLabels"]["scaledobject.keda.sh/name"],
            "so"
        );
    }

    #[test]
    fn missing_and_malformed_metadata_fail_in_kedas_words() {
        let error = Prometheus::parse(0, &trigger(json!({"query": "q", "threshold": " "}))).unwrap_err();
        assert_eq!(
            error,
            "error parsing prometheus metadata: error parsing prometheus metadata: missing required parameter \"serverAddress\" in [triggerMetadata]\nmissing required parameter \"threshold\" in [triggerMetadata]"
        );
        let error =
            Prometheus::parse(0, &trigger(json!({"serverAddress": "http://p", "query": "q", "threshold": "abc"})))
                .unwrap_err();
        assert!(error.ends_with("unable to set param \"threshold\" value \"abc\": unable to unmarshal to field type float64: invalid character 'a' looking for beginning of value"), "{error}");
        let error = Prometheus::parse(0, &json!({"type": "cpu", "metadata": {}})).unwrap_err();
        assert!(error.contains("only KEDA's prometheus scaler"), "{error}");
    }

    #[test]
    fn results_read_as_keda_reads_them() {
        let one = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"150"]}]}}"#;
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        let two = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]},{"metric":{},"value":[1,"2"]}]}}"#;
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"5"]}}"#;
        assert_eq!(scaler("true").read_result(one), Ok(150.0));
        assert_eq!(scaler("true").read_result(empty), Ok(0.0));
        assert_eq!(
            scaler("false").read_result(empty),
            Err("prometheus metrics 'prometheus' target may be lost, the result is empty".into())
        );
        assert_eq!(scaler("true").read_result(two), Err("prometheus query sum(x) returned multiple elements".into()));
        assert_eq!(scaler("true").read_result(nan), Ok(0.0));
        assert_eq!(scaler("false").read_result(nan), Err("prometheus query returns NaN".into()));
        assert!(scaler("true").read_result(scalar).unwrap_err().starts_with("json: cannot unmarshal number"));
    }

    #[test]
    fn queries_escape_as_go_escapes_them() {
        assert_eq!(query_escape("sum(M{a=\"b c\"})"), "sum%28M%7Ba%3D%22b+c%22%7D%29");
    }
}
