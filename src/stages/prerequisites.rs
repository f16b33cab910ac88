//! prerequisites: kubectl and helm (and minikube, unless `--context` names an existing cluster) are on PATH
//! and report readable versions, and the machine can run minikube (see `preflight`, whose checks these are:
//! setup asks them before the plan, this stage again after installing what was missing). What is missing
//! is installed with chocolatey where setup can do that, or named with the command that installs it here.

use crate::context::Context;
use crate::engine::{Check, Stage, StageId, StageKind};
use crate::preflight;
use crate::problem::Problem;
use crate::tools::choco;

pub(crate) struct Prerequisites;

impl Stage for Prerequisites {
    fn id(&self) -> StageId {
        StageId::Prerequisites
    }

    fn summary(&self) -> &'static str {
        "find kubectl, helm and minikube and read their versions; check the machine can run minikube"
    }

    fn kind(&self) -> StageKind {
        StageKind::Inspect
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let (mut found, missing) = preflight::tools(cx)?;
        found.extend(preflight::machine(cx)?);
        if missing.is_empty() {
            return Ok(Check::Done(found.join(", ")));
        }
        Ok(Check::Needed(format!("missing: {}", missing.join(", "))))
    }

    /// Installs what is missing with chocolatey (the plan listed it, and the user accepted the plan).
    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let missing: Vec<&str> =
            preflight::required_tools(cx).into_iter().filter(|t| cx.runner.resolve(t).is_none()).collect();
        preflight::installable(cx, &missing)?;
        let packages: Vec<&str> = missing.iter().map(|t| choco::package(t)).collect();
        cx.runner.run(&choco::install(&packages)).map_err(|p| {
            let packages = packages.join(" ");
            p.reworded(format!("choco could not install {packages}")).with_hint(format!(
                "run `choco install {packages} -y` yourself to see what chocolatey says, then run this again"
            ))
        })?;
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        match self.check(cx)? {
            Check::Done(evidence) => Ok(evidence),
            Check::Needed(reason) => Err(Problem::new(reason)),
        }
    }
}
