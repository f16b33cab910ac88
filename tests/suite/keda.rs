//! The KEDA path (issue #17) in the test world: real helm and kubectl, real Prometheus, the KEDA emulation
//! and its stand-in chart. `setup --scaler keda`, `demo` and `watch` through KEDA; verify's KEDA chain and
//! hints that lead out of broken KEDA worlds; switching between the paths with one autoscaler at every step
//! and nothing left behind; `render --scaler keda` against kubectl with KEDA's CRDs; the scaler question.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use testworld::prom::PromOptions;
use testworld::world::{Run, World};

use crate::health::{check, commands, first_failure, follow, verify};
use crate::skeleton::mutating_calls;
use crate::support::{install_keda, ok, LONG, PRODUCT};

fn keda_world() -> Option<World> {
    World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(PromOptions::default())
        .keda_polling(Duration::from_millis(500))
        .start()
}

/// `setup` with this scaler (and the monitoring helper's flags: the world's chart repositories, short waits).
fn setup(world: &World, scaler: &str) -> Run {
    crate::monitoring::setup(world, &["--scaler", scaler])
}

fn stage_line<'a>(run: &'a Run, stage: &str) -> &'a str {
    run.stdout.lines().rev().find(|l| l.split_whitespace().nth(1) == Some(stage)).unwrap_or("")
}

/// The HPAs that scale Deployment interlok, by name.
fn autoscalers(world: &World) -> Vec<String> {
    let mut names: Vec<String> = world
        .objects("autoscaling", "horizontalpodautoscalers")
        .iter()
        .filter(|h| h["spec"]["scaleTargetRef"]["name"] == "interlok")
        .map(testworld::apiserver::object_name)
        .collect();
    names.sort();
    names
}

/// Everything of KEDA's in the API state (events aside: they outlive their objects in a real cluster too).
fn keda_left(world: &World) -> Vec<String> {
    world
        .state
        .store
        .dump()
        .into_iter()
        .filter(|(resource, ns, name, _)| {
            resource != "/events"
                && (ns == "keda"
                    || name.contains("keda")
                    || resource.contains("keda.sh")
                    || name == "v1beta1.external.metrics.k8s.io")
        })
        .map(|(resource, ns, name, _)| format!("{resource} {ns}/{name}"))
        .collect()
}

/// Everything of prometheus-adapter's in the API state.
fn adapter_left(world: &World) -> Vec<String> {
    world
        .state
        .store
        .dump()
        .into_iter()
        .filter(|(resource, _, name, _)| {
            resource != "/events" && (name.contains("prometheus-adapter") || name == "v1beta1.custom.metrics.k8s.io")
        })
        .map(|(resource, ns, name, _)| format!("{resource} {ns}/{name}"))
        .collect()
}

fn healthy(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| format!("{} {}: {}", c["id"], c["status"], c["message"]))
        .collect()
}

