//! Real Prometheus and Pushgateway (Debian's binaries), started on free loopback ports, stopped on drop.
//! Prometheus scrapes what the cluster tells it to, as the chart's Prometheus does (`scrape`): no jobs until a
//! Prometheus pod runs, then the jobs of its mounted config, at the world's time scale (1 s).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::components;
use crate::scrape::Discovery;

/// Pods of images containing these run the real servers.
pub const PROMETHEUS_IMAGE: &str = "prometheus/prometheus";
pub const PUSHGATEWAY_IMAGE: &str = "pushgateway";

pub struct PromStack {
    pub prometheus: SocketAddr,
    pub pushgateway: SocketAddr,
    /// Keeps Prometheus's jobs and targets in step with the cluster (the controller loop drives it).
    pub discovery: Arc<Discovery>,
    children: Vec<Child>,
}

/// What a user could not change: the world's time scale.
#[derive(Debug, Clone, Copy)]
pub struct PromOptions {
    /// The global scrape and evaluation interval, in place of the chart's `server.global` (1m by default,
    /// the wizard's 15s): a job's own `scrape_interval` still stands.
    pub scrape_interval: Duration,
}

impl Default for PromOptions {
    fn default() -> Self {
        PromOptions { scrape_interval: Duration::from_secs(1) }
    }
}

/// A port for a server the world starts later (the API server when minikube starts, Prometheus). Taken below
/// the kernel's ephemeral range, where neither `bind(0)` nor an outgoing connection (kubectl makes hundreds)
/// can take it in the meantime; a counter keeps the worlds of one test run apart, and the pid spreads test
/// processes running at once. Falls back to any free port when the range starts too low to leave room.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    const FROM: u32 = 10000;
    if ephemeral_from > FROM + 1000 {
        let span = ephemeral_from - FROM;
        let start = std::process::id().wrapping_mul(7919) % span;
        for _ in 0..span {
            let port = FROM + (start + NEXT.fetch_add(1, Ordering::SeqCst)) % span;
            if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
                return port as u16;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl PromStack {
    /// Starts both servers, or returns None (after the loud skip message) when they are not installed.
    pub fn start(dir: &Path, options: PromOptions) -> Option<PromStack> {
        let prometheus_bin = components::require("prometheus", components::prometheus())?;
        let pushgateway_bin = components::require("prometheus-pushgateway", components::pushgateway())?;
        let pushgateway: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let prometheus: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        std::fs::create_dir_all(dir).expect("prometheus dir");
        let discovery = Arc::new(Discovery::new(dir, prometheus, options.scrape_interval));
        discovery.write_initial_config();
        let quiet = || Stdio::null();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log");
        let pgw = Command::new(pushgateway_bin)
            .arg(format!("--web.listen-address={pushgateway}"))
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .expect("start pushgateway");
        let prom = Command::new(prometheus_bin)
            .arg(format!("--config.file={}", discovery.config_path().display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .arg("--web.enable-lifecycle")
            .stdout(quiet())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let stack = PromStack { prometheus, pushgateway, discovery, children: vec![pgw, prom] };
        stack.wait_until("both servers ready", Duration::from_secs(30), || {
            ready(&stack.prometheus) && ready(&stack.pushgateway)
        });
        Some(stack)
    }

    pub fn prometheus_url(&self) -> String {
        format!("http://{}", self.prometheus)
    }

    pub fn pushgateway_url(&self) -> String {
        format!("http://{}", self.pushgateway)
    }

    /// Pushes a body to the Pushgateway (POST, as Interlok does); returns the HTTP status.
    pub fn push(&self, path: &str, body: &str) -> u16 {
        match ureq::post(&format!("{}{path}", self.pushgateway_url())).send_string(body) {
            Ok(response) => response.status(),
            Err(ureq::Error::Status(status, _)) => status,
            Err(_) => 0,
        }
    }

    /// Runs an instant query and returns the result vector.
    pub fn query(&self, promql: &str) -> Vec<Value> {
        ureq::get(&format!("{}/api/v1/query", self.prometheus_url()))
            .query("query", promql)
            .call()
            .ok()
            .and_then(|r| r.into_json::<Value>().ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits (bounded) until Prometheus scrapes the Pushgateway (a chart's Prometheus pod runs and its job
    /// finds the pushgateway Service).
    pub fn wait_scraped(&self) {
        self.wait_until("the first scrape of the pushgateway", Duration::from_secs(30), || {
            self.query("up{job=\"prometheus-pushgateway\"} == 1").len() == 1
        });
    }

    /// Polls a condition with a backoff capped at 200 ms; panics with `what` at the deadline.
    pub fn wait_until(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        wait_until(what, limit, &mut done);
    }
}

pub fn wait_until(what: &str, limit: Duration, done: &mut dyn FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let _ = rx.recv_timeout(pause); // a bounded backoff between checks of the condition
        drop(tx);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn ready(addr: &SocketAddr) -> bool {
    ureq::get(&format!("http://{addr}/-/ready")).call().is_ok()
}

impl Drop for PromStack {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
