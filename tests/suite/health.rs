//! One definition of healthy (issue #14): setup and verify ask the same questions, so a rerun of setup never
//! says ✔ or ↷ over a link verify shows broken; every failing check's hint is a command that changes what
//! the check reads; and the kubectl setup chose is the one every later call (and verify) uses.

use serde_json::Value;
use testworld::world::{Run, World};

use crate::monitoring::{healthy_world, setup};
use crate::support::{ok, PRODUCT};

pub(crate) fn verify(world: &World, extra: &[&str]) -> Value {
    let mut args = vec!["verify", "--json"];
    args.extend(extra);
    let run = world.run(PRODUCT, &args);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.all()))
}

pub(crate) fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id}"))
}

pub(crate) fn first_failure(report: &Value) -> Option<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap().into())
}

/// The commands a hint names (its `backticked` parts that start with a program the user has).
pub(crate) fn commands(hint: &str) -> Vec<Vec<String>> {
    hint.split('`')
        .skip(1)
        .step_by(2)
        .map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|words| {
            words.first().is_some_and(|w| ["interlok-k8s", "kubectl", "curl", "minikube"].contains(&w.as_str()))
        })
        .collect()
}

/// Runs a hint's command in the world, as the user would in their shell.
pub(crate) fn follow(world: &World, command: &[String]) -> Run {
    let mut args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    match command[0].as_str() {
        "interlok-k8s" => {
            if args.contains(&"setup") {
                args.push("--yes"); // the user answers "proceed" at the prompt
            }
            world.run(PRODUCT, &args)
        }
        "curl" => {
            let url = args.iter().find(|a| a.starts_with("http")).expect("curl URL");
            let status = ureq::delete(url).call().map(|r| r.status()).unwrap_or_else(|e| match e {
                ureq::Error::Status(code, _) => code,
                other => panic!("curl {url}: {other}"),
            });
            Run { code: i32::from(status >= 400), stdout: status.to_string(), stderr: String::new() }
        }
        program => world.run(program, &args),
    }
}

/// A world broken at one link, the check that must be verify's first failure, the stage owning it.
struct Broken {
    name: &'static str,
    check: &'static str,
    stage: &'static str,
    /// Extra words for verify (e.g. a direct pushgateway URL, so a curl hint is runnable afterwards).
    direct_urls: bool,
    break_it: fn(&World),
}

fn set_env(world: &World, assignment: &str) {
    ok(world, "kubectl", &["set", "env", "deployment/interlok", assignment]);
    ok(world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
}

/// Points the Interlok Deployment at another image, as by hand, and waits until a pod of it is ready.
fn set_image(world: &World, image: &str) {
    ok(world, "kubectl", &["set", "image", "deployment/interlok", &format!("interlok={image}")]);
    world.wait_until(&format!("a ready pod of {image}"), crate::support::LONG, || {
        world.objects("", "pods").iter().any(|p| {
            p["metadata"]["labels"]["app"] == "interlok"
                && p["spec"]["containers"][0]["image"] == image
                && p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    });
}

/// A stock image given, by hand, a ConfigMap with the guide's workflow: it serves /in-box and never pushes.
fn stock_image_with_a_workflow(world: &World) {
    let adapter = crate::interlok::adapter_xml("/in-box", "MessageMetrics", false);
    let configmap = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "hand-made", "namespace": "default"}, "data": {"adapter.xml": adapter}});
    let file = world.dir.join("hand-made.json");
    std::fs::write(&file, configmap.to_string()).expect("manifest");
    ok(world, "kubectl", &["apply", "-f", &file.display().to_string()]);
    let patch = serde_json::json!([
        {"op": "add", "path": "/spec/template/spec/volumes", "value": [{"name": "hand-made", "configMap": {"name": "hand-made"}}]},
        {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts",
         "value": [{"name": "hand-made", "mountPath": "/opt/interlok/config/adapter.xml", "subPath": "adapter.xml"}]}
    ]);
    ok(world, "kubectl", &["patch", "deployment", "interlok", "--type=json", "-p", &patch.to_string()]);
    set_image(world, "adaptris/interlok:snapshot");
}

