//! interlok: the Deployment and its Service, with JAVA_OPTS naming the discovered pushgateway (host:port) and
//! the pod's name and namespace from the downward API; with `--interlok-config`, a ConfigMap of the files
//! mounted over the image's, their checksum on the pod template (a changed configuration rolls the pods).
//! Validated by a pod of the new template ready — failing fast, with the reason, when a pod cannot pull its
//! image or keeps crashing — and a 200 from the inbox path (`/in-box`) through a port-forward the wizard opens
//! on 127.0.0.1 and always closes.

use std::time::Duration;

use serde_json::Value;

use crate::cluster::views::Service;
use crate::cluster::{self, interlok, monitoring, pods};
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::interlok_config;
use crate::manifests::{self, Endpoints};
use crate::problem::Problem;
use crate::wait::{self, Poll};

pub(crate) struct Interlok;

impl Stage for Interlok {
    fn id(&self) -> StageId {
        StageId::Interlok
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Helm, StageId::VersionSkew]
    }

    fn summary(&self) -> &'static str {
        "deploy Interlok pushing MessageMetrics to the pushgateway"
    }

    fn link(&self) -> &'static [&'static str] {
        &["interlok.deployment", "interlok.endpoint", "interlok.downward-api", "interlok.in-box", "interlok.pushes"]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let endpoints = endpoints(cx)?;
        let want = manifests::pushgateway_address(&cx.settings, &endpoints);
        let (namespace, name) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
        let Some(live) = interlok::deployment(cx)? else {
            return Ok(Check::Needed(format!("no Deployment {name} in {namespace} yet")));
        };
        let container = live.container();
        if container.image != cx.settings.image {
            return Ok(Check::Needed(format!(
                "Deployment {name} runs {}, the wizard deploys {}",
                container.image, cx.settings.image
            )));
        }
        let pushes_to = interlok::push_endpoint(&live);
        if pushes_to.as_deref() != Some(want.as_str()) {
            return Ok(Check::Needed(format!(
                "Deployment {name} pushes to {}, the pushgateway is {want}",
                pushes_to.unwrap_or_else(|| "nowhere".into())
            )));
        }
        if container.env("K8S_NAMESPACE").is_none() {
            return Ok(Check::Needed(format!("Deployment {name} does not set K8S_NAMESPACE")));
        }
        if let Some(reason) = config_needed(cx, &live)? {
            return Ok(Check::Needed(reason));
        }
        if cluster::get::<Service>(cx, "service", &namespace, &name)?.is_none() {
            return Ok(Check::Needed(format!("no Service {name} in {namespace} yet")));
        }
        Ok(Check::Done(format!("{name} runs {} and pushes to {want}", cx.settings.image)))
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let namespace = cx.settings.namespace.clone();
        super::owned::ensure_namespace(cx, &namespace)?;
        let endpoints = endpoints(cx)?;
        let docs = manifests::interlok(&cx.settings, &endpoints)?;
        let items: Vec<Value> = docs
            .iter()
            .map(|d| serde_yaml::from_str(&d.text))
            .collect::<Result<_, _>>()
            .map_err(|e| Problem::new(format!("a rendered Interlok manifest is not YAML ({e})")))?;
        super::owned::apply(cx, items)
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let pod = wait_available(cx)?;
        let status = in_box_status(cx)?;
        wait_for_pushgateway(cx)?;
        Ok(format!("pod {pod} is ready and {} answers {status}", cx.settings.inbox_path))
    }
}

/// Interlok's pushes need the pushgateway up, which the prometheus stage installs alongside: waits for it,
/// so that the link's checks see whether Interlok pushes.
fn wait_for_pushgateway(cx: &Context) -> Result<(), Problem> {
    let what = "the pushgateway to be served (Interlok pushes to it)";
    wait::until(cx, what, cx.settings.wait_timeout, || {
        match monitoring::find(cx).and_then(|found| pods::serving(cx, &found.pushgateway)) {
            Ok(Ok(_)) => Poll::Ready(()),
            Ok(Err(why)) => Poll::Waiting(why),
            Err(problem) => Poll::Waiting(problem.message),
        }
    })
}

