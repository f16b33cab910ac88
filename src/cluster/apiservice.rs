//! Aggregated APIs: whether an APIService is Available, and why not (the API server cannot reach the
//! adapter, its pod is not ready, …) — the first thing to ask before reading a metrics API.

use super::views::{condition, ApiService};
use super::{list, Reader};
use crate::problem::Problem;

/// prometheus-adapter's APIService.
pub(crate) const CUSTOM_METRICS: &str = "v1beta1.custom.metrics.k8s.io";
/// KEDA's (and other external-metrics providers') APIService.
pub(crate) const EXTERNAL_METRICS: &str = "v1beta1.external.metrics.k8s.io";
/// metrics-server's, when the cluster has it.
pub(crate) const RESOURCE_METRICS: &str = "v1beta1.metrics.k8s.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Availability {
    Missing,
    Available { served_by: String },
    Unavailable { served_by: String, why: String },
}

/// One APIService's state, read from the list of them all: one `kubectl get apiservices` answers every check
/// that asks (a probe keeps the list; the context asks afresh, as a wait's rounds must).
pub(crate) fn availability(reader: &(impl Reader + ?Sized), name: &str) -> Result<Availability, Problem> {
    let all = list::<ApiService>(reader, "apiservices", "", None)?;
    let Some(apiservice) = all.into_iter().find(|a| a.metadata.name == name) else {
        return Ok(Availability::Missing);
    };
    let served_by = match &apiservice.spec.service {
        Some(s) => format!("{}/{}", s.namespace, s.name),
        None => "local".to_string(),
    };
    Ok(match condition(&apiservice.status.conditions, "Available") {
        Some(c) if c.is_true() => Availability::Available { served_by },
        Some(c) => Availability::Unavailable { served_by, why: c.explain() },
        None => Availability::Unavailable { served_by, why: "no Available condition yet".into() },
    })
}
