//! The only place an external process starts. Every command is an argument vector (never a shell string),
//! resolved to a full path before it runs, bounded by a timeout, and captured (stdout, stderr, exit code).
//! A command is a value that displays as a line a user could paste; `--dry-run` prints mutating commands
//! instead of running them, `--verbose` echoes every command before it runs.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::problem::{tail, CommandFailure, Problem};
use crate::ui::Ui;

const STDERR_TAIL_LINES: usize = 12;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// An external command as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    stdin: Option<String>,
    timeout: Option<Duration>,
    mutating: bool,
}

impl Cmd {
    /// A read-only command (a query): it runs even under `--dry-run`.
    pub fn query(program: impl Into<String>) -> Self {
        Cmd { program: program.into(), args: Vec::new(), stdin: None, timeout: None, mutating: false }
    }

    /// A command that changes something: under `--dry-run` it is printed, not run.
    pub fn change(program: impl Into<String>) -> Self {
        Cmd { mutating: true, ..Cmd::query(program) }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// A timeout for this command (a long wait); others get the runner's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn arguments(&self) -> &[String] {
        &self.args
    }

    pub fn input(&self) -> Option<&str> {
        self.stdin.as_deref()
    }

    pub fn is_mutating(&self) -> bool {
        self.mutating
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        if self.stdin.is_some() {
            f.write_str(" (with input on stdin)")?;
        }
        Ok(())
    }
}

