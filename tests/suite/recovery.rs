//! Recovery (issue #16, items 2 and 3): every step that makes something — the Hyper-V switch, each Helm
//! release, each applied object — interrupted (Ctrl-C, `kill -9`, and Ctrl-C in a terminal, which reaches
//! the whole process group), before or after the step did its work; the rerun converges with no "another
//! operation is in progress", and teardown then leaves nothing of the wizard's behind.

use std::time::Duration;

use serde_json::Value;
use testworld::fakeconfig::{Effect, Switch, WindowsConfig};
use testworld::world::{Run, World};

use crate::monitoring::{monitoring_world, repo_flags};
use crate::support::{ok, LONG, PRODUCT};
use crate::teardown::switches;

/// How the run is stopped.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// `kill -INT` to the wizard alone (its Ctrl-C handler stops the running command).
    CtrlC,
    /// Ctrl-C in a terminal: SIGINT to the whole foreground process group, the tool the wizard runs included.
    CtrlCInTerminal,
    /// `kill -9`: the wizard cannot react at all.
    Kill,
}

/// Starts `setup` with these arguments, waits until `ready` holds, stops it as `stop` says, and waits for
/// it to end (exit 130 after Ctrl-C).
pub fn interrupt(world: &World, args: &[&str], stop: Stop, what: &str, mut ready: impl FnMut() -> bool) {
    use std::os::unix::process::CommandExt;
    let mut command = world.command(PRODUCT, args);
    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    command.process_group(0); // its own group, as a shell's foreground job is
    let child = command.spawn().expect("setup");
    world.wait_until(what, LONG, &mut ready);
    let pid = child.id().to_string();
    let (signal, target) = match stop {
        Stop::CtrlC => ("-INT", pid),
        Stop::CtrlCInTerminal => ("-INT", format!("-{pid}")),
        Stop::Kill => ("-KILL", pid),
    };
    let sent = std::process::Command::new("kill").args([signal, "--", &target]).status().expect("kill");
    assert!(sent.success(), "{what}: kill {signal} {target}");
    let status = child.wait_with_output().expect("wait").status;
    if !matches!(stop, Stop::Kill) {
        assert_eq!(status.code(), Some(130), "{what}: Ctrl-C ends with 130");
    }
}

/// Whether a fault was hit (the step hangs now, before or after its work).
pub fn hung(world: &World) -> bool {
    world.invocations().iter().any(|i| i.fault.is_some())
}

/// The rerun converged: it succeeded, and never met a release still locked by the interrupted run.
pub fn converged(run: &Run, what: &str) {
    assert_eq!(run.code, 0, "{what}: the rerun does not converge:\n{}", run.all());
    assert!(!run.all().contains("another operation"), "{what}: {}", run.all());
}

/// Helm's releases in every namespace and state: (name, status).
pub fn releases(world: &World) -> Vec<(String, String)> {
    let listed = ok(world, "helm", &["list", "-A", "--deployed", "--failed", "--pending", "-o", "json"]);
    let listed: Value = serde_json::from_str(&listed.stdout).expect("helm list json");
    listed
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or_default().into(), r["status"].as_str().unwrap_or_default().into()))
        .collect()
}

fn release_status(world: &World, name: &str) -> Option<String> {
    releases(world).into_iter().find(|(n, _)| n == name).map(|(_, s)| s)
}

