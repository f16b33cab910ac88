//! prometheus-adapter, emulated faithfully enough to prove a rule right or wrong: it finds its config the
//! way the real pod does (APIService → Service → Deployment → `--config` file → ConfigMap volume), finds
//! Prometheus through `--prometheus-url` and cluster DNS, discovers series with each rule's `seriesQuery`
//! (and `seriesFilters`), names them with `name.matches`/`as`, maps labels to resources with
//! `resources.overrides`, and answers with the rule's `metricsQuery` template (`<<.Series>>`,
//! `<<.LabelMatchers>>`, `<<.GroupBy>>`) evaluated against the real Prometheus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use regex::Regex;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::apiserver::ApiState;
use crate::controllers::format_quantity;
use crate::http::{Request, Response};
use crate::kubelet::WorldKubelet;
use crate::selectors;
use crate::store::{name_of, now_rfc3339, ApiError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Normal,
    UnavailableFirst(u32),
    Never,
    /// Unavailable in a third of the clock's half-seconds, chosen at random (`flapped_down`).
    Flap,
}

pub struct AdapterEmulation {
    pub availability: Mutex<Availability>,
    checks: AtomicU32,
}

/// Down in a third of the clock's half-seconds, picked by a hash of each: every client sees the same state at
/// the same moment, and the down times follow no period a client's looks could fall in step with (alternate
/// seconds did: a wizard looking about every 2 s saw only the down ones).
fn flapped_down() -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let slot = (now.as_millis() / 500) as u64;
    (slot.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).is_multiple_of(3)
}

