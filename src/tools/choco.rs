//! chocolatey: the package ids of the tools the wizard needs on Windows.

use crate::runner::Cmd;

pub const PROGRAM: &str = "choco";

/// The chocolatey package that provides a tool.
pub fn package(tool: &str) -> &str {
    match tool {
        "kubectl" => "kubernetes-cli",
        "helm" => "kubernetes-helm",
        other => other,
    }
}

pub fn install(packages: &[&str]) -> Cmd {
    Cmd::change(PROGRAM)
        .arg("install")
        .args(packages.iter().copied())
        .args(["-y", "--no-progress"])
        .timeout(std::time::Duration::from_secs(900))
        .streamed()
}

pub fn version() -> Cmd {
    Cmd::query(PROGRAM).arg("--version")
}
