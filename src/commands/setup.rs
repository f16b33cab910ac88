//! `setup`: validate, show the plan, ask proceed / customize / cancel, run the stages, summarize, then
//! prove what was set up with verify's checks of those links and say what to do next.

use crate::cli::SetupArgs;
use crate::context::Context;
use crate::engine::{self, Plan, Selection, Stage, StageId};
use crate::preflight::Findings;
use crate::problem::Problem;
use crate::settings::{Scaler, Settings};
use crate::stages;
use crate::ui::Ui;
use crate::verify::{self, Status};

use super::{Exit, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

mod changes;

pub(crate) fn run(settings: Settings, ui: Ui, args: &SetupArgs) -> Exit {
    let all = stages::all();
    if args.list {
        list(&ui, &all, &settings);
        return EXIT_OK;
    }
    let selection = Selection { from: args.from.clone(), only: args.only.clone(), skip: args.skip.clone() };
    let chosen = match selection.apply(&StageId::ALL) {
        Ok(chosen) => chosen,
        Err(problem) => {
            ui.problem(None, &problem);
            return EXIT_USAGE;
        }
    };
    let plan = Plan { all: &all, chosen, resume: resume_command(!args.only.is_empty()) };
    let asks = !args.yes && !args.dry_run;
    if asks && !ui.interactive() {
        let problem =
            Problem::new("setup changes your machine and asks before it starts, but there is no terminal to ask on")
                .with_hint("pass --yes to proceed without asking (or --dry-run to see the commands)");
        ui.problem(None, &problem);
        return EXIT_USAGE;
    }
    if let Err(problem) = interlok_input(&ui, &plan, &settings) {
        ui.problem(None, &problem);
        return EXIT_USAGE;
    }
    let runner = super::runner(&settings, &ui, args.dry_run);
    if let Err(problem) = context_exists(&runner, &settings) {
        ui.problem(None, &problem);
        return EXIT_USAGE;
    }
    let mut cx = Context::new(settings, runner, ui.clone());
    let findings = needs_preflight(&plan).then(|| preflight(&mut cx));
    if crate::runner::interrupted() {
        return Exit::Interrupted; // preflight's question was stopped: its problem says so, and nothing changed
    }
    let blocked = findings.as_ref().is_some_and(|f| !f.blockers.is_empty());
    if blocked && !args.dry_run {
        ui.line("Nothing was changed. Fix the above, then run setup again.");
        return EXIT_FAILED;
    }
    if asks && !cx.settings.scaler_given && chooses_a_scaler(&plan) {
        match ask_scaler(&ui, &cx.settings) {
            Ok(scaler) => cx.settings.scaler = scaler,
            Err(problem) => return answer_failed(&ui, &problem),
        }
    }
    loop {
        show_plan(&cx, &plan, findings.as_ref(), args.dry_run);
        if !asks {
            break;
        }
        match ask_to_proceed(&ui, &mut cx.settings) {
            Ok(Answer::Proceed) => break,
            Ok(Answer::Customized) => {
                if let Err(problem) = interlok_input(&ui, &plan, &cx.settings) {
                    ui.problem(None, &problem);
                    return EXIT_USAGE;
                }
            }
            Ok(Answer::Cancel) => {
                ui.line("Cancelled; nothing was changed.");
                return EXIT_OK;
            }
            Err(problem) => return answer_failed(&ui, &problem),
        }
    }
    if let Some(problem) = cx.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).damaged() {
        // everything setup makes is recorded first: without a record it would make things teardown cannot find
        if !args.dry_run {
            ui.problem(None, problem);
            return EXIT_FAILED;
        }
        ui.warn(&problem.message);
    }
    let reports = engine::run(&plan, &mut cx);
    if !engine::summarize(&cx, &reports) {
        return if crate::runner::interrupted() { Exit::Interrupted } else { EXIT_FAILED };
    }
    if args.dry_run {
        if blocked {
            ui.line("\nA real run stops at preflight (see the errors above): fix them first.");
            return EXIT_FAILED;
        }
        return EXIT_OK;
    }
    let applies = |id: &&StageId| plan.stage(**id).not_applicable(&cx.settings).is_none();
    let links: Vec<&'static str> =
        plan.chosen.iter().filter(applies).flat_map(|id| plan.stage(*id).link()).copied().collect();
    if !prove(&cx, &links) {
        return EXIT_FAILED;
    }
    if args.demo {
        return super::watch::prove(&cx);
    }
    next_steps(&cx);
    EXIT_OK
}

