//! The stage engine behind `setup`: a stage checks whether it is already done (read-only), applies its
//! change, then validates it. The engine selects stages (`--from/--only/--skip`), runs them in order, skips
//! those already done, stops at the first failure and ends with a summary. Stages never print their own
//! results: they return them, and the engine presents them through the UI.

use std::time::{Duration, Instant};

use console::style;

use crate::context::{Context, Remark};
use crate::problem::Problem;
use crate::settings::Settings;

/// What a stage's `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Nothing to do; the evidence says why (e.g. "release prometheus deployed, chart prometheus-29.27.0").
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
    fn name(&self) -> &'static str;
    /// The stages this one runs after (when they are selected); the others run at the same time.
    fn after(&self, _cx: &Context) -> &'static [&'static str] {
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
    fn check(&self, cx: &mut Context) -> anyhow::Result<Check>;
    fn apply(&self, cx: &mut Context) -> anyhow::Result<()>;
    /// Confirms the change took effect; returns the evidence shown in the summary.
    fn validate(&self, cx: &mut Context) -> anyhow::Result<String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    AlreadyDone(String),
    Planned(String),
    NotApplicable(String),
    Failed(String),
    NotReached,
}

pub struct StageReport {
    pub name: &'static str,
    pub outcome: Outcome,
    pub took: Duration,
}

/// Which stages to run: `--only` wins, then `--from`, then `--skip` removes.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub from: Option<String>,
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl Selection {
    pub fn apply<'a>(&self, stages: &'a [Box<dyn Stage>]) -> Result<Vec<&'a dyn Stage>, Problem> {
        let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
        let known = |flag: &str, name: &str| -> Result<(), Problem> {
            if names.contains(&name) {
                Ok(())
            } else {
                Err(Problem::new(format!("unknown stage {name:?} in --{flag}"))
                    .with_hint(format!("stages are: {}", names.join(", "))))
            }
        };
        self.only.iter().try_for_each(|n| known("only", n))?;
        self.skip.iter().try_for_each(|n| known("skip", n))?;
        let start = match &self.from {
            Some(from) => {
                known("from", from)?;
                names.iter().position(|n| n == from).unwrap_or(0)
            }
            None => 0,
        };
        Ok(stages
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                let chosen = if self.only.is_empty() { *i >= start } else { self.only.iter().any(|o| o == s.name()) };
                chosen && !self.skip.iter().any(|k| k == s.name())
            })
            .map(|(_, s)| s.as_ref())
            .collect())
    }
}

/// Runs the selected stages as a graph: every stage whose predecessors are done starts at once, on its own
/// copy of the context; its output is printed as one block when it ends, and what it learned is merged back.
/// After a failure no new stage starts (those running finish). Reports come back in list order.
pub fn run(stages: &[&dyn Stage], cx: &mut Context) -> Vec<StageReport> {
    let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
    let mut outcomes: Vec<Option<StageReport>> = stages.iter().map(|_| None).collect();
    let mut started = vec![false; stages.len()];
    let mut failed = false;
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        let mut running = 0;
        loop {
            for (i, stage) in stages.iter().enumerate() {
                let ready = !failed
                    && !started[i]
                    && predecessors(*stage, &names, cx).iter().filter_map(|d| names.iter().position(|n| n == d)).all(
                        |d| {
                            outcomes[d]
                                .as_ref()
                                .is_some_and(|r| !matches!(r.outcome, Outcome::Failed(_) | Outcome::NotReached))
                        },
                    );
                if ready {
                    started[i] = true;
                    running += 1;
                    let (mut child, buffer) = cx.fork();
                    let done = done.clone();
                    let stage = *stage;
                    scope.spawn(move || {
                        let began = Instant::now();
                        child.ui.heading(&format!("{} {}", style("==>").blue().bold(), stage.name()));
                        let outcome = run_stage(stage, &mut child);
                        print_remarks(&mut child);
                        let _ = done.send((
                            i,
                            StageReport { name: stage.name(), outcome, took: began.elapsed() },
                            child,
                            buffer,
                        ));
                    });
                }
            }
            if running == 0 {
                break;
            }
            let Ok((i, report, child, buffer)) = finished.recv() else { break };
            running -= 1;
            cx.merge(&child);
            cx.ui.flush(&buffer);
            print_outcome(cx, &report);
            failed |= matches!(report.outcome, Outcome::Failed(_));
            outcomes[i] = Some(report);
        }
    });
    stages
        .iter()
        .zip(outcomes)
        .map(|(stage, report)| {
            report.unwrap_or(StageReport { name: stage.name(), outcome: Outcome::NotReached, took: Duration::ZERO })
        })
        .collect()
}

/// The selected stages a stage waits for: its own predecessors, and for one that is not selected, that
/// one's predecessors in turn (so `--only prerequisites,cluster` still runs them in order).
fn predecessors(stage: &dyn Stage, selected: &[&str], cx: &Context) -> Vec<&'static str> {
    let all = crate::stages::all();
    let mut result = Vec::new();
    let mut pending: Vec<&'static str> = stage.after(cx).to_vec();
    while let Some(name) = pending.pop() {
        if selected.contains(&name) {
            if !result.contains(&name) {
                result.push(name);
            }
        } else if let Some(unselected) = all.iter().find(|s| s.name() == name) {
            pending.extend(unselected.after(cx));
        }
    }
    result
}

