//! interlok: the Deployment and its Service, with JAVA_OPTS naming the discovered pushgateway (host:port) and
//! the pod's name and namespace from the downward API. Validated by a finished rollout — failing fast, with the
//! reason, when a pod cannot pull its image or keeps crashing — and a 200 from `/in-box` through a
//! port-forward the wizard opens on 127.0.0.1 and always closes.

use std::time::Duration;

use serde_json::Value;

use crate::context::Context;
use crate::engine::{Check, Stage};
use crate::manifests::{self, Endpoints};
use crate::portforward::{http_get, PortForward};
use crate::problem::Problem;
use crate::record::Created;
use crate::wait::{self, Poll};

pub struct Interlok;

const BAD_WAITS: [&str; 5] =
    ["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError"];

impl Stage for Interlok {
    fn name(&self) -> &'static str {
        "interlok"
    }

    fn after(&self, _cx: &Context) -> &'static [&'static str] {
        &["helm", "version-skew"]
    }

    fn summary(&self) -> &'static str {
        "deploy Interlok pushing MessageMetrics to the pushgateway"
    }

    fn check(&self, cx: &mut Context) -> anyhow::Result<Check> {
        let endpoints = endpoints(cx)?;
        let want = manifests::pushgateway_address(&cx.settings, &endpoints);
        let (namespace, name) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
        let Some(live) = get(cx, "deployment", &namespace, &name)? else {
            return Ok(Check::Needed(format!("no Deployment {name} in {namespace} yet")));
        };
        let container = &live["spec"]["template"]["spec"]["containers"][0];
        let java_opts = env_value(container, "JAVA_OPTS").unwrap_or_default();
        if container["image"] != cx.settings.image.as_str() {
            return Ok(Check::Needed(format!(
                "Deployment {name} runs {}, the wizard deploys {}",
                container["image"], cx.settings.image
            )));
        }
        if !java_opts.contains(&format!("-DprometheusEndpointUrl={want}")) {
            return Ok(Check::Needed(format!("Deployment {name} pushes to {java_opts:?}, the pushgateway is {want}")));
        }
        if env_value(container, "K8S_NAMESPACE").is_none()
            && container["env"].as_array().is_none_or(|e| !e.iter().any(|v| v["name"] == "K8S_NAMESPACE"))
        {
            return Ok(Check::Needed(format!("Deployment {name} does not set K8S_NAMESPACE")));
        }
        if get(cx, "service", &namespace, &name)?.is_none() {
            return Ok(Check::Needed(format!("no Service {name} in {namespace} yet")));
        }
        if live["status"]["availableReplicas"].as_u64().unwrap_or(0) == 0 {
            return Ok(Check::Needed(format!("Deployment {name} has no available pod")));
        }
        Ok(Check::Done(format!("{name} runs {} and pushes to {want}", cx.settings.image)))
    }

    fn apply(&self, cx: &mut Context) -> anyhow::Result<()> {
        ensure_namespace(cx)?;
        let endpoints = endpoints(cx)?;
        let docs = manifests::interlok(&cx.settings, &endpoints)?;
        let items: Vec<Value> = docs.iter().map(|d| serde_yaml::from_str(&d.text)).collect::<Result<_, _>>()?;
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        cx.runner.run(&cx.kubectl().apply(&list.to_string()))?;
        for kind in ["deployment", "service"] {
            cx.created(Created::Object {
                kind: kind.into(),
                name: cx.settings.deployment.clone(),
                namespace: cx.settings.namespace.clone(),
            });
        }
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> anyhow::Result<String> {
        let pod = wait_available(cx)?;
        let status = in_box_status(cx)?;
        Ok(format!("pod {pod} is ready and /in-box answers {status}"))
    }
}

/// Creates Interlok's namespace when it does not exist yet (labelled, so teardown knows it made it).
fn ensure_namespace(cx: &mut Context) -> Result<(), Problem> {
    let namespace = cx.settings.namespace.clone();
    if cx.runner.run_unchecked(&cx.kubectl().get_cluster_json("namespace", &namespace))?.success() {
        return Ok(());
    }
    let (label, value) = crate::settings::MANAGED_BY_LABEL;
    let manifest = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {label: value}}});
    cx.runner.run(&cx.kubectl().apply(&manifest.to_string()))?;
    cx.created(Created::Namespace { name: namespace.clone() });
    Ok(())
}

