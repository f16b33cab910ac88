//! Every verify check, in chain order. Ids are stable (docs/troubleshooting.md has one entry each).

mod interlok;
mod keda;
mod metrics;
mod platform;
mod scaling;

use super::{Check, Group};
use crate::settings::Scaler;

/// The checks `verify --pre` runs: what setup needs before it starts (setup's own preflight asks the same).
pub(crate) const PRE: &[&str] = &["tools.kubectl", "tools.helm", "tools.minikube", "tools.machine"];

/// Checks only `verify --pre` runs: whether a cluster could be made here says nothing of the chain.
const PRE_ONLY: &[&str] = &["tools.machine"];

macro_rules! check {
    ($id:literal, $group:ident, [$($need:literal),*], $run:path) => {
        Check { id: $id, group: Group::$group, needs: &[$($need),*], run: $run }
    };
}

pub(crate) fn all() -> Vec<Check> {
    vec![
        check!("tools.kubectl", Tools, [], platform::kubectl),
        check!("tools.helm", Tools, [], platform::helm),
        check!("tools.minikube", Tools, [], platform::minikube),
        check!("tools.machine", Tools, [], platform::machine),
        check!("tools.skew", Tools, ["tools.kubectl", "cluster.api"], platform::skew),
        check!("cluster.context", Cluster, ["tools.kubectl"], platform::context),
        check!("cluster.api", Cluster, ["cluster.context"], platform::api),
        check!("cluster.nodes", Cluster, ["cluster.api"], platform::nodes),
        check!("cluster.minikube", Cluster, ["tools.minikube"], platform::minikube_status),
        check!("helm.tiller", Helm, ["tools.helm", "cluster.api"], platform::tiller),
        check!("helm.prometheus", Helm, ["helm.tiller"], platform::release_prometheus),
        check!("helm.adapter", Helm, ["helm.tiller"], platform::release_adapter),
        check!("helm.keda", Helm, ["helm.tiller"], platform::release_keda),
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
            "interlok.pushes",
            Interlok,
            ["interlok.endpoint", "interlok.in-box", "pushgateway.api"],
            interlok::pushes
        ),
        check!(
            "metric.series",
            Metric,
            [
                "prometheus.pushgateway-target",
                "interlok.endpoint",
                "interlok.downward-api",
                "interlok.pushes",
                "pushgateway.labels"
            ],
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
        check!("keda.operator", Keda, ["helm.keda"], keda::operator),
        check!("keda.metrics-api", Keda, ["helm.keda"], keda::metrics_api),
        check!("scaledobject.exists", ScaledObject, ["helm.keda"], keda::exists),
        check!(
            "scaledobject.ready",
            ScaledObject,
            ["scaledobject.exists", "keda.operator", "metric.fresh"],
            keda::ready
        ),
        check!(
            "scaledobject.query",
            ScaledObject,
            ["scaledobject.exists", "prometheus.api", "metric.fresh"],
            keda::query
        ),
        check!(
            "external-metrics.value",
            ExternalMetrics,
            ["keda.metrics-api", "scaledobject.ready"],
            keda::external_value
        ),
        check!("keda-hpa.exists", KedaHpa, ["scaledobject.exists", "keda.operator"], keda::hpa_exists),
        check!("keda-hpa.status", KedaHpa, ["keda-hpa.exists", "external-metrics.value"], keda::hpa_status),
        check!("grafana.ready", Grafana, ["helm.grafana"], scaling::grafana_ready),
        check!("grafana.datasource", Grafana, ["grafana.ready"], scaling::grafana_datasource),
    ]
}

/// Whether a check belongs to the chain of this scaler: prometheus-adapter's (its release, the adapter, the
/// custom metrics API, the wizard's HPA) or KEDA's (its release, KEDA, the ScaledObject, the external
/// metrics API, KEDA's HPA). The rest is common to both.
pub(crate) fn on_path(check: &Check, scaler: Scaler) -> bool {
    if PRE_ONLY.contains(&check.id) {
        return false;
    }
    let path = match (check.id, check.group) {
        ("helm.adapter", _) | (_, Group::Adapter | Group::CustomMetrics | Group::Hpa) => Scaler::Adapter,
        ("helm.keda", _) | (_, Group::Keda | Group::ScaledObject | Group::ExternalMetrics | Group::KedaHpa) => {
            Scaler::Keda
        }
        _ => return true,
    };
    path == scaler
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_has_its_own_checks_shares_the_rest_and_never_needs_the_others() {
        let all = all();
        let on = |scaler| all.iter().filter(|c| on_path(c, scaler)).map(|c| c.id).collect::<Vec<_>>();
        let (adapter, keda) = (on(Scaler::Adapter), on(Scaler::Keda));
        for id in ["helm.adapter", "adapter.rule", "custom-metrics.items", "hpa.status"] {
            assert!(adapter.contains(&id) && !keda.contains(&id), "{id}");
        }
        for id in ["helm.keda", "keda.operator", "scaledobject.ready", "external-metrics.value", "keda-hpa.status"] {
            assert!(keda.contains(&id) && !adapter.contains(&id), "{id}");
        }
        for check in &all {
            for path in [&adapter, &keda] {
                if path.contains(&check.id) {
                    for need in check.needs {
                        assert!(path.contains(need), "{} needs {need}, which its path does not run", check.id);
                    }
                }
            }
        }
    }
}
