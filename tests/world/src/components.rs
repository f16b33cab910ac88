//! Finding the real components the world runs (kubectl 1.27–1.33, helm v3/v4, prometheus, pushgateway)
//! and the rule for a missing one: skip loudly on a developer's machine, fail when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where `scripts/install-test-deps.sh` puts the real binaries.
pub fn deps_dir() -> PathBuf {
    std::env::var_os("INTERLOK_K8S_TESTDEPS").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".testdeps"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
}

/// A real kubectl of one minor version (e.g. "1.33").
pub fn kubectl(minor: &str) -> Option<PathBuf> {
    let name = format!("kubectl.{minor}");
    on_path(&name).or_else(|| {
        let sdk = PathBuf::from("/usr/lib/google-cloud-sdk/bin").join(&name);
        sdk.is_file().then_some(sdk)
    })
}

/// A real helm of a major version (3 or 4).
pub fn helm(major: u32) -> Option<PathBuf> {
    let path = deps_dir().join("bin").join(format!("helm{major}"));
    path.is_file().then_some(path)
}

pub fn prometheus() -> Option<PathBuf> {
    let path = deps_dir().join("bin/prometheus");
    path.is_file().then_some(path).or_else(|| on_path("prometheus"))
}

pub fn pushgateway() -> Option<PathBuf> {
    let path = deps_dir().join("bin/prometheus-pushgateway");
    path.is_file().then_some(path).or_else(|| on_path("prometheus-pushgateway"))
}

/// Returns the component, or reports it missing: a loud skip on a developer's machine, a failure in CI.
pub fn require(what: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let message = format!("{what} is not installed: run scripts/install-test-deps.sh (CI's .ci/run does)");
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// The multi-call binary that plays minikube, PowerShell, choco and Helm 2, and wraps real tools.
pub fn fake_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current exe");
            let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "-p", "testworld", "--bin", "world-fake"]).current_dir(repo_root());
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release"); // benchmarks run from target/release
            }
            let status = build.status().expect("run cargo build for world-fake");
            assert!(status.success(), "building world-fake failed");
            profile_dir.join("world-fake")
        })
        .clone()
}
