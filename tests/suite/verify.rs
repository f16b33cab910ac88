//! verify in the test world: a healthy chain, and one world per broken link.

use std::collections::BTreeMap;

use serde_json::Value;
use testworld::world::{Run, World};

use crate::monitoring::{healthy_world, monitoring_world, setup};
use crate::support::PRODUCT;

/// Every group, in chain order: the adapter's path, then KEDA's (a run shows one of the two).
pub(crate) const GROUPS: [&str; 15] = [
    "tools",
    "cluster",
    "helm",
    "prometheus",
    "pushgateway",
    "interlok",
    "metric",
    "adapter",
    "custom-metrics",
    "hpa",
    "keda",
    "scaledobject",
    "external-metrics",
    "keda-hpa",
    "grafana",
];

fn verify(world: &World, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["verify", "--json"];
    args.extend(extra);
    let run = world.run(PRODUCT, &args);
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.all()));
    (run, report)
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id}"))
        ["status"]
        .as_str()
        .unwrap()
}

fn first_failure(report: &Value) -> Option<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap().to_string())
}

fn hint<'a>(report: &'a Value, id: &str) -> &'a str {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["hint"].as_str().unwrap_or("")
}

#[test]
fn a_healthy_world_is_all_ok_and_the_json_follows_the_schema() {
    let Some(world) = healthy_world() else { return };
    let (run, report) = verify(&world, &[]);
    let not_ok: Vec<&Value> = report["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "ok").collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(run.code, 0);
    assert_eq!(report["healthy"], true);
    let mut last_group = 0;
    for check in report["checks"].as_array().unwrap() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["group", "hint", "id", "message", "status"]);
        let group = GROUPS.iter().position(|g| *g == check["group"]).expect("a documented group");
        assert!(group >= last_group, "groups in chain order");
        last_group = group;
        assert!(check["id"].as_str().unwrap().starts_with(&format!("{}.", check["group"].as_str().unwrap())));
    }
    let human = world.run(PRODUCT, &["verify"]);
    assert_eq!(human.code, 0, "{}", human.all());
    assert!(human.stdout.contains("the chain is healthy"), "{}", human.stdout);
}

/// How often each read-only question that several places ask was asked since the log was cleared, by the
/// words it is asked with (a `--context` left out): a release's status by its name, the APIServices however
/// they were asked for.
fn questions_asked(world: &World) -> BTreeMap<String, usize> {
    let mut asked = BTreeMap::new();
    for call in world.invocations() {
        let args: Vec<&str> = call
            .args
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with("--context") && !a.starts_with("--kube-context"))
            .collect();
        let question = match (call.tool.as_str(), args.as_slice()) {
            ("kubectl", ["get", kind, ..]) if kind.starts_with("apiservice") => "kubectl get apiservices".to_string(),
            ("helm", ["list", .., "--filter", release, "--deployed", "--failed", "--pending", "-o", "json"]) => {
                format!("helm list {release}")
            }
            ("helm", ["list", "-n", namespace, "--deployed", "--failed", "--pending", "-o", "json"]) => {
                format!("helm list -n {namespace}")
            }
            // a namespace's objects, a pod's log, a raw read of an aggregated API: each a question of its own
            ("kubectl", ["get", kinds, "-n", namespace, "-o", "json"]) => format!("kubectl get {kinds} -n {namespace}"),
            ("kubectl", ["logs", pod, ..]) => format!("kubectl logs {pod}"),
            ("kubectl", ["get", "--raw", path]) => format!("kubectl get --raw {path}"),
            ("kubectl", ["version", "-o", "json"])
            | ("helm", ["version", "--short"])
            | ("minikube", ["status", "-o", "json"])
            | ("helm", ["repo", "list", "-o", "json"]) => format!("{} {}", call.tool, args.join(" ")),
            _ => continue,
        };
        *asked.entry(question).or_default() += 1;
    }
    // the same questions as reads through the run's `kubectl proxy`; a namespace's kinds one by one
    for read in world.requests().into_iter().filter(|r| r.proxied_read()) {
        let segments: Vec<&str> = read.path.trim_start_matches('/').split('/').collect();
        let question = match segments.as_slice() {
            ["version"] => "kubectl version -o json".to_string(),
            ["api", "v1", "namespaces", namespace, "secrets"] => format!("helm list -n {namespace}"),
            [.., "apiservices"] => "kubectl get apiservices".to_string(),
            ["api", "v1", "namespaces", _, "pods", pod, "log"] => format!("kubectl logs {pod}"),
            ["apis", group, ..] if group.ends_with("metrics.k8s.io") => format!("kubectl get --raw {}", read.path),
            [.., "namespaces", namespace, kind] => format!("kubectl get {kind} -n {namespace}"),
            _ => continue,
        };
        *asked.entry(question).or_default() += 1;
    }
    asked
}

