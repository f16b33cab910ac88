//! The test world: real kubectl and helm against a fake Kubernetes API server, real Prometheus and
//! Pushgateway in the middle, and faithful fakes for what cannot run here (minikube, PowerShell, choco,
//! Helm 2). Test-support code only; never part of the released binary.

pub mod adapter;
pub mod admission;
pub mod apiproxy;
pub mod apiserver;
pub mod charts;
pub mod components;
pub mod controllers;
pub mod crd;
pub mod dns;
pub mod fakeconfig;
pub mod fakes;
pub mod hpa;
pub mod http;
pub mod images;
pub mod interlok;
pub mod keda;
pub mod kubelet;
pub mod loadtarget;
pub mod patch;
pub mod portforward;
pub mod prom;
pub mod protobuf;
pub mod resources;
pub mod scrape;
pub mod selectors;
pub mod snapshot;
pub mod store;
pub mod world;

/// "1.33" out of "v1.33.1".
pub fn version_minor(version: &str) -> Option<String> {
    let mut parts = version.trim_start_matches('v').split('.');
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}
