//! Reliability and security scenarios (docs/reliability.md lists each with its test).

use testworld::world::World;

use crate::skeleton::mutating_calls;
use crate::support::PRODUCT;

/// (arguments, a fragment the error must contain: the bad value or the flag)
const BAD_INPUT: &[(&[&str], &str)] = &[
    (&["--namespace", "Default", "setup", "--yes"], "\"Default\""),
    (&["--namespace", "-x", "setup", "--yes"], "'-x'"),
    (&["--namespace=-x", "setup", "--yes"], "\"-x\""),
    (&["--namespace", "a_b", "setup", "--yes"], "\"a_b\""),
    (
        &["--namespace", "way-too-long-namespace-name-that-goes-past-sixty-three-characters-xx", "setup", "--yes"],
        "way-too-long",
    ),
    (&["--monitoring-namespace", "Mon!", "setup", "--yes"], "\"Mon!\""),
    (&["--deployment", "Interlok", "setup", "--yes"], "\"Interlok\""),
    (&["--min-replicas", "-1", "setup", "--yes"], "'-1'"),
    (&["--min-replicas=-1", "setup", "--yes"], "\"-1\""),
    (&["--min-replicas", "0", "setup", "--yes"], "min-replicas \"0\""),
    (&["--max-replicas", "0", "setup", "--yes"], "max-replicas \"0\""),
    (&["--max-replicas", "99999999999", "setup", "--yes"], "99999999999"),
    (&["--min-replicas", "6", "setup", "--yes"], "--min-replicas 6 is larger than --max-replicas 5"),
    (
        &["--min-replicas", "3", "--max-replicas", "2", "setup", "--yes"],
        "--min-replicas 3 is larger than --max-replicas 2",
    ),
    (&["--target-average", "0", "setup", "--yes"], "target-average \"0\""),
    (&["--target-average", "lots", "setup", "--yes"], "\"lots\""),
    (&["--target-average", "1.5", "setup", "--yes"], "\"1.5\""),
    (&["--metric", "Message-Metrics", "setup", "--yes"], "\"Message-Metrics\""),
    (&["--metric", "9lives", "setup", "--yes"], "\"9lives\""),
    (&["--image", "bad image", "setup", "--yes"], "\"bad image\""),
    (&["--image=-x", "setup", "--yes"], "\"-x\""),
    (&["--driver", "virtualbox9", "setup", "--yes"], "\"virtualbox9\""),
    (&["--cpus", "0", "setup", "--yes"], "cpus \"0\""),
    (&["--memory", "12", "setup", "--yes"], "memory \"12\""),
    (&["--kubernetes-version", "latest", "setup", "--yes"], "\"latest\""),
    (&["--chart-repo", "prometheus-community", "setup", "--yes"], "\"prometheus-community\""),
    (&["--chart-repo", "x=ftp://mirror", "setup", "--yes"], "ftp://mirror"),
    (&["--chart-version", "nginx=1.0", "setup", "--yes"], "\"nginx\""),
    (&["--scrape-interval", "soon", "setup", "--yes"], "\"soon\""),
    (
        &["--scrape-interval", "60s", "--relist-interval", "30s", "setup", "--yes"],
        "--relist-interval 30s is shorter than --scrape-interval 60s",
    ),
    (&["--wait-timeout", "0", "setup", "--yes"], "wait-timeout \"0\""),
    (&["--command-timeout", "abc", "setup", "--yes"], "\"abc\""),
    (&["setup", "--yes", "--only", "prometheos"], "\"prometheos\""),
    (&["setup", "--yes", "--from", "nope"], "\"nope\""),
    (&["setup", "--yes", "--skip", "helm,clusters"], "\"clusters\""),
    (&["--context", "", "setup", "--yes"], "context"),
    (&["--switch", "", "setup", "--yes"], "switch"),
    (&["--color", "sometimes", "setup", "--yes"], "sometimes"),
    (&["load", "--url", "not-a-url"], "not-a-url"),
    (&["verify", "--prometheus-url", "localhost:9090"], "localhost:9090"),
    (&["verify", "--wait", "forever"], "forever"),
    (&["setup"], "pass --yes"),
];

