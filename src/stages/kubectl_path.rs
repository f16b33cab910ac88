//! kubectl-path: every kubectl on PATH, in order, with its version. Docker Desktop puts an old kubectl early
//! on the system PATH; when the first one is older than another, both are named, the PATH fix is given, and
//! the wizard's own calls use the newer binary by absolute path (every command chooses the same way:
//! `Context::kubectl_found`).

use crate::context::{choose_kubectl, Context};
use crate::engine::{Check, Stage, StageId, StageKind};
use crate::platform::Platform;
use crate::problem::Problem;
use crate::tools::kubectl::every_on_path;
use crate::tools::Found;

pub(crate) struct KubectlPath;

impl Stage for KubectlPath {
    fn id(&self) -> StageId {
        StageId::KubectlPath
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Prerequisites]
    }

    fn summary(&self) -> &'static str {
        "find every kubectl on PATH and use the newest"
    }

    fn kind(&self) -> StageKind {
        StageKind::Inspect
    }

    fn link(&self) -> &'static [&'static str] {
        &["tools.kubectl"]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let (found, failures) = every_on_path(&cx.runner);
        let (Some(first), Some(best)) = (found.first().cloned(), choose_kubectl(&found)) else {
            if let Some(failure) = failures.into_iter().next() {
                return Err(failure);
            }
            return Err(Problem::new("kubectl not found on PATH")
                .with_hint(format!("install it: {}", cx.settings.platform.install_hint("kubectl"))));
        };
        let listing: Vec<String> = found.iter().map(|f| format!("{} ({})", f.path.display(), f.version)).collect();
        if best.path != first.path {
            cx.warn(format!(
                "the first kubectl on PATH, {} ({}), shadows a newer one, {} ({}); the wizard uses the newer one",
                first.path.display(),
                first.version,
                best.path.display(),
                best.version
            ));
            cx.note(path_fix(cx.settings.platform, &first, &best));
        }
        cx.use_kubectl(best.clone());
        Ok(Check::Done(format!("using {} ({}); on PATH: {}", best.path.display(), best.version, listing.join(", "))))
    }

    fn apply(&self, _: &mut Context) -> Result<(), Problem> {
        Ok(())
    }

    fn validate(&self, _: &mut Context) -> Result<String, Problem> {
        Ok(String::new())
    }
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
