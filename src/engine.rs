//! The stage engine behind `setup`. A stage checks whether its link already works (its own settings, then
//! the verify checks of its link: "already done" means "works"), applies its change, validates it, and
//! proves it with the same checks again. The engine selects stages (`--from/--only/--skip`), runs them as a
//! graph (every stage whose predecessors are done starts at once), stops starting stages at the first
//! failure and summarizes. Stages never print their results: they return them, and the engine presents them.

use std::time::{Duration, Instant};

use console::style;

use crate::context::Context;
use crate::problem::Problem;
use crate::settings::Settings;

/// Every stage, in run order. A closed set: a predecessor cannot name a stage that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageId {
    Prerequisites,
    KubectlPath,
    Network,
    Cluster,
    VersionSkew,
    Helm,
    Prometheus,
    Interlok,
    Keda,
    ScaledObject,
    Adapter,
    Autoscaler,
    Grafana,
}

impl StageId {
    pub(crate) const ALL: [StageId; 13] = [
        StageId::Prerequisites,
        StageId::KubectlPath,
        StageId::Network,
        StageId::Cluster,
        StageId::VersionSkew,
        StageId::Helm,
        StageId::Prometheus,
        StageId::Interlok,
        StageId::Keda,
        StageId::ScaledObject,
        StageId::Adapter,
        StageId::Autoscaler,
        StageId::Grafana,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StageId::Prerequisites => "prerequisites",
            StageId::KubectlPath => "kubectl-path",
            StageId::Network => "network",
            StageId::Cluster => "cluster",
            StageId::VersionSkew => "version-skew",
            StageId::Helm => "helm",
            StageId::Prometheus => "prometheus",
            StageId::Interlok => "interlok",
            StageId::Keda => "keda",
            StageId::ScaledObject => "scaledobject",
            StageId::Adapter => "adapter",
            StageId::Autoscaler => "autoscaler",
            StageId::Grafana => "grafana",
        }
    }

    fn from_name(name: &str) -> Option<StageId> {
        StageId::ALL.into_iter().find(|id| id.name() == name)
    }
}

impl std::fmt::Display for StageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a stage's `check` found about its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Applied already; the evidence says why (e.g. "release prometheus deployed, chart prometheus-29.27.0").
    Done(String),
    /// Work to do, and why.
    Needed(String),
}

/// A stage that only inspects (prerequisites, version skew) reports ✔ when its check passes; a stage that
/// changes something reports ↷ "already done".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    Inspect,
    Change,
}

pub trait Stage: Sync {
    fn id(&self) -> StageId;
    /// The stages this one runs after (when they are selected); the others run at the same time.
    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[]
    }
    fn summary(&self) -> &'static str;
    fn kind(&self) -> StageKind {
        StageKind::Change
    }
    /// Why the stage does not apply to these settings (e.g. the Hyper-V switch off Windows), if it does not.
    fn not_applicable(&self, _settings: &Settings) -> Option<String> {
        None
    }
    /// The verify checks that prove this stage's link works: run after `check` says Done (a broken link is
    /// work to do) and after `validate` (a link still broken is this stage's failure).
    fn link(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the stage's settings are in place. It only reads: the engine runs it with a runner that
    /// refuses any command that would change something.
    fn check(&self, cx: &mut Context) -> Result<Check, Problem>;
    fn apply(&self, cx: &mut Context) -> Result<(), Problem>;
    /// Confirms the change took effect; returns the evidence shown in the summary.
    fn validate(&self, cx: &mut Context) -> Result<String, Problem>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done(String),
    AlreadyDone(String),
    Planned(String),
    NotApplicable(String),
    Failed(String),
    Interrupted,
    NotReached,
}

pub(crate) struct StageReport {
    pub(crate) id: StageId,
    pub(crate) outcome: Outcome,
    pub(crate) took: Duration,
}

/// Which stages to run: `--only` wins, then `--from`, then `--skip` removes.
#[derive(Debug, Default, Clone)]
pub(crate) struct Selection {
    pub(crate) from: Option<String>,
    pub(crate) only: Vec<String>,
    pub(crate) skip: Vec<String>,
}

