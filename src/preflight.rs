//! Preflight: what this machine has, asked before the plan is shown and before anything changes — the tools
//! and their versions, on Windows the shell's elevation and Hyper-V, and a minikube driver that can run the
//! cluster. What setup cannot fix (a shell that is not elevated, no usable driver, a tool that cannot be
//! installed here) stops setup before its first change, with the fix; what it can fix (a tool chocolatey
//! installs) becomes a line of the plan. The prerequisites stage and `verify --pre` ask through these same
//! functions, so the three never disagree.

use std::time::Duration;

use crate::context::Context;
use crate::platform::Platform;
use crate::problem::Problem;
use crate::runner::{exit_problem, Cmd};
use crate::tools::minikube::ClusterStatus;
use crate::tools::{self, choco, powershell};

/// What preflight found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// What is there, one line each ("kubectl v1.33.1", "minikube driver hyperv: Hyper-V is enabled").
    pub(crate) found: Vec<String>,
    /// Tools setup installs with chocolatey (shown in the plan).
    pub(crate) to_install: Vec<&'static str>,
    /// What setup cannot fix, each with its fix: setup stops before its first change.
    pub(crate) blockers: Vec<Problem>,
    /// The minikube driver setup will use (None: an existing cluster or `--context`).
    pub(crate) driver: Option<String>,
    /// The minikube cluster as it is now (None with `--context`, or without minikube to ask).
    pub(crate) cluster: Option<ClusterStatus>,
}

/// Asks every preflight question; never changes anything.
pub(crate) fn run(cx: &mut Context) -> Findings {
    let mut findings = Findings::default();
    match tools(cx) {
        Ok((found, missing)) => {
            findings.found.extend(found);
            if !missing.is_empty() {
                match installable(cx, &missing) {
                    Ok(()) => findings.to_install = missing,
                    Err(problem) => findings.blockers.push(problem),
                }
            }
        }
        Err(problem) => findings.blockers.push(problem),
    }
    if !cx.settings.uses_minikube() {
        findings.found.push(NO_DRIVER_NEEDED.into());
        return findings;
    }
    // what `machine` asks, each answer kept: a blocker in one does not hide what the other found
    let windows = match cx.settings.platform {
        Platform::Windows => windows(cx),
        _ => Ok(Vec::new()),
    };
    for asked in [windows, driver(cx).map(|found| vec![found])] {
        match asked {
            Ok(found) => findings.found.extend(found),
            Err(problem) => findings.blockers.push(problem),
        }
    }
    findings.cluster = cluster(cx);
    findings.driver = choose_driver(cx).0;
    findings
}

const NO_DRIVER_NEEDED: &str = "no minikube driver needed: the cluster is the existing context";

/// The tools setup needs: kubectl and helm, and minikube unless `--context` names an existing cluster.
pub(crate) fn required_tools(cx: &Context) -> Vec<&'static str> {
    let mut tools = vec!["kubectl", "helm"];
    if cx.settings.uses_minikube() {
        tools.push("minikube");
    }
    tools
}

/// Each required tool found on PATH with its version ("helm v4.1.4"), and those missing. A tool that is
/// there but prints no readable version is an error: it would fail later in a less clear way.
pub(crate) fn tools(cx: &Context) -> Result<(Vec<String>, Vec<&'static str>), Problem> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for tool in required_tools(cx) {
        match cx.runner.resolve(tool) {
            Some(path) => {
                let version = tools::read_version(&cx.runner, tool, &path.display().to_string())?;
                found.push(format!("{tool} {version}"));
            }
            None => missing.push(tool),
        }
    }
    Ok((found, missing))
}

/// Whether setup can install these missing tools itself: with chocolatey, in an elevated shell, on Windows.
/// Otherwise the problem names each one with the command that installs it here.
pub(crate) fn installable(cx: &Context, missing: &[&str]) -> Result<(), Problem> {
    let windows = cx.settings.platform == Platform::Windows;
    let has_choco = cx.runner.resolve(choco::PROGRAM).is_some();
    if windows && has_choco {
        let packages: Vec<&str> = missing.iter().map(|t| choco::package(t)).collect();
        return require_administrator(cx, &packages);
    }
    let hints: Vec<String> = missing.iter().map(|t| format!("{t}: {}", cx.settings.platform.install_hint(t))).collect();
    let mut hint = format!("install and run this again — {}", hints.join("; "));
    if windows {
        hint.push_str("; chocolatey itself: see https://chocolatey.org/install (or run scripts/install-prereqs.ps1)");
    }
    Err(Problem::new(format!("{} not found on PATH", missing.join(" and "))).with_hint(hint))
}

