//! helm: Helm 3/4 need no tiller (the stage says so) and get the chart repositories the later stages use,
//! added idempotently from the settings (mirrors welcome). Helm 2 is end-of-life: after a warning and
//! consent, tiller gets its service account and cluster-admin binding and `helm init`, and the archived
//! stable repository is the only chart source.

use crate::cluster::releases::repositories;
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::problem::Problem;
use crate::tools::helm as helm_tool;
use crate::version::Version;

pub(crate) struct Helm;

impl Stage for Helm {
    fn id(&self) -> StageId {
        StageId::Helm
    }

    /// Repositories need no cluster, so they are added while minikube starts; tiller (Helm 2) needs it.
    fn after(&self, cx: &Context) -> &'static [StageId] {
        if cx.helm_major() == 2 {
            &[StageId::VersionSkew]
        } else {
            &[StageId::KubectlPath]
        }
    }

    fn summary(&self) -> &'static str {
        "detect Helm's major version (tiller on Helm 2) and add the chart repositories"
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let version = helm_version(cx)?;
        if version.major == 2 {
            return helm2_check(cx);
        }
        cx.note(format!("Helm {version} keeps releases in the cluster itself: no tiller to install"));
        let missing = missing_repos(cx)?;
        if missing.is_empty() {
            return Ok(Check::Done(format!(
                "Helm {version}; repositories {} present",
                wanted_repos(cx).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Check::Needed(format!(
            "repositories to add: {}",
            missing.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        )))
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        if helm_version(cx)?.major == 2 {
            return helm2_apply(cx);
        }
        let dry_run = cx.runner.dry_run();
        let present = repositories(cx).or_else(|p| if dry_run { Ok(Vec::new()) } else { Err(p) })?;
        let missing = missing_repos(cx).or_else(|p| if dry_run { Ok(wanted_repos(cx)) } else { Err(p) })?;
        for (name, url) in &missing {
            // same name with another URL: the settings win
            let taken = present.iter().any(|r| &r.name == name);
            if !taken {
                cx.intend(crate::record::Created::Repository { name: name.clone() })?;
            }
            cx.runner.run(&cx.helm().repo_add(name, url, taken))?;
            if !taken {
                cx.created(crate::record::Created::Repository { name: name.clone() });
            }
        }
        let names: Vec<String> = if helm_version(cx)? >= Version::new(3, 7, 0) {
            missing.iter().map(|(n, _)| n.clone()).collect()
        } else {
            Vec::new()
        };
        cx.runner.run(&cx.helm().repo_update(&names))?;
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        if helm_version(cx)?.major == 2 {
            return helm2_validate(cx);
        }
        let missing = missing_repos(cx)?;
        if !missing.is_empty() {
            return Err(Problem::new(format!("helm repo add finished but {} is not listed", missing[0].0)));
        }
        Ok(format!(
            "repositories {} ready",
            wanted_repos(cx).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ))
    }
}

fn helm_version(cx: &mut Context) -> Result<Version, Problem> {
    if let Some(found) = cx.helm_found() {
        return Ok(found.version);
    }
    let cmd = cx.helm().version_short();
    let version = cx.runner.run_unchecked(&cmd).and_then(|output| {
        helm_tool::parse_short_version(&output.stdout)
            .map_err(|why| crate::runner::exit_problem(&cmd, &output).reworded(why))
    });
    match version {
        // a dry run without helm plans for today's Helm
        Err(_) if cx.runner.dry_run() => Ok(Version::new(3, 17, 0)),
        other => other,
    }
}

/// The repositories the later stages install from, with the URLs the settings give.
fn wanted_repos(cx: &Context) -> Vec<(String, String)> {
    let mut names = vec!["prometheus-community"];
    if cx.settings.grafana {
        names.push("grafana-community");
    }
    if cx.settings.scaler == crate::settings::Scaler::Keda {
        names.push("kedacore");
    }
    names.into_iter().filter_map(|n| cx.settings.chart_repos.get(n).map(|u| (n.to_string(), u.clone()))).collect()
}

fn missing_repos(cx: &Context) -> Result<Vec<(String, String)>, Problem> {
    let present = repositories(cx)?;
    // compared without credentials: helm lists the bare URL (and used to list what it was given)
    let bare = |u: &str| helm_tool::RepoUrl::parse(u).url.trim_end_matches('/').to_string();
    let same = |a: &str, b: &str| bare(a) == bare(b);
    Ok(wanted_repos(cx).into_iter().filter(|(n, u)| !present.iter().any(|r| &r.name == n && same(&r.url, u))).collect())
}

const TILLER_RBAC: &str = r#"{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "ServiceAccount",
   "metadata": {"name": "tiller", "namespace": "kube-system", "labels": {"app.kubernetes.io/managed-by": "interlok-k8s"}}},
  {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
   "metadata": {"name": "tiller", "labels": {"app.kubernetes.io/managed-by": "interlok-k8s"}},
   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
   "subjects": [{"kind": "ServiceAccount", "name": "tiller", "namespace": "kube-system"}]}]}"#;

