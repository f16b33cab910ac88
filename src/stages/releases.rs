//! What the chart stages share: which chart a release comes from on this Helm, and installing or checking
//! it with the syntax the installed Helm speaks (v3/v4: `upgrade --install … --create-namespace`; v2: the
//! archived stable charts, `--namespace`, integer `--timeout`). A release that exists and is not in the
//! record is someone else's: setup stops (unless `--adopt`). One the wizard recorded that an interrupted run
//! left pending or failed is repaired first, as Helm itself advises.

use crate::cluster::ownership::{self, Owner, ADOPTED_ANNOTATION};
use crate::context::Context;
use crate::problem::Problem;
use crate::record::{Created, State};
use crate::runner::{exit_problem, Cmd};
use crate::settings::MANAGED_BY_LABEL;
use crate::tools::helm::{self, Release, ReleaseStatus};

use crate::cluster::releases::fetch_status;
pub(crate) use crate::cluster::releases::{release, status};

/// Done when deployed at the wanted chart version; otherwise says what is needed.
pub(crate) fn needs_install(cx: &Context, release: &Release) -> Result<Option<String>, Problem> {
    Ok(match status(cx, release)? {
        None => Some(format!("release {} is not installed", release.name)),
        Some(s) if s.status != "deployed" => Some(format!("release {} is {}", release.name, s.status)),
        Some(s) if s.chart_version != release.version => Some(format!(
            "release {} has chart {}, the wizard installs {}",
            release.name, s.chart_version, release.version
        )),
        Some(_) => None,
    })
}

/// Whether the release runs with other values than the wizard's (someone changed them with `helm upgrade
/// --set`, say): the settings are then not applied, whatever the chart version says.
pub(crate) fn values_differ(cx: &Context, release: &Release, values_yaml: &str) -> Result<Option<String>, Problem> {
    if cx.helm_major() == 2 {
        return Ok(None); // Helm 2 prints values as YAML with no stable form to compare: the chart check stands
    }
    let cmd = cx.helm().get_values(&release.name, &release.namespace);
    let output = cx.runner.run(&cmd)?;
    let installed: serde_json::Value = serde_json::from_str(output.stdout.trim())
        .map_err(|e| exit_problem(&cmd, &output).reworded(format!("helm printed values that are not JSON ({e})")))?;
    let wanted: serde_json::Value = serde_yaml::from_str(values_yaml)
        .map_err(|e| Problem::new(format!("the wizard's values for {} are not YAML ({e})", release.name)))?;
    Ok((installed != wanted).then(|| format!("release {} runs with values other than the wizard's", release.name)))
}

/// Installs or upgrades a release the wizard owns (recorded as intended first, created after), in a
/// namespace it makes when missing; repairs one an interrupted run left pending or failed.
pub(crate) fn install(cx: &mut Context, release: &Release, values: &str) -> Result<(), Problem> {
    let found = match status(cx, release) {
        Ok(found) => found,
        Err(_) if cx.runner.dry_run() => None,
        Err(problem) => return Err(problem),
    };
    let owner = ownership::release(cx, release, found.is_some());
    let item = Created::Release { name: release.name.clone(), namespace: release.namespace.clone() };
    let what = format!("Helm release {} in namespace {}", release.name, release.namespace);
    if owner == Owner::Foreign && !cx.settings.adopt {
        return Err(super::owned::foreign_problem(&[what], "--monitoring-namespace NS"));
    }
    if let (Owner::Foreign | Owner::Adopted, Some(found)) = (owner, &found) {
        if unfinished(&found.status) {
            return Err(Problem::new(format!("{what} is {} and is not the wizard's to repair", found.status))
                .with_hint(format!(
                    "see `helm history {} -n {}`: roll it back (`helm rollback`) or uninstall it, then run this again",
                    release.name, release.namespace
                )));
        }
    }
    let namespace = release.namespace.clone();
    super::owned::ensure_namespace(cx, &namespace)?;
    match owner {
        Owner::Absent => cx.intend(item.clone())?,
        Owner::Foreign => {
            // write-ahead: an adoption is recorded before the release is changed
            cx.confirm(item.clone(), State::Adopted);
            cx.note(format!("adopted {what} (--adopt): teardown leaves it in place unless --include-adopted"));
        }
        Owner::Ours => {
            if let Some(found) = &found {
                recover(cx, release, found)?;
            }
        }
        Owner::Adopted => {}
    }
    install_release(cx, release, values, matches!(owner, Owner::Foreign | Owner::Adopted))?;
    if matches!(owner, Owner::Absent | Owner::Ours) && cx.recorded(&item) != Some(State::Created) {
        cx.confirm(item, State::Created);
    }
    Ok(())
}

/// How often the pods helm waits for are looked at while it runs.
const POD_LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs helm's install showing what it waits for: helm prints nothing until it is done, so the release's
/// Deployments and pods are looked at every few seconds meanwhile (the stage's live status).
fn run_showing_pods(cx: &Context, release: &Release, cmd: &Cmd) -> Result<crate::runner::Output, Problem> {
    if cx.runner.dry_run() {
        return cx.runner.run(cmd);
    }
    let _running = cx.ui.announce(format!("running {}", cmd.brief()));
    let what = format!("helm waits for release {}", release.name);
    let status = cx.ui.spinner(&what);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let (what, status) = (&what, &status);
        scope.spawn(move || {
            while finished.recv_timeout(POD_LOOK_EVERY) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                cx.runner.look_again(); // the pods have moved on since the last look
                if let Ok(waiting) = crate::cluster::pods::release_progress(cx, &release.name, &release.namespace) {
                    status.set_message(&format!("{what}: {waiting}"));
                }
            }
        });
        let result = cx.runner.run(cmd);
        drop(done);
        result
    })
}

