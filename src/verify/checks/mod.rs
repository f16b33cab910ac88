//! Every verify check, in chain order. Ids are stable (docs/troubleshooting.md has one entry each).

mod interlok;
mod metrics;
mod platform;
mod scaling;

use super::{Check, Group};

/// The checks `verify --pre` runs: what setup needs before it starts.
pub const PRE: &[&str] = &["tools.kubectl", "tools.helm", "tools.minikube"];

macro_rules! check {
    ($id:literal, $group:ident, [$($need:literal),*], $run:path) => {
        Check { id: $id, group: Group::$group, needs: &[$($need),*], run: $run }
    };
}

pub fn all() -> Vec<Check> {
    vec![
        check!("tools.kubectl", Tools, [], platform::kubectl),
        check!("tools.helm", Tools, [], platform::helm),
        check!("tools.minikube", Tools, [], platform::minikube),
        check!("tools.skew", Tools, ["tools.kubectl", "cluster.api"], platform::skew),
        check!("cluster.context", Cluster, ["tools.kubectl"], platform::context),
        check!("cluster.api", Cluster, ["cluster.context"], platform::api),
        check!("cluster.nodes", Cluster, ["cluster.api"], platform::nodes),
        check!("cluster.minikube", Cluster, ["tools.minikube"], platform::minikube_status),
        check!("helm.tiller", Helm, ["tools.helm", "cluster.api"], platform::tiller),
        check!("helm.prometheus", Helm, ["helm.tiller"], platform::release_prometheus),
        check!("helm.adapter", Helm, ["helm.tiller"], platform::release_adapter),
        check!("helm.grafana", Helm, ["helm.tiller"], platform::release_grafana),
        check!("prometheus.server", Prometheus, ["helm.prometheus"], metrics::server),
        check!("prometheus.api", Prometheus, ["prometheus.server"], metrics::prometheus_api),
        check!("prometheus.pushgateway-target", Prometheus, ["prometheus.api"], metrics::pushgateway_target),
        check!("pushgateway.ready", Pushgateway, ["helm.prometheus"], metrics::pushgateway_ready),
        check!("pushgateway.api", Pushgateway, ["pushgateway.ready"], metrics::pushgateway_api),
        check!("pushgateway.groups", Pushgateway, ["pushgateway.api"], metrics::groups),
        check!("pushgateway.labels", Pushgateway, ["prometheus.pushgateway-target"], metrics::exported_labels),
        check!("interlok.deployment", Interlok, ["cluster.api"], interlok::deployment),
        check!("interlok.endpoint", Interlok, ["interlok.deployment", "pushgateway.ready"], interlok::endpoint),
        check!("interlok.downward-api", Interlok, ["interlok.deployment"], interlok::downward_api),
        check!("interlok.in-box", Interlok, ["interlok.deployment"], interlok::in_box),
        check!(
            "metric.series",
            Metric,
            ["prometheus.pushgateway-target", "interlok.endpoint", "interlok.downward-api", "pushgateway.labels"],
            metrics::series
        ),
        check!("metric.fresh", Metric, ["metric.series"], metrics::fresh),
        check!("adapter.pod", Adapter, ["helm.adapter"], scaling::adapter_pod),
        check!("adapter.rule", Adapter, ["helm.adapter"], scaling::rule),
        check!("adapter.evaluation", Adapter, ["adapter.rule", "metric.fresh"], scaling::evaluation),
        check!("adapter.apiservices", Adapter, ["adapter.pod"], scaling::apiservices),
        check!(
            "custom-metrics.items",
            CustomMetrics,
            ["adapter.apiservices", "adapter.evaluation"],
            scaling::custom_metrics
        ),
        check!("hpa.exists", Hpa, ["cluster.api"], scaling::hpa_exists),
        check!("hpa.target", Hpa, ["hpa.exists"], scaling::hpa_target),
        check!("hpa.metric", Hpa, ["hpa.target", "adapter.rule"], scaling::hpa_metric),
        check!("hpa.status", Hpa, ["hpa.metric", "custom-metrics.items"], scaling::hpa_status),
        check!("grafana.ready", Grafana, ["helm.grafana"], scaling::grafana_ready),
        check!("grafana.datasource", Grafana, ["grafana.ready"], scaling::grafana_datasource),
    ]
}
