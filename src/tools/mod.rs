//! Typed wrappers, one per external program. Each builds commands as data and parses the real tool's output
//! (`-o json` wherever it exists). They know how to ask; they never decide policy.

pub(crate) mod choco;
pub mod helm;
pub(crate) mod helm_storage;
pub mod kubectl;
pub mod minikube;
pub mod powershell;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::problem::Problem;
use crate::runner::{exit_problem, Cmd, Output, Runner};
use crate::version::Version;

/// A program found on PATH and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) version: Version,
}

type VersionParser = fn(&str) -> Result<Version, String>;

/// A binary as it is on disk: a version read once stands for it until the file changes (an install over it).
type Binary = (String, PathBuf, u64, Option<SystemTime>);

/// Versions already read in this run. Preflight, the stages running at once and the checks after them all ask
/// about the same binaries; each is asked once (each ask starts a process, ~50 ms of CPU for kubectl), and
/// callers asking about one binary at once (verify's checks) wait for one answer.
static VERSIONS: Mutex<Option<HashMap<Binary, VersionSlot>>> = Mutex::new(None);

/// A binary's version once read; whoever asks first reads it while the others wait.
type VersionSlot = Arc<Mutex<Option<Version>>>;

fn binary(tool: &str, program: &str) -> Option<Binary> {
    let meta = std::fs::metadata(Path::new(program)).ok()?;
    Some((tool.to_string(), PathBuf::from(program), meta.len(), meta.modified().ok()))
}

/// Runs a tool's version command (kubectl, helm or minikube) and reads the real output format; a binary
/// already asked in this run (and unchanged on disk) is not asked again.
pub(crate) fn read_version(runner: &Runner, tool: &str, program: &str) -> Result<Version, Problem> {
    let Some(key) = binary(tool, program) else {
        return ask_version(runner, tool, program);
    };
    let slot = {
        let mut versions = VERSIONS.lock().unwrap_or_else(|p| p.into_inner());
        versions.get_or_insert_with(HashMap::new).entry(key).or_default().clone()
    };
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(version) = *slot {
        return Ok(version);
    }
    let version = ask_version(runner, tool, program)?;
    *slot = Some(version);
    Ok(version)
}

fn ask_version(runner: &Runner, tool: &str, program: &str) -> Result<Version, Problem> {
    let (cmd, parse): (Cmd, VersionParser) = match tool {
        "kubectl" => (kubectl::Kubectl::new(program, None).client_version(), |out| {
            kubectl::parse_versions(out).map(|v| v.client)
        }),
        "helm" => (helm::Helm::new(program, None).version_short(), helm::parse_short_version),
        _ => (minikube::version_short(program), minikube::parse_version),
    };
    let mut output = runner.run_unchecked(&cmd)?;
    let mut cmd = cmd;
    if tool == "minikube" && !output.success() && output.stderr.contains("unknown flag: --short") {
        // minikube before v1.10 has no --short; its plain form prints `minikube version: vX.Y.Z`.
        cmd = minikube::version_long(program);
        output = runner.run_unchecked(&cmd)?;
    }
    // Helm 2 prints its client version and then fails to reach tiller: the stdout still answers the question.
    match parse(&output.stdout) {
        Ok(version) if output.success() || tool == "helm" => Ok(version),
        Ok(_) => Err(unreadable(&cmd, &output, tool, "exited with an error")),
        Err(why) if output.success() => Err(unreadable(&cmd, &output, tool, &why)),
        Err(_) => Err(unreadable(&cmd, &output, tool, "exited with an error")),
    }
}

fn unreadable(cmd: &Cmd, output: &Output, tool: &str, why: &str) -> Problem {
    exit_problem(cmd, output).reworded(format!("could not read {tool}'s version: {why}")).with_hint(format!(
        "run `{cmd}` yourself; if it does not print a version, reinstall {tool} or put a working one first on PATH"
    ))
}

/// Every kubectl and helm (v3/v4) command the project builds, with sample values: the contract tests run each
/// against the real binaries to prove the flags exist (a usage error would show up there, not in the field).
pub fn every_command() -> Vec<Cmd> {
    let kubectl = kubectl::Kubectl::new("kubectl", Some("sample-context".into()));
    let helm = helm::Helm::new("helm", Some("sample-context".into()));
    vec![
        kubectl.client_version(),
        kubectl.version(),
        kubectl.context_names(),
        kubectl.wait_nodes_ready(300),
        kubectl.rollout_status("kube-system", "tiller-deploy", 300),
        kubectl.ready_replicas("kube-system", "tiller-deploy"),
        kubectl.apply(
            r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sample", "namespace": "default"}}"#,
        ),
        helm.version_short(),
        helm.repo_list(),
        helm.repo_add("sample", "http://127.0.0.1:9/charts", true),
        helm.repo_update(&["sample".to_string()]),
        kubectl.replace(
            r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sample", "namespace": "default"}}"#,
        ),
        kubectl.list_cluster_json("namespaces", Some("app.kubernetes.io/managed-by=interlok-k8s")),
        helm.history("sample", "default"),
        helm.rollback("sample", "default", 1, std::time::Duration::from_secs(60)),
        helm.list_labelled("app.kubernetes.io/managed-by=interlok-k8s,interlok-k8s/adopted!=true"),
        kubectl.get_json("default", "deployment", "sample"),
        kubectl.list_json("default", "pods", Some("app=sample")),
        kubectl.list_everywhere_json("scaledobjects.keda.sh,scaledjobs.keda.sh"),
        kubectl.get_cluster_json("apiservice", "v1beta1.custom.metrics.k8s.io"),
        kubectl.get_raw("/apis/custom.metrics.k8s.io/v1beta1"),
        kubectl.api_versions(),
        kubectl.port_forward("default", "sample", 8080),
        kubectl.logs("default", "sample-pod", "sample", 1 << 20),
        kubectl.delete("deployment", "sample", Some("default")),
        kubectl.delete("namespace", "sample", None),
        helm.uninstall("sample", "default"),
        helm.repo_remove("sample"),
        helm.list_release("sample", "default"),
        helm.list_releases("default"),
        helm.get_values("sample", "default"),
        helm.upgrade_install(
            &helm::Release {
                name: "sample".into(),
                chart: "sample/sample".into(),
                version: "1.0.0".into(),
                namespace: "default".into(),
            },
            "a: 1\n",
            std::time::Duration::from_secs(60),
        )
        .args(["--labels", "app.kubernetes.io/managed-by=interlok-k8s,interlok-k8s/adopted=true"]),
    ]
}

/// Helm 2 commands: checked against the Helm 2 fake, whose flags follow Helm v2.17.
pub fn helm2_commands() -> Vec<Cmd> {
    let helm = helm::Helm::new("helm", None);
    let release = helm::Release {
        name: "sample".into(),
        chart: "stable/sample".into(),
        version: "1.0.0".into(),
        namespace: "default".into(),
    };
    vec![
        helm.version_short(),
        helm.init_tiller("https://charts.helm.sh/stable"),
        helm.status_v2("sample"),
        helm.upgrade_install_v2(&release, "a: 1\n", std::time::Duration::from_secs(60)),
        helm.delete_v2("sample"),
    ]
}
