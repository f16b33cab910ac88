//! The stages of `setup`, in run order, one file each. `releases` holds what the chart stages share.

mod adapter;
mod autoscaler;
mod cluster;
mod grafana;
mod helm;
mod interlok;
mod kubectl_path;
mod network;
mod prerequisites;
mod prometheus;
mod releases;
mod version_skew;

use crate::engine::Stage;

pub use adapter::{adapter_pod_state, apiservice_available, custom_metric_pods, exposes, installed_rules, APISERVICE};
pub use autoscaler::{current_value, scaling_active};
pub use grafana::decode_base64;
pub use interlok::{get as get_object, pods as interlok_pods, stuck as stuck_pod};
pub use prometheus::{discover as discover_endpoints, find_endpoints};

/// Every stage of `setup`, in run order.
pub fn all() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(prerequisites::Prerequisites),
        Box::new(kubectl_path::KubectlPath),
        Box::new(network::Network),
        Box::new(cluster::Cluster),
        Box::new(version_skew::VersionSkew),
        Box::new(helm::Helm),
        Box::new(prometheus::Prometheus),
        Box::new(interlok::Interlok),
        Box::new(adapter::Adapter),
        Box::new(autoscaler::Autoscaler),
        Box::new(grafana::Grafana),
    ]
}
