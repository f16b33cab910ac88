//! Reliability and security scenarios (docs/reliability.md lists each with its test).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use testworld::snapshot::Snapshot;
use testworld::world::World;

use crate::skeleton::mutating_calls;
use crate::support::PRODUCT;

/// Values every source must refuse, by setting: each runs as a flag, as its `INTERLOK_K8S_*` variable and as its
/// config-file key, wherever the setting has one (the settings table says). Pairs are NAME=VALUE; in the config
/// file they become `chart-versions: {NAME: VALUE}`.
const BAD_VALUES: &[(&str, &[&str])] = &[
    ("namespace", &["Default", "-x", "x-", "a_b", "", "team a", "ns\n", "é", LONG_NAME]),
    ("monitoring-namespace", &["Mon!", "", "UPPER"]),
    ("keda-namespace", &["KEDA", "k_eda"]),
    ("deployment", &["Interlok", "1interlok", "a.b", LONG_NAME]),
    ("context", &["", "   ", "two\nlines", LONG_300]),
    ("metric", &["Message-Metrics", "9lives", "a:b", ""]),
    ("image", &["foo:", "bad image", "-x", "Interlok", "a/b@sha256:abc", "registry:99999/a", "a/b:-t", "", "a//b"]),
    ("min-replicas", &["0", "-1", "1.5", "lots", "1001", "99999999999999999999", " 1"]),
    ("max-replicas", &["0", "99999999999"]),
    ("target-average", &["0", "1.5", "lots", "1000000001"]),
    ("driver", &["virtualbox9", "HYPERV", ""]),
    ("switch", &[LONG_20000, "", " sw", "sw\n"]),
    ("adapter", &[LONG_300, "", "eth0\t"]),
    ("kubernetes-version", &["latest", "stable", "2.0", "v1", "1.33.1.1"]),
    ("cpus", &["0", "1", "257", "two"]),
    ("memory", &["12", "1024", "4g"]),
    (
        "chart-version",
        &[
            "prometheus=latest",
            "prometheus=1.0.0 --set x=y",
            "prometheus=",
            "nginx=1.0.0",
            "prometheus",
            "grafana=^12.0.0",
            "keda=v2.20.2",
        ],
    ),
    (
        "chart-repo",
        &[
            "evil=https://evil.example",
            "prometheus-community",
            "grafana-community=ftp://mirror",
            "stable=oci://ghcr.io/charts",
            "kedacore=https://bob@host:99999/charts",
            "grafana-community=http://",
        ],
    ),
    ("scrape-interval", &["soon", "0", "2h", "1.5s"]),
    ("relist-interval", &["0s", "forever"]),
    ("wait-timeout", &["0", "25h", "10 m", "-1m"]),
    ("command-timeout", &["abc", "0", "2h"]),
    ("color", &["sometimes", "ALWAYS"]),
    ("platform", &["solaris"]),
    ("scaler", &["hpa", "KEDA", ""]),
    ("inbox-path", &["in-box", "/in box", "/in-box?x=1", "//evil.example/x", "/a/../b"]),
    ("prometheus-url", &["localhost:9090", "http://p:9090/?q", "ftp://p"]),
    ("interlok-config", &["/nonexistent/interlok", "/dev/null", "/"]),
    ("grafana", &["perhaps", "2"]),
    ("allow-helm2", &["maybe"]),
    ("use-minikube-kubectl", &["y es"]),
];

const LONG_NAME: &str = "way-too-long-namespace-name-that-goes-past-sixty-three-characters-xx";
const LONG_300: &str = concat!(
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
);
/// Stands for the 20,000-character `--switch`: built in `long_value`.
const LONG_20000: &str = "<20000 characters>";

fn long_value(value: &str) -> String {
    if value == LONG_20000 {
        "s".repeat(20_000)
    } else {
        value.to_string()
    }
}

