//! The only place an external process starts. Every command is an argument vector (never a shell string),
//! resolved to a full path before it runs, bounded by a timeout, and captured (stdout, stderr, exit code).
//! A command is a value that displays as a line a user could paste; `--dry-run` prints mutating commands
//! instead of running them, `--verbose` echoes every command before it runs (a secret input never shows).
//! Capture is bounded: stdout whole up to `STDOUT_LIMIT` (a tool printing more is stopped and reported),
//! stderr as its last `STDERR_KEPT` bytes. Inside a setup stage every command shows in the stage's live region
//! while it runs, and a `streamed` one (minikube start, choco install) shows its lines there as they come.
//! A query asked again and again in a run (the server's version, minikube's state) can be `remembered`: its
//! answer stands until a command that changes what it reads starts, or a new look begins (`look_again`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api_read::ApiRead;
use crate::problem::{tail, CommandFailure, Problem};
use crate::supervise::tree;
use crate::ui::Ui;

const STDERR_TAIL_LINES: usize = 12;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of one command's stdout the wizard reads (kubectl's JSON lists can be several MB).
const STDOUT_LIMIT: usize = 64 << 20;
/// How much of the end of a command's stderr is kept: the end is where a tool says why it failed.
const STDERR_KEPT: usize = 256 << 10;
/// The longest line handed to a line observer or a background command's reader; the rest of it is cut.
const LINE_LIMIT: usize = 8 << 10;
/// Lines of a background command kept until someone reads them; later ones are dropped.
const BACKGROUND_LINES: usize = 256;
/// Shown instead of a secret input under `--dry-run` and `--verbose`.
const SECRET_INPUT: &str = "(a secret, not shown)";

/// An external command as data.
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    stdin: Option<String>,
    /// The input is a secret (a password): never printed, not even by `--verbose`.
    secret_input: bool,
    timeout: Option<Duration>,
    mutating: bool,
    /// It returns once the cluster has moved (`kubectl wait`, `rollout status`): what was read before it may
    /// no longer hold.
    waits: bool,
    /// Its output is progress a user waits on (minikube start): shown as it comes inside a stage.
    streamed: bool,
    /// What the command does and how it reads, when its argument vector does not say (a PowerShell script
    /// sent base64-encoded): shown on screen and in errors; the argument vector still runs as it is.
    shown: Option<(String, String)>,
    /// The same read as requests to the API, answered through the run's `kubectl proxy` when it keeps one.
    api: Option<Box<ApiRead>>,
}

impl Cmd {
    /// A read-only command (a query): it runs even under `--dry-run`.
    pub fn query(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            stdin: None,
            secret_input: false,
            timeout: None,
            mutating: false,
            waits: false,
            streamed: false,
            shown: None,
            api: None,
        }
    }

    /// A command that changes something: under `--dry-run` it is printed, not run.
    pub(crate) fn change(program: impl Into<String>) -> Self {
        Cmd { mutating: true, ..Cmd::query(program) }
    }

    pub(crate) fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Input that is a secret (a password for `--password-stdin`): it reaches the program, never the screen.
    pub(crate) fn secret_stdin(mut self, input: impl Into<String>) -> Self {
        self.secret_input = true;
        self.stdin(input)
    }

    /// A timeout for this command (a long wait); others get the runner's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Its lines are progress (minikube start, choco install, kubectl rollout status): inside a stage they
    /// are shown as they come.
    /// It waits for the cluster to move (see `waits`).
    pub(crate) fn waits(mut self) -> Self {
        self.waits = true;
        self
    }

    pub(crate) fn streamed(mut self) -> Self {
        self.streamed = true;
        self
    }

    /// Shows the command as `text` (what a user could paste to run it) doing `purpose` ("checking whether
    /// this shell is elevated"), instead of its unreadable argument vector.
    pub(crate) fn shown_as(mut self, purpose: impl Into<String>, text: impl Into<String>) -> Self {
        self.shown = Some((purpose.into(), text.into()));
        self
    }

    /// The same read as API requests (see api_proxy.rs): a runner that keeps a proxy sends those instead.
    pub(crate) fn via_api(mut self, read: ApiRead) -> Self {
        self.api = Some(Box::new(read));
        self
    }

    /// The program in backticks, and what it was doing when the command says that itself.
    pub(crate) fn label(&self) -> String {
        match &self.shown {
            Some((purpose, _)) => format!("`{}` ({purpose})", self.program),
            None => format!("`{}`", self.program),
        }
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// The command as a short line for a live region: the program's file name, then its arguments.
    pub(crate) fn brief(&self) -> String {
        let name = Path::new(&self.program).file_name().map_or(self.program.clone(), |n| n.to_string_lossy().into());
        std::iter::once(name).chain(self.args.iter().map(|a| quote(a))).collect::<Vec<_>>().join(" ")
    }

    pub fn arguments(&self) -> &[String] {
        &self.args
    }

    pub fn input(&self) -> Option<&str> {
        self.stdin.as_deref()
    }

    /// The input as it may be shown on screen.
    fn shown_input(&self) -> Option<&str> {
        if self.secret_input {
            self.stdin.as_ref().map(|_| SECRET_INPUT)
        } else {
            self.stdin.as_deref()
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((_, text)) = &self.shown {
            f.write_str(text)?;
        } else {
            f.write_str(&quote(&self.program))?;
            for arg in &self.args {
                write!(f, " {}", quote(arg))?;
            }
        }
        match (&self.stdin, self.secret_input) {
            (Some(_), false) => f.write_str(" (with input on stdin)"),
            (Some(_), true) => f.write_str(" (with a secret on stdin)"),
            (None, _) => Ok(()),
        }
    }
}

/// As derived, except that a secret input is not shown.
impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cmd")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("stdin", &self.shown_input())
            .field("timeout", &self.timeout)
            .field("mutating", &self.mutating)
            .field("streamed", &self.streamed)
            .field("shown", &self.shown)
            .finish()
    }
}

