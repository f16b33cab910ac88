//! Bounded waits that say what they wait for. Where a tool can wait on events (`kubectl wait`, `rollout
//! status`, `helm --wait`) the stages use that; otherwise they poll here, half a second after the first look
//! and then with a backoff capped at 1 s: what they wait for (a rollout, a scrape, a relist) takes seconds,
//! and each look costs kubectl processes and, on a real cluster, round trips.

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::problem::Problem;

const FIRST_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// What one look found: done with a value, not yet (with what to show while waiting), or failed for good.
pub(crate) enum Poll<T> {
    Ready(T),
    Waiting(String),
    Failed(Problem),
}

/// Polls `look` until it is ready, fails, or `limit` passes; the spinner shows the latest status. Each
/// round after the first is a new look at the cluster (`Runner::look_again`): the cluster moves by itself
/// while we wait. Ctrl-C ends the wait at once (between looks, or in a look's command) with an interrupted
/// problem.
pub(crate) fn until<T>(
    cx: &Context,
    what: &str,
    limit: Duration,
    mut look: impl FnMut() -> Poll<T>,
) -> Result<T, Problem> {
    let spinner = cx.ui.spinner(what);
    let deadline = Instant::now() + limit;
    let mut pause = FIRST_PAUSE;
    let mut last;
    loop {
        let seen = look();
        if crate::runner::interrupted() {
            return Err(Problem::new(format!("interrupted (Ctrl-C) while waiting for {what}")));
        }
        match seen {
            Poll::Ready(value) => return Ok(value),
            Poll::Failed(problem) => return Err(problem),
            Poll::Waiting(status) => {
                spinner.set_message(&format!("{what}: {status}"));
                last = status;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Problem::new(format!(
                "gave up after {}s waiting for {what} (last seen: {last})",
                limit.as_secs()
            )));
        }
        if !crate::runner::pause(pause.min(deadline - now)) {
            return Err(Problem::new(format!("interrupted (Ctrl-C) while waiting for {what}")));
        }
        pause = (pause * 2).min(MAX_PAUSE);
        cx.runner.look_again();
    }
}
