//! Questions: yes/no, a choice, a line of text. Without a terminal (or with `--yes`) the default is taken, or
//! the error names the flag that answers the question; Ctrl-C at a prompt cancels with nothing changed.

use std::sync::Mutex;

use crate::problem::Problem;

use super::Ui;

impl Ui {
    /// Asks yes/no. Without a terminal (or with `--yes`) the default is taken.
    pub fn confirm(&self, question: &str, default: bool) -> Result<bool, Problem> {
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
    ) -> Result<usize, Problem> {
        if !self.can_prompt {
            return default.ok_or_else(|| unanswered(question, flag));
        }
        let mut select = dialoguer::Select::new().with_prompt(question).items(items);
        if let Some(index) = default {
            select = select.default(index);
        }
        prompt(|| select.interact())
    }

    /// Asks for a line of text, with a default when there is one.
    pub fn input(&self, question: &str, default: &str) -> Result<String, Problem> {
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
fn prompt<T>(ask: impl FnOnce() -> dialoguer::Result<T>) -> Result<T, Problem> {
    // stages running at once ask one question at a time
    static ONE_QUESTION: Mutex<()> = Mutex::new(());
    let _turn = ONE_QUESTION.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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
            Problem::new(CANCELLED)
        } else {
            Problem::new(format!("could not read the answer from the terminal: {io}"))
        }
    })
}

fn unanswered(question: &str, flag: &str) -> Problem {
    Problem::new(format!("a question needs an answer and there is no terminal to ask it on: {question}"))
        .with_hint(format!("pass {flag}"))
}
