//! The test world's self-test: real kubectl (1.27 and 1.33) and real helm v4 against the fake API server,
//! real Prometheus and Pushgateway, the stand-in Interlok and the adapter and HPA emulation.

use serde_json::Value;
use testworld::interlok::InterlokOptions;
use testworld::prom::PromOptions;
use testworld::world::{http_get, PortForward, World};

use crate::support::{install_monitoring, interlok_manifest, ok, LONG};

fn rollout_with(kubectl: &str) {
    let Some(world) = World::builder().kubectl(kubectl).without_helm().start() else {
        return;
    };
    let manifest = interlok_manifest(&world, "nowhere:9091", "K8S_NAMESPACE");
    let applied = ok(&world, "kubectl", &["apply", "-f", &manifest]);
    assert!(applied.stdout.contains("deployment.apps/interlok created"), "{}", applied.all());
    let status = ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    assert!(status.stdout.contains("successfully rolled out"), "{}", status.all());
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    assert_eq!(deployment["status"]["availableReplicas"], 1);
    let again = ok(&world, "kubectl", &["apply", "-f", &manifest]);
    assert!(again.stdout.contains("deployment.apps/interlok unchanged"), "{}", again.all());
}

#[test]
fn kubectl_1_27_applies_and_rolls_out() {
    rollout_with("1.27");
}

#[test]
fn kubectl_1_33_applies_and_rolls_out() {
    rollout_with("1.33");
}

/// helm v4 installs Prometheus with --wait, `helm status` says deployed, and a port-forward made by this kubectl
/// reaches the real Prometheus.
fn helm4_and_port_forward_with(kubectl: &str) {
    let Some(world) =
        World::builder().kubectl(kubectl).helm(4).with_charts().with_prometheus(PromOptions::default()).start()
    else {
        return;
    };
    install_monitoring(&world, None);
    let status = ok(&world, "helm", &["status", "prometheus", "-n", "monitoring"]);
    assert!(status.stdout.contains("STATUS: deployed"), "{}", status.all());
    let forward =
        PortForward::start(&world, &["-n", "monitoring", "svc/prometheus-server", ":80"]).expect("port-forward");
    let (code, body) = http_get(&forward.url("/api/v1/status/buildinfo")).expect("prometheus answers");
    assert_eq!(code, 200);
    let info: Value = serde_json::from_str(&body).expect("json");
    let real = world.prom.as_ref().expect("prom");
    let (_, direct) = http_get(&format!("{}/api/v1/status/buildinfo", real.prometheus_url())).expect("direct");
    assert_eq!(info, serde_json::from_str::<Value>(&direct).expect("json"), "the port-forward reaches the real server");
}

#[test]
fn helm4_installs_prometheus_and_kubectl_1_27_port_forwards_to_it() {
    helm4_and_port_forward_with("1.27");
}

#[test]
fn helm4_installs_prometheus_and_kubectl_1_33_port_forwards_to_it() {
    helm4_and_port_forward_with("1.33");
}

#[test]
fn kubectl_1_27_port_forwards_too() {
    let Some(world) = World::builder().kubectl("1.27").without_helm().with_prometheus(PromOptions::default()).start()
    else {
        return;
    };
    let manifest = interlok_manifest(&world, "nowhere:9091", "K8S_NAMESPACE");
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    let forward = PortForward::start(&world, &["svc/interlok", ":8080"]).expect("port-forward");
    for _ in 0..3 {
        let (code, _) = http_get(&forward.url("/in-box")).expect("in-box answers");
        assert_eq!(code, 200);
    }
    assert_eq!(world.interlok_requests(), 3);
}

/// Deploys Interlok configured as today's wizard does (or as the guide did), sends 150 messages through a
/// port-forward, and returns the world for assertions on the custom metrics API and the HPA.
fn chain(total_suffix: bool, adapter_values: &str) -> Option<(World, String)> {
    let options = InterlokOptions {
        total_suffix,
        push_interval: std::time::Duration::from_millis(300),
        ..InterlokOptions::default()
    };
    let world =
        World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).interlok(options).start()?;
    install_monitoring(&world, Some(adapter_values));
    let manifest = interlok_manifest(
        &world,
        "prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091",
        "K8S_NAMESPACE",
    );
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    let forward = PortForward::start(&world, &["svc/interlok", ":8080"]).expect("port-forward");
    for _ in 0..150 {
        assert_eq!(http_get(&forward.url("/in-box")).expect("in-box").0, 200);
    }
    let pod = world.kubelet.interlok_pods()[0].1.clone();
    let series = if total_suffix { "MessageMetrics_total" } else { "MessageMetrics" };
    let prom = world.prom.as_ref().expect("prom");
    let query = format!("{series}{{k8s_namespace=\"default\",k8s_pod_name=\"{pod}\"}} == 150");
    world.wait_until("the 150 messages to reach Prometheus", LONG, || prom.query(&query).len() == 1);
    Some((world, pod))
}

#[test]
fn the_wizard_rule_exposes_the_pods_value_and_the_hpa_wants_two_replicas() {
    let Some((world, pod)) = chain(true, "adapter-values-wizard.yaml") else {
        return;
    };
    let raw = ok(
        &world,
        "kubectl",
        &["get", "--raw", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/*/MessageMetrics"],
    );
    let list: Value = serde_json::from_str(&raw.stdout).expect("MetricValueList");
    assert_eq!(list["kind"], "MetricValueList");
    assert_eq!(list["items"][0]["describedObject"]["name"], pod.as_str());
    assert_eq!(list["items"][0]["value"], "150");
    world.wait_until("the HPA to want 2 replicas", LONG, || {
        world
            .object("autoscaling", "horizontalpodautoscalers", "default", "interlok")
            .is_some_and(|h| h["status"]["desiredReplicas"] == 2)
    });
}

#[test]
fn the_2019_rule_over_a_total_series_finds_nothing_as_the_real_adapter_would() {
    let Some((world, _)) = chain(true, "adapter-values-2019.yaml") else {
        return;
    };
    let raw = world.run(
        "kubectl",
        &["get", "--raw", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/*/MessageMetrics"],
    );
    assert_eq!(raw.code, 1, "{}", raw.all());
    assert!(raw.stderr.contains("NotFound"), "{}", raw.stderr);
    let hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "interlok").expect("hpa");
    assert_ne!(hpa["status"]["desiredReplicas"], 2);
}
