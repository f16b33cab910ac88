//! tools, cluster and helm: the binaries, the cluster they reach, and the releases installed there.

use crate::stages;
use crate::tools::kubectl::{parse_versions, Kubectl};
use crate::tools::{helm as helm_tool, minikube as minikube_tool};
use crate::verify::{Finding, Probe};
use crate::version::Version;

fn version_of(probe: &Probe, path: &std::path::Path) -> Option<Version> {
    let output = probe.cx.runner.run(&Kubectl::new(path.display().to_string(), None).client_version()).ok()?;
    parse_versions(&output.stdout).ok().map(|v| v.client)
}

pub fn kubectl(probe: &Probe) -> Finding {
    let found: Vec<(std::path::PathBuf, Version)> = probe
        .cx
        .runner
        .resolve_all("kubectl")
        .into_iter()
        .filter_map(|p| version_of(probe, &p).map(|v| (p, v)))
        .collect();
    let Some((first, first_version)) = found.first().cloned() else {
        return Finding::fail("kubectl not found on PATH", probe.cx.settings.platform.install_hint("kubectl"));
    };
    if let Some((better, better_version)) = found.iter().filter(|(_, v)| *v > first_version).max_by_key(|(_, v)| *v) {
        return Finding::fail(
            format!(
                "{} ({first_version}) comes first on PATH and shadows {} ({better_version})",
                first.display(),
                better.display()
            ),
            format!(
                "put {} before {} on PATH (Docker Desktop adds an old kubectl to the system PATH)",
                better.parent().map(|p| p.display().to_string()).unwrap_or_default(),
                first.parent().map(|p| p.display().to_string()).unwrap_or_default()
            ),
        );
    }
    Finding::ok(format!("kubectl {first_version} at {}", first.display()))
}

pub fn helm(probe: &Probe) -> Finding {
    let cmd = probe.cx.helm().version_short();
    let Ok(output) = probe.cx.runner.run_unchecked(&cmd) else {
        return Finding::fail("helm not found on PATH", probe.cx.settings.platform.install_hint("helm"));
    };
    match helm_tool::parse_short_version(&output.stdout) {
        Ok(v) if v.major == 2 => Finding::warn(
            format!("Helm {v}: end-of-life since November 2020"),
            "install Helm 3 or 4 (choco install kubernetes-helm)",
        ),
        Ok(v) => Finding::ok(format!("helm {v}")),
        Err(why) => Finding::fail(format!("`{cmd}` did not print a version: {why}"), "reinstall helm"),
    }
}

pub fn minikube(probe: &Probe) -> Finding {
    if !probe.cx.settings.uses_minikube() {
        return Finding::ok("not used: the cluster is the existing context");
    }
    let program = probe.cx.minikube();
    let output = probe.cx.runner.run_unchecked(&minikube_tool::version_short(&program));
    match output.ok().and_then(|o| minikube_tool::parse_version(&o.stdout).ok()) {
        Some(v) => Finding::ok(format!("minikube {v}")),
        None => Finding::fail(
            "minikube not found on PATH (or it printed no version)",
            probe.cx.settings.platform.install_hint("minikube"),
        ),
    }
}

pub fn skew(probe: &Probe) -> Finding {
    let cmd = probe.cx.kubectl().version();
    let versions = probe.cx.runner.run_unchecked(&cmd).ok().and_then(|o| parse_versions(&o.stdout).ok());
    let Some(versions) = versions else {
        return Finding::fail("kubectl version did not answer", "run `kubectl version`");
    };
    let Some(server) = versions.server else {
        return Finding::fail("the server did not report its version", "run `kubectl version`");
    };
    let skew = versions.client.minor.abs_diff(server.minor);
    match skew {
        0 => Finding::ok(format!("kubectl {} and server {server}", versions.client)),
        1 => Finding::warn(
            format!("kubectl {} is one minor from the server {server}", versions.client),
            "supported, but keep them within one minor",
        ),
        _ => Finding::fail(
            format!("kubectl {} is {skew} minor versions from the server {server} (supported: ±1)", versions.client),
            format!(
                "put a kubectl v1.{}–v1.{} first on PATH, or use `minikube kubectl --`",
                server.minor.saturating_sub(1),
                server.minor + 1
            ),
        ),
    }
}

pub fn context(probe: &Probe) -> Finding {
    let kubectl = Kubectl::new(probe.cx.kubectl_program(), None);
    if let Some(wanted) = &probe.cx.settings.context {
        let names = probe.cx.runner.run(&kubectl.context_names()).map(|o| o.stdout).unwrap_or_default();
        return if names.lines().any(|l| l.trim() == wanted) {
            Finding::ok(format!("context {wanted:?} (from --context)"))
        } else {
            Finding::fail(
                format!("--context {wanted:?} is not in the kubeconfig"),
                "`kubectl config get-contexts` lists them",
            )
        };
    }
    match probe.cx.runner.run(&kubectl.query(["config", "current-context"])) {
        Ok(output) => Finding::ok(format!("current context {:?}", output.stdout.trim())),
        Err(_) => Finding::fail("no current kube context", "start minikube (`minikube start`) or pass --context"),
    }
}

