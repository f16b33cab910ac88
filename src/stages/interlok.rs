//! interlok: the Deployment and its Service, with JAVA_OPTS naming the discovered pushgateway (host:port) and
//! the pod's name and namespace from the downward API. Validated by a finished rollout — failing fast, with the
//! reason, when a pod cannot pull its image or keeps crashing — and a 200 from `/in-box` through a
//! port-forward the wizard opens on 127.0.0.1 and always closes.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::views::Service;
use crate::cluster::{self, interlok, monitoring, pods};
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests::{self, Endpoints};
use crate::portforward::{http_get, PortForward};
use crate::problem::Problem;
use crate::wait::{self, Poll};

pub struct Interlok;

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
        &["interlok.deployment", "interlok.endpoint", "interlok.downward-api", "interlok.in-box"]
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
        Ok(format!("pod {pod} is ready and /in-box answers {status}"))
    }
}

/// The endpoints the prometheus stage found (or finds now, when it was skipped).
/// Interlok is deployed while Prometheus installs (its image is the slow part), so the pushgateway Service may
/// not exist yet: wait for it (bounded), unless no prometheus release shows up at all.
pub fn endpoints(cx: &mut Context) -> Result<Endpoints, Problem> {
    if cx.runner.dry_run() && cx.facts.pushgateway.is_none() {
        return Ok(Endpoints::default());
    }
    if let Ok(found) = monitoring::endpoints(cx) {
        cx.facts.pushgateway = Some(found.pushgateway.clone());
        return Ok(found);
    }
    let began = Instant::now();
    let release = super::releases::release(cx, "prometheus");
    let found = wait::until(
        &cx.ui,
        "the pushgateway Service (the prometheus stage creates it)",
        cx.settings.wait_timeout,
        || match monitoring::endpoints(cx) {
            Ok(found) => Poll::Ready(found),
            Err(problem) => {
                let installing = super::releases::status(cx, &release).ok().flatten().is_some();
                if !installing && began.elapsed() > Duration::from_secs(30) {
                    Poll::Failed(problem.with_hint("install Prometheus first: `interlok-k8s setup --from prometheus`"))
                } else {
                    Poll::Waiting(problem.message)
                }
            }
        },
    )?;
    cx.facts.pushgateway = Some(found.pushgateway.clone());
    Ok(found)
}

fn wait_available(cx: &Context) -> Result<String, Problem> {
    let namespace = cx.settings.namespace.clone();
    let what = format!("Deployment {} to become available (image pulls can take minutes)", cx.settings.deployment);
    wait::until(&cx.ui, &what, cx.settings.wait_timeout, || {
        let all = match interlok::pods(cx) {
            Ok(p) => p,
            Err(problem) => return Poll::Failed(problem),
        };
        if let Some(stuck) = all.iter().find_map(pods::stuck) {
            let hint = stuck.hint(&namespace);
            return Poll::Failed(Problem::new(stuck.to_string()).with_hint(hint));
        }
        match (all.iter().find(|p| p.ready()), interlok::deployment(cx)) {
            (Some(pod), Ok(Some(d))) if d.available() => Poll::Ready(pod.metadata.name.clone()),
            (_, Err(problem)) => Poll::Failed(problem),
            _ if all.is_empty() => Poll::Waiting("no pod yet".into()),
            _ => Poll::Waiting(all.iter().map(pods::describe).collect::<Vec<_>>().join("; ")),
        }
    })
}

/// GET /in-box through a port-forward to the Interlok Service; the status when it answers 200.
fn in_box_status(cx: &Context) -> Result<u16, Problem> {
    let limit = Duration::from_secs(60).min(cx.settings.wait_timeout);
    let forward = PortForward::open(cx, &cx.settings.namespace, &cx.settings.deployment, interlok::HTTP_PORT)?;
    let url = forward.url("/in-box");
    wait::until(&cx.ui, "Interlok's /in-box to answer", limit, || match http_get(&url, Duration::from_secs(10)) {
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
