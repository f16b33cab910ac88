//! Bounds: a command's whole process tree ends with it (timeout, Ctrl-C, the wizard killed), a tool printing
//! without end cannot grow the wizard, arguments that are not UTF-8 are refused without a panic, and a
//! chart repository's password stays off every command line and screen.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use testworld::prom::wait_until;

use crate::support::PRODUCT;

/// A folder of tools (shell scripts) that is the product's whole PATH.
pub struct Tools {
    pub dir: tempfile::TempDir,
}

impl Tools {
    pub fn new(scripts: &[(&str, &str)]) -> Tools {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Tools { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The product with only these tools on PATH and a home of its own.
    pub fn product(&self, args: &[&str]) -> Command {
        let mut command = Command::new(PRODUCT);
        command
            .args(args)
            .env("PATH", self.dir.path())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        command
    }
}

/// A kubectl that is a wrapper script: it starts `sleep 1000` (a grandchild of the wizard's supervisor),
/// writes its pid next to itself, and waits for it.
const WRAPPER_WITH_GRANDCHILD: &str = "/bin/sleep 1000 &\necho $! > \"${0%/*}/grandchild.pid\"\nwait";

fn grandchild_pid(tools: &Tools) -> u32 {
    let file = tools.path("grandchild.pid");
    wait_until("the wrapper script to start its sleep", Duration::from_secs(30), &mut || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.ends_with('\n'))
    });
    std::fs::read_to_string(&file).unwrap().trim().parse().expect("pid")
}

/// Running (a zombie waiting for its reaper has ended).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some(Some(s)) if s != 'Z' && s != 'X')
}

fn assert_gone(pid: u32, after: &str) {
    wait_until(&format!("the grandchild {pid} to end after {after}"), Duration::from_secs(20), &mut || !alive(pid));
}

/// Kills a leftover sleep should a test fail, so that it does not outlive the suite either.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = Command::new("kill").args(["-9", &self.0.to_string()]).status();
        }
    }
}

/// The product, killed should a test fail before it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

const PREREQUISITES: [&str; 6] = ["--command-timeout", "1", "setup", "--yes", "--only", "prerequisites"];

#[test]
fn a_wrapper_scripts_grandchild_ends_with_the_command_at_its_timeout() {
    let tools = Tools::new(&[("kubectl", WRAPPER_WITH_GRANDCHILD)]);
    let run = tools.product(&PREREQUISITES).output().expect("product");
    let pid = grandchild_pid(&tools);
    let _reap = Reap(pid);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not finish within 1s and was stopped"), "{stderr}");
    assert!(stderr.contains("version --client"), "the command is named: {stderr}");
    assert_gone(pid, "the timeout");
}

#[test]
fn a_wrapper_scripts_grandchild_ends_with_the_wizard_on_ctrl_c_and_on_kill_9() {
    for signal in ["-INT", "-KILL"] {
        let tools = Tools::new(&[("kubectl", WRAPPER_WITH_GRANDCHILD)]);
        let mut child = Running(
            tools
                .product(&["--command-timeout", "600", "setup", "--yes", "--only", "prerequisites"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("product"),
        );
        let pid = grandchild_pid(&tools);
        let _reap = Reap(pid);
        assert!(alive(pid), "the sleep runs while the wizard waits for kubectl");
        assert!(Command::new("kill").args([signal, &child.0.id().to_string()]).status().unwrap().success());
        let status = child.0.wait().expect("wait");
        if signal == "-INT" {
            assert_eq!(status.code(), Some(130));
        }
        assert_gone(pid, signal);
    }
}

#[test]
fn without_a_supervisor_the_runner_also_ends_the_whole_tree() {
    use interlok_k8s::runner::{Cmd, Runner};
    let tools = Tools::new(&[("wrapper", WRAPPER_WITH_GRANDCHILD)]);
    let runner = Runner::new(interlok_k8s::ui::Ui::plain(), false);
    let cmd = Cmd::query(tools.path("wrapper").display().to_string()).timeout(Duration::from_millis(500));
    let err = runner.run(&cmd).expect_err("times out");
    assert_eq!(err.command.unwrap().timed_out_after, Some(Duration::from_millis(500)));
    let pid = grandchild_pid(&tools);
    let _reap = Reap(pid);
    assert_gone(pid, "the timeout");
}

/// Runs the product with its data segment limited (RLIMIT_DATA, in KiB): past it an allocation fails and
/// the product aborts, so success shows it never held more.
fn with_memory_limit(tools: &Tools, kib: u64, args: &[&str]) -> Output {
    let command = tools.product(args);
    let program = command.get_program().to_owned();
    let all: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut limited = Command::new("/usr/bin/prlimit");
    limited.arg(format!("--data={}", kib * 1024)).arg("--").arg(program).args(all);
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => limited.env(key, v),
            None => limited.env_remove(key),
        };
    }
    limited.stdin(Stdio::null()).output().expect("prlimit")
}

