//! `verify`: walks the chain tools → cluster → helm → prometheus → pushgateway → interlok → metric → adapter
//! → custom-metrics → hpa (or, on KEDA's path, keda → scaledobject → external-metrics → keda-hpa) → grafana,
//! link by link. A check whose link it depends on failed is skipped, so the
//! first ✘ is where to look. All checks run at once; expensive lookups are made once and shared (`Probe`).

mod checks;
mod probe;
mod report;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::context::Context;
use crate::settings::Scaler;

pub use probe::Probe;
pub(crate) use report::print_human;
pub use report::to_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Group {
    Tools,
    Cluster,
    Helm,
    Prometheus,
    Pushgateway,
    Interlok,
    Metric,
    Adapter,
    CustomMetrics,
    Hpa,
    Keda,
    ScaledObject,
    ExternalMetrics,
    KedaHpa,
    Grafana,
}

impl Group {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Group::Tools => "tools",
            Group::Cluster => "cluster",
            Group::Helm => "helm",
            Group::Prometheus => "prometheus",
            Group::Pushgateway => "pushgateway",
            Group::Interlok => "interlok",
            Group::Metric => "metric",
            Group::Adapter => "adapter",
            Group::CustomMetrics => "custom-metrics",
            Group::Hpa => "hpa",
            Group::Keda => "keda",
            Group::ScaledObject => "scaledobject",
            Group::ExternalMetrics => "external-metrics",
            Group::KedaHpa => "keda-hpa",
            Group::Grafana => "grafana",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// What one check found: its status, evidence, and for ⚠/✘ what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) status: Status,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl Finding {
    pub(crate) fn ok(message: impl Into<String>) -> Finding {
        Finding { status: Status::Ok, message: message.into(), hint: None }
    }
    pub(crate) fn warn(message: impl Into<String>, hint: impl Into<String>) -> Finding {
        Finding { status: Status::Warn, message: message.into(), hint: Some(hint.into()) }
    }
    pub(crate) fn fail(message: impl Into<String>, hint: impl Into<String>) -> Finding {
        Finding { status: Status::Fail, message: message.into(), hint: Some(hint.into()) }
    }
}

/// A check: stable id, group, the checks it trusts, and what it does.
pub(crate) struct Check {
    pub(crate) id: &'static str,
    pub(crate) group: Group,
    pub(crate) needs: &'static [&'static str],
    pub(crate) run: fn(&Probe) -> Finding,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: &'static str,
    pub(crate) group: &'static str,
    pub(crate) status: Status,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    #[serde(skip)]
    pub took: Duration,
}

/// Runs every check at once (they share the probe's lookups), then reads the results in chain order: a check
/// whose dependency failed or was skipped is reported as skipped, whatever it found. The report is the same as
/// running link by link; the time is that of the slowest check.
pub fn run(probe: &Probe, only_pre: bool) -> Vec<Outcome> {
    if only_pre {
        return run_checks(probe, |c| checks::PRE.contains(&c.id));
    }
    // the adapter's chain or KEDA's, by what scales the Deployment: the checks both chains have start at once,
    // the others once it is known
    let scaler = OnceLock::new();
    let in_use = || *scaler.get_or_init(|| crate::cluster::autoscaler::scaler_in_use(probe));
    let both = |c: &Check| checks::on_path(c, Scaler::Adapter) && checks::on_path(c, Scaler::Keda);
    run_checks(probe, |c| both(c) || checks::on_path(c, in_use()))
}

/// Only these checks (a stage's link, or the links a setup run set up), with checks outside them taken as passed.
fn run_only(probe: &Probe, ids: &[&str]) -> Vec<Outcome> {
    run_checks(probe, |c| ids.contains(&c.id))
}

/// The first failing check of these.
pub(crate) fn first_failure(cx: &Context, ids: &[&str]) -> Option<Outcome> {
    let probe = Probe::shared(cx);
    run_only(&probe, ids).into_iter().find(|o| o.status == Status::Fail)
}