/// Everything else that must be refused: arguments (after which `setup` gets `--yes` from the row itself),
/// and a fragment of the error. The subcommands' own options, clap-level mistakes, settings given to a
/// subcommand that does not read them, and stage selections that contradict each other.
const BAD_ARGUMENTS: &[(&[&str], &str)] = &[
    (&["--namespace", "-x", "setup", "--yes"], "'-x'"),
    (&["--min-replicas", "-1", "setup", "--yes"], "'-1'"),
    (
        &["--min-replicas", "6", "setup", "--yes"],
        "--min-replicas \"6\" is larger than max-replicas \"5\" (the default)",
    ),
    (
        &["--min-replicas", "3", "--max-replicas", "2", "setup", "--yes"],
        "--min-replicas \"3\" is larger than --max-replicas \"2\"",
    ),
    (
        &["--scrape-interval", "60s", "--relist-interval", "30s", "setup", "--yes"],
        "--relist-interval \"30s\" is shorter than --scrape-interval \"60s\"",
    ),
    (&["--prometheus-url", "http://prometheus:9090", "setup", "--yes"], "does not use KEDA"),
    (&["setup", "--yes", "--namespace", "a", "--namespace", "b"], "cannot be used multiple times"),
    (&["--grafana=yes", "setup", "--yes"], "--grafana"),
    (&["setup", "--yes", "--only", "prometheos"], "\"prometheos\""),
    (&["setup", "--yes", "--from", "nope"], "\"nope\""),
    (&["setup", "--yes", "--skip", "helm,clusters"], "\"clusters\""),
    (
        &["setup", "--yes", "--skip", "prometheus", "--only", "prometheus"],
        "\"prometheus\" would be both run and skipped",
    ),
    (
        &["setup", "--yes", "--from", "prometheus", "--only", "grafana"],
        "--from \"prometheus\" and --only \"grafana\" conflict",
    ),
    (&["setup", "--yes", "--only", "helm", "--skip", "grafana"], "conflict"),
    (&["setup", "--yes", "--from", "helm", "--skip", "helm"], "start at a stage it skips"),
    (&["setup", "--yes", "--only", "helm,,grafana"], "--only"),
    (&["setup", "--yes", "--only", ""], "--only"),
    (&["teardown", "--yes", "--target-average", "5"], "--target-average"),
    (&["--cpus", "4", "teardown", "--yes"], "--cpus"),
    (&["--scrape-interval", "15s", "teardown", "--yes"], "--scrape-interval"),
    (&["load", "--image", "x"], "--image"),
    (&["render", "--context", "prod"], "--context"),
    (&["--namespace", "Bad", "teardown", "--yes"], "--namespace \"Bad\""),
    (&["verify", "--namespace=Bad"], "--namespace \"Bad\""),
    (&["load", "--deployment", "Bad"], "--deployment \"Bad\""),
    (&["render", "--image", "foo:"], "--image \"foo:\""),
    (&["bundle", "--metric", "a-b"], "--metric \"a-b\""),
    (&["watch", "--deployment", "1x"], "--deployment \"1x\""),
    (&["demo", "--wait-timeout", "25h"], "--wait-timeout \"25h\""),
    (&["load", "--duration", "0"], "'0'"),
    (&["load", "--duration", "25h"], "'25h'"),
    (&["load", "-n", "0"], "'0'"),
    (&["load", "-n", "1.5"], "'1.5'"),
    (&["load", "-c", "0"], "'0'"),
    (&["load", "-c", "5000"], "'5000'"),
    (&["load", "--rate", "0"], "'0'"),
    (&["load", "--rate", "inf"], "'inf'"),
    (&["load", "--rate", "NaN"], "'NaN'"),
    (&["load", "--rate", "1e9"], "'1e9'"),
    (&["load", "--timeout", "0"], "'0'"),
    (&["load", "--url", "not-a-url"], "not-a-url"),
    (&["load", "--url", "http://127.0.0.1:8080/in-box?x=1"], "query"),
    (&["load", "--body-file", "/dev/zero"], "'/dev/zero'"),
    (&["load", "--body-file", "/nonexistent/body"], "'/nonexistent/body'"),
    (&["load", "--body-file", "/"], "directory"),
    (&["load", "--method", "DELETE"], "'DELETE'"),
    (&["load", "--duration", "5s", "--requests", "10"], "cannot be used with"),
    (&["load", "--json", "--watch"], "cannot be used with"),
    (&["watch", "--interval", "0"], "'0'"),
    (&["watch", "--until-replicas", "0"], "'0'"),
    (&["watch", "--timeout", "25h"], "'25h'"),
    (&["verify", "--prometheus-url", "localhost:9090"], "localhost:9090"),
    (&["verify", "--pushgateway-url", "http://user:pw@host:9091"], "credentials"),
    (&["verify", "--wait", "forever"], "forever"),
    (&["verify", "--wait", "0"], "'0'"),
    (&["bundle", "--out", "/"], "'/'"),
    (&["bundle", "--out", "/dev/null"], "'/dev/null'"),
    (&["render", "--out", "/dev/null"], "'/dev/null'"),
    (&["completions", "tcsh"], "'tcsh'"),
    (&["--namespace", "x"], "--namespace"),
    (&["setup"], "pass --yes"),
];