fn ids(report: &Value) -> Vec<String> {
    report["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// Verify's report once its first failure is `id` (KEDA notices a change at its next poll).
fn verify_fails_at(world: &World, id: &str) -> Value {
    let mut report = verify(world, &[]);
    world.wait_until(&format!("verify's first failure to be {id}"), LONG, || {
        first_failure(&report).as_deref() == Some(id) || {
            report = verify(world, &[]);
            first_failure(&report).as_deref() == Some(id)
        }
    });
    report
}

/// `setup --scaler keda` on a fresh world, then the demo: the 150 messages reach real Prometheus, KEDA's
/// external metrics API serves them and KEDA's HPA wants 2 replicas; a watch started before the demo sees
/// the change. The KEDA chain of verify is all ok (and the adapter's is not run); a rerun changes nothing;
/// teardown leaves nothing of KEDA.
#[test]
fn setup_with_keda_then_demo_wants_two_replicas_through_keda_against_real_prometheus() {
    let Some(world) = keda_world() else { return };
    let run = setup(&world, "keda");
    assert_eq!(run.code, 0, "{}", run.all());
    for stage in ["keda", "scaledobject"] {
        assert!(stage_line(&run, stage).starts_with('✔'), "{stage}: {}", run.stdout);
    }
    for stage in ["adapter", "autoscaler"] {
        assert!(stage_line(&run, stage).contains("not applicable: --scaler keda"), "{stage}: {}", run.stdout);
    }
    assert!(run.stdout.contains("through a KEDA ScaledObject"), "the plan says which path: {}", run.stdout);
    assert_eq!(autoscalers(&world), ["keda-hpa-interlok"], "one autoscaler, KEDA's");
    assert_eq!(adapter_left(&world), Vec::<String>::new(), "no prometheus-adapter on KEDA's path");

    let so = world.object("keda.sh", "scaledobjects", "default", "interlok").expect("the ScaledObject");
    assert_eq!(so["metadata"]["labels"]["app.kubernetes.io/managed-by"], "interlok-k8s");
    assert_eq!((so["spec"]["minReplicaCount"].as_u64(), so["spec"]["maxReplicaCount"].as_u64()), (Some(1), Some(5)));
    let trigger = &so["spec"]["triggers"][0];
    assert_eq!((trigger["type"].as_str(), trigger["metricType"].as_str()), (Some("prometheus"), Some("AverageValue")));
    assert_eq!(trigger["metadata"]["serverAddress"], "http://prometheus-server.monitoring.svc.cluster.local:80");
    assert_eq!(trigger["metadata"]["threshold"], "100");
    assert_eq!(trigger["metadata"]["ignoreNullValues"], "false");
    let hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok").expect("hpa");
    assert_eq!(hpa["metadata"]["ownerReferences"][0]["kind"], "ScaledObject");
    assert_eq!(hpa["metadata"]["labels"]["app.kubernetes.io/managed-by"], "keda-operator", "KEDA's, not the wizard's");
    assert_eq!(hpa["spec"]["metrics"][0]["external"]["metric"]["name"], "s0-prometheus");
    assert_eq!(hpa["spec"]["metrics"][0]["external"]["target"]["averageValue"], "100");

    let report = verify(&world, &[]);
    assert_eq!(healthy(&report), Vec::<String>::new(), "{report:#}");
    let ran = ids(&report);
    for id in ["helm.keda", "keda.operator", "keda.metrics-api", "scaledobject.ready", "scaledobject.query"] {
        assert!(ran.contains(&id.to_string()), "{id} missing: {ran:?}");
    }
    for id in ["helm.adapter", "adapter.rule", "custom-metrics.items", "hpa.exists"] {
        assert!(!ran.contains(&id.to_string()), "{id} is the adapter's chain: {ran:?}");
    }
    let mut last = 0;
    for c in report["checks"].as_array().unwrap() {
        let group = crate::verify::GROUPS.iter().position(|g| *g == c["group"]).expect("a documented group");
        assert!(group >= last, "groups in chain order: {report:#}");
        last = group;
    }
    assert!(check(&report, "scaledobject.query")["message"].as_str().unwrap().contains("MessageMetrics(_total)?"));

    world.clear_logs();
    let again = setup(&world, "keda");
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(stage_line(&again, "scaledobject").starts_with('↷'), "{}", again.stdout);
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{}", again.stdout);
    assert!(world.mutating_requests().is_empty(), "{:?}", world.mutating_requests());

    // a watch started before the demo sees the autoscaler go from 1 to 2
    let mut watch = world
        .command(PRODUCT, &["watch", "--until-replicas", "2", "--timeout", "120s", "--interval", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("watch");
    let frames = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (frames, stdout) = (frames.clone(), watch.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                frames.lock().unwrap().push(line);
            }
        })
    };
    world.wait_until("watch's first frame", LONG, || !frames.lock().unwrap().is_empty());
    let demo = world.run(PRODUCT, &["--wait-timeout", "90s", "demo"]);
    assert_eq!(demo.code, 0, "{}", demo.all());
    for link in [
        "sent 150 messages",
        "Prometheus has the messages after",
        "KEDA's external metrics API serves them after",
        "KEDA's autoscaler wants 2 replicas after",
        "scaled 1 → 2",
    ] {
        assert!(demo.stdout.contains(link), "missing {link:?} in\n{}", demo.stdout);
    }
    world.wait_until("the watch to see 2 replicas and end", LONG, || watch.try_wait().ok().flatten().is_some());
    reader.join().expect("reader");
    assert!(watch.wait().expect("watch").success());
    let frames = frames.lock().unwrap().clone();
    assert!(frames[0].contains("→ 1 (current → desired)"), "the first frame is before the demo: {frames:#?}");
    assert!(frames.last().unwrap().contains("→ 2 (current → desired)"), "{frames:#?}");

    let archive = world.dir.join("support.tar.gz");
    ok(&world, PRODUCT, &["bundle", "--out", &archive.display().to_string()]);
    let unpacked = world.dir.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = std::process::Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&unpacked).status();
    assert!(tar.expect("tar").success());
    let bundled = |file: &str| std::fs::read_to_string(unpacked.join("interlok-k8s-bundle").join(file)).unwrap();
    assert!(bundled("scaledobject.yaml").contains("kind: ScaledObject"), "{}", bundled("scaledobject.yaml"));
    assert!(bundled("keda-hpa-describe.txt").contains("keda-hpa-interlok"));
    assert!(bundled("verify.json").contains("scaledobject.ready"), "the bundled report walks KEDA's chain");

    let teardown = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(teardown.code, 0, "{}", teardown.all());
    assert_eq!(keda_left(&world), Vec::<String>::new(), "{}", teardown.stdout);
    assert_eq!(autoscalers(&world), Vec::<String>::new());
    assert_eq!(ok(&world, "helm", &["list", "-A", "-o", "json"]).stdout.trim(), "[]");
}

