//! verify's two outputs: a human report grouped in chain order, and the documented JSON
//! `{"healthy": bool, "checks": [{"id", "group", "status", "message", "hint"}]}`.

use console::style;

use super::{healthy, Outcome, Status};
use crate::ui::Ui;

pub(crate) fn print_human(ui: &Ui, outcomes: &[Outcome]) {
    let mut group = "";
    for outcome in outcomes {
        if outcome.group != group {
            group = outcome.group;
            ui.heading(group);
        }
        let mark = match outcome.status {
            Status::Ok => style("✔").green().bold(),
            Status::Warn => style("⚠").yellow().bold(),
            Status::Fail => style("✘").red().bold(),
            Status::Skip => style("–").dim(),
        };
        ui.line(&format!("  {mark} {:<28} {}", outcome.id, outcome.message));
        if let Some(hint) = &outcome.hint {
            ui.line(&format!("    {} {hint}", style("hint:").green()));
        }
    }
    let failed: Vec<&str> = outcomes.iter().filter(|o| o.status == Status::Fail).map(|o| o.id).collect();
    if healthy(outcomes) {
        ui.line(&format!("\n{} the chain is healthy", style("✔").green().bold()));
    } else {
        ui.line(&format!("\n{} first broken link: {} ({} failed)", style("✘").red().bold(), failed[0], failed.len()));
    }
}

pub fn to_json(outcomes: &[Outcome]) -> String {
    let value = serde_json::json!({"healthy": healthy(outcomes), "checks": outcomes});
    serde_json::to_string_pretty(&value).expect("serializable")
}
