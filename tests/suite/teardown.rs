//! teardown in the test world: removes exactly what setup made, nothing else; idempotent; --dry-run is inert.

use crate::monitoring::{monitoring_world, setup};
use crate::skeleton::mutating_calls;
use crate::support::{ok, PRODUCT};

#[test]
fn teardown_removes_what_setup_made_and_nothing_else() {
    let Some(world) = monitoring_world(4) else { return };
    assert_eq!(setup(&world, &[]).code, 0);
    let unrelated = world.dir.join("unrelated.yaml");
    std::fs::write(&unrelated, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: monitoring}\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default}\ndata: {a: b}\n").unwrap();
    ok(&world, "kubectl", &["apply", "-f", &unrelated.display().to_string()]);

    world.clear_logs();
    let dry = world.run(PRODUCT, &["teardown", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    assert!(dry.stdout.contains("would run:") && dry.stdout.contains("uninstall prometheus-adapter"), "{}", dry.stdout);
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
    assert!(world.mutating_requests().is_empty());

    let run = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.all());
    for gone in [
        ("autoscaling", "horizontalpodautoscalers", "default", "interlok"),
        ("apps", "deployments", "default", "interlok"),
        ("", "services", "default", "interlok"),
        ("apps", "deployments", "monitoring", "prometheus-server"),
        ("apps", "deployments", "monitoring", "prometheus-adapter"),
    ] {
        assert!(world.object(gone.0, gone.1, gone.2, gone.3).is_none(), "{gone:?} survived:\n{}", run.stdout);
    }
    let releases = ok(&world, "helm", &["list", "-A", "-o", "json"]);
    assert_eq!(releases.stdout.trim(), "[]");
    assert!(
        world.object("", "configmaps", "monitoring", "mine").is_some(),
        "an unrelated object in monitoring survives"
    );
    assert!(world.object("", "configmaps", "default", "other").is_some());
    assert!(world.object("", "namespaces", "", "monitoring").is_some(), "a namespace holding other things is kept");
    assert!(run.stdout.contains("kept namespace monitoring"), "{}", run.stdout);
    let repos = world.run("helm", &["repo", "list", "-o", "json"]);
    assert!(!repos.stdout.contains("prometheus-community"), "the repository it added is removed: {}", repos.stdout);

    world.clear_logs();
    let again = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("Nothing to remove"), "{}", again.stdout);
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
}

#[test]
fn remove_switch_removes_only_a_switch_the_wizard_created() {
    use testworld::fakeconfig::{Switch, WindowsConfig};
    let mut config = WindowsConfig::workstation();
    config.switches.push(Switch { name: "Team Switch".into(), switch_type: 2, adapter_guid: None });
    let Some(world) = testworld::world::World::builder().helm(4).windows(config).start() else { return };
    assert_eq!(
        world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", "prerequisites,network"]).code,
        0
    );
    let run = world.run(PRODUCT, &["--platform", "windows", "teardown", "--yes", "--remove-switch"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let removed: Vec<String> = world
        .invocations()
        .into_iter()
        .filter(|i| i.parsed.values().any(|v| v == "Remove-VMSwitch"))
        .map(|i| i.parsed["Remove-VMSwitch.Name"].clone())
        .collect();
    assert_eq!(removed, ["minikube"], "only the switch setup created");
    let again = world.run(PRODUCT, &["--platform", "windows", "teardown", "--yes", "--remove-switch"]);
    assert!(again.stdout.contains("Nothing to remove"), "{}", again.stdout);
}