/// A state Helm refuses to upgrade from (pending) or that an interrupted or failed run left.
fn unfinished(status: &str) -> bool {
    status.starts_with("pending-") || status == "failed"
}

/// Repairs a release of the wizard's that a run left unfinished, as Helm advises: a pending install (or a
/// failed one) is uninstalled and installed again; a pending upgrade or rollback is rolled back to the last
/// deployed revision; a failed upgrade is simply upgraded again.
fn recover(cx: &mut Context, release: &Release, found: &ReleaseStatus) -> Result<(), Problem> {
    if !unfinished(&found.status) {
        return Ok(());
    }
    let (name, namespace) = (release.name.as_str(), release.namespace.as_str());
    let earlier = last_good_revision(cx, release)?;
    let left = format!("release {name} was left {} by an earlier run", found.status);
    match (found.status.as_str(), earlier) {
        ("failed", Some(_)) => {
            cx.note(format!("{left}: upgrading it again"));
        }
        ("pending-upgrade" | "pending-rollback", Some(revision)) => {
            let cmd = cx.helm().rollback(name, namespace, revision, cx.settings.wait_timeout);
            if let Err(problem) = cx.runner.run(&cmd) {
                let failed = format!("{left}, and rolling it back to revision {revision} failed");
                // Helm records a rollback it could not finish as failed — e.g. "original object … not found",
                // when the interrupted upgrade had not yet removed what the new chart drops — and a failed
                // release can be upgraded again
                if fetch_status(cx, release)?.is_some_and(|now| now.status == "failed") {
                    let why = problem.output_text().lines().rev().find(|l| l.starts_with("Error:")).map(str::to_string);
                    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                    cx.note(format!("{failed}{why}: upgrading it instead"));
                    return Ok(());
                }
                return Err(problem.reworded(failed).with_hint(format!("see `helm history {name} -n {namespace}`")));
            }
            cx.note(format!("{left}: rolled it back to revision {revision} (as Helm advises), then upgraded it"));
        }
        _ => {
            let cmd =
                if cx.helm_major() == 2 { cx.helm().delete_v2(name) } else { cx.helm().uninstall(name, namespace) };
            cx.runner.run(&cmd).map_err(|p| {
                p.reworded(format!("{left}, and uninstalling it to install it again failed"))
                    .with_hint(format!("see `helm status {name} -n {namespace}`"))
            })?;
            cx.note(format!("{left}: uninstalled it and installed it again (as Helm advises)"));
        }
    }
    Ok(())
}

/// The newest revision that was deployed (superseded counts: it was deployed before the failed one).
fn last_good_revision(cx: &Context, release: &Release) -> Result<Option<u64>, Problem> {
    if cx.helm_major() == 2 {
        return Ok(None); // Helm 2 (end-of-life) is only reinstalled
    }
    let cmd = cx.helm().history(&release.name, &release.namespace);
    let output = cx.runner.run(&cmd)?;
    let revisions = helm::parse_history(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?;
    Ok(revisions.iter().filter(|r| matches!(r.status.as_str(), "deployed" | "superseded")).map(|r| r.revision).max())
}

/// The repository helm names in `Error: repo <name> not found` (a chart asked for by a repository that was
/// never added, e.g. `setup --only prometheus` on a machine where the helm stage has not run).
fn missing_repository(helm_output: &str) -> Option<&str> {
    helm_output.lines().find_map(|line| line.trim().strip_prefix("Error: repo ")?.strip_suffix(" not found"))
}

fn install_release(cx: &Context, release: &Release, values: &str, adopted: bool) -> Result<(), Problem> {
    let wait = cx.settings.wait_timeout;
    let mut cmd = if cx.helm_major() == 2 {
        cx.helm().upgrade_install_v2(release, values, wait)
    } else {
        cx.helm().upgrade_install(release, values, wait)
    };
    if cx.helm_found().is_some_and(|f| helm::keeps_labels(f.version)) {
        // on the release's own record, so `teardown --from-labels` finds it without the wizard's record
        let mut labels = format!("{}={}", MANAGED_BY_LABEL.0, MANAGED_BY_LABEL.1);
        if adopted {
            labels.push_str(&format!(",{ADOPTED_ANNOTATION}=true"));
        }
        cmd = cmd.args(["--labels", &labels]);
    }
    run_showing_pods(cx, release, &cmd).map_err(|p| {
        let text = p.output_text();
        let hint = if text.contains("timed out") || text.contains("context deadline exceeded") {
            format!("the release's pods did not become ready in time: see `kubectl get pods -n {}`", release.namespace)
        } else if let Some(repo) = missing_repository(&text) {
            format!("the chart repository {repo} is not added here: run `interlok-k8s setup --only helm` to add it")
        } else if text.contains("not found") && text.contains("chart") {
            "the chart or version was not found: run `interlok-k8s setup --only helm` to refresh the repositories"
                .to_string()
        } else {
            format!(
                "see `helm status {} -n {}` and `kubectl get events -n {}`",
                release.name, release.namespace, release.namespace
            )
        };
        p.reworded(format!("helm could not install {} {}", release.chart, release.version)).with_hint(hint)
    })?;
    Ok(())
}