/// A question that got no answer: Ctrl-C is an interruption, anything else a failure.
fn answer_failed(ui: &Ui, problem: &Problem) -> Exit {
    ui.problem(None, problem);
    if problem.message == crate::ui::CANCELLED {
        Exit::Interrupted
    } else {
        EXIT_FAILED
    }
}

/// Preflight asks about the machine: needed when the plan touches it (tools, the switch, the cluster).
fn needs_preflight(plan: &Plan) -> bool {
    plan.chosen.iter().any(|id| matches!(id, StageId::Prerequisites | StageId::Network | StageId::Cluster))
}

/// Asks preflight's questions and shows what it found; what setup cannot fix is shown as an error with its fix.
fn preflight(cx: &mut Context) -> Findings {
    let ui = cx.ui.clone();
    ui.heading("Preflight: what this machine has (nothing is changed yet)");
    let findings = crate::preflight::run(cx);
    for found in &findings.found {
        ui.line(&format!("  ✔ {found}"));
    }
    for tool in &findings.to_install {
        ui.line(&format!("  · {tool} is missing: setup installs it (see the plan)"));
    }
    for blocker in &findings.blockers {
        ui.line(&format!("  ✘ {}", blocker.message));
    }
    for blocker in &findings.blockers {
        ui.problem(Some("preflight"), blocker);
    }
    ui.line("");
    findings
}

/// The image and `--interlok-config`, checked before anything is applied when the plan deploys Interlok: bad
/// input is refused (exit 2), what will not work as hoped is a warning.
fn interlok_input(ui: &Ui, plan: &Plan, settings: &Settings) -> Result<(), Problem> {
    if !plan.chosen.contains(&StageId::Interlok) {
        return Ok(());
    }
    for warning in crate::interlok_config::check_input(settings)? {
        ui.warn(&warning);
    }
    Ok(())
}

/// Runs verify's checks of the links this run set up, once more as a whole: one report, one verdict.
fn prove(cx: &Context, links: &[&'static str]) -> bool {
    if links.is_empty() {
        return true;
    }
    let outcomes = verify::settled(cx, links, "verify's checks of what was set up to pass");
    let warnings: Vec<&verify::Outcome> = outcomes.iter().filter(|o| o.status == Status::Warn).collect();
    match outcomes.iter().find(|o| o.status == Status::Fail) {
        None => {
            cx.ui.line(&format!(
                "\n✔ verify: the {} checks of what was set up pass{}",
                outcomes.len(),
                if warnings.is_empty() { String::new() } else { format!(" ({} warning(s) above)", warnings.len()) }
            ));
            for warning in warnings {
                cx.ui.warn(&format!("{}: {}", warning.id, warning.message));
            }
            true
        }
        Some(_) => {
            cx.ui.heading("\nverify finds a broken link in what was set up:");
            verify::print_human(&cx.ui, &outcomes);
            false
        }
    }
}

fn next_steps(cx: &Context) {
    cx.ui.heading("\nNext steps");
    cx.ui.line("  interlok-k8s demo      send 150 messages and watch the autoscaler want a second replica");
    cx.ui.line("  interlok-k8s watch     the live view: replicas, the metric against its target, pods");
    cx.ui.line("  interlok-k8s verify    check the whole chain again at any time");
    cx.ui.line("  interlok-k8s teardown  remove what setup created");
}

/// The command that resumes this run at a stage: the same words, starting there (with `--only`, the same
/// command: it reruns only what is not done yet).
fn resume_command(only: bool) -> String {
    let mut words: Vec<String> = vec!["interlok-k8s".into()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--from" {
            args.next();
            continue;
        }
        if arg.starts_with("--from=") || arg == "--demo" {
            continue;
        }
        words.push(crate::runner::quote(&arg));
    }
    if !only {
        words.push("--from".into());
        words.push("{stage}".into());
    }
    words.join(" ")
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
        let mut line = format!("  {:<14} {}", stage.id().name(), stage.summary());
        if let Some(reason) = stage.not_applicable(settings) {
            line.push_str(&format!(" [not applicable: {reason}]"));
        }
        ui.line(&line);
    }
}

