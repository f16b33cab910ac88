//! Cluster bring-up stages in the test world: kubectl on PATH, minikube or --context, version skew, Helm.

use testworld::world::{ClusterState, World};

use crate::skeleton::mutating_calls;
use crate::support::PRODUCT;

const UP_TO_HELM: &str = "prerequisites,kubectl-path,network,cluster,version-skew,helm";

fn repo_flag(world: &World) -> String {
    format!(
        "--chart-repo=prometheus-community={}",
        world.charts.as_ref().expect("charts").repo_url("prometheus-community")
    )
}

#[test]
fn linux_minikube_stopped_is_started_and_a_rerun_changes_nothing() {
    let Some(world) = World::builder().helm(4).with_charts().cluster(ClusterState::Stopped).start() else { return };
    let repo = repo_flag(&world);
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", UP_TO_HELM, &repo]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(world.cluster_state(), ClusterState::Running);
    let started =
        world.invocations().into_iter().find(|i| i.tool == "minikube" && i.args[0] == "start").expect("minikube start");
    assert!(
        started.args.contains(&"--cpus=2".to_string()) && started.args.contains(&"--memory=4096".to_string()),
        "{:?}",
        started.args
    );
    assert!(run.stdout.contains("✔ cluster"), "{}", run.stdout);
    assert!(run.stdout.contains("no tiller"), "{}", run.stdout);
    world.clear_logs();
    let again = world.run(PRODUCT, &["setup", "--yes", "--only", UP_TO_HELM, &repo]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{}", again.stdout);
    assert!(world.mutating_requests().is_empty());
}

fn windows(world: testworld::world::WorldBuilder) -> Option<World> {
    world.windows(testworld::fakeconfig::WindowsConfig::workstation()).with_charts().start()
}

fn powershell_calls(world: &World, cmdlet: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    world
        .invocations()
        .into_iter()
        .filter(|i| i.tool == "powershell" && i.parsed.iter().any(|(k, v)| k.starts_with("cmdlet.") && v == cmdlet))
        .map(|i| i.parsed)
        .collect()
}

#[test]
fn fresh_windows_workstation_gets_a_switch_and_hyperv_minikube() {
    let Some(world) = windows(World::builder().helm(4).cluster(ClusterState::Stopped)) else { return };
    let repo = repo_flag(&world);
    let run = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", UP_TO_HELM, &repo]);
    assert_eq!(run.code, 0, "{}", run.all());
    for stage in ["prerequisites", "kubectl-path", "network", "cluster", "version-skew", "helm"] {
        assert!(run.stdout.contains(&format!("✔ {stage}")), "{stage} not ✔ in\n{}", run.stdout);
    }
    let created = powershell_calls(&world, "New-VMSwitch");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["New-VMSwitch.Name"], "minikube");
    assert_eq!(created[0]["New-VMSwitch.NetAdapterName"], "Ethernet", "the default-route adapter");
    assert_eq!(created[0]["New-VMSwitch.AllowManagementOS"], "$true");
    let start =
        world.invocations().into_iter().find(|i| i.tool == "minikube" && i.args[0] == "start").expect("minikube start");
    assert!(
        start.args.contains(&"--driver=hyperv".into())
            && start.args.contains(&"--hyperv-virtual-switch=minikube".into()),
        "{:?}",
        start.args
    );
    assert!(run.stdout.contains("network drops for a few seconds"), "{}", run.stdout);
    world.clear_logs();
    let again = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", UP_TO_HELM, &repo]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
}

#[test]
fn not_elevated_stops_at_preflight_and_changes_nothing() {
    let mut config = testworld::fakeconfig::WindowsConfig::workstation();
    config.admin = false;
    let Some(world) = World::builder().helm(4).cluster(ClusterState::Stopped).windows(config).start() else { return };
    let run = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("error: preflight: this shell is not elevated"), "{}", run.stderr);
    assert!(run.stderr.contains("Run as administrator"), "{}", run.stderr);
    assert!(!run.stdout.contains("Plan:"), "preflight stops before the plan: {}", run.stdout);
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
}