/// `setup --scaler keda --dry-run` without a cluster shows KEDA's install and the ScaledObject it applies,
/// and nothing of the adapter's path; nothing changes.
#[test]
fn a_dry_run_of_the_keda_path_without_a_cluster_shows_kedas_commands() {
    let Some(world) = World::builder().helm(4).cluster(testworld::world::ClusterState::Nonexistent).start() else {
        return;
    };
    // the world's Linux machine has no Docker engine, libvirt or podman: the driver is named
    let run = world.run(PRODUCT, &["--driver", "docker", "setup", "--scaler", "keda", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    for expected in [
        "helm repo add kedacore https://kedacore.github.io/charts",
        "helm upgrade --install keda kedacore/keda --version 2.20.2 -n keda --create-namespace -f - --wait",
        "\"kind\":\"ScaledObject\"",
        "\"ignoreNullValues\":\"false\"",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("prometheus-adapter --version"), "{}", run.stdout);
    assert!(!run.stdout.contains("\"kind\":\"HorizontalPodAutoscaler\""), "{}", run.stdout);
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
}

/// Breaks a healthy KEDA world, checks verify's first ✘ and what it says, follows its hint as a user
/// would until the check passes, breaks it again and checks a rerun of setup never calls it done.
fn hint_leads_out(id: &str, stage: &str, break_it: impl Fn(&World), said: &[&str]) {
    let Some(world) = keda_world() else { return };
    let run = setup(&world, "keda");
    assert_eq!(run.code, 0, "{}", run.all());

    break_it(&world);
    let report = verify_fails_at(&world, id);
    let found = check(&report, id);
    let (message, hint) = (found["message"].as_str().unwrap(), found["hint"].as_str().unwrap_or_default());
    for text in said {
        assert!(message.contains(text) || hint.contains(text), "{id} should say {text:?}: {found:#}");
    }
    let command = commands(hint).into_iter().next().unwrap_or_else(|| panic!("no command in {hint:?}"));
    let followed = follow(&world, &command);
    assert_eq!(followed.code, 0, "`{}` failed:\n{}", command.join(" "), followed.all());
    let mut after = verify(&world, &[]);
    world.wait_until(&format!("{id} to pass after `{}`", command.join(" ")), LONG, || {
        check(&after, id)["status"] == "ok" || {
            after = verify(&world, &[]);
            check(&after, id)["status"] == "ok"
        }
    });

    break_it(&world);
    verify_fails_at(&world, id);
    let rerun = setup(&world, "keda");
    let line = stage_line(&rerun, stage);
    if check(&verify(&world, &[]), id)["status"] == "ok" {
        assert_eq!(rerun.code, 0, "{}", rerun.all());
        assert!(line.starts_with('✔'), "a repaired link is reported done, not already done: {line:?}");
    } else {
        assert_eq!(rerun.code, 1, "{}", rerun.all());
        assert!(!line.starts_with('✔') && !line.starts_with('↷'), "{line:?} over a broken link");
        assert!(rerun.stderr.contains(id), "the failure names the link: {}", rerun.stderr);
    }
}

/// A query on a metric that does not exist: KEDA (with the wizard's `ignoreNullValues: "false"`) reports the
/// trigger broken, and verify's first ✘ is the ScaledObject's Ready condition with KEDA's reason, its
/// scaler's error, and the fix; the query run directly against Prometheus fails the same way.
#[test]
fn a_query_on_a_wrong_metric_fails_first_at_the_scaledobjects_condition_with_the_reason_and_the_fix() {
    hint_leads_out(
        "scaledobject.ready",
        "scaledobject",
        |world| {
            let patch = r#"[{"op": "replace", "path": "/spec/triggers/0/metadata/query", "value": "sum(MessageMetricz{k8s_namespace=\"default\"})"}]"#;
            ok(world, "kubectl", &["patch", "scaledobject", "interlok", "--type=json", "-p", patch]);
        },
        &[
            "is not Ready: TriggerError",
            "the result is empty",
            "is not the wizard's",
            "`interlok-k8s setup --scaler keda --only scaledobject`",
        ],
    );
}

/// KEDA's operator scaled to zero: verify's first ✘ is the operator, and its hint scales it back.
#[test]
fn kedas_operator_scaled_to_zero_fails_first_at_the_operator() {
    hint_leads_out(
        "keda.operator",
        "keda",
        |world| {
            ok(world, "kubectl", &["scale", "deployment", "keda-operator", "-n", "keda", "--replicas=0"]);
        },
        &["keda-operator is scaled to 0 replicas", "`kubectl scale deployment keda-operator -n keda --replicas=1`"],
    );
}

/// adapter → keda → adapter on one cluster: after each step exactly one autoscaler scales Interlok, verify
/// walks that path's chain all ok, and nothing of the other path is left in the API state.
#[test]
fn adapter_to_keda_to_adapter_keeps_one_autoscaler_and_leaves_nothing_behind() {
    let Some(world) = keda_world() else { return };
    let expect_adapter = |run: &Run, step: &str| {
        assert_eq!(run.code, 0, "{step}: {}", run.all());
        assert_eq!(autoscalers(&world), ["interlok"], "{step}: one autoscaler, the wizard's HPA");
        assert_eq!(keda_left(&world), Vec::<String>::new(), "{step}: nothing of KEDA's\n{}", run.stdout);
        let report = verify(&world, &[]);
        assert_eq!(healthy(&report), Vec::<String>::new(), "{step}: {report:#}");
        assert!(ids(&report).contains(&"adapter.rule".to_string()), "{step}: the adapter's chain");
    };
    expect_adapter(&setup(&world, "adapter"), "adapter");

    let keda = setup(&world, "keda");
    assert_eq!(keda.code, 0, "{}", keda.all());
    assert!(
        keda.stdout.contains("HorizontalPodAutoscaler interlok scales Deployment interlok: KEDA's admission webhook refuses a second autoscaler"),
        "the switch says why it removes the HPA: {}",
        keda.stdout
    );
    assert_eq!(autoscalers(&world), ["keda-hpa-interlok"], "one autoscaler, KEDA's");
    assert_eq!(adapter_left(&world), Vec::<String>::new(), "nothing of prometheus-adapter's");
    let report = verify(&world, &[]);
    assert_eq!(healthy(&report), Vec::<String>::new(), "{report:#}");
    assert!(ids(&report).contains(&"keda-hpa.status".to_string()), "KEDA's chain");

    let back = setup(&world, "adapter");
    assert!(
        back.stdout.contains("ScaledObject interlok (the KEDA path) scales Deployment interlok"),
        "{}",
        back.stdout
    );
    expect_adapter(&back, "back to the adapter");
    assert!(world.object("", "namespaces", "", "keda").is_none(), "the namespace the wizard made for KEDA is gone");
}

/// What `render --scaler keda` prints is what a real kubectl accepts once KEDA's CRDs are in the cluster
/// (and refuses before), and its KEDA values are what the chart renders with.
#[test]
fn render_with_keda_is_accepted_by_kubectl_apply_dry_run_with_kedas_crds() {
    for kubectl in ["1.27", "1.33"] {
        let Some(world) = World::builder().kubectl(kubectl).helm(4).with_charts().start() else { return };
        let out = world.dir.join("rendered");
        let render = world.run(PRODUCT, &["render", "--scaler", "keda", "--out", &out.display().to_string()]);
        assert_eq!(render.code, 0, "{}", render.all());
        assert!(!out.join("hpa.yaml").exists() && !out.join("adapter-values.yaml").exists(), "{}", render.stdout);
        let file = |name: &str| out.join(name).display().to_string();
        let manifests = ["interlok-deployment.yaml", "interlok-service.yaml", "scaledobject.yaml"].map(file);
        let mut args = vec!["apply", "--dry-run=client"];
        for manifest in &manifests {
            args.extend(["-f", manifest.as_str()]);
        }
        let before = world.run("kubectl", &args);
        assert_eq!(before.code, 1, "kubectl {kubectl}: {}", before.all());
        assert!(before.stderr.contains("no matches for kind \"ScaledObject\""), "{}", before.stderr);

        install_keda(&world, "keda");
        let after = ok(&world, "kubectl", &args);
        for created in ["deployment.apps/interlok", "service/interlok", "scaledobject.keda.sh/interlok"] {
            assert!(
                after.stdout.contains(&format!("{created} created (dry run)")),
                "kubectl {kubectl}: {}",
                after.stdout
            );
        }
        let values = file("keda-values.yaml");
        ok(&world, "helm", &["template", "keda", "kedacore/keda", "--version", "2.20.2", "-f", &values]);
    }
}

/// Asked interactively (no --scaler given), the wizard says in one line why KEDA is the forward path and
/// lets the user choose; the plan then says which path it takes. Given, it does not ask.
#[test]
fn the_wizard_asks_which_scaler_and_says_why_keda_is_the_forward_path() {
    use expectrl::Session;
    let Some(world) = World::builder().helm(4).start() else { return };
    let mut command = world.command(PRODUCT, &["setup", "--only", "autoscaler"]);
    command.env("TERM", "xterm-256color").stdin(std::process::Stdio::inherit());
    let mut session = Session::spawn(command).expect("pty");
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    session.expect("KEDA is the forward path").expect("why");
    session.expect("What should scale Interlok?").expect("the question");
    session.expect("> adapter").expect("the guide's path is preselected");
    session.send("\x1b[B").expect("down");
    session.send("\r").expect("choose keda");
    session.expect("through a KEDA ScaledObject").expect("the plan follows the answer");
    session.expect("Proceed with this plan?").expect("plan");
    session.send("\x1b[B\x1b[B\r").expect("cancel");
    session.expect("Cancelled; nothing was changed.").expect("cancelled");
    session.expect(expectrl::Eof).expect("end");

    let mut given = world.command(PRODUCT, &["setup", "--only", "autoscaler"]);
    given.env("TERM", "xterm-256color").env("INTERLOK_K8S_SCALER", "keda").stdin(std::process::Stdio::inherit());
    let mut session = Session::spawn(given).expect("pty");
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    let plan = session.expect("Proceed with this plan?").expect("plan");
    let before = String::from_utf8_lossy(plan.before()).to_string();
    assert!(!before.contains("What should scale") && before.contains("through a KEDA ScaledObject"), "{before}");
    session.send("\x1b[B\x1b[B\r").expect("cancel");
    session.expect(expectrl::Eof).expect("end");
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
}

/// A switch removes only the wizard's autoscaler: someone else's HPA stops the switch to KEDA, someone
/// else's ScaledObject stops the switch to the adapter, each with the command to resolve it, and both stay.
#[test]
fn a_switch_never_removes_an_autoscaler_the_wizard_did_not_create() {
    let Some(world) = World::builder().helm(4).with_charts().start() else { return };
    let theirs = world.dir.join("theirs.yaml");
    std::fs::write(
        &theirs,
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: mine, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: interlok}\n  minReplicas: 1\n  maxReplicas: 3\n",
    )
    .unwrap();
    ok(&world, "kubectl", &["apply", "-f", &theirs.display().to_string()]);
    let run = world.run(PRODUCT, &["--scaler", "keda", "setup", "--yes", "--only", "scaledobject"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(
            "HorizontalPodAutoscaler mine in default scales Deployment interlok, and the wizard did not create it"
        ) && run.stderr.contains("`kubectl delete hpa mine -n default`"),
        "{}",
        run.stderr
    );
    assert!(world.object("autoscaling", "horizontalpodautoscalers", "default", "mine").is_some());

    ok(&world, "kubectl", &["delete", "hpa", "mine"]);
    install_keda(&world, "keda");
    let so = world.dir.join("so.yaml");
    std::fs::write(
        &so,
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: theirs, namespace: default}\nspec:\n  scaleTargetRef: {name: interlok}\n  minReplicaCount: 1\n  triggers:\n    - type: prometheus\n      metadata: {serverAddress: 'http://p:9090', query: 'sum(x)', threshold: '5'}\n",
    )
    .unwrap();
    ok(&world, "kubectl", &["apply", "-f", &so.display().to_string()]);
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "autoscaler"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("ScaledObject theirs in default scales Deployment interlok, and the wizard did not create it"),
        "{}",
        run.stderr
    );
    assert!(world.object("keda.sh", "scaledobjects", "default", "theirs").is_some());
    assert!(world
        .objects("autoscaling", "horizontalpodautoscalers")
        .iter()
        .all(|h| h["metadata"]["name"] != "interlok"));
}
