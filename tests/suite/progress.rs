//! Issue #15, items 1 and 4: a running stage shows what it does now and its tool's lines as they come (on a
//! terminal in its live region, without one as lines tagged with the stage), never held until the stage
//! ends; Ctrl-C in `demo`, `watch` and setup stops at once, restores the cursor and exits 130.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use testworld::apiserver::ApiEffect;
use testworld::fakeconfig::Printed;
use testworld::world::{ClusterState, World};

use crate::support::{LONG, PRODUCT};

/// The bound the issue sets: a line is on screen within 1 s of the tool printing it; Ctrl-C ends within 1 s.
const PROMPT: Duration = Duration::from_secs(1);

/// A world whose stopped minikube takes about 10 s to start, printing one of its real steps every second.
fn slow_minikube_world() -> Option<World> {
    World::builder().helm(4).cluster(ClusterState::Stopped).pace("minikube", &["start"], Duration::from_secs(1)).start()
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

/// How late `seen` (ms since the epoch) is after the fake printed the line.
fn delay(printed: &Printed, seen: u64) -> Duration {
    Duration::from_millis(seen.saturating_sub(printed.at_millis))
}

/// What a program wrote on its pseudo-terminal, chunk by chunk with when each arrived, and when it closed.
#[derive(Default)]
struct Tape {
    chunks: Vec<(SystemTime, Vec<u8>)>,
    closed: Option<std::time::Instant>,
}

/// A program on a pseudo-terminal 200 columns wide (a line is never cut to the width), recorded as it runs.
struct Screen {
    session: expectrl::Session,
    tape: Arc<Mutex<Tape>>,
}

impl Screen {
    fn spawn(mut command: std::process::Command) -> Screen {
        // inherit: the pty becomes fd 0-2 before exec, and Stdio::null() would replace it again
        command.env("TERM", "xterm-256color").stdin(std::process::Stdio::inherit());
        let mut session = expectrl::Session::spawn(command).expect("spawn in a pty");
        session.get_process_mut().set_window_size(200, 40).expect("window size");
        let mut master = session.get_process().get_raw_handle().expect("the pty");
        let tape = Arc::new(Mutex::new(Tape::default()));
        let recording = tape.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 16 << 10];
            loop {
                match master.read(&mut chunk) {
                    Ok(0) | Err(_) => break, // EIO once the program and everything it started closed the pty
                    Ok(n) => recording.lock().unwrap().chunks.push((SystemTime::now(), chunk[..n].to_vec())),
                }
            }
            recording.lock().unwrap().closed = Some(std::time::Instant::now());
        });
        Screen { session, tape }
    }

    fn bytes(&self) -> Vec<u8> {
        self.tape.lock().unwrap().chunks.iter().flat_map(|(_, bytes)| bytes.clone()).collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Where `needle` first appears on the screen (a byte offset), and when the last of it arrived.
    fn first(&self, needle: &str) -> Option<(usize, SystemTime)> {
        let tape = self.tape.lock().unwrap();
        let all: Vec<u8> = tape.chunks.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        let at = all.windows(needle.len()).position(|w| w == needle.as_bytes())?;
        let end = at + needle.len();
        let mut seen = 0;
        for (when, bytes) in &tape.chunks {
            seen += bytes.len();
            if seen >= end {
                return Some((at, *when));
            }
        }
        None
    }

    fn wait_for(&self, world: &World, needle: &str) {
        world.wait_until(&format!("{needle:?} on the screen"), LONG, || self.first(needle).is_some());
    }

    /// Waits for the program to end; its exit code, and when it closed the terminal.
    fn end(&mut self, world: &World) -> (i32, std::time::Instant) {
        world.wait_until("the program to close its terminal", LONG, || self.tape.lock().unwrap().closed.is_some());
        let closed = self.tape.lock().unwrap().closed.expect("closed");
        let status = self.session.get_process_mut().wait().expect("wait");
        match status {
            expectrl::WaitStatus::Exited(_, code) => (code, closed),
            other => panic!("the program did not exit: {other:?}"),
        }
    }
}

/// The cursor is visible at the end: whatever hid it showed it again afterwards.
fn cursor_shown(text: &str) -> bool {
    let hidden = text.rfind("\x1b[?25l");
    let shown = text.rfind("\x1b[?25h");
    match (hidden, shown) {
        (None, _) => true,
        (Some(h), Some(s)) => s > h,
        (Some(_), None) => false,
    }
}

