//! `setup`: validate, show the plan, ask proceed / customize / cancel, run the stages, summarize.

use crate::cli::SetupArgs;
use crate::context::Context;
use crate::engine::{self, Selection, Stage};
use crate::problem::Problem;
use crate::settings::Settings;
use crate::stages;
use crate::ui::Ui;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

pub fn run(mut settings: Settings, ui: Ui, args: &SetupArgs) -> u8 {
    let all = stages::all();
    if args.list {
        list(&ui, &all, &settings);
        return EXIT_OK;
    }
    let selection = Selection { from: args.from.clone(), only: args.only.clone(), skip: args.skip.clone() };
    let chosen = match selection.apply(&all) {
        Ok(chosen) => chosen,
        Err(problem) => {
            ui.problem(None, &problem);
            return EXIT_USAGE;
        }
    };
    loop {
        show_plan(&ui, &chosen, &settings, args.dry_run);
        if args.yes || args.dry_run {
            break;
        }
        if !ui.interactive() {
            let problem = Problem::new(
                "setup changes your cluster and asks before it starts, but there is no terminal to ask on",
            )
            .with_hint("pass --yes to proceed without asking (or --dry-run to see the commands)");
            ui.problem(None, &problem);
            return EXIT_USAGE;
        }
        match ask_to_proceed(&ui, &mut settings) {
            Ok(Answer::Proceed) => break,
            Ok(Answer::Customized) => continue,
            Ok(Answer::Cancel) => {
                ui.line("Cancelled; nothing was changed.");
                return EXIT_OK;
            }
            Err(e) => {
                ui.problem(None, &Problem::new(format!("{e:#}")));
                return if e.to_string() == crate::ui::CANCELLED { 130 } else { EXIT_FAILED };
            }
        }
    }
    let runner = super::runner(&settings, &ui, args.dry_run);
    if let Err(problem) = context_exists(&runner, &settings) {
        ui.problem(None, &problem);
        return EXIT_USAGE;
    }
    let mut cx = Context::new(settings, runner, ui.clone());
    let reports = engine::run(&chosen, &mut cx);
    if !engine::summarize(&cx, &reports) {
        return if crate::runner::interrupted() { 130 } else { EXIT_FAILED };
    }
    if args.demo && !args.dry_run {
        return super::watch::prove(&cx);
    }
    EXIT_OK
}

/// `--context` must name a context of the kubeconfig: checked before anything runs (when kubectl is there
/// to ask; without it the prerequisites stage reports kubectl missing).
fn context_exists(runner: &crate::runner::Runner, settings: &Settings) -> Result<(), Problem> {
    let Some(context) = &settings.context else { return Ok(()) };
    if runner.resolve("kubectl").is_none() {
        return Ok(());
    }
    let names = runner.run(&crate::tools::kubectl::Kubectl::new("kubectl", None).context_names())?;
    if names.stdout.lines().any(|l| l.trim() == context) {
        return Ok(());
    }
    let known: Vec<&str> = names.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    Err(Problem::new(format!("--context {context:?} names no context in your kubeconfig"))
        .with_hint(format!("contexts: {}", if known.is_empty() { "none".into() } else { known.join(", ") })))
}

fn list(ui: &Ui, all: &[Box<dyn Stage>], settings: &Settings) {
    ui.heading("Stages of `interlok-k8s setup`, in order:");
    for stage in all {
        let mut line = format!("  {:<14} {}", stage.name(), stage.summary());
        if let Some(reason) = stage.not_applicable(settings) {
            line.push_str(&format!(" [not applicable: {reason}]"));
        }
        ui.line(&line);
    }
}

fn show_plan(ui: &Ui, chosen: &[&dyn Stage], settings: &Settings, dry_run: bool) {
    let target = match &settings.context {
        Some(context) => format!("the existing cluster of context {context:?}"),
        None => "a local minikube cluster".to_string(),
    };
    ui.heading(&format!("Plan{}: Interlok autoscaling on {target}", if dry_run { " (dry run)" } else { "" }));
    ui.line(&format!(
        "  platform {}, Interlok in namespace {}, monitoring in {}, image {}",
        settings.platform, settings.namespace, settings.monitoring_namespace, settings.image
    ));
    ui.line(&format!(
        "  autoscale {} on {} between {} and {} replicas at an average of {} per pod",
        settings.deployment, settings.metric, settings.min_replicas, settings.max_replicas, settings.target_average
    ));
    for (i, stage) in chosen.iter().enumerate() {
        let note = stage.not_applicable(settings).map(|r| format!(" (skipped: {r})")).unwrap_or_default();
        ui.line(&format!("  {:>2}. {:<14} {}{note}", i + 1, stage.name(), stage.summary()));
    }
}

enum Answer {
    Proceed,
    Customized,
    Cancel,
}

fn ask_to_proceed(ui: &Ui, settings: &mut Settings) -> anyhow::Result<Answer> {
    let choices = ["proceed".to_string(), "customize".to_string(), "cancel".to_string()];
    match ui.select("Proceed with this plan?", &choices, Some(0), "--yes")? {
        0 => Ok(Answer::Proceed),
        1 => {
            customize(ui, settings)?;
            Ok(Answer::Customized)
        }
        _ => Ok(Answer::Cancel),
    }
}

/// Lets the user change one answer; the new value passes the same validation as a flag would.
fn customize(ui: &Ui, settings: &mut Settings) -> anyhow::Result<()> {
    let answers = settings.answers();
    let labels: Vec<String> = answers.iter().map(|(key, value)| format!("{key}: {value}")).collect();
    let index = ui.select("Which answer do you want to change?", &labels, Some(0), "--yes")?;
    let (key, current) = &answers[index];
    let value = ui.input(&format!("New value for {key}"), current)?;
    match settings.with_answer(key, &value) {
        Ok(updated) => *settings = updated,
        Err(problem) => ui.problem(None, &problem),
    }
    Ok(())
}
