//! `verify`: the rerunnable health check. Exit 0 when no check failed, 1 when one did (2 for bad input).

use std::time::{Duration, Instant};

use crate::cli::VerifyArgs;
use crate::context::Context;
use crate::settings::Settings;
use crate::ui::Ui;
use crate::verify::{self, Outcome, Probe, Status};

use super::{Exit, EXIT_FAILED, EXIT_OK};

pub(crate) fn run(settings: Settings, ui: Ui, args: &VerifyArgs) -> Exit {
    let runner = super::runner(&settings, &ui, false);
    let cx = Context::new(settings, runner, ui.clone());
    let deadline = args.wait.map(|w| Instant::now() + w);
    let outcomes = loop {
        let probe = Probe::new(&cx, args.prometheus_url.clone(), args.pushgateway_url.clone());
        let outcomes = verify::run(&probe, args.pre);
        drop(probe); // closes the port-forwards it opened
        match deadline {
            Some(at) if !verify::healthy(&outcomes) && Instant::now() < at => {
                let waiting: Vec<&str> = outcomes.iter().filter(|o| o.status == Status::Fail).map(|o| o.id).collect();
                if !args.json {
                    ui.line(&format!("still waiting for: {}", waiting.join(", ")));
                }
                std::thread::sleep(Duration::from_secs(2).min(at.saturating_duration_since(Instant::now())));
            }
            _ => break outcomes,
        }
    };
    report(&ui, args.json, &outcomes);
    if verify::healthy(&outcomes) {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn report(ui: &Ui, json: bool, outcomes: &[Outcome]) {
    if json {
        ui.raw(&verify::to_json(outcomes));
    } else {
        verify::print_human(ui, outcomes);
    }
}
