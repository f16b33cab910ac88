//! Helm releases: which chart a release comes from on the installed Helm, what state it is in (Helm 2 keeps
//! releases in tiller and prints text; Helm 3/4 list them as JSON), and the chart repositories Helm knows.

use super::Reader;
use crate::context::Context;
use crate::problem::Problem;
use crate::runner::exit_problem;
use crate::tools::helm::{self, Release, ReleaseStatus, RepoEntry};
use crate::tools::helm_storage;

/// The archived stable repository's last versions, the only chart source on Helm 2.
const STABLE_VERSIONS: [(&str, &str); 3] =
    [("prometheus", "11.12.1"), ("prometheus-adapter", "2.5.1"), ("grafana", "5.5.7")];

/// The release of `chart` (prometheus, prometheus-adapter, grafana, keda) for this Helm and these settings.
pub(crate) fn release(cx: &Context, chart: &str) -> Release {
    if chart == "keda" {
        let version = cx.settings.chart_versions.get(chart).cloned().unwrap_or_default();
        let namespace = cx.settings.keda_namespace.clone();
        return Release { name: chart.into(), chart: "kedacore/keda".into(), version, namespace };
    }
    let namespace = cx.settings.monitoring_namespace.clone();
    if cx.helm_major() == 2 {
        let version = STABLE_VERSIONS.iter().find(|(c, _)| *c == chart).map(|(_, v)| v.to_string()).unwrap_or_default();
        return Release { name: chart.into(), chart: format!("stable/{chart}"), version, namespace };
    }
    let repo = if chart == "grafana" { "grafana-community" } else { "prometheus-community" };
    let version = cx.settings.chart_versions.get(chart).cloned().unwrap_or_default();
    Release { name: chart.into(), chart: format!("{repo}/{chart}"), version, namespace }
}

/// The release's status (deployed, failed, pending-install, pending-upgrade, …), or None when it is not
/// installed: asked afresh through the context (a wait's every round), once per look through a probe.
pub(crate) fn status(reader: &(impl Reader + ?Sized), release: &Release) -> Result<Option<ReleaseStatus>, Problem> {
    reader.release(release)
}

/// Asks Helm for the release's status.
pub(crate) fn fetch_status(cx: &Context, release: &Release) -> Result<Option<ReleaseStatus>, Problem> {
    if cx.helm_major() == 2 {
        let cmd = cx.helm().status_v2(&release.name);
        let output = cx.runner.run_unchecked(&cmd)?;
        if !output.success() {
            return Ok(None);
        }
        let status = output
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("STATUS:"))
            // Helm 2 writes PENDING_INSTALL where Helm 3 writes pending-install
            .map(|s| s.trim().to_ascii_lowercase().replace('_', "-"))
            .unwrap_or_default();
        return Ok(Some(ReleaseStatus { status, chart_version: release.version.clone() }));
    }
    let cmd = cx.helm().list_release(&release.name, &release.namespace);
    let output = cx.runner.run(&cmd)?;
    helm::parse_release(&release.name, &output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))
}

/// The releases of a namespace (Helm 3 and 4): `helm list`'s items, one answer for every release asked about.
pub(crate) fn fetch_list(cx: &Context, namespace: &str) -> Result<Vec<serde_json::Value>, Problem> {
    let mut cmd = cx.helm().list_releases(namespace);
    if helm_storage::readable_from_secrets(std::env::vars()) {
        cmd = cx.kubectl().helm_list_via_api(cmd, namespace);
    }
    let output = cx.runner.run(&cmd)?;
    helm::list_items(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))
}

/// The chart repositories Helm knows (`helm repo list`), asked once until the wizard adds, updates or removes
/// one (or Helm 2's `helm init` adds stable).
pub(crate) fn repositories(cx: &Context) -> Result<Vec<RepoEntry>, Problem> {
    let cmd = cx.helm().repo_list();
    let output = cx.runner.remembered(&cmd, &["helm repo", "helm init"])?;
    helm::parse_repo_list(output.code, &output.stdout, &output.stderr)
        .map_err(|why| exit_problem(&cmd, &output).reworded(why))
}
