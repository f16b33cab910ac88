//! What every stage and check works with: the validated settings, the runner, the UI, the tools (chosen
//! once, the same way by setup and every other command) and the facts stages learned.

use std::sync::{Arc, Mutex, OnceLock};

use crate::cluster::lookups::{Lookups, PerLook};
use crate::cluster::monitoring;
use crate::engine::StageId;
use crate::portforward::Forwards;
use crate::problem::Problem;
use crate::record::{Created, Record, State};
use crate::runner::Runner;
use crate::settings::Settings;
use crate::tools::helm::Helm;
use crate::tools::kubectl::Kubectl;
use crate::tools::{self, Found};
use crate::ui::Ui;
use crate::version::Version;

/// The binaries the wizard runs, each found (and its version read) the first time it is needed. The
/// kubectl is the newest on PATH, not the first: Docker Desktop puts an old one early on the system PATH.
#[derive(Debug, Default, Clone)]
pub(crate) struct Toolbox {
    kubectl: OnceLock<Option<Found>>,
    helm: OnceLock<Option<Found>>,
    minikube: OnceLock<Option<Found>>,
}

/// What stages learned that later stages (and the summary) rely on. A forked stage's changes are taken
/// back by `Context::merge`, field by field, so a stage that ran alongside never undoes another's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Run the wizard's kubectl calls as `minikube kubectl --` (accepted to get past a version skew).
    pub(crate) kubectl_via_minikube: bool,
    /// The minikube driver chosen, and why.
    pub(crate) driver: Option<(String, String)>,
    pub(crate) hyperv_enabled: Option<bool>,
    pub(crate) server_version: Option<Version>,
    /// The pushgateway Service found in the cluster: (name, port).
    pub(crate) pushgateway: Option<(String, u16)>,
}

pub struct Context {
    pub(crate) settings: Settings,
    pub(crate) runner: Runner,
    pub(crate) ui: Ui,
    pub(crate) tools: Toolbox,
    pub(crate) facts: Facts,
    /// Shared by stages running at once: each adds what it created.
    pub(crate) record: Arc<Mutex<Record>>,
    /// The facts as they were when this context was forked (None for the root).
    forked_facts: Option<Facts>,
    /// The answers of the run's current look at the cluster (see `cluster::lookups`).
    pub(crate) look: Arc<PerLook<Lookups>>,
    /// What setup's checks found in the current look beyond the cluster's objects (see `Probe::shared`).
    pub(crate) probed: Arc<PerLook<monitoring::Reached>>,
    /// The stages of this run that have not ended yet (set by the engine, shared by every fork): a stage
    /// that needs what another one makes waits for it only while that one can still make it.
    pub(crate) underway: Arc<Mutex<Vec<StageId>>>,
    /// The port-forwards this run has open, reused by every stage and check (see portforward.rs).
    pub(crate) forwards: Forwards,
}

impl Context {
    pub fn new(settings: Settings, runner: Runner, ui: Ui) -> Self {
        let record = Arc::new(Mutex::new(Record::load(settings.context.as_deref())));
        let facts = Facts { kubectl_via_minikube: settings.use_minikube_kubectl, ..Facts::default() };
        Context {
            settings,
            runner,
            ui,
            tools: Toolbox::default(),
            facts,
            record,
            forked_facts: None,
            look: Arc::default(),
            probed: Arc::default(),
            underway: Arc::default(),
            forwards: Forwards::default(),
        }
    }

    /// The kubectl the wizard uses: every kubectl on PATH with its version, the newest chosen.
    pub(crate) fn kubectl_found(&self) -> Option<&Found> {
        self.tools.kubectl.get_or_init(|| choose_kubectl(&tools::kubectl::every_on_path(&self.runner).0)).as_ref()
    }

    /// Records the kubectl-path stage's choice (it found the same list, and reports it).
    pub(crate) fn use_kubectl(&mut self, found: Found) {
        self.tools.kubectl = OnceLock::from(Some(found));
    }

