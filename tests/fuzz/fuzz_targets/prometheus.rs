#![no_main]
// Prometheus and Pushgateway API responses, and Kubernetes objects the checks read.
use interlok_k8s::cluster::{self, monitoring, pods, views};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = interlok_k8s::prometheus_api::parse_vector(&value);
        let _ = interlok_k8s::prometheus_api::parse_groups(&value);
        let items = value.as_array().cloned().unwrap_or_default();
        let services: Vec<views::Service> = items.into_iter().filter_map(|v| cluster::view("service", v).ok()).collect();
        let _ = monitoring::pick(&services);
        if let Ok(pod) = cluster::view::<views::Pod>("pod", value.clone()) {
            let _ = pods::stuck(&pod);
            let _ = pods::describe(&pod);
        }
        if let Ok(hpa) = cluster::view::<views::Hpa>("hpa", value) {
            let _ = (hpa.current_value(), hpa.metric().target(), hpa.blocking_conditions());
        }
    }
});
