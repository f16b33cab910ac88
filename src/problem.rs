//! The one error shape users see: what went wrong, the command that showed it (with its exit code and the
//! tail of what it printed), and what to do about it. Stages return these as their error; the engine
//! adds the stage name and the UI renders them.

use std::fmt;
use std::time::Duration;

/// How a command failed, with enough of its output to diagnose it without rerunning.
#[derive(Debug, Clone)]
pub struct CommandFailure {
    pub(crate) command_line: String,
    /// `None` when the process did not exit on its own (timeout, not found, could not start).
    pub(crate) exit_code: Option<i32>,
    pub(crate) stderr_tail: String,
    pub(crate) stdout_tail: String,
    pub timed_out_after: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub(crate) message: String,
    pub command: Option<Box<CommandFailure>>,
    pub(crate) hint: Option<String>,
}

impl Problem {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Problem { message: message.into(), command: None, hint: None }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Replaces the message but keeps the command evidence: used when a caller knows better what a failure means.
    pub(crate) fn reworded(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub(crate) fn with_command(mut self, command: CommandFailure) -> Self {
        self.command = Some(Box::new(command));
        self
    }

    /// All the text a command printed, for callers that classify a failure by what the tool said.
    pub(crate) fn output_text(&self) -> String {
        self.command.as_ref().map(|c| format!("{}\n{}", c.stdout_tail, c.stderr_tail)).unwrap_or_default()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// Keeps the last `lines` lines of `text`: the end of a tool's output is where it says why it failed.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 3), "");
        assert_eq!(tail("only", 5), "only");
    }
}