#[test]
fn on_a_terminal_minikube_starts_line_by_line_under_what_is_running() {
    let Some(world) = slow_minikube_world() else { return };
    let mut screen = Screen::spawn(world.command(PRODUCT, &["setup", "--yes", "--only", "cluster"]));
    let (code, _) = screen.end(&world);
    let text = screen.text();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("✔ cluster"), "{text}");
    let printed: Vec<Printed> = world.printed().into_iter().filter(|p| p.tool == "minikube").collect();
    assert!(printed.len() >= 10, "the fake streamed its steps: {printed:?}");
    let (running, _) =
        screen.first("running minikube start").unwrap_or_else(|| panic!("nothing says what runs:\n{text:?}"));
    for (n, step) in printed.iter().enumerate() {
        let line = step.line.trim();
        let (at, seen) = screen.first(line).unwrap_or_else(|| panic!("{line:?} never on the screen:\n{text:?}"));
        assert!(at > running, "{line:?} was on the screen before what runs:\n{text:?}");
        let late = delay(step, millis(seen));
        assert!(late <= PROMPT, "step {n} {line:?} reached the screen {late:?} after minikube printed it");
    }
    assert!(cursor_shown(&text), "{text:?}");
}

#[test]
fn without_a_terminal_minikube_starts_line_by_line_tagged_with_the_stage() {
    let Some(world) = slow_minikube_world() else { return };
    let (lines, ok, stderr) = lines_as_they_come(&world, &["setup", "--yes", "--only", "cluster"]);
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(ok, "{}\n{stderr}", all.join("\n"));
    let printed: Vec<Printed> = world.printed().into_iter().filter(|p| p.tool == "minikube").collect();
    assert!(printed.len() >= 10, "the fake streamed its steps: {printed:?}");
    let running = all.iter().position(|l| l.starts_with("[cluster] running minikube start")).unwrap_or_else(|| {
        panic!("no line says what runs:\n{}", all.join("\n"));
    });
    for (n, step) in printed.iter().enumerate() {
        let shown = format!("[cluster] {}", step.line.trim_end());
        let at =
            all.iter().position(|l| *l == shown).unwrap_or_else(|| panic!("{shown:?} missing in\n{}", all.join("\n")));
        assert!(at > running, "{shown:?} came before the line saying what runs:\n{}", all.join("\n"));
        let late = delay(step, lines[at].0);
        assert!(late <= PROMPT, "step {n} {shown:?} came {late:?} after minikube printed it");
    }
    assert!(all.iter().any(|l| l.starts_with("✔ cluster")), "{}", all.join("\n"));
}

/// Runs a command without a terminal; each line of its stdout with when it arrived (ms since the epoch), and
/// whether it succeeded (with its stderr).
fn lines_as_they_come(world: &World, args: &[&str]) -> (Vec<(u64, String)>, bool, String) {
    let mut child = world
        .command(PRODUCT, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok) {
        lines.push((millis(SystemTime::now()), line));
    }
    let mut stderr = String::new();
    let _ = child.stderr.take().expect("stderr").read_to_string(&mut stderr);
    (lines, child.wait().expect("wait").success(), stderr)
}