/// Nothing of the wizard's is left in the cluster: no release (nor its record), no object carrying the
/// wizard's label or made by one of its releases, and none of the namespaces it made.
pub fn nothing_left(world: &World, made_namespaces: &[&str], what: &str) {
    assert_eq!(releases(world), Vec::<(String, String)>::new(), "{what}: releases left");
    const KINDS: &[(&str, &str)] = &[
        ("", "namespaces"),
        ("", "services"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("apiregistration.k8s.io", "apiservices"),
    ];
    for (group, plural) in KINDS {
        for object in world.objects(group, plural) {
            let metadata = &object["metadata"];
            assert_ne!(metadata["labels"]["app.kubernetes.io/managed-by"], "interlok-k8s", "{what}: left {object}");
            assert!(metadata["annotations"]["meta.helm.sh/release-name"].is_null(), "{what}: left {object}");
            assert_ne!(metadata["labels"]["owner"], "helm", "{what}: a release record left: {object}");
        }
    }
    for namespace in made_namespaces {
        assert!(world.object("", "namespaces", "", namespace).is_none(), "{what}: namespace {namespace} left");
    }
}

fn windows_world(existing: &[&str]) -> Option<World> {
    let mut config = WindowsConfig::workstation();
    config.switches.extend(existing.iter().map(|n| Switch { name: n.to_string(), switch_type: 1, adapter_guid: None }));
    World::builder().helm(4).windows(config).start()
}

/// issue #16: "`kill -9` right after `New-VMSwitch` (the switch exists, unrecorded)". Stopped before the
/// switch is made or right after, by each signal: the rerun makes or finds exactly one switch, records it,
/// and `teardown --remove-switch` takes exactly it away again.
#[test]
fn an_interrupted_switch_creation_converges_and_is_torn_down() {
    let setup = ["--platform", "windows", "setup", "--yes", "--only", "prerequisites,network"];
    for (effect, stop) in [
        (Effect::Hang, Stop::CtrlC),
        (Effect::Hang, Stop::Kill),
        (Effect::HangAfter, Stop::CtrlC),
        (Effect::HangAfter, Stop::Kill),
    ] {
        let what = format!("New-VMSwitch {effect:?}, {stop:?}");
        let Some(world) = windows_world(&["Default Switch"]) else { return };
        world.fault("powershell", &["New-VMSwitch"], effect.clone(), None);
        interrupt(&world, &setup, stop, &what, || hung(&world));
        let made = matches!(effect, Effect::HangAfter);
        assert_eq!(switches(&world).len(), if made { 2 } else { 1 }, "{what}: {:?}", switches(&world));
        world.clear_faults();
        let rerun = world.run(PRODUCT, &setup);
        converged(&rerun, &what);
        if made {
            assert!(
                rerun.stdout.contains("found the Hyper-V switch \"minikube\" an interrupted run created"),
                "{what}: {}",
                rerun.stdout
            );
        }
        assert_eq!(switches(&world), ["Default Switch", "minikube"], "{what}");
        let down = world.run(PRODUCT, &["--platform", "windows", "teardown", "--yes", "--remove-switch"]);
        assert_eq!(down.code, 0, "{what}: {}", down.all());
        assert_eq!(switches(&world), ["Default Switch"], "{what}: the wizard's switch is gone, the other kept");
    }
}

/// Pods of this image start only when the test says so: a `helm upgrade --install --wait` of a chart
/// using it stays pending until then (as a large image pull keeps it).
fn slow_image(world: &World, image: &str, slow: bool) {
    let mut behaviour = world.controllers.behaviour.lock().expect("behaviour");
    behaviour.image_latencies.retain(|(i, _)| i != image);
    if slow {
        behaviour.image_latencies.push((image.into(), Duration::from_secs(5)));
    }
}

/// Interrupts the install (or upgrade) of `release` while Helm waits for its pods, then reruns the same
/// setup: the release left pending (or failed) is repaired and the rerun converges.
fn interrupt_release(world: &World, args: &[&str], release: &str, image: &str, stop: Stop) {
    let what = format!("{release}, {stop:?}");
    slow_image(world, image, true);
    interrupt(world, args, stop, &format!("{what}: Helm to wait for the pods"), || {
        release_status(world, release).is_some_and(|s| s.starts_with("pending-")) && helm_is_waiting(world, release)
    });
    let left = release_status(world, release).unwrap_or_default();
    assert!(matches!(left.as_str(), "pending-install" | "pending-upgrade" | "failed"), "{what}: left {left}");
    slow_image(world, image, false);
    let rerun = world.run(PRODUCT, args);
    converged(&rerun, &what);
    assert!(
        rerun.stdout.contains(&format!("release {release} was left {left}")),
        "{what}: no word of the repair:\n{}",
        rerun.stdout
    );
    assert_eq!(release_status(world, release).as_deref(), Some("deployed"), "{what}");
}

/// Whether Helm has written everything of the release's pending revision and now only waits: the release's
/// Deployments in the cluster are those of its manifest, no more (an upgrade deletes what the new chart drops
/// last, just before it waits) and no fewer.
fn helm_is_waiting(world: &World, release: &str) -> bool {
    use serde::Deserialize;
    let manifest = ok(world, "helm", &["get", "manifest", release, "-n", "monitoring"]).stdout;
    let mut wanted: Vec<String> = serde_yaml::Deserializer::from_str(&manifest)
        .filter_map(|doc| serde_yaml::Value::deserialize(doc).ok())
        .filter(|doc| doc["kind"] == "Deployment")
        .filter_map(|doc| doc["metadata"]["name"].as_str().map(String::from))
        .collect();
    let mut live: Vec<String> = (world.objects("apps", "deployments").into_iter())
        .filter(|d| d["metadata"]["annotations"]["meta.helm.sh/release-name"] == release)
        .filter_map(|d| d["metadata"]["name"].as_str().map(String::from))
        .collect();
    wanted.sort();
    live.sort();
    !wanted.is_empty() && wanted == live
}

fn with_repos<'a>(repos: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    args.extend(["--wait-timeout", "60s"]);
    args.extend(rest);
    args
}

