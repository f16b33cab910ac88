//! The monitoring and autoscaling stages in the test world: real helm and kubectl, real Prometheus and
//! Pushgateway, the stand-in Interlok, adapter and HPA emulation.

use serde_json::Value;
use testworld::prom::PromOptions;
use testworld::world::World;

use crate::skeleton::mutating_calls;
use crate::support::PRODUCT;

pub fn monitoring_world(helm: u32) -> Option<World> {
    World::builder().helm(helm).with_charts().with_prometheus(PromOptions::default()).start()
}

pub fn repo_flags(world: &World) -> Vec<String> {
    let charts = world.charts.as_ref().expect("charts");
    vec![
        format!("--chart-repo=prometheus-community={}", charts.repo_url("prometheus-community")),
        format!("--chart-repo=grafana-community={}", charts.repo_url("grafana-community")),
    ]
}

pub fn setup(world: &World, extra: &[&str]) -> testworld::world::Run {
    let repos = repo_flags(world);
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    args.extend(["--wait-timeout", "60s"]);
    args.extend(extra);
    args.extend(["setup", "--yes"]);
    world.run(PRODUCT, &args)
}

fn full_setup_with(helm: u32) {
    let Some(world) = monitoring_world(helm) else { return };
    let run = setup(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    for stage in ["prometheus", "interlok", "adapter", "autoscaler"] {
        assert!(run.stdout.contains(&format!("✔ {stage}")), "{stage} not ✔ in\n{}", run.stdout);
    }
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    let java_opts = env.as_array().unwrap().iter().find(|e| e["name"] == "JAVA_OPTS").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        java_opts
            .contains("-DprometheusEndpointUrl=prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091"),
        "{java_opts}"
    );
    for (name, path) in [
        ("K8S_POD_NAME", "metadata.name"),
        ("K8S_NAMESPACE", "metadata.namespace"),
        ("K8S_POD_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env.as_array().unwrap().iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], path);
    }
    assert!(world.object("", "services", "default", "interlok").is_some());
    let hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "interlok").expect("hpa");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "interlok"})
    );
    assert_eq!((hpa["spec"]["minReplicas"].as_u64(), hpa["spec"]["maxReplicas"].as_u64()), (Some(1), Some(5)));
    assert_eq!(hpa["spec"]["metrics"][0]["pods"]["metric"]["name"], "MessageMetrics");
    assert_eq!(
        hpa["spec"]["metrics"][0]["pods"]["target"],
        serde_json::json!({"type": "AverageValue", "averageValue": "100"})
    );
    let values = world.run("helm", &["get", "values", "prometheus-adapter", "-n", "monitoring", "-o", "json"]);
    let values: Value = serde_json::from_str(&values.stdout).expect("values json");
    assert_eq!(values["rules"]["custom"][0]["name"]["as"], "MessageMetrics");
    world.clear_logs();
    let again = setup(&world, &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{}", again.stdout);
    assert!(world.mutating_requests().is_empty(), "{:?}", world.mutating_requests());
}

#[test]
fn full_setup_with_helm4_then_a_quiet_rerun() {
    full_setup_with(4);
}