impl Selection {
    /// The chosen stages, in run order; an unknown name or a contradiction is bad input.
    pub(crate) fn apply(&self, all: &[StageId]) -> Result<Vec<StageId>, Problem> {
        let parse = |flag: &str, name: &str| -> Result<StageId, Problem> {
            StageId::from_name(name).filter(|id| all.contains(id)).ok_or_else(|| {
                Problem::new(format!("unknown stage {name:?} in --{flag}"))
                    .with_hint(format!("stages are: {}", all.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")))
            })
        };
        let only: Vec<StageId> = self.only.iter().map(|n| parse("only", n)).collect::<Result<_, _>>()?;
        let skip: Vec<StageId> = self.skip.iter().map(|n| parse("skip", n)).collect::<Result<_, _>>()?;
        let from = self.from.as_deref().map(|n| parse("from", n)).transpose()?;
        if let Some(both) = only.iter().find(|id| skip.contains(id)) {
            return Err(Problem::new(format!("stage {both} is both in --only and in --skip"))
                .with_hint("name each stage in one of them"));
        }
        if let (Some(from), false) = (from, only.is_empty()) {
            return Err(Problem::new(format!("--from {from} and --only cannot be used together"))
                .with_hint("use --from to run a stage and everything after it, or --only to run the stages named"));
        }
        let chosen: Vec<StageId> = all
            .iter()
            .copied()
            .filter(|id| if only.is_empty() { from.is_none_or(|f| *id >= f) } else { only.contains(id) })
            .filter(|id| !skip.contains(id))
            .collect();
        if chosen.is_empty() {
            return Err(Problem::new("this selection of stages leaves nothing to run")
                .with_hint("see `interlok-k8s setup --list`"));
        }
        Ok(chosen)
    }
}

/// The stages of one run: all of them (for the graph), and the chosen ones.
pub(crate) struct Plan<'a> {
    pub(crate) all: &'a [Box<dyn Stage>],
    pub(crate) chosen: Vec<StageId>,
    /// The command that resumes a run interrupted at a stage (`{stage}` is replaced by its name).
    pub(crate) resume: String,
}

impl Plan<'_> {
    pub(crate) fn stage(&self, id: StageId) -> &dyn Stage {
        self.all.iter().find(|s| s.id() == id).expect("every id has a stage").as_ref()
    }

    /// The chosen stages a stage waits for: its own predecessors, and for one that is not chosen, that
    /// one's predecessors in turn (so `--only prerequisites,cluster` still runs them in order).
    fn predecessors(&self, id: StageId, cx: &Context) -> Vec<StageId> {
        let mut result = Vec::new();
        let mut pending: Vec<StageId> = self.stage(id).after(cx).to_vec();
        while let Some(before) = pending.pop() {
            if self.chosen.contains(&before) {
                if !result.contains(&before) {
                    result.push(before);
                }
            } else {
                pending.extend(self.stage(before).after(cx));
            }
        }
        result
    }
}

/// Runs the chosen stages as a graph: every stage whose predecessors are done starts at once, on its own
/// copy of the context; what it learned is merged back. After a failure no new stage starts (those running
/// finish). Reports come back in run order.
pub(crate) fn run(plan: &Plan, cx: &mut Context) -> Vec<StageReport> {
    let mut outcomes: Vec<Option<StageReport>> = plan.chosen.iter().map(|_| None).collect();
    let mut started = vec![false; plan.chosen.len()];
    let mut stop = false;
    *cx.underway.lock().unwrap_or_else(|p| p.into_inner()) = plan.chosen.clone();
    let ended = |cx: &Context, id: StageId| cx.underway.lock().unwrap_or_else(|p| p.into_inner()).retain(|u| *u != id);
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        let mut running = 0;
        loop {
            for (i, id) in plan.chosen.iter().copied().enumerate() {
                let ready = !stop
                    && !started[i]
                    && plan.predecessors(id, cx).iter().all(|before| {
                        let at = plan.chosen.iter().position(|c| c == before).expect("chosen");
                        outcomes[at].as_ref().is_some_and(|r| r.outcome.lets_others_start())
                    });
                if !ready {
                    continue;
                }
                started[i] = true;
                let stage = plan.stage(id);
                if let Some(reason) = stage.not_applicable(&cx.settings) {
                    // nothing to run: no live region, only its line
                    let report = StageReport { id, outcome: Outcome::NotApplicable(reason), took: Duration::ZERO };
                    ended(cx, id);
                    cx.ui.line(&summary_line(&report));
                    outcomes[i] = Some(report);
                    continue;
                }
                running += 1;
                let region = cx.ui.stage_region(id.name());
                let mut child = cx.fork_with_ui(region.ui());
                let done = done.clone();
                let resume = plan.resume.replace("{stage}", id.name());
                scope.spawn(move || {
                    let began = Instant::now();
                    let outcome = run_stage(stage, &mut child, &resume);
                    ended(&child, id);
                    let _ = done.send((i, StageReport { id, outcome, took: began.elapsed() }, child, region));
                });
            }
            if running == 0 {
                break;
            }
            let Ok((i, report, child, region)) = finished.recv() else { break };
            running -= 1;
            cx.merge(&child);
            region.finish(&summary_line(&report), matches!(report.outcome, Outcome::Failed(_) | Outcome::Interrupted));
            stop |= !report.outcome.lets_others_start();
            if stop {
                // no stage starts after a failure: those not started make nothing another could wait for
                for (id, _) in plan.chosen.iter().zip(&started).filter(|(_, started)| !**started) {
                    ended(cx, *id);
                }
            }
            outcomes[i] = Some(report);
        }
    });
    // stages never started (after a failure) will not make anything either
    cx.underway.lock().unwrap_or_else(|p| p.into_inner()).clear();
    plan.chosen
        .iter()
        .zip(outcomes)
        .map(|(id, report)| {
            report.unwrap_or(StageReport { id: *id, outcome: Outcome::NotReached, took: Duration::ZERO })
        })
        .collect()
}

