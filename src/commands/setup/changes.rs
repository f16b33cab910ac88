//! The plan's concrete changes: what setup will install, create or start, from the settings and what
//! preflight found — one short line each, in the order the stages make them.

use crate::cluster::releases;
use crate::context::Context;
use crate::engine::{Plan, StageId};
use crate::preflight::Findings;
use crate::settings::Scaler;
use crate::stages::cluster::start_command;
use crate::stages::network::DEFAULT_SWITCH;
use crate::tools::minikube::ClusterStatus;
use crate::tools::{choco, powershell};

pub(crate) fn changes(cx: &Context, plan: &Plan, findings: Option<&Findings>) -> Vec<String> {
    let runs = |id: StageId| plan.chosen.contains(&id) && plan.stage(id).not_applicable(&cx.settings).is_none();
    let s = &cx.settings;
    let mut lines = Vec::new();
    if let Some(f) = findings.filter(|f| runs(StageId::Prerequisites) && !f.to_install.is_empty()) {
        let packages: Vec<&str> = f.to_install.iter().map(|t| choco::package(t)).collect();
        lines.push(format!(
            "install {} with chocolatey: choco install {} -y --no-progress",
            f.to_install.join(", "),
            packages.join(" ")
        ));
    }
    let driver = findings.and_then(|f| f.driver.clone());
    if runs(StageId::Network) && driver.as_deref() == Some("hyperv") {
        lines.push(switch(cx));
    }
    if runs(StageId::Cluster) {
        lines.push(match (&s.context, findings.and_then(|f| f.cluster.as_ref())) {
            (Some(context), _) => format!("use the cluster of context {context:?}: nothing is started or created"),
            (None, Some(ClusterStatus::Running)) => "use the running minikube cluster: nothing is started".into(),
            (None, Some(ClusterStatus::NotRunning(_))) => {
                format!("start the stopped minikube cluster: {}", start(cx, driver.as_deref()))
            }
            (None, _) => format!(
                "create the minikube cluster{}, {} CPUs and {} MiB of memory: {}",
                driver.as_deref().map(|d| format!(" with the {d} driver")).unwrap_or_default(),
                s.cpus,
                s.memory_mib,
                start(cx, driver.as_deref())
            ),
        });
    }
    for (stage, chart) in [
        (StageId::Prometheus, "prometheus"),
        (StageId::Keda, "keda"),
        (StageId::Adapter, "prometheus-adapter"),
        (StageId::Grafana, "grafana"),
    ] {
        if runs(stage) {
            let release = releases::release(cx, chart);
            lines.push(format!(
                "install the Helm chart {} {} as release {} in namespace {}",
                release.chart, release.version, release.name, release.namespace
            ));
        }
    }
    if runs(StageId::Interlok) {
        lines.push(format!(
            "deploy Interlok ({}) as Deployment and Service {} in namespace {}",
            s.image, s.deployment, s.namespace
        ));
    }
    let scaler = match s.scaler {
        Scaler::Adapter if runs(StageId::Autoscaler) => Some("a HorizontalPodAutoscaler"),
        Scaler::Keda if runs(StageId::ScaledObject) => Some("a KEDA ScaledObject"),
        _ => None,
    };
    if let Some(scaler) = scaler {
        lines.push(format!(
            "scale {} with {scaler} between {} and {} replicas on {}",
            s.deployment, s.min_replicas, s.max_replicas, s.metric
        ));
    }
    lines
}

/// `minikube start` as a user would type it (the stage runs the same arguments with minikube's full path).
fn start(cx: &Context, driver: Option<&str>) -> String {
    let cmd = start_command(cx, driver);
    let args: Vec<String> = cmd.arguments().iter().map(|a| crate::runner::quote(a)).collect();
    format!("minikube {}", args.join(" "))
}

/// The switch line: made on the adapter given or chosen next (with the one carrying the default route
/// recommended), and the network drop that comes with it; or the switch that is there already.
fn switch(cx: &Context) -> String {
    let name = &cx.settings.switch;
    if name == DEFAULT_SWITCH {
        return format!("use Hyper-V's built-in {DEFAULT_SWITCH:?}: nothing is created");
    }
    if powershell::switch_exists(&cx.runner, name).unwrap_or(false) {
        return format!("use the Hyper-V switch {name:?} that is there: nothing is created");
    }
    let adapter = match &cx.settings.adapter {
        Some(adapter) => format!("the network adapter {adapter:?}"),
        None => {
            let route = cx.runner.run(&powershell::default_route_adapter()).map(|o| o.stdout.trim().to_string());
            match route.ok().filter(|r| !r.is_empty()) {
                Some(route) => {
                    format!("the network adapter you choose next (recommended: {route:?}, the default route)")
                }
                None => "the network adapter you choose next".into(),
            }
        }
    };
    format!(
        "create the Hyper-V external switch {name:?} on {adapter}: this computer's network drops for a few seconds while it binds"
    )
}
