//! The live view of scaling: the autoscaler's current/desired replicas, the current average of the metric
//! against the target, the Interlok pods, and a sparkline of the metric over the last minutes (from
//! Prometheus). Redrawn in place on a terminal; one plain line per refresh otherwise. Ctrl-C ends it at once,
//! and a look it cut short is never drawn: its half-read state is not the cluster's.

use std::time::{Duration, Instant};

use crate::cluster::views::{Hpa, Pod};
use crate::cluster::{autoscaler, interlok, pods};
use crate::context::Context;
use crate::verify::Probe;

/// One look at the scaling state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    pub(crate) current_replicas: u64,
    pub(crate) desired_replicas: u64,
    pub(crate) average: Option<String>,
    pub(crate) target: String,
    pub(crate) pods: Vec<String>,
    pub(crate) history: Vec<f64>,
}

impl Frame {
    /// Reads the cluster afresh through the context (the probe's answers are cached for its lifetime; it is
    /// kept for how it reaches Prometheus).
    pub(crate) fn look(probe: &Probe) -> Frame {
        let cx = probe.cx;
        let hpa: Hpa = autoscaler::hpa(cx).ok().flatten().unwrap_or_default();
        let pods = interlok::pods(cx).unwrap_or_default();
        Frame {
            current_replicas: hpa.status.current_replicas,
            desired_replicas: hpa.status.desired_replicas,
            average: hpa.current_value(),
            target: hpa.metric().target().unwrap_or_else(|| "?".into()),
            pods: pods.iter().map(describe_pod).collect(),
            history: history(probe),
        }
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "replicas {} → {} (current → desired)   average {} / target {}",
                self.current_replicas,
                self.desired_replicas,
                self.average.clone().unwrap_or_else(|| "<unknown>".into()),
                self.target
            ),
            format!("pods: {}", if self.pods.is_empty() { "none".into() } else { self.pods.join(", ") }),
            format!("last 5m: {}", sparkline(&self.history)),
        ]
    }
}

fn describe_pod(pod: &Pod) -> String {
    let state = match pods::stuck(pod) {
        Some(stuck) => stuck.reason,
        None => pod.phase().to_string(),
    };
    format!("{} {state}", pod.metadata.name)
}

/// The metric's sum over the last five minutes, one point per 15 s.
fn history(probe: &Probe) -> Vec<f64> {
    let Ok(prometheus) = probe.prometheus() else { return Vec::new() };
    let s = &probe.cx.settings;
    let end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let query = format!("sum({{__name__=~\"{}(_total)?\",k8s_namespace=\"{}\"}})", s.metric, s.namespace);
    crate::prometheus_api::range(&prometheus, &query, end.saturating_sub(300), end, 15).unwrap_or_default()
}

pub(crate) fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() {
        return "(no data yet)".into();
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let line: String = values
        .iter()
        .map(|v| if max <= 0.0 { BARS[0] } else { BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize] })
        .collect();
    format!("{line} (max {max:.0})")
}

/// How a watch ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Until {
    pub(crate) replicas: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) interval: Duration,
}

/// Refreshes until Ctrl-C, the wanted desired replicas, the timeout, or `keep_going` says stop; returns the last
/// frame drawn.
pub(crate) fn watch(cx: &Context, until: Until, keep_going: &dyn Fn() -> bool) -> Frame {
    let probe = Probe::new(cx, None, None);
    let started = Instant::now();
    let mut view = cx.ui.view();
    let mut drawn = Frame::default();
    loop {
        cx.runner.look_again(); // each frame is a new look at the cluster
        let frame = Frame::look(&probe);
        if crate::runner::interrupted() {
            return drawn;
        }
        let lines = frame.lines();
        view.show(&lines, &format!("[{:>4.0}s] {}", started.elapsed().as_secs_f64(), lines.join(" | ")));
        drawn = frame;
        let reached = until.replicas.is_some_and(|n| drawn.desired_replicas >= n);
        let timed_out = until.timeout.is_some_and(|t| started.elapsed() >= t);
        // the refresh period of the view, cut short by Ctrl-C
        if reached || timed_out || !keep_going() || !crate::runner::pause(until.interval) {
            return drawn;
        }
    }
}