/// One way a bad value reaches the wizard, and what the refusal must say.
struct Case {
    what: String,
    args: Vec<String>,
    env: Vec<(String, std::ffi::OsString)>,
    expect: Vec<String>,
}

/// A value as the error quotes it: in full when short, by its start and length when long.
fn quoted(value: &str) -> Vec<String> {
    let count = value.chars().count();
    if count > 80 {
        let head: String = value.chars().take(20).collect();
        vec![format!("\"{head}"), format!("({count} characters)")]
    } else {
        vec![format!("{value:?}")]
    }
}

fn value_cases(world: &World) -> Vec<Case> {
    use interlok_k8s::settings::table;
    let mut cases = Vec::new();
    for (flag, values) in BAD_VALUES {
        let setting = table::setting(flag).unwrap_or_else(|| panic!("{flag} is not a setting"));
        let command = setting.commands[0];
        let tail: Vec<String> =
            [command, "--yes"].iter().take(if command == "setup" { 2 } else { 1 }).map(|s| s.to_string()).collect();
        for value in values.iter().map(|v| long_value(v)) {
            let label = |via: &str| format!("{via} {flag}={:?}", value.chars().take(40).collect::<String>());
            if setting.value_name.is_some() {
                let mut expect = quoted(&value);
                expect[0] = format!("--{flag} {}", expect[0]);
                let args = [vec![format!("--{flag}={value}")], tail.clone()].concat();
                cases.push(Case { what: label("flag"), args, env: Vec::new(), expect });
            }
            // an empty variable counts as unset (docs/configuration.md), so it is not a bad value
            if let Some(var) = setting.env_var().filter(|_| !value.is_empty()) {
                let mut expect = quoted(&value);
                expect[0] = format!("{var}={}", expect[0]);
                cases.push(Case {
                    what: label("env"),
                    args: tail.clone(),
                    env: vec![(var, value.clone().into())],
                    expect,
                });
            }
            if let Some(key) = setting.config_key {
                let (yaml, key, shown) = if setting.pairs {
                    let Some((name, version)) = value.split_once('=') else { continue };
                    let mut inner = serde_yaml::Mapping::new();
                    inner.insert(name.into(), version.into());
                    let mut map = serde_yaml::Mapping::new();
                    map.insert(key.into(), inner.into());
                    (map, format!("{key}.{name}"), version.to_string())
                } else {
                    let mut map = serde_yaml::Mapping::new();
                    map.insert(key.into(), value.clone().into());
                    (map, key.to_string(), value.clone())
                };
                let file = world.dir.join(format!("bad-{}.yaml", cases.len()));
                std::fs::write(&file, serde_yaml::to_string(&yaml).unwrap()).unwrap();
                let mut expect = quoted(&shown);
                expect[0] = format!("`{key}: {}", expect[0]);
                expect.push("in the config file".into());
                let args = [vec!["--config".to_string(), file.display().to_string()], tail.clone()].concat();
                cases.push(Case { what: label("config"), args, env: Vec::new(), expect });
            }
        }
    }
    cases
}

