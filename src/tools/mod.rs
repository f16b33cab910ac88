//! Typed wrappers, one per external program. Each builds commands as data and parses the real tool's output
//! (`-o json` wherever it exists). They know how to ask; they never decide policy.

pub mod helm;
pub mod kubectl;
pub mod minikube;

use std::path::PathBuf;

use crate::version::Version;

/// A program found on PATH and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub version: Version,
}
