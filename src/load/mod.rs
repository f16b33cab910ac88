//! `load`: sends exactly N requests (or runs for a duration) to Interlok's inbox path (`/in-box`), like the
//! guide's JMeter plan but exact and fast: plain HTTP/1.1 with keep-alive on one thread per connection, an
//! atomic ticket per request so the count is exact, an optional rate cap, per-request timeouts, and a summary
//! of statuses, error kinds and latency percentiles.

mod client;
mod summary;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use client::{parse as parse_response, Target};
pub use summary::{ErrorKind, Summary};

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    /// Exactly this many requests, unless `duration` is set.
    pub requests: u64,
    pub duration: Option<Duration>,
    pub concurrency: usize,
    /// Requests per second, across all connections.
    pub rate: Option<f64>,
    pub timeout: Duration,
}

/// Runs the plan; `stop` ends it early (Ctrl-C), `progress` is told each finished request. The connections
/// are spread over a few event-loop threads (about half the cores: the server under test needs the rest).
pub fn run(plan: &Plan, stop: &AtomicBool, progress: &(dyn Fn(u64) + Sync)) -> Summary {
    let tickets = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let request = plan.target.request_bytes();
    let shared = client::Shared {
        target: &plan.target,
        request: &request,
        timeout: plan.timeout,
        tickets: &tickets,
        limit: plan.duration.is_none().then_some(plan.requests),
        deadline: plan.duration.map(|d| started + d),
        rate: plan.rate,
        started,
        stop,
        done: &done,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let connections = plan.concurrency.max(1);
    let threads = (cores / 2).clamp(1, connections);
    let summary = Mutex::new(Summary::new());
    std::thread::scope(|scope| {
        for t in 0..threads {
            let share = connections / threads + usize::from(t < connections % threads);
            let (shared, summary) = (&shared, &summary);
            scope.spawn(move || {
                let local = client::drive(shared, share, progress);
                summary.lock().expect("summary").merge(&local);
            });
        }
    });
    let mut summary = summary.into_inner().expect("summary");
    summary.elapsed = started.elapsed();
    summary
}

/// A stop flag that Ctrl-C raises (the runner's, shared process-wide).
pub fn ctrl_c_flag() -> Arc<AtomicBool> {
    crate::runner::interrupt_flag()
}
