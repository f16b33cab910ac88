//! Typed wrappers, one per external program. Each builds commands as data and parses the real tool's output
//! (`-o json` wherever it exists). They know how to ask; they never decide policy.

pub mod helm;
pub mod kubectl;
pub mod minikube;

use std::path::PathBuf;

use crate::runner::Cmd;

use crate::version::Version;

/// A program found on PATH and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub version: Version,
}

/// Every kubectl and helm command the project builds, with sample values: the contract tests run each one
/// against the real binaries to prove the flags exist (a usage error would show up there, not in the field).
pub fn every_command() -> Vec<Cmd> {
    let kubectl = kubectl::Kubectl::new("kubectl", Some("sample-context".into()));
    let helm = helm::Helm::new("helm", Some("sample-context".into()));
    vec![kubectl.client_version(), kubectl.version(), helm.version_short()]
}