/// issue #16: "`kill -9` or Ctrl-C during `helm upgrade --install … --wait` leaves the release
/// `pending-install`; every rerun fails with "another operation (install/upgrade/rollback) is in progress",
/// and `teardown` leaves the release, its namespace and Deployments behind (never recorded)."
#[test]
fn an_interrupted_release_install_is_repaired_and_torn_down() {
    let Some(world) = monitoring_world(4) else { return };
    let repos = repo_flags(&world);
    let setup = with_repos(&repos, &["--grafana", "setup", "--yes", "--only", "helm,prometheus,grafana"]);
    for stop in [Stop::CtrlC, Stop::Kill, Stop::CtrlCInTerminal] {
        if release_status(&world, "prometheus").is_some() {
            ok(&world, "helm", &["uninstall", "prometheus", "-n", "monitoring", "--wait"]);
        }
        interrupt_release(&world, &setup, "prometheus", "quay.io/prometheus/prometheus", stop);
    }
    for stop in [Stop::CtrlC, Stop::Kill] {
        ok(&world, "helm", &["uninstall", "grafana", "-n", "monitoring", "--wait"]);
        interrupt_release(&world, &setup, "grafana", "grafana/grafana", stop);
    }
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    nothing_left(&world, &["monitoring"], "after teardown");
}

/// An upgrade interrupted while Helm waits is left `pending-upgrade`: the rerun rolls it back to the last
/// deployed revision, as Helm advises, and upgrades it.
#[test]
fn an_interrupted_release_upgrade_is_rolled_back_and_upgraded() {
    let Some(world) = monitoring_world(4) else { return };
    let repos = repo_flags(&world);
    let old =
        with_repos(&repos, &["--chart-version", "prometheus=15.18.0", "setup", "--yes", "--only", "helm,prometheus"]);
    assert_eq!(world.run(PRODUCT, &old).code, 0);
    let setup = with_repos(&repos, &["setup", "--yes", "--only", "helm,prometheus"]);
    interrupt_release(&world, &setup, "prometheus", "quay.io/prometheus/prometheus", Stop::Kill);
    let history = ok(&world, "helm", &["history", "prometheus", "-n", "monitoring", "-o", "json"]);
    assert!(history.stdout.contains("Rollback to 1"), "rolled back before upgrading: {}", history.stdout);
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    nothing_left(&world, &["monitoring"], "after teardown");
}

/// An upgrade killed before Helm removed what the new chart no longer has (the 2019 chart's
/// `prometheus-pushgateway` Service, renamed since): Helm cannot roll it back ("original object … not found")
/// and records the rollback as failed. The rerun says so and upgrades the failed release instead, and the old
/// Service goes with that upgrade.
#[test]
fn an_upgrade_killed_before_helm_removed_the_old_objects_is_upgraded_when_its_rollback_fails() {
    for helm in [3, 4] {
        upgrade_killed_before_helm_removed_the_old_objects(helm);
    }
}

