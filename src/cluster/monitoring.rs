//! Prometheus and its pushgateway: which Services they are (found, never assumed: the chart renamed the
//! pushgateway in 17.0), whether pods serve them, and whether Prometheus scrapes the pushgateway.

use std::sync::{Mutex, OnceLock};

use super::views::Service;
use super::{list, Reader};
use crate::manifests::Endpoints;
use crate::portforward::PortForward;
use crate::problem::Problem;
use crate::prometheus_api;
use crate::reach::Reach;

/// The monitoring Services, found in the monitoring namespace.
#[derive(Debug, Clone)]
pub struct Found {
    pub(crate) endpoints: Endpoints,
    pub(crate) pushgateway: Service,
    pub(crate) prometheus: Option<Service>,
}

/// What one look reached of the monitoring stack: its Services, and how Prometheus and the Pushgateway are reached
/// (verify's `Probe` fills it, and setup's probes in the same look share it).
#[derive(Default)]
pub(crate) struct Reached {
    pub(crate) monitoring: OnceLock<Result<Found, Problem>>,
    pub(crate) prometheus: OnceLock<Result<Reach, String>>,
    pub(crate) pushgateway: OnceLock<Result<Reach, String>>,
    /// Keeps the forwards behind those (when they are port-forwards) open, even once the run's pool has replaced them.
    pub(crate) forwards: Mutex<Vec<PortForward>>,
}

/// Finds the pushgateway and server Services in the monitoring namespace.
pub(crate) fn find(reader: &(impl Reader + ?Sized)) -> Result<Found, Problem> {
    let namespace = reader.cx().settings.monitoring_namespace.clone();
    let services: Vec<Service> = list(reader, "services", &namespace, None)?;
    pick(&services).ok_or_else(|| {
        Problem::new(format!("no pushgateway Service in namespace {namespace}")).with_hint(format!(
            "install Prometheus with its pushgateway: `interlok-k8s setup --only prometheus` (see `kubectl get svc -n {namespace}`)"
        ))
    })
}

/// The endpoints alone (what manifests are rendered from).
pub(crate) fn endpoints(reader: &(impl Reader + ?Sized)) -> Result<Endpoints, Problem> {
    find(reader).map(|f| f.endpoints)
}

/// The pushgateway is the Service annotated `prometheus.io/probe: pushgateway` (as the chart's scrape job
/// selects it), else one named *pushgateway; the server is the Prometheus Service named *-server.
pub fn pick(services: &[Service]) -> Option<Found> {
    let pushgateway = services
        .iter()
        .find(|s| s.metadata.annotations.get("prometheus.io/probe").is_some_and(|v| v == "pushgateway"))
        .or_else(|| services.iter().find(|s| s.metadata.name.ends_with("pushgateway")))?;
    let server =
        services.iter().find(|s| s.metadata.name.ends_with("-server") && s.metadata.name.contains("prometheus"));
    let prometheus = server.map_or_else(|| Endpoints::default().prometheus, |s| (s.metadata.name.clone(), s.port(80)));
    Some(Found {
        endpoints: Endpoints { pushgateway: (pushgateway.metadata.name.clone(), pushgateway.port(9091)), prometheus },
        pushgateway: pushgateway.clone(),
        prometheus: server.cloned(),
    })
}

/// How Prometheus sees the pushgateway.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scrape {
    Up { job: String },
    Down { instance: String },
    NotScraped,
}

/// Whether Prometheus scrapes the pushgateway (its `up` series, from the job whose name says pushgateway).
pub(crate) fn scrape(prometheus: &Reach) -> Result<Scrape, String> {
    let up = prometheus_api::query(prometheus, "up")?;
    let target =
        up.iter().find(|(labels, _)| labels.get("job").is_some_and(|j| j.to_ascii_lowercase().contains("pushgateway")));
    Ok(match target {
        Some((labels, value)) if *value == 1.0 => Scrape::Up { job: labels["job"].clone() },
        Some((labels, _)) => Scrape::Down { instance: labels.get("instance").cloned().unwrap_or_default() },
        None => Scrape::NotScraped,
    })
}

/// Whether pushed labels arrive renamed `exported_job` (the scrape job has honor_labels off): an instant
/// query, so series from before a fix (stale now) do not count.
pub(crate) fn labels_renamed(prometheus: &Reach) -> Result<bool, String> {
    prometheus_api::query(prometheus, "{exported_job=~\"(?i)interlok\"}").map(|s| !s.is_empty())
}

/// The metric's series (`M` or `M_total`) Prometheus has now: an instant query, so a series whose
/// pushgateway group was deleted (stale) no longer counts, as it no longer counts for the adapter.
pub(crate) fn metric_series(prometheus: &Reach, metric: &str) -> Result<Vec<prometheus_api::Labels>, String> {
    let samples = prometheus_api::query(prometheus, &format!("{{__name__=~\"{metric}(_total)?\"}}"))?;
    Ok(samples.into_iter().map(|(labels, _)| labels).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(value: serde_json::Value) -> Service {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn finds_the_pushgateway_by_annotation_or_name() {
        let today = vec![
            service(json!({"metadata": {"name": "prometheus-server"}, "spec": {"ports": [{"port": 80}]}})),
            service(
                json!({"metadata": {"name": "prometheus-prometheus-pushgateway", "annotations": {"prometheus.io/probe": "pushgateway"}}, "spec": {"ports": [{"port": 9091}]}}),
            ),
        ];
        let found = pick(&today).unwrap().endpoints;
        assert_eq!(found.pushgateway, ("prometheus-prometheus-pushgateway".into(), 9091));
        assert_eq!(found.prometheus, ("prometheus-server".into(), 80));
        let old =
            vec![service(json!({"metadata": {"name": "prometheus-pushgateway"}, "spec": {"ports": [{"port": 9091}]}}))];
        assert_eq!(pick(&old).unwrap().endpoints.pushgateway.0, "prometheus-pushgateway");
        assert!(pick(&[]).is_none());
    }
}
