//! What every stage and check works with: the validated settings, the runner, the UI, and the tools found
//! so far (the prerequisites stage fills them; later stages use the chosen binaries by absolute path).

use crate::runner::Runner;
use crate::settings::Settings;
use crate::tools::helm::Helm;
use crate::tools::kubectl::Kubectl;
use crate::tools::Found;
use crate::ui::Ui;

#[derive(Debug, Default, Clone)]
pub struct Toolbox {
    pub kubectl: Option<Found>,
    pub helm: Option<Found>,
    pub minikube: Option<Found>,
}

pub struct Context {
    pub settings: Settings,
    pub runner: Runner,
    pub ui: Ui,
    pub tools: Toolbox,
}

impl Context {
    pub fn new(settings: Settings, runner: Runner, ui: Ui) -> Self {
        Context { settings, runner, ui, tools: Toolbox::default() }
    }

    pub fn kubectl(&self) -> Kubectl {
        let program = self.tools.kubectl.as_ref().map_or("kubectl".into(), |f| f.path.display().to_string());
        Kubectl::new(program, self.settings.context.clone())
    }

    pub fn helm(&self) -> Helm {
        let program = self.tools.helm.as_ref().map_or("helm".into(), |f| f.path.display().to_string());
        Helm::new(program, self.settings.context.clone())
    }
}
