//! One answer per question per look. Every read of the cluster's objects and of Helm's releases in a run —
//! a stage's check, a wait's round, verify's checks — goes through the look it is made in (`Runner::look`):
//! the first caller asks kubectl or helm, callers asking at once wait for that answer, and later callers get
//! it, until the wizard starts or ends a change or a new look begins (a verify, a wait's next round, the end
//! of a `kubectl wait`). Against a real cluster each answer saved is a round trip.
//!
//! The kinds asked about most (`SNAPSHOT`) are fetched for a whole namespace in one `kubectl get`, so a
//! Deployment, its pods, its Service and its autoscaler cost one call between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::context::Context;
use crate::problem::Problem;
use crate::runner::{Cmd, Look, Output};
use crate::tools::helm::{self, Release, ReleaseStatus};

type Answer = Result<Option<Value>, Problem>;
type ReleaseAnswer = Result<Option<ReleaseStatus>, Problem>;
type OutputAnswer = Result<Output, Problem>;

const SNAPSHOT: &str = "deployments,services,pods,configmaps,horizontalpodautoscalers";
const SNAPSHOT_KINDS: [(&str, &[&str]); 5] = [
    ("Deployment", &["deployment", "deployments", "deploy"]),
    ("Service", &["service", "services", "svc"]),
    ("Pod", &["pod", "pods", "po"]),
    ("ConfigMap", &["configmap", "configmaps", "cm"]),
    ("HorizontalPodAutoscaler", &["hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"]),
];

/// The API kind a caller's name stands for, when it is one of the snapshot's.
fn snapshot_kind(kind: &str) -> Option<&'static str> {
    SNAPSHOT_KINDS.iter().find(|(_, names)| names.contains(&kind)).map(|(kind, _)| *kind)
}

/// What belongs to the run's current look (its answers, say), shared by every fork of its context.
pub(crate) struct PerLook<T>(Mutex<Option<(Look, Arc<T>)>>);

impl<T> Default for PerLook<T> {
    fn default() -> Self {
        PerLook(Mutex::new(None))
    }
}

impl<T: Default> PerLook<T> {
    /// The one of this look: a new one when the look has moved since the last call.
    pub(crate) fn current(&self, look: Look) -> Arc<T> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some((seen, value)) if *seen == look => value.clone(),
            _ => {
                let value = Arc::<T>::default();
                *slot = Some((look, value.clone()));
                value
            }
        }
    }
}

/// What has been asked in one look.
#[derive(Default)]
pub(crate) struct Lookups {
    /// One slot per question, filled by whoever asks first.
    answers: Mutex<HashMap<String, Arc<OnceLock<Answer>>>>,
    releases: Mutex<HashMap<String, Arc<OnceLock<ReleaseAnswer>>>>,
    outputs: Mutex<HashMap<String, Arc<OnceLock<OutputAnswer>>>>,
}

impl Lookups {
    /// The answers of the run's current look.
    pub(crate) fn current(cx: &Context) -> Arc<Lookups> {
        cx.look.current(cx.runner.look())
    }

    pub(crate) fn get(&self, cx: &Context, kind: &str, namespace: &str, name: &str) -> Answer {
        if let Some(items) = self.snapshot(cx, kind, namespace) {
            let api_kind = snapshot_kind(kind);
            return Ok(items.into_iter().find(|i| i["kind"].as_str() == api_kind && i["metadata"]["name"] == name));
        }
        self.answer(format!("get {kind} {namespace} {name}"), || super::fetch_one(cx, kind, namespace, name))
    }