#[test]
fn a_tool_printing_2_gib_is_stopped_and_named_and_the_wizard_stays_small() {
    // 2 GiB of a kubectl JSON-like line
    let flood = "/usr/bin/yes '{\"kind\": \"Pod\", \"metadata\": {\"name\": \"x\"}}' | /usr/bin/head -c 2147483648";
    let tools = Tools::new(&[("kubectl", flood)]);
    let run = with_memory_limit(
        &tools,
        512 * 1024,
        &["--command-timeout", "120", "setup", "--yes", "--only", "prerequisites"],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("kubectl` printed more than 64 MiB"), "{stderr}");
    assert!(stderr.contains("kubectl version --client"), "the command line is shown: {stderr}");
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}

#[test]
fn a_stderr_without_end_keeps_a_bounded_tail() {
    use interlok_k8s::runner::{Cmd, Runner};
    // 300 MiB on stderr, then the reason, then a failure: the reason is in the tail, the rest was not kept
    let noisy = "/usr/bin/yes noise | /usr/bin/head -c 314572800 >&2\necho 'the real reason' >&2\nexit 3";
    let tools = Tools::new(&[("noisy", noisy)]);
    let runner = Runner::new(interlok_k8s::ui::Ui::plain(), false);
    let cmd = Cmd::query(tools.path("noisy").display().to_string()).timeout(Duration::from_secs(120));
    let out = runner.run_unchecked(&cmd).expect("runs");
    assert_eq!(out.code, 3);
    assert!(out.stderr.ends_with("the real reason\n"));
    assert!(out.stderr.len() <= 512 << 10, "kept {} bytes of stderr", out.stderr.len());
}

#[test]
fn arguments_that_are_not_utf8_are_refused_naming_them_never_a_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bad = |bytes: &[u8]| OsStr::from_bytes(bytes).to_owned();
    let tools = Tools::new(&[]);
    for args in [
        vec![bad(b"load"), bad(b"--url"), bad(b"http://x\xff/in-box")],
        vec![bad(b"--context"), bad(b"mini\xfekube"), bad(b"verify")],
        vec![bad(b"load"), bad(b"--method=GE\xc3")],
        vec![bad(b"\xff")],
        vec![bad(b"setup"), bad(b"--only"), bad(b"clu\xffster")],
    ] {
        let run = Command::new(PRODUCT).args(&args).env("PATH", tools.dir.path()).output().expect("product");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let shown = args.iter().find(|a| a.to_str().is_none()).unwrap().to_string_lossy().into_owned();
        assert!(stderr.contains(&format!("'{shown}'")), "{args:?} names the argument: {stderr}");
    }
    // a file path too: every option is read as text
    let run = Command::new(PRODUCT)
        .args([
            bad(b"load"),
            bad(b"--url"),
            bad(b"http://127.0.0.1:9/in-box"),
            bad(b"--body-file"),
            bad(b"/no/such/\xff"),
        ])
        .output()
        .expect("product");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'/no/such/\u{FFFD}' is not valid UTF-8"), "{stderr}");
}

#[test]
fn a_repository_the_user_added_with_a_login_is_left_as_it_is_and_its_password_never_shown() {
    // settings refuse user:password@ in --chart-repo, but helm may already hold such a repository: it lists
    // the URL with the login, and the wizard must neither replace it (losing the login) nor print it
    let Some(world) = testworld::world::World::builder().helm(4).with_charts().start() else { return };
    let charts = world.charts.as_ref().expect("charts");
    let secret = "s3cr3t-chart-pw";
    let mut flags = Vec::new();
    for repo in ["prometheus-community", "grafana-community"] {
        let with_login = charts.repo_url(repo).replacen("://", &format!("://bob:{secret}@"), 1);
        crate::support::ok(&world, "helm", &["repo", "add", repo, &with_login]);
        flags.push(format!("--chart-repo={repo}={}", charts.repo_url(repo)));
    }
    world.clear_logs();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend(["--verbose", "setup", "--yes", "--only", "helm"]);
    let run = world.run(PRODUCT, &args);
    assert_eq!(run.code, 0, "{}", run.all());
    let adds: Vec<_> =
        world.invocations().into_iter().filter(|i| i.args.starts_with(&["repo".into(), "add".into()])).collect();
    assert!(adds.is_empty(), "the repositories were replaced: {adds:?}");
    assert!(!run.all().contains(secret), "the password was shown: {}", run.all());
    let repositories = std::fs::read_to_string(world.dir.join("helm/config/repositories.yaml")).expect("helm's file");
    assert!(repositories.contains(secret), "the login is still there: {repositories}");
    for entry in crate::support::files_under(&world.dir.join("config")) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(secret), "{} holds the password", entry.display());
    }
}