const BROKEN: &[Broken] = &[
    Broken {
        name: "the pushgateway Service without its probe annotation",
        check: "prometheus.pushgateway-target",
        stage: "prometheus",
        direct_urls: false,
        break_it: |w| {
            let svc = "prometheus-prometheus-pushgateway";
            ok(w, "kubectl", &["annotate", "service", svc, "-n", "monitoring", "prometheus.io/probe-"]);
            let prom = w.prom.as_ref().unwrap();
            w.wait_until("Prometheus to drop the pushgateway target", crate::support::LONG, || {
                prom.query("up{job=\"prometheus-pushgateway\"}").is_empty()
            });
        },
    },
    Broken {
        name: "Interlok on an image without an /in-box workflow",
        check: "interlok.in-box",
        stage: "interlok",
        direct_urls: false,
        break_it: |w| set_image(w, "adaptris/interlok:snapshot"),
    },
    Broken {
        name: "Interlok serves /in-box but never pushes",
        check: "interlok.pushes",
        stage: "interlok",
        direct_urls: false,
        break_it: stock_image_with_a_workflow,
    },
    Broken {
        name: "Interlok pushes to the 2019 pushgateway name",
        check: "interlok.endpoint",
        stage: "interlok",
        direct_urls: false,
        break_it: |w| {
            set_env(w, "JAVA_OPTS=-DprometheusEndpointUrl=prometheus-pushgateway.monitoring.svc.cluster.local:9091")
        },
    },
    Broken {
        name: "K8S_NAMESPACE taken out",
        check: "interlok.downward-api",
        stage: "interlok",
        direct_urls: false,
        break_it: |w| set_env(w, "K8S_NAMESPACE-"),
    },
    Broken {
        name: "the Interlok Deployment deleted",
        check: "interlok.deployment",
        stage: "interlok",
        direct_urls: false,
        break_it: |w| {
            ok(w, "kubectl", &["delete", "deployment", "interlok", "--wait=true"]);
        },
    },
    Broken {
        name: "the adapter reinstalled without the rule",
        check: "adapter.rule",
        stage: "adapter",
        direct_urls: false,
        break_it: |w| crate::support::install_adapter(w, "adapter-values-norule.yaml"),
    },
    Broken {
        name: "a metric pushed without its pod label",
        check: "metric.series",
        stage: "adapter",
        direct_urls: true,
        break_it: |w| {
            let prom = w.prom.as_ref().unwrap();
            let body = "# TYPE MessageMetrics counter\nMessageMetrics 5\n";
            assert_eq!(prom.push("/metrics/job/interlok/k8s_namespace/default", body), 200);
            w.wait_until("the unlabelled series", crate::support::LONG, || {
                !prom.query("MessageMetrics{k8s_pod_name=\"\"}").is_empty()
            });
        },
    },
    Broken {
        name: "the autoscaler pointed at a missing Deployment",
        check: "hpa.target",
        stage: "autoscaler",
        direct_urls: false,
        break_it: |w| {
            let patch = r#"{"spec":{"scaleTargetRef":{"name":"nope"}}}"#;
            ok(w, "kubectl", &["patch", "hpa", "interlok", "--type=merge", "-p", patch]);
        },
    },
    Broken {
        name: "the autoscaler deleted",
        check: "hpa.exists",
        stage: "autoscaler",
        direct_urls: false,
        break_it: |w| {
            ok(w, "kubectl", &["delete", "hpa", "interlok"]);
        },
    },
];

fn verify_args(world: &World, case: &Broken) -> Vec<String> {
    let prom = world.prom.as_ref().unwrap();
    if case.direct_urls {
        vec!["--prometheus-url".into(), prom.prometheus_url(), "--pushgateway-url".into(), prom.pushgateway_url()]
    } else {
        Vec::new()
    }
}