/// Asserts that no question was asked more often than `most` says (`default` times for those it does not
/// name), and that the ones every look asks were seen.
fn asked_at_most(world: &World, when: &str, default: usize, most: &[(&str, usize)]) {
    let asked = questions_asked(world);
    for (question, times) in &asked {
        let limit = most.iter().find(|(q, _)| q == question).map_or(default, |(_, n)| *n);
        assert!(*times <= limit, "{when}: `{question}` asked {times} times (at most {limit}): {asked:?}");
    }
    for question in
        ["kubectl version -o json", "minikube status -o json", "kubectl get apiservices", "helm list -n monitoring"]
    {
        assert!(asked.contains_key(question), "{when}: `{question}` was asked: {asked:?}");
    }
}

#[test]
fn each_question_is_asked_once_per_look() {
    let Some(world) = monitoring_world(4) else { return };
    let first = setup(&world, &[]);
    assert_eq!(first.code, 0, "{}", first.all());
    // minikube's state and helm's repositories once before the wizard changes them and once after; the
    // namespace's releases (one `helm list` for all of them) and the APIServices afresh in each round of a wait
    let waited = usize::MAX;
    let limits = [
        ("minikube status -o json", 2),
        ("helm repo list -o json", 2),
        ("helm list -n monitoring", waited),
        ("kubectl get apiservices", waited),
    ];
    // what a wait's rounds read again: the namespaces' objects, Interlok's log, the metric's value
    let asked = questions_asked(&world);
    let rounds: Vec<(&str, usize)> = asked
        .keys()
        .filter(|q| q.starts_with("kubectl get ") || q.starts_with("kubectl logs "))
        .map(|q| (q.as_str(), waited))
        .collect();
    asked_at_most(&world, "a first setup", 1, &[&limits[..], &rounds[..]].concat());

    world.clear_logs();
    let rerun = setup(&world, &[]);
    assert_eq!(rerun.code, 0, "{}", rerun.all());
    // a quiet rerun changes nothing and waits for nothing: one look, every question asked once
    asked_at_most(&world, "a quiet rerun", 1, &[]);

    world.clear_logs();
    let (run, _) = verify(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    asked_at_most(&world, "verify", 1, &[]);
}

#[test]
fn verify_wait_looks_again_each_round() {
    let Some(world) = healthy_world() else { return };
    crate::support::ok(&world, "minikube", &["stop"]);
    world.clear_logs();
    let waiting = world
        .command(PRODUCT, &["verify", "--json", "--wait", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("verify starts");
    let asked = || questions_asked(&world).get("minikube status -o json").copied().unwrap_or(0);
    world.wait_until("verify to look at minikube", crate::support::LONG, || asked() >= 1);
    crate::support::ok(&world, "minikube", &["start"]);
    // a round after the start sees it: what a round asked is not taken for the next one's answer
    let output = waiting.wait_with_output().expect("verify ends");
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["healthy"], true, "{report:#}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(asked() >= 2, "minikube was asked again: {}", asked());
}

/// Asserts the first ✘ is `id`, that checks depending on it are skipped, and that its hint says `fix`.
fn broken_at(report: &Value, id: &str, fix: &str, skipped: &[&str]) {
    assert_eq!(first_failure(report).as_deref(), Some(id), "{report:#}");
    assert!(hint(report, id).contains(fix), "hint of {id}: {:?}", hint(report, id));
    for dependent in skipped {
        assert_eq!(status(report, dependent), "skip", "{dependent} should be skipped: {report:#}");
    }
    assert_eq!(report["healthy"], false);
}

fn push(world: &World, path: &str, body: &str) {
    assert_eq!(world.prom.as_ref().unwrap().push(path, body), 200, "push to {path}");
}

fn wait_for_series(world: &World, selector: &str) {
    let prom = world.prom.as_ref().unwrap();
    world.wait_until(&format!("Prometheus to scrape {selector}"), crate::support::LONG, || {
        !prom.query(selector).is_empty()
    });
}

#[test]
fn a_shadowing_old_kubectl_is_a_warning_and_verify_uses_the_newer_one() {
    let Some(world) =
        World::builder().helm(4).shadowing_kubectl("v1.14.8").with_charts().with_prometheus(Default::default()).start()
    else {
        return;
    };
    let (_, report) = verify(&world, &[]);
    assert_eq!(status(&report, "tools.kubectl"), "warn", "{report:#}");
    assert!(hint(&report, "tools.kubectl").contains("before"), "{report:#}");
    for id in ["tools.skew", "cluster.context", "cluster.api", "cluster.nodes"] {
        assert_eq!(status(&report, id), "ok", "{id} goes through the newer kubectl: {report:#}");
    }
}

#[test]
fn a_skew_of_six_minors_fails_at_tools() {
    let Some(world) = World::builder().kubectl("1.27").helm(4).start() else { return };
    let (_, report) = verify(&world, &[]);
    broken_at(&report, "tools.skew", "kubectl v1.32–v1.34", &[]);
}

/// The command a hint names (its last `…` quote), as an argument vector.
fn hint_command(report: &Value, id: &str) -> Vec<String> {
    let hint = hint(report, id);
    let quoted = hint.rsplit('`').nth(1).unwrap_or_else(|| panic!("no `command` in the hint of {id}: {hint:?}"));
    quoted.split_whitespace().map(String::from).collect()
}

/// Waits until Prometheus's pushgateway target is `expected` (up: Some(1), down: Some(0), none: None).
fn wait_for_pushgateway_target(world: &World, expected: Option<&str>) {
    let prom = world.prom.as_ref().unwrap();
    world.wait_until(&format!("the pushgateway target to be {expected:?}"), crate::support::LONG, || {
        let up = prom.query("up{job=\"prometheus-pushgateway\"}");
        up.len() <= 1 && up.first().and_then(|s| s["value"][1].as_str()) == expected
    });
}

#[test]
fn an_unannotated_pushgateway_service_fails_at_the_scrape_target_until_the_hints_command_runs() {
    let Some(world) = healthy_world() else { return };
    let service = ["service", "prometheus-prometheus-pushgateway", "-n", "monitoring"];
    crate::support::ok(&world, "kubectl", &[&["annotate"], &service[..], &["prometheus.io/probe-"]].concat());
    wait_for_pushgateway_target(&world, None);
    let (_, report) = verify(&world, &[]);
    broken_at(
        &report,
        "prometheus.pushgateway-target",
        "prometheus.io/probe: pushgateway",
        &["metric.series", "pushgateway.labels"],
    );
    // issue #14: the hint's command changes what the check reads
    let command = hint_command(&report, "prometheus.pushgateway-target");
    assert_eq!(command[..4], ["kubectl", "annotate", "service", "prometheus-prometheus-pushgateway"], "{command:?}");
    let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    crate::support::ok(&world, "kubectl", &args);
    wait_for_pushgateway_target(&world, Some("1"));
    let (_, report) = verify(&world, &[]);
    assert_eq!(status(&report, "prometheus.pushgateway-target"), "ok", "{report:#}");
}

/// honor_labels off renames only `job` (the rule's k8s_* labels stay): a warning, which the hint's command
/// clears by reinstalling the wizard's values.
#[test]
fn honor_labels_turned_off_by_the_user_warns_at_the_labels_until_the_hints_command_runs() {
    let Some(world) = healthy_world() else { return };
    crate::support::ok(
        &world,
        "helm",
        &[
            "upgrade",
            "prometheus",
            "prometheus-community/prometheus",
            "--version",
            "29.27.0",
            "-n",
            "monitoring",
            "--reuse-values",
            "--set",
            "scrapeConfigs.prometheus-pushgateway.honor_labels=false",
            "--wait",
        ],
    );
    let pod = world.kubelet.interlok_pods()[0].1.clone();
    let group = format!("/metrics/job/interlok/k8s_namespace/default/k8s_pod_name/{pod}");
    push(&world, &group, "# TYPE MessageMetrics counter\nMessageMetrics 5\n");
    wait_for_series(&world, "MessageMetrics{exported_job=\"interlok\"}");
    let (_, report) = verify(&world, &[]);
    assert_eq!(status(&report, "pushgateway.labels"), "warn", "{report:#}");
    assert!(hint(&report, "pushgateway.labels").contains("honor_labels: true"), "{report:#}");
    // issue #14: the hint's command changes what the check reads
    let command = hint_command(&report, "pushgateway.labels");
    assert_eq!(command[..2], ["interlok-k8s", "setup"], "{command:?}");
    let mut args = crate::monitoring::repo_flags(&world);
    args.extend(command[1..].iter().cloned());
    args.push("--yes".into());
    let run = world.run(PRODUCT, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{}", run.all());
    wait_for_series(&world, "MessageMetrics{job=\"interlok\"}");
    // the renamed series goes stale a scrape or two after Prometheus reloads (its old scrape loop's last
    // staleness markers): look again until then, bounded
    let (_, mut report) = verify(&world, &[]);
    world.wait_until("pushgateway.labels to pass after its hint", crate::support::LONG, || {
        status(&report, "pushgateway.labels") == "ok" || {
            report = verify(&world, &[]).1;
            status(&report, "pushgateway.labels") == "ok"
        }
    });
}

#[test]
fn interlok_pushing_to_the_2019_service_name_fails_at_its_endpoint() {
    let Some(world) = healthy_world() else { return };
    let old = "JAVA_OPTS=-DprometheusEndpointUrl=prometheus-pushgateway.monitoring.svc.cluster.local:9091 -Dnetworkaddress.cache.ttl=30";
    crate::support::ok(&world, "kubectl", &["set", "env", "deployment/interlok", old]);
    crate::support::ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    let (_, report) = verify(&world, &[]);
    broken_at(
        &report,
        "interlok.endpoint",
        "prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091",
        &["metric.series", "metric.fresh"],
    );
}

#[test]
fn only_the_guides_namespace_variable_fails_at_the_downward_api() {
    let Some(world) = monitoring_world(4) else { return };
    assert_eq!(setup(&world, &["--namespace", "team-a"]).code, 0);
    crate::support::ok(&world, "kubectl", &["set", "env", "deployment/interlok", "-n", "team-a", "K8S_NAMESPACE-"]);
    crate::support::ok(
        &world,
        "kubectl",
        &["rollout", "status", "deployment/interlok", "-n", "team-a", "--timeout=60s"],
    );
    let (_, report) = verify(&world, &["--namespace", "team-a"]);
    broken_at(&report, "interlok.downward-api", "K8S_NAMESPACE", &["metric.series"]);
    assert!(report.to_string().contains("pods push as namespace \\\"default\\\""), "{report}");
}

#[test]
fn a_metric_pushed_without_its_pod_label_fails_at_the_series() {
    let Some(world) = healthy_world() else { return };
    push(&world, "/metrics/job/interlok/k8s_namespace/default", "# TYPE MessageMetrics counter\nMessageMetrics 5\n");
    wait_for_series(&world, "MessageMetrics{k8s_pod_name=\"\"}");
    let (_, report) = verify(&world, &[]);
    broken_at(&report, "metric.series", "K8S_POD_NAME", &["metric.fresh", "adapter.evaluation"]);
}

#[test]
fn a_missing_adapter_rule_fails_at_the_rule() {
    let Some(world) = healthy_world() else { return };
    crate::support::install_adapter(&world, "adapter-values-norule.yaml");
    let (_, report) = verify(&world, &[]);
    broken_at(
        &report,
        "adapter.rule",
        "setup --only adapter",
        &["adapter.evaluation", "custom-metrics.items", "hpa.metric"],
    );
}

#[test]
fn the_guides_literal_rule_over_a_total_series_fails_at_the_evaluation() {
    let Some(world) = crate::support::world_with_interlok_3_12() else { return };
    assert_eq!(setup(&world, &["--image", &format!("{}:latest", crate::support::INTERLOK_3_12)]).code, 0);
    crate::support::install_adapter(&world, "adapter-values-2019.yaml");
    let (_, report) = verify(&world, &[]);
    broken_at(
        &report,
        "adapter.evaluation",
        "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
        &["custom-metrics.items", "hpa.status"],
    );
    assert_eq!(status(&report, "adapter.rule"), "ok", "the rule is there; it is the rule that is wrong");
}

#[test]
fn an_unavailable_apiservice_fails_at_the_apiservices() {
    let Some(world) = healthy_world() else { return };
    world.adapter_availability(testworld::adapter::Availability::Never);
    let (_, report) = verify(&world, &[]);
    broken_at(
        &report,
        "adapter.apiservices",
        "kubectl logs -n monitoring deploy/prometheus-adapter",
        &["custom-metrics.items", "hpa.status"],
    );
}

#[test]
fn an_hpa_targeting_a_missing_deployment_fails_at_the_target() {
    let Some(world) = healthy_world() else { return };
    crate::support::ok(
        &world,
        "kubectl",
        &["patch", "hpa", "interlok", "--type=merge", "-p", r#"{"spec":{"scaleTargetRef":{"name":"nope"}}}"#],
    );
    let (_, report) = verify(&world, &[]);
    broken_at(&report, "hpa.target", "Deployment interlok", &["hpa.metric", "hpa.status"]);
}

#[test]
fn a_stale_pushgateway_group_is_a_warning_with_the_delete_command() {
    let Some(world) = healthy_world() else { return };
    push(
        &world,
        "/metrics/job/interlok/k8s_namespace/default/k8s_pod_name/interlok-gone-12345",
        "# TYPE MessageMetrics counter\nMessageMetrics 7\n",
    );
    let (run, report) = verify(&world, &[]);
    assert_eq!(status(&report, "pushgateway.groups"), "warn", "{report:#}");
    assert!(
        hint(&report, "pushgateway.groups").contains("curl -X DELETE")
            && hint(&report, "pushgateway.groups").contains("k8s_pod_name/interlok-gone-12345"),
        "{report:#}"
    );
    assert_eq!(first_failure(&report), None);
    assert_eq!(run.code, 0, "warnings do not fail verify");
}

#[test]
fn direct_urls_reach_the_real_servers_without_port_forwards() {
    let Some(world) = healthy_world() else { return };
    let prom = world.prom.as_ref().unwrap();
    world.clear_logs();
    let (_, report) =
        verify(&world, &["--prometheus-url", &prom.prometheus_url(), "--pushgateway-url", &prom.pushgateway_url()]);
    for id in [
        "prometheus.api",
        "prometheus.pushgateway-target",
        "pushgateway.api",
        "pushgateway.groups",
        "metric.series",
        "metric.fresh",
        "adapter.evaluation",
    ] {
        assert_eq!(status(&report, id), "ok", "{id}: {report:#}");
    }
    let forwards: Vec<String> = world
        .invocations()
        .into_iter()
        .filter(|i| i.args.first().is_some_and(|a| a == "port-forward"))
        .map(|i| i.args.join(" "))
        .collect();
    assert!(forwards.iter().all(|f| f.contains("pod/interlok-")), "only /in-box needs a port-forward: {forwards:?}");
    let through_cluster: Vec<String> = (world.requests().into_iter())
        .filter(|r| r.path.contains("/services/") && r.path.contains("/proxy"))
        .map(|r| r.path)
        .collect();
    assert_eq!(through_cluster, Vec::<String>::new(), "the given URLs, not the Services through the API server");
}

#[test]
fn every_check_id_has_a_troubleshooting_entry() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/troubleshooting.md")).expect("docs");
    let missing: Vec<&str> =
        interlok_k8s::verify::check_ids().into_iter().filter(|id| !docs.contains(&format!("### {id}\n"))).collect();
    assert!(missing.is_empty(), "docs/troubleshooting.md lacks {missing:?}");
}

/// Reads go through one `kubectl proxy` per run; where it cannot start, each read is a `kubectl` of its own.
/// Both ways see the same chain: a healthy one, and one whose Interlok Deployment is gone (the NotFound path).
#[test]
fn reads_through_the_proxy_and_through_kubectl_see_the_same_chain() {
    let Some(world) = healthy_world() else { return };
    let verdicts = |report: &Value| -> Vec<(String, String, String)> {
        let checks = report["checks"].as_array().expect("checks");
        let field = |c: &Value, key: &str| c[key].as_str().unwrap_or_default().to_string();
        checks.iter().map(|c| (field(c, "id"), field(c, "status"), field(c, "hint"))).collect()
    };
    let both_ways = |when: &str| {
        world.clear_logs();
        let (_, proxied) = verify(&world, &[]);
        assert!(world.requests().iter().any(|r| r.proxied_read()), "{when}: reads went through the proxy");
        let proxies: Vec<Vec<String>> = world
            .invocations()
            .into_iter()
            .filter(|i| i.tool == "kubectl" && i.args.first().is_some_and(|a| a == "proxy"))
            .map(|i| i.args)
            .collect();
        assert_eq!(proxies.len(), 1, "{when}: one proxy for the run: {proxies:?}");
        let socket_only = |args: &Vec<String>| {
            args.iter().any(|a| a.starts_with("--unix-socket=/"))
                && !args.iter().any(|a| a.starts_with("--port") || a.starts_with("-p") || a.starts_with("--address"))
        };
        assert!(proxies.iter().all(socket_only), "{when}: a Unix socket, never a port: {proxies:?}");
        world.clear_logs();
        let refused = testworld::fakeconfig::Effect::Exit { code: 1, stderr: "error: injected failure".into() };
        world.fault("kubectl", &["proxy"], refused, None);
        let (_, by_kubectl) = verify(&world, &[]);
        world.clear_faults();
        assert!(!world.requests().iter().any(|r| r.proxied_read()), "{when}: no proxy, no read through one");
        assert_eq!(verdicts(&proxied), verdicts(&by_kubectl), "{when}");
        proxied
    };
    assert_eq!(both_ways("healthy")["healthy"], true);
    crate::support::ok(&world, "kubectl", &["delete", "deployment", "interlok", "-n", "default"]);
    let broken = both_ways("without Interlok's Deployment");
    assert_eq!(broken["healthy"], false);
}