impl Default for AdapterEmulation {
    fn default() -> Self {
        AdapterEmulation { availability: Mutex::new(Availability::Normal), checks: AtomicU32::new(0) }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub series_query: String,
    #[serde(default)]
    pub series_filters: Vec<SeriesFilter>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub name: Naming,
    #[serde(default)]
    pub metrics_query: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SeriesFilter {
    pub is: Option<String>,
    pub is_not: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Resources {
    #[serde(default)]
    pub overrides: HashMap<String, Override>,
    #[serde(default)]
    pub template: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Override {
    pub resource: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Naming {
    #[serde(default)]
    pub matches: String,
    #[serde(default, rename = "as")]
    pub as_: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct AdapterConfig {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A metric the adapter exposes: its public name, the stored series it came from, and its rule.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub name: String,
    pub series: String,
    pub rule: Rule,
    pub namespace_label: Option<String>,
    pub pod_label: Option<String>,
}

impl AdapterEmulation {
    pub fn set(&self, availability: Availability) {
        *self.availability.lock().expect("availability") = availability;
        self.checks.store(0, Ordering::SeqCst);
    }

    pub fn apiservice_available(&self, state: &ApiState, apiservice: &Value, counted: bool) -> Result<(), String> {
        let service = &apiservice["spec"]["service"];
        if service.is_null() {
            return Ok(()); // a local APIService, served by the API server itself
        }
        let (ns, name) =
            (service["namespace"].as_str().unwrap_or_default(), service["name"].as_str().unwrap_or_default());
        let failing = format!("failing or missing response from https://{name}.{ns}.svc:443/apis/custom.metrics.k8s.io/v1beta1: Get \"https://{name}.{ns}.svc:443/apis/custom.metrics.k8s.io/v1beta1\": dial tcp: connect: connection refused");
        let check =
            if counted { self.checks.fetch_add(1, Ordering::SeqCst) } else { self.checks.load(Ordering::SeqCst) };
        match *self.availability.lock().expect("availability") {
            Availability::Never => return Err(failing),
            Availability::UnavailableFirst(n) if check < n => return Err(failing),
            Availability::Flap if flapped_down() => return Err(failing),
            _ => {}
        }
        backing_service_ready(state, apiservice)
    }

    /// Answers a request under /apis/custom.metrics.k8s.io/v1beta1.
    pub fn serve(&self, state: &ApiState, kubelet: &WorldKubelet, request: &Request) -> Response {
        let rest: Vec<&str> = request
            .path
            .trim_start_matches("/apis/custom.metrics.k8s.io/v1beta1")
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match rest.as_slice() {
            [] => match self.discover(state, kubelet) {
                Ok(found) => Response::json(200, &resource_list(&found)),
                Err(e) => Response::json(500, &ApiError::new(500, "InternalError", e).status()),
            },
            ["namespaces", ns, "pods", name, metric] => {
                let selector = request.param("labelSelector").unwrap_or("");
                let pods: Vec<String> = state
                    .store
                    .list("/pods", Some(ns))
                    .into_iter()
                    .filter(|p| selector.is_empty() || selectors::labels_match(selector, p))
                    .map(|p| name_of(&p))
                    .filter(|p| *name == "*" || p == name)
                    .collect();
                match self.pod_values(state, kubelet, ns, metric, &pods) {
                    Ok(values) if !values.is_empty() => Response::json(200, &value_list(ns, metric, &values)),
                    _ => {
                        let message = format!("the server could not find the metric {metric} for pods");
                        Response::json(404, &ApiError::new(404, "NotFound", message).status())
                    }
                }
            }
            _ => Response::json(
                404,
                &ApiError::new(404, "NotFound", "the server could not find the requested resource").status(),
            ),
        }
    }

    /// The adapter's config and where it finds Prometheus, read from the cluster objects its pod runs from.
    pub fn config(&self, state: &ApiState) -> Result<(AdapterConfig, String), String> {
        let apiservice = state
            .store
            .get("apiregistration.k8s.io/apiservices", "", "v1beta1.custom.metrics.k8s.io")
            .ok_or("no APIService v1beta1.custom.metrics.k8s.io")?;
        let service = &apiservice["spec"]["service"];
        let ns = service["namespace"].as_str().unwrap_or_default();
        let svc = state
            .store
            .get("/services", ns, service["name"].as_str().unwrap_or_default())
            .ok_or("adapter Service missing")?;
        let deployment = state
            .store
            .list("apps/deployments", Some(ns))
            .into_iter()
            .find(|d| {
                selectors::selector_map_matches(
                    &svc["spec"]["selector"],
                    &json!({"metadata": d["spec"]["template"]["metadata"]}),
                )
            })
            .ok_or("no adapter Deployment behind the Service")?;
        let pod_spec = &deployment["spec"]["template"]["spec"];
        let container = &pod_spec["containers"][0];
        let args: Vec<String> = container["args"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let flag = |name: &str| args.iter().find_map(|a| a.strip_prefix(&format!("--{name}=")).map(String::from));
        let prometheus_url = flag("prometheus-url").ok_or("adapter has no --prometheus-url")?;
        let config_file = flag("config").ok_or("adapter has no --config")?;
        let (dir, file) = config_file.rsplit_once('/').ok_or("bad --config path")?;
        let mount = container["volumeMounts"]
            .as_array()
            .and_then(|ms| {
                ms.iter().find(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(dir)).cloned()
            })
            .ok_or("config volume not mounted")?;
        let volume = pod_spec["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == mount["name"]).cloned())
            .ok_or("config volume missing")?;
        let configmap_name = volume["configMap"]["name"].as_str().ok_or("config volume is not a ConfigMap")?;
        let configmap = state.store.get("/configmaps", ns, configmap_name).ok_or("adapter ConfigMap missing")?;
        let text = configmap["data"][file].as_str().ok_or("adapter ConfigMap lacks the config file")?;
        let config: AdapterConfig =
            serde_yaml::from_str(text).map_err(|e| format!("adapter config does not parse: {e}"))?;
        Ok((config, prometheus_url))
    }

    fn prometheus(&self, state: &ApiState, kubelet: &WorldKubelet, url: &str) -> Result<String, String> {
        let without_scheme = url.trim_start_matches("http://").trim_start_matches("https://");
        let host_port = without_scheme.split('/').next().unwrap_or_default();
        let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:80") };
        let ns = state
            .store
            .get("apiregistration.k8s.io/apiservices", "", "v1beta1.custom.metrics.k8s.io")
            .and_then(|a| a["spec"]["service"]["namespace"].as_str().map(String::from))
            .unwrap_or_else(|| "default".into());
        let addr = crate::dns::resolve(state, kubelet, &ns, &host_port)?;
        Ok(format!("http://{addr}"))
    }

    pub fn discover(&self, state: &ApiState, kubelet: &WorldKubelet) -> Result<Vec<Discovered>, String> {
        let (config, url) = self.config(state)?;
        let prometheus = self.prometheus(state, kubelet, &url)?;
        let mut found = Vec::new();
        for rule in config.rules {
            let series = series(&prometheus, &rule.series_query)?;
            let matches = if rule.name.matches.is_empty() { ".*" } else { rule.name.matches.as_str() };
            let namer = Regex::new(matches).map_err(|e| e.to_string())?;
            let as_ = if !rule.name.as_.is_empty() {
                rule.name.as_.clone()
            } else if namer.captures_len() == 2 {
                "$1".into()
            } else {
                "$0".into()
            };
            for labels in series {
                let series_name = labels["__name__"].as_str().unwrap_or_default().to_string();
                if !passes_filters(&rule.series_filters, &series_name) {
                    continue;
                }
                let Some(captures) = namer.captures(&series_name) else {
                    continue;
                };
                let mut name = String::new();
                captures.expand(&as_, &mut name);
                let label_for = |resource: &str| {
                    rule.resources
                        .overrides
                        .iter()
                        .find(|(_, o)| o.resource == resource || o.resource == format!("{resource}s"))
                        .map(|(label, _)| label.clone())
                        .or_else(|| rule.resources.template.as_ref().map(|t| t.replace("<<.Resource>>", resource)))
                };
                let (namespace_label, pod_label) = (label_for("namespace"), label_for("pod"));
                let has_pod = pod_label.as_ref().is_some_and(|l| labels.get(l).is_some());
                if !has_pod || found.iter().any(|d: &Discovered| d.name == name && d.series == series_name) {
                    continue;
                }
                found.push(Discovered { name, series: series_name, rule: rule.clone(), namespace_label, pod_label });
            }
        }
        Ok(found)
    }

    /// Values of a Pods metric for the named pods, as the adapter computes them.
    pub fn pod_values(
        &self,
        state: &ApiState,
        kubelet: &WorldKubelet,
        namespace: &str,
        metric: &str,
        pods: &[String],
    ) -> Result<HashMap<String, f64>, String> {
        let (_, url) = self.config(state)?;
        let prometheus = self.prometheus(state, kubelet, &url)?;
        let discovered = self.discover(state, kubelet)?;
        let metric_found =
            discovered.iter().find(|d| d.name == metric).ok_or_else(|| format!("metric {metric} not found"))?;
        let pod_label = metric_found.pod_label.clone().unwrap_or_default();
        let mut matchers = Vec::new();
        if let Some(ns_label) = &metric_found.namespace_label {
            matchers.push(format!("{ns_label}=\"{namespace}\""));
        }
        matchers.push(format!("{pod_label}=~\"{}\"", pods.join("|")));
        let query =
            render_query(&metric_found.rule.metrics_query, &metric_found.series, &matchers.join(","), &pod_label);
        let response: Value = ureq::get(&format!("{prometheus}/api/v1/query"))
            .query("query", &query)
            .call()
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        let mut values = HashMap::new();
        for sample in response["data"]["result"].as_array().cloned().unwrap_or_default() {
            let Some(pod) = sample["metric"][&pod_label].as_str() else {
                continue;
            };
            if !pods.iter().any(|p| p == pod) {
                continue; // the adapter answers only for live pods matching the selector
            }
            if let Some(value) = sample["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()) {
                values.insert(pod.to_string(), value);
            }
        }
        Ok(values)
    }
}

/// Whether the Service behind an APIService has a ready pod (what the aggregator's availability check sees).
pub fn backing_service_ready(state: &ApiState, apiservice: &Value) -> Result<(), String> {
    let service = &apiservice["spec"]["service"];
    if service.is_null() {
        return Ok(());
    }
    let (ns, name) = (service["namespace"].as_str().unwrap_or_default(), service["name"].as_str().unwrap_or_default());
    let svc =
        state.store.get("/services", ns, name).ok_or_else(|| format!("service/{name} in \"{ns}\" is not present"))?;
    let ready = state.store.list("/pods", Some(ns)).iter().any(|p| {
        selectors::selector_map_matches(&svc["spec"]["selector"], p) && p["status"]["conditions"][0]["status"] == "True"
    });
    if ready {
        Ok(())
    } else {
        Err(format!("endpoints for service/{name} in \"{ns}\" have no addresses with port name \"https\""))
    }
}

pub fn render_query(template: &str, series: &str, matchers: &str, group_by: &str) -> String {
    let placeholder = Regex::new(r"<<\s*\.(Series|LabelMatchers|GroupBy)\s*>>").expect("static regex");
    placeholder
        .replace_all(template, |c: &regex::Captures| match &c[1] {
            "Series" => series.to_string(),
            "LabelMatchers" => matchers.to_string(),
            _ => group_by.to_string(),
        })
        .into_owned()
}

fn passes_filters(filters: &[SeriesFilter], name: &str) -> bool {
    filters.iter().all(|f| {
        let is_ok = f.is.as_ref().is_none_or(|p| Regex::new(p).is_ok_and(|r| r.is_match(name)));
        let is_not_ok = f.is_not.as_ref().is_none_or(|p| Regex::new(p).is_ok_and(|r| !r.is_match(name)));
        is_ok && is_not_ok
    })
}

fn series(prometheus: &str, query: &str) -> Result<Vec<serde_json::Map<String, Value>>, String> {
    let response: Value = ureq::get(&format!("{prometheus}/api/v1/series"))
        .query("match[]", query)
        .call()
        .map_err(|e| format!("series query {query:?} failed: {e}"))?
        .into_json()
        .map_err(|e| e.to_string())?;
    Ok(response["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect())
}

fn resource_list(found: &[Discovered]) -> Value {
    let resources: Vec<Value> = found
        .iter()
        .flat_map(|d| {
            [json!({"name": format!("pods/{}", d.name), "singularName": "", "namespaced": true, "kind": "MetricValueList", "verbs": ["get"]}),
             json!({"name": format!("namespaces/{}", d.name), "singularName": "", "namespaced": false, "kind": "MetricValueList", "verbs": ["get"]})]
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "custom.metrics.k8s.io/v1beta1", "resources": resources})
}

fn value_list(namespace: &str, metric: &str, values: &HashMap<String, f64>) -> Value {
    let mut pods: Vec<&String> = values.keys().collect();
    pods.sort();
    let items: Vec<Value> = pods
        .into_iter()
        .map(|pod| json!({"describedObject": {"kind": "Pod", "namespace": namespace, "name": pod, "apiVersion": "/v1"},
                          "metricName": metric, "timestamp": now_rfc3339(), "value": format_quantity(values[pod]), "selector": null}))
        .collect();
    json!({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_templates_take_go_template_spacing() {
        let q = render_query("sum(<<.Series>>{<< .LabelMatchers >>}) by (<<.GroupBy>>)", "M_total", "a=\"b\"", "pod");
        assert_eq!(q, "sum(M_total{a=\"b\"}) by (pod)");
        assert_eq!(render_query("MessageMetrics", "M_total", "x", "y"), "MessageMetrics");
    }
}
