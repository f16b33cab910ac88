//! Port-forwards the wizard opens itself: to 127.0.0.1 only, on a free port, and always closed (the
//! kubectl process is killed when the last copy of the forward drops, on every path out).
//!
//! One run opens one forward per target and hands it to every caller: each is a kubectl process, and on a
//! real cluster a round trip. The run's `Forwards` (shared by every copy of its Context) keeps a forward while
//! its kubectl runs; one to a Service only until the wizard next changes something in its namespace
//! (`Runner::changes_in`: a helm upgrade there can replace the pod kubectl chose behind it). One to a pod
//! holds as long as the pod: the caller chose the pod from a fresh list, and a change cannot make the same
//! pod another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::context::Context;
use crate::problem::Problem;
use crate::runner::Background;

/// The forwards a run has open, by target; every copy of the Context shares them.
#[derive(Clone, Default)]
pub(crate) struct Forwards {
    slots: Arc<Mutex<HashMap<Target, Slot>>>,
}

/// One target's place in the pool, locked while its forward opens: callers asking at once wait for one forward.
type Slot = Arc<Mutex<Option<Pooled>>>;

/// A forward in the pool, with the runner's count of changes in its namespace when it was opened.
struct Pooled {
    forward: PortForward,
    changes: usize,
}

/// Where a forward goes: `svc/NAME` or `pod/NAME` in a namespace, and the remote port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    namespace: String,
    target: String,
    remote_port: u16,
}

impl Target {
    fn is_pod(&self) -> bool {
        self.target.starts_with("pod/")
    }
}

#[derive(Clone)]
pub(crate) struct PortForward {
    // in a Mutex only to be shared between threads (its output channel is not)
    process: Arc<Mutex<Background>>,
    target: Target,
    pub(crate) local_port: u16,
    reused: bool,
}

impl PortForward {
    /// Forwards to a Service (kubectl picks one of its pods).
    pub(crate) fn to_service(
        cx: &Context,
        namespace: &str,
        service: &str,
        remote_port: u16,
    ) -> Result<PortForward, Problem> {
        let target = Target { namespace: namespace.into(), target: format!("svc/{service}"), remote_port };
        let hint = format!("check `kubectl get pods -n {namespace}`: the Service needs a Running pod");
        cx.forwards.open(cx, target, &format!("Service {service}"), hint)
    }

    /// Forwards to one pod, the one chosen to serve this port now: a forward the run holds to another pod
    /// on this namespace and port is closed (its pod was chosen before, and may be on its way out).
    pub(crate) fn to_pod(cx: &Context, namespace: &str, pod: &str, remote_port: u16) -> Result<PortForward, Problem> {
        let target = Target { namespace: namespace.into(), target: format!("pod/{pod}"), remote_port };
        let hint =
            format!("check `kubectl get pod {pod} -n {namespace}`: it may have just been replaced; run this again");
        let forward = cx.forwards.open(cx, target.clone(), &format!("pod {pod}"), hint)?;
        let other_pod =
            |t: &Target| t.is_pod() && t.namespace == target.namespace && t.remote_port == remote_port && *t != target;
        cx.forwards.close(other_pod, None);
        Ok(forward)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.local_port)
    }

    /// Whether an earlier caller of this run had this forward first (it may have gone bad since).
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    fn running(&self) -> bool {
        self.process.lock().unwrap_or_else(|p| p.into_inner()).running()
    }

    /// Takes this forward out of the run's pool (a request through it failed), so the next caller opens
    /// another; kubectl ends once every copy is dropped.
    pub(crate) fn close(&self, cx: &Context) {
        // only this one: another caller may have pooled a newer one meanwhile
        cx.forwards.close(|t| *t == self.target, Some(self));
    }
}

impl Forwards {
    /// The pooled forward to `target` while it holds (see the module's comment), else a new one.
    fn open(&self, cx: &Context, target: Target, what: &str, hint: String) -> Result<PortForward, Problem> {
        let slot = self.slots.lock().unwrap_or_else(|p| p.into_inner()).entry(target.clone()).or_default().clone();
        let mut pooled = slot.lock().unwrap_or_else(|p| p.into_inner());
        // read before opening: a change made while it opens may already have replaced the Service's pod
        let changes = cx.runner.changes_in(&target.namespace);
        if let Some(p) = pooled.as_ref() {
            let current = p.changes == changes || target.is_pod();
            if current && p.forward.running() {
                return Ok(PortForward { reused: true, ..p.forward.clone() });
            }
        }
        *pooled = None;
        let forward = start(cx, target, what, hint)?;
        *pooled = Some(Pooled { forward: forward.clone(), changes });
        Ok(forward)
    }

    /// Takes the forwards to the targets `chosen` picks (only `this` one, if given) out of the pool.
    fn close(&self, chosen: impl Fn(&Target) -> bool, this: Option<&PortForward>) {
        // the map is let go before a slot is locked: `open` holds its slot, opening, without the map
        let slots: Vec<_> = (self.slots.lock().unwrap_or_else(|p| p.into_inner()).iter())
            .filter(|(target, _)| chosen(target))
            .map(|(_, slot)| slot.clone())
            .collect();
        for slot in slots {
            let mut pooled = slot.lock().unwrap_or_else(|p| p.into_inner());
            let is_this = |p: &Pooled| this.is_none_or(|this| Arc::ptr_eq(&this.process, &p.forward.process));
            if pooled.as_ref().is_some_and(is_this) {
                *pooled = None;
            }
        }
    }
}