    pub(crate) fn helm_found(&self) -> Option<&Found> {
        self.tools.helm.get_or_init(|| found(&self.runner, "helm")).as_ref()
    }

    pub(crate) fn minikube_found(&self) -> Option<&Found> {
        self.tools.minikube.get_or_init(|| found(&self.runner, "minikube")).as_ref()
    }

    /// Helm's major version (3 when helm cannot be asked: today's syntax).
    pub(crate) fn helm_major(&self) -> u32 {
        self.helm_found().map_or(3, |f| f.version.major)
    }

    pub(crate) fn kubectl(&self) -> Kubectl {
        if self.facts.kubectl_via_minikube {
            return Kubectl::via_minikube(self.minikube(), self.settings.context.clone());
        }
        Kubectl::new(self.kubectl_program(), self.settings.context.clone())
    }

    /// The kubectl binary itself (never through minikube): for kubeconfig questions.
    pub(crate) fn kubectl_program(&self) -> String {
        self.kubectl_found().map_or("kubectl".into(), |f| f.path.display().to_string())
    }

    pub(crate) fn helm(&self) -> Helm {
        let program = self.helm_found().map_or("helm".into(), |f| f.path.display().to_string());
        Helm::new(program, self.settings.context.clone())
    }

    pub(crate) fn minikube(&self) -> String {
        self.minikube_found().map_or("minikube".into(), |f| f.path.display().to_string())
    }

    /// Records, before the command that makes it runs, that setup is about to make this (not under
    /// --dry-run). An error here stops the stage before it changes anything: nothing is made unrecorded.
    pub(crate) fn intend(&mut self, item: Created) -> Result<(), Problem> {
        if self.runner.dry_run() {
            return Ok(());
        }
        self.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).intend(item)
    }

    /// Records what became of something setup made or took over (not under --dry-run).
    pub(crate) fn confirm(&mut self, item: Created, state: State) {
        if self.runner.dry_run() {
            return;
        }
        let saved = self.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).confirm(item, state);
        if let Err(why) = saved {
            self.warn(format!("could not update the record of what setup made: {}", why.message));
        }
    }

    /// Records that setup made this, for what it makes without a write-ahead intent of its own.
    pub(crate) fn created(&mut self, item: Created) {
        self.confirm(item, State::Created);
    }

    /// Takes something the wizard removed out of its record (not under --dry-run).
    pub(crate) fn forget(&mut self, item: &Created) {
        if self.runner.dry_run() {
            return;
        }
        let saved = self.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(item);
        if let Err(why) = saved {
            self.warn(format!("could not update the record of what setup made: {}", why.message));
        }
    }

    /// What the record says of this, if anything.
    pub(crate) fn recorded(&self, item: &Created) -> Option<State> {
        self.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).state(item)
    }

    /// Whether this stage is part of this run and has not ended yet.
    pub(crate) fn underway(&self, stage: StageId) -> bool {
        self.underway.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&stage)
    }

    /// A copy for a stage that runs alongside others: its own UI, the same settings, tools, facts and record.
    pub(crate) fn fork(&self) -> Context {
        Context {
            settings: self.settings.clone(),
            runner: self.runner.clone(),
            ui: self.ui.clone(),
            tools: self.tools.clone(),
            facts: self.facts.clone(),
            record: self.record.clone(),
            forked_facts: Some(self.facts.clone()),
            look: self.look.clone(),
            probed: self.probed.clone(),
            underway: self.underway.clone(),
            forwards: self.forwards.clone(),
        }
    }

    /// A fork printing through another UI (a stage's own region of the screen).
    pub(crate) fn fork_with_ui(&self, ui: Ui) -> Context {
        let mut child = self.fork();
        child.runner = child.runner.with_ui(ui.clone());
        child.ui = ui;
        child
    }

    /// Takes back what a forked stage learned: the tools it found that this context has not, and each fact
    /// it changed since the fork. Facts it did not touch keep the value another stage may have set meanwhile.
    pub(crate) fn merge(&mut self, stage: &Context) {
        for (mine, theirs) in [
            (&mut self.tools.kubectl, &stage.tools.kubectl),
            (&mut self.tools.helm, &stage.tools.helm),
            (&mut self.tools.minikube, &stage.tools.minikube),
        ] {
            if let (None, Some(found)) = (mine.get(), theirs.get()) {
                let _ = mine.set(found.clone());
            }
        }
        let before = stage.forked_facts.clone().unwrap_or_default();
        let (theirs, mine) = (&stage.facts, &mut self.facts);
        if theirs.kubectl_via_minikube != before.kubectl_via_minikube {
            mine.kubectl_via_minikube = theirs.kubectl_via_minikube;
        }
        if theirs.driver != before.driver {
            mine.driver = theirs.driver.clone();
        }
        if theirs.hyperv_enabled != before.hyperv_enabled {
            mine.hyperv_enabled = theirs.hyperv_enabled;
        }
        if theirs.server_version != before.server_version {
            mine.server_version = theirs.server_version;
        }
        if theirs.pushgateway != before.pushgateway {
            mine.pushgateway = theirs.pushgateway.clone();
        }
    }

    /// A note for the user, shown as it comes (inside a stage: above its live region, or with its name).
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.ui.note(&text.into());
    }

    /// A warning for the user, shown as it comes.
    pub(crate) fn warn(&mut self, text: impl Into<String>) {
        self.ui.warn(&text.into());
    }
}

