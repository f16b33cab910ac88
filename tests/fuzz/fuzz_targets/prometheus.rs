#![no_main]
// Prometheus and Pushgateway API responses, and Kubernetes objects the checks read.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = interlok_k8s::prometheus_api::parse_vector(&value);
        let _ = interlok_k8s::prometheus_api::parse_groups(&value);
        let _ = interlok_k8s::stages::stuck_pod(&value);
        let _ = interlok_k8s::stages::current_value(&value);
        let _ = interlok_k8s::stages::find_endpoints(value.as_array().map(Vec::as_slice).unwrap_or_default());
    }
});