#[test]
fn every_bad_input_is_rejected_naming_it_before_anything_runs() {
    let Some(world) = World::builder().helm(4).start() else { return };
    assert!(BAD_INPUT.len() >= 30);
    for (args, fragment) in BAD_INPUT {
        world.clear_logs();
        let run = world.run(PRODUCT, args);
        assert_eq!(run.code, 2, "{args:?} was not rejected as bad input:\n{}", run.all());
        assert!(run.stderr.contains(fragment), "{args:?}: the error does not name {fragment:?}:\n{}", run.stderr);
        assert!(!run.all().contains("panicked"), "{args:?} panicked");
        assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{args:?} changed something");
        assert!(world.mutating_requests().is_empty(), "{args:?} sent a mutating API request");
    }
}

#[test]
fn config_files_with_wrong_types_unknown_keys_or_no_access_are_rejected() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let cases = [
        ("max-replicas: many\n", "max-replicas"),
        ("replicas: 3\n", "unknown field `replicas`"),
        ("namespace: [a, b]\n", "namespace"),
        ("grafana: perhaps\n", "grafana"),
    ];
    for (text, fragment) in cases {
        let file = world.dir.join("config.yaml");
        std::fs::write(&file, text).unwrap();
        let run = world.run(PRODUCT, &["--config", &file.display().to_string(), "setup", "--yes"]);
        assert_eq!(run.code, 2, "{text}: {}", run.all());
        assert!(run.stderr.contains(fragment) && run.stderr.contains("config file"), "{text}: {}", run.stderr);
    }
    let missing = world.run(PRODUCT, &["--config", "/nonexistent/config.yaml", "setup", "--yes"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot read the config file /nonexistent/config.yaml"), "{}", missing.stderr);
    assert!(world.invocations().is_empty(), "nothing ran");
}

#[test]
fn a_context_naming_no_context_fails_before_any_change() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let run = world.run(PRODUCT, &["--context", "prod; rm -rf /", "setup", "--yes"]);
    assert_eq!(run.code, 2, "bad input: {}", run.all());
    assert!(run.stderr.contains("--context \"prod; rm -rf /\" names no context"), "{}", run.stderr);
    assert_eq!(mutating_calls(&world), Vec::<String>::new());
    assert!(world.mutating_requests().is_empty());
}

const NASTY_ADAPTER: &str = "Wi'Fi \u{2019}q\u{2019} $(calc) `whoami`; & | Remove-Item C:\\ #";
const NASTY_SWITCH: &str = "-Force'; $env:x `y` & | sw";