/// Quotes one word so that a POSIX shell or PowerShell reads it back unchanged: plain words stay bare,
/// anything else goes in single quotes (both shells take single-quoted text literally; `'` doubles in
/// PowerShell and becomes `'\''` in POSIX shells — we print the POSIX form off Windows).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
        && !word.starts_with('=');
    if plain {
        word.to_string()
    } else if cfg!(windows) {
        format!("'{}'", word.replace('\'', "''"))
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What a finished command printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Runs commands for one invocation of the tool, with its dry-run and verbosity settings.
#[derive(Clone)]
pub struct Runner {
    ui: Ui,
    dry_run: bool,
    default_timeout: Duration,
    search_path: Option<OsString>,
    /// This binary, to run commands under `__supervise` (see supervise.rs); None runs them directly.
    supervisor: Option<PathBuf>,
    /// Refuses commands that change something (a stage's check only reads).
    read_only: bool,
}

impl Runner {
    pub fn new(ui: Ui, dry_run: bool) -> Self {
        Runner {
            ui,
            dry_run,
            default_timeout: DEFAULT_TIMEOUT,
            search_path: std::env::var_os("PATH"),
            supervisor: None,
            read_only: false,
        }
    }

    /// Runs every command under this binary's supervisor, so none outlives the wizard (even after kill -9).
    pub fn supervised(mut self) -> Self {
        self.supervisor = std::env::current_exe().ok();
        interrupt_flag();
        self
    }

    /// The timeout for commands that do not set their own.
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The same runner refusing every command that would change something.
    pub fn read_only(&self) -> Runner {
        Runner { read_only: true, ..self.clone() }
    }

    /// The same runner printing through another UI (a stage's buffered one).
    pub fn with_ui(&self, ui: Ui) -> Runner {
        Runner { ui, ..self.clone() }
    }

    /// Finds a program on PATH, or returns an absolute path unchanged if it exists.
    pub fn resolve(&self, program: &str) -> Option<PathBuf> {
        let path = Path::new(program);
        if path.is_absolute() {
            return path.is_file().then(|| path.to_path_buf());
        }
        let cwd = std::env::current_dir().ok()?;
        which::which_in(program, self.search_path.as_ref(), cwd).ok()
    }

    /// Every match for `program` on PATH, in PATH order (to spot a shadowed binary).
    pub fn resolve_all(&self, program: &str) -> Vec<PathBuf> {
        let Ok(cwd) = std::env::current_dir() else {
            return Vec::new();
        };
        match which::which_in_all(program, self.search_path.as_ref(), cwd) {
            Ok(found) => dedup_paths(found.collect()),
            Err(_) => Vec::new(),
        }
    }

    /// Runs `cmd` and fails unless it exits 0.
    pub fn run(&self, cmd: &Cmd) -> Result<Output, Problem> {
        let output = self.run_unchecked(cmd)?;
        if output.success() {
            Ok(output)
        } else {
            Err(exit_problem(cmd, &output))
        }
    }

    /// Runs `cmd` and returns its output whatever the exit code; fails only when it could not run or timed out.
    pub fn run_unchecked(&self, cmd: &Cmd) -> Result<Output, Problem> {
        if cmd.mutating && self.read_only {
            return Err(Problem::new(format!("a read-only step tried to change something: `{cmd}`"))
                .with_hint("this is a bug in interlok-k8s: please report it with `interlok-k8s bundle`"));
        }
        if cmd.mutating && self.dry_run {
            self.ui.would_run(&cmd.to_string(), cmd.stdin.as_deref());
            return Ok(Output::default());
        }
        let path = self.resolve(&cmd.program).ok_or_else(|| not_found(cmd))?;
        if self.ui.verbose() {
            self.ui.echo_command(&cmd.to_string(), cmd.stdin.as_deref());
        }
        execute(self.supervisor.as_deref(), &path, cmd, cmd.timeout.unwrap_or(self.default_timeout))
    }
}

/// A long-running command (a port-forward) whose output lines arrive on a channel; stopped on drop.
pub struct Background {
    handle: std::sync::Arc<duct::ReaderHandle>,
    lines: std::sync::mpsc::Receiver<String>,
    command_line: String,
    lifeline: Option<os_pipe::PipeWriter>,
}

impl Background {
    /// Waits for the first line `accept` returns Some for, up to `limit`; the process's own words on failure.
    pub fn wait_for_line<T>(&self, limit: Duration, accept: impl Fn(&str) -> Option<T>) -> Result<T, Problem> {
        let deadline = std::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = accept(&line) {
                        return Ok(found);
                    }
                    seen.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(Problem::new(format!(
                        "`{}` did not get ready within {}s",
                        self.command_line,
                        limit.as_secs()
                    ))
                    .with_command(CommandFailure {
                        command_line: self.command_line.clone(),
                        exit_code: None,
                        stderr_tail: tail(&seen.join("\n"), STDERR_TAIL_LINES),
                        stdout_tail: String::new(),
                        timed_out_after: Some(limit),
                    }));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Problem::new(format!("`{}` ended before it was ready", self.command_line))
                        .with_command(CommandFailure {
                            command_line: self.command_line.clone(),
                            exit_code: None,
                            stderr_tail: tail(&seen.join("\n"), STDERR_TAIL_LINES),
                            stdout_tail: String::new(),
                            timed_out_after: None,
                        }));
                }
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.lifeline.take().is_some() {
            // the supervisor kills the command once its lifeline closes; give it a moment
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if matches!(self.handle.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.handle.kill();
    }
}

impl Runner {
    /// Starts a long-running query (stdout and stderr merged, line by line); it stops when dropped.
    pub fn start_background(&self, cmd: &Cmd) -> Result<Background, Problem> {
        let path = self.resolve(&cmd.program).ok_or_else(|| not_found(cmd))?;
        if self.ui.verbose() {
            self.ui.echo_command(&cmd.to_string(), None);
        }
        let (program, args) = launch(self.supervisor.as_deref(), &path, &cmd.args);
        let (pipe, writer) = lifeline(self.supervisor.is_some(), None).map_err(|e| spawn_problem(cmd, &e))?;
        let handle = duct::cmd(program, args)
            .stderr_to_stdout()
            .stdin_file(pipe)
            .unchecked()
            .reader()
            .map_err(|e| spawn_problem(cmd, &e))?;
        let handle = std::sync::Arc::new(handle);
        let (tx, lines) = std::sync::mpsc::channel();
        let reader = handle.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(&*reader).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Background { handle, lines, command_line: cmd.to_string(), lifeline: writer })
    }
}

