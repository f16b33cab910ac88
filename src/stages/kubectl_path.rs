//! kubectl-path: every kubectl on PATH, in order, with its version. Docker Desktop puts an old kubectl early
//! on the system PATH; when the first one is older than another, both are named, the PATH fix is given, and
//! the wizard's own calls use the newer binary by absolute path.

use crate::context::Context;
use crate::engine::{Check, Stage, StageKind};
use crate::platform::Platform;
use crate::problem::Problem;
use crate::tools::kubectl::{parse_versions, Kubectl};
use crate::tools::Found;

pub struct KubectlPath;

impl Stage for KubectlPath {
    fn name(&self) -> &'static str {
        "kubectl-path"
    }

    fn after(&self, _cx: &Context) -> &'static [&'static str] {
        &["prerequisites"]
    }

    fn summary(&self) -> &'static str {
        "find every kubectl on PATH and use the newest"
    }

    fn kind(&self) -> StageKind {
        StageKind::Inspect
    }

    fn check(&self, cx: &mut Context) -> anyhow::Result<Check> {
        let (found, failures) = every_kubectl(cx);
        let Some(first) = found.first().cloned() else {
            if let Some(failure) = failures.into_iter().next() {
                return Err(failure.into());
            }
            return Err(Problem::new("kubectl not found on PATH")
                .with_hint(format!("install it: {}", cx.settings.platform.install_hint("kubectl")))
                .into());
        };
        let best = found.iter().max_by_key(|f| f.version).cloned().unwrap_or_else(|| first.clone());
        let listing: Vec<String> = found.iter().map(|f| format!("{} ({})", f.path.display(), f.version)).collect();
        if best.version > first.version {
            cx.warn(format!(
                "the first kubectl on PATH, {} ({}), shadows a newer one, {} ({}); the wizard uses the newer one",
                first.path.display(),
                first.version,
                best.path.display(),
                best.version
            ));
            cx.note(path_fix(cx.settings.platform, &first, &best));
        }
        cx.tools.kubectl = Some(best.clone());
        Ok(Check::Done(format!("using {} ({}); on PATH: {}", best.path.display(), best.version, listing.join(", "))))
    }

    fn apply(&self, _: &mut Context) -> anyhow::Result<()> {
        Ok(())
    }

    fn validate(&self, _: &mut Context) -> anyhow::Result<String> {
        Ok(String::new())
    }
}

/// Each kubectl on PATH that answers with a readable version, in PATH order, and why the others did not.
fn every_kubectl(cx: &Context) -> (Vec<Found>, Vec<Problem>) {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for path in cx.runner.resolve_all("kubectl") {
        let cmd = Kubectl::new(path.display().to_string(), None).client_version();
        let version = cx.runner.run(&cmd).and_then(|output| {
            parse_versions(&output.stdout).map(|v| v.client).map_err(|why| {
                crate::runner::exit_problem(&cmd, &output)
                    .reworded(format!("could not read the version of {}: {why}", path.display()))
                    .with_hint("reinstall that kubectl, or take it off PATH")
            })
        });
        match version {
            Ok(version) => found.push(Found { path, version }),
            Err(problem) => failures.push(problem),
        }
    }
    (found, failures)
}

fn path_fix(platform: Platform, shadowing: &Found, better: &Found) -> String {
    let folder = |f: &Found| f.path.parent().map(|p| p.display().to_string()).unwrap_or_default();
    match platform {
        Platform::Windows => format!(
            "to fix PATH for every program, move {} above {} in the system PATH (System Properties → Environment Variables), \
             or remove Docker Desktop's kubectl if you do not use its Kubernetes",
            folder(better),
            folder(shadowing)
        ),
        _ => format!("to fix PATH, put {} before {} (e.g. in ~/.profile)", folder(better), folder(shadowing)),
    }
}
