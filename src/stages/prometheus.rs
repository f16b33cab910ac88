//! prometheus: Prometheus with its pushgateway (a 15 s scrape for the demo), then the pushgateway and server
//! Services found in the cluster — `prometheus-prometheus-pushgateway` with today's chart,
//! `prometheus-pushgateway` with the 2019 one — so everything downstream uses what is really there.

use crate::cluster::{monitoring, pods};
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests::{self, Endpoints};
use crate::problem::Problem;
use crate::wait::{self, Poll};

use super::releases;

pub(crate) struct Prometheus;

impl Stage for Prometheus {
    fn id(&self) -> StageId {
        StageId::Prometheus
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Helm, StageId::VersionSkew]
    }

    fn summary(&self) -> &'static str {
        "install Prometheus with its pushgateway and find the pushgateway Service"
    }

    fn link(&self) -> &'static [&'static str] {
        &[
            "helm.prometheus",
            "prometheus.server",
            "prometheus.api",
            "prometheus.pushgateway-target",
            "pushgateway.ready",
            "pushgateway.api",
            "pushgateway.labels",
        ]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let release = releases::release(cx, "prometheus");
        if let Some(reason) = releases::needs_install(cx, &release)? {
            return Ok(Check::Needed(reason));
        }
        let values = manifests::prometheus_values(&cx.settings)?;
        if let Some(reason) = releases::values_differ(cx, &release, &values.text)? {
            return Ok(Check::Needed(reason));
        }
        let endpoints = discover(cx)?;
        Ok(Check::Done(describe(cx, &release.chart, &release.version, &endpoints)))
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let release = releases::release(cx, "prometheus");
        let values = manifests::prometheus_values(&cx.settings)?;
        releases::install(cx, &release, &values.text)
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let endpoints = discover(cx)?;
        let found = monitoring::find(cx)?;
        for service in found.prometheus.iter().chain([&found.pushgateway]) {
            let what = format!("a ready pod behind Service {}", service.metadata.name);
            wait::until(cx, &what, cx.settings.wait_timeout, || match pods::serving(cx, service) {
                Ok(Ok(_)) => Poll::Ready(()),
                Ok(Err(why)) => Poll::Waiting(why),
                Err(problem) => Poll::Failed(problem),
            })?;
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

/// Finds the monitoring Services and remembers the pushgateway for the stages after this one.
pub(crate) fn discover(cx: &mut Context) -> Result<Endpoints, Problem> {
    let endpoints = monitoring::endpoints(cx)?;
    cx.facts.pushgateway = Some(endpoints.pushgateway.clone());
    Ok(endpoints)
}
