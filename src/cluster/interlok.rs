//! The Interlok Deployment: its pods, where it pushes (`-DprometheusEndpointUrl` in JAVA_OPTS), the
//! configuration it mounts over the image's, what its pods log and push, and whether its HTTP consumer answers.

use std::collections::BTreeMap;
use std::time::Duration;

use super::views::{ConfigMap, Deployment, Pod};
use super::{get, list, Reader};
use crate::interlok_config::{self, CHECKSUM_ANNOTATION, MOUNT_DIR};
use crate::portforward::{http_get, PortForward};
use crate::problem::Problem;
use crate::prometheus_api::Group;
use crate::reach::{Port, Reach};

/// The port Interlok's embedded Jetty listens on (the Service's port too).
pub(crate) const HTTP_PORT: u16 = 8080;

/// How long one request to the consumer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn deployment(reader: &(impl Reader + ?Sized)) -> Result<Option<Deployment>, Problem> {
    let s = &reader.cx().settings;
    get(reader, "deployment", &s.namespace, &s.deployment)
}

/// The Deployment's pods (by the `app` label the wizard's template sets).
pub(crate) fn pods(reader: &(impl Reader + ?Sized)) -> Result<Vec<Pod>, Problem> {
    let s = &reader.cx().settings;
    list(reader, "pods", &s.namespace, Some(&format!("app={}", s.deployment)))
}

/// The names of the pods that are Running.
pub(crate) fn live_pods(reader: &(impl Reader + ?Sized)) -> Result<Vec<String>, Problem> {
    Ok(pods(reader)?.into_iter().filter(Pod::running).map(|p| p.metadata.name).collect())
}

/// The pushgateway address Interlok was given, from its JAVA_OPTS.
pub(crate) fn push_endpoint(deployment: &Deployment) -> Option<String> {
    let java_opts = deployment.container().env_value("JAVA_OPTS").unwrap_or_default().to_string();
    system_property(&java_opts, "prometheusEndpointUrl")
}

/// Reads `-Dname=value` out of a JAVA_OPTS string.
fn system_property(java_opts: &str, name: &str) -> Option<String> {
    let prefix = format!("-D{name}=");
    java_opts.split_whitespace().find_map(|word| word.strip_prefix(&prefix).map(String::from))
}

/// GETs a path of Interlok's HTTP consumer (see `HttpConsumer`).
pub(crate) fn http_status(reader: &(impl Reader + ?Sized), path: &str) -> Result<Result<u16, String>, Problem> {
    Ok(HttpConsumer::reach(reader)?.get(path))
}

/// Interlok's HTTP consumer on the newest serving pod (see `forward`): through the API server's proxy to
/// the pod's port while that reaches it, else through the run's port-forward.
pub(crate) struct HttpConsumer<'r, R: Reader + ?Sized> {
    reader: &'r R,
    /// The pod's port through the API server; None once a request could not reach the pod that way.
    api: Option<Reach>,
    /// None once a request found it broken: the next request opens another.
    forward: Option<PortForward>,
}

impl<'r, R: Reader + ?Sized> HttpConsumer<'r, R> {
    pub(crate) fn reach(reader: &'r R) -> Result<Self, Problem> {
        let s = &reader.cx().settings;
        let pod = serving(&pods(reader)?).map(|p| p.metadata.name.clone());
        let at = |name| Port::Pod { namespace: &s.namespace, name, port: HTTP_PORT };
        let cx = reader.cx();
        match pod.as_deref().and_then(|name| Reach::api_server(&cx.runner, &cx.kubectl(), at(name))) {
            Some(api) => Ok(HttpConsumer { reader, api: Some(api), forward: None }),
            None => Ok(HttpConsumer { reader, api: None, forward: Some(forward(reader)?) }),
        }
    }

    /// GETs a path: the HTTP status, or why there was none.
    pub(crate) fn get(&mut self, path: &str) -> Result<u16, String> {
        if let Some(api) = &self.api {
            match api.get(path, &[], REQUEST_TIMEOUT) {
                Ok((status, _)) => return Ok(status),
                // the API server could not reach the pod: a port-forward says why, or gets through
                Err(_) => self.api = None,
            }
        }
        let through = self.take_forward()?;
        let reused = through.reused();
        match self.send(through, path) {
            // another caller's forward may have gone bad since it was opened (its pod went): once more, at once
            Err(e) if reused && !e.is_timeout() => {
                let again = self.take_forward()?;
                self.send(again, path).map_err(|e| e.to_string())
            }
            answer => answer.map_err(|e| e.to_string()),
        }
    }