fn show_plan(cx: &Context, plan: &Plan, findings: Option<&Findings>, dry_run: bool) {
    let (ui, settings) = (&cx.ui, &cx.settings);
    let target = match &settings.context {
        Some(context) => format!("the existing cluster of context {context:?}"),
        None => "a local minikube cluster".to_string(),
    };
    ui.heading(&format!("Plan{}: Interlok autoscaling on {target}", if dry_run { " (dry run)" } else { "" }));
    let config = match &settings.interlok_config {
        Some(path) => format!(" running the configuration {}", path.display()),
        None => String::new(),
    };
    ui.line(&format!(
        "  platform {}, Interlok in namespace {}, monitoring in {}, image {}{config}",
        settings.platform, settings.namespace, settings.monitoring_namespace, settings.image
    ));
    let through = match settings.scaler {
        Scaler::Adapter => "prometheus-adapter and an HPA".to_string(),
        Scaler::Keda => format!("a KEDA ScaledObject (KEDA in namespace {})", settings.keda_namespace),
    };
    ui.line(&format!(
        "  autoscale {} on {} between {} and {} replicas at an average of {} per pod, through {through}",
        settings.deployment, settings.metric, settings.min_replicas, settings.max_replicas, settings.target_average
    ));
    let changes = changes::changes(cx, plan, findings);
    if !changes.is_empty() {
        ui.line("  What changes:");
        for change in changes {
            ui.line(&format!("    - {change}"));
        }
    }
    ui.line("  Stages:");
    for (i, id) in plan.chosen.iter().enumerate() {
        let stage = plan.stage(*id);
        let note = stage.not_applicable(settings).map(|r| format!(" (skipped: {r})")).unwrap_or_default();
        ui.line(&format!("  {:>2}. {:<14} {}{note}", i + 1, id.name(), stage.summary()));
    }
}

/// Whether the chosen stages include one that depends on the scaler.
fn chooses_a_scaler(plan: &Plan) -> bool {
    plan.chosen
        .iter()
        .any(|id| matches!(id, StageId::Adapter | StageId::Autoscaler | StageId::Keda | StageId::ScaledObject))
}

/// Asks which path scales Interlok; the guide's stays the default.
fn ask_scaler(ui: &Ui, settings: &Settings) -> Result<Scaler, Problem> {
    ui.line("KEDA is the forward path: SIG Instrumentation plans to deprecate prometheus-adapter and points to KEDA's Prometheus scaler.");
    let choices = [
        "adapter: prometheus-adapter and an HPA (the 2019 guide's path)".to_string(),
        "keda: a KEDA ScaledObject with a Prometheus trigger".to_string(),
    ];
    let default = usize::from(settings.scaler == Scaler::Keda);
    match ui.select("What should scale Interlok?", &choices, Some(default), "--scaler")? {
        1 => Ok(Scaler::Keda),
        _ => Ok(Scaler::Adapter),
    }
}

enum Answer {
    Proceed,
    Customized,
    Cancel,
}

fn ask_to_proceed(ui: &Ui, settings: &mut Settings) -> Result<Answer, Problem> {
    let choices = [
        "proceed: make the changes above".to_string(),
        "customize: change an answer (namespace, image, replicas, …) and see the plan again".to_string(),
        "cancel: change nothing and stop here".to_string(),
    ];
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
fn customize(ui: &Ui, settings: &mut Settings) -> Result<(), Problem> {
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
