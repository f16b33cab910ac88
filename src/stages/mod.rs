//! The stages of `setup`, in order. One file per stage; stages not built yet are listed as placeholders so
//! `setup --list` shows the whole pipeline.

mod cluster;
mod helm;
mod kubectl_path;
mod network;
mod prerequisites;
mod version_skew;

use crate::context::Context;
use crate::engine::{Check, Stage};
use crate::settings::Settings;

pub use prerequisites::Prerequisites;

/// Every stage of `setup`, in run order.
pub fn all() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(Prerequisites),
        Box::new(kubectl_path::KubectlPath),
        Box::new(network::Network),
        Box::new(cluster::Cluster),
        Box::new(version_skew::VersionSkew),
        Box::new(helm::Helm),
        Box::new(Pending::new(
            "prometheus",
            "install Prometheus with its pushgateway and find the pushgateway Service",
            "issue #5",
        )),
        Box::new(Pending::new("interlok", "deploy Interlok pushing MessageMetrics to the pushgateway", "issue #5")),
        Box::new(Pending::new("adapter", "install prometheus-adapter with the MessageMetrics rule", "issue #5")),
        Box::new(Pending::new("autoscaler", "create the HorizontalPodAutoscaler on MessageMetrics", "issue #5")),
        Box::new(
            Pending::new("grafana", "install Grafana with a MessageMetrics dashboard (--grafana)", "issue #5")
                .only_when(|s| s.grafana, "pass --grafana to install it"),
        ),
    ]
}

/// When a stage applies, and what to say when it does not.
type Applies = (fn(&Settings) -> bool, &'static str);

/// A stage whose issue has not landed: listed, and failing honestly if run.
struct Pending {
    name: &'static str,
    summary: &'static str,
    issue: &'static str,
    applies: Option<Applies>,
}

impl Pending {
    fn new(name: &'static str, summary: &'static str, issue: &'static str) -> Self {
        Pending { name, summary, issue, applies: None }
    }

    fn only_when(mut self, applies: fn(&Settings) -> bool, otherwise: &'static str) -> Self {
        self.applies = Some((applies, otherwise));
        self
    }
}

impl Stage for Pending {
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        let (applies, otherwise) = self.applies?;
        (!applies(settings)).then(|| otherwise.to_string())
    }
    fn pending(&self) -> Option<&'static str> {
        Some(self.issue)
    }
    fn check(&self, _: &mut Context) -> anyhow::Result<Check> {
        anyhow::bail!("the {} stage is not implemented yet ({})", self.name, self.issue)
    }
    fn apply(&self, _: &mut Context) -> anyhow::Result<()> {
        anyhow::bail!("the {} stage is not implemented yet ({})", self.name, self.issue)
    }
    fn validate(&self, _: &mut Context) -> anyhow::Result<String> {
        anyhow::bail!("the {} stage is not implemented yet ({})", self.name, self.issue)
    }
}