fn argument_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = BAD_ARGUMENTS
        .iter()
        .map(|(args, fragment)| Case {
            what: format!("{args:?}"),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            expect: vec![fragment.to_string()],
        })
        .collect();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        cases.push(Case {
            what: "a namespace variable that is not Unicode".into(),
            args: vec!["setup".into(), "--yes".into()],
            env: vec![("INTERLOK_K8S_NAMESPACE".into(), std::ffi::OsString::from_vec(vec![0x66, 0xff, 0x6f]))],
            expect: vec!["INTERLOK_K8S_NAMESPACE is not valid Unicode".into()],
        });
    }
    cases
}

#[test]
fn every_bad_input_is_rejected_naming_it_before_anything_runs() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let cases: Vec<Case> = value_cases(&world).into_iter().chain(argument_cases()).collect();
    assert!(cases.len() > 300, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        world.clear_logs();
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let mut command = world.command(PRODUCT, &args);
        command.envs(case.env.iter().map(|(k, v)| (k, v)));
        let output = command.output().expect("run the product");
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let mut wrong = Vec::new();
        if output.status.code() != Some(2) {
            wrong.push(format!("exit {:?}, not 2", output.status.code()));
        }
        if let Some(missing) = case.expect.iter().find(|f| !stderr.contains(f.as_str())) {
            wrong.push(format!("the error does not say {missing:?}"));
        }
        // the wizard's errors end in a hint; clap's name the option, say why and point at --help
        if !stderr.contains("hint:") && !stderr.contains("try '--help'") {
            wrong.push("no hint".into());
        }
        if stdout.contains("panicked") || stderr.contains("panicked") {
            wrong.push("panicked".into());
        }
        if !world.invocations().is_empty() {
            wrong.push(format!("ran {:?}", world.invocations().iter().map(|i| &i.tool).collect::<Vec<_>>()));
        }
        if !mutating_calls(&world).is_empty() || !world.mutating_requests().is_empty() {
            wrong.push("changed something".into());
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}\n{}", case.what, wrong.join("; "), stderr.trim_end()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn config_files_with_wrong_types_unknown_keys_or_no_access_are_rejected() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let cases: [(&[u8], &str); 10] = [
        (b"max-replicas: many\n", "`max-replicas: \"many\"` in the config file"),
        (b"replicas: 3\n", "unknown key \"replicas\""),
        (b"namespace: [a, b]\n", "`namespace` in the config file"),
        (b"grafana: perhaps\n", "`grafana: \"perhaps\"` in the config file"),
        (b"chart-versions:\n  prometheus:\n", "`chart-versions.prometheus: \"\"` in the config file"),
        (b"chart-versions:\n  prometheus: 1.10\n", "read by YAML as a number"),
        (b"switch: \"a\\0b\"\n", "control character"),
        (b"- namespace\n", "is not a map of settings"),
        (b"namespace: \xff\n", "is not UTF-8 text"),
        (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "config file"),
    ];
    for (text, fragment) in cases {
        let file = world.dir.join("config.yaml");
        std::fs::write(&file, text).unwrap();
        let run = world.run(PRODUCT, &["--config", &file.display().to_string(), "setup", "--yes"]);
        let shown = String::from_utf8_lossy(text);
        assert_eq!(run.code, 2, "{shown}: {}", run.all());
        assert!(run.stderr.contains(fragment) && run.stderr.contains("config file"), "{shown}: {}", run.stderr);
    }
    let big = world.dir.join("big.yaml");
    std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).unwrap();
    let missing = "/nonexistent/config.yaml".to_string();
    for (path, fragment) in [
        (missing.clone(), "cannot read the config file /nonexistent/config.yaml"),
        (world.dir.display().to_string(), "a directory, not a regular file"),
        ("/dev/zero".to_string(), "a device, not a regular file"),
        (big.display().to_string(), "2097152 bytes"),
    ] {
        let run = world.run(PRODUCT, &["--config", &path, "setup", "--yes"]);
        assert_eq!(run.code, 2, "{path}: {}", run.all());
        assert!(run.stderr.contains(fragment), "{path}: {}", run.stderr);
    }
    let mut via_env = world.command(PRODUCT, &["setup", "--yes"]);
    let output = via_env.env("INTERLOK_K8S_CONFIG", &missing).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unset the environment variable INTERLOK_K8S_CONFIG"));
    assert!(world.invocations().is_empty(), "nothing ran");
}