    /// GETs through this forward, kept for the next request unless the request got no answer at all: kubectl
    /// ends a moment after a connection it could not forward (the pod went, or refused it).
    fn send(&mut self, through: PortForward, path: &str) -> Result<u16, reqwest::Error> {
        let answer = http_get(&through.url(path), REQUEST_TIMEOUT);
        match &answer {
            Err(e) if !e.is_timeout() => through.close(self.reader.cx()),
            _ => self.forward = Some(through),
        }
        answer
    }

    fn take_forward(&mut self) -> Result<PortForward, String> {
        match self.forward.take() {
            Some(forward) => Ok(forward),
            None => forward(self.reader).map_err(|p| p.message),
        }
    }
}

/// A port-forward to Interlok's HTTP port on the newest pod that serves now: Running, Ready and not on its way
/// out. (`kubectl port-forward svc/…` picks the pod that has been ready longest: during a rollout, the one
/// about to be deleted, and the forward fails with "pods … not found".) A pod can still go between the list
/// and the forward (a scale-down removes the newest first): then the pods are listed again, a few times.
pub(crate) fn forward(reader: &(impl Reader + ?Sized)) -> Result<PortForward, Problem> {
    const ATTEMPTS: usize = 3;
    let cx = reader.cx();
    let s = &cx.settings;
    let mut listed = pods(reader)?;
    let mut attempt = 1;
    loop {
        let Some(pod) = serving(&listed) else {
            return Err(Problem::new(format!(
                "no pod of Deployment {} in {} is ready to serve",
                s.deployment, s.namespace
            ))
            .with_hint(format!("check `kubectl get pods -n {} -l app={}`", s.namespace, s.deployment)));
        };
        match PortForward::to_pod(cx, &s.namespace, &pod.metadata.name, HTTP_PORT) {
            Err(problem) if attempt < ATTEMPTS && gone(&problem) => {
                attempt += 1;
                cx.runner.look_again(); // the pod that went was in the last look's list
                listed = pods(cx)?;
            }
            forwarded => return forwarded,
        }
    }
}

/// Whether kubectl could not forward because the pod no longer exists.
fn gone(problem: &Problem) -> bool {
    problem.command.as_ref().is_some_and(|c| c.stderr_tail.contains("not found"))
}

/// The newest pod that is Running, Ready and not being deleted.
fn serving(pods: &[Pod]) -> Option<&Pod> {
    let key = |p: &&Pod| (p.metadata.creation_timestamp.clone(), p.metadata.name.clone());
    pods.iter().filter(|p| p.running() && p.ready() && p.metadata.deletion_timestamp.is_none()).max_by_key(key)
}

/// The checksum of the configuration the Deployment's pods were given (None: the image's own).
pub(crate) fn config_checksum(deployment: &Deployment) -> Option<String> {
    deployment.spec.template.metadata.annotations.get(CHECKSUM_ANNOTATION).cloned()
}

/// Whether a pod runs the Deployment's current template as the wizard renders it: this image, this
/// configuration.
pub(crate) fn runs(pod: &Pod, image: &str, checksum: Option<&str>) -> bool {
    pod.spec.containers.first().is_some_and(|c| c.image == image)
        && pod.metadata.annotations.get(CHECKSUM_ANNOTATION).map(String::as_str) == checksum
}

/// The ConfigMap the wizard puts the configuration in (named after the Deployment).
pub(crate) fn configmap(reader: &(impl Reader + ?Sized)) -> Result<Option<ConfigMap>, Problem> {
    let s = &reader.cx().settings;
    get(reader, "configmap", &s.namespace, &s.deployment)
}

/// The files the Deployment mounts from ConfigMaps over the image's configuration folder, by name (as a node
/// mounts them: a `subPath` replaces one file; a folder mount shows every key, or the listed items).
pub(crate) fn mounted_config(
    reader: &(impl Reader + ?Sized),
    deployment: &Deployment,
) -> Result<BTreeMap<String, String>, Problem> {
    let namespace = &reader.cx().settings.namespace;
    let mut files = BTreeMap::new();
    for mount in deployment.container().volume_mounts {
        let volumes = &deployment.spec.template.spec.volumes;
        let Some(source) = volumes.iter().find(|v| v.name == mount.name).and_then(|v| v.config_map.clone()) else {
            continue;
        };
        let Some(configmap) = get::<ConfigMap>(reader, "configmap", namespace, &source.name)? else { continue };
        let in_volume: BTreeMap<String, String> = if source.items.is_empty() {
            configmap.data
        } else {
            source.items.iter().filter_map(|i| Some((i.path.clone(), configmap.data.get(&i.key)?.clone()))).collect()
        };
        let mount_path = mount.mount_path.trim_end_matches('/');
        if mount.sub_path.is_empty() && mount_path == MOUNT_DIR {
            files.extend(in_volume);
        } else if let (Some(file), Some(content)) =
            (mount_path.strip_prefix(&format!("{MOUNT_DIR}/")), in_volume.get(&mount.sub_path))
        {
            files.insert(file.to_string(), content.clone());
        }
    }
    Ok(files)
}

