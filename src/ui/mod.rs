//! The only place that prints or asks. Decides colour (flag, NO_COLOR, terminal), hides spinners when stdout
//! is not a terminal, and turns a prompt into "take the default" (or a clear error naming the flag to pass)
//! when nobody can answer it.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use console::{style, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::problem::Problem;

mod live;
mod prompt;
mod view;

pub(crate) use live::{Activity, Region};
pub(crate) use prompt::{CANCELLED, PROMPTING};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A cheap, cloneable handle on the terminal.
#[derive(Debug, Clone)]
pub struct Ui {
    stdout_tty: bool,
    can_prompt: bool,
    verbose: bool,
    /// The live regions of stages running at once, and spinners, share one display; lines print above them.
    multi: Option<Arc<MultiProgress>>,
    /// The running stage this copy prints for (setup's stages), if any.
    lane: Option<Arc<live::Lane>>,
    /// The stage whose line was printed last above the live regions, shared by every copy: a stage's line
    /// after another stage's gets its `==> stage` header again.
    last: Arc<Mutex<Option<String>>>,
}

impl Ui {
    pub(crate) fn new(choice: ColorChoice, verbose: bool, assume_yes: bool) -> Self {
        let stdout_tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_tty && !no_color,
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        let can_prompt = !assume_yes && stdout_tty && std::io::stdin().is_terminal();
        let multi =
            stdout_tty.then(|| Arc::new(MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stdout())));
        Ui { stdout_tty, can_prompt, verbose, multi, lane: None, last: Arc::default() }
    }

    /// Prints one line as it comes: above the live regions on a terminal (under its stage's header), with
    /// its stage's name in front without one.
    fn emit(&self, stderr: bool, text: String) {
        let stage = self.lane.as_ref().map(|lane| lane.name.as_str());
        match (&self.multi, stage) {
            (Some(multi), _) => {
                let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if stage.is_some() && last.as_deref() != stage {
                    let _ = multi.println(stage_header(stage.unwrap_or_default()));
                }
                *last = stage.map(String::from);
                let _ = multi.println(text);
            }
            (None, Some(stage)) => {
                for line in text.split('\n') {
                    write_line(stderr, &format!("[{stage}] {line}"));
                }
            }
            (None, None) => write_line(stderr, &text),
        }
    }

    /// Prints text as it is (a JSON report, rendered manifests): no styling, no region, straight to stdout.
    pub(crate) fn raw(&self, text: &str) {
        write_line(false, text.trim_end_matches('\n'));
    }

    /// A region of the screen for one running stage: its live region while it runs (on a terminal; without
    /// one, a `==> stage` line now and its lines tagged with its name), then its closing summary line.
    pub(crate) fn stage_region(&self, name: &str) -> Region {
        let lane = Arc::new(live::Lane::new(name, self.multi.as_deref()));
        if self.multi.is_none() {
            write_line(false, &stage_header(name));
        }
        let ui = Ui { lane: Some(lane.clone()), ..self.clone() };
        Region { parent: self.clone(), ui, lane }
    }

    /// A UI with no terminal, no colour and no prompts.
    pub fn plain() -> Self {
        Ui { stdout_tty: false, can_prompt: false, verbose: false, multi: None, lane: None, last: Arc::default() }
    }

    pub(crate) fn verbose(&self) -> bool {
        self.verbose
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.stdout_tty
    }

    pub(crate) fn interactive(&self) -> bool {
        self.can_prompt
    }

    pub(crate) fn heading(&self, text: &str) {
        self.emit(false, style(text).bold().to_string());
    }

    pub(crate) fn line(&self, text: &str) {
        self.emit(false, text.to_string());
    }

    pub(crate) fn note(&self, text: &str) {
        self.emit(false, format!("{} {text}", style("note:").cyan().bold()));
    }

    pub(crate) fn warn(&self, text: &str) {
        self.emit(false, format!("{} {text}", style("warning:").yellow().bold()));
    }

    /// A warning on stderr, for commands whose stdout is data (`render`).
    pub(crate) fn warn_stderr(&self, text: &str) {
        self.emit(true, format!("{} {text}", style("warning:").yellow().bold()));
    }

    pub(crate) fn would_run(&self, command: &str, stdin: Option<&str>) {
        self.emit(false, format!("  {} {command}", style("would run:").magenta()));
        for line in stdin.unwrap_or_default().lines() {
            self.emit(false, format!("    {} {line}", style("|").dim()));
        }
    }

    pub(crate) fn echo_command(&self, command: &str, stdin: Option<&str>) {
        self.emit(false, format!("  {} {command}", style("$").dim()));
        if let Some(input) = stdin {
            for line in input.lines() {
                self.emit(false, format!("  {} {line}", style(">").dim()));
            }
        }
    }

    /// Prints a problem in the documented error form: what, where, the command and its output, the fix.
    pub(crate) fn problem(&self, stage: Option<&str>, problem: &Problem) {
        let red = Style::new().red().bold();
        match stage {
            Some(stage) => self.emit(true, format!("{} {stage}: {}", red.apply_to("error:"), problem.message)),
            None => self.emit(true, format!("{} {}", red.apply_to("error:"), problem.message)),
        }
        if let Some(command) = &problem.command {
            self.emit(true, format!("  command:   {}", command.command_line));
            match (command.exit_code, command.timed_out_after) {
                (Some(code), _) => self.emit(true, format!("  exit code: {code}")),
                (None, Some(after)) => self.emit(true, format!("  timed out: after {}s", after.as_secs())),
                (None, None) => {}
            }
            self.block("stderr", &command.stderr_tail);
            if command.stderr_tail.is_empty() {
                self.block("stdout", &command.stdout_tail);
            }
        }
        if let Some(hint) = &problem.hint {
            self.emit(true, format!("  {} {hint}", style("hint:").green().bold()));
        }
    }

    fn block(&self, title: &str, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        self.emit(true, format!("  {title}:"));
        for line in text.lines() {
            self.emit(true, format!("    {line}"));
        }
    }

    /// A spinner that says what it waits for and for how long. Inside a stage it is the stage's live
    /// activity (without a terminal, its status is printed when it changes); elsewhere it is hidden when
    /// stdout is not a terminal.
    pub(crate) fn spinner(&self, message: &str) -> Spinner {
        if self.lane.is_some() {
            let activity = self.activity(message);
            return Spinner { bar: None, stage: Some((self.clone(), activity, Instant::now())) };
        }
        if !self.stdout_tty {
            return Spinner { bar: None, stage: None };
        }
        let bar = match &self.multi {
            Some(multi) => multi.add(ProgressBar::new_spinner()),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("static template"));
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner { bar: Some(bar), stage: None }
    }
}

fn stage_header(name: &str) -> String {
    format!("{} {name}", style("==>").blue().bold())
}

/// Writes one line; a reader that went away (`| head`) ends the program quietly, as a closed pipe should.
fn write_line(stderr: bool, text: &str) {
    use std::io::Write;
    let written = if stderr {
        writeln!(std::io::stderr().lock(), "{text}")
    } else {
        writeln!(std::io::stdout().lock(), "{text}")
    };
    if let Err(error) = written {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Clears itself when dropped, so an early return never leaves a spinner drawing.
pub(crate) struct Spinner {
    bar: Option<ProgressBar>,
    /// Inside a stage: its UI, the activity in its live region, and when the wait began.
    stage: Option<(Ui, Activity, Instant)>,
}

impl Spinner {
    pub(crate) fn set_message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
        if let Some((ui, activity, started)) = &self.stage {
            ui.stage_status(activity, message.to_string(), *started);
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