/// Breaks the world, follows the first failure's hint, and checks the check then passes or says something
/// else; breaks it again and checks a rerun of setup never calls that link done.
fn hint_leads_out_and_a_rerun_never_calls_it_done(case: &Broken) {
    let Some(world) = healthy_world() else { return };
    let extra = verify_args(&world, case);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();

    (case.break_it)(&world);
    let report = verify(&world, &extra);
    assert_eq!(first_failure(&report).as_deref(), Some(case.check), "{}: {report:#}", case.name);
    let before = check(&report, case.check)["message"].as_str().unwrap().to_string();
    let hint = check(&report, case.check)["hint"].as_str().unwrap_or_default().to_string();
    let command = commands(&hint).into_iter().next().unwrap_or_else(|| panic!("{}: no command in {hint:?}", case.name));
    let followed = follow(&world, &command);
    assert_eq!(followed.code, 0, "{}: `{}` failed:\n{}", case.name, command.join(" "), followed.all());
    // what a check reads may need a scrape or a rollout to change: look again until it does (bounded)
    let changed = |report: &Value| {
        let now = check(report, case.check);
        now["status"] == "ok" || now["message"] != before.as_str()
    };
    let mut after = verify(&world, &extra);
    world.wait_until(&format!("{} to change after its hint", case.check), crate::support::LONG, || {
        changed(&after) || {
            after = verify(&world, &extra);
            changed(&after)
        }
    });

    (case.break_it)(&world);
    let rerun = setup(&world, &[]);
    let line = rerun.stdout.lines().rev().find(|l| l.split_whitespace().nth(1) == Some(case.stage)).unwrap_or("");
    let fixed = check(&verify(&world, &extra), case.check)["status"] == "ok";
    if fixed {
        assert_eq!(rerun.code, 0, "{}: {}", case.name, rerun.all());
        assert!(line.starts_with('✔'), "{}: a repaired link is reported done: {line:?}", case.name);
    } else {
        assert_eq!(rerun.code, 1, "{}: {}", case.name, rerun.all());
        assert!(!line.starts_with('✔') && !line.starts_with('↷'), "{}: {line:?} over a broken link", case.name);
        assert!(rerun.stderr.contains(case.check), "{}: the failure names the link: {}", case.name, rerun.stderr);
    }
}

fn case(name: &str) -> &'static Broken {
    BROKEN.iter().find(|b| b.name == name).expect("a case")
}

#[test]
fn pushgateway_without_its_probe_annotation() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("the pushgateway Service without its probe annotation"));
}

#[test]
fn interlok_pushing_to_the_2019_name() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("Interlok pushes to the 2019 pushgateway name"));
}

#[test]
fn interlok_without_its_namespace_variable() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("K8S_NAMESPACE taken out"));
}

#[test]
fn interlok_deleted() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("the Interlok Deployment deleted"));
}

#[test]
fn adapter_without_the_rule() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("the adapter reinstalled without the rule"));
}

#[test]
fn a_metric_without_its_pod_label() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("a metric pushed without its pod label"));
}

#[test]
fn autoscaler_on_a_missing_deployment() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("the autoscaler pointed at a missing Deployment"));
}

#[test]
fn autoscaler_deleted() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("the autoscaler deleted"));
}

#[test]
fn interlok_without_the_workflow() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("Interlok on an image without an /in-box workflow"));
}

#[test]
fn interlok_that_never_pushes() {
    hint_leads_out_and_a_rerun_never_calls_it_done(case("Interlok serves /in-box but never pushes"));
}

#[test]
fn every_broken_world_has_its_test() {
    let source = include_str!("health.rs");
    for broken in BROKEN {
        assert!(source.matches(&format!("case({:?})", broken.name)).count() >= 1, "{} has no #[test]", broken.name);
    }
}