fn upgrade_killed_before_helm_removed_the_old_objects(helm: u32) {
    let Some(world) = monitoring_world(helm) else { return };
    let repos = repo_flags(&world);
    let old =
        with_repos(&repos, &["--chart-version", "prometheus=15.18.0", "setup", "--yes", "--only", "helm,prometheus"]);
    assert_eq!(world.run(PRODUCT, &old).code, 0);
    let old_service = "/namespaces/monitoring/services/prometheus-pushgateway";
    world.api_fault("DELETE", old_service, testworld::apiserver::ApiEffect::Hang, Some(1));
    let setup = with_repos(&repos, &["setup", "--yes", "--only", "helm,prometheus"]);
    interrupt(&world, &setup, Stop::Kill, "Helm to remove the old Service", || {
        world.requests().iter().any(|r| r.method == "DELETE" && r.path.ends_with(old_service))
    });
    assert_eq!(release_status(&world, "prometheus").as_deref(), Some("pending-upgrade"), "Helm {helm}");
    let rerun = world.run(PRODUCT, &setup);
    converged(&rerun, &format!("Helm {helm}"));
    assert!(
        rerun.stdout.contains("rolling it back to revision 1 failed") && rerun.stdout.contains("upgrading it instead"),
        "{}",
        rerun.stdout
    );
    assert_eq!(release_status(&world, "prometheus").as_deref(), Some("deployed"), "Helm {helm}");
    assert!(
        world.object("", "services", "monitoring", "prometheus-pushgateway").is_none(),
        "Helm {helm}: the old Service is gone"
    );
}

/// The Interlok Deployment and Service and the autoscaler, applied by `kubectl apply`: stopped before the
/// apply or right after it, the rerun converges and teardown removes them; the adapter's release, stopped
/// while Helm waits, is repaired.
#[test]
fn interrupted_applies_and_the_adapter_install_converge_and_are_torn_down() {
    let Some(world) = monitoring_world(4) else { return };
    let repos = repo_flags(&world);
    let only = |stages: &'static str| with_repos(&repos, &["setup", "--yes", "--only", stages]);
    assert_eq!(world.run(PRODUCT, &only("helm,prometheus")).code, 0);
    for (effect, stop) in [(Effect::Hang, Stop::CtrlC), (Effect::HangAfter, Stop::Kill)] {
        let what = format!("interlok apply {effect:?}, {stop:?}");
        ok(&world, "kubectl", &["delete", "deployment,service", "interlok", "--ignore-not-found"]);
        world.clear_logs();
        world.fault("kubectl", &["apply"], effect, None);
        interrupt(&world, &only("interlok"), stop, &what, || hung(&world));
        world.clear_faults();
        converged(&world.run(PRODUCT, &only("interlok")), &what);
    }
    for stop in [Stop::Kill, Stop::CtrlC] {
        if release_status(&world, "prometheus-adapter").is_some() {
            ok(&world, "helm", &["uninstall", "prometheus-adapter", "-n", "monitoring", "--wait"]);
        }
        interrupt_release(&world, &only("adapter"), "prometheus-adapter", "prometheus-adapter", stop);
    }
    for (effect, stop) in [(Effect::HangAfter, Stop::CtrlC), (Effect::Hang, Stop::Kill)] {
        let what = format!("autoscaler apply {effect:?}, {stop:?}");
        ok(&world, "kubectl", &["delete", "hpa", "interlok", "--ignore-not-found"]);
        world.clear_logs();
        world.fault("kubectl", &["apply"], effect, None);
        interrupt(&world, &only("autoscaler"), stop, &what, || hung(&world));
        world.clear_faults();
        converged(&world.run(PRODUCT, &only("autoscaler")), &what);
    }
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    nothing_left(&world, &["monitoring"], "after teardown");
    assert!(world.object("", "namespaces", "", "default").is_some(), "a namespace the wizard did not make stays");
}