/// chocolatey installs for the whole machine: that needs Administrator, which membership of Hyper-V
/// Administrators (enough for minikube) is not.
fn require_administrator(cx: &Context, packages: &[&str]) -> Result<(), Problem> {
    let roles = elevation(cx)?;
    if roles.0 {
        return Ok(());
    }
    Err(Problem::new(format!(
        "`choco install {}` needs an elevated shell (Administrator), and this one is not elevated{}",
        packages.join(" "),
        if roles.1 {
            " — membership of Hyper-V Administrators lets minikube use Hyper-V, but installing software needs Administrator"
        } else {
            ""
        }
    ))
    .with_hint(format!("{RUN_AS_ADMINISTRATOR} — or install the tools yourself and rerun")))
}

const RUN_AS_ADMINISTRATOR: &str = "close this window, right-click Windows PowerShell (or Windows Terminal), choose \"Run as administrator\", and run `interlok-k8s setup` again";

/// (Administrator, member of Hyper-V Administrators) for this shell.
fn elevation(cx: &Context) -> Result<(bool, bool), Problem> {
    let cmd = powershell::elevation();
    let output = cx.runner.run(&cmd)?;
    let roles = powershell::parse_bools(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?;
    Ok((roles.first() == Some(&true), roles.get(1) == Some(&true)))
}

/// What the machine must offer minikube: on Windows with the Hyper-V driver, Hyper-V running and an
/// elevated shell; on every platform a driver that can make a new cluster. Nothing to ask with `--context`.
pub(crate) fn machine(cx: &mut Context) -> Result<Vec<String>, Problem> {
    if !cx.settings.uses_minikube() {
        return Ok(vec![NO_DRIVER_NEEDED.into()]);
    }
    let mut found = Vec::new();
    if cx.settings.platform == Platform::Windows {
        found.extend(windows(cx)?);
    }
    found.push(driver(cx)?);
    Ok(found)
}

/// Windows with minikube's Hyper-V driver (chosen, or `auto`): Hyper-V running (a reboot pending is said
/// so) and an elevated shell, or membership of Hyper-V Administrators.
fn windows(cx: &mut Context) -> Result<Vec<String>, Problem> {
    if !matches!(cx.settings.driver.as_str(), "auto" | "hyperv") {
        return Ok(Vec::new());
    }
    let cmd = powershell::hypervisor_present();
    let output = cx.runner.run(&cmd)?;
    let hyperv =
        powershell::parse_bools(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?.first()
            == Some(&true);
    cx.facts.hyperv_enabled = Some(hyperv);
    let state = if hyperv { None } else { feature_state(cx) };
    if state.as_deref() == Some("EnablePending") {
        return Err(Problem::new("Hyper-V is enabled but not running yet: Windows waits for a reboot to start it")
            .with_hint("restart Windows, then run this again (or pass --driver docker to use Docker instead)"));
    }
    if !hyperv {
        if cx.settings.driver == "hyperv" {
            let hint = match state {
                Some(_) => ENABLE_HYPERV.to_string(),
                // unelevated, Windows does not say whether it is enabled and waits for a reboot
                None => format!("{ENABLE_HYPERV}; if you enabled it already, Windows starts it only after a reboot"),
            };
            return Err(Problem::new("Hyper-V is not running, and --driver hyperv needs it").with_hint(hint));
        }
        // the driver's finding says which one runs the cluster instead, or that none can
        return Ok(Vec::new());
    }
    let (admin, hyperv_admin) = elevation(cx)?;
    if !admin && !hyperv_admin {
        return Err(Problem::new("this shell is not elevated: minikube's Hyper-V driver needs Administrator rights (or membership of Hyper-V Administrators)")
            .with_hint(RUN_AS_ADMINISTRATOR));
    }
    Ok(vec![format!(
        "Hyper-V is running; this shell is {}",
        if admin { "elevated (Administrator)" } else { "a member of Hyper-V Administrators" }
    )])
}

const ENABLE_HYPERV: &str = "in an elevated PowerShell run `Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All`, reboot, and run this again (or choose --driver docker)";

/// The Hyper-V feature's state (`Enabled`, `Disabled`, `EnablePending`), when Windows tells (it needs an
/// elevated shell; unelevated, None).
fn feature_state(cx: &Context) -> Option<String> {
    let output = cx.runner.run(&powershell::hyperv_feature_state()).ok()?;
    let state = output.stdout.trim().trim_start_matches('\u{feff}').to_string();
    (!state.is_empty()).then_some(state)
}

/// The minikube driver that will run the cluster, and why; an existing cluster keeps the driver it was made
/// with. With none usable, the problem says what to install for this platform.
pub(crate) fn driver(cx: &mut Context) -> Result<String, Problem> {
    let (driver, why) = choose_driver(cx);
    if let Some(driver) = driver {
        return Ok(format!("minikube driver {driver}: {why}"));
    }
    match cluster_status(cx) {
        Ok(Some(ClusterStatus::Missing) | None) => Err(no_driver(cx.settings.platform)),
        Ok(Some(_)) => Ok("the existing minikube cluster keeps the driver it was made with".into()),
        Err(problem) => {
            let fix = no_driver(cx.settings.platform).hint.unwrap_or_default();
            Err(problem
                .reworded("no minikube driver was found here, and `minikube status` does not say whether a cluster exists (one keeps its driver)")
                .with_hint(format!("run `minikube status` yourself to see what it says; or {fix}")))
        }
    }
}

/// `--driver`, or the best driver this machine has, and why.
pub(crate) fn choose_driver(cx: &mut Context) -> (Option<String>, String) {
    if cx.settings.driver != "auto" {
        return (Some(cx.settings.driver.clone()), "chosen with --driver".into());
    }
    if let Some(chosen) = cx.facts.driver.clone() {
        return (Some(chosen.0), chosen.1);
    }
    if cx.settings.platform == Platform::Windows && cx.facts.hyperv_enabled.is_none() {
        // run alone (`--only network`), no earlier stage has asked yet
        let present = cx.runner.run(&powershell::hypervisor_present()).ok();
        cx.facts.hyperv_enabled =
            present.and_then(|o| powershell::parse_bools(&o.stdout).ok()).map(|b| b.first() == Some(&true));
    }
    let docker_answers = || {
        let cmd =
            Cmd::query("docker").args(["version", "--format", "{{.Server.Version}}"]).timeout(Duration::from_secs(20));
        cx.runner.resolve("docker").is_some() && cx.runner.run(&cmd).is_ok()
    };
    let chosen = match cx.settings.platform {
        Platform::Windows if cx.facts.hyperv_enabled == Some(true) => Some(("hyperv", "Hyper-V is enabled")),
        _ if docker_answers() => Some(("docker", "a Docker engine answers")),
        Platform::Linux if cx.runner.resolve("virsh").is_some() => Some(("kvm2", "libvirt (virsh) is installed")),
        Platform::Linux if cx.runner.resolve("podman").is_some() => Some(("podman", "podman is installed")),
        Platform::Macos if cx.runner.resolve("hyperkit").is_some() => Some(("hyperkit", "hyperkit is installed")),
        // minikube's qemu driver runs the QEMU system emulator for the Mac's architecture
        Platform::Macos
            if ["qemu-system-x86_64", "qemu-system-aarch64"].iter().any(|q| cx.runner.resolve(q).is_some()) =>
        {
            Some(("qemu", "QEMU is installed"))
        }
        _ => None,
    };
    match chosen {
        Some((driver, why)) => {
            cx.facts.driver = Some((driver.to_string(), why.to_string()));
            (Some(driver.into()), why.into())
        }
        // preflight refuses this unless a cluster exists already (it keeps its driver)
        None => (None, "no driver found here: the existing cluster keeps the one it was made with".into()),
    }
}

fn no_driver(platform: Platform) -> Problem {
    let (what, fix) = match platform {
        Platform::Windows => (
            "Hyper-V is not running and no Docker engine answers",
            format!("enable Hyper-V ({ENABLE_HYPERV}), or install and start Docker Desktop"),
        ),
        Platform::Linux => (
            "no Docker engine answers, and neither libvirt (virsh, for the kvm2 driver) nor podman is installed",
            "install and start Docker (https://docs.docker.com/engine/install/), or install libvirt or podman, and run this again".into(),
        ),
        Platform::Macos => (
            "no Docker engine answers, and neither hyperkit nor QEMU is installed",
            "start Docker Desktop, or `brew install qemu` for the qemu driver, and run this again".into(),
        ),
    };
    Problem::new(format!("no minikube driver can run a cluster here: {what}"))
        .with_hint(format!("{fix} — or pass --driver NAME, or --context to use a cluster you already have"))
}

/// The minikube cluster's state, when minikube is there to ask and answers.
fn cluster(cx: &Context) -> Option<ClusterStatus> {
    cluster_status(cx).ok().flatten()
}

/// The minikube cluster's state; None without minikube on PATH.
fn cluster_status(cx: &Context) -> Result<Option<ClusterStatus>, Problem> {
    if cx.runner.resolve("minikube").is_none() {
        return Ok(None);
    }
    crate::cluster::server::minikube_status(cx)?.state().map(Some)
}
