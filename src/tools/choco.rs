//! chocolatey: the package ids of the tools the wizard needs on Windows.

use crate::runner::Cmd;

pub(crate) const PROGRAM: &str = "choco";

/// The chocolatey package that provides a tool.
pub(crate) fn package(tool: &str) -> &str {
    match tool {
        "kubectl" => "kubernetes-cli",
        "helm" => "kubernetes-helm",
        other => other,
    }
}

pub(crate) fn install(packages: &[&str]) -> Cmd {
    Cmd::change(PROGRAM)
        .arg("install")
        .args(packages.iter().copied())
        .args(["-y", "--no-progress"])
        .timeout(std::time::Duration::from_secs(900))
        .streamed()
}
