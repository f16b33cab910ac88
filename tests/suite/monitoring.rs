//! The monitoring and autoscaling stages in the test world: real helm and kubectl, real Prometheus and
//! Pushgateway, the stand-in Interlok, adapter and HPA emulation.

use serde_json::Value;
use std::sync::OnceLock;
use testworld::prom::PromOptions;

use testworld::snapshot::Snapshot;
use testworld::world::{World, WorldBuilder};

use crate::skeleton::mutating_calls;
use crate::support::PRODUCT;

pub fn monitoring_world(helm: u32) -> Option<World> {
    monitoring_builder(helm).start()
}

fn monitoring_builder(helm: u32) -> WorldBuilder {
    World::builder().helm(helm).with_charts().with_prometheus(PromOptions::default())
}

/// A helm-4 monitoring world that `setup` made healthy. The first call in a test process runs `setup` once,
/// in a template world; every call starts a new world from that world's snapshot, which costs no tool
/// process (`testworld::snapshot`). A test of what a first `setup` does runs it itself.
pub fn healthy_world() -> Option<World> {
    static TEMPLATE: OnceLock<Option<Snapshot>> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let world = monitoring_world(4)?;
        let run = setup(&world, &[]);
        assert_eq!(run.code, 0, "{}", run.all());
        Some(world.snapshot())
    });
    monitoring_builder(4).from_snapshot(template.as_ref()?).start()
}

pub fn repo_flags(world: &World) -> Vec<String> {
    let charts = world.charts.as_ref().expect("charts");
    vec![
        format!("--chart-repo=prometheus-community={}", charts.repo_url("prometheus-community")),
        format!("--chart-repo=grafana-community={}", charts.repo_url("grafana-community")),
        format!("--chart-repo=kedacore={}", charts.repo_url("kedacore")),
    ]
}

