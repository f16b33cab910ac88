//! The speed benchmark (docs/performance.md): `setup` in the test world with configured latencies per
//! operation — its wall time against the critical path of the stage graph and against the plain sum (what a
//! strictly sequential wizard would take); `verify` on the healthy world against its slowest single check; how
//! soon the wizard notices a readiness the world reports; `--help` start-up; and what the supervisor adds to a call.
//! Run: `cargo bench --bench speed` (add `-- 0.25` to scale the latencies down for a quick look).
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use interlok_k8s::context::Context;
use interlok_k8s::runner::Runner;
use interlok_k8s::settings::{Flags, Settings};
use interlok_k8s::ui::Ui;
use testworld::prom::PromOptions;
use testworld::world::{ClusterState, World};

const PRODUCT: &str = env!("CARGO_BIN_EXE_interlok-k8s");

fn main() {
    let scale: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1.0);
    let secs = |s: f64| Duration::from_secs_f64(s * scale);
    // emulated times of the slow operations on a real workstation, by the stage they fall in
    let stage_latency: BTreeMap<&str, f64> = [
        ("cluster", 60.0),
        ("helm", 5.0),
        ("prometheus", 40.0),
        ("interlok", 60.0),
        ("adapter", 30.0),
        ("grafana", 30.0),
    ]
    .into_iter()
    .map(|(s, l)| (s, l * scale))
    .collect();
    let world = World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(PromOptions::default())
        .cluster(ClusterState::Stopped)
        .latency("minikube", &["start"], secs(60.0))
        .latency("helm", &["repo", "add"], secs(5.0))
        .image_latency("quay.io/prometheus/prometheus", secs(40.0))
        .image_latency("interlok", secs(60.0)) // the default image and the stock ones
        .image_latency("prometheus-adapter", secs(30.0))
        .image_latency("grafana/grafana", secs(30.0))
        .start()
        .expect("the test world (run scripts/install-test-deps.sh)");
    let charts = world.charts.as_ref().expect("charts");
    let repos = [
        format!("--chart-repo=prometheus-community={}", charts.repo_url("prometheus-community")),
        format!("--chart-repo=grafana-community={}", charts.repo_url("grafana-community")),
    ];
    let started = Instant::now();
    let run = world.run(PRODUCT, &[&repos[0], &repos[1], "--grafana", "setup", "--yes"]);
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(run.code, 0, "setup failed:\n{}", run.all());
    let (critical, sum) = critical_path(&stage_latency);
    println!("setup with configured latencies (scale {scale}):");
    println!("  wall time            {wall:7.1} s");
    println!("  critical path        {critical:7.1} s   wall / critical path = {:.3}  (goal <= 1.10)", wall / critical);
    println!("  sum of all latencies {sum:7.1} s   wall / sum = {:.3}  (a sequential wizard: >= 1)", wall / sum);
    println!("  readiness noticed within {:.2} s after the world reported it (goal <= 1 s)", noticed(&world));

    let (verify_wall, slowest, slowest_id) = verify_timing(&world);
    println!("verify on the healthy world:");
    println!(
        "  wall time {verify_wall:.2} s, slowest single check {slowest_id} {slowest:.2} s, ratio {:.2}  (goal <= 1.2)",
        verify_wall / slowest
    );
    println!("--help: median {:.1} ms over 21 runs  (goal < 10 ms)", help_median_ms());
    let (direct, supervised) = supervisor_overhead(&world);
    println!(
        "a tool call (kubectl version --client): median {direct:.1} ms alone, {supervised:.1} ms under the \
         supervisor, {:.1} ms more  (goal <= 5 ms)",
        supervised - direct
    );
}