fn run_stage(stage: &dyn Stage, cx: &mut Context) -> Outcome {
    if let Some(reason) = stage.not_applicable(&cx.settings) {
        return Outcome::NotApplicable(reason);
    }
    let check = match stage.check(cx) {
        Ok(check) => check,
        // Under --dry-run a check may fail only because an earlier stage was not really run (no cluster yet).
        Err(e) if cx.runner.dry_run() => Check::Needed(format!("could not check ({})", first_line(&e))),
        Err(e) => return fail(stage, cx, e),
    };
    let reason = match check {
        Check::Done(evidence) if stage.kind() == StageKind::Inspect => return Outcome::Done(evidence),
        Check::Done(evidence) => return Outcome::AlreadyDone(evidence),
        Check::Needed(reason) => reason,
    };
    cx.ui.line(&format!("  {reason}"));
    if let Err(e) = stage.apply(cx) {
        if cx.runner.dry_run() {
            // a dry run shows the whole plan: say what this stage needs first, and go on
            cx.ui.warn(&format!("{}: {}", stage.name(), first_line(&e)));
            return Outcome::Planned(format!("{reason} (needs attention first, see the warning)"));
        }
        return fail(stage, cx, e);
    }
    if cx.runner.dry_run() {
        return Outcome::Planned(reason);
    }
    match stage.validate(cx) {
        Ok(evidence) => Outcome::Done(evidence),
        Err(e) => fail(stage, cx, e),
    }
}

fn fail(stage: &dyn Stage, cx: &mut Context, error: anyhow::Error) -> Outcome {
    let mut problem = match error.downcast_ref::<Problem>() {
        Some(problem) => problem.clone(),
        None => Problem::new(format!("{error:#}")),
    };
    if problem.hint.is_none() {
        // every failure says what to do; the least is to look at what the tool says for itself
        let hint = match &problem.command {
            Some(command) => format!(
                "run `{}` yourself to see what it says, then `interlok-k8s setup --from {}`",
                command.command_line,
                stage.name()
            ),
            None => format!(
                "run `interlok-k8s verify` to find the broken link, then `interlok-k8s setup --from {}`",
                stage.name()
            ),
        };
        problem = problem.with_hint(hint);
    }
    print_remarks(cx);
    cx.ui.problem(Some(stage.name()), &problem);
    Outcome::Failed(problem.message)
}

fn print_remarks(cx: &mut Context) {
    for remark in std::mem::take(&mut cx.remarks) {
        match remark {
            Remark::Note(text) => cx.ui.note(&text),
            Remark::Warning(text) => cx.ui.warn(&text),
        }
    }
}

fn first_line(error: &anyhow::Error) -> String {
    error.to_string().lines().next().unwrap_or_default().to_string()
}

fn print_outcome(cx: &Context, report: &StageReport) {
    let line = summary_line(report);
    if !matches!(report.outcome, Outcome::Failed(_)) {
        cx.ui.line(&line);
    }
}

fn summary_line(report: &StageReport) -> String {
    let (mark, text) = match &report.outcome {
        Outcome::Done(evidence) => (style("✔").green().bold(), evidence.clone()),
        Outcome::AlreadyDone(evidence) => (style("↷").cyan().bold(), format!("already done: {evidence}")),
        Outcome::Planned(reason) => (style("·").magenta().bold(), format!("would apply: {reason}")),
        Outcome::NotApplicable(reason) => (style("↷").dim(), format!("not applicable: {reason}")),
        Outcome::Failed(message) => (style("✘").red().bold(), message.clone()),
        Outcome::NotReached => (style("–").dim(), "not reached".to_string()),
    };
    let took = if report.took >= Duration::from_millis(100) {
        format!(" ({:.1}s)", report.took.as_secs_f64())
    } else {
        String::new()
    };
    format!("{mark} {:<14} {text}{took}", report.name)
}

/// Prints the closing summary and says whether every stage ended well.
pub fn summarize(cx: &Context, reports: &[StageReport]) -> bool {
    cx.ui.heading("\nSummary");
    for report in reports {
        cx.ui.line(&summary_line(report));
    }
    !reports.iter().any(|r| matches!(r.outcome, Outcome::Failed(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);
    impl Stage for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn summary(&self) -> &'static str {
            ""
        }
        fn check(&self, _: &mut Context) -> anyhow::Result<Check> {
            Ok(Check::Done(String::new()))
        }
        fn apply(&self, _: &mut Context) -> anyhow::Result<()> {
            Ok(())
        }
        fn validate(&self, _: &mut Context) -> anyhow::Result<String> {
            Ok(String::new())
        }
    }

    fn stages() -> Vec<Box<dyn Stage>> {
        ["a", "b", "c", "d"].into_iter().map(|n| Box::new(Named(n)) as Box<dyn Stage>).collect()
    }

    fn names(selection: &Selection) -> Result<Vec<&'static str>, Problem> {
        let all = stages();
        Ok(selection.apply(&all)?.iter().map(|s| s.name()).collect())
    }

    #[test]
    fn from_only_and_skip_select_stages() {
        assert_eq!(names(&Selection::default()).unwrap(), ["a", "b", "c", "d"]);
        let from = Selection { from: Some("b".into()), skip: vec!["c".into()], ..Selection::default() };
        assert_eq!(names(&from).unwrap(), ["b", "d"]);
        let only = Selection { only: vec!["d".into(), "a".into()], ..Selection::default() };
        assert_eq!(names(&only).unwrap(), ["a", "d"]);
    }

    #[test]
    fn unknown_stage_names_are_rejected_with_the_list() {
        let err = names(&Selection { only: vec!["nope".into()], ..Selection::default() }).unwrap_err();
        assert!(err.message.contains("\"nope\""));
        assert!(err.hint.unwrap().contains("a, b, c, d"));
    }
}