/// Why the configuration the Deployment runs is not the one this run deploys, if it is not: the checksum on
/// its pod template, and the ConfigMap's files (edited by hand since?).
fn config_needed(cx: &Context, live: &crate::cluster::views::Deployment) -> Result<Option<String>, Problem> {
    let name = &cx.settings.deployment;
    let wanted = interlok_config::read(&cx.settings)?;
    let wanted_sum = wanted.as_ref().map(interlok_config::InterlokConfig::checksum);
    let reason = match (interlok::config_checksum(live), &wanted) {
        (None, None) => return Ok(None),
        (Some(_), None) => format!("Deployment {name} runs a configuration of its own; this run uses the image's"),
        (None, Some(config)) => {
            format!("Deployment {name} runs the image's configuration; this run mounts {}", config.source.display())
        }
        (Some(live_sum), Some(config)) if Some(&live_sum) != wanted_sum.as_ref() => {
            format!("the configuration in {} changed since Deployment {name} got it", config.source.display())
        }
        (Some(_), Some(_)) => match interlok::configmap(cx)? {
            None => format!("no ConfigMap {name} in {} yet", cx.settings.namespace),
            Some(map) if Some(interlok_config::checksum(&map.data)) != wanted_sum => {
                format!("ConfigMap {name} does not hold the configuration (changed by hand?)")
            }
            Some(_) => return Ok(None),
        },
    };
    Ok(Some(reason))
}

/// The endpoints the prometheus stage found (or finds now, when it was skipped).
/// Interlok is deployed while Prometheus installs (its image is the slow part), so the pushgateway Service may
/// not exist yet: wait for it while something can still make it — the prometheus stage of this run, or a
/// release another Helm is installing — and fail at once otherwise.
pub(crate) fn endpoints(cx: &mut Context) -> Result<Endpoints, Problem> {
    if cx.runner.dry_run() && cx.facts.pushgateway.is_none() {
        return Ok(Endpoints::default());
    }
    let release = super::releases::release(cx, "prometheus");
    let elsewhere = |cx: &Context| -> bool {
        let status = super::releases::status(cx, &release).ok().flatten();
        status.is_some_and(|s| s.status.starts_with("pending"))
    };
    let found =
        wait::until(cx, "the pushgateway Service (the prometheus stage creates it)", cx.settings.wait_timeout, || {
            match monitoring::endpoints(cx) {
                Ok(found) => Poll::Ready(found),
                Err(problem) if cx.underway(StageId::Prometheus) => Poll::Waiting(problem.message),
                Err(problem) if elsewhere(cx) => Poll::Waiting(problem.message),
                Err(problem) => {
                    Poll::Failed(problem.with_hint("install Prometheus first: `interlok-k8s setup --from prometheus`"))
                }
            }
        })?;
    cx.facts.pushgateway = Some(found.pushgateway.clone());
    Ok(found)
}

/// Waits until the template just applied is rolled out, and returns a ready pod of it (its image, its
/// configuration's checksum): a pod of the previous template serves until the new ones are available.
fn wait_available(cx: &Context) -> Result<String, Problem> {
    let namespace = cx.settings.namespace.clone();
    let what = format!("Deployment {} to become available (image pulls can take minutes)", cx.settings.deployment);
    let checksum = interlok_config::read(&cx.settings)?.map(|c| c.checksum());
    let current = |pod: &&crate::cluster::views::Pod| interlok::runs(pod, &cx.settings.image, checksum.as_deref());
    wait::until(cx, &what, cx.settings.wait_timeout, || {
        let all = match interlok::pods(cx) {
            Ok(p) => p,
            Err(problem) => return Poll::Failed(problem),
        };
        if let Some(stuck) = all.iter().find_map(pods::stuck) {
            let hint = stuck.hint(&namespace);
            return Poll::Failed(Problem::new(stuck.to_string()).with_hint(hint));
        }
        match (all.iter().filter(current).find(|p| p.ready()), interlok::deployment(cx)) {
            (Some(pod), Ok(Some(d))) if d.rolled_out() => Poll::Ready(pod.metadata.name.clone()),
            (_, Err(problem)) => Poll::Failed(problem),
            _ if all.is_empty() => Poll::Waiting("no pod yet".into()),
            _ => Poll::Waiting(all.iter().map(pods::describe).collect::<Vec<_>>().join("; ")),
        }
    })
}

/// GET the inbox path (`/in-box`) through a port-forward to a serving Interlok pod; the status when it answers 200.
fn in_box_status(cx: &Context) -> Result<u16, Problem> {
    let limit = Duration::from_secs(60).min(cx.settings.wait_timeout);
    let mut consumer = interlok::HttpConsumer::reach(cx)?;
    let what = format!("Interlok's {} to answer", cx.settings.inbox_path);
    wait::until(cx, &what, limit, || match consumer.get(&cx.settings.inbox_path) {
        Ok(200) => Poll::Ready(200),
        Ok(status) => Poll::Waiting(format!("HTTP {status}")),
        Err(e) => Poll::Waiting(e),
    })
    .map_err(|p| {
        p.with_hint(format!(
            "Interlok starts slowly: check `kubectl logs deploy/{} -n {}`",
            cx.settings.deployment, cx.settings.namespace
        ))
    })
}