/// The longest path through the stage graph, weighting each stage by its latency; and the plain sum.
fn critical_path(latency: &BTreeMap<&str, f64>) -> (f64, f64) {
    let settings = Settings::from_flags([("grafana", "true")]).expect("settings");
    let cx = Context::new(settings, Runner::new(Ui::plain(), true), Ui::plain());
    let stages = interlok_k8s::stages::all();
    let mut finish: BTreeMap<interlok_k8s::engine::StageId, f64> = BTreeMap::new();
    for stage in &stages {
        let start = stage.after(&cx).iter().filter_map(|d| finish.get(d)).copied().fold(0.0, f64::max);
        finish.insert(stage.id(), start + latency.get(stage.id().name()).copied().unwrap_or(0.0));
    }
    (finish.values().copied().fold(0.0, f64::max), latency.values().sum())
}

/// How long after the Interlok Deployment became available (in the world's event log) the wizard next looked
/// at it. That wait polls with a backoff capped at 1 s; the others (helm --wait, rollout status) watch, and
/// their events arrive on the open stream.
fn noticed(world: &World) -> f64 {
    let requests = world.requests();
    let mut available = false;
    for event in world.state.store.history("apps/deployments") {
        if event.object["metadata"]["name"] != "interlok" {
            continue;
        }
        let now_available = event.object["status"]["availableReplicas"].as_u64().unwrap_or(0) > 0;
        if now_available && !available {
            let first_look = requests
                .iter()
                .filter(|r| {
                    r.method == "GET" && (r.path.ends_with("/deployments/interlok") || r.path.ends_with("/pods"))
                })
                .filter_map(|r| r.at)
                .filter(|at| *at >= event.at)
                .min();
            return first_look.map_or(f64::NAN, |at| at.duration_since(event.at).as_secs_f64());
        }
        available = now_available;
    }
    f64::NAN
}

/// verify run in this process (the checks' own timings): wall time and the slowest single check.
fn verify_timing(world: &World) -> (f64, f64, &'static str) {
    for (key, value) in world.env() {
        // the benchmark process stands in for the user's shell
        std::env::set_var(key, value);
    }
    let settings = Settings::resolve(&Flags::default()).expect("settings");
    let runner = Runner::new(Ui::plain(), false).with_default_timeout(Duration::from_secs(60));
    let cx = Context::new(settings, runner, Ui::plain());
    let probe = interlok_k8s::verify::Probe::new(&cx, None, None);
    let started = Instant::now();
    let outcomes = interlok_k8s::verify::run(&probe, false);
    let wall = started.elapsed().as_secs_f64();
    assert!(interlok_k8s::verify::healthy(&outcomes), "{}", interlok_k8s::verify::to_json(&outcomes));
    let slowest = outcomes.iter().max_by(|a, b| a.took.cmp(&b.took)).expect("checks");
    (wall, slowest.took.as_secs_f64(), slowest.id)
}

/// Every command the wizard runs goes through its supervisor (`src/supervise.rs`): what that adds to a call.
fn supervisor_overhead(world: &World) -> (f64, f64) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let kubectl = world.dir.join("bin/kubectl");
    let call = |supervised: bool| {
        let mut command = if supervised { Command::new(PRODUCT) } else { Command::new(&kubectl) };
        if supervised {
            command.arg("__supervise").arg(&kubectl);
        }
        command.args(["version", "--client", "-o", "json"]).envs(world.env());
        let started = Instant::now();
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().expect("kubectl");
        let mut lifeline = child.stdin.take().expect("stdin");
        if supervised {
            lifeline.write_all(b"-\n").expect("no input"); // and the lifeline stays open until the call ends
        }
        assert!(child.wait().expect("wait").success());
        drop(lifeline);
        started.elapsed().as_secs_f64() * 1000.0
    };
    (median(|| call(false)), median(|| call(true)))
}

fn median(mut sample: impl FnMut() -> f64) -> f64 {
    let mut times: Vec<f64> = (0..21).map(|_| sample()).collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

fn help_median_ms() -> f64 {
    median(|| {
        let started = Instant::now();
        let output = std::process::Command::new(PRODUCT).arg("--help").output().expect("--help");
        assert!(output.status.success());
        started.elapsed().as_secs_f64() * 1000.0
    })
}