pub fn api(probe: &Probe) -> Finding {
    let cmd = probe.cx.kubectl().version();
    let output = probe.cx.runner.run_unchecked(&cmd);
    match output.ok().and_then(|o| parse_versions(&o.stdout).ok()).and_then(|v| v.server) {
        Some(server) => Finding::ok(format!("the API server answers: Kubernetes {server}")),
        None => Finding::fail(
            "the Kubernetes API server does not answer",
            "start the cluster (`minikube start`) or check --context",
        ),
    }
}

pub fn nodes(probe: &Probe) -> Finding {
    let cmd = probe.cx.kubectl().query(["get", "nodes", "-o", "json"]);
    let nodes: Vec<serde_json::Value> = probe
        .cx
        .runner
        .run(&cmd)
        .ok()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default();
    let ready = |n: &serde_json::Value| {
        n["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    };
    let not_ready: Vec<&str> =
        nodes.iter().filter(|n| !ready(n)).filter_map(|n| n["metadata"]["name"].as_str()).collect();
    match (nodes.len(), not_ready.is_empty()) {
        (0, _) => Finding::fail("the cluster has no nodes", "`kubectl get nodes`"),
        (n, true) => Finding::ok(format!("{n} node{} Ready", if n == 1 { "" } else { "s" })),
        (_, false) => {
            Finding::fail(format!("not Ready: {}", not_ready.join(", ")), "`kubectl describe node` shows why")
        }
    }
}

pub fn minikube_status(probe: &Probe) -> Finding {
    if !probe.cx.settings.uses_minikube() {
        return Finding::ok("not used: the cluster is the existing context");
    }
    let output = probe.cx.runner.run_unchecked(&minikube_tool::status(&probe.cx.minikube()));
    match output.map(|o| minikube_tool::parse_status(o.code, &o.stdout)) {
        Ok(Ok(minikube_tool::ClusterStatus::Running)) => Finding::ok("minikube: host, kubelet and apiserver Running"),
        Ok(Ok(minikube_tool::ClusterStatus::NotRunning(what))) => Finding::fail(
            format!("minikube is not running ({what})"),
            "`minikube start` (or `interlok-k8s setup --only cluster`)",
        ),
        Ok(Ok(minikube_tool::ClusterStatus::Missing)) => {
            Finding::fail("there is no minikube cluster", "`interlok-k8s setup`")
        }
        Ok(Err(why)) => Finding::fail(why, "run `minikube status`"),
        Err(problem) => Finding::fail(problem.message, "run `minikube status`"),
    }
}

fn helm_major(probe: &Probe) -> u32 {
    probe
        .cx
        .runner
        .run_unchecked(&probe.cx.helm().version_short())
        .ok()
        .and_then(|o| helm_tool::parse_short_version(&o.stdout).ok())
        .map_or(3, |v| v.major)
}

pub fn tiller(probe: &Probe) -> Finding {
    if helm_major(probe) != 2 {
        return Finding::ok("not needed: Helm 3 and later have no tiller");
    }
    match probe.get("deployment", "kube-system", "tiller-deploy") {
        Ok(Some(d)) if d["status"]["readyReplicas"].as_u64().unwrap_or(0) > 0 => {
            Finding::ok("tiller ready in kube-system")
        }
        Ok(_) => Finding::fail("tiller is not ready in kube-system", "`interlok-k8s setup --only helm --allow-helm2`"),
        Err(e) => Finding::fail(e, "`kubectl get deploy -n kube-system tiller-deploy`"),
    }
}

fn release(probe: &Probe, name: &str, optional: bool) -> Finding {
    let namespace = &probe.cx.settings.monitoring_namespace;
    let found = if helm_major(probe) == 2 {
        probe.cx.runner.run(&probe.cx.helm().status_v2(name)).ok().map(|o| {
            o.stdout
                .to_ascii_lowercase()
                .contains("status: deployed")
                .then(|| helm_tool::ReleaseStatus { status: "deployed".into(), chart_version: String::new() })
        })
    } else {
        probe
            .cx
            .runner
            .run(&probe.cx.helm().list_release(name, namespace))
            .ok()
            .map(|o| helm_tool::parse_release(name, &o.stdout).ok().flatten())
    };
    match found {
        None => Finding::fail(format!("helm could not list releases in {namespace}"), "`helm list -A`"),
        Some(None) if optional => Finding::ok(format!("{name} is not installed (optional: setup --grafana)")),
        Some(None) => Finding::fail(
            format!("release {name} is not installed in {namespace}"),
            format!("`interlok-k8s setup --from {}`", if name == "prometheus" { "prometheus" } else { "adapter" }),
        ),
        Some(Some(s)) if s.status == "deployed" => Finding::ok(format!(
            "release {name} deployed{}",
            if s.chart_version.is_empty() { String::new() } else { format!(" (chart {})", s.chart_version) }
        )),
        Some(Some(s)) => Finding::fail(
            format!("release {name} is {}", s.status),
            format!("`helm status {name} -n {namespace}`; rerun `interlok-k8s setup`"),
        ),
    }
}

pub fn release_prometheus(probe: &Probe) -> Finding {
    release(probe, "prometheus", false)
}

pub fn release_adapter(probe: &Probe) -> Finding {
    release(probe, "prometheus-adapter", false)
}

pub fn release_grafana(probe: &Probe) -> Finding {
    release(probe, "grafana", true)
}

/// Exposed for the stages module's pod helpers.
pub fn stuck(pod: &serde_json::Value) -> Option<String> {
    stages::stuck_pod(pod).map(|(name, reason, _, image)| format!("{name} is in {reason} ({image})"))
}