impl Outcome {
    fn lets_others_start(&self) -> bool {
        !matches!(self, Outcome::Failed(_) | Outcome::Interrupted | Outcome::NotReached)
    }
}

fn run_stage(stage: &dyn Stage, cx: &mut Context, resume: &str) -> Outcome {
    let outcome = stage_outcome(stage, cx);
    if crate::runner::interrupted() && !matches!(outcome, Outcome::AlreadyDone(_) | Outcome::Done(_)) {
        // whatever check or command was running, what the user needs is where it stopped and how to go on
        cx.ui.problem(
            Some(stage.id().name()),
            &Problem::new(format!("interrupted (Ctrl-C) during stage {}", stage.id()))
                .with_hint(format!("resume with `{resume}`: every stage checks what is already done")),
        );
        return Outcome::Interrupted;
    }
    outcome
}

fn stage_outcome(stage: &dyn Stage, cx: &mut Context) -> Outcome {
    if let Some(reason) = stage.not_applicable(&cx.settings) {
        return Outcome::NotApplicable(reason);
    }
    let dry_run = cx.runner.dry_run();
    let checking = cx.ui.activity("checking what is already done");
    let check = {
        let read_only = cx.runner.read_only();
        let runner = std::mem::replace(&mut cx.runner, read_only);
        let check = stage.check(cx).and_then(|check| match check {
            Check::Done(evidence) => Ok(match link_broken(stage, cx) {
                Some(broken) if stage.kind() == StageKind::Inspect => return Err(broken),
                Some(broken) => Check::Needed(broken.message),
                None => Check::Done(evidence),
            }),
            needed => Ok(needed),
        });
        cx.runner = runner;
        check
    };
    let reason = match check {
        Ok(Check::Done(evidence)) if stage.kind() == StageKind::Inspect => return Outcome::Done(evidence),
        Ok(Check::Done(evidence)) => return Outcome::AlreadyDone(evidence),
        Ok(Check::Needed(reason)) => reason,
        // Under --dry-run a check may fail only because an earlier stage was not really run (no cluster yet).
        Err(problem) if dry_run => format!("could not check ({})", first_line(&problem.message)),
        Err(problem) => return fail(stage, cx, problem),
    };
    drop(checking);
    cx.ui.line(&format!("  {reason}"));
    let applying = cx.ui.activity(format!("applying: {reason}"));
    if let Err(problem) = stage.apply(cx) {
        if dry_run {
            // a dry run shows the whole plan: say what this stage needs first, and go on
            cx.ui.warn(&format!("{}: {}", stage.id(), first_line(&problem.message)));
            return Outcome::Planned(format!("{reason} (needs attention first, see the warning)"));
        }
        return fail(stage, cx, problem);
    }
    if dry_run {
        return Outcome::Planned(reason);
    }
    drop(applying);
    let _validating = cx.ui.activity("validating the change");
    let evidence = match stage.validate(cx) {
        Ok(evidence) => evidence,
        Err(problem) => return fail(stage, cx, problem),
    };
    match link_settles(stage, cx) {
        Some(broken) => fail(stage, cx, broken),
        None => Outcome::Done(evidence),
    }
}

/// After a change, the link's checks may need a scrape or a relist to see it: they get that long to pass,
/// then the first one still failing is the stage's failure.
fn link_settles(stage: &dyn Stage, cx: &Context) -> Option<Problem> {
    if stage.link().is_empty() || crate::runner::interrupted() {
        return None;
    }
    let what = format!("the {} checks of verify to pass", stage.id());
    let outcomes = crate::verify::settled(cx, stage.link(), &what);
    outcomes.into_iter().find(|o| o.status == crate::verify::Status::Fail).map(as_problem)
}

