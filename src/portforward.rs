//! Port-forwards the wizard opens itself: to 127.0.0.1 only, on a free port, and always closed (the
//! kubectl process is killed when the guard drops, on every path out).

use std::time::Duration;

use crate::context::Context;
use crate::problem::Problem;
use crate::runner::Background;

pub(crate) struct PortForward {
    _process: Background,
    pub(crate) local_port: u16,
}

impl PortForward {
    /// Forwards to a Service (kubectl picks one of its pods).
    pub(crate) fn to_service(
        cx: &Context,
        namespace: &str,
        service: &str,
        remote_port: u16,
    ) -> Result<PortForward, Problem> {
        let hint = format!("check `kubectl get pods -n {namespace}`: the Service needs a Running pod");
        open(cx, namespace, &format!("svc/{service}"), remote_port, &format!("Service {service}"), hint)
    }

    /// Forwards to one pod.
    pub(crate) fn to_pod(cx: &Context, namespace: &str, pod: &str, remote_port: u16) -> Result<PortForward, Problem> {
        let hint =
            format!("check `kubectl get pod {pod} -n {namespace}`: it may have just been replaced; run this again");
        open(cx, namespace, &format!("pod/{pod}"), remote_port, &format!("pod {pod}"), hint)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.local_port)
    }
}

fn open(
    cx: &Context,
    namespace: &str,
    target: &str,
    remote_port: u16,
    what: &str,
    hint: String,
) -> Result<PortForward, Problem> {
    let cmd = cx.kubectl().port_forward(namespace, target, remote_port);
    let process = cx.runner.start_background(&cmd)?;
    // kubectl prints `Forwarding from 127.0.0.1:PORT -> REMOTE` once it listens
    let local_port = process
        .wait_for_line(Duration::from_secs(60), |line| {
            line.strip_prefix("Forwarding from 127.0.0.1:")?.split_whitespace().next()?.parse::<u16>().ok()
        })
        .map_err(|p| p.reworded(format!("could not port-forward to {what} in {namespace}")).with_hint(hint))?;
    Ok(PortForward { _process: process, local_port })
}

/// GET a URL; the HTTP status or a transport error as text.
pub(crate) fn http_get(url: &str, timeout: Duration) -> Result<u16, String> {
    let client = reqwest::blocking::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
    client.get(url).send().map(|r| r.status().as_u16()).map_err(|e| e.to_string())
}