#[test]
fn hostile_names_reach_powershell_and_minikube_as_literal_data() {
    let mut config = testworld::fakeconfig::WindowsConfig::workstation();
    config.adapters[1].name = NASTY_ADAPTER.into();
    let Some(world) = World::builder().helm(4).windows(config).cluster(testworld::world::ClusterState::Stopped).start()
    else {
        return;
    };
    let switch = format!("--switch={NASTY_SWITCH}");
    let run = world.run(
        PRODUCT,
        &[
            "--platform",
            "windows",
            "--adapter",
            NASTY_ADAPTER,
            &switch,
            "setup",
            "--yes",
            "--only",
            "prerequisites,network,cluster",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let calls = world.invocations();
    assert!(
        calls.iter().all(|i| i.fault.is_none()),
        "a call was rejected as code: {:?}",
        calls.iter().filter(|i| i.fault.is_some()).collect::<Vec<_>>()
    );
    let created = calls.iter().find(|i| i.parsed.values().any(|v| v == "New-VMSwitch")).expect("New-VMSwitch");
    assert_eq!(created.parsed["New-VMSwitch.Name"], NASTY_SWITCH);
    assert_eq!(created.parsed["New-VMSwitch.NetAdapterName"], NASTY_ADAPTER);
    let cmdlets: Vec<&String> =
        calls.iter().flat_map(|i| i.parsed.iter().filter(|(k, _)| k.starts_with("cmdlet.")).map(|(_, v)| v)).collect();
    assert!(!cmdlets.iter().any(|c| c.as_str() == "Remove-Item"), "{cmdlets:?}");
    let start = calls.iter().find(|i| i.tool == "minikube" && i.args[0] == "start").expect("start");
    assert!(start.args.contains(&format!("--hyperv-virtual-switch={NASTY_SWITCH}")), "{:?}", start.args);
}

#[test]
fn a_hostile_context_name_reaches_kubectl_and_helm_as_one_argument() {
    let context = "ctx;$(touch x)`id`&|'q'";
    let Some(world) = World::builder().helm(4).with_charts().context(context).start() else { return };
    let repo = format!(
        "--chart-repo=prometheus-community={}",
        world.charts.as_ref().unwrap().repo_url("prometheus-community")
    );
    let run = world.run(
        PRODUCT,
        &["--context", context, &repo, "setup", "--yes", "--only", "prerequisites,cluster,version-skew,helm"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let calls = world.invocations();
    assert!(
        calls.iter().any(|i| i.tool == "kubectl" && i.args.contains(&format!("--context={context}"))),
        "kubectl got the context as one argument"
    );
    assert!(!world.dir.join("home/x").exists(), "nothing was executed");
}

#[test]
fn port_forwards_listen_on_loopback_only() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    assert_eq!(crate::monitoring::setup(&world, &[]).code, 0);
    let forwards: Vec<Vec<String>> = world
        .invocations()
        .into_iter()
        .filter(|i| i.args.first().is_some_and(|a| a == "port-forward"))
        .map(|i| i.args)
        .collect();
    assert!(!forwards.is_empty());
    for args in forwards {
        let at = args.iter().position(|a| a == "--address").expect("--address");
        assert_eq!(args[at + 1], "127.0.0.1", "{args:?}");
    }
}

#[test]
fn nothing_the_wizard_creates_gets_cluster_wide_rights_beyond_the_charts() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    assert_eq!(crate::monitoring::setup(&world, &["--grafana"]).code, 0);
    for binding in world.objects("rbac.authorization.k8s.io", "clusterrolebindings") {
        let managed_by_helm = binding["metadata"]["annotations"]["meta.helm.sh/release-name"].is_string();
        assert!(managed_by_helm, "a cluster-wide binding not from a chart: {binding}");
        assert_ne!(binding["roleRef"]["name"], "cluster-admin", "no chart here gets cluster-admin: {binding}");
    }
}

/// For every stage, a command it runs first (when run alone), and the arguments that make the stage run it.
const STAGE_FAULTS: &[(&str, &str, &[&str], &[&str])] = &[
    ("prerequisites", "kubectl", &["version", "--client"], &[]),
    ("kubectl-path", "kubectl", &["version", "--client"], &[]),
    ("network", "powershell", &["Get-VMSwitch"], &["--platform", "windows", "--driver", "hyperv"]),
    ("cluster", "minikube", &["status"], &[]),
    ("version-skew", "kubectl", &["version", "json"], &[]),
    ("helm", "helm", &["repo", "list"], &[]),
    ("prometheus", "helm", &["list"], &[]),
    ("interlok", "kubectl", &["get", "services"], &[]),
    ("adapter", "helm", &["list"], &[]),
    ("autoscaler", "kubectl", &["get", "hpa"], &[]),
    ("grafana", "helm", &["list"], &["--grafana"]),
];

fn fault_kinds() -> Vec<(&'static str, testworld::fakeconfig::Effect)> {
    use testworld::fakeconfig::Effect;
    vec![
        ("non-zero exit", Effect::Exit { code: 1, stderr: "error: injected failure".into() }),
        ("garbage", Effect::Garbage),
        ("empty output", Effect::Empty),
        ("hang", Effect::Hang),
    ]
}

#[test]
fn every_stage_has_a_fault_test_and_an_interruption_test() {
    let stages: Vec<&str> = interlok_k8s::stages::all().iter().map(|s| s.id().name()).collect();
    let faulted: Vec<&str> = STAGE_FAULTS.iter().map(|(s, ..)| *s).collect();
    assert_eq!(stages, faulted, "every stage, in order, has a row in STAGE_FAULTS");
    let interrupted: Vec<&str> = STAGE_HANGS.iter().map(|(s, ..)| *s).collect();
    assert_eq!(stages, interrupted, "every stage, in order, has a row in STAGE_HANGS");
}

#[test]
fn api_faults_on_the_way_are_reported_not_panicked() {
    use testworld::apiserver::ApiEffect;
    for (effect, first) in [
        (ApiEffect::Status(500), None),
        (ApiEffect::Garbage, None),
        (ApiEffect::Status(503), Some(1)),
        (ApiEffect::Delay(300), None),
    ] {
        let Some(world) = World::builder().helm(4).start() else { return };
        world.api_fault("GET", "/nodes", effect, first);
        let run = world.run(PRODUCT, &["setup", "--yes", "--only", "cluster"]);
        assert!(!run.all().contains("panicked"), "{effect:?}");
        match effect {
            ApiEffect::Delay(_) => assert_eq!(run.code, 0, "a slow API is only slow: {}", run.all()),
            _ => assert!(
                run.code == 0 || (run.code == 1 && run.stderr.contains("error: cluster:")),
                "{effect:?}: {}",
                run.all()
            ),
        }
    }
}

#[test]
fn a_flapping_apiservice_is_waited_through() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    world.adapter_availability(testworld::adapter::Availability::Flap);
    let run = crate::monitoring::setup(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn every_fault_in_every_stage_ends_in_the_documented_error_form() {
    for (stage, tool, args, extra) in STAGE_FAULTS {
        for (kind, effect) in fault_kinds() {
            let mut builder = World::builder().helm(4);
            if extra.contains(&"windows") {
                builder = builder.windows(testworld::fakeconfig::WindowsConfig::workstation());
            }
            let Some(world) = builder.start() else { return };
            world.fault(tool, args, effect, None);
            let mut command_args: Vec<&str> = vec!["--command-timeout", "2"];
            command_args.extend(*extra);
            command_args.extend(["setup", "--yes", "--only", stage]);
            let run = world.run(PRODUCT, &command_args);
            let what = format!("{stage} with {tool} {args:?} → {kind}");
            assert_eq!(run.code, 1, "{what}: not a failure:\n{}", run.all());
            assert!(!run.all().contains("panicked"), "{what}: panicked");
            assert!(run.stderr.contains(&format!("error: {stage}:")), "{what}: no stage in\n{}", run.stderr);
            assert!(run.stderr.contains("command:"), "{what}: no command line in\n{}", run.stderr);
            assert!(
                run.stderr.contains("exit code:") || run.stderr.contains("timed out:"),
                "{what}: no exit code in\n{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("hint:") || run.stderr.contains("stderr:") || run.stderr.contains("stdout:"),
                "{what}: no evidence or hint in\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn new_vmswitch_failing_once_is_not_retried() {
    let Some(world) = World::builder().helm(4).windows(testworld::fakeconfig::WindowsConfig::workstation()).start()
    else {
        return;
    };
    world.fault(
        "powershell",
        &["New-VMSwitch"],
        testworld::fakeconfig::Effect::Exit {
            code: 1,
            stderr: "New-VMSwitch : Failed while adding virtual Ethernet switch connections.".into(),
        },
        Some(1),
    );
    let run = world.run(PRODUCT, &["--platform", "windows", "setup", "--yes", "--only", "prerequisites,network"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("could not create the Hyper-V switch") && run.stderr.contains("Failed while adding"),
        "{}",
        run.stderr
    );
    let attempts = world
        .invocations()
        .iter()
        .filter(|i| i.fault.is_some() || i.parsed.values().any(|v| v == "New-VMSwitch"))
        .count();
    assert_eq!(
        attempts, 1,
        "a failed switch creation changes the host's network: it is not retried behind the user's back"
    );
}

/// For every stage, a command it runs while changing something (or checking, for the inspect-only stages).
const STAGE_HANGS: &[(&str, &str, &[&str])] = &[
    ("prerequisites", "kubectl", &["version", "--client"]),
    ("kubectl-path", "kubectl", &["version", "--client"]),
    ("network", "powershell", &["New-VMSwitch"]),
    ("cluster", "minikube", &["start"]),
    ("version-skew", "kubectl", &["version", "json"]),
    ("helm", "helm", &["repo", "add"]),
    ("prometheus", "helm", &["upgrade", "prometheus"]),
    ("interlok", "kubectl", &["apply"]),
    ("adapter", "helm", &["upgrade", "prometheus-adapter"]),
    ("autoscaler", "kubectl", &["apply"]),
    ("grafana", "helm", &["upgrade", "grafana"]),
];

/// Processes still running from this world (any command line naming its folder).
fn leftovers(world: &World) -> Vec<String> {
    let marker = world.dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter_map(|e| {
            std::fs::read(e.path().join("cmdline")).ok().map(|c| (e.file_name().to_string_lossy().into_owned(), c))
        })
        .map(|(pid, bytes)| format!("{pid}: {}", String::from_utf8_lossy(&bytes).replace('\0', " ")))
        .filter(|line| {
            line.contains(&marker) && !line.contains("prometheus --config") && !line.contains("pushgateway --web")
        })
        .collect()
}

fn interrupt_each_stage(signal: &str) {
    for (stage, tool, args) in STAGE_HANGS {
        let mut builder = World::builder().helm(4).with_charts().with_prometheus(Default::default());
        if *stage == "network" {
            builder = builder.windows(testworld::fakeconfig::WindowsConfig::workstation());
        }
        if *stage == "cluster" {
            builder = builder.cluster(testworld::world::ClusterState::Stopped);
        }
        let Some(world) = builder.start() else { return };
        let mut global: Vec<String> = crate::monitoring::repo_flags(&world);
        global.extend([
            "--grafana".into(),
            "--wait-timeout".into(),
            "60s".into(),
            "--command-timeout".into(),
            "120".into(),
        ]);
        if *stage == "network" {
            global.extend(["--platform".into(), "windows".into()]);
        }
        let stages: Vec<&str> = STAGE_HANGS.iter().map(|(s, ..)| *s).collect();
        let before: Vec<&str> = stages[..stages.iter().position(|s| s == stage).unwrap()].to_vec();
        if !before.is_empty() {
            let mut args: Vec<&str> = global.iter().map(String::as_str).collect();
            let only = before.join(",");
            args.extend(["setup", "--yes", "--only", &only]);
            assert_eq!(world.run(PRODUCT, &args).code, 0, "{stage}: the earlier stages");
        }
        world.clear_logs();
        world.fault(tool, args, testworld::fakeconfig::Effect::Hang, None);
        let mut args: Vec<&str> = global.iter().map(String::as_str).collect();
        args.extend(["setup", "--yes", "--only", stage]);
        let child = world
            .command(PRODUCT, &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("setup");
        world.wait_until(&format!("{stage} to hang in {tool}"), crate::support::LONG, || {
            world.invocations().iter().any(|i| i.fault.is_some())
        });
        assert!(std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        let status = child.wait_with_output().expect("wait").status;
        if signal == "-INT" {
            assert_eq!(status.code(), Some(130), "{stage}: Ctrl-C ends with 130");
        }
        world.wait_until(
            &format!("{stage}: no process of the world left after {signal}"),
            crate::support::LONG,
            || leftovers(&world).is_empty(),
        );
        world.clear_faults();
        let mut args: Vec<&str> = global.iter().map(String::as_str).collect();
        args.extend(["setup", "--yes"]);
        let rerun = world.run(PRODUCT, &args);
        assert_eq!(rerun.code, 0, "{stage}: the rerun after {signal} does not converge:\n{}", rerun.all());
        let releases = world.run("helm", &["list", "-A", "-o", "json"]);
        let releases: serde_json::Value = serde_json::from_str(&releases.stdout).unwrap();
        let names: Vec<&str> = releases.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 3, "{stage}: one release each: {names:?}");
        assert!(releases.as_array().unwrap().iter().all(|r| r["status"] == "deployed"), "{stage}: {releases}");
        assert_eq!(
            world.objects("apps", "deployments").iter().filter(|d| d["metadata"]["name"] == "interlok").count(),
            1
        );
        assert!(leftovers(&world).is_empty(), "{stage}: {:?}", leftovers(&world));
    }
}

#[test]
fn ctrl_c_during_each_stage_leaves_no_child_and_a_rerun_converges() {
    interrupt_each_stage("-INT");
}

#[test]
fn kill_9_during_each_stage_leaves_no_child_and_a_rerun_converges() {
    interrupt_each_stage("-KILL");
}

#[test]
fn ctrl_c_at_a_prompt_ends_the_wizard_and_restores_the_cursor() {
    use expectrl::Session;
    let Some(world) = World::builder().helm(4).start() else { return };
    let mut command = world.command(PRODUCT, &["setup", "--only", "prerequisites"]);
    command.env("TERM", "xterm-256color").stdin(std::process::Stdio::inherit());
    let mut session = Session::spawn(command).expect("pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(20)));
    session.expect("Proceed with this plan?").expect("the prompt");
    session.send("\x03").expect("Ctrl-C");
    let rest = session.expect(expectrl::Eof).expect("the wizard ends");
    let text = String::from_utf8_lossy(rest.as_bytes()).into_owned();
    assert!(text.contains("\x1b[?25h"), "the cursor is shown again: {text:?}");
    assert!(!text.contains("✔ prerequisites"), "nothing ran after Ctrl-C");
    assert!(world.invocations().is_empty(), "no command ran");
}
