//! version-skew: kubectl is supported within one minor version of the API server. One minor apart is a note;
//! more is an error with the fix, unless the user accepts running the wizard's kubectl calls through
//! `minikube kubectl --` (which fetches a matching kubectl).

use crate::context::Context;
use crate::engine::{Check, Stage, StageId, StageKind};
use crate::problem::Problem;

pub(crate) struct VersionSkew;

impl Stage for VersionSkew {
    fn id(&self) -> StageId {
        StageId::VersionSkew
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Cluster]
    }

    fn summary(&self) -> &'static str {
        "compare kubectl's and the server's minor versions"
    }

    fn kind(&self) -> StageKind {
        StageKind::Inspect
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let asked = crate::cluster::server::versions(cx)?;
        let server = asked.server()?;
        let client = asked.versions.client;
        let skew = client.minor.abs_diff(server.minor);
        let evidence = format!("kubectl {client}, server {server}");
        if skew <= 1 {
            if skew == 1 {
                cx.note(format!(
                    "kubectl {client} is one minor version from the server {server}: supported, but keep them close"
                ));
            }
            return Ok(Check::Done(evidence));
        }
        let question = format!(
            "kubectl {client} is {skew} minor versions from the server {server} (kubectl supports ±1). Run the wizard's kubectl calls through `minikube kubectl --` instead?"
        );
        let accept =
            cx.settings.uses_minikube() && (cx.settings.use_minikube_kubectl || cx.ui.confirm(&question, false)?);
        if accept {
            cx.facts.kubectl_via_minikube = true;
            cx.note("the wizard runs kubectl as `minikube kubectl --`, which matches the cluster's version");
            return Ok(Check::Done(format!("{evidence}; using `minikube kubectl --`")));
        }
        let mut fix = format!(
            "put a kubectl v1.{}–v1.{} first on PATH ({})",
            server.minor.saturating_sub(1),
            server.minor + 1,
            cx.settings.platform.install_hint("kubectl")
        );
        if cx.settings.uses_minikube() {
            fix.push_str(", or pass --use-minikube-kubectl to run the wizard's calls through `minikube kubectl --`");
        }
        Err(Problem::new(format!(
            "kubectl {client} is {skew} minor versions from the server {server}; kubectl supports ±1"
        ))
        .with_hint(fix))
    }

    fn apply(&self, _: &mut Context) -> Result<(), Problem> {
        Ok(())
    }

    fn validate(&self, _: &mut Context) -> Result<String, Problem> {
        Ok(String::new())
    }
}
