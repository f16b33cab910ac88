//! What a load run did: exact counts by status and error kind, throughput, and latency percentiles from an
//! HDR histogram (microseconds, 3 significant digits).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    Connect,
    Timeout,
    Reset,
    Protocol,
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) errors: BTreeMap<ErrorKind, u64>,
    pub(crate) latency: Histogram<u64>,
    pub(crate) elapsed: Duration,
    /// Requests still in flight when a `--duration` run ended: sent, neither answered nor failed.
    pub(crate) unfinished: u64,
    /// Response body bytes received (counted, not kept).
    pub(crate) body_bytes: u64,
    /// Why the run stopped before its plan was done (out of file descriptors).
    pub(crate) aborted: Option<String>,
}

impl Summary {
    pub(crate) fn new() -> Summary {
        Summary {
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds"),
            elapsed: Duration::ZERO,
            unfinished: 0,
            body_bytes: 0,
            aborted: None,
        }
    }

    pub(crate) fn record(&mut self, result: Result<u16, ErrorKind>, took: Duration) {
        match result {
            Ok(status) => *self.statuses.entry(status).or_default() += 1,
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
        let _ = self.latency.record((took.as_micros() as u64).max(1));
    }

    pub(crate) fn merge(&mut self, other: &Summary) {
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (kind, n) in &other.errors {
            *self.errors.entry(*kind).or_default() += n;
        }
        let _ = self.latency.add(&other.latency);
        self.unfinished += other.unfinished;
        self.body_bytes += other.body_bytes;
    }

    pub(crate) fn sent(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors.values().sum::<u64>() + self.unfinished
    }

    pub(crate) fn ok(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum()
    }

    /// Answered other than 2xx, or failed (the unfinished are neither).
    pub(crate) fn failed(&self) -> u64 {
        self.sent() - self.ok() - self.unfinished
    }

    pub(crate) fn rate(&self) -> f64 {
        self.sent() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn millis(&self, quantile: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub(crate) fn to_json(&self, interrupted: bool) -> serde_json::Value {
        serde_json::json!({
            "sent": self.sent(),
            "ok_2xx": self.ok(),
            "statuses": self.statuses.iter().map(|(s, n)| (s.to_string(), n)).collect::<BTreeMap<_, _>>(),
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "requests_per_second": self.rate(),
            "unfinished": self.unfinished,
            "body_bytes": self.body_bytes,
            "latency_ms": {"p50": self.millis(0.5), "p90": self.millis(0.9), "p99": self.millis(0.99), "max": self.latency.max() as f64 / 1000.0},
            "interrupted": interrupted,
            "aborted": self.aborted,
        })
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        let non_2xx: Vec<String> = self
            .statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(s, n)| format!("{n} × HTTP {s}"))
            .collect();
        let errors: Vec<String> = self.errors.iter().map(|(k, n)| format!("{n} × {k:?}").to_lowercase()).collect();
        let unfinished = match self.unfinished {
            0 => String::new(),
            n => format!(", {n} still in flight when the time was up"),
        };
        vec![
            format!(
                "sent {} requests in {:.2}s: {} answered 2xx{unfinished}",
                self.sent(),
                self.elapsed.as_secs_f64(),
                self.ok()
            ),
            format!("non-2xx: {}", if non_2xx.is_empty() { "none".into() } else { non_2xx.join(", ") }),
            format!("errors: {}", if errors.is_empty() { "none".into() } else { errors.join(", ") }),
            format!("throughput: {:.0} requests/s", self.rate()),
            format!(
                "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                self.millis(0.5),
                self.millis(0.9),
                self.millis(0.99),
                self.latency.max() as f64 / 1000.0
            ),
        ]
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}