#[test]
fn hyperv_disabled_names_the_command_that_enables_it() {
    let mut config = testworld::fakeconfig::WindowsConfig::workstation();
    config.hyperv_enabled = false;
    let Some(world) = World::builder().helm(4).windows(config).start() else { return };
    let run = world
        .run(PRODUCT, &["--platform", "windows", "--driver", "hyperv", "setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All"),
        "{}",
        run.stderr
    );
}

#[test]
fn docker_desktops_old_kubectl_is_named_and_bypassed() {
    let Some(world) = World::builder().helm(4).shadowing_kubectl("v1.14.8").with_charts().start() else { return };
    let repo = repo_flag(&world);
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", UP_TO_HELM, &repo]);
    assert_eq!(run.code, 0, "{}", run.all());
    let docker = world.dir.join("docker-bin/kubectl").display().to_string();
    let choco = world.dir.join("bin/kubectl").display().to_string();
    assert!(
        run.stdout.contains(&format!("{docker} (v1.14.8)")) && run.stdout.contains(&format!("{choco} (v1.33.")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("to fix PATH"), "{}", run.stdout);
    let after_choice: Vec<_> = world
        .invocations()
        .into_iter()
        .filter(|i| i.tool == "kubectl")
        .skip_while(|i| i.program != docker || !i.args.contains(&"--client".to_string()))
        .collect();
    let later: Vec<_> = after_choice.iter().filter(|i| !i.args.contains(&"--client".to_string())).collect();
    assert!(!later.is_empty());
    assert!(later.iter().all(|i| i.program == choco), "{:?}", later.iter().map(|i| &i.program).collect::<Vec<_>>());
}

#[test]
fn a_skew_of_six_minors_is_an_error_with_the_fix() {
    let Some(world) = World::builder().kubectl("1.27").helm(4).start() else { return };
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "version-skew"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("6 minor versions"), "{}", run.stderr);
    assert!(
        run.stderr.contains("put a kubectl v1.32–v1.34 first on PATH") && run.stderr.contains("--use-minikube-kubectl"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_skew_of_one_minor_is_a_note() {
    let Some(world) = World::builder().kubectl("1.32").helm(4).start() else { return };
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "version-skew"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("one minor version from the server"), "{}", run.stdout);
}

fn start_args(minikube: &str) -> Option<Vec<String>> {
    let world = World::builder().helm(4).minikube(minikube).cluster(ClusterState::Stopped).start()?;
    let run = world.run(PRODUCT, &["--driver", "docker", "setup", "--yes", "--only", "prerequisites,cluster"]);
    assert_eq!(run.code, 0, "{}", run.all());
    Some(world.invocations().into_iter().find(|i| i.tool == "minikube" && i.args[0] == "start").expect("start").args)
}

#[test]
fn minikube_1_7_gets_vm_driver_and_1_38_gets_driver() {
    let Some(old) = start_args("v1.7.3") else { return };
    assert!(old.contains(&"--vm-driver=docker".to_string()), "{old:?}");
    let Some(new) = start_args("v1.38.1") else { return };
    assert!(new.contains(&"--driver=docker".to_string()), "{new:?}");
}

#[test]
fn an_existing_context_calls_no_minikube_and_no_powershell() {
    let Some(world) = windows(World::builder().helm(4).context("existing-ctx")) else { return };
    let repo = repo_flag(&world);
    let run = world.run(
        PRODUCT,
        &["--platform", "windows", "--context", "existing-ctx", "setup", "--yes", "--only", UP_TO_HELM, &repo],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let tools: Vec<String> = world.invocations().into_iter().map(|i| i.tool).collect();
    assert!(!tools.iter().any(|t| t == "minikube" || t == "powershell"), "{tools:?}");
    let unknown = world.run(PRODUCT, &["--context", "nope", "setup", "--yes", "--only", "cluster"]);
    assert_eq!(unknown.code, 2, "a context that does not exist is bad input");
    assert!(
        unknown.stderr.contains("--context \"nope\" names no context") && unknown.stderr.contains("existing-ctx"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn an_adapter_name_reaches_powershell_as_a_literal() {
    let evil = "Wi-Fi'; Remove-Item C:\\ -Recurse #";
    let mut config = testworld::fakeconfig::WindowsConfig::workstation();
    config.adapters[1].name = evil.into();
    let Some(world) = World::builder().helm(4).windows(config).start() else { return };
    let run = world.run(
        PRODUCT,
        &["--platform", "windows", "--adapter", evil, "setup", "--yes", "--only", "prerequisites,network"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let created = powershell_calls(&world, "New-VMSwitch");
    assert_eq!(created[0]["New-VMSwitch.NetAdapterName"], evil);
    assert!(world.invocations().iter().all(|i| i.fault.is_none()), "no call was rejected as unknown code");
    assert!(powershell_calls(&world, "Remove-Item").is_empty());
}

#[test]
fn the_adapter_question_preselects_the_default_route_and_arrows_choose_another() {
    use expectrl::Session;
    let Some(world) = World::builder().helm(4).windows(testworld::fakeconfig::WindowsConfig::workstation()).start()
    else {
        return;
    };
    let mut command = world.command(PRODUCT, &["--platform", "windows", "setup", "--only", "prerequisites,network"]);
    command.env("TERM", "xterm-256color").stdin(std::process::Stdio::inherit());
    let mut session = Session::spawn(command).expect("pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(20)));
    session.expect("Proceed with this plan?").expect("plan");
    session.send("\r").expect("proceed");
    session.expect("Which network adapter").expect("adapter question");
    session.expect("> Ethernet").expect("the default-route adapter is preselected");
    session.send("\x1b[B").expect("down");
    session.send("\r").expect("choose Wi-Fi");
    session.expect("anyway? [y/N]").expect("a Wi-Fi choice is confirmed");
    session.send("y").expect("confirm Wi-Fi");
    session.expect("✔ network").expect("network done");
    session.expect(expectrl::Eof).expect("end");
    let created = powershell_calls(&world, "New-VMSwitch");
    assert_eq!(created[0]["New-VMSwitch.NetAdapterName"], "Wi-Fi");
}

#[test]
fn helm2_world_runs_and_validates_the_tiller_steps_after_consent() {
    let Some(world) = World::builder().helm(2).with_charts().start() else { return };
    let stable = format!("--chart-repo=stable={}", world.charts.as_ref().unwrap().repo_url("stable"));
    let refused = world.run(PRODUCT, &[&stable, "setup", "--yes", "--only", UP_TO_HELM]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stdout.contains("end-of-life since November 2020") && refused.stderr.contains("--allow-helm2"),
        "{}",
        refused.all()
    );
    assert!(world.object("apps", "deployments", "kube-system", "tiller-deploy").is_none(), "no tiller without consent");
    let run = world.run(PRODUCT, &[&stable, "--allow-helm2", "setup", "--yes", "--only", UP_TO_HELM]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("✔ helm") && run.stdout.contains("tiller ready"), "{}", run.stdout);
    let binding =
        world.object("rbac.authorization.k8s.io", "clusterrolebindings", "", "tiller").expect("tiller binding");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    let init = world.invocations().into_iter().find(|i| i.tool == "helm" && i.args[0] == "init").expect("helm init");
    assert!(init.args.contains(&"--service-account".to_string()) && init.args.contains(&"tiller".to_string()));
}

#[test]
fn helm3_and_helm4_worlds_make_no_tiller_call() {
    for major in [3, 4] {
        let Some(world) = World::builder().helm(major).with_charts().start() else { return };
        let repo = repo_flag(&world);
        let run = world.run(PRODUCT, &["setup", "--yes", "--only", UP_TO_HELM, &repo]);
        assert_eq!(run.code, 0, "{}", run.all());
        let tiller: Vec<String> = world
            .invocations()
            .into_iter()
            .filter(|i| i.args.iter().any(|a| a.contains("tiller") || a == "init"))
            .map(|i| i.args.join(" "))
            .collect();
        assert!(tiller.is_empty(), "helm {major}: {tiller:?}");
        assert!(!world.requests().iter().any(|r| r.path.contains("tiller")), "no tiller API request");
    }
}

/// issue #14: "`choco install` runs when the user is only in Hyper-V Administrators, not elevated (it must
/// stop and say so)". chocolatey installs machine-wide: setup stops before running it.
#[test]
fn choco_is_not_run_for_a_hyperv_administrator_who_is_not_elevated() {
    let mut config = testworld::fakeconfig::WindowsConfig::workstation();
    config.admin = false;
    config.hyperv_admin_group = true;
    let Some(world) = World::builder().helm_installable(4).windows(config).start() else { return };
    let run = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", "prerequisites"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("`choco install kubernetes-helm` needs an elevated shell (Administrator)")
            && run.stderr.contains("Hyper-V Administrators")
            && run.stderr.contains("Run as administrator"),
        "{}",
        run.stderr
    );
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "choco never ran");
}

/// issue #14: "Hyper-V in `EnablePending` is reported as "not enabled" and the user is told to enable it
/// again (it is enabled and waits for a reboot)".
#[test]
fn hyperv_waiting_for_a_reboot_asks_for_the_reboot_not_to_enable_it_again() {
    for driver in ["hyperv", "auto"] {
        let mut config = testworld::fakeconfig::WindowsConfig::workstation();
        config.hyperv_enabled = false;
        config.hyperv_enable_pending = true;
        let Some(world) = World::builder().helm(4).windows(config).start() else { return };
        let run = world
            .run(PRODUCT, &["--platform", "windows", "--driver", driver, "setup", "--yes", "--only", "prerequisites"]);
        assert_eq!(run.code, 1, "{driver}: {}", run.all());
        assert!(run.stderr.contains("Hyper-V is enabled but not running yet"), "{driver}: {}", run.stderr);
        assert!(run.stderr.contains("restart Windows"), "{driver}: {}", run.stderr);
        assert!(!run.stderr.contains("Enable-WindowsOptionalFeature"), "{driver}: not told to enable it again");
    }
}

/// issue #14: "`setup --only cluster` on minikube v1.7.3 passes `--driver` (the version must be read
/// whenever a stage needs it)".
#[test]
fn setup_only_cluster_on_minikube_1_7_sends_vm_driver() {
    let Some(world) = World::builder().helm(4).minikube("v1.7.3").cluster(ClusterState::Stopped).start() else {
        return;
    };
    let run = world.run(PRODUCT, &["--driver", "docker", "setup", "--yes", "--only", "cluster"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let start = world.invocations().into_iter().find(|i| i.tool == "minikube" && i.args[0] == "start").expect("start");
    assert!(start.args.contains(&"--vm-driver=docker".to_string()), "{:?}", start.args);
    assert!(!start.args.iter().any(|a| a.starts_with("--driver")), "{:?}", start.args);
}

/// issue #14: "adapter names with non-ASCII characters (e.g. `’`) come back mangled from Windows PowerShell
/// 5.1's redirected output". Chosen by name and by the default route, they reach New-VMSwitch intact.
#[test]
fn adapter_names_with_non_ascii_characters_come_back_intact() {
    let wifi = "Bob\u{2019}s Wi-Fi";
    let wired = "Ethernet \u{2013} B\u{fc}ro";
    for (adapter, expected) in [(Some(wifi), wifi), (None, wired)] {
        let mut config = testworld::fakeconfig::WindowsConfig::workstation();
        config.adapters[0].name = wired.into();
        config.adapters[1].name = wifi.into();
        let Some(world) = World::builder().helm(4).windows(config).start() else { return };
        let mut args = vec!["--platform", "windows"];
        if let Some(adapter) = adapter {
            args.extend(["--adapter", adapter]);
        }
        args.extend(["setup", "--yes", "--only", "prerequisites,network"]);
        let run = world.run(PRODUCT, &args);
        assert_eq!(run.code, 0, "{adapter:?}: {}", run.all());
        let created = powershell_calls(&world, "New-VMSwitch");
        assert_eq!(created[0]["New-VMSwitch.NetAdapterName"], expected, "{adapter:?}");
    }
}