/// The first of the stage's verify checks that fails, as this stage's problem.
fn link_broken(stage: &dyn Stage, cx: &Context) -> Option<Problem> {
    if stage.link().is_empty() || crate::runner::interrupted() {
        return None;
    }
    crate::verify::first_failure(cx, stage.link()).map(as_problem)
}

fn as_problem(failed: crate::verify::Outcome) -> Problem {
    let problem = Problem::new(format!("{} ({})", failed.message, failed.id));
    match failed.hint {
        Some(hint) => problem.with_hint(hint),
        None => problem,
    }
}

fn fail(stage: &dyn Stage, cx: &mut Context, mut problem: Problem) -> Outcome {
    if crate::runner::interrupted() {
        // the stage stopped because of Ctrl-C: `run_stage` says where and how to resume, not this check's hint
        return Outcome::Failed(problem.message);
    }
    if problem.hint.is_none() {
        // every failure says what to do; the least is to look at what the tool says for itself
        let hint = match &problem.command {
            Some(command) => format!(
                "run `{}` yourself to see what it says, then `interlok-k8s setup --from {}`",
                command.command_line,
                stage.id()
            ),
            None => format!(
                "run `interlok-k8s verify` to find the broken link, then `interlok-k8s setup --from {}`",
                stage.id()
            ),
        };
        problem = problem.with_hint(hint);
    }
    cx.ui.problem(Some(stage.id().name()), &problem);
    Outcome::Failed(problem.message)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn summary_line(report: &StageReport) -> String {
    let (mark, text) = match &report.outcome {
        Outcome::Done(evidence) => (style("✔").green().bold(), evidence.clone()),
        Outcome::AlreadyDone(evidence) => (style("↷").cyan().bold(), format!("already done: {evidence}")),
        Outcome::Planned(reason) => (style("·").magenta().bold(), format!("would apply: {reason}")),
        Outcome::NotApplicable(reason) => (style("↷").dim(), format!("not applicable: {reason}")),
        Outcome::Failed(message) => (style("✘").red().bold(), message.clone()),
        Outcome::Interrupted => (style("✘").red().bold(), "interrupted".to_string()),
        Outcome::NotReached => (style("–").dim(), "not reached".to_string()),
    };
    let took = if report.took >= Duration::from_millis(100) {
        format!(" ({:.1}s)", report.took.as_secs_f64())
    } else {
        String::new()
    };
    format!("{mark} {:<14} {text}{took}", report.id.name())
}

/// Prints the closing summary and says whether every stage ended well.
pub(crate) fn summarize(cx: &Context, reports: &[StageReport]) -> bool {
    cx.ui.heading("\nSummary");
    for report in reports {
        cx.ui.line(&summary_line(report));
    }
    !reports.iter().any(|r| matches!(r.outcome, Outcome::Failed(_) | Outcome::Interrupted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(selection: &Selection) -> Result<Vec<&'static str>, Problem> {
        Ok(selection.apply(&StageId::ALL)?.into_iter().map(StageId::name).collect())
    }

    #[test]
    fn from_only_and_skip_select_stages() {
        assert_eq!(chosen(&Selection::default()).unwrap().len(), StageId::ALL.len());
        let from = Selection { from: Some("adapter".into()), skip: vec!["autoscaler".into()], ..Selection::default() };
        assert_eq!(chosen(&from).unwrap(), ["adapter", "grafana"]);
        let only = Selection { only: vec!["helm".into(), "cluster".into()], ..Selection::default() };
        assert_eq!(chosen(&only).unwrap(), ["cluster", "helm"]);
    }

    #[test]
    fn unknown_names_and_contradictions_are_refused() {
        let err = chosen(&Selection { only: vec!["nope".into()], ..Selection::default() }).unwrap_err();
        assert!(err.message.contains("\"nope\""));
        assert!(err.hint.unwrap().contains("prerequisites, kubectl-path"));
        let both = Selection { only: vec!["helm".into()], skip: vec!["helm".into()], ..Selection::default() };
        assert!(chosen(&both).unwrap_err().message.contains("both in --only and in --skip"));
        let nothing = Selection { from: Some("grafana".into()), skip: vec!["grafana".into()], ..Selection::default() };
        assert!(chosen(&nothing).unwrap_err().message.contains("nothing to run"));
    }

    #[test]
    fn names_round_trip() {
        for id in StageId::ALL {
            assert_eq!(StageId::from_name(id.name()), Some(id));
        }
    }
}