fn tiller_ready(cx: &Context) -> bool {
    let cmd = cx.kubectl().ready_replicas("kube-system", "tiller-deploy");
    cx.runner.run(&cmd).is_ok_and(|o| o.stdout.trim().parse::<u32>().is_ok_and(|n| n > 0))
}

fn helm2_check(cx: &mut Context) -> Result<Check, Problem> {
    cx.warn("Helm 2 has been end-of-life since November 2020, and its tiller runs with cluster-admin rights; Helm 3 or 4 is the safer choice (choco install kubernetes-helm)");
    if tiller_ready(cx) {
        return Ok(Check::Done("Helm 2 with tiller ready in kube-system".into()));
    }
    Ok(Check::Needed("Helm 2 needs tiller in the cluster".into()))
}

fn helm2_apply(cx: &mut Context) -> Result<(), Problem> {
    let stable = cx.settings.chart_repos.get("stable").cloned().unwrap_or_default();
    if helm_tool::RepoUrl::parse(&stable).credentials.is_some() {
        return Err(Problem::new("Helm 2's `helm init --stable-repo-url` takes credentials only inside the URL, on its command line, where anyone on this machine can read them")
            .with_hint("give --chart-repo stable=URL without user:password@ (a mirror that needs no login), or use Helm 3 or 4, which read the password from stdin"));
    }
    let consent = cx.settings.allow_helm2
        || cx.ui.confirm("Install tiller (Helm 2's server side) with cluster-admin rights in kube-system?", false)?;
    if !consent {
        return Err(Problem::new("Helm 2 needs tiller with cluster-admin rights, and that was not accepted")
            .with_hint("install Helm 3 or 4 (choco install kubernetes-helm), or pass --allow-helm2 to accept tiller"));
    }
    cx.intend(crate::record::Created::Tiller)?;
    cx.runner.run(&cx.kubectl().apply(TILLER_RBAC))?;
    cx.runner.run(&cx.helm().init_tiller(&stable))?;
    cx.created(crate::record::Created::Tiller);
    Ok(())
}

fn helm2_validate(cx: &mut Context) -> Result<String, Problem> {
    let rollout = cx.kubectl().rollout_status("kube-system", "tiller-deploy", 300);
    cx.runner.run(&rollout).map_err(|p| {
        p.reworded("tiller did not become ready")
            .with_hint("see `kubectl -n kube-system describe deployment tiller-deploy`")
    })?;
    let output = cx.runner.run(&cx.helm().version_short())?;
    if !output.stdout.contains("Server:") {
        return Err(Problem::new("`helm version` shows no Server line: the client cannot reach tiller"));
    }
    Ok(format!("tiller ready; {}", output.stdout.lines().collect::<Vec<_>>().join(", ")))
}
