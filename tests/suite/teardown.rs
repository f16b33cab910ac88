//! teardown in the test world: removes exactly what setup made, nothing else; idempotent; --dry-run is inert.

use crate::monitoring::healthy_world;
use crate::skeleton::mutating_calls;
use crate::support::{ok, PRODUCT};

#[test]
fn teardown_removes_what_setup_made_and_nothing_else() {
    let Some(world) = healthy_world() else { return };
    let unrelated = world.dir.join("unrelated.yaml");
    // the user's own, one of them wearing the wizard's label: labelled but never recorded, so not the wizard's
    std::fs::write(&unrelated, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: monitoring}\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default, labels: {app.kubernetes.io/managed-by: interlok-k8s}}\ndata: {a: b}\n").unwrap();
    ok(&world, "kubectl", &["apply", "-f", &unrelated.display().to_string()]);
    // recorded, but the user took it over by taking the label off: no longer the wizard's
    ok(&world, "kubectl", &["label", "service", "interlok", "app.kubernetes.io/managed-by-"]);

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
    assert!(world.object("", "configmaps", "default", "other").is_some(), "labelled, never recorded: kept");
    assert!(world.object("", "services", "default", "interlok").is_some(), "recorded, label taken off: kept");
    assert!(world.object("", "namespaces", "", "monitoring").is_some(), "a namespace holding other things is kept");
    assert!(
        run.stdout.contains("kept namespace monitoring: it holds what the wizard did not create (configmap mine)"),
        "{}",
        run.stdout
    );
    let repos = world.run("helm", &["repo", "list", "-o", "json"]);
    assert!(!repos.stdout.contains("prometheus-community"), "the repository it added is removed: {}", repos.stdout);

    world.clear_logs();
    let again = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("Nothing to remove"), "{}", again.stdout);
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
}

/// The switches on the world's Windows machine now.
pub fn switches(world: &testworld::world::World) -> Vec<String> {
    let mut names: Vec<String> = testworld::fakeconfig::windows_state(&world.dir)
        .unwrap_or_default()
        .switches
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    names
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
    assert_eq!(switches(&world), ["Team Switch", "minikube"]);
    let run = world.run(PRODUCT, &["--platform", "windows", "teardown", "--yes", "--remove-switch"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(switches(&world), ["Team Switch"], "only the switch setup created");
    let again = world.run(PRODUCT, &["--platform", "windows", "teardown", "--yes", "--remove-switch"]);
    assert!(again.stdout.contains("Nothing to remove"), "{}", again.stdout);
}

/// issue #16: "`--switch '*'` then `teardown --remove-switch` removed every switch on the machine; `mini*`
/// removed `minikube-prod`; `Default?Switch` removed `Default Switch`; `[…]` names never converge."
#[test]
fn switch_names_are_literal_in_setup_and_teardown() {
    use testworld::fakeconfig::{Switch, WindowsConfig};
    for name in ["*", "mini*", "Default?Switch", "[lab]", "`x`"] {
        let mut config = WindowsConfig::workstation();
        let wifi = config.adapters[1].guid.clone();
        config.switches.extend([
            Switch { name: "Default Switch".into(), switch_type: 1, adapter_guid: None },
            Switch { name: "minikube-prod".into(), switch_type: 2, adapter_guid: Some(wifi) },
            Switch { name: "lab".into(), switch_type: 0, adapter_guid: None },
        ]);
        let Some(world) = testworld::world::World::builder().helm(4).windows(config).start() else { return };
        let switch = format!("--switch={name}");
        let setup = ["--platform", "windows", &switch, "setup", "--yes", "--only", "prerequisites,network"];
        let run = world.run(PRODUCT, &setup);
        assert_eq!(run.code, 0, "{name}: {}", run.all());
        let mut expected = vec!["Default Switch".to_string(), "lab".into(), "minikube-prod".into(), name.into()];
        expected.sort();
        assert_eq!(switches(&world), expected, "{name}: a switch of exactly that name is made");
        world.clear_logs();
        let again = world.run(PRODUCT, &setup);
        assert_eq!(again.code, 0, "{name}: the rerun converges: {}", again.all());
        assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{name}: the rerun finds the switch by its name");
        let down = world.run(PRODUCT, &["--platform", "windows", "teardown", "--yes", "--remove-switch"]);
        assert_eq!(down.code, 0, "{name}: {}", down.all());
        assert_eq!(
            switches(&world),
            ["Default Switch", "lab", "minikube-prod"],
            "{name}: only the wizard's switch goes"
        );
    }
}
