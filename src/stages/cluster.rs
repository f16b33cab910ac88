//! cluster: a reachable cluster with Ready nodes — minikube started with the flags the installed version
//! understands, or the existing cluster named by `--context` (then minikube is never called).

use std::time::Duration;

use crate::cluster::server;
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::problem::Problem;
use crate::runner::Cmd;
use crate::tools::minikube::ClusterStatus;
use crate::version::Version;

const START_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const READY_TIMEOUT_SECS: u64 = 300;

pub(crate) struct Cluster;

impl Stage for Cluster {
    fn id(&self) -> StageId {
        StageId::Cluster
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::KubectlPath, StageId::Network]
    }

    fn summary(&self) -> &'static str {
        "start minikube, or use --context, and wait for Ready nodes"
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        if let Some(context) = cx.settings.context.clone() {
            ensure_context_exists(cx, &context)?;
            let server = server_version(cx).map_err(|p| {
                p.with_hint(format!("check that the cluster of context {context:?} is up and reachable"))
            })?;
            return Ok(Check::Done(format!("context {context:?}: server {server}, {}", ready_nodes(cx)?)));
        }
        match server::minikube_status(cx)?.state()? {
            ClusterStatus::Running => {
                let server = server_version(cx)?;
                Ok(Check::Done(format!("minikube is running Kubernetes {server}, {}", ready_nodes(cx)?)))
            }
            ClusterStatus::NotRunning(what) => Ok(Check::Needed(format!("minikube is not running ({what})"))),
            ClusterStatus::Missing => Ok(Check::Needed("there is no minikube cluster yet".into())),
        }
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let (driver, why) = crate::preflight::choose_driver(cx);
        match &driver {
            Some(d) => cx.note(format!("minikube driver {d}: {why}")),
            None => cx.note(format!("no driver given to minikube: {why}")),
        }
        let cmd = start_command(cx, driver.as_deref());
        let existed = server::minikube_status(cx).is_ok_and(|status| status.exists());
        if !existed {
            cx.intend(crate::record::Created::Cluster)?;
        }
        cx.runner.run(&cmd).map_err(|p| start_hint(p, driver.as_deref()))?;
        if !existed {
            cx.created(crate::record::Created::Cluster);
        }
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let server = server_version(cx)?;
        Ok(format!("Kubernetes {server}, {}", ready_nodes(cx)?))
    }
}

fn ensure_context_exists(cx: &Context, context: &str) -> Result<(), Problem> {
    let kubectl = crate::tools::kubectl::Kubectl::new(cx.kubectl_program(), None);
    let output = cx.runner.run(&kubectl.context_names())?;
    if output.stdout.lines().any(|l| l.trim() == context) {
        return Ok(());
    }
    let known: Vec<&str> = output.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    Err(Problem::new(format!("--context {context:?} names no context in your kubeconfig"))
        .with_hint(format!("contexts: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })))
}

/// The server's version, also kept in the facts for the version-skew stage.
pub(crate) fn server_version(cx: &mut Context) -> Result<Version, Problem> {
    let server = server::versions(cx)?
        .server()
        .map_err(|p| p.with_hint("start the cluster (minikube start) or check --context, then run this again"))?;
    cx.facts.server_version = Some(server);
    Ok(server)
}

/// Waits, event-driven, until every node is Ready; says how many. Nodes that are Ready already (as on every
/// run but the one that starts the cluster) are seen in one read, with no wait.
fn ready_nodes(cx: &Context) -> Result<String, Problem> {
    let count = match server::nodes(cx) {
        Ok((nodes, not_ready)) if !nodes.is_empty() && not_ready.is_empty() => nodes.len(),
        _ => {
            let wait = cx.kubectl().wait_nodes_ready(READY_TIMEOUT_SECS);
            let output = cx.runner.run(&wait).map_err(|p| {
                p.reworded("the cluster's nodes did not become Ready").with_hint("see `kubectl describe nodes`")
            })?;
            output.stdout.lines().filter(|l| l.contains("condition met")).count()
        }
    };
    Ok(format!("{count} node{} Ready", if count == 1 { "" } else { "s" }))
}

/// `minikube start` with the flags this minikube understands (`--vm-driver` before v1.8.0).
pub(crate) fn start_command(cx: &Context, driver: Option<&str>) -> Cmd {
    let settings = &cx.settings;
    let version = cx.minikube_found().map(|f| f.version);
    let mut cmd = Cmd::change(cx.minikube()).arg("start").timeout(START_TIMEOUT).streamed();
    if let Some(driver) = driver {
        let flag = if version.is_some_and(|v| v < Version::new(1, 8, 0)) { "--vm-driver" } else { "--driver" };
        cmd = cmd.arg(format!("{flag}={driver}"));
        if driver == "hyperv" && settings.switch != super::network::DEFAULT_SWITCH {
            cmd = cmd.arg(format!("--hyperv-virtual-switch={}", settings.switch));
        }
    }
    if let Some(k8s) = &settings.kubernetes_version {
        let k8s = if k8s.starts_with('v') { k8s.clone() } else { format!("v{k8s}") };
        cmd = cmd.arg(format!("--kubernetes-version={k8s}"));
    }
    cmd.arg(format!("--cpus={}", settings.cpus)).arg(format!("--memory={}", settings.memory_mib))
}

fn start_hint(problem: Problem, driver: Option<&str>) -> Problem {
    let text = problem.output_text();
    let hint = if text.contains("vswitch") && text.contains("not found") {
        "the Hyper-V switch is missing: run `interlok-k8s setup --only network`, or pass --switch \"Default Switch\""
    } else if text.contains("HYPERV") || text.contains("Hyper-V") {
        "enable Hyper-V (Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All), reboot, and run this again"
    } else if driver == Some("docker") {
        "is Docker running? Start Docker Desktop (or the docker service) and run this again"
    } else {
        "see `minikube logs`; `minikube delete` then a rerun starts from scratch"
    };
    problem.reworded("minikube could not start the cluster").with_hint(hint)
}
