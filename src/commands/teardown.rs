//! `teardown`: lists what setup created that still exists, asks (unless `--yes`), removes it in reverse order,
//! and forgets each thing once it is gone. A second run finds nothing to do.

use crate::cli::TeardownArgs;
use crate::context::Context;
use crate::problem::Problem;
use crate::record::Created;
use crate::settings::Settings;
use crate::teardown;
use crate::ui::Ui;

use super::{Exit, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

pub(crate) fn run(settings: Settings, ui: Ui, args: &TeardownArgs) -> Exit {
    let runner = super::runner(&settings, &ui, args.dry_run);
    let mut cx = Context::new(settings, runner, ui.clone());
    let plan = match teardown::plan(&cx, args.delete_cluster, args.remove_switch) {
        Ok(plan) => plan,
        Err(problem) => {
            ui.problem(Some("teardown"), &problem);
            return EXIT_FAILED;
        }
    };
    for kept in &plan.kept {
        ui.note(kept);
    }
    let removals = plan.removals;
    if removals.is_empty() {
        if plan.remaining.is_empty() {
            ui.line("Nothing to remove: nothing that setup created is left.");
        } else {
            ui.line("Nothing to remove: what setup put in the cluster is gone. Still here:");
            for remaining in &plan.remaining {
                ui.line(&format!("  - {remaining}"));
            }
        }
        return EXIT_OK;
    }
    ui.heading("interlok-k8s teardown will remove, in this order:");
    for removal in &removals {
        ui.line(&format!("  - {}", removal.what));
    }
    if !plan.remaining.is_empty() {
        ui.line("and leave in place:");
        for remaining in &plan.remaining {
            ui.line(&format!("  - {remaining}"));
        }
    }
    if !args.yes && !args.dry_run {
        if !ui.interactive() {
            ui.problem(
                None,
                &Problem::new("teardown removes things and asks first, but there is no terminal to ask on")
                    .with_hint("pass --yes (or --dry-run to see the commands)"),
            );
            return EXIT_USAGE;
        }
        match ui.confirm("Remove them?", false) {
            Ok(true) => {}
            _ => {
                ui.line("Nothing was removed.");
                return EXIT_OK;
            }
        }
    }
    for removal in removals {
        if let Some(Created::Namespace { name }) = &removal.item {
            if !args.dry_run {
                match teardown::foreign_objects(&cx, name) {
                    Ok(foreign) if !foreign.is_empty() => {
                        ui.note(&format!(
                            "kept namespace {name}: it holds what the wizard did not create ({}), so it is no longer the wizard's to remove",
                            foreign.join(", ")
                        ));
                        forget(&mut cx, removal.item.as_ref());
                        continue;
                    }
                    Ok(_) => {}
                    Err(problem) => {
                        ui.problem(Some("teardown"), &problem);
                        return EXIT_FAILED;
                    }
                }
            }
        }
        for cmd in &removal.commands {
            if let Err(problem) = cx.runner.run(cmd) {
                ui.problem(Some("teardown"), &problem.reworded(format!("could not remove {}", removal.what)));
                return EXIT_FAILED;
            }
        }
        if !args.dry_run {
            ui.line(&format!("✔ removed {}", removal.what));
            forget(&mut cx, removal.item.as_ref());
        }
    }
    EXIT_OK
}

/// Takes a removed thing off the record (a damaged record, read past with --from-labels, is left alone).
fn forget(cx: &mut Context, item: Option<&Created>) {
    let Some(item) = item else { return };
    let mut record = cx.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if record.damaged().is_some() {
        return;
    }
    if let Err(why) = record.remove(item) {
        cx.ui.warn(&format!("could not update the record: {}", why.message));
    }
}