/// The program and arguments to start: the command itself, or the supervisor running it.
fn launch(supervisor: Option<&Path>, path: &Path, args: &[String]) -> (PathBuf, Vec<OsString>) {
    match supervisor {
        Some(exe) => {
            let mut all: Vec<OsString> = vec![crate::supervise::MARKER.into(), path.into()];
            all.extend(args.iter().map(OsString::from));
            (exe.to_path_buf(), all)
        }
        None => (path.to_path_buf(), args.iter().map(OsString::from).collect()),
    }
}

/// Opens the stdin pipe: under a supervisor the framed input goes first and the pipe stays open as the
/// lifeline; without one the input is written and the pipe closed.
fn lifeline(
    supervised: bool,
    input: Option<&str>,
) -> std::io::Result<(os_pipe::PipeReader, Option<os_pipe::PipeWriter>)> {
    use std::io::Write;
    let (reader, mut writer) = os_pipe::pipe()?;
    if supervised {
        writer.write_all(&crate::supervise::frame(input))?;
        return Ok((reader, Some(writer)));
    }
    let bytes = input.unwrap_or_default().as_bytes().to_vec();
    std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    Ok((reader, None))
}

const WAIT_SLICE: Duration = Duration::from_millis(100);

fn execute(supervisor: Option<&Path>, path: &Path, cmd: &Cmd, timeout: Duration) -> Result<Output, Problem> {
    let (program, args) = launch(supervisor, path, &cmd.args);
    let (reader, writer) = lifeline(supervisor.is_some(), cmd.stdin.as_deref()).map_err(|e| spawn_problem(cmd, &e))?;
    let handle = duct::cmd(program, args)
        .stdin_file(reader)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .map_err(|e| spawn_problem(cmd, &e))?;
    let deadline = std::time::Instant::now() + timeout;
    let output = loop {
        // waits in slices so that Ctrl-C stops the command promptly
        if let Some(output) = handle.wait_timeout(WAIT_SLICE).map_err(|e| spawn_problem(cmd, &e))? {
            break output.clone();
        }
        let interrupted = interrupted();
        if interrupted || std::time::Instant::now() >= deadline {
            stop(&handle, writer);
            return Err(if interrupted { interrupted_problem(cmd) } else { timeout_problem(cmd, timeout) });
        }
    };
    drop(writer);
    Ok(Output {
        // A process killed by a signal has no code; report it as a failure all the same.
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Cuts the lifeline (the supervisor then kills the command and exits), and kills as a last resort.
fn stop(handle: &duct::Handle, writer: Option<os_pipe::PipeWriter>) {
    let supervised = writer.is_some();
    drop(writer);
    if supervised && handle.wait_timeout(Duration::from_secs(5)).ok().flatten().is_some() {
        return;
    }
    let _ = handle.kill();
}

static INTERRUPTED: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> = std::sync::OnceLock::new();

/// The process-wide Ctrl-C flag (installed once): commands stop, the cursor comes back.
pub fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    INTERRUPTED
        .get_or_init(|| {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let raised = flag.clone();
            let _ = ctrlc::set_handler(move || {
                raised.store(true, std::sync::atomic::Ordering::SeqCst);
                // a prompt or spinner may have hidden the cursor; never write escapes into a pipe
                for term in [console::Term::stdout(), console::Term::stderr()] {
                    if term.is_term() {
                        let _ = term.show_cursor();
                    }
                }
                if crate::ui::PROMPTING.load(std::sync::atomic::Ordering::SeqCst) {
                    // nothing runs while a question is open: leave now, as Ctrl-C promises
                    let _ = console::Term::stderr().write_line(&format!("\n{}", crate::ui::CANCELLED));
                    std::process::exit(130);
                }
            });
            flag
        })
        .clone()
}

pub fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
}

fn interrupted_problem(cmd: &Cmd) -> Problem {
    Problem::new("interrupted (Ctrl-C): the command was stopped")
        .with_command(failure(cmd, None, "", ""))
        .with_hint("run the same command again: every stage checks what is already done and resumes")
}

fn failure(cmd: &Cmd, code: Option<i32>, stdout: &str, stderr: &str) -> CommandFailure {
    CommandFailure {
        command_line: cmd.to_string(),
        exit_code: code,
        stderr_tail: tail(stderr, STDERR_TAIL_LINES),
        stdout_tail: tail(stdout, STDERR_TAIL_LINES),
        timed_out_after: None,
    }
}

pub fn exit_problem(cmd: &Cmd, output: &Output) -> Problem {
    Problem::new(format!("`{}` exited with code {}", cmd.program, output.code)).with_command(failure(
        cmd,
        Some(output.code),
        &output.stdout,
        &output.stderr,
    ))
}

fn not_found(cmd: &Cmd) -> Problem {
    Problem::new(format!("`{}` was not found on PATH", cmd.program))
        .with_command(failure(cmd, None, "", ""))
        .with_hint(format!("install {} or put it on PATH, then run this again", cmd.program))
}

fn spawn_problem(cmd: &Cmd, error: &std::io::Error) -> Problem {
    Problem::new(format!("could not run `{}`: {error}", cmd.program)).with_command(failure(cmd, None, "", ""))
}

fn timeout_problem(cmd: &Cmd, timeout: Duration) -> Problem {
    let mut evidence = failure(cmd, None, "", "");
    evidence.timed_out_after = Some(timeout);
    Problem::new(format!("`{}` did not finish within {}s and was stopped", cmd.program, timeout.as_secs()))
        .with_command(evidence)
        .with_hint("the tool may be waiting on an unreachable cluster or a slow network; check it, or raise --command-timeout, and run this again")
}

/// Drops repeats of the same file on PATH (a folder listed twice, or reached through a linked folder); two
/// different files stay, even when one links to the other, since each is what PATH would run.
fn dedup_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let key = |p: &Path| {
        let folder = p.parent().and_then(|d| std::fs::canonicalize(d).ok()).unwrap_or_default();
        folder.join(p.file_name().unwrap_or_default())
    };
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut kept = Vec::new();
    for path in paths {
        let k = key(&path);
        if !seen.contains(&k) {
            seen.push(k);
            kept.push(path);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_display_as_pasteable_lines() {
        let cmd = Cmd::change("helm").args(["upgrade", "--install", "my release", "it's"]);
        assert_eq!(cmd.to_string(), r#"helm upgrade --install 'my release' 'it'\''s'"#);
    }

    #[test]
    fn quote_keeps_plain_words_bare_and_quotes_the_rest() {
        assert_eq!(quote("--namespace=monitoring"), "--namespace=monitoring");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("a;b"), "'a;b'");
    }

    #[test]
    fn dry_run_prints_changes_and_runs_queries() {
        let runner = Runner::new(Ui::plain_for_tests(), true);
        let out = runner.run(&Cmd::change("no-such-program-xyz").arg("x")).expect("dry run does not execute");
        assert!(out.success());
        let err = runner.run(&Cmd::query("no-such-program-xyz")).expect_err("queries still run");
        assert!(err.message.contains("not found"), "{}", err.message);
    }

    #[test]
    fn a_hanging_command_is_stopped_at_its_timeout() {
        let runner = Runner::new(Ui::plain_for_tests(), false);
        let cmd = Cmd::query("sleep").arg("30").timeout(Duration::from_millis(200));
        let err = runner.run(&cmd).expect_err("must time out");
        let evidence = err.command.expect("evidence");
        assert_eq!(evidence.timed_out_after, Some(Duration::from_millis(200)));
        assert_eq!(evidence.command_line, "sleep 30");
    }

    #[test]
    fn a_failing_command_keeps_its_code_and_stderr() {
        let runner = Runner::new(Ui::plain_for_tests(), false);
        let err = runner.run(&Cmd::query("ls").arg("/definitely/not/here")).expect_err("ls fails");
        let evidence = err.command.expect("evidence");
        assert_eq!(evidence.exit_code, Some(2));
        assert!(evidence.stderr_tail.contains("/definitely/not/here"));
    }
}