/// The report: `--config` pointing at a FIFO hung. It is refused without being opened.
#[cfg(unix)]
#[test]
fn a_config_file_that_is_a_fifo_is_refused_not_waited_on() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let fifo = world.dir.join("config.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    /// Stops the wizard if it did hang, so a failing run leaves no process behind.
    struct Stopped(std::process::Child);
    impl Drop for Stopped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stopped(
        world
            .command(PRODUCT, &["--config", &fifo.display().to_string(), "setup", "--yes"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run"),
    );
    let mut status = None;
    world.wait_until("the wizard to refuse the FIFO", crate::support::LONG, || {
        status = child.0.try_wait().expect("wait");
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(2));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().expect("stderr"), &mut stderr).expect("read");
    assert!(stderr.contains("a FIFO (named pipe), not a regular file"), "{stderr}");
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

/// (Without the run's `kubectl proxy`, as on Windows, Prometheus, the Pushgateway and Interlok are reached
/// through port-forwards.)
#[test]
fn port_forwards_listen_on_loopback_only() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    refuse_the_proxy(&world);
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

/// The target of each `kubectl port-forward` since the logs were cleared (`svc/NAME` or `pod/NAME`, in order).
fn forward_targets(world: &World) -> Vec<String> {
    let forwards = world.invocations().into_iter().filter(|i| i.args.first().is_some_and(|a| a == "port-forward"));
    forwards.filter_map(|i| i.args.into_iter().find(|a| a.starts_with("svc/") || a.starts_with("pod/"))).collect()
}

/// The targets forwarded to more than once.
fn repeated(targets: &[String]) -> Vec<&String> {
    let mut seen = std::collections::BTreeSet::new();
    targets.iter().filter(|t| !seen.insert(*t)).collect()
}

/// Where a run reaches servers through port-forwards (no `kubectl proxy`, as on Windows), it opens one per
/// target and hands it to every stage and check (each is a kubectl process, and on a real cluster a round
/// trip): to a Service again only after the wizard changed something, to a pod while that pod is still the
/// one chosen. After a roll, only to the new pod.
#[test]
fn a_run_opens_one_port_forward_per_target_and_none_to_a_pod_that_is_gone() {
    let Some(world) = crate::support::world_with_interlok_3_12() else { return };
    refuse_the_proxy(&world);
    let first = crate::monitoring::setup(&world, &[]);
    assert_eq!(first.code, 0, "{}", first.all());
    let targets = forward_targets(&world);
    let pods: Vec<&String> = targets.iter().filter(|t| t.starts_with("pod/")).collect();
    assert_eq!(pods.len(), 1, "the Interlok pod's forward is reused across the stages and checks: {targets:?}");

    let rerun = || crate::monitoring::setup(&world, &[]);
    let verify = || world.run(PRODUCT, &["verify"]);
    for (what, run) in [("a rerun with nothing to do", &rerun as &dyn Fn() -> _), ("verify", &verify)] {
        world.clear_logs();
        let run = run();
        assert_eq!(run.code, 0, "{what}: {}", run.all());
        assert_eq!(mutating_calls(&world), Vec::<String>::new(), "{what} changes nothing");
        let targets = forward_targets(&world);
        assert!(!targets.is_empty() && repeated(&targets).is_empty(), "{what}: one forward per target: {targets:?}");
    }

    let old = pods[0].clone();
    world.clear_logs();
    let image = format!("{}:latest", crate::support::INTERLOK_3_12);
    let rolled =
        world.run(PRODUCT, &["--wait-timeout", "60s", "--image", &image, "setup", "--yes", "--only", "interlok"]);
    assert_eq!(rolled.code, 0, "{}", rolled.all());
    let pods: Vec<String> = forward_targets(&world).into_iter().filter(|t| t.starts_with("pod/")).collect();
    let running = |pod: &String| {
        let name = pod.trim_start_matches("pod/");
        world.object("", "pods", "default", name).is_some_and(|p| p["spec"]["containers"][0]["image"] == image)
    };
    assert!(
        pods.len() == 1 && !pods.contains(&old) && pods.iter().all(running),
        "one forward, to the new pod (the old was {old}): {pods:?}"
    );
}

/// The GETs a run sent to servers in the cluster through the API server's proxy (`…/proxy/…`), as
/// `KIND/NAME:PORT PATH`.
fn proxied_http(world: &World) -> Vec<String> {
    let requests = world.requests().into_iter().filter(|r| r.proxied_read());
    requests
        .filter_map(|r| {
            let (target, path) = r.path.split_once("/proxy")?;
            let mut words = target.rsplit('/');
            let (name, kind) = (words.next()?, words.next()?);
            Some(format!("{kind}/{name} {path}"))
        })
        .collect()
}

/// With the run's `kubectl proxy`, Prometheus, the Pushgateway and Interlok's `/in-box` are reached through
/// the API server's proxy to their Service or pod: no port-forward, no kubectl process for them at all.
#[test]
fn servers_in_the_cluster_are_reached_through_the_api_server_without_a_port_forward() {
    let Some(world) = crate::support::world_with_interlok_3_12() else { return };
    let verify = || world.run(PRODUCT, &["verify"]);
    let setup = || crate::monitoring::setup(&world, &[]);
    for (what, run) in [("setup", &setup as &dyn Fn() -> _), ("verify", &verify)] {
        world.clear_logs();
        let run = run();
        assert_eq!(run.code, 0, "{what}: {}", run.all());
        assert_eq!(forward_targets(&world), Vec::<String>::new(), "{what}: no port-forward");
        let proxied = proxied_http(&world);
        for wanted in [
            "services/prometheus-server:80 /api/v1/query",
            "services/prometheus-prometheus-pushgateway:9091 /api/v1/metrics",
            ":8080 /in-box",
        ] {
            assert!(proxied.iter().any(|p| p.contains(wanted)), "{what}: {wanted} through the API server: {proxied:?}");
        }
    }
}

/// When the API server cannot reach the servers (a cluster whose API server has no route to its pods), a
/// run reaches them through port-forwards instead, and sees the same healthy chain.
#[test]
fn servers_the_api_server_cannot_reach_are_reached_through_port_forwards() {
    let Some(world) = crate::support::world_with_interlok_3_12() else { return };
    let setup = crate::monitoring::setup(&world, &[]);
    assert_eq!(setup.code, 0, "{}", setup.all());
    world.clear_logs();
    world.api_fault("GET", "/proxy/", testworld::apiserver::ApiEffect::Status(503), None);
    let verify = world.run(PRODUCT, &["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.all());
    let mut targets = forward_targets(&world);
    targets.sort();
    assert_eq!(targets.len(), 3, "Prometheus, the Pushgateway and the Interlok pod: {targets:?}");
    assert!(
        targets[0].starts_with("pod/interlok-")
            && targets[1..] == ["svc/prometheus-prometheus-pushgateway", "svc/prometheus-server"],
        "{targets:?}"
    );
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
    ("interlok", "kubectl", &["get", "-n", "monitoring"], &[]),
    ("keda", "kubectl", &["get", "apiservices"], &["--scaler", "keda"]),
    ("scaledobject", "kubectl", &["get", "-n", "default"], &["--scaler", "keda"]),
    ("adapter", "helm", &["list"], &[]),
    ("autoscaler", "kubectl", &["get", "-n", "default"], &[]),
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

/// A read through the run's `kubectl proxy` that outlasts `--command-timeout` fails as a command that timed
/// out, and is not sent again through a kubectl of its own (which would only wait as long once more).
#[test]
fn a_read_the_server_is_too_slow_for_times_out_once() {
    use testworld::apiserver::ApiEffect;
    let Some(world) = World::builder().helm(4).start() else { return };
    world.api_fault("GET", "/namespaces/default/", ApiEffect::Delay(5_000), None);
    let run = world.run(PRODUCT, &["--command-timeout", "1", "verify"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("did not finish within 1s"), "{}", run.all());
    let proxied =
        world.requests().iter().filter(|r| r.proxied_read() && r.path.contains("/namespaces/default/")).count();
    assert!(proxied > 0, "the reads went through the proxy");
    let by_kubectl =
        world.invocations().into_iter().filter(|i| i.tool == "kubectl" && i.args.contains(&"default".to_string()));
    assert_eq!(by_kubectl.map(|i| i.args.join(" ")).collect::<Vec<_>>(), Vec::<String>::new());
}

#[test]
fn a_flapping_apiservice_is_waited_through() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    world.adapter_availability(testworld::adapter::Availability::Flap);
    let run = crate::monitoring::setup(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
}

/// One stage under every fault kind: the failure names the stage, the command, its exit or timeout, and
/// evidence or a hint.
/// Reads go through one `kubectl proxy` per run when it starts; refused, each read is a command of its own
/// (`kubectl get`, `kubectl version`, `helm list`), which is what a fault on that command is meant to meet.
fn refuse_the_proxy(world: &World) {
    let refused = testworld::fakeconfig::Effect::Exit { code: 1, stderr: "error: injected failure".into() };
    world.fault("kubectl", &["proxy"], refused, None);
}

fn every_fault_in(stage: &str) {
    let (_, tool, args, extra) = STAGE_FAULTS.iter().find(|(s, ..)| *s == stage).expect("a stage");
    for (kind, effect) in fault_kinds() {
        let mut builder = World::builder().helm(4);
        if extra.contains(&"windows") {
            builder = builder.windows(testworld::fakeconfig::WindowsConfig::workstation());
        }
        let Some(world) = builder.start() else { return };
        world.fault(tool, args, effect, None);
        if *tool == "kubectl" || args.first() == Some(&"list") {
            refuse_the_proxy(&world);
        }
        let mut command_args: Vec<&str> = vec!["--command-timeout", "2"];
        command_args.extend(*extra);
        command_args.extend(["setup", "--yes", "--only", stage]);
        let run = world.run(PRODUCT, &command_args);
        let what = format!("{stage} with {tool} {args:?} → {kind}");
        assert_eq!(run.code, 1, "{what}: not a failure:\n{}", run.all());
        assert!(!run.all().contains("panicked"), "{what}: panicked");
        // what preflight asks before the plan (the tools, whether a cluster exists) fails there, named so
        let named = run.stderr.contains(&format!("error: {stage}:"))
            || matches!(stage, "prerequisites" | "cluster") && run.stderr.contains("error: preflight:");
        assert!(named, "{what}: no stage in\n{}", run.stderr);
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

/// One test per stage for each of the stage tables, so they run side by side.
macro_rules! per_stage {
    ($($test:ident: $stage:literal),* $(,)?) => {
        mod every_fault_ends_in_the_documented_error_form {
            $(#[test] fn $test() { super::every_fault_in($stage) })*
        }
        mod ctrl_c_leaves_no_child_and_a_rerun_converges {
            $(#[test] fn $test() { super::interrupt($stage, "-INT") })*
        }
        mod kill_9_leaves_no_child_and_a_rerun_converges {
            $(#[test] fn $test() { super::interrupt($stage, "-KILL") })*
        }
        #[test]
        fn every_stage_has_its_per_stage_tests() {
            let tested = [$($stage),*];
            let stages: Vec<&str> = interlok_k8s::stages::all().iter().map(|s| s.id().name()).collect();
            assert_eq!(stages, tested, "every stage, in order, has its fault and interruption tests");
        }
    };
}

per_stage!(
    prerequisites: "prerequisites",
    kubectl_path: "kubectl-path",
    network: "network",
    cluster: "cluster",
    version_skew: "version-skew",
    helm: "helm",
    prometheus: "prometheus",
    interlok: "interlok",
    keda: "keda",
    scaledobject: "scaledobject",
    adapter: "adapter",
    autoscaler: "autoscaler",
    grafana: "grafana",
);

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
    // what prerequisites does itself: chocolatey installing a missing tool (helm, in its world)
    ("prerequisites", "choco", &["install"]),
    // kubectl-path runs nothing of its own (it reads the versions preflight asked, one answer per run): it is
    // interrupted at that question, before the plan
    ("kubectl-path", "kubectl", &["version", "--client"]),
    ("network", "powershell", &["New-VMSwitch"]),
    ("cluster", "minikube", &["start"]),
    ("version-skew", "kubectl", &["version", "json"]),
    ("helm", "helm", &["repo", "add"]),
    ("prometheus", "helm", &["upgrade", "prometheus"]),
    ("interlok", "kubectl", &["apply"]),
    ("keda", "helm", &["upgrade", "keda"]),
    ("scaledobject", "kubectl", &["apply"]),
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

/// The world of a stage's interruption tests: the machine it needs, and the wizard's flags for it.
fn interruption_builder(stage: &str) -> testworld::world::WorldBuilder {
    let mut builder = World::builder().helm(4).with_charts().with_prometheus(Default::default());
    if stage == "prerequisites" {
        builder = builder.helm_installable(4);
    }
    if matches!(stage, "prerequisites" | "network") {
        builder = builder.windows(testworld::fakeconfig::WindowsConfig::workstation());
    }
    if stage == "cluster" {
        builder = builder.cluster(testworld::world::ClusterState::Stopped);
    }
    builder
}

fn interruption_flags(world: &World, stage: &str) -> Vec<String> {
    let mut global: Vec<String> = crate::monitoring::repo_flags(world);
    global.extend(["--grafana", "--wait-timeout", "60s", "--command-timeout", "120"].map(String::from));
    if matches!(stage, "prerequisites" | "network") {
        global.extend(["--platform".into(), "windows".into()]);
    }
    if matches!(stage, "keda" | "scaledobject") {
        global.extend(["--scaler".into(), "keda".into()]);
    }
    global
}

/// A world where the stages before this one are done: `setup --only` them once per test process and stage,
/// in a template world whose snapshot the stage's Ctrl-C and kill -9 tests both start from.
fn before(stage: &'static str) -> Option<World> {
    type Templates = BTreeMap<&'static str, Arc<OnceLock<Option<Snapshot>>>>;
    static TEMPLATES: Mutex<Templates> = Mutex::new(BTreeMap::new());
    let stages: Vec<&str> = STAGE_HANGS.iter().map(|(s, ..)| *s).collect();
    let earlier = stages[..stages.iter().position(|s| *s == stage).expect("a stage")].join(",");
    if earlier.is_empty() {
        return interruption_builder(stage).start();
    }
    let slot = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner()).entry(stage).or_default().clone();
    let template = slot.get_or_init(|| {
        let world = interruption_builder(stage).start()?;
        let mut args = interruption_flags(&world, stage);
        args.extend(["setup", "--yes", "--only", &earlier].map(String::from));
        let run = world.run(PRODUCT, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(run.code, 0, "{stage}: the earlier stages:\n{}", run.all());
        Some(world.snapshot())
    });
    interruption_builder(stage).from_snapshot(template.as_ref()?).start()
}

/// Interrupts setup while one stage hangs in its tool: no process is left, and a rerun converges.
fn interrupt(stage: &'static str, signal: &str) {
    let (stage, tool, args) = STAGE_HANGS.iter().find(|(s, ..)| *s == stage).expect("a stage");
    let Some(world) = before(stage) else { return };
    let global = interruption_flags(&world, stage);
    world.fault(tool, args, testworld::fakeconfig::Effect::Hang, None);
    if *tool == "kubectl" {
        refuse_the_proxy(&world);
    }
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
    world.wait_until(&format!("{stage}: no process of the world left after {signal}"), crate::support::LONG, || {
        leftovers(&world).is_empty()
    });
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
    assert_eq!(world.objects("apps", "deployments").iter().filter(|d| d["metadata"]["name"] == "interlok").count(), 1);
    assert!(leftovers(&world).is_empty(), "{stage}: {:?}", leftovers(&world));
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
    let asked = world.invocations().len(); // preflight's questions, asked before the plan
    session.send("\x03").expect("Ctrl-C");
    let rest = session.expect(expectrl::Eof).expect("the wizard ends");
    let text = String::from_utf8_lossy(rest.as_bytes()).into_owned();
    assert!(text.contains("\x1b[?25h"), "the cursor is shown again: {text:?}");
    assert!(!text.contains("✔ prerequisites"), "nothing ran after Ctrl-C");
    assert_eq!(world.invocations().len(), asked, "no command ran after the question");
}
