//! prerequisites: kubectl and helm (and minikube, unless `--context` names an existing cluster) are on PATH
//! and report readable versions. What is missing is named with the command that installs it here.

use crate::context::Context;
use crate::engine::{Check, Stage, StageId, StageKind};
use crate::platform::Platform;
use crate::problem::Problem;
use crate::runner::exit_problem;
use crate::tools::{self, choco, powershell};

pub struct Prerequisites;

impl Stage for Prerequisites {
    fn id(&self) -> StageId {
        StageId::Prerequisites
    }

    fn summary(&self) -> &'static str {
        "find kubectl, helm and minikube and read their versions"
    }

    fn kind(&self) -> StageKind {
        StageKind::Inspect
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
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
        if cx.settings.platform == Platform::Windows && cx.settings.uses_minikube() {
            found.extend(windows_checks(cx)?);
        }
        if missing.is_empty() {
            return Ok(Check::Done(found.join(", ")));
        }
        Ok(Check::Needed(format!("missing: {}", missing.join(", "))))
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let missing: Vec<&str> = required_tools(cx).into_iter().filter(|t| cx.runner.resolve(t).is_none()).collect();
        let hints: Vec<String> =
            missing.iter().map(|t| format!("{t}: {}", cx.settings.platform.install_hint(t))).collect();
        if cx.settings.platform == Platform::Windows && cx.runner.resolve(choco::PROGRAM).is_some() {
            let packages: Vec<&str> = missing.iter().map(|t| choco::package(t)).collect();
            let question =
                format!("Install {} with chocolatey (choco install {})?", missing.join(", "), packages.join(" "));
            if cx.ui.confirm(&question, true)? {
                require_administrator(cx, &packages)?;
                cx.runner.run(&choco::install(&packages)).map_err(|p| {
                    p.reworded(format!("choco could not install {}", packages.join(" ")))
                        .with_hint("run the shell as administrator, or install them by hand, then run this again")
                })?;
                return Ok(());
            }
        }
        let mut hint = format!("install and run this again — {}", hints.join("; "));
        if cx.settings.platform == Platform::Windows && cx.runner.resolve(choco::PROGRAM).is_none() {
            hint.push_str(
                "; chocolatey itself: see https://chocolatey.org/install (or run scripts/install-prereqs.ps1)",
            );
        }
        Err(Problem::new(format!("{} not found on PATH", missing.join(" and "))).with_hint(hint))
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        match self.check(cx)? {
            Check::Done(evidence) => Ok(evidence),
            Check::Needed(reason) => Err(Problem::new(reason)),
        }
    }
}

/// Windows with minikube: an elevated shell (or Hyper-V Administrators membership) and, for the hyperv
/// driver, Hyper-V itself. Fails before anything is changed, with the way out.
fn windows_checks(cx: &mut Context) -> Result<Vec<String>, Problem> {
    let wants_hyperv = matches!(cx.settings.driver.as_str(), "auto" | "hyperv");
    if !wants_hyperv {
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
            let enable = "in an elevated PowerShell run `Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All`, reboot, and run this again (or choose --driver docker)";
            let hint = match state {
                Some(_) => enable.to_string(),
                // unelevated, Windows does not say whether it is enabled and waits for a reboot
                None => format!("{enable}; if you enabled it already, Windows starts it only after a reboot"),
            };
            return Err(Problem::new("Hyper-V is not running, and --driver hyperv needs it").with_hint(hint));
        }
        return Ok(vec!["Hyper-V off (another driver will be used)".into()]);
    }
    let cmd = powershell::elevation();
    let output = cx.runner.run(&cmd)?;
    let roles = powershell::parse_bools(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?;
    let (admin, hyperv_admin) = (roles.first() == Some(&true), roles.get(1) == Some(&true));
    if !admin && !hyperv_admin {
        return Err(Problem::new("this shell is not elevated: minikube's Hyper-V driver needs Administrator rights (or membership of Hyper-V Administrators)")
            .with_hint("close this window, right-click Windows PowerShell (or Windows Terminal), choose \"Run as administrator\", and run `interlok-k8s setup` again"));
    }
    Ok(vec![format!("Hyper-V on, {}", if admin { "elevated" } else { "Hyper-V Administrators member" })])
}

/// The Hyper-V feature's state (`Enabled`, `Disabled`, `EnablePending`), when Windows tells (it needs an
/// elevated shell; unelevated, None).
fn feature_state(cx: &Context) -> Option<String> {
    let output = cx.runner.run(&powershell::hyperv_feature_state()).ok()?;
    let state = output.stdout.trim().trim_start_matches('\u{feff}').to_string();
    (!state.is_empty()).then_some(state)
}

/// chocolatey installs for the whole machine: that needs Administrator, which membership of Hyper-V
/// Administrators (enough for minikube) is not. Asked before choco runs, so nothing half-installs.
fn require_administrator(cx: &Context, packages: &[&str]) -> Result<(), Problem> {
    let cmd = powershell::elevation();
    let output = cx.runner.run(&cmd)?;
    let roles = powershell::parse_bools(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?;
    if roles.first() == Some(&true) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "`choco install {}` needs an elevated shell (Administrator), and this one is not elevated{}",
        packages.join(" "),
        if roles.get(1) == Some(&true) {
            " — membership of Hyper-V Administrators lets minikube use Hyper-V, but installing software needs Administrator"
        } else {
            ""
        }
    ))
    .with_hint("right-click Windows PowerShell (or Windows Terminal), choose \"Run as administrator\", and run `interlok-k8s setup` again — or install the tools yourself and rerun"))
}

fn required_tools(cx: &Context) -> Vec<&'static str> {
    let mut tools = vec!["kubectl", "helm"];
    if cx.settings.uses_minikube() {
        tools.push("minikube");
    }
    tools
}