/// Quotes one word so that a POSIX shell or PowerShell reads it back unchanged: plain words stay bare,
/// anything else goes in single quotes (both shells take single-quoted text literally; `'` doubles in
/// PowerShell and becomes `'\''` in POSIX shells — we print the POSIX form off Windows).
pub(crate) fn quote(word: &str) -> String {
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
    pub(crate) stdout: String,
    pub stderr: String,
}

impl Output {
    pub(crate) fn success(&self) -> bool {
        self.code == 0
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Sees each line a command prints, as it comes (live progress); what the command's `Output` holds is the
/// same with or without one. Lines longer than 8 KiB are cut.
pub(crate) type LineObserver = Arc<dyn Fn(Stream, &str) + Send + Sync>;

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
    /// How many commands that change something this run has started, counted by every copy of the runner:
    /// what was read before the last one may no longer hold.
    changes: Arc<AtomicU64>,
    /// How many new looks this run has begun (a verify, a wait's next round, the end of a command that
    /// waits for the cluster to move), counted by every copy of the runner.
    looks: Arc<AtomicU64>,
    /// Remembered answers, shared by every copy of the runner.
    memo: Arc<Memo>,
    /// What answers reads through the API (the run's `kubectl proxy`s), when they go that way.
    through_api: Option<Arc<dyn ThroughApi>>,
}

/// Answers reads that carry an API form without starting their command (api_proxy.rs's `kubectl proxy`).
pub(crate) trait ThroughApi: Send + Sync {
    /// What `read`'s command would print, for the cluster as it is after `cluster` starts of minikube.
    fn read(&self, runner: &Runner, read: &ApiRead, cluster: usize, timeout: Duration) -> Answer;
    /// The status and body of a GET of the API server's `path` through the proxy `proxy` starts (a Service's
    /// or pod's `proxy` subresource); None without a proxy, or when it failed itself.
    fn get(
        &self,
        runner: &Runner,
        proxy: &[String],
        path: &str,
        cluster: usize,
        timeout: Duration,
    ) -> Option<(u16, String)>;
}

/// How a read through the API went.
pub(crate) enum Answer {
    /// What the command would have printed.
    Read(Output),
    /// The server took longer than the command's timeout: running the command would only wait again.
    TimedOut,
    /// No plain answer (no proxy, an error status): the command itself tells.
    Unanswered,
}

/// Which look at the cluster a run is at: (changes started or ended, new looks begun); see `Runner::look`.
pub(crate) type Look = (u64, u64);

/// The answers `Runner::remembered` keeps, and the changes this run made, as words (`minikube start …`,
/// once when each starts and again when it ends), to tell which answers still hold.
#[derive(Default)]
struct Memo {
    changes: Mutex<Vec<Change>>,
    /// One slot per command line: whoever asks first runs it, the others wait for its answer.
    answers: Mutex<HashMap<String, Arc<Mutex<Option<Remembered>>>>>,
}

/// An answer, with how many of the changes that could alter it had started when it was asked.
type Remembered = (usize, Output);

/// A change the run made: its words, and the namespace it stays in when kubectl or helm is told one.
struct Change {
    words: String,
    namespace: Option<String>,
}

impl Memo {
    /// A change starts or ends.
    fn moved(&self, cmd: &Cmd) {
        let program = Path::new(&cmd.program).file_stem().map_or(cmd.program.clone(), |s| s.to_string_lossy().into());
        let namespace =
            ["kubectl", "helm"].iter().any(|tool| program.starts_with(tool)).then(|| named_namespace(&cmd.args));
        let words = std::iter::once(program).chain(cmd.args.iter().cloned()).collect::<Vec<_>>().join(" ");
        let change = Change { words, namespace: namespace.flatten() };
        self.changes.lock().unwrap_or_else(|p| p.into_inner()).push(change);
    }

