//! `load` against a local server that counts what it receives.

use std::time::{Duration, Instant};

use serde_json::Value;
use testworld::loadtarget::{Answer, LoadTarget};

use crate::support::PRODUCT;

fn load(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["load", "--json"];
    all.extend(args);
    let output = std::process::Command::new(PRODUCT).args(&all).output().expect("load");
    let summary: Value = serde_json::from_str(&String::from_utf8_lossy(&output.stdout)).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    });
    (output.status.code().unwrap_or(-1), summary)
}

#[test]
fn exactly_150_requests_by_default() {
    let target = LoadTarget::start(|_| Answer::Ok);
    let (code, summary) = load(&["--url", &target.url()]);
    assert_eq!(code, 0);
    assert_eq!(target.received(), 150);
    assert_eq!(summary["sent"], 150);
    assert_eq!(summary["ok_2xx"], 150);
}

#[test]
fn exactly_10000_requests_over_16_connections() {
    let target = LoadTarget::start(|_| Answer::Ok);
    let (code, summary) = load(&["--url", &target.url(), "-n", "10000", "-c", "16"]);
    assert_eq!(code, 0);
    assert_eq!(target.received(), 10_000);
    assert_eq!(summary["ok_2xx"], 10_000);
}

#[test]
fn a_rate_cap_spreads_the_requests_out() {
    let target = LoadTarget::start(|_| Answer::Ok);
    let started = Instant::now();
    let (code, _) = load(&["--url", &target.url(), "--rate", "50", "-n", "100"]);
    let took = started.elapsed();
    assert_eq!(code, 0);
    assert_eq!(target.received(), 100);
    // 100 requests at 50/s: the last one's slot is 1.98 s after the start (generous upper bound)
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn resets_500s_and_stalls_are_each_counted_exactly() {
    let target = LoadTarget::start(|n| match n % 10 {
        3 => Answer::Error500,
        5 => Answer::Reset,
        7 if n < 20 => Answer::Stall,
        _ => Answer::Ok,
    });
    let (code, summary) = load(&["--url", &target.url(), "-n", "100", "--timeout", "1s"]);
    assert_eq!(code, 1, "some requests failed: {summary}");
    assert_eq!(summary["sent"], 100);
    assert_eq!(summary["statuses"]["500"], 10);
    assert_eq!(summary["errors"]["reset"], 10);
    assert_eq!(summary["errors"]["timeout"], 2);
    assert_eq!(summary["ok_2xx"], 78);
    assert_eq!(target.received(), 100);
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, summary) = load(&["--url", &format!("http://127.0.0.1:{port}/in-box"), "-n", "5"]);
    assert_eq!(code, 1);
    assert_eq!(summary["errors"]["connect"], 5);
}

#[test]
fn bad_load_arguments_are_rejected_before_anything_is_sent() {
    for args in [
        vec!["-n", "0"],
        vec!["--url", "ftp://x/in-box"],
        vec!["--rate", "-3"],
        vec!["-c", "0"],
        vec!["--url", "http:///in-box"],
        vec!["--timeout", "soon"],
    ] {
        let output = std::process::Command::new(PRODUCT).arg("load").args(&args).output().expect("load");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// kubectl processes of this world still running a port-forward (scanned from /proc).
pub fn leftover_port_forwards(world: &testworld::world::World) -> Vec<String> {
    let marker = world.dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&marker) && cmdline.contains("port-forward"))
        .collect()
}

#[test]
fn in_the_world_load_port_forwards_to_interlok_and_closes_the_forward() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    assert_eq!(crate::monitoring::setup(&world, &[]).code, 0);
    let before = world.interlok_requests();
    let run = world.run(PRODUCT, &["load", "-n", "150"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("sent 150 requests"), "{}", run.stdout);
    assert_eq!(world.interlok_requests() - before, 150);
    assert_eq!(leftover_port_forwards(&world), Vec::<String>::new());
}

#[test]
fn ctrl_c_stops_cleanly_with_a_partial_summary() {
    let target = LoadTarget::start(|_| Answer::Ok);
    let child = std::process::Command::new(PRODUCT)
        .args(["load", "--json", "--url", &target.url(), "--duration", "60s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("load");
    let deadline = Instant::now() + Duration::from_secs(20);
    while target.received() == 0 {
        assert!(Instant::now() < deadline, "load never started");
        std::thread::yield_now();
    }
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("partial summary as JSON");
    assert_eq!(summary["interrupted"], true);
    assert!(summary["sent"].as_u64().unwrap() > 0);
    assert_eq!(summary["sent"].as_u64().unwrap(), target.received(), "every request sent was counted");
}
