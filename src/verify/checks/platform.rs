//! tools, cluster and helm: the binaries, the cluster they reach, and the releases installed there.

use crate::cluster::server::{self, ServerVersion};
use crate::cluster::views::Deployment;
use crate::cluster::{self, releases};
use crate::context::choose_kubectl;
use crate::tools::kubectl::every_on_path;
use crate::tools::minikube::ClusterStatus;
use crate::verify::{Finding, Probe};

pub(crate) fn kubectl(probe: &Probe) -> Finding {
    let cx = probe.cx;
    let (found, failures) = every_on_path(&cx.runner);
    let (Some(first), Some(chosen)) = (found.first(), choose_kubectl(&found)) else {
        return match failures.into_iter().next() {
            Some(problem) => Finding::fail(problem.message, problem.hint.unwrap_or_default()),
            None => Finding::fail("kubectl not found on PATH", cx.settings.platform.install_hint("kubectl")),
        };
    };
    if chosen.path != first.path {
        let folder = |p: &std::path::Path| p.parent().map(|d| d.display().to_string()).unwrap_or_default();
        return Finding::warn(
            format!(
                "{} ({}) comes first on PATH and shadows {} ({}): the wizard uses the newer one, your shell the older",
                first.path.display(),
                first.version,
                chosen.path.display(),
                chosen.version
            ),
            format!(
                "put {} before {} on PATH (Docker Desktop adds an old kubectl to the system PATH)",
                folder(&chosen.path),
                folder(&first.path)
            ),
        );
    }
    Finding::ok(format!("kubectl {} at {}", chosen.version, chosen.path.display()))
}

pub(crate) fn helm(probe: &Probe) -> Finding {
    let cx = probe.cx;
    if cx.runner.resolve("helm").is_none() {
        return Finding::fail("helm not found on PATH", cx.settings.platform.install_hint("helm"));
    }
    match crate::context::read_found(&cx.runner, "helm") {
        Ok(Some(found)) if found.version.major == 2 => Finding::warn(
            format!("Helm {}: end-of-life since November 2020", found.version),
            "install Helm 3 or 4 (`choco install kubernetes-helm`)",
        ),
        Ok(Some(found)) => Finding::ok(format!("helm {}", found.version)),
        Ok(None) => Finding::fail("helm not found on PATH", cx.settings.platform.install_hint("helm")),
        Err(problem) => Finding::fail(problem.message, problem.hint.unwrap_or_else(|| "reinstall helm".into())),
    }
}

pub(crate) fn minikube(probe: &Probe) -> Finding {
    let cx = probe.cx;
    if !cx.settings.uses_minikube() {
        return Finding::ok("not used: the cluster is the existing context");
    }
    match cx.minikube_found() {
        Some(found) => Finding::ok(format!("minikube {}", found.version)),
        None => Finding::fail(
            "minikube not found on PATH (or it printed no version)",
            cx.settings.platform.install_hint("minikube"),
        ),
    }
}

/// What the machine must offer minikube (elevation and Hyper-V on Windows, a driver): setup's preflight.
pub(crate) fn machine(probe: &Probe) -> Finding {
    let mut cx = probe.cx.fork();
    match crate::preflight::machine(&mut cx) {
        Ok(found) => Finding::ok(found.join("; ")),
        Err(problem) => Finding::fail(problem.message, problem.hint.unwrap_or_default()),
    }
}

pub(crate) fn skew(probe: &Probe) -> Finding {
    let cx = probe.cx;
    let cmd = cx.kubectl().version();
    let Ok(ServerVersion { versions, .. }) = server::versions(cx) else {
        return Finding::fail("kubectl version did not answer", format!("run `{cmd}`"));
    };
    let Some(server) = versions.server else {
        return Finding::fail("the server did not report its version", format!("run `{cmd}`"));
    };
    let skew = versions.client.minor.abs_diff(server.minor);
    match skew {
        0 => Finding::ok(format!("kubectl {} and server {server}", versions.client)),
        1 => Finding::warn(
            format!("kubectl {} is one minor from the server {server}", versions.client),
            "supported, but keep them within one minor",
        ),
        _ => {
            let mut fix =
                format!("put a kubectl v1.{}–v1.{} first on PATH", server.minor.saturating_sub(1), server.minor + 1);
            if cx.settings.uses_minikube() {
                fix.push_str(
                    ", or let the wizard use minikube's matching kubectl: `interlok-k8s verify --use-minikube-kubectl`",
                );
            }
            Finding::fail(
                format!(
                    "kubectl {} is {skew} minor versions from the server {server} (supported: ±1)",
                    versions.client
                ),
                fix,
            )
        }
    }
}