    /// How many changes that begin with one of these words have started or ended.
    fn changes_by(&self, changed_by: &[&str]) -> usize {
        let changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let by = |words: &str, prefix: &str| words == prefix || words.starts_with(&format!("{prefix} "));
        changes.iter().filter(|c| changed_by.iter().any(|prefix| by(&c.words, prefix))).count()
    }

    /// How many changes that could reach into `namespace` have started or ended: those in it and those that
    /// name no namespace (the whole cluster, or the machine).
    fn changes_in(&self, namespace: &str) -> usize {
        let changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        changes.iter().filter(|c| c.namespace.as_deref().is_none_or(|n| n == namespace)).count()
    }
}

/// The namespace kubectl's or helm's arguments name (`-n NS`, `--namespace NS`, `--namespace=NS`), if any.
fn named_namespace(args: &[String]) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-n" || arg == "--namespace" {
            return args.next().cloned();
        }
        if let Some(namespace) = arg.strip_prefix("--namespace=").or_else(|| arg.strip_prefix("-n=")) {
            return Some(namespace.to_string());
        }
    }
    None
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
            changes: Arc::default(),
            looks: Arc::default(),
            memo: Arc::default(),
            through_api: None,
        }
    }

    /// Moves when a command that could change what is in `namespace` starts and again when it ends (in any
    /// copy of this runner; see `Memo::changes_in`): what was read there before may no longer hold.
    pub(crate) fn changes_in(&self, namespace: &str) -> usize {
        self.memo.changes_in(namespace)
    }

    /// Runs a query, or gives the answer it gave earlier in this run when no command it names in
    /// `changed_by` (by the words a change starts with: `minikube`, `helm repo`) has started or ended since. Callers
    /// asking at once wait for one run; a query that could not run is asked again next time.
    pub(crate) fn remembered(&self, cmd: &Cmd, changed_by: &[&str]) -> Result<Output, Problem> {
        if cmd.mutating {
            return self.run_unchecked(cmd);
        }
        let slot =
            self.memo.answers.lock().unwrap_or_else(|p| p.into_inner()).entry(cmd.to_string()).or_default().clone();
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        let changes = self.memo.changes_by(changed_by);
        if let Some((seen, output)) = &*slot {
            if *seen == changes {
                return Ok(output.clone());
            }
        }
        let output = self.run_unchecked(cmd)?;
        *slot = Some((changes, output.clone()));
        Ok(output)
    }

    /// Forgets the remembered answers: a new look (a verify, a wait's next round) asks again.
    pub(crate) fn look_again(&self) {
        self.looks.fetch_add(1, Ordering::SeqCst);
        self.memo.answers.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Which look at the cluster this is: it moves when a change starts or ends and when a new look begins.
    /// An answer read in one look holds for the rest of it (see `cluster::lookups`).
    pub(crate) fn look(&self) -> Look {
        (self.changes.load(Ordering::SeqCst), self.looks.load(Ordering::SeqCst))
    }

    /// Runs every command under this binary's supervisor, so none outlives the wizard (even after kill -9).
    pub(crate) fn supervised(mut self) -> Self {
        self.supervisor = std::env::current_exe().ok();
        interrupt_flag();
        self
    }

    /// Sends reads that have an API form to `reader` (api_proxy.rs: one `kubectl proxy` per kubectl and
    /// context, started at the first of them and stopped with the run).
    pub(crate) fn through_api(mut self, reader: Arc<dyn ThroughApi>) -> Self {
        self.through_api = Some(reader);
        self
    }

    /// Whether reads may go through the API (a `kubectl proxy`) rather than kubectl processes.
    pub(crate) fn reads_through_api(&self) -> bool {
        self.through_api.is_some()
    }

    /// GETs `path` of the API server through the run's proxy for the kubectl and context `proxy` names (see
    /// `ThroughApi::get`); None when the run reads through kubectl (no proxy, or it failed).
    pub(crate) fn api_get(&self, proxy: &[String], path: &str, timeout: Duration) -> Option<(u16, String)> {
        let through_api = self.through_api.as_ref()?;
        let _shown = self.ui.activity(format!("GET {path}"));
        if self.ui.verbose() {
            self.ui.echo_command(&format!("GET {path}  (through kubectl proxy)"), None);
        }
        through_api.get(self, proxy, path, self.cluster_starts(), timeout)
    }

    /// How many times this run has started minikube: a cluster (re)started may listen elsewhere, with other
    /// certificates, so the API is read through a new proxy.
    fn cluster_starts(&self) -> usize {
        const STARTS_THE_CLUSTER: &[&str] = &["minikube"];
        self.memo.changes_by(STARTS_THE_CLUSTER)
    }

    /// The timeout for commands that do not set their own.
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The same runner refusing every command that would change something.
    pub(crate) fn read_only(&self) -> Runner {
        Runner { read_only: true, ..self.clone() }
    }

    /// The same runner printing through another UI (a stage's own, with its live region).
    pub(crate) fn with_ui(&self, ui: Ui) -> Runner {
        Runner { ui, ..self.clone() }
    }

    /// Finds a program on PATH, or returns an absolute path unchanged if it exists.
    pub(crate) fn resolve(&self, program: &str) -> Option<PathBuf> {
        let path = Path::new(program);
        if path.is_absolute() {
            return path.is_file().then(|| path.to_path_buf());
        }
        let cwd = std::env::current_dir().ok()?;
        which::which_in(program, self.search_path.as_ref(), cwd).ok()
    }

    /// Every match for `program` on PATH, in PATH order (to spot a shadowed binary).
    pub(crate) fn resolve_all(&self, program: &str) -> Vec<PathBuf> {
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
            self.ui.would_run(&cmd.to_string(), cmd.shown_input());
            return Ok(Output::default());
        }
        let timeout = cmd.timeout.unwrap_or(self.default_timeout);
        if let (Some(read), Some(through_api)) = (&cmd.api, &self.through_api) {
            let _shown = self.ui.activity(cmd.brief());
            if self.ui.verbose() {
                self.ui.echo_command(&format!("{cmd}  (as API requests through kubectl proxy)"), None);
            }
            match through_api.read(self, read, self.cluster_starts(), timeout) {
                Answer::Read(output) => return Ok(output),
                _ if interrupted() => return Err(interrupted_problem(cmd)),
                Answer::TimedOut => return Err(timeout_problem(cmd, timeout, "", "")),
                Answer::Unanswered => {}
            }
        }
        let path = self.resolve(&cmd.program).ok_or_else(|| not_found(cmd))?;
        if cmd.mutating {
            self.changes.fetch_add(1, Ordering::SeqCst);
            self.memo.moved(cmd);
        }
        if self.ui.verbose() {
            self.ui.echo_command(&cmd.to_string(), cmd.shown_input());
        }
        let observer = cmd.streamed.then(|| {
            let ui = self.ui.clone();
            Arc::new(move |_: Stream, line: &str| ui.tool_line(line)) as LineObserver
        });
        let _shown = if cmd.streamed {
            self.ui.announce(format!("running {}", cmd.brief()))
        } else {
            self.ui.activity(cmd.brief())
        };
        let output = self.execute(&path, cmd, timeout, observer);
        // what was read while it ran may predate what it did
        if cmd.mutating {
            self.changes.fetch_add(1, Ordering::SeqCst);
            self.memo.moved(cmd);
        }
        if cmd.waits {
            self.looks.fetch_add(1, Ordering::SeqCst);
        }
        output
    }

    fn execute(
        &self,
        path: &Path,
        cmd: &Cmd,
        timeout: Duration,
        observer: Option<LineObserver>,
    ) -> Result<Output, Problem> {
        let (out_reader, out_writer) = os_pipe::pipe().map_err(|e| spawn_problem(cmd, &e))?;
        let (err_reader, err_writer) = os_pipe::pipe().map_err(|e| spawn_problem(cmd, &e))?;
        let Started { child, lifeline } = self.spawn(path, cmd, out_writer, err_writer)?;
        let (events_tx, events) = mpsc::channel();
        let stdout =
            Some(capture(out_reader, Keep::Head(STDOUT_LIMIT), Stream::Stdout, observer.clone(), events_tx.clone()));
        let stderr = Some(capture(err_reader, Keep::Tail(STDERR_KEPT), Stream::Stderr, observer, events_tx.clone()));
        drop(events_tx);
        let printed = |kept: &Option<Arc<Mutex<Kept>>>| {
            let bytes = kept.as_ref().map(|k| std::mem::take(&mut k.lock().expect("capture").bytes));
            text(bytes.unwrap_or_default())
        };
        let deadline = Instant::now().checked_add(timeout);
        let mut open = usize::from(stdout.is_some()) + usize::from(stderr.is_some());
        let (mut idle, mut exited) = (Duration::from_millis(1), None::<(ExitStatus, Instant)>);
        let status = loop {
            // waits on the output (a closed stream usually means the end) in slices, so Ctrl-C stops promptly
            let wait = if open == 0 { idle } else { WAIT_SLICE };
            match events.recv_timeout(wait) {
                Ok(Event::Closed) => open -= 1,
                Ok(Event::Overflow) => {
                    stop(&child, lifeline);
                    return Err(overflow_problem(cmd, &printed(&stderr)));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(wait);
                    idle = (idle * 2).min(WAIT_SLICE);
                }
            }
            if exited.is_none() {
                let status = child.try_wait().map_err(|e| spawn_problem(cmd, &e))?.map(|output| output.status);
                exited = status.map(|s| (s, Instant::now()));
            }
            if let Some((status, at)) = exited {
                // something it started in the background may hold its output open: do not wait for that
                if open == 0 || at.elapsed() >= OUTPUT_GRACE {
                    break status;
                }
                continue;
            }
            let interrupted = interrupted();
            if interrupted || deadline.is_some_and(|d| Instant::now() >= d) {
                stop(&child, lifeline);
                let (out, err) = (printed(&stdout), printed(&stderr));
                return Err(if interrupted {
                    interrupted_problem(cmd)
                } else {
                    timeout_problem(cmd, timeout, &out, &err)
                });
            }
        };
        drop(lifeline);
        Ok(Output {
            // A process killed by a signal has no code; report it as a failure all the same.
            code: status.code().unwrap_or(-1),
            stdout: printed(&stdout),
            stderr: printed(&stderr),
        })
    }

    /// Starts the program (under the supervisor when there is one) in a process group of its own, and sends
    /// its input; returns the child and, under a supervisor, the lifeline that keeps it alive.
    fn spawn(
        &self,
        path: &Path,
        cmd: &Cmd,
        stdout: os_pipe::PipeWriter,
        stderr: os_pipe::PipeWriter,
    ) -> Result<Started, Problem> {
        let (program, args) = launch(self.supervisor.as_deref(), path, &cmd.args);
        let (stdin, writer) = os_pipe::pipe().map_err(|e| spawn_problem(cmd, &e))?;
        let expression = duct::cmd(program, args)
            .stdin_file(stdin)
            .stdout_file(stdout)
            .stderr_file(stderr)
            .unchecked()
            .before_spawn(|command| {
                tree::own_group(command);
                Ok(())
            });
        let spawned = crate::supervise::spawn_when_not_busy(|| expression.start());
        drop(expression); // our copies of the child's ends of its pipes: its output ends when it does
        let child = spawned.map_err(|e| spawn_problem(cmd, &e))?;
        let lifeline = send_input(writer, self.supervisor.is_some(), cmd.stdin.as_deref());
        Ok(Started { child, lifeline })
    }

    /// Starts a long-running query (stdout and stderr merged, line by line); it stops when dropped.
    pub(crate) fn start_background(&self, cmd: &Cmd) -> Result<Background, Problem> {
        let path = self.resolve(&cmd.program).ok_or_else(|| not_found(cmd))?;
        if cmd.mutating {
            self.changes.fetch_add(1, Ordering::SeqCst);
            self.memo.moved(cmd);
        }
        if self.ui.verbose() {
            self.ui.echo_command(&cmd.to_string(), None);
        }
        let (reader, writer) = os_pipe::pipe().map_err(|e| spawn_problem(cmd, &e))?;
        let merged = writer.try_clone().map_err(|e| spawn_problem(cmd, &e))?;
        let Started { child, lifeline } = self.spawn(&path, cmd, writer, merged)?;
        let (tx, lines) = mpsc::sync_channel(BACKGROUND_LINES);
        std::thread::spawn(move || {
            let mut split = Lines::new(|line: &str| {
                // nobody may be reading any more: then the line is dropped, never queued without bound
                let _ = tx.try_send(line.to_string());
            });
            let mut reader = reader;
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => split.feed(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            split.finish();
        });
        Ok(Background { child, lines, command_line: cmd.to_string(), lifeline })
    }
}