/// How long a just-changed link may take to show in its checks: a scrape or two and an adapter relist, and
/// at least the 5 s in which Prometheus batches target updates, twice.
fn settle_time(cx: &Context) -> Duration {
    let s = &cx.settings;
    (s.scrape_interval * 2 + s.relist_interval).max(Duration::from_secs(10)).min(s.wait_timeout)
}

/// Runs these checks until none fails, for at most `settle_time`; the last report. A check that passed stays
/// passed: later rounds look again (afresh: the cluster moves on by itself while it settles) only at those
/// that have not, so a wait on one slow link does not ask the whole chain again every round.
pub(crate) fn settled(cx: &Context, ids: &[&str], what: &str) -> Vec<Outcome> {
    let mut passed: Vec<Outcome> = Vec::new();
    let mut last = Vec::new();
    let mut round = 0;
    let _ = crate::wait::until(cx, what, settle_time(cx), || {
        round += 1;
        let probe = Probe::shared(cx);
        let pending: Vec<&str> = ids.iter().copied().filter(|id| !passed.iter().any(|o| o.id == *id)).collect();
        last = run_only(&probe, &pending);
        passed.extend(last.iter().filter(|o| matches!(o.status, Status::Ok | Status::Warn)).cloned());
        match last.iter().find(|o| o.status == Status::Fail) {
            None => crate::wait::Poll::Ready(()),
            Some(failed) => crate::wait::Poll::Waiting(format!("{}: {}", failed.id, failed.message)),
        }
    });
    let order = checks::all();
    let mut report: Vec<Outcome> = last.into_iter().chain(passed).collect();
    report.sort_by_key(|o| order.iter().position(|c| c.id == o.id));
    report.dedup_by_key(|o| o.id);
    report
}

/// Each check in its own thread, which first asks `wanted` (it may wait for an answer other checks need too).
fn run_checks(probe: &Probe, wanted: impl Fn(&Check) -> bool + Sync) -> Vec<Outcome> {
    let all = checks::all();
    let wanted = &wanted;
    let found: Vec<(&Check, Finding, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = all
            .iter()
            .map(|check| {
                scope.spawn(move || {
                    wanted(check).then(|| {
                        let started = Instant::now();
                        ((check.run)(probe), started.elapsed())
                    })
                })
            })
            .collect();
        let crashed =
            || Some((Finding::fail("this check crashed", "please report it: `interlok-k8s bundle`"), Duration::ZERO));
        all.iter()
            .zip(handles)
            .filter_map(|(check, h)| h.join().unwrap_or_else(|_| crashed()).map(|(f, took)| (check, f, took)))
            .collect()
    });
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(found.len());
    for (check, finding, took) in found {
        let broken: Vec<&str> = check
            .needs
            .iter()
            .filter(|n| outcomes.iter().any(|o| o.id == **n && matches!(o.status, Status::Fail | Status::Skip)))
            .copied()
            .collect();
        let finding = if broken.is_empty() {
            finding
        } else {
            Finding { status: Status::Skip, message: format!("skipped: depends on {}", broken.join(", ")), hint: None }
        };
        outcomes.push(Outcome {
            id: check.id,
            group: check.group.name(),
            status: finding.status,
            message: finding.message,
            hint: finding.hint,
            took,
        });
    }
    outcomes
}

pub fn healthy(outcomes: &[Outcome]) -> bool {
    !outcomes.iter().any(|o| o.status == Status::Fail)
}

/// The ids of every check, in report order (for docs and tests).
pub fn check_ids() -> Vec<&'static str> {
    checks::all().iter().map(|c| c.id).collect()
}

/// The ids of the checks verify runs when this scaler's path is installed (the stages' tests hold their links to it).
#[cfg(test)]
pub(crate) fn check_ids_on(scaler: crate::settings::Scaler) -> Vec<&'static str> {
    checks::all().iter().filter(|c| checks::on_path(c, scaler)).map(|c| c.id).collect()
}
