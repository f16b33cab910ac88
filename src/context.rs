//! What every stage and check works with: the validated settings, the runner, the UI, the tools found so
//! far (later stages use the chosen binaries by absolute path) and the facts earlier stages learned.

use crate::record::{Created, Record};
use crate::runner::Runner;
use crate::settings::Settings;
use crate::tools::helm::Helm;
use crate::tools::kubectl::Kubectl;
use crate::tools::Found;
use crate::ui::Ui;
use crate::version::Version;

#[derive(Debug, Default, Clone)]
pub struct Toolbox {
    pub kubectl: Option<Found>,
    pub helm: Option<Found>,
    pub minikube: Option<Found>,
    /// Run the wizard's kubectl calls as `minikube kubectl --` (accepted to get past a version skew).
    pub kubectl_via_minikube: bool,
}

/// What stages learned that later stages rely on.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// The minikube driver chosen, and why.
    pub driver: Option<(String, String)>,
    pub hyperv_enabled: Option<bool>,
    pub server_version: Option<Version>,
    /// The pushgateway Service found in the cluster: (name, port).
    pub pushgateway: Option<(String, u16)>,
}

/// A remark a stage wants the user to see next to its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remark {
    Note(String),
    Warning(String),
}

pub struct Context {
    pub settings: Settings,
    pub runner: Runner,
    pub ui: Ui,
    pub tools: Toolbox,
    pub facts: Facts,
    pub remarks: Vec<Remark>,
    /// Shared by stages running at once: each adds what it created.
    pub record: std::sync::Arc<std::sync::Mutex<Record>>,
}

impl Context {
    pub fn new(settings: Settings, runner: Runner, ui: Ui) -> Self {
        let record = std::sync::Arc::new(std::sync::Mutex::new(Record::load(settings.context.as_deref())));
        Context {
            settings,
            runner,
            ui,
            tools: Toolbox::default(),
            facts: Facts::default(),
            remarks: Vec::new(),
            record,
        }
    }

    pub fn kubectl(&self) -> Kubectl {
        if self.tools.kubectl_via_minikube {
            let minikube = self.tools.minikube.as_ref().map_or("minikube".into(), |f| f.path.display().to_string());
            return Kubectl::via_minikube(minikube, self.settings.context.clone());
        }
        let program = self.tools.kubectl.as_ref().map_or("kubectl".into(), |f| f.path.display().to_string());
        Kubectl::new(program, self.settings.context.clone())
    }

    /// The kubectl binary itself (never through minikube): for kubeconfig questions.
    pub fn kubectl_program(&self) -> String {
        self.tools.kubectl.as_ref().map_or("kubectl".into(), |f| f.path.display().to_string())
    }

    pub fn helm(&self) -> Helm {
        let program = self.tools.helm.as_ref().map_or("helm".into(), |f| f.path.display().to_string());
        Helm::new(program, self.settings.context.clone())
    }

    pub fn minikube(&self) -> String {
        self.tools.minikube.as_ref().map_or("minikube".into(), |f| f.path.display().to_string())
    }

    /// Remembers that setup created this (not under --dry-run), for teardown.
    pub fn created(&mut self, item: Created) {
        if self.runner.dry_run() {
            return;
        }
        let saved = {
            let mut record = self.record.lock().expect("record");
            record.add(item);
            record.save()
        };
        if let Err(why) = saved {
            self.warn(format!("could not save the record of what setup created: {why}"));
        }
    }

    /// A copy for a stage that runs alongside others: its own UI buffer, the same settings, tools, facts
    /// and record.
    pub fn fork(&self) -> (Context, crate::ui::Buffer) {
        let (ui, buffer) = self.ui.buffered();
        let context = Context {
            settings: self.settings.clone(),
            runner: self.runner.with_ui(ui.clone()),
            ui,
            tools: self.tools.clone(),
            facts: self.facts.clone(),
            remarks: Vec::new(),
            record: self.record.clone(),
        };
        (context, buffer)
    }

    /// Takes in what a forked stage learned (it started from this context's values, so its own win).
    pub fn merge(&mut self, stage: &Context) {
        self.tools = stage.tools.clone();
        let facts = &stage.facts;
        self.facts.driver = facts.driver.clone().or(self.facts.driver.take());
        self.facts.hyperv_enabled = facts.hyperv_enabled.or(self.facts.hyperv_enabled);
        self.facts.server_version = facts.server_version.or(self.facts.server_version);
        self.facts.pushgateway = facts.pushgateway.clone().or(self.facts.pushgateway.take());
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.remarks.push(Remark::Note(text.into()));
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.remarks.push(Remark::Warning(text.into()));
    }
}
