//! The record of what setup created, so teardown removes exactly that: kept per kube context in the user's
//! config directory (`%APPDATA%\interlok-k8s` or `~/.config/interlok-k8s`), written atomically. It holds names
//! only — never a secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One thing setup created.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Created {
    Release { name: String, namespace: String },
    Object { kind: String, name: String, namespace: String },
    Namespace { name: String },
    Repository { name: String },
    Tiller,
    Switch { name: String },
    Cluster,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    contexts: BTreeMap<String, Vec<Created>>,
}

pub struct Record {
    path: Option<PathBuf>,
    context: String,
    file: File,
}

impl Record {
    /// The record for one kube context (None = minikube's own).
    pub fn load(context: Option<&str>) -> Record {
        let path = crate::settings::state_dir().map(|d| d.join("record.json"));
        let file = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Record { path, context: context.unwrap_or("minikube").to_string(), file }
    }

    pub fn entries(&self) -> Vec<Created> {
        self.file.contexts.get(&self.context).cloned().unwrap_or_default()
    }

    pub fn contains(&self, item: &Created) -> bool {
        self.file.contexts.get(&self.context).is_some_and(|e| e.contains(item))
    }

    pub fn add(&mut self, item: Created) {
        let entries = self.file.contexts.entry(self.context.clone()).or_default();
        if !entries.contains(&item) {
            entries.push(item);
        }
    }

    pub fn remove(&mut self, item: &Created) {
        if let Some(entries) = self.file.contexts.get_mut(&self.context) {
            entries.retain(|e| e != item);
        }
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a record.
    pub fn save(&self) -> Result<(), String> {
        let Some(path) = &self.path else { return Ok(()) };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&self.file).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}