#[test]
fn an_unavailable_apiservice_fails_the_adapter_with_its_message_on_a_rerun() {
    let Some(world) = healthy_world() else { return };
    world.adapter_availability(testworld::adapter::Availability::Never);
    let report = verify(&world, &[]);
    assert_eq!(first_failure(&report).as_deref(), Some("adapter.apiservices"), "{report:#}");
    let hint = check(&report, "adapter.apiservices")["hint"].as_str().unwrap().to_string();
    let restart = commands(&hint).into_iter().find(|c| c.contains(&"restart".to_string())).expect("a restart command");
    assert_eq!(follow(&world, &restart).code, 0);
    let after = verify(&world, &[]);
    assert_ne!(
        check(&after, "adapter.apiservices")["message"],
        check(&report, "adapter.apiservices")["message"],
        "after the restart verify reports the new pod"
    );
    let rerun = setup(&world, &["--wait-timeout", "5s"]);
    assert_eq!(rerun.code, 1, "{}", rerun.all());
    let adapter = rerun.stdout.lines().rev().find(|l| l.contains(" adapter ")).unwrap_or("");
    assert!(!adapter.starts_with('↷') && !adapter.starts_with('✔'), "{}", rerun.stdout);
    assert!(rerun.stderr.contains("v1beta1.custom.metrics.k8s.io"), "{}", rerun.stderr);
    let autoscaler = rerun.stdout.lines().rev().find(|l| l.contains(" autoscaler ")).unwrap_or("");
    assert!(autoscaler.contains("not reached"), "{}", rerun.stdout);
}

#[test]
fn a_skew_of_six_minors_is_fixed_by_its_hint_and_fails_setup_with_its_message() {
    let Some(world) = World::builder().kubectl("1.27").helm(4).start() else { return };
    let report = verify(&world, &[]);
    assert_eq!(first_failure(&report).as_deref(), Some("tools.skew"), "{report:#}");
    let hint = check(&report, "tools.skew")["hint"].as_str().unwrap().to_string();
    let command = commands(&hint).into_iter().next().expect("a command");
    let args: Vec<&str> = command[1..].iter().map(String::as_str).chain(["--json"]).collect();
    let after: Value = serde_json::from_str(&world.run(PRODUCT, &args).stdout).expect("JSON");
    assert_eq!(check(&after, "tools.skew")["status"], "ok", "{after:#}");
    let rerun = world.run(PRODUCT, &["setup", "--yes", "--only", "version-skew"]);
    assert_eq!(rerun.code, 1, "{}", rerun.all());
    assert!(rerun.stdout.contains("✘ version-skew") || rerun.stderr.contains("version-skew:"), "{}", rerun.all());
}

/// Every kubectl call after the choice (apply, get, wait, port-forward) goes through the newer kubectl.
fn only_the_chosen_kubectl(world: &World, what: &str) {
    let docker = world.dir.join("docker-bin/kubectl").display().to_string();
    let through_old: Vec<String> = world
        .invocations()
        .into_iter()
        .filter(|i| i.tool == "kubectl" && i.program == docker && !i.args.contains(&"--client".to_string()))
        .map(|i| i.args.join(" "))
        .collect();
    assert!(through_old.is_empty(), "{what} used the shadowing kubectl for: {through_old:?}");
}

#[test]
fn a_shadowed_kubectl_is_never_used_by_setup_dry_run_or_verify() {
    let Some(world) =
        World::builder().helm(4).with_charts().with_prometheus(Default::default()).shadowing_kubectl("v1.14.8").start()
    else {
        return;
    };
    let repos = crate::monitoring::repo_flags(&world);
    let mut dry_args: Vec<&str> = repos.iter().map(String::as_str).collect();
    dry_args.extend(["setup", "--dry-run"]);
    let dry = world.run(PRODUCT, &dry_args);
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(!dry.stdout.contains("docker-bin/kubectl apply"), "{}", dry.stdout);
    only_the_chosen_kubectl(&world, "setup --dry-run");
    world.clear_logs();
    let run = setup(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    only_the_chosen_kubectl(&world, "setup");
    world.clear_logs();
    let report = verify(&world, &[]);
    assert_eq!(first_failure(&report), None, "{report:#}");
    assert_eq!(check(&report, "tools.kubectl")["status"], "warn");
    only_the_chosen_kubectl(&world, "verify");
}
