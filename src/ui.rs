//! The only place that prints or asks. Decides colour (flag, NO_COLOR, terminal), hides spinners when stdout
//! is not a terminal, and turns a prompt into "take the default" (or a clear error naming the flag to pass)
//! when nobody can answer it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::time::Duration;

use console::{style, Style};
use indicatif::{ProgressBar, ProgressStyle};

use crate::problem::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A cheap, cloneable handle on the terminal.
#[derive(Debug, Clone)]
pub struct Ui {
    color: bool,
    stdout_tty: bool,
    can_prompt: bool,
    verbose: bool,
}

impl Ui {
    pub fn new(choice: ColorChoice, verbose: bool, assume_yes: bool) -> Self {
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
        Ui { color, stdout_tty, can_prompt, verbose }
    }

    /// A UI with no terminal, no colour and no prompts.
    pub fn plain_for_tests() -> Self {
        Ui { color: false, stdout_tty: false, can_prompt: false, verbose: false }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    pub fn is_terminal(&self) -> bool {
        self.stdout_tty
    }

    pub fn interactive(&self) -> bool {
        self.can_prompt
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn heading(&self, text: &str) {
        println!("{}", style(text).bold());
    }

    pub fn line(&self, text: &str) {
        println!("{text}");
    }

    pub fn note(&self, text: &str) {
        println!("{} {text}", style("note:").cyan().bold());
    }

    pub fn warn(&self, text: &str) {
        println!("{} {text}", style("warning:").yellow().bold());
    }

    pub fn would_run(&self, command: &str, stdin: Option<&str>) {
        println!("  {} {command}", style("would run:").magenta());
        for line in stdin.unwrap_or_default().lines() {
            println!("    {} {line}", style("|").dim());
        }
    }

    pub fn echo_command(&self, command: &str, stdin: Option<&str>) {
        println!("  {} {command}", style("$").dim());
        if let Some(input) = stdin {
            for line in input.lines() {
                println!("  {} {line}", style(">").dim());
            }
        }
    }

    /// Prints a problem in the documented error form: what, where, the command and its output, the fix.
    pub fn problem(&self, stage: Option<&str>, problem: &Problem) {
        let red = Style::new().red().bold();
        match stage {
            Some(stage) => eprintln!("{} {stage}: {}", red.apply_to("error:"), problem.message),
            None => eprintln!("{} {}", red.apply_to("error:"), problem.message),
        }
        if let Some(command) = &problem.command {
            eprintln!("  command:   {}", command.command_line);
            match (command.exit_code, command.timed_out_after) {
                (Some(code), _) => eprintln!("  exit code: {code}"),
                (None, Some(after)) => eprintln!("  timed out: after {}s", after.as_secs()),
                (None, None) => {}
            }
            print_block("stderr", &command.stderr_tail);
            if command.stderr_tail.is_empty() {
                print_block("stdout", &command.stdout_tail);
            }
        }
        if let Some(hint) = &problem.hint {
            eprintln!("  {} {hint}", style("hint:").green().bold());
        }
    }

    /// A spinner that says what it waits for; hidden when stdout is not a terminal.
    pub fn spinner(&self, message: &str) -> Spinner {
        if !self.stdout_tty {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("  {spinner} {msg} ({elapsed})").expect("static template"));
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }

    /// Asks yes/no. Without a terminal (or with `--yes`) the default is taken.
    pub fn confirm(&self, question: &str, default: bool) -> anyhow::Result<bool> {
        if !self.can_prompt {
            return Ok(default);
        }
        prompt(|| dialoguer::Confirm::new().with_prompt(question).default(default).interact())
    }

    /// Asks to choose one item. Without a terminal the default is taken; with no default, the error names
    /// the flag that answers the question.
    pub fn select(
        &self,
        question: &str,
        items: &[String],
        default: Option<usize>,
        flag: &str,
    ) -> anyhow::Result<usize> {
        if !self.can_prompt {
            return default.ok_or_else(|| unanswered(question, flag).into());
        }
        let mut select = dialoguer::Select::new().with_prompt(question).items(items);
        if let Some(index) = default {
            select = select.default(index);
        }
        prompt(|| select.interact())
    }

    /// Asks for a line of text, with a default when there is one.
    pub fn input(&self, question: &str, default: &str) -> anyhow::Result<String> {
        if !self.can_prompt {
            return Ok(default.to_string());
        }
        prompt(|| dialoguer::Input::new().with_prompt(question).default(default.to_string()).interact_text())
    }
}

/// Ctrl-C at a prompt: the user cancelled; nothing was changed.
pub const CANCELLED: &str = "cancelled at the prompt (Ctrl-C): nothing was changed";

/// Whether a prompt is open: Ctrl-C then ends the wizard at once (see `runner::interrupt_flag`).
pub static PROMPTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs a prompt; on any way out but an answer, the cursor the prompt hid is shown again.
fn prompt<T>(ask: impl FnOnce() -> dialoguer::Result<T>) -> anyhow::Result<T> {
    PROMPTING.store(true, std::sync::atomic::Ordering::SeqCst);
    let answer = ask();
    PROMPTING.store(false, std::sync::atomic::Ordering::SeqCst);
    answer.map_err(|error| {
        for term in [console::Term::stderr(), console::Term::stdout()] {
            if term.is_term() {
                let _ = term.show_cursor();
                let _ = term.write_line("");
            }
        }
        let dialoguer::Error::IO(io) = error;
        if io.kind() == std::io::ErrorKind::Interrupted {
            anyhow::Error::new(Problem::new(CANCELLED))
        } else {
            anyhow::Error::new(io)
        }
    })
}

fn unanswered(question: &str, flag: &str) -> Problem {
    Problem::new(format!("a question needs an answer and there is no terminal to ask it on: {question}"))
        .with_hint(format!("pass {flag}"))
}

fn print_block(title: &str, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    eprintln!("  {title}:");
    for line in text.lines() {
        eprintln!("    {line}");
    }
}

/// Clears itself when dropped, so an early return never leaves a spinner drawing.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