pub(crate) fn context(probe: &Probe) -> Finding {
    let cx = probe.cx;
    let kubectl = crate::tools::kubectl::Kubectl::new(cx.kubectl_program(), None);
    if let Some(wanted) = &cx.settings.context {
        let names = cx.runner.run(&kubectl.context_names()).map(|o| o.stdout).unwrap_or_default();
        return if names.lines().any(|l| l.trim() == wanted) {
            Finding::ok(format!("context {wanted:?} (from --context)"))
        } else {
            Finding::fail(
                format!("--context {wanted:?} is not in the kubeconfig"),
                "`kubectl config get-contexts` lists them",
            )
        };
    }
    match cx.runner.run(&kubectl.query(["config", "current-context"])) {
        Ok(output) => Finding::ok(format!("current context {:?}", output.stdout.trim())),
        Err(_) => Finding::fail(
            "no current kube context",
            "start minikube: `interlok-k8s setup --only cluster`, or pass --context",
        ),
    }
}

pub(crate) fn api(probe: &Probe) -> Finding {
    let cx = probe.cx;
    match server::versions(cx).ok().and_then(|v| v.versions.server) {
        Some(server) => Finding::ok(format!("the API server answers: Kubernetes {server}")),
        None if cx.settings.uses_minikube() => Finding::fail(
            "the Kubernetes API server does not answer",
            "start the cluster: `interlok-k8s setup --only cluster`",
        ),
        None => Finding::fail(
            "the Kubernetes API server does not answer",
            "check the cluster of --context: `kubectl cluster-info`",
        ),
    }
}

pub(crate) fn nodes(probe: &Probe) -> Finding {
    let (nodes, not_ready) = match server::nodes(probe) {
        Ok(nodes) => nodes,
        Err(problem) => return Finding::fail(problem.message, "`kubectl get nodes`"),
    };
    match (nodes.len(), not_ready.is_empty()) {
        (0, _) => Finding::fail("the cluster has no nodes", "`kubectl get nodes`"),
        (n, true) => Finding::ok(format!("{n} node{} Ready", if n == 1 { "" } else { "s" })),
        (_, false) => Finding::fail(
            format!("not Ready: {}", not_ready.join(", ")),
            format!("`kubectl describe node {}` shows why", not_ready[0]),
        ),
    }
}

pub(crate) fn minikube_status(probe: &Probe) -> Finding {
    let cx = probe.cx;
    if !cx.settings.uses_minikube() {
        return Finding::ok("not used: the cluster is the existing context");
    }
    match server::minikube_status(cx).and_then(|status| status.state()) {
        Ok(ClusterStatus::Running) => Finding::ok("minikube: host, kubelet and apiserver Running"),
        Ok(ClusterStatus::NotRunning(what)) => {
            Finding::fail(format!("minikube is not running ({what})"), "start it: `interlok-k8s setup --only cluster`")
        }
        Ok(ClusterStatus::Missing) => Finding::fail("there is no minikube cluster", "create it: `interlok-k8s setup`"),
        Err(problem) => Finding::fail(problem.message, "run `minikube status`"),
    }
}

pub(crate) fn tiller(probe: &Probe) -> Finding {
    if probe.cx.helm_major() != 2 {
        return Finding::ok("not needed: Helm 3 and later have no tiller");
    }
    match cluster::get::<Deployment>(probe, "deployment", "kube-system", "tiller-deploy") {
        Ok(Some(d)) if d.status.ready_replicas > 0 => Finding::ok("tiller ready in kube-system"),
        Ok(_) => Finding::fail("tiller is not ready in kube-system", "`interlok-k8s setup --only helm --allow-helm2`"),
        Err(problem) => Finding::fail(problem.message, "`kubectl get deploy -n kube-system tiller-deploy`"),
    }
}

fn release(probe: &Probe, chart: &str, optional: bool, stage: &str) -> Finding {
    let cx = probe.cx;
    let release = releases::release(cx, chart);
    let namespace = &release.namespace;
    match releases::status(probe, &release) {
        Err(problem) => {
            Finding::fail(format!("helm could not list releases in {namespace}: {}", problem.message), "`helm list -A`")
        }
        Ok(None) if optional => Finding::ok(format!("{chart} is not installed (optional: setup --grafana)")),
        Ok(None) => Finding::fail(
            format!("release {chart} is not installed in {namespace}"),
            format!("install it: `interlok-k8s setup --only {stage}`"),
        ),
        Ok(Some(s)) if s.status == "deployed" => Finding::ok(format!(
            "release {chart} deployed{}",
            if s.chart_version.is_empty() { String::new() } else { format!(" (chart {})", s.chart_version) }
        )),
        Ok(Some(s)) => Finding::fail(
            format!("release {chart} is {}", s.status),
            format!("see `helm status {chart} -n {namespace}`; repair it: `interlok-k8s setup --only {stage}`"),
        ),
    }
}

pub(crate) fn release_prometheus(probe: &Probe) -> Finding {
    release(probe, "prometheus", false, "prometheus")
}

pub(crate) fn release_adapter(probe: &Probe) -> Finding {
    release(probe, "prometheus-adapter", false, "adapter")
}

pub(crate) fn release_keda(probe: &Probe) -> Finding {
    release(probe, "keda", false, "keda --scaler keda")
}

pub(crate) fn release_grafana(probe: &Probe) -> Finding {
    let optional = !probe.cx.settings.grafana;
    release(probe, "grafana", optional, "grafana --grafana")
}
