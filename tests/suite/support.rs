//! Helpers shared by the suite: the product binary, fixtures, and the metrics-chain setup steps.

use std::path::PathBuf;
use std::time::Duration;

use testworld::world::{Run, World};

pub const PRODUCT: &str = env!("CARGO_BIN_EXE_interlok-k8s");

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/suite/fixtures").join(name)
}

/// Runs a command in the world and insists it succeeds, showing everything it printed if not.
pub fn ok(world: &World, program: &str, args: &[&str]) -> Run {
    let run = world.run(program, args);
    assert_eq!(run.code, 0, "`{program} {}` failed:\n{}", args.join(" "), run.all());
    run
}

/// The 2019 guide's image: it pushes `MessageMetrics`.
pub const GUIDE_IMAGE: &str = "aaronmcgrathadpx/interlok-kubernetes-scaling:latest";

/// An Interlok 3.x build like the guide's whose pusher uses simpleclient 0.10: it pushes `MessageMetrics_total`.
pub const INTERLOK_3_12: &str = "example.org/interlok-kubernetes-scaling-3.12";

pub fn interlok_3_12() -> testworld::images::Image {
    testworld::images::Image::guide().with_pusher(Some(testworld::images::Simpleclient::V0_10))
}

/// A monitoring world (helm 4, the charts, Prometheus) whose catalogue also holds the Interlok 3.12 build.
pub fn world_with_interlok_3_12() -> Option<World> {
    World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(Default::default())
        .image(INTERLOK_3_12, interlok_3_12())
        .start()
}

/// Writes the Interlok manifest (the guide's image) with the given pushgateway address and namespace variable name.
pub fn interlok_manifest(world: &World, pushgateway: &str, namespace_variable: &str) -> String {
    interlok_manifest_with(world, GUIDE_IMAGE, pushgateway, namespace_variable)
}

/// The Interlok manifest with another image.
pub fn interlok_manifest_with(world: &World, image: &str, pushgateway: &str, namespace_variable: &str) -> String {
    let text = std::fs::read_to_string(fixture("interlok.yaml"))
        .expect("fixture")
        .replace("IMAGE", image)
        .replace("PUSHGATEWAY", pushgateway)
        .replace("NAMESPACE_VARIABLE", namespace_variable);
    let path = world.dir.join("interlok.yaml");
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

/// helm repo add + install of the stand-in prometheus chart (and optionally the adapter) with --wait.
pub fn install_monitoring(world: &World, adapter_values: Option<&str>) {
    let repo = world.charts.as_ref().expect("world with charts").repo_url("prometheus-community");
    ok(world, "helm", &["repo", "add", "prometheus-community", &repo]);
    ok(
        world,
        "helm",
        &[
            "upgrade",
            "--install",
            "prometheus",
            "prometheus-community/prometheus",
            "--version",
            "29.27.0",
            "-n",
            "monitoring",
            "--create-namespace",
            "--wait",
            "--timeout",
            "2m",
        ],
    );
    if let Some(values) = adapter_values {
        install_adapter(world, values);
    }
}

/// helm upgrade --install of the stand-in prometheus-adapter chart with a values fixture (the repo added already).
pub fn install_adapter(world: &World, values: &str) {
    let values = fixture(values).display().to_string();
    let args =
        ["upgrade", "--install", "prometheus-adapter", "prometheus-community/prometheus-adapter", "--version", "5.3.0"];
    let rest = ["-n", "monitoring", "--create-namespace", "-f", &values, "--wait", "--timeout", "2m"];
    ok(world, "helm", &[&args[..], &rest[..]].concat());
}

/// helm repo add kedacore + install of the stand-in KEDA chart into a namespace with --wait, as KEDA's docs
/// install it (into `keda`).
pub fn install_keda(world: &World, namespace: &str) {
    let repo = world.charts.as_ref().expect("world with charts").repo_url("kedacore");
    ok(world, "helm", &["repo", "add", "kedacore", &repo]);
    let args = ["upgrade", "--install", "keda", "kedacore/keda", "--version", "2.20.2"];
    ok(world, "helm", &[&args[..], &["-n", namespace, "--create-namespace", "--wait", "--timeout", "2m"]].concat());
}

pub const LONG: Duration = Duration::from_secs(60);

/// Every file under a folder, at any depth (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A source file's product code: what comes before its test module (`#[cfg(test)]` or `#[cfg(all(test, …))]`).
pub fn product_code(text: &str) -> &str {
    ["#[cfg(test)]", "#[cfg(all(test"].iter().fold(text, |code, start| code.split(start).next().unwrap_or_default())
}