/// The management components a bootstrap.properties lists.
pub(crate) fn management_components(bootstrap: &str) -> Vec<String> {
    let properties = interlok_config::parse_properties(bootstrap);
    let value = properties.iter().find(|(k, _)| k.eq_ignore_ascii_case("managementComponents")).map(|(_, v)| v);
    value.map(|v| v.split(':').map(|c| c.trim().to_string()).collect()).unwrap_or_default()
}

/// How much of a pod's log is read: Interlok says whether its pusher started while it boots.
const LOG_LIMIT: u64 = 1 << 20;

/// The start of what Interlok printed in a pod (its first container's output).
pub(crate) fn log(reader: &(impl Reader + ?Sized), pod: &Pod) -> Result<String, Problem> {
    let cx = reader.cx();
    let container = pod.spec.containers.first().map(|c| c.name.clone()).unwrap_or_default();
    let cmd = cx.kubectl().logs(&cx.settings.namespace, &pod.metadata.name, &container, LOG_LIMIT);
    super::read(reader, &cmd)
}

/// The pusher's warning in a log, as one line without colour: it never starts when `prometheusEndpointUrl`
/// is set neither as a system property nor in bootstrap.properties. (A coloured log4j2 pattern puts the
/// colour reset after the newline: codes are stripped before the log is split into lines.)
pub(crate) fn pusher_warning(log: &str) -> Option<String> {
    strip_ansi(log)
        .lines()
        .find(|l| l.contains("could not be started") && l.contains("prometheusEndpointUrl"))
        .map(|l| l.trim().to_string())
}

