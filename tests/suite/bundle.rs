//! bundle, completions and the documentation of the CLI.

use testworld::world::{Run, World};

use crate::monitoring::healthy_world;
use crate::support::{ok, PRODUCT};

/// Unpacks a bundle; returns its files by name.
fn unpack(world: &World, archive: &std::path::Path) -> Vec<(String, String)> {
    let out = world.dir.join(format!("unpacked-{}", archive.file_stem().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&out).unwrap();
    assert!(std::process::Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(&out).status().unwrap().success());
    let mut files: Vec<(String, String)> = std::fs::read_dir(out.join("interlok-k8s-bundle"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn bundle(world: &World, name: &str) -> (Run, Vec<(String, String)>) {
    let archive = world.dir.join(format!("{name}.tar.gz"));
    let run = world.run(PRODUCT, &["bundle", "--out", &archive.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.all());
    let files = unpack(world, &archive);
    (run, files)
}

fn leaks<'a>(files: &[(String, String)], planted: &[&'a str]) -> Vec<(String, &'a str)> {
    files
        .iter()
        .flat_map(|(name, text)| planted.iter().filter(|p| text.contains(**p)).map(move |p| (name.clone(), *p)))
        .collect()
}

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbDRudGVkIn0.bG9nLXBsNG50ZWQtc2ln";

/// A set-up world with secrets planted where the bundle looks: a 4-character Secret value, a Bearer header
/// and a JWT in Interlok's log, a password and URL credentials in the adapter's ConfigMap.
fn world_with_planted_secrets() -> Option<World> {
    let world = healthy_world()?;
    ok(&world, "kubectl", &["create", "secret", "generic", "pin", "-n", "default", "--from-literal=pin=Zq7x"]);
    let notes = r#"{"data": {"notes": "db-password: cm-pl4nted-pw\\nupstream https://bob:url-pl4nted-pw@metrics.example.com/"}}"#;
    ok(
        &world,
        "kubectl",
        &["patch", "configmap", "prometheus-adapter", "-n", "monitoring", "--type", "merge", "-p", notes],
    );
    // Interlok logs a message's metadata, as it does at DEBUG, with the caller's Authorization header
    let log = format!(
        "DEBUG [jetty] message metadata {{Authorization=Bearer log-pl4nted-b34rer}}\nINFO session {JWT} opened\nINFO login with Zq7x ok\n"
    );
    world.wait_until("the planted log to be what kubectl logs shows", crate::support::LONG, || {
        let pods = world.run("kubectl", &["get", "pods", "-n", "default", "-l", "app=interlok", "-o", "name"]);
        for pod in pods.stdout.lines().filter_map(|p| p.strip_prefix("pod/")) {
            if !world.pod_log("default", pod, "interlok").unwrap_or_default().contains("log-pl4nted-b34rer") {
                world.append_pod_log("default", pod, "interlok", &log);
            }
        }
        world.run("kubectl", &["logs", "-n", "default", "deploy/interlok"]).stdout.contains("log-pl4nted-b34rer")
    });
    Some(world)
}

const PLANTED: [&str; 5] = ["Zq7x", "cm-pl4nted-pw", "url-pl4nted-pw", "log-pl4nted-b34rer", JWT];

#[test]
fn a_four_character_secret_a_bearer_header_and_a_jwt_are_redacted() {
    let Some(world) = world_with_planted_secrets() else { return };
    let (run, files) = bundle(&world, "readable");
    let log = &files.iter().find(|(n, _)| n == "interlok-logs.txt").expect("log").1;
    assert!(log.contains("Authorization=[REDACTED]") && log.contains("login with [REDACTED] ok"), "{log}");
    assert_eq!(leaks(&files, &PLANTED), vec![]);
    assert!(run.stdout.contains("(Secret values, tokens and passwords redacted)"), "{}", run.all());
    let note = &files.iter().find(|(n, _)| n == "REDACTION.txt").expect("the redaction note").1;
    assert!(note.contains("from all namespaces"), "{note}");
    assert!(!note.contains("NOT CHECKED"), "{note}");
}

#[test]
fn when_secrets_cannot_be_listed_the_bundle_redacts_by_pattern_and_says_what_it_could_not_check() {
    let Some(world) = world_with_planted_secrets() else { return };
    world.api_fault("GET", "/secrets", testworld::apiserver::ApiEffect::Status(403), None);
    let (run, files) = bundle(&world, "forbidden");
    // Zq7x is known only from its Secret: where nothing names it a password, it cannot be found
    let by_pattern: Vec<&str> = PLANTED.iter().copied().filter(|p| *p != "Zq7x").collect();
    assert_eq!(leaks(&files, &by_pattern), vec![]);
    let screen = run.all();
    assert!(!screen.contains("(Secret values, tokens and passwords redacted)"), "no claim it cannot keep: {screen}");
    assert!(screen.contains("not checked: Secrets in all namespaces: `"), "{screen}");
    assert!(screen.contains("get secrets -A -o json` failed"), "names the command: {screen}");
    assert!(screen.contains("read REDACTION.txt and the files before you share them"), "what to do: {screen}");
    let note = &files.iter().find(|(n, _)| n == "REDACTION.txt").expect("the redaction note").1;
    for namespace in ["all namespaces", "namespace default", "namespace monitoring"] {
        assert!(note.contains(&format!("NOT CHECKED: Secrets in {namespace}")), "{note}");
    }
    assert!(note.contains("redacted only where a pattern matches"), "{note}");
}

#[test]
fn the_bundle_holds_every_item_with_a_planted_secret_redacted() {
    let Some(world) = healthy_world() else { return };
    let planted = "pl4nted-s3cret-value";
    ok(
        &world,
        "kubectl",
        &[
            "create",
            "secret",
            "generic",
            "api-credentials",
            "-n",
            "default",
            &format!("--from-literal=token={planted}"),
        ],
    );
    ok(&world, "kubectl", &["set", "env", "deployment/interlok", &format!("API_TOKEN={planted}")]);
    let archive = world.dir.join("support.tar.gz");
    let run = world.run(PRODUCT, &["bundle", "--out", &archive.display().to_string()]);
    assert_eq!(run.code, 0, "{}", run.all());
    let listing = std::process::Command::new("tar").arg("-tzf").arg(&archive).output().expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    for item in [
        "versions.txt",
        "verify.json",
        "adapter-configmap.yaml",
        "adapter-logs.txt",
        "apiservices.yaml",
        "hpa-describe.txt",
        "events.txt",
        "interlok-pods.yaml",
        "interlok-logs.txt",
        "prometheus-targets.json",
        "metric-series.json",
        "pushgateway-groups.json",
        "minikube-logs.txt",
    ] {
        assert!(listing.contains(&format!("interlok-k8s-bundle/{item}")), "{item} missing from\n{listing}");
        assert!(run.stdout.contains(item), "the printed file list names {item}");
    }
    let out = world.dir.join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    assert!(std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap()
        .success());
    let mut all = String::new();
    for entry in std::fs::read_dir(out.join("interlok-k8s-bundle")).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(!all.contains(planted), "the planted secret leaked into the bundle");
    assert!(all.contains("[REDACTED]"));
    assert!(all.contains("\"healthy\""), "the verify report is in");
    assert!(all.contains("prometheus-adapter"), "the adapter's config is in");
}

#[test]
fn completions_load_in_bash_and_powershell_has_the_expected_structure() {
    let bash = std::process::Command::new(PRODUCT).args(["completions", "bash"]).output().expect("completions");
    assert!(bash.status.success());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bash.stdout).unwrap();
    let syntax = std::process::Command::new("bash").arg("-n").arg(file.path()).output().expect("bash -n");
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p interlok-k8s", file.path().display()))
        .output()
        .expect("bash");
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("interlok-k8s"), "the completion is registered");
    let ps = std::process::Command::new(PRODUCT).args(["completions", "powershell"]).output().expect("completions");
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(ps.contains("Register-ArgumentCompleter -Native -CommandName 'interlok-k8s'"), "{ps}");
    for subcommand in ["setup", "verify", "load", "watch", "demo", "teardown", "bundle", "render", "completions"] {
        assert!(ps.contains(&format!("'{subcommand}'")), "{subcommand} is completed");
    }
    let (open, close) = (ps.matches('{').count(), ps.matches('}').count());
    assert_eq!(open, close, "balanced braces");
}

#[test]
fn every_subcommand_help_has_examples() {
    for subcommand in ["setup", "verify", "load", "watch", "demo", "teardown", "bundle", "render", "completions"] {
        let help = std::process::Command::new(PRODUCT).args([subcommand, "--help"]).output().expect("help");
        assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"), "{subcommand} --help has no examples");
    }
}
