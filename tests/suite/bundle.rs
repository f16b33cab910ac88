//! bundle, completions and the documentation of the CLI.

use crate::monitoring::{monitoring_world, setup};
use crate::support::{ok, PRODUCT};

#[test]
fn the_bundle_holds_every_item_with_a_planted_secret_redacted() {
    let Some(world) = monitoring_world(4) else { return };
    assert_eq!(setup(&world, &[]).code, 0);
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
