//! minikube: `version --short` prints `v1.38.1` (from v1.20; v1.10–v1.19 print `minikube version: vX` even
//! with --short, and before v1.10 the flag does not exist), so the parser takes the first version token and
//! callers fall back to plain `version` on an unknown-flag error.

use crate::runner::Cmd;
use crate::version::Version;

pub(crate) fn version_short(program: &str) -> Cmd {
    Cmd::query(program).args(["version", "--short"])
}

pub(crate) fn version_long(program: &str) -> Cmd {
    Cmd::query(program).arg("version")
}

pub fn parse_version(stdout: &str) -> Result<Version, String> {
    Version::find_in(stdout).ok_or_else(|| format!("minikube printed no version: {:?}", stdout.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_forms() {
        assert_eq!(parse_version("v1.38.1\n"), Ok(Version::new(1, 38, 1)));
        assert_eq!(parse_version("minikube version: v1.7.3\ncommit: 436667c8\n"), Ok(Version::new(1, 7, 3)));
        assert!(parse_version("command not found").is_err());
    }
}

/// `minikube status -o json`: exit-code bits 1 host, 2 kubelet/apiserver, 4 kubeconfig; 7 stopped; 85 no profile.
pub(crate) fn status(program: &str) -> Cmd {
    Cmd::query(program).args(["status", "-o", "json"])
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterStatus {
    Running,
    /// Exists but something is not Running; says what.
    NotRunning(String),
    Missing,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatusJson {
    host: String,
    kubelet: String,
    #[serde(rename = "APIServer")]
    api_server: String,
    kubeconfig: String,
}

/// Reads status from the exit code and, when present, the JSON (one object, or an array for multi-node).
pub fn parse_status(code: i32, stdout: &str) -> Result<ClusterStatus, String> {
    if code == 85 || stdout.contains("not found") && stdout.contains("Profile") {
        return Ok(ClusterStatus::Missing);
    }
    let value: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("minikube status printed something that is not JSON ({e})"))?;
    let first = if value.is_array() { value[0].clone() } else { value };
    let status: StatusJson =
        serde_json::from_value(first).map_err(|e| format!("unexpected minikube status JSON ({e})"))?;
    let parts = [("host", &status.host), ("kubelet", &status.kubelet), ("apiserver", &status.api_server)];
    let down: Vec<String> =
        parts.iter().filter(|(_, s)| s.as_str() != "Running").map(|(n, s)| format!("{n} {s}")).collect();
    if down.is_empty() && status.kubeconfig == "Configured" && code == 0 {
        Ok(ClusterStatus::Running)
    } else if down.is_empty() {
        Ok(ClusterStatus::NotRunning(format!("kubeconfig {}", status.kubeconfig)))
    } else {
        Ok(ClusterStatus::NotRunning(down.join(", ")))
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn status_reads_json_and_exit_codes() {
        let running = r#"{"Name":"minikube","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false}"#;
        assert_eq!(parse_status(0, running), Ok(ClusterStatus::Running));
        let stopped =
            r#"{"Name":"minikube","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped","Kubeconfig":"Stopped"}"#;
        assert!(matches!(parse_status(7, stopped), Ok(ClusterStatus::NotRunning(_))));
        assert_eq!(parse_status(85, "🤷  Profile \"minikube\" not found."), Ok(ClusterStatus::Missing));
        assert!(parse_status(0, "garbage").is_err());
    }
}
