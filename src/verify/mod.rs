//! `verify`: walks the chain tools → cluster → helm → prometheus → pushgateway → interlok → metric → adapter
//! → custom-metrics → hpa → grafana, link by link. A check whose link it depends on failed is skipped, so the
//! first ✘ is where to look. Independent checks run at once; expensive lookups are made once (`Probe`).

mod checks;
mod probe;
mod report;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use probe::Probe;
pub use report::{print_human, to_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
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
    Grafana,
}

impl Group {
    pub fn name(self) -> &'static str {
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
            Group::Grafana => "grafana",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// What one check found: its status, evidence, and for ⚠/✘ what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    pub message: String,
    pub hint: Option<String>,
}

impl Finding {
    pub fn ok(message: impl Into<String>) -> Finding {
        Finding { status: Status::Ok, message: message.into(), hint: None }
    }
    pub fn warn(message: impl Into<String>, hint: impl Into<String>) -> Finding {
        Finding { status: Status::Warn, message: message.into(), hint: Some(hint.into()) }
    }
    pub fn fail(message: impl Into<String>, hint: impl Into<String>) -> Finding {
        Finding { status: Status::Fail, message: message.into(), hint: Some(hint.into()) }
    }
}

/// A check: stable id, group, the checks it trusts, and what it does.
pub struct Check {
    pub id: &'static str,
    pub group: Group,
    pub needs: &'static [&'static str],
    pub run: fn(&Probe) -> Finding,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: &'static str,
    pub group: &'static str,
    pub status: Status,
    pub message: String,
    pub hint: Option<String>,
    #[serde(skip)]
    pub took: Duration,
}

/// Runs the checks in dependency waves; each wave's checks run concurrently.
pub fn run(probe: &Probe, only_pre: bool) -> Vec<Outcome> {
    let all: Vec<Check> = checks::all().into_iter().filter(|c| !only_pre || checks::PRE.contains(&c.id)).collect();
    let mut done: BTreeMap<&'static str, Outcome> = BTreeMap::new();
    while done.len() < all.len() {
        let ready: Vec<&Check> = all
            .iter()
            .filter(|c| !done.contains_key(c.id))
            .filter(|c| c.needs.iter().all(|n| done.contains_key(n) || !all.iter().any(|a| a.id == *n)))
            .collect();
        let results: Vec<Outcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = ready.iter().map(|check| scope.spawn(|| run_one(probe, check, &done))).collect();
            handles.into_iter().map(|h| h.join().expect("a check panicked")).collect()
        });
        for outcome in results {
            done.insert(outcome.id, outcome);
        }
    }
    let mut outcomes: Vec<Outcome> = all.iter().filter_map(|c| done.remove(c.id)).collect();
    outcomes.sort_by_key(|o| all.iter().find(|c| c.id == o.id).map(|c| (c.group, 0)).unwrap_or((Group::Grafana, 0)));
    outcomes
}

fn run_one(probe: &Probe, check: &Check, done: &BTreeMap<&'static str, Outcome>) -> Outcome {
    let started = Instant::now();
    let broken: Vec<&str> = check
        .needs
        .iter()
        .filter(|n| done.get(*n).is_some_and(|o| matches!(o.status, Status::Fail | Status::Skip)))
        .copied()
        .collect();
    let finding = if broken.is_empty() {
        (check.run)(probe)
    } else {
        Finding { status: Status::Skip, message: format!("skipped: depends on {}", broken.join(", ")), hint: None }
    };
    Outcome {
        id: check.id,
        group: check.group.name(),
        status: finding.status,
        message: finding.message,
        hint: finding.hint,
        took: started.elapsed(),
    }
}

pub fn healthy(outcomes: &[Outcome]) -> bool {
    !outcomes.iter().any(|o| o.status == Status::Fail)
}

/// The ids of every check, in report order (for docs and tests).
pub fn check_ids() -> Vec<&'static str> {
    checks::all().iter().map(|c| c.id).collect()
}
