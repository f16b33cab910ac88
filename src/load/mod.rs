//! `load`: sends exactly N requests (or runs for a duration) to Interlok's inbox path (`/in-box`), like the
//! 2019 guide's JMeter plan but exact and fast: plain HTTP/1.1 with keep-alive on a few event-loop threads, an
//! atomic ticket per request so the count is exact, an optional rate cap, hard per-request deadlines, and a
//! summary of statuses, error kinds and latency percentiles. Nothing a server sends can make it run longer than
//! its limits or hold more than a response head per connection.

mod client;
mod summary;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use client::parse as parse_response;
pub(crate) use client::Target;
pub use summary::ErrorKind;
pub(crate) use summary::Summary;

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) target: Target,
    /// Exactly this many requests, unless `duration` is set.
    pub(crate) requests: u64,
    pub(crate) duration: Option<Duration>,
    pub(crate) concurrency: usize,
    /// Requests per second, across all connections.
    pub(crate) rate: Option<f64>,
    pub(crate) timeout: Duration,
}

/// Runs the plan; `stop` ends it early (Ctrl-C), `progress` is told each finished request. The connections
/// are spread over a few event-loop threads (about half the cores: the server under test needs the rest).
pub(crate) fn run(plan: &Plan, stop: &AtomicBool, progress: &(dyn Fn(u64) + Sync)) -> Summary {
    let tickets = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let aborted = OnceLock::new();
    let request = plan.target.request_bytes();
    let shared = client::Shared {
        target: &plan.target,
        request: &request,
        timeout: plan.timeout,
        tickets: &tickets,
        limit: plan.duration.is_none().then_some(plan.requests),
        // a duration past what the clock can represent has no end but Ctrl-C
        deadline: plan.duration.and_then(|d| started.checked_add(d)),
        rate: plan.rate,
        started,
        stop,
        done: &done,
        aborted: &aborted,
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
    summary.aborted = aborted.into_inner();
    summary
}

/// Why a run stopped when no descriptor was left for a connection, with the limit that was hit.
fn out_of_descriptors_message() -> String {
    #[cfg(unix)]
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or_else(|_| "ulimit -n unknown".to_string(), |(soft, _)| format!("ulimit -n {soft}"));
    #[cfg(not(unix))]
    let limit = "no sockets left".to_string();
    format!("out of file descriptors ({limit}): load could not open all of its connections")
}

/// Whether the time between two requests at `rate` per second is one the clock can count (`--rate`).
pub(crate) fn representable_rate(rate: f64) -> bool {
    Duration::try_from_secs_f64(1.0 / rate).is_ok_and(|interval| Instant::now().checked_add(interval).is_some())
}

/// A stop flag that Ctrl-C raises (the runner's, shared process-wide).
pub(crate) fn ctrl_c_flag() -> Arc<AtomicBool> {
    crate::runner::interrupt_flag()
}
