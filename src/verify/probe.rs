//! What the checks share in one look: the cluster's objects and Helm's releases (through the run's
//! `cluster::lookups`: checks asking for the same object at once wait for one fetch), the monitoring
//! Services, and how Prometheus and the Pushgateway are reached (reach.rs) — at the URLs given with
//! `--prometheus-url`/`--pushgateway-url`, or through the API server's proxy to their Services, or else the
//! run's port-forwards (portforward.rs), each held while the look that found it is.

use std::sync::Arc;

use serde_json::Value;

use crate::cluster::lookups::Lookups;
use crate::cluster::{monitoring, Reader};
use crate::context::Context;
use crate::portforward::PortForward;
use crate::problem::Problem;
use crate::reach::{Port, Reach};
use crate::runner::{Cmd, Output};
use crate::tools::helm::{Release, ReleaseStatus};

pub struct Probe<'a> {
    pub cx: &'a Context,
    prometheus_url: Option<String>,
    pushgateway_url: Option<String>,
    /// The cluster's answers in the look this probe was made in.
    objects: Arc<Lookups>,
    found: Arc<monitoring::Reached>,
}

impl Reader for Probe<'_> {
    fn cx(&self) -> &Context {
        self.cx
    }

    fn get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, Problem> {
        self.objects.get(self.cx, kind, namespace, name)
    }

    fn list(&self, kind: &str, namespace: &str, selector: Option<&str>) -> Result<Vec<Value>, Problem> {
        self.objects.list(self.cx, kind, namespace, selector)
    }

    fn release(&self, release: &Release) -> Result<Option<ReleaseStatus>, Problem> {
        self.objects.release(self.cx, release)
    }

    fn output(&self, cmd: &Cmd) -> Result<Output, Problem> {
        self.objects.output(self.cx, cmd)
    }
}

impl<'a> Probe<'a> {
    /// A probe of its own (verify, demo, watch, bundle): a new look, everything asked afresh.
    pub fn new(cx: &'a Context, prometheus_url: Option<String>, pushgateway_url: Option<String>) -> Probe<'a> {
        cx.runner.look_again();
        Probe { cx, prometheus_url, pushgateway_url, objects: Lookups::current(cx), found: Arc::default() }
    }

    /// A probe for setup's checks: it shares what was found in this look (until the wizard changes something
    /// or a new look begins, as a wait's next round does) with the other probes of the look.
    pub(crate) fn shared(cx: &'a Context) -> Probe<'a> {
        let found = cx.probed.current(cx.runner.look());
        Probe { cx, prometheus_url: None, pushgateway_url: None, objects: Lookups::current(cx), found }
    }

    /// The monitoring Services, found once.
    pub(crate) fn monitoring(&self) -> Result<monitoring::Found, Problem> {
        self.found.monitoring.get_or_init(|| monitoring::find(self)).clone()
    }

    /// A monitoring Service's port: through the API server when the server behind it answers its ready path
    /// there, else through the run's port-forward.
    fn reach(&self, service: &str, port: u16) -> Result<Reach, String> {
        let namespace = &self.cx.settings.monitoring_namespace;
        let at = Port::Service { namespace, name: service, port };
        if let Some(reach) =
            Reach::through_api_server(&self.cx.runner, &self.cx.kubectl(), at, READY_PATH, READY_TIMEOUT)
        {
            return Ok(reach);
        }
        let forward = PortForward::to_service(self.cx, namespace, service, port).map_err(|p: Problem| p.message)?;
        let url = forward.url("");
        self.found.forwards.lock().unwrap_or_else(|p| p.into_inner()).push(forward);
        Ok(Reach::Url(url))
    }

    /// Prometheus (given, or in the cluster).
    pub(crate) fn prometheus(&self) -> Result<Reach, String> {
        self.found
            .prometheus
            .get_or_init(|| match &self.prometheus_url {
                Some(url) => Ok(Reach::Url(url.trim_end_matches('/').to_string())),
                None => {
                    let (service, port) = self.monitoring().map_err(|p| p.message)?.endpoints.prometheus;
                    self.reach(&service, port)
                }
            })
            .clone()
    }

    /// The Pushgateway URL the user gave, if any (hints then name it: a port-forward ends with verify).
    pub(crate) fn pushgateway_given(&self) -> Option<&str> {
        self.pushgateway_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    /// The Pushgateway (given, or in the cluster).
    pub(crate) fn pushgateway(&self) -> Result<Reach, String> {
        self.found
            .pushgateway
            .get_or_init(|| match &self.pushgateway_url {
                Some(url) => Ok(Reach::Url(url.trim_end_matches('/').to_string())),
                None => {
                    let (service, port) = self.monitoring().map_err(|p| p.message)?.endpoints.pushgateway;
                    self.reach(&service, port)
                }
            })
            .clone()
    }
}

/// Where Prometheus and the Pushgateway both say they are ready to serve.
const READY_PATH: &str = "/-/ready";

/// How long that answer may take (the port-forward then tries).
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