pub fn setup(world: &World, extra: &[&str]) -> testworld::world::Run {
    let repos = repo_flags(world);
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    if !extra.contains(&"--wait-timeout") {
        args.extend(["--wait-timeout", "60s"]);
    }
    if !extra.contains(&"--scrape-interval") {
        // the world's Prometheus scrapes every second: a just-changed link shows within a few
        args.extend(["--scrape-interval", "1s", "--relist-interval", "2s"]);
    }
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

#[test]
fn dry_run_without_a_cluster_prints_every_stage_and_command() {
    let Some(world) = World::builder().helm(4).cluster(testworld::world::ClusterState::Nonexistent).start() else {
        return;
    };
    // the world's Linux machine has no Docker engine, libvirt or podman: the driver is named
    let run = world.run(PRODUCT, &["--driver", "docker", "setup", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    for expected in [
        "would run: ",
        "minikube start --driver=docker --cpus=2 --memory=4096",
        "helm repo add prometheus-community https://prometheus-community.github.io/helm-charts",
        "helm upgrade --install prometheus prometheus-community/prometheus --version 29.27.0 -n monitoring --create-namespace -f - --wait",
        "kubectl apply -f -",
        "helm upgrade --install prometheus-adapter prometheus-community/prometheus-adapter --version 5.3.0",
        "\"apiVersion\":\"autoscaling/v2\"",
        "-DprometheusEndpointUrl=prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
    assert_eq!(world.cluster_state(), testworld::world::ClusterState::Nonexistent);
}

/// What the suite's healthy worlds stand on: one started from a snapshot of `setup`'s world is that world —
/// verify finds every link working, and a rerun of setup finds every stage done and changes nothing.
#[test]
fn a_world_started_from_a_snapshot_of_setup_is_healthy_and_a_rerun_is_quiet() {
    let Some(world) = healthy_world() else { return };
    let verify = world.run(PRODUCT, &["verify", "--json"]);
    let report: Value = serde_json::from_str(&verify.stdout).unwrap_or_else(|e| panic!("{e}: {}", verify.all()));
    let not_ok: Vec<&Value> = report["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "ok").collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(verify.code, 0, "{}", verify.all());
    let again = setup(&world, &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    for stage in ["prometheus", "interlok", "adapter", "autoscaler"] {
        assert!(again.stdout.contains(&format!("↷ {stage}")), "{stage} not ↷ in\n{}", again.stdout);
    }
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{}", again.stdout);
    assert!(world.mutating_requests().is_empty(), "{:?}", world.mutating_requests());
}

/// `setup --only prometheus` before the helm stage ever ran: helm cannot find the repository, and the hint
/// names the stage that adds it; following it, the same command works.
#[test]
fn a_chart_repository_never_added_is_named_and_its_hint_adds_it() {
    let Some(world) = monitoring_world(4) else { return };
    let only = |stages: &str| {
        let mut args = repo_flags(&world);
        args.extend(["--wait-timeout", "60s", "setup", "--yes", "--only", stages].map(String::from));
        world.run(PRODUCT, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let first = only("prometheus");
    assert_eq!(first.code, 1, "{}", first.all());
    let hint = "the chart repository prometheus-community is not added here: run `interlok-k8s setup --only helm`";
    assert!(first.stderr.contains(hint), "{}", first.stderr);
    assert_eq!(only("helm").code, 0);
    let again = only("prometheus");
    assert_eq!(again.code, 0, "{}", again.all());
}

#[test]
fn full_setup_with_helm3_too() {
    full_setup_with(3);
}

#[test]
fn the_2019_pushgateway_name_is_discovered_and_used() {
    let Some(world) = monitoring_world(4) else { return };
    let run = setup(&world, &["--chart-version", "prometheus=15.18.0"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    let java_opts =
        deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"].as_str().unwrap().to_string();
    assert!(
        java_opts.contains("-DprometheusEndpointUrl=prometheus-pushgateway.monitoring.svc.cluster.local:9091 "),
        "{java_opts}"
    );
    assert!(run.stdout.contains("✔ autoscaler"), "the chain works end to end with the old name:\n{}", run.stdout);
}

#[test]
fn render_picks_the_autoscaling_api_for_the_version_and_every_document_parses() {
    let run = |version: &str| {
        let output = std::process::Command::new(PRODUCT)
            .args(["render", "--kubernetes-version", version])
            .output()
            .expect("render");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let old = run("1.15");
    assert!(old.contains("apiVersion: autoscaling/v2beta1") && old.contains("targetAverageValue: \"100\""), "{old}");
    assert!(old.contains("    apiVersion: apps/v1\n    kind: Deployment"), "{old}");
    assert!(run("1.22").contains("apiVersion: autoscaling/v2beta2"));
    assert!(run("1.33").contains("apiVersion: autoscaling/v2\n"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(PRODUCT)
        .args(["--grafana", "render", "--out"])
        .arg(dir.path())
        .output()
        .expect("render --out");
    assert!(out.status.success());
    let files: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(files.len(), 6, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
        serde_yaml::from_str::<serde_yaml::Value>(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn an_adapter_unavailable_for_its_first_checks_is_waited_for() {
    let Some(world) = monitoring_world(4) else { return };
    world.adapter_availability(testworld::adapter::Availability::UnavailableFirst(3));
    let run = setup(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("✔ adapter"), "{}", run.stdout);
}

#[test]
fn an_adapter_unavailable_for_good_fails_with_its_pod_state_and_the_logs_command() {
    let Some(world) = monitoring_world(4) else { return };
    world.adapter_availability(testworld::adapter::Availability::Never);
    // long enough for Prometheus's first scrape of the pushgateway on an idle machine, so the adapter fails
    let run = setup(&world, &["--wait-timeout", "10s"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("error: adapter:") && run.stderr.contains("v1beta1.custom.metrics.k8s.io"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("adapter pod: prometheus-adapter-") && run.stderr.contains("restarts"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("kubectl logs -n monitoring deploy/prometheus-adapter"), "{}", run.stderr);
}

#[test]
fn an_image_that_cannot_be_pulled_fails_fast_with_the_image_name() {
    let Some(world) = monitoring_world(4) else { return };
    let started = std::time::Instant::now();
    // a typo: no such repository, so the node cannot pull it
    let run = setup(&world, &["--image", "adaptris/interlock:snapshot", "--wait-timeout", "10m"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("ImagePullBackOff for image adaptris/interlock:snapshot"), "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "it failed fast instead of waiting the 10m bound");
}

#[test]
fn the_guides_hand_edited_rule_is_kept_and_not_doubled() {
    let Some(world) = monitoring_world(4) else { return };
    let repo = world.charts.as_ref().unwrap().repo_url("prometheus-community");
    crate::support::ok(&world, "helm", &["repo", "add", "prometheus-community", &repo]);
    crate::support::install_adapter(&world, "adapter-values-2019.yaml");
    world.clear_logs();
    let run = setup(&world, &["--wait-timeout", "5s"]);
    assert!(run.stdout.contains("already has a rule for MessageMetrics"), "{}", run.all());
    let configmap = world.object("", "configmaps", "monitoring", "prometheus-adapter").expect("configmap");
    let config = configmap["data"]["config.yaml"].as_str().unwrap();
    assert_eq!(
        config.matches("MessageMetrics").count(),
        config.matches("{__name__=~\"MessageMetrics\"}").count() + 2,
        "only the guide's rule:\n{config}"
    );
    assert!(!world
        .invocations()
        .iter()
        .any(|i| i.tool == "helm" && i.args.iter().any(|a| a == "prometheus-adapter") && i.args[0] == "upgrade"));
}

#[test]
fn the_grafana_password_is_shown_only_when_asked() {
    let Some(world) = monitoring_world(4) else { return };
    let run = setup(&world, &["--grafana"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let secret = world.object("", "secrets", "monitoring", "grafana").expect("grafana secret");
    let encoded = secret["data"]["admin-password"].as_str().unwrap();
    let password = String::from_utf8(interlok_k8s_decode(encoded)).unwrap();
    assert!(password.len() >= 20);
    assert!(!run.all().contains(&password), "the password leaked into the output");
    assert!(run.stdout.contains("--show-password"), "{}", run.stdout);
    let verbose = setup(&world, &["--grafana", "--verbose"]);
    assert!(!verbose.all().contains(&password));
    let shown = setup(&world, &["--grafana", "--show-password"]);
    assert!(shown.stdout.contains(&format!("admin password: {password}")), "{}", shown.stdout);
    for entry in crate::support::files_under(&world.dir.join("config"))
        .into_iter()
        .chain(crate::support::files_under(&world.dir.join("home")))
    {
        let text = std::fs::read(&entry).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&text).contains(&password), "the password is in {}", entry.display());
    }
}

fn interlok_k8s_decode(text: &str) -> Vec<u8> {
    interlok_k8s::base64::decode(text).expect("base64")
}

#[test]
fn a_helm2_world_installs_the_archived_stable_charts_end_to_end() {
    let Some(world) = World::builder().helm(2).with_charts().with_prometheus(PromOptions::default()).start() else {
        return;
    };
    let stable = format!("--chart-repo=stable={}", world.charts.as_ref().unwrap().repo_url("stable"));
    let run = setup(&world, &[&stable, "--allow-helm2"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("✔ autoscaler"), "{}", run.stdout);
    let installs: Vec<String> = world
        .invocations()
        .into_iter()
        .filter(|i| i.tool == "helm" && i.args[0] == "upgrade")
        .map(|i| i.args.join(" "))
        .collect();
    assert!(
        installs.iter().any(|a| a.contains("stable/prometheus --version 11.12.1 --namespace monitoring")),
        "{installs:?}"
    );
    assert!(
        installs.iter().all(|a| !a.contains("--create-namespace")),
        "Helm 2 has no --create-namespace: {installs:?}"
    );
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    let java_opts =
        deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"].as_str().unwrap().to_string();
    assert!(
        java_opts.contains("prometheus-pushgateway.monitoring.svc.cluster.local:9091"),
        "the 2019 chart's name: {java_opts}"
    );
}

#[test]
fn setup_demo_ends_reporting_one_to_two() {
    let Some(world) = monitoring_world(4) else { return };
    let repos = repo_flags(&world);
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    args.extend(["--wait-timeout", "60s", "setup", "--yes", "--demo"]);
    let run = world.run(PRODUCT, &args);
    assert_eq!(run.code, 0, "{}", run.all());
    for link in [
        "sent 150 messages",
        "Prometheus has the messages after",
        "the custom metrics API serves them after",
        "the autoscaler wants 2 replicas after",
        "scaled 1 → 2",
    ] {
        assert!(run.stdout.contains(link), "missing {link:?} in\n{}", run.stdout);
    }
    let watch = world.run(PRODUCT, &["watch", "--until-replicas", "2", "--timeout", "60s", "--interval", "1s"]);
    assert_eq!(watch.code, 0, "{}", watch.all());
    assert!(watch.stdout.contains("→ 2 (current → desired)") && watch.stdout.contains("last 5m:"), "{}", watch.stdout);
    assert_eq!(crate::load::leftover_port_forwards(&world), Vec::<String>::new());
}

#[test]
fn a_demo_that_cannot_scale_says_why_through_verify() {
    let Some(world) = healthy_world() else { return };
    world.adapter_availability(testworld::adapter::Availability::Never);
    let run = world.run(PRODUCT, &["--wait-timeout", "5s", "demo"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("verify finds: adapter.apiservices"), "{}", run.stderr);
}
