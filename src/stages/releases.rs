//! What the chart stages share: which chart a release comes from on this Helm, and installing or checking
//! it with the syntax the installed Helm speaks (v3/v4: `upgrade --install … --create-namespace`; v2: the
//! archived stable charts, `--namespace`, integer `--timeout`).

use crate::cluster::Reader;
use crate::context::Context;
use crate::problem::Problem;
use crate::record::Created;
use crate::runner::exit_problem;
use crate::tools::helm::Release;

pub use crate::cluster::releases::{release, status};

/// Done when deployed at the wanted chart version; otherwise says what is needed.
pub fn needs_install(cx: &Context, release: &Release) -> Result<Option<String>, Problem> {
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
pub fn values_differ(cx: &Context, release: &Release, values_yaml: &str) -> Result<Option<String>, Problem> {
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

/// Installs or upgrades; a release that did not exist before is recorded as the wizard's (with its
/// namespace, when Helm created that too).
pub fn install(cx: &mut Context, release: &Release, values: &str) -> Result<(), Problem> {
    let existed = status(cx, release).ok().flatten().is_some();
    let namespace_existed = cx.get("namespace", "", &release.namespace).is_ok_and(|found| found.is_some());
    install_release(cx, release, values)?;
    if !namespace_existed {
        cx.created(Created::Namespace { name: release.namespace.clone() });
    }
    if !existed {
        cx.created(Created::Release { name: release.name.clone(), namespace: release.namespace.clone() });
    }
    Ok(())
}

fn install_release(cx: &Context, release: &Release, values: &str) -> Result<(), Problem> {
    let wait = cx.settings.wait_timeout;
    let cmd = if cx.helm_major() == 2 {
        cx.helm().upgrade_install_v2(release, values, wait)
    } else {
        cx.helm().upgrade_install(release, values, wait)
    };
    cx.runner.run(&cmd).map_err(|p| {
        let text = p.output_text();
        let hint = if text.contains("timed out") || text.contains("context deadline exceeded") {
            format!("the release's pods did not become ready in time: see `kubectl get pods -n {}`", release.namespace)
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