/// The newest kubectl of those found (the first of equals: PATH order).
pub(crate) fn choose_kubectl(found: &[Found]) -> Option<Found> {
    let newest = found.iter().map(|f| f.version).max()?;
    found.iter().find(|f| f.version == newest).cloned()
}

/// A tool on PATH with the version it reports, or None when it is missing or says nothing readable.
fn found(runner: &Runner, tool: &str) -> Option<Found> {
    let path = runner.resolve(tool)?;
    let version = tools::read_version(runner, tool, &path.display().to_string()).ok()?;
    Some(Found { path, version })
}

/// Kept for callers that need the error when a tool's version cannot be read.
pub(crate) fn read_found(runner: &Runner, tool: &str) -> Result<Option<Found>, Problem> {
    let Some(path) = runner.resolve(tool) else { return Ok(None) };
    let version = tools::read_version(runner, tool, &path.display().to_string())?;
    Ok(Some(Found { path, version }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        let settings = Settings::defaults();
        let ui = Ui::plain();
        Context::new(settings, Runner::new(ui.clone(), true), ui)
    }

    #[test]
    fn a_stage_that_ran_alongside_does_not_undo_another_stages_facts() {
        let mut root = context();
        let slow = root.fork(); // forked before the fast one learned anything
        let mut fast = root.fork();
        fast.facts.kubectl_via_minikube = true;
        fast.facts.server_version = Some(Version::new(1, 33, 1));
        root.merge(&fast);
        let mut slow = slow;
        slow.facts.driver = Some(("hyperv".into(), "Hyper-V is enabled".into()));
        root.merge(&slow);
        assert!(root.facts.kubectl_via_minikube, "the slow stage never touched it");
        assert_eq!(root.facts.server_version, Some(Version::new(1, 33, 1)));
        assert_eq!(root.facts.driver.as_ref().map(|d| d.0.as_str()), Some("hyperv"));
    }

    #[test]
    fn the_newest_kubectl_wins_and_path_order_breaks_ties() {
        let at = |p: &str, minor| Found { path: p.into(), version: Version::new(1, minor, 0) };
        let found = [at("/docker/kubectl", 14), at("/usr/bin/kubectl", 33), at("/opt/kubectl", 33)];
        assert_eq!(choose_kubectl(&found).unwrap().path, std::path::PathBuf::from("/usr/bin/kubectl"));
        assert_eq!(choose_kubectl(&[]), None);
    }
}
