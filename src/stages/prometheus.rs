//! prometheus: Prometheus with its pushgateway (a 15 s scrape for the demo), then the pushgateway and server
//! Services found in the cluster — `prometheus-prometheus-pushgateway` with today's chart,
//! `prometheus-pushgateway` with the 2019 one — so everything downstream uses what is really there.

use serde_json::Value;

use crate::context::Context;
use crate::engine::{Check, Stage};
use crate::manifests::{self, Endpoints};
use crate::problem::Problem;
use crate::runner::exit_problem;

use super::releases;

pub struct Prometheus;

impl Stage for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn after(&self, _cx: &Context) -> &'static [&'static str] {
        &["helm", "version-skew"]
    }

    fn summary(&self) -> &'static str {
        "install Prometheus with its pushgateway and find the pushgateway Service"
    }

    fn check(&self, cx: &mut Context) -> anyhow::Result<Check> {
        let release = releases::release(cx, "prometheus");
        if let Some(reason) = releases::needs_install(cx, &release)? {
            return Ok(Check::Needed(reason));
        }
        let endpoints = discover(cx)?;
        Ok(Check::Done(describe(cx, &release.chart, &release.version, &endpoints)))
    }

    fn apply(&self, cx: &mut Context) -> anyhow::Result<()> {
        let release = releases::release(cx, "prometheus");
        let values = manifests::prometheus_values(&cx.settings)?;
        releases::install(cx, &release, &values.text)?;
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> anyhow::Result<String> {
        let endpoints = discover(cx)?;
        let namespace = cx.settings.monitoring_namespace.clone();
        for deployment in [&endpoints.prometheus.0, &endpoints.pushgateway.0] {
            let rollout = cx.kubectl().rollout_status(&namespace, deployment, cx.settings.wait_timeout.as_secs());
            cx.runner.run(&rollout).map_err(|p| p.reworded(format!("{deployment} did not become ready")))?;
        }
        let release = releases::release(cx, "prometheus");
        Ok(describe(cx, &release.chart, &release.version, &endpoints))
    }
}

fn describe(cx: &Context, chart: &str, version: &str, endpoints: &Endpoints) -> String {
    format!(
        "{chart} {version}; server {}:{}, pushgateway {}",
        endpoints.prometheus.0,
        endpoints.prometheus.1,
        manifests::pushgateway_address(&cx.settings, endpoints)
    )
}

/// Finds the pushgateway and server Services in the monitoring namespace and remembers them.
pub fn discover(cx: &mut Context) -> Result<Endpoints, Problem> {
    let namespace = cx.settings.monitoring_namespace.clone();
    let cmd = cx.kubectl().list_json(&namespace, "services", None);
    let output = cx.runner.run(&cmd)?;
    let list: Value = serde_json::from_str(&output.stdout).map_err(|e| {
        exit_problem(&cmd, &output).reworded(format!("kubectl printed something that is not a JSON list ({e})"))
    })?;
    let services = list["items"].as_array().cloned().unwrap_or_default();
    let endpoints = find_endpoints(&services).ok_or_else(|| {
        Problem::new(format!("no pushgateway Service in namespace {namespace}"))
            .with_hint(format!("the prometheus release should create one: see `kubectl get svc -n {namespace}`; rerun `interlok-k8s setup --only prometheus`"))
    })?;
    cx.facts.pushgateway = Some(endpoints.pushgateway.clone());
    Ok(endpoints)
}

/// The pushgateway is the Service annotated `prometheus.io/probe: pushgateway` (as the chart's scrape job
/// selects it), else one named *pushgateway; the server is the Prometheus Service named *-server.
pub fn find_endpoints(services: &[Value]) -> Option<Endpoints> {
    let name = |s: &Value| s["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let port = |s: &Value, default: u16| {
        s["spec"]["ports"][0]["port"].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(default)
    };
    let pushgateway = services
        .iter()
        .find(|s| s["metadata"]["annotations"]["prometheus.io/probe"] == "pushgateway")
        .or_else(|| services.iter().find(|s| name(s).ends_with("pushgateway")))?;
    let server = services.iter().find(|s| name(s).ends_with("-server") && name(s).contains("prometheus"));
    let prometheus = server.map_or_else(|| Endpoints::default().prometheus, |s| (name(s), port(s, 80)));
    Some(Endpoints { pushgateway: (name(pushgateway), port(pushgateway, 9091)), prometheus })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_pushgateway_by_annotation_or_name() {
        let today = vec![
            json!({"metadata": {"name": "prometheus-server"}, "spec": {"ports": [{"port": 80}]}}),
            json!({"metadata": {"name": "prometheus-prometheus-pushgateway", "annotations": {"prometheus.io/probe": "pushgateway"}}, "spec": {"ports": [{"port": 9091}]}}),
        ];
        let found = find_endpoints(&today).unwrap();
        assert_eq!(found.pushgateway, ("prometheus-prometheus-pushgateway".into(), 9091));
        assert_eq!(found.prometheus, ("prometheus-server".into(), 80));
        let old = vec![json!({"metadata": {"name": "prometheus-pushgateway"}, "spec": {"ports": [{"port": 9091}]}})];
        assert_eq!(find_endpoints(&old).unwrap().pushgateway.0, "prometheus-pushgateway");
        assert!(find_endpoints(&[]).is_none());
    }
}