fn start(cx: &Context, target: Target, what: &str, hint: String) -> Result<PortForward, Problem> {
    let namespace = &target.namespace;
    let cmd = cx.kubectl().port_forward(namespace, &target.target, target.remote_port);
    let process = cx.runner.start_background(&cmd)?;
    // kubectl prints `Forwarding from 127.0.0.1:PORT -> REMOTE` once it listens
    let local_port = process
        .wait_for_line(Duration::from_secs(60), |line| {
            line.strip_prefix("Forwarding from 127.0.0.1:")?.split_whitespace().next()?.parse::<u16>().ok()
        })
        .map_err(|p| p.reworded(format!("could not port-forward to {what} in {namespace}")).with_hint(hint))?;
    Ok(PortForward { process: Arc::new(Mutex::new(process)), target, local_port, reused: false })
}

/// GET a URL; the HTTP status, or the error that kept it from one.
pub(crate) fn http_get(url: &str, timeout: Duration) -> Result<u16, reqwest::Error> {
    let client = reqwest::blocking::Client::builder().timeout(timeout).build()?;
    client.get(url).send().map(|r| r.status().as_u16())
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    use super::*;
    use crate::runner::{Cmd, Runner};
    use crate::settings::Settings;
    use crate::tools::Found;
    use crate::ui::Ui;
    use crate::version::Version;

    /// A context whose kubectl is a script: `port-forward` logs its target (`started` reads them), says it
    /// listens on `port` (a shell expression) as kubectl does, and runs until killed — or ends at once for a
    /// target named `svc/dies`.
    pub(crate) fn context_with_kubectl(dir: &std::path::Path, port: &str) -> Context {
        let script = dir.join("kubectl");
        let body = format!(
            "#!/bin/sh\necho \"$4\" >> {log}\necho \"Forwarding from 127.0.0.1:{port} -> 80\"\n[ \"$4\" = svc/dies ] && exit 0\nexec sleep 60\n",
            log = dir.join("log").display()
        );
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ui = Ui::plain();
        let mut cx = Context::new(Settings::defaults(), Runner::new(ui.clone(), false), ui);
        cx.use_kubectl(Found { path: script, version: Version::new(1, 33, 0) });
        cx
    }

    fn context(dir: &std::path::Path) -> Context {
        context_with_kubectl(dir, "$(( $$ % 40000 + 20000 ))")
    }

    pub(crate) fn started(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("log")).unwrap_or_default().lines().map(String::from).collect()
    }

    fn change(cx: &Context) {
        cx.runner.run(&Cmd::change("true")).expect("a change");
    }

    #[test]
    fn a_service_forward_is_reused_until_the_wizard_changes_its_namespace_and_shared_by_forks() {
        let dir = tempfile::tempdir().unwrap();
        let cx = context(dir.path());
        let first = PortForward::to_service(&cx, "monitoring", "prometheus-server", 80).unwrap();
        let again = PortForward::to_service(&cx.fork(), "monitoring", "prometheus-server", 80).unwrap();
        assert_eq!((again.local_port, first.reused(), again.reused()), (first.local_port, false, true));
        PortForward::to_service(&cx, "monitoring", "pushgateway", 9091).unwrap();
        assert_eq!(started(dir.path()), ["svc/prometheus-server", "svc/pushgateway"], "one per target");

        // a change in another namespace cannot replace the pod behind it (a kubectl that changes nothing)
        let kubectl = dir.path().join("kubectl-changes").display().to_string();
        std::fs::write(&kubectl, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
        cx.runner.run(&Cmd::change(&kubectl).args(["apply", "-f", "-", "-n", "default"])).expect("a change");
        assert!(PortForward::to_service(&cx, "monitoring", "prometheus-server", 80).unwrap().reused());

        // a helm upgrade in its namespace may have replaced the pod kubectl chose behind the Service
        let old = Arc::downgrade(&first.process);
        drop((first, again));
        cx.runner.run(&Cmd::change(&kubectl).args(["apply", "-f", "-", "--namespace=monitoring"])).expect("a change");
        let after = PortForward::to_service(&cx, "monitoring", "prometheus-server", 80).unwrap();
        assert!(!after.reused());
        assert_eq!(started(dir.path()).len(), 3);
        assert!(old.upgrade().is_none(), "the stale forward was closed");
        assert!(PortForward::to_service(&cx, "monitoring", "prometheus-server", 80).unwrap().reused());

        // and so may a change that names no namespace (the cluster's, the machine's)
        change(&cx);
        assert!(!PortForward::to_service(&cx, "monitoring", "prometheus-server", 80).unwrap().reused());
    }

    #[test]
    fn a_forward_whose_kubectl_ended_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cx = context(dir.path());
        let first = PortForward::to_service(&cx, "monitoring", "dies", 80).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while first.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!first.running(), "the script ended");
        assert!(!PortForward::to_service(&cx, "monitoring", "dies", 80).unwrap().reused());
        assert_eq!(started(dir.path()), ["svc/dies", "svc/dies"]);
    }

    #[test]
    fn a_pod_forward_outlives_changes_and_goes_when_another_pod_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let cx = context(dir.path());
        let old = PortForward::to_pod(&cx, "default", "interlok-a", 8080).unwrap();
        change(&cx);
        assert!(PortForward::to_pod(&cx, "default", "interlok-a", 8080).unwrap().reused(), "the same pod");
        let gone = Arc::downgrade(&old.process);
        drop(old);
        let new = PortForward::to_pod(&cx, "default", "interlok-b", 8080).unwrap();
        assert!(!new.reused());
        assert!(gone.upgrade().is_none(), "the forward to the pod no longer chosen was closed");
        // closed by a caller whose request through it failed: the next caller gets a new one
        new.close(&cx);
        assert!(!PortForward::to_pod(&cx, "default", "interlok-b", 8080).unwrap().reused());
        assert_eq!(started(dir.path()), ["pod/interlok-a", "pod/interlok-b", "pod/interlok-b"]);
    }
}