    pub(crate) fn list(
        &self,
        cx: &Context,
        kind: &str,
        namespace: &str,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, Problem> {
        if let Some(items) = self.snapshot(cx, kind, namespace) {
            let api_kind = snapshot_kind(kind);
            let chosen: Option<Vec<Value>> = items
                .into_iter()
                .filter(|i| i["kind"].as_str() == api_kind)
                .filter_map(|i| match selector.map(|s| super::selector_matches(&i, s)) {
                    None | Some(Some(true)) => Some(Some(i)),
                    Some(Some(false)) => None,
                    Some(None) => Some(None), // an operator the snapshot cannot judge: ask kubectl
                })
                .collect();
            if let Some(chosen) = chosen {
                return Ok(chosen);
            }
        }
        let answer = self.answer(format!("list {kind} {namespace} {selector:?}"), || {
            super::fetch_list(cx, kind, namespace, selector).map(|items| Some(Value::Array(items)))
        })?;
        Ok(answer.and_then(|v| v.as_array().cloned()).unwrap_or_default())
    }

    /// A release's status: with Helm 3 and 4 from one `helm list` of its namespace per look.
    pub(crate) fn release(&self, cx: &Context, release: &Release) -> ReleaseAnswer {
        if cx.helm_major() != 2 {
            let listed = self.answer(format!("releases {}", release.namespace), || {
                super::releases::fetch_list(cx, &release.namespace).map(|items| Some(Value::Array(items)))
            })?;
            let items = listed.and_then(|v| v.as_array().cloned()).unwrap_or_default();
            return helm::release_status(&release.name, &items).map_err(Problem::new);
        }
        let key = format!("{} {}", release.namespace, release.name);
        let slot = self.releases.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone();
        slot.get_or_init(|| super::releases::fetch_status(cx, release)).clone()
    }

    /// What a query printed, whatever its exit code (a pod's log, a read of an aggregated API), asked once.
    pub(crate) fn output(&self, cx: &Context, cmd: &Cmd) -> OutputAnswer {
        let slot = self.outputs.lock().unwrap_or_else(|p| p.into_inner()).entry(cmd.to_string()).or_default().clone();
        slot.get_or_init(|| cx.runner.run_unchecked(cmd)).clone()
    }

    /// The namespace's objects of the snapshot kinds, fetched once; None when `kind` is not one of them or
    /// the namespace cannot be listed that way (then each question is asked on its own).
    fn snapshot(&self, cx: &Context, kind: &str, namespace: &str) -> Option<Vec<Value>> {
        if namespace.is_empty() || snapshot_kind(kind).is_none() {
            return None;
        }
        let answer = self.answer(format!("snapshot {namespace}"), || {
            super::fetch_many(cx, SNAPSHOT, namespace).map(|items| Some(Value::Array(items)))
        });
        answer.ok().flatten().and_then(|v| v.as_array().cloned())
    }

    fn answer(&self, key: String, fetch: impl FnOnce() -> Answer) -> Answer {
        let slot = self.answers.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().clone();
        slot.get_or_init(fetch).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::cluster::Reader;
    use crate::context::Context;
    use crate::runner::{Cmd, Runner};
    use crate::settings::Settings;
    use crate::tools::Found;
    use crate::ui::Ui;
    use crate::version::Version;

    /// A context whose kubectl logs each call and answers every `get` with one Deployment, `web`.
    fn context(dir: &std::path::Path) -> Context {
        let script = dir.join("kubectl");
        let list = r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"Deployment","metadata":{"name":"web"}}]}"#;
        let body = format!("#!/bin/sh\necho \"$*\" >> {}\necho '{list}'\n", dir.join("log").display());
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ui = Ui::plain();
        let mut cx = Context::new(Settings::defaults(), Runner::new(ui.clone(), false), ui);
        cx.use_kubectl(Found { path: script, version: Version::new(1, 33, 0) });
        cx
    }

    #[test]
    fn an_answer_holds_for_the_rest_of_its_look() {
        let dir = tempfile::tempdir().unwrap();
        let cx = context(dir.path());
        let asked = || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default().lines().count();
        let web = |cx: &Context| cx.get("deployment", "default", "web").expect("an answer").is_some();

        // callers at once, a fork among them, and another kind of the same namespace: one kubectl
        let fork = cx.fork();
        std::thread::scope(|scope| {
            let askers: Vec<_> = (0..3).map(|_| scope.spawn(|| web(&cx))).collect();
            assert!(askers.into_iter().all(|a| a.join().unwrap()));
            assert_eq!(fork.list("pods", "default", None).expect("pods"), Vec::<serde_json::Value>::new());
        });
        assert_eq!(asked(), 1);
        assert!(web(&cx));
        assert_eq!(asked(), 1, "the same look, the same answer");
        let log = Cmd::query(dir.path().join("kubectl").display().to_string()).args(["logs", "web-1"]);
        assert_eq!(cx.output(&log).expect("a log").stdout, fork.output(&log).expect("the same log").stdout);
        assert_eq!(asked(), 2, "a pod's log, once in the look");
        cx.runner.look_again();
        assert!(fork.output(&log).is_ok());
        assert_eq!(asked(), 3, "and again in the next");
        assert!(web(&cx));
        assert_eq!(asked(), 4);

        cx.runner.run(&Cmd::change("true")).expect("a change");
        assert!(web(&cx));
        assert_eq!(asked(), 5, "a change ended since");

        cx.runner.run(&Cmd::query("true").waits()).expect("a wait");
        assert!(web(&cx));
        assert_eq!(asked(), 6, "the cluster moved while a command waited for it");

        cx.runner.look_again();
        assert!(web(&cx));
        assert!(web(&fork));
        assert_eq!(asked(), 7, "a new look, shared by the fork");
    }
}