/// Text without ANSI escape sequences (CSI `ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// What the pods pushed: for each live pod of the namespace with a group of job `interlok` on the
/// pushgateway, the names of the metrics in it.
pub(crate) fn pushed(groups: &[Group], namespace: &str, live: &[String]) -> BTreeMap<String, Vec<String>> {
    groups
        .iter()
        .filter(|g| g.labels.get("job").is_some_and(|j| j.eq_ignore_ascii_case("interlok")))
        .filter(|g| g.labels.get("k8s_namespace").is_some_and(|n| n == namespace))
        .filter_map(|g| {
            let pod = g.labels.get("k8s_pod_name").filter(|p| live.contains(p))?;
            Some((pod.clone(), g.metrics.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, created: &str, ready: bool, deleting: bool) -> Pod {
        let mut value = json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        if deleting {
            value["metadata"]["deletionTimestamp"] = json!("2026-11-30T10:05:00Z");
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_forward_goes_to_the_newest_serving_pod_never_one_on_its_way_out() {
        // mid-rollout: the old pod, ready longest, is being deleted; kubectl's `svc/` choice would take it
        let old = pod("interlok-old", "2026-11-30T10:00:00Z", true, true);
        let new = pod("interlok-new", "2026-11-30T10:04:00Z", true, false);
        let starting = pod("interlok-next", "2026-11-30T10:04:30Z", false, false);
        let pods = [old.clone(), new, starting.clone()];
        assert_eq!(serving(&pods).map(|p| p.metadata.name.as_str()), Some("interlok-new"));
        // a scaled-out Deployment: the newest ready one
        let older = pod("interlok-a", "2026-11-30T09:00:00Z", true, false);
        let newer = pod("interlok-b", "2026-11-30T09:30:00Z", true, false);
        assert_eq!(serving(&[newer, older]).map(|p| p.metadata.name.as_str()), Some("interlok-b"));
        assert!(serving(&[old, starting]).is_none(), "nothing serves: no forward");
    }

    /// Requests to Interlok through forwards from the run's pool, with kubectl a script (portforward.rs's tests).
    #[cfg(unix)]
    mod through_the_pool {
        use super::*;
        use crate::context::Context;

        /// Pods as kubectl would list them, for the forward's choice.
        struct Listed<'a> {
            cx: &'a Context,
            pods: Vec<serde_json::Value>,
        }

        impl Reader for Listed<'_> {
            fn cx(&self) -> &Context {
                self.cx
            }
            fn get(&self, _: &str, _: &str, _: &str) -> Result<Option<serde_json::Value>, Problem> {
                Ok(None)
            }
            fn list(&self, _: &str, _: &str, _: Option<&str>) -> Result<Vec<serde_json::Value>, Problem> {
                Ok(self.pods.clone())
            }
            fn release(
                &self,
                _: &crate::tools::helm::Release,
            ) -> Result<Option<crate::tools::helm::ReleaseStatus>, Problem> {
                Ok(None)
            }
            fn output(&self, cmd: &crate::runner::Cmd) -> Result<crate::runner::Output, Problem> {
                self.cx.runner.run_unchecked(cmd)
            }
        }

        /// A port nothing listens on any more (a connection to it is refused).
        fn refused_port() -> u16 {
            std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
        }

        /// A port where every request gets 200.
        fn answering_port() -> u16 {
            use std::io::{Read, Write};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for mut stream in listener.incoming().flatten() {
                    let _ = stream.read(&mut [0; 4096]);
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            });
            port
        }

        #[test]
        fn a_reused_forward_that_gets_no_answer_is_replaced_and_the_request_sent_again_once() {
            use crate::portforward::tests::{context_with_kubectl, started};
            let dir = tempfile::tempdir().unwrap();
            let port_file = dir.path().join("port");
            let cx = context_with_kubectl(dir.path(), &format!("$(cat {})", port_file.display()));
            let pod = json!({"metadata": {"name": "interlok-a", "creationTimestamp": "2026-11-30T10:00:00Z"},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
            let reader = Listed { cx: &cx, pods: vec![pod] };

            // an earlier caller's forward, gone bad since (kubectl still runs, nothing answers through it)
            std::fs::write(&port_file, refused_port().to_string()).unwrap();
            drop(forward(&reader).unwrap());
            std::fs::write(&port_file, answering_port().to_string()).unwrap();
            assert_eq!(http_status(&reader, "/in-box").unwrap(), Ok(200));
            assert_eq!(started(dir.path()), ["pod/interlok-a", "pod/interlok-a"], "reopened once");
            assert_eq!(http_status(&reader, "/in-box").unwrap(), Ok(200), "and the new one is reused");
            assert_eq!(started(dir.path()).len(), 2);

            // a forward of its own that gets no answer is not tried again at once; the next request opens another
            forward(&reader).unwrap().close(&cx);
            std::fs::write(&port_file, refused_port().to_string()).unwrap();
            let mut consumer = HttpConsumer::reach(&reader).unwrap();
            assert!(consumer.get("/in-box").is_err());
            assert_eq!(started(dir.path()).len(), 3);
            std::fs::write(&port_file, answering_port().to_string()).unwrap();
            assert_eq!(consumer.get("/in-box"), Ok(200));
            assert_eq!(started(dir.path()).len(), 4);
        }
    }

    #[test]
    fn the_pushers_warning_is_found_in_a_coloured_log_whatever_line_it_is_on() {
        let warning = "Prometheus Metrics Adapter could not be started because the bootstrap property or system property prometheusEndpointUrl, was not set.";
        let log = format!(
            "\x1b[35mINFO  [main] [c.a.c.m.StandardBootstrap] Bootstrap complete\n\x1b[m\x1b[1;33mWARN  [main] [c.a.k.m.p.PrometheusMetricsAdapter] {warning}\n\x1b[m\x1b[35mINFO  [main] [c.a.c.Adapter] Adapter(a) Started\n\x1b[m"
        );
        assert_eq!(
            pusher_warning(&log).as_deref(),
            Some(format!("WARN  [main] [c.a.k.m.p.PrometheusMetricsAdapter] {warning}").as_str())
        );
        assert_eq!(pusher_warning("INFO Adapter(a) Started\n"), None);
        assert_eq!(strip_ansi("\x1b[1;33mWARN\x1b[m x"), "WARN x");
    }

    #[test]
    fn pushed_groups_are_those_of_live_pods_of_the_namespace() {
        let group = |labels: serde_json::Value, metrics: &[&str]| Group {
            labels: serde_json::from_value(labels).unwrap(),
            last_push: None,
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
        };
        let groups = [
            group(json!({"job": "interlok", "k8s_namespace": "default", "k8s_pod_name": "a"}), &["MessageMetrics"]),
            group(json!({"job": "interlok", "k8s_namespace": "default", "k8s_pod_name": "gone"}), &["MessageMetrics"]),
            group(json!({"job": "interlok", "k8s_namespace": "other", "k8s_pod_name": "b"}), &["X"]),
            group(json!({"job": "other", "k8s_namespace": "default", "k8s_pod_name": "b"}), &["X"]),
        ];
        let live = ["a".to_string(), "b".to_string()];
        assert_eq!(pushed(&groups, "default", &live), BTreeMap::from([("a".into(), vec!["MessageMetrics".into()])]));
    }

    #[test]
    fn mounted_files_and_pods_of_the_current_template_are_read_from_the_views() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"annotations": {CHECKSUM_ANNOTATION: "sha256:1"}},
            "spec": {"containers": [{"image": "i:1"}]}}))
        .unwrap();
        assert!(runs(&pod, "i:1", Some("sha256:1")));
        assert!(!runs(&pod, "i:1", None) && !runs(&pod, "i:2", Some("sha256:1")));
        assert_eq!(management_components("managementComponents = jmx : jetty\n"), ["jmx", "jetty"]);
    }
}
