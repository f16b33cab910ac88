//! `load`: sends exactly N requests (or runs for a duration) to Interlok's `/in-box`, like the guide's JMeter
//! plan but exact and fast: plain HTTP/1.1 with keep-alive on one thread per connection, an atomic ticket per
//! request so the count is exact, an optional rate cap, per-request timeouts, and a summary of statuses,
//! error kinds and latency percentiles.

mod client;
mod summary;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use client::Target;
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

/// Runs the plan; `stop` ends it early (Ctrl-C), `progress` is told each finished request.
pub fn run(plan: &Plan, stop: &AtomicBool, progress: &(dyn Fn(u64) + Sync)) -> Summary {
    let tickets = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = plan.duration.map(|d| started + d);
    let summary = Mutex::new(Summary::new());
    std::thread::scope(|scope| {
        for _ in 0..plan.concurrency.max(1) {
            scope.spawn(|| {
                let mut local = Summary::new();
                let mut connection = client::Connection::new(&plan.target, plan.timeout);
                loop {
                    if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let ticket = tickets.fetch_add(1, Ordering::Relaxed);
                    if plan.duration.is_none() && ticket >= plan.requests {
                        break;
                    }
                    if let Some(rate) = plan.rate {
                        // each ticket has a slot in time; wait for it (pacing, not polling)
                        let slot = started + Duration::from_secs_f64(ticket as f64 / rate);
                        if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let began = Instant::now();
                    let result = connection.request();
                    local.record(result, began.elapsed());
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
                summary.lock().expect("summary").merge(&local);
            });
        }
    });
    let mut summary = summary.into_inner().expect("summary");
    summary.elapsed = started.elapsed();
    summary
}

/// A stop flag that Ctrl-C raises (set once per process).
pub fn ctrl_c_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let raised = flag.clone();
        let _ = ctrlc::set_handler(move || raised.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}
