//! The cluster itself: whether minikube runs it and which Kubernetes its API server is. Preflight, the
//! cluster and version-skew stages, verify's cluster checks and teardown all ask; each question is asked once
//! a run, until the wizard changes something with minikube (`minikube start` makes a cluster answer).

use super::views::Node;
use super::Reader;
use crate::context::Context;
use crate::problem::Problem;
use crate::runner::{exit_problem, Cmd, Output};
use crate::tools::kubectl::{parse_versions, Versions};
use crate::tools::minikube::{self, ClusterStatus};
use crate::version::Version;

/// The changes after which these answers are asked again.
const CHANGED_BY: &[&str] = &["minikube"];

/// What `kubectl version -o json` said: the client's version and, when it answered, the server's.
pub(crate) struct ServerVersion {
    pub(crate) versions: Versions,
    cmd: Cmd,
    output: Output,
}

impl ServerVersion {
    /// The server's version, or that it did not answer (with the command and what it printed).
    pub(crate) fn server(&self) -> Result<Version, Problem> {
        self.versions
            .server
            .ok_or_else(|| exit_problem(&self.cmd, &self.output).reworded("the Kubernetes API server does not answer"))
    }
}

/// kubectl's and the server's versions; an error when kubectl could not run or printed no version JSON.
pub(crate) fn versions(cx: &Context) -> Result<ServerVersion, Problem> {
    let cmd = match cx.kubectl_found() {
        // the client's version is the one kubectl-path chose it by (minikube's kubectl is another binary)
        Some(found) if !cx.facts.kubectl_via_minikube => cx.kubectl().version_knowing(found.version),
        _ => cx.kubectl().version(),
    };
    let output = cx.runner.remembered(&cmd, CHANGED_BY)?;
    let versions = parse_versions(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?;
    Ok(ServerVersion { versions, cmd, output })
}

/// What `minikube status -o json` said.
pub(crate) struct MinikubeStatus {
    cmd: Cmd,
    output: Output,
}

impl MinikubeStatus {
    /// Running, not running (and what is not), or no cluster; an error when the answer cannot be read.
    pub(crate) fn state(&self) -> Result<ClusterStatus, Problem> {
        minikube::parse_status(self.output.code, &self.output.stdout)
            .map_err(|why| exit_problem(&self.cmd, &self.output).reworded(why))
    }

    /// Whether a cluster exists, running or not (exit code 85: no profile).
    pub(crate) fn exists(&self) -> bool {
        self.output.code != 85
    }
}

/// minikube's cluster as `minikube status` reports it; an error when minikube could not run.
pub(crate) fn minikube_status(cx: &Context) -> Result<MinikubeStatus, Problem> {
    let cmd = minikube::status(&cx.minikube());
    let output = cx.runner.remembered(&cmd, CHANGED_BY)?;
    Ok(MinikubeStatus { cmd, output })
}

/// The cluster's nodes, and which of them are not Ready (by name).
pub(crate) fn nodes(reader: &(impl Reader + ?Sized)) -> Result<(Vec<Node>, Vec<String>), Problem> {
    let nodes: Vec<Node> = super::list(reader, "nodes", "", None)?;
    let not_ready = nodes.iter().filter(|n| !n.ready()).map(|n| n.metadata.name.clone()).collect();
    Ok((nodes, not_ready))
}