/// A started command: the child (the program, or the supervisor running it) and its lifeline.
struct Started {
    child: duct::Handle,
    lifeline: Option<os_pipe::PipeWriter>,
}

/// A long-running command (a port-forward) whose output lines arrive on a channel; stopped on drop.
pub(crate) struct Background {
    child: duct::Handle,
    lines: mpsc::Receiver<String>,
    command_line: String,
    lifeline: Option<os_pipe::PipeWriter>,
}

impl Background {
    /// Whether the command still runs (a port-forward's kubectl ends when it loses its pod).
    pub(crate) fn running(&self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the first line `accept` returns Some for, up to `limit` or Ctrl-C; the process's own words
    /// on failure.
    pub(crate) fn wait_for_line<T>(&self, limit: Duration, accept: impl Fn(&str) -> Option<T>) -> Result<T, Problem> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if interrupted() {
                return Err(Problem::new(format!("interrupted (Ctrl-C) while `{}` started", self.command_line)));
            }
            match self.lines.recv_timeout(left.min(WAIT_SLICE)) {
                Ok(line) => {
                    if let Some(found) = accept(&line) {
                        return Ok(found);
                    }
                    seen.push(line);
                    if seen.len() > STDERR_TAIL_LINES {
                        seen.remove(0);
                    }
                }
                Err(RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Problem::new(format!(
                        "`{}` did not get ready within {}s",
                        self.command_line,
                        limit.as_secs()
                    ))
                    .with_command(CommandFailure {
                        command_line: self.command_line.clone(),
                        exit_code: None,
                        stderr_tail: seen.join("\n"),
                        stdout_tail: String::new(),
                        timed_out_after: Some(limit),
                    }));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Problem::new(format!("`{}` ended before it was ready", self.command_line))
                        .with_command(CommandFailure {
                            command_line: self.command_line.clone(),
                            exit_code: None,
                            stderr_tail: seen.join("\n"),
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
        // the supervisor ends the command's tree once its lifeline closes; give it a moment
        if self.lifeline.take().is_some() && exits_within(&self.child, Duration::from_secs(5)) {
            return;
        }
        kill(&self.child);
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

/// Sends the input from a thread (a large input never blocks the runner): under a supervisor the framed input
/// goes first and a copy of the pipe stays open as the lifeline; without one the input is written and the
/// pipe closed.
fn send_input(writer: os_pipe::PipeWriter, supervised: bool, input: Option<&str>) -> Option<os_pipe::PipeWriter> {
    let (bytes, lifeline) = if supervised {
        match writer.try_clone() {
            Ok(copy) => (crate::supervise::frame(input), Some(copy)),
            // without a second handle the pipe cannot stay open: the supervisor sees it close and stops
            Err(_) => (Vec::new(), None),
        }
    } else {
        (input.unwrap_or_default().as_bytes().to_vec(), None)
    };
    std::thread::spawn(move || {
        let mut writer = writer;
        let _ = writer.write_all(&bytes);
    });
    lifeline
}

const WAIT_SLICE: Duration = Duration::from_millis(100);
/// How long output may stay open after the program exited (held by something it left running).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// What a reader thread kept of one stream.
#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Keep {
    /// Everything up to this many bytes; more is an overflow.
    Head(usize),
    /// The last this many bytes.
    Tail(usize),
}

enum Event {
    Closed,
    Overflow,
}

/// Reads one stream to its end on a thread, keeping what `keep` says and never more.
fn capture(
    mut source: impl Read + Send + 'static,
    keep: Keep,
    stream: Stream,
    observer: Option<LineObserver>,
    events: mpsc::Sender<Event>,
) -> Arc<Mutex<Kept>> {
    let kept = Arc::new(Mutex::new(Kept::default()));
    let shared = kept.clone();
    std::thread::spawn(move || {
        let mut lines = observer.map(|observer| Lines::new(move |line: &str| observer(stream, line)));
        let mut chunk = vec![0u8; 64 << 10];
        let mut overflowed = false;
        loop {
            let n = match source.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Some(lines) = &mut lines {
                lines.feed(&chunk[..n]);
            }
            let mut kept = shared.lock().expect("capture");
            let bytes = &mut kept.bytes;
            match keep {
                Keep::Head(limit) if bytes.len() + n > limit => {
                    // keeps reading (and dropping) so the program is not blocked until the runner stops it
                    if !overflowed {
                        overflowed = true;
                        let _ = events.send(Event::Overflow);
                    }
                }
                Keep::Head(limit) => {
                    if bytes.capacity() < bytes.len() + n {
                        // grows as Vec would, but never past the limit
                        let want = (bytes.capacity() * 2).clamp(bytes.len() + n, limit);
                        bytes.reserve_exact(want - bytes.len());
                    }
                    bytes.extend_from_slice(&chunk[..n]);
                }
                Keep::Tail(limit) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    if bytes.len() > 2 * limit {
                        bytes.drain(..bytes.len() - limit);
                    }
                }
            }
        }
        if let Some(lines) = &mut lines {
            lines.finish();
        }
        let _ = events.send(Event::Closed);
    });
    kept
}

/// Splits a byte stream into lines (without their `\r\n`), each cut at `LINE_LIMIT` bytes.
struct Lines<F: FnMut(&str)> {
    sink: F,
    partial: Vec<u8>,
}

impl<F: FnMut(&str)> Lines<F> {
    fn new(sink: F) -> Self {
        Lines { sink, partial: Vec::new() }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push(&bytes[..end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.push(bytes);
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = LINE_LIMIT.saturating_sub(self.partial.len());
        self.partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.partial);
        (self.sink)(line.trim_end_matches('\r'));
        self.partial.clear();
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.emit();
        }
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Cuts the lifeline (the supervisor then ends the command's whole tree and exits), and ends the tree itself
/// as a last resort.
fn stop(child: &duct::Handle, lifeline: Option<os_pipe::PipeWriter>) {
    let supervised = lifeline.is_some();
    drop(lifeline);
    if supervised && exits_within(child, Duration::from_secs(5)) {
        return;
    }
    kill(child);
}

/// Kills a child started in a group of its own, with its group, and reaps it.
fn kill(child: &duct::Handle) {
    if matches!(child.try_wait(), Ok(None)) {
        for pid in child.pids() {
            tree::kill_group_of(pid);
        }
        let _ = child.kill();
    }
}

fn exits_within(child: &duct::Handle, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

static INTERRUPTED: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> = std::sync::OnceLock::new();

/// The process-wide Ctrl-C flag (installed once): commands stop, the cursor comes back.
pub(crate) fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
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

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
}

/// Pauses for `length` (a poll's interval, a view's refresh), ending early on Ctrl-C; false when interrupted.
pub(crate) fn pause(length: Duration) -> bool {
    let end = Instant::now() + length;
    loop {
        if interrupted() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
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

pub(crate) fn exit_problem(cmd: &Cmd, output: &Output) -> Problem {
    Problem::new(format!("{} exited with code {}", cmd.label(), output.code)).with_command(failure(
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
    Problem::new(format!("could not run {}: {error}", cmd.label())).with_command(failure(cmd, None, "", ""))
}

fn timeout_problem(cmd: &Cmd, timeout: Duration, stdout: &str, stderr: &str) -> Problem {
    let mut evidence = failure(cmd, None, stdout, stderr);
    evidence.timed_out_after = Some(timeout);
    Problem::new(format!("{} did not finish within {}s and was stopped", cmd.label(), timeout.as_secs()))
        .with_command(evidence)
        .with_hint("the tool may be waiting on an unreachable cluster or a slow network; check it, or raise --command-timeout, and run this again")
}

fn overflow_problem(cmd: &Cmd, stderr: &str) -> Problem {
    Problem::new(format!(
        "`{}` printed more than {} MiB, more than the wizard reads from one command, and was stopped",
        cmd.program,
        STDOUT_LIMIT >> 20
    ))
    .with_command(failure(cmd, None, "", stderr))
    .with_hint(format!(
        "run `{cmd}` yourself to see why it prints so much (a tool stuck in a loop, or a cluster with very many objects), fix that, and run this again"
    ))
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
    fn a_change_stays_in_the_namespace_kubectl_or_helm_is_told_and_any_other_reaches_everywhere() {
        let memo = Memo::default();
        memo.moved(&Cmd::change("/bin/kubectl").args(["apply", "-f", "-", "-n", "default"]));
        memo.moved(&Cmd::change("helm").args(["upgrade", "--install", "prometheus", "--namespace=monitoring"]));
        memo.moved(&Cmd::change("minikube").args(["start", "-n", "2"])); // minikube's -n is its node count
        memo.moved(&Cmd::change("kubectl").args(["delete", "namespace", "monitoring"]));
        assert_eq!((memo.changes_in("default"), memo.changes_in("monitoring"), memo.changes_in("keda")), (3, 3, 2));
        assert_eq!(memo.changes_by(&["helm"]), 1);
    }

    #[test]
    fn dry_run_prints_changes_and_runs_queries() {
        let runner = Runner::new(Ui::plain(), true);
        let out = runner.run(&Cmd::change("no-such-program-xyz").arg("x")).expect("dry run does not execute");
        assert!(out.success());
        let err = runner.run(&Cmd::query("no-such-program-xyz")).expect_err("queries still run");
        assert!(err.message.contains("not found"), "{}", err.message);
    }

    #[test]
    fn a_hanging_command_is_stopped_at_its_timeout() {
        let runner = Runner::new(Ui::plain(), false);
        let cmd = Cmd::query("sleep").arg("30").timeout(Duration::from_millis(200));
        let err = runner.run(&cmd).expect_err("must time out");
        let evidence = err.command.expect("evidence");
        assert_eq!(evidence.timed_out_after, Some(Duration::from_millis(200)));
        assert_eq!(evidence.command_line, "sleep 30");
    }

    #[test]
    fn a_command_printing_without_end_is_stopped_at_the_limit_and_named() {
        let runner = Runner::new(Ui::plain(), false);
        let err = runner.run(&Cmd::query("yes").arg("endless")).expect_err("more than the limit");
        assert!(err.message.contains("`yes` printed more than 64 MiB"), "{}", err.message);
        assert_eq!(err.command.expect("evidence").command_line, "yes endless");
        assert!(err.hint.expect("hint").contains("run `yes endless` yourself"));
    }

    #[test]
    fn an_observer_sees_each_line_as_it_comes_and_the_output_is_unchanged() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let observer: LineObserver =
            Arc::new(move |stream, line: &str| record.lock().unwrap().push((stream, line.to_string())));
        let runner = Runner::new(Ui::plain(), false);
        let run = |cmd: Cmd| {
            let path = runner.resolve(&cmd.program).expect("on PATH");
            runner.execute(&path, &cmd, DEFAULT_TIMEOUT, Some(observer.clone()))
        };
        let out = run(Cmd::query("printf").arg("one\\r\\ntwo\\nlast")).expect("printf");
        assert_eq!(out.stdout, "one\r\ntwo\nlast");
        let lines = seen.lock().unwrap().clone();
        let expected = ["one", "two", "last"].map(|l| (Stream::Stdout, l.to_string()));
        assert_eq!(lines, expected);
        let out = run(Cmd::query("ls").arg("/definitely/not/here")).expect("ls runs");
        assert!(!out.success() && out.stderr.contains("/definitely/not/here"));
        assert!(seen.lock().unwrap().iter().any(|(s, l)| *s == Stream::Stderr && l.contains("/definitely/not/here")));
    }

    #[test]
    fn a_secret_input_reaches_the_program_and_never_the_screen() {
        let cmd = Cmd::change("cat").secret_stdin("hunter2");
        assert_eq!(cmd.to_string(), "cat (with a secret on stdin)");
        assert!(!format!("{cmd:?}").contains("hunter2"), "{cmd:?}");
        assert_eq!(cmd.shown_input(), Some(SECRET_INPUT));
        assert_eq!(Cmd::change("cat").stdin("plain").shown_input(), Some("plain"));
        let out = Runner::new(Ui::plain(), false).run(&cmd).expect("cat");
        assert_eq!(out.stdout, "hunter2");
    }

    #[test]
    fn a_large_input_does_not_block_the_runner() {
        let input = "x".repeat(1 << 20);
        let out = Runner::new(Ui::plain(), false).run(&Cmd::query("wc").arg("--bytes").stdin(input)).expect("wc");
        assert_eq!(out.stdout.trim(), (1 << 20).to_string());
    }

    #[test]
    fn lines_are_split_across_chunks_and_cut_at_the_limit() {
        let mut got = Vec::new();
        let mut split = Lines::new(|l: &str| got.push(l.len()));
        split.feed(b"ab");
        split.feed(b"c\n");
        split.feed(&vec![b'x'; LINE_LIMIT * 3]);
        split.feed(b"\nend");
        split.finish();
        drop(split);
        assert_eq!(got, vec![3, LINE_LIMIT, 3]);
    }

    #[test]
    fn a_failing_command_keeps_its_code_and_stderr() {
        let runner = Runner::new(Ui::plain(), false);
        let err = runner.run(&Cmd::query("ls").arg("/definitely/not/here")).expect_err("ls fails");
        let evidence = err.command.expect("evidence");
        assert_eq!(evidence.exit_code, Some(2));
        assert!(evidence.stderr_tail.contains("/definitely/not/here"));
    }

    #[test]
    fn a_remembered_answer_stands_until_a_change_it_names_starts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("asked");
        let runner = Runner::new(Ui::plain(), false);
        // a "query" that leaves a line each time it really runs
        let ask = Cmd::query("sh").args(["-c", &format!("echo asked >> '{}'; echo answer", log.display())]);
        let asked = || std::fs::read_to_string(&log).unwrap_or_default().lines().count();
        std::thread::scope(|scope| {
            let askers: Vec<_> = (0..3).map(|_| scope.spawn(|| runner.remembered(&ask, &["true"]))).collect();
            for asker in askers {
                assert_eq!(asker.join().unwrap().expect("runs").stdout, "answer\n");
            }
        });
        assert_eq!(asked(), 1, "asked at once, run once");
        runner.run(&Cmd::change("false").arg("x")).expect_err("false fails");
        runner.remembered(&ask, &["true"]).expect("runs");
        assert_eq!(asked(), 1, "a change it does not name leaves the answer standing");
        runner.run(&Cmd::query("true")).expect("a query changes nothing");
        runner.remembered(&ask, &["true"]).expect("runs");
        assert_eq!(asked(), 1);
        runner.with_ui(Ui::plain()).run(&Cmd::change("true").arg("x")).expect("true");
        runner.remembered(&ask, &["true"]).expect("runs");
        runner.remembered(&ask, &["true"]).expect("runs");
        assert_eq!(asked(), 2, "asked again once after a change it names, by any copy of the runner");
        runner.with_ui(Ui::plain()).look_again();
        runner.remembered(&ask, &["true"]).expect("runs");
        assert_eq!(asked(), 3, "a new look asks again");
    }
}
