//! Questions: yes/no, a choice, a line of text. Without a terminal (or with `--yes`) the default is taken, or
//! the error names the flag that answers the question; Ctrl-C at a prompt cancels with nothing changed.
//! A question comes under its stage's header, the live regions still while it is asked; a menu says
//! what the choice is about and warns before it is made, marks the recommended item, and shows its keys.

use std::fmt::{self, Write};
use std::sync::Mutex;

use crate::menu::{Menu, MENU_KEYS};
use crate::problem::Problem;

use super::Ui;

impl Ui {
    /// Asks yes/no. Without a terminal (or with `--yes`) the default is taken.
    pub(crate) fn confirm(&self, question: &str, default: bool) -> Result<bool, Problem> {
        if !self.can_prompt {
            return Ok(default);
        }
        self.ask(&[], None, || dialoguer::Confirm::with_theme(&Plain).with_prompt(question).default(default).interact())
    }

    /// Asks to choose one item. Without a terminal the default is taken; with no default, the error names
    /// the flag that answers the question.
    pub(crate) fn select(
        &self,
        question: &str,
        items: &[String],
        default: Option<usize>,
        flag: &str,
    ) -> Result<usize, Problem> {
        self.choose(Menu { question, items: items.to_vec(), default, flag, ..Menu::default() })
    }

    /// Asks a menu: its explanation and warning first, then the question with its keys, the recommended
    /// item marked. Without a terminal the default is taken (or the error names the flag).
    pub(crate) fn choose(&self, menu: Menu) -> Result<usize, Problem> {
        if !self.can_prompt {
            return menu.default.ok_or_else(|| unanswered(menu.question, menu.flag));
        }
        let mut items = menu.items.clone();
        if let Some((index, why)) = &menu.recommended {
            if let Some(item) = items.get_mut(*index) {
                item.push_str(&format!(" (recommended: {why})"));
            }
        }
        let mut select = dialoguer::Select::with_theme(&Plain).with_prompt(menu.question).items(&items);
        if let Some(index) = menu.default {
            select = select.default(index);
        }
        self.ask(&menu.explanation, menu.warning.as_deref(), || select.interact())
    }

    /// Asks for a line of text, with a default when there is one.
    pub(crate) fn input(&self, question: &str, default: &str) -> Result<String, Problem> {
        if !self.can_prompt {
            return Ok(default.to_string());
        }
        self.ask(&[], None, || {
            dialoguer::Input::with_theme(&Plain).with_prompt(question).default(default.to_string()).interact_text()
        })
    }

    /// Asks one question at a time: the explanation and the warning (under the stage's header), then the
    /// question.
    fn ask<T>(
        &self,
        explanation: &[String],
        warning: Option<&str>,
        question: impl FnOnce() -> dialoguer::Result<T>,
    ) -> Result<T, Problem> {
        // stages running at once ask one question at a time
        static ONE_QUESTION: Mutex<()> = Mutex::new(());
        let _turn = ONE_QUESTION.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for line in explanation {
            self.line(line);
        }
        if let Some(warning) = warning {
            self.warn(warning);
        }
        // the live regions stand still while the question is on screen, so they never draw over it
        match &self.multi {
            Some(multi) => multi.suspend(|| prompt(question)),
            None => prompt(question),
        }
    }
}

/// Ctrl-C at a prompt: the user cancelled; nothing was changed.
pub(crate) const CANCELLED: &str = "cancelled at the prompt (Ctrl-C): nothing was changed";

/// Whether a prompt is open: Ctrl-C then ends the wizard at once (see `runner::interrupt_flag`).
pub(crate) static PROMPTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs a prompt; on any way out but an answer, the cursor the prompt hid is shown again.
fn prompt<T>(ask: impl FnOnce() -> dialoguer::Result<T>) -> Result<T, Problem> {
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

/// dialoguer's plain look, without its colon after a question that ends in `?` (`Proceed?:`), and with the
/// keys on every menu.
struct Plain;

/// What goes between a question and what follows it: a question mark or colon is enough.
fn after(prompt: &str) -> &'static str {
    if prompt.ends_with(['?', ':', '.', '!']) {
        " "
    } else {
        ": "
    }
}

impl dialoguer::theme::Theme for Plain {
    fn format_prompt(&self, f: &mut dyn Write, prompt: &str) -> fmt::Result {
        write!(f, "{prompt}{}", after(prompt).trim_end())
    }

    fn format_select_prompt(&self, f: &mut dyn Write, prompt: &str) -> fmt::Result {
        write!(f, "{prompt}  [{MENU_KEYS}]")
    }

    fn format_select_prompt_selection(&self, f: &mut dyn Write, prompt: &str, selection: &str) -> fmt::Result {
        write!(f, "{prompt}{}{selection}", after(prompt))
    }

    fn format_input_prompt(&self, f: &mut dyn Write, prompt: &str, default: Option<&str>) -> fmt::Result {
        match default {
            Some(default) => write!(f, "{prompt} [{default}]: "),
            None => write!(f, "{prompt}{}", after(prompt)),
        }
    }

    fn format_input_prompt_selection(&self, f: &mut dyn Write, prompt: &str, selection: &str) -> fmt::Result {
        write!(f, "{prompt}{}{selection}", after(prompt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialoguer::theme::Theme;

    fn shown(render: impl Fn(&mut String) -> fmt::Result) -> String {
        let mut text = String::new();
        render(&mut text).unwrap();
        text
    }

    #[test]
    fn a_question_mark_is_never_followed_by_a_colon_and_menus_show_their_keys() {
        let menu = shown(|f| Plain.format_select_prompt(f, "Proceed with this plan?"));
        assert_eq!(menu, format!("Proceed with this plan?  [{MENU_KEYS}]"));
        assert_eq!(
            shown(|f| Plain.format_select_prompt_selection(f, "Proceed with this plan?", "proceed")),
            "Proceed with this plan? proceed"
        );
        assert_eq!(
            shown(|f| Plain.format_input_prompt_selection(f, "New value for namespace", "team-a")),
            "New value for namespace: team-a"
        );
        assert_eq!(shown(|f| Plain.format_prompt(f, "Which one?")), "Which one?");
        assert_eq!(shown(|f| Plain.format_confirm_prompt(f, "Remove them?", Some(false))), "Remove them? [y/N] ");
    }

    #[test]
    fn without_a_terminal_a_menu_takes_its_default_or_names_its_flag() {
        let ui = Ui::plain();
        let menu = |default| Menu {
            question: "Which?",
            items: vec!["a".into(), "b".into()],
            default,
            recommended: Some((1, "why".into())),
            flag: "--which",
            ..Menu::default()
        };
        assert_eq!(ui.choose(menu(Some(1))).unwrap(), 1);
        assert_eq!(ui.choose(menu(None)).unwrap_err().hint.as_deref(), Some("pass --which"));
    }
}