#[test]
fn while_helm_waits_without_a_terminal_the_stage_says_what_the_pods_do() {
    // the Prometheus server's image takes 8 s to pull: helm --wait waits, and prints nothing meanwhile
    let Some(world) = World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(Default::default())
        .image_latency(testworld::prom::PROMETHEUS_IMAGE, Duration::from_secs(8))
        .start()
    else {
        return;
    };
    let mut args: Vec<String> = crate::monitoring::repo_flags(&world);
    args.extend(["--wait-timeout", "60s", "setup", "--yes", "--only", "helm,prometheus"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (lines, ok, stderr) = lines_as_they_come(&world, &args);
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(ok, "{}\n{stderr}", all.join("\n"));
    let find = |prefix: &str| all.iter().position(|l| l.starts_with(prefix));
    let helm = find("[prometheus] running helm upgrade --install prometheus").expect("what runs");
    let waiting = find("[prometheus] helm waits for release prometheus: ")
        .unwrap_or_else(|| panic!("nothing says what helm waits for:\n{}", all.join("\n")));
    let done = find("✔ prometheus").expect("the stage's line");
    assert!(helm < waiting && waiting < done, "{}", all.join("\n"));
    assert!(all[waiting].contains("prometheus-server 0/1 ready"), "{}", all[waiting]);
    let said = lines[waiting].0;
    assert!(lines[done].0 >= said + 2_000, "said while helm waited, not at the end:\n{}", all.join("\n"));
}

/// Sends Ctrl-C as the terminal does; the screen's length then, and when it was sent.
fn ctrl_c(screen: &mut Screen) -> (usize, std::time::Instant) {
    let before = screen.bytes().len();
    screen.session.send("\x03").expect("Ctrl-C");
    (before, std::time::Instant::now())
}

#[test]
fn ctrl_c_in_watch_ends_it_within_a_second_with_no_frame_after_and_the_cursor_shown() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let manifest = crate::support::interlok_manifest(&world, "pushgateway:9091", "K8S_NAMESPACE");
    crate::support::ok(&world, "kubectl", &["apply", "-f", &manifest]);
    // every read of the namespace takes half a second: Ctrl-C lands in the middle of a look
    world.api_fault("GET", "/namespaces/default/", ApiEffect::Delay(500), None);
    let mut screen = Screen::spawn(world.command(PRODUCT, &["watch", "--interval", "1s"]));
    screen.wait_for(&world, "pods: interlok-");
    // the next look has begun: a read has started since the last frame was drawn
    let reads = || world.requests().iter().filter(|r| r.method == "GET").count();
    let done = reads();
    world.wait_until("the next look to be under way", LONG, || reads() > done);
    let (at, sent) = ctrl_c(&mut screen);
    let (code, closed) = screen.end(&world);
    let text = screen.text();
    assert_eq!(code, 130, "{text}");
    assert!(closed - sent <= PROMPT, "watch took {:?} to end after Ctrl-C", closed - sent);
    let after = String::from_utf8_lossy(&screen.bytes()[at..]).into_owned();
    assert!(!after.contains("replicas"), "a frame was drawn after Ctrl-C: {after:?}");
    assert!(cursor_shown(&text), "{text:?}");
}

#[test]
fn ctrl_c_in_demo_ends_it_within_a_second_after_the_links_it_reached() {
    let Some(world) = crate::monitoring::monitoring_world(4) else { return };
    let mut args: Vec<String> = crate::monitoring::repo_flags(&world);
    args.extend(["--wait-timeout", "60s", "--scrape-interval", "1s"].map(String::from));
    args.extend(["setup", "--yes", "--only", "helm,prometheus,interlok"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::support::ok(&world, PRODUCT, &args);
    // no adapter: the demo reaches Prometheus, then waits for the custom metrics API
    let mut screen = Screen::spawn(world.command(PRODUCT, &["--wait-timeout", "300s", "demo"]));
    screen.wait_for(&world, "✔ sent 150 messages");
    screen.wait_for(&world, "✔ Prometheus has the messages after");
    screen.wait_for(&world, "the custom metrics API serves them");
    let (at, sent) = ctrl_c(&mut screen);
    let (code, closed) = screen.end(&world);
    let text = screen.text();
    assert_eq!(code, 130, "{text}");
    assert!(closed - sent <= PROMPT, "demo took {:?} to end after Ctrl-C", closed - sent);
    let after = String::from_utf8_lossy(&screen.bytes()[at..]).into_owned();
    assert!(after.contains("interrupted (Ctrl-C) while waiting until the custom metrics API serves them"), "{after:?}");
    for claim in ["scaled", "verify finds", "✔ the custom metrics API"] {
        assert!(!after.contains(claim), "{claim:?} after Ctrl-C: {after:?}");
    }
    assert!(cursor_shown(&text), "{text:?}");
    assert_eq!(crate::load::leftover_port_forwards(&world), Vec::<String>::new());
}

#[test]
fn ctrl_c_in_a_setup_on_a_terminal_names_the_stage_and_the_command_that_resumes_it() {
    let Some(world) = slow_minikube_world() else { return };
    // every stage after the cluster would start, but the cluster takes its time
    let mut screen = Screen::spawn(world.command(PRODUCT, &["setup", "--yes", "--skip", "helm"]));
    screen.wait_for(&world, "Restarting existing docker container");
    let (at, sent) = ctrl_c(&mut screen);
    let (code, closed) = screen.end(&world);
    let text = screen.text();
    assert_eq!(code, 130, "{text}");
    assert!(closed - sent <= PROMPT, "setup took {:?} to end after Ctrl-C", closed - sent);
    let after = String::from_utf8_lossy(&screen.bytes()[at..]).into_owned();
    assert!(after.contains("interrupted (Ctrl-C) during stage cluster"), "{after:?}");
    assert!(after.contains("resume with `interlok-k8s setup --yes --skip helm --from cluster`"), "{after:?}");
    assert!(
        !after.contains("run the same command again"),
        "the hint of the stopped command, not the stage's: {after:?}"
    );
    assert!(after.contains("✘ cluster") && !text.contains("✔ cluster"), "{after:?}");
    assert!(cursor_shown(&text), "{text:?}");
}

#[test]
fn ctrl_c_in_load_watch_ends_both_within_a_second_with_the_partial_summary() {
    let Some(world) = World::builder().helm(4).start() else { return };
    world.api_fault("GET", "/namespaces/default/", ApiEffect::Delay(500), None);
    let target = testworld::loadtarget::LoadTarget::start(|_| testworld::loadtarget::Answer::Ok);
    let url = target.url();
    let args = ["load", "--watch", "--url", &url, "--duration", "1h", "--rate", "20"];
    let mut screen = Screen::spawn(world.command(PRODUCT, &args));
    screen.wait_for(&world, "replicas");
    world.wait_until("requests to arrive", LONG, || target.received() > 0);
    let (at, sent) = ctrl_c(&mut screen);
    let (code, closed) = screen.end(&world);
    let text = screen.text();
    assert_eq!(code, 130, "{text}");
    assert!(closed - sent <= PROMPT, "load --watch took {:?} to end after Ctrl-C", closed - sent);
    let after = String::from_utf8_lossy(&screen.bytes()[at..]).into_owned();
    assert!(after.contains("interrupted: a partial summary"), "{after:?}");
    assert!(!after.contains("replicas"), "a frame was drawn after Ctrl-C: {after:?}");
    assert!(cursor_shown(&text), "{text:?}");
}

#[test]
fn choco_install_is_announced_and_its_lines_shown_as_they_come() {
    let Some(world) =
        World::builder().helm_installable(4).windows(testworld::fakeconfig::WindowsConfig::workstation()).start()
    else {
        return;
    };
    let (lines, ok, stderr) =
        lines_as_they_come(&world, &["--platform", "windows", "setup", "--yes", "--only", "prerequisites"]);
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(ok, "{}\n{stderr}", all.join("\n"));
    let find = |line: &str| all.iter().position(|l| *l == line);
    let running = find("[prerequisites] running choco install kubernetes-helm -y --no-progress");
    let installed = find("[prerequisites] The install of kubernetes-helm was successful.");
    let done = all.iter().position(|l| l.starts_with("✔ prerequisites"));
    assert!(
        running.is_some() && running < installed && installed < done,
        "choco's run and lines, then the stage's line:\n{}",
        all.join("\n")
    );
}

/// The fake itself: `minikube start` prints minikube's own steps (cmd/minikube/cmd/start.go, node/start.go,
/// machine/start.go, bootstrapper/kubeadm) in their order, one every pace, as it reaches them.
#[test]
fn the_fake_minikube_start_prints_minikubes_steps_at_its_pace() {
    let pace = Duration::from_millis(200);
    let windows = testworld::fakeconfig::WindowsConfig::workstation();
    let Some(world) =
        World::builder().cluster(ClusterState::Nonexistent).windows(windows).pace("minikube", &["start"], pace).start()
    else {
        return;
    };
    let run = crate::support::ok(&world, "minikube", &["start", "--driver=hyperv", "--cpus=2", "--memory=4096"]);
    let printed: Vec<Printed> = world.printed();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines, printed.iter().map(|p| p.line.as_str()).collect::<Vec<_>>(), "each line is logged as printed");
    let expected = [
        "😄  minikube v1.38.1 on Microsoft Windows",
        "✨  Using the hyperv driver based on user configuration",
        "👍  Starting \"minikube\" primary control-plane node in \"minikube\" cluster",
        "🔥  Creating hyperv VM (CPUs=2, Memory=4096MB, Disk=20000MB) ...",
        "🐳  Preparing Kubernetes v1.33.1 on Docker",
        "    ▪ Generating certificates and keys ...",
        "    ▪ Booting up control plane ...",
        "    ▪ Configuring RBAC rules ...",
        "🔗  Configuring bridge CNI (Container Networking Interface) ...",
        "🔎  Verifying Kubernetes components...",
        "    ▪ Using image gcr.io/k8s-minikube/storage-provisioner:v5",
        "🌟  Enabled addons: storage-provisioner, default-storageclass",
        "🏄  Done! kubectl is now configured to use \"minikube\" cluster and \"default\" namespace by default",
    ];
    assert_eq!(lines.len(), expected.len(), "{}", run.stdout);
    for (line, step) in lines.iter().zip(expected) {
        assert!(line.starts_with(step), "{line:?} is not {step:?}");
    }
    for pair in printed.windows(2) {
        assert!(pair[1].at_millis >= pair[0].at_millis + pace.as_millis() as u64 - 5, "{pair:?}");
    }
    assert_eq!(world.cluster_state(), ClusterState::Running);
}
