//! `watch`, `demo` (and `setup --demo`): the live view and the autoscaling proof.

use crate::cli::WatchArgs;
use crate::context::Context;
use crate::demo;
use crate::settings::Settings;
use crate::ui::Ui;
use crate::watch::{self, Until};

use super::{Exit, EXIT_FAILED, EXIT_OK};

fn context(settings: Settings, ui: Ui) -> Context {
    let runner = super::runner(&settings, &ui, false);
    Context::new(settings, runner, ui)
}

pub(crate) fn run(settings: Settings, ui: Ui, args: &WatchArgs) -> Exit {
    let cx = context(settings, ui);
    let until = Until { replicas: args.until_replicas, timeout: args.timeout, interval: args.interval };
    let last = watch::watch(&cx, until, &|| true);
    if crate::runner::interrupted() {
        return Exit::Interrupted;
    }
    match args.until_replicas {
        Some(n) if last.desired_replicas < n => EXIT_FAILED,
        _ => EXIT_OK,
    }
}

pub(crate) fn demo(settings: Settings, ui: Ui) -> Exit {
    prove(&context(settings, ui))
}

/// The proof after setup (or on its own): 150 messages, then each link's time.
pub(crate) fn prove(cx: &Context) -> Exit {
    cx.ui.heading(&format!("\nAutoscaling proof: {} messages to {}", demo::MESSAGES, cx.settings.inbox_path));
    match demo::run(cx, &mut |link| cx.ui.line(&format!("  ✔ {link}"))) {
        Ok(()) => EXIT_OK,
        Err(problem) => {
            cx.ui.problem(Some("demo"), &problem);
            if crate::runner::interrupted() {
                Exit::Interrupted
            } else {
                EXIT_FAILED
            }
        }
    }
}