/// The endpoints the prometheus stage found (or finds now, when it was skipped).
/// Interlok is deployed while Prometheus installs (its image is the slow part), so the pushgateway Service may
/// not exist yet: wait for it (bounded), unless no prometheus release shows up at all.
pub fn endpoints(cx: &mut Context) -> Result<Endpoints, Problem> {
    if cx.runner.dry_run() && cx.facts.pushgateway.is_none() {
        return Ok(Endpoints::default());
    }
    if let Ok(found) = super::prometheus::discover(cx) {
        return Ok(found);
    }
    let began = std::time::Instant::now();
    let release = super::releases::release(cx, "prometheus");
    let mut probe = cx.fork().0;
    let found = wait::until(
        &cx.ui,
        "the pushgateway Service (the prometheus stage creates it)",
        cx.settings.wait_timeout,
        || match super::prometheus::discover(&mut probe) {
            Ok(found) => Poll::Ready(found),
            Err(problem) => {
                let installing = super::releases::status(&probe, &release).ok().flatten().is_some();
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

fn env_value(container: &Value, name: &str) -> Option<String> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)?["value"].as_str().map(String::from)
}

/// An object as JSON, or None when it does not exist.
pub fn get(cx: &Context, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, Problem> {
    let cmd = cx.kubectl().get_json(namespace, kind, name);
    let output = cx.runner.run_unchecked(&cmd)?;
    if !output.success() {
        if output.stderr.contains("NotFound") || output.stderr.contains("not found") {
            return Ok(None);
        }
        return Err(crate::runner::exit_problem(&cmd, &output));
    }
    serde_json::from_str(&output.stdout).map(Some).map_err(|e| {
        crate::runner::exit_problem(&cmd, &output).reworded(format!("kubectl printed something that is not JSON ({e})"))
    })
}

/// Pods of the Interlok Deployment.
pub fn pods(cx: &Context) -> Result<Vec<Value>, Problem> {
    let selector = format!("app={}", cx.settings.deployment);
    let cmd = cx.kubectl().list_json(&cx.settings.namespace, "pods", Some(&selector));
    let output = cx.runner.run(&cmd)?;
    let list: Value = serde_json::from_str(&output.stdout)
        .map_err(|e| crate::runner::exit_problem(&cmd, &output).reworded(format!("not a JSON list ({e})")))?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// A pod that cannot start, with its reason: (pod, reason, message, image).
pub fn stuck(pod: &Value) -> Option<(String, String, String, String)> {
    pod["status"]["containerStatuses"].as_array()?.iter().find_map(|c| {
        let waiting = &c["state"]["waiting"];
        let reason = waiting["reason"].as_str()?;
        BAD_WAITS.contains(&reason).then(|| {
            (
                pod["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                reason.to_string(),
                waiting["message"].as_str().unwrap_or_default().to_string(),
                c["image"].as_str().unwrap_or_default().to_string(),
            )
        })
    })
}

fn wait_available(cx: &Context) -> Result<String, Problem> {
    let (namespace, name) = (cx.settings.namespace.clone(), cx.settings.deployment.clone());
    let what = format!("Deployment {name} to become available (image pulls can take minutes)");
    wait::until(&cx.ui, &what, cx.settings.wait_timeout, || {
        let pods = match pods(cx) {
            Ok(p) => p,
            Err(problem) => return Poll::Failed(problem),
        };
        if let Some((pod, reason, message, image)) = pods.iter().find_map(stuck) {
            let hint = if reason.contains("Image") || reason == "ErrImagePull" {
                format!("check the image name and that the cluster can reach its registry (--image); `kubectl describe pod {pod} -n {namespace}` shows the events")
            } else {
                format!("see why it crashes: `kubectl logs {pod} -n {namespace} --previous`")
            };
            return Poll::Failed(
                Problem::new(format!("pod {pod} is in {reason} for image {image}: {message}")).with_hint(hint),
            );
        }
        let ready = pods.iter().find(|p| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        });
        match (ready, get(cx, "deployment", &namespace, &name)) {
            (Some(pod), Ok(Some(d))) if d["status"]["availableReplicas"].as_u64().unwrap_or(0) > 0 => {
                Poll::Ready(pod["metadata"]["name"].as_str().unwrap_or_default().to_string())
            }
            (_, Err(problem)) => Poll::Failed(problem),
            _ => {
                let phases: Vec<String> = pods
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {}",
                            p["metadata"]["name"].as_str().unwrap_or("?"),
                            p["status"]["phase"].as_str().unwrap_or("Pending")
                        )
                    })
                    .collect();
                Poll::Waiting(if phases.is_empty() { "no pod yet".into() } else { phases.join(", ") })
            }
        }
    })
}

/// GET /in-box through a port-forward to the Interlok Service; the status when it answers 200.
fn in_box_status(cx: &Context) -> Result<u16, Problem> {
    let forward = PortForward::open(cx, &cx.settings.namespace, &cx.settings.deployment, 8080)?;
    let url = forward.url("/in-box");
    wait::until(&cx.ui, "Interlok's /in-box to answer", Duration::from_secs(60).min(cx.settings.wait_timeout), || {
        match http_get(&url, Duration::from_secs(10)) {
            Ok(200) => Poll::Ready(200),
            Ok(status) => Poll::Waiting(format!("HTTP {status}")),
            Err(e) => Poll::Waiting(e),
        }
    })
    .map_err(|p| {
        p.with_hint(format!(
            "Interlok starts slowly: check `kubectl logs deploy/{} -n {}`",
            cx.settings.deployment, cx.settings.namespace
        ))
    })
}
