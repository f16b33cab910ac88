//! The walking skeleton in the test world: prerequisites, faults, idempotence, the interactive path.

use std::time::Duration;

use testworld::fakeconfig::Effect;
use testworld::world::World;

use crate::support::PRODUCT;

/// Tool calls that would change something, by tool and first words.
pub fn mutating_calls(world: &World) -> Vec<String> {
    const CHANGES: &[(&str, &[&str])] = &[
        ("kubectl", &["apply", "create", "delete", "patch", "replace", "scale", "label", "annotate", "set", "edit"]),
        ("helm", &["install", "upgrade", "uninstall", "delete", "rollback", "init", "repo"]),
        ("minikube", &["start", "stop", "delete"]),
        ("choco", &["install", "upgrade", "uninstall"]),
    ];
    world
        .invocations()
        .into_iter()
        .filter(|i| {
            let first = i.args.first().map(String::as_str).unwrap_or_default();
            let read_only_repo = i.tool == "helm" && first == "repo" && i.args.get(1).is_some_and(|a| a == "list");
            CHANGES.iter().any(|(tool, verbs)| *tool == i.tool && verbs.contains(&first)) && !read_only_repo
                || (matches!(i.tool.as_str(), "powershell" | "pwsh")
                    && i.args.iter().any(|a| a.contains("New-VMSwitch") || a.contains("Remove-VMSwitch")))
        })
        .map(|i| format!("{} {}", i.tool, i.args.join(" ")))
        .collect()
}

#[test]
fn prerequisites_report_every_tool_with_its_version() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("✔ prerequisites"), "{}", run.stdout);
    for version in ["kubectl v1.33.", "helm v4.1.4", "minikube v1.38.1"] {
        assert!(run.stdout.contains(version), "missing {version} in\n{}", run.stdout);
    }
}

#[test]
fn a_second_run_on_a_satisfied_world_changes_nothing() {
    let Some(world) = World::builder().helm(4).start() else { return };
    assert_eq!(world.run(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]).code, 0);
    world.clear_logs();
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!world.invocations().is_empty(), "the rerun still checks (the log is live)");
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
    assert!(world.mutating_requests().is_empty(), "{:?}", world.mutating_requests());
}

#[test]
fn missing_helm_is_named_with_its_install_command() {
    let Some(world) = World::builder().without_helm().start() else { return };
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("helm not found on PATH"), "{}", run.stderr);
    assert!(run.stderr.contains("helm: sudo snap install helm"), "{}", run.stderr);
}

#[test]
fn on_windows_without_chocolatey_the_hint_names_the_choco_package() {
    let mut config = testworld::fakeconfig::WindowsConfig::workstation();
    config.choco_installed = false;
    let Some(world) = World::builder().without_helm().windows(config).start() else { return };
    let run = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("helm: choco install kubernetes-helm") && run.stderr.contains("chocolatey itself"),
        "{}",
        run.stderr
    );
}

#[test]
fn on_windows_with_chocolatey_yes_installs_the_missing_tool_and_rechecks() {
    let Some(world) =
        World::builder().helm_installable(4).windows(testworld::fakeconfig::WindowsConfig::workstation()).start()
    else {
        return;
    };
    let run = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let install = world.invocations().into_iter().find(|i| i.tool == "choco").expect("choco ran");
    assert_eq!(install.args[..2], ["install".to_string(), "kubernetes-helm".to_string()]);
    assert!(run.stdout.contains("✔ prerequisites") && run.stdout.contains("helm v4.1.4"), "{}", run.stdout);
}

#[test]
fn a_kubectl_printing_garbage_fails_with_the_command_and_a_hint() {
    let Some(world) = World::builder().helm(4).start() else { return };
    world.fault("kubectl", &["version"], Effect::Garbage, None);
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("could not read kubectl's version"), "{}", run.stderr);
    assert!(run.stderr.contains("command:") && run.stderr.contains("version --client -o json"), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(!run.all().contains("panicked"), "{}", run.all());
}

#[test]
fn a_hanging_tool_is_stopped_and_reported() {
    let Some(world) = World::builder().helm(4).start() else { return };
    world.fault("helm", &["version"], Effect::Hang, None);
    let mut command = world.command(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]);
    command.env("INTERLOK_K8S_COMMAND_TIMEOUT", "2");
    let output = command.output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not finish within 2s"), "{stderr}");
}

#[test]
fn minikube_before_1_10_is_read_without_short() {
    let Some(world) = World::builder().helm(4).minikube("v1.7.3").start() else { return };
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("minikube v1.7.3"), "{}", run.stdout);
}

#[test]
fn an_existing_context_needs_no_minikube() {
    let Some(world) = World::builder().helm(4).without_minikube().start() else { return };
    let run = world.run(PRODUCT, &["--context", "minikube", "setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(world.invocations().iter().all(|i| i.tool != "minikube"));
}

#[test]
fn without_a_terminal_setup_asks_for_yes() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let run = world.run(PRODUCT, &["setup", "--only", "prerequisites"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(world.invocations().is_empty(), "nothing ran before the answer");
}

#[test]
fn the_list_shows_every_stage_in_order() {
    let run = std::process::Command::new(PRODUCT).args(["setup", "--list"]).output().expect("run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let names = [
        "prerequisites",
        "kubectl-path",
        "network",
        "cluster",
        "version-skew",
        "helm",
        "prometheus",
        "interlok",
        "adapter",
        "autoscaler",
        "grafana",
    ];
    let positions: Vec<usize> = names
        .iter()
        .map(|n| stdout.find(&format!("  {n} ")).unwrap_or_else(|| panic!("{n} missing in {stdout}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{stdout}");
}

#[test]
fn the_interactive_path_shows_the_plan_customizes_and_proceeds() {
    use expectrl::Session;
    let Some(world) = World::builder().helm(4).start() else { return };
    let mut command = world.command(PRODUCT, &["setup", "--only", "prerequisites"]);
    // inherit: the pty becomes fd 0-2 before exec, and Stdio::null() would replace it again
    command.env("TERM", "xterm-256color").stdin(std::process::Stdio::inherit());
    let mut session = Session::spawn(command).expect("spawn in a pty");
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    session.expect("Interlok in namespace default").expect("the plan is shown");
    session.expect("Proceed with this plan?").expect("asked to proceed");
    session.send("\x1b[B").expect("down to customize");
    session.send("\r").expect("choose customize");
    session.expect("Which answer do you want to change?").expect("asked which answer");
    session.send("\r").expect("choose namespace");
    session.expect("New value for namespace").expect("asked for the value");
    session.send("team-a\r").expect("type the namespace");
    session.expect("Interlok in namespace team-a").expect("the plan shows the new answer");
    session.expect("Proceed with this plan?").expect("asked again");
    session.send("\r").expect("proceed");
    session.expect("✔ prerequisites").expect("the stage ran");
    session.expect(expectrl::Eof).expect("the wizard ends");
}
