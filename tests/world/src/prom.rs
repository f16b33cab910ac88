//! Real Prometheus and Pushgateway (Debian's binaries), started on free loopback ports with a 1 s scrape of
//! the Pushgateway (`honor_labels: true` unless a test wants the `exported_*` failure), stopped on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::components;

pub struct PromStack {
    pub prometheus: SocketAddr,
    pub pushgateway: SocketAddr,
    children: Vec<Child>,
}

#[derive(Debug, Clone, Copy)]
pub struct PromOptions {
    pub honor_labels: bool,
    pub scrape_pushgateway: bool,
}

impl Default for PromOptions {
    fn default() -> Self {
        PromOptions { honor_labels: true, scrape_pushgateway: true }
    }
}

pub fn free_port() -> u16 {
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
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs: []\n");
        if options.scrape_pushgateway {
            config = format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: prometheus-pushgateway\n    honor_labels: {}\n    static_configs:\n      - targets: ['{pushgateway}']\n",
                options.honor_labels
            );
        }
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("prometheus config");
        let quiet = || Stdio::null();
        let pgw = Command::new(pushgateway_bin)
            .arg(format!("--web.listen-address={pushgateway}"))
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .expect("start pushgateway");
        let prom = Command::new(prometheus_bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .expect("start prometheus");
        let stack = PromStack { prometheus, pushgateway, children: vec![pgw, prom] };
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

    /// Waits (bounded) until Prometheus has scraped the Pushgateway at least once.
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
