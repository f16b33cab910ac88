//! What the harness tells the fake and wrapper binaries (through `$TESTWORLD_DIR/world.json`), and the
//! invocation log they append to. Shared by the harness and the `world-fake` binary.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FakeConfig {
    /// Real binaries behind the wrappers, by tool name (kubectl, helm).
    pub real: BTreeMap<String, PathBuf>,
    pub faults: Vec<ToolFault>,
    pub minikube: Option<MinikubeConfig>,
    pub windows: Option<WindowsConfig>,
    /// Control endpoint of the world (minikube start/stop, Helm 2 state).
    pub control: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolFault {
    pub tool: String,
    /// The fault applies when every one of these words is among the arguments.
    pub args_contain: Vec<String>,
    pub effect: Effect,
    /// Only the first N matching invocations fail; `None` = always.
    pub first: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Effect {
    Exit { code: i32, stderr: String },
    Garbage,
    Empty,
    Hang,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinikubeConfig {
    pub version: String,
    pub kubernetes_version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowsConfig {
    pub admin: bool,
    pub hyperv_admin_group: bool,
    pub hyperv_enabled: bool,
    pub adapters: Vec<Adapter>,
    pub switches: Vec<Switch>,
    pub choco_installed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adapter {
    pub name: String,
    pub description: String,
    pub guid: String,
    pub up: bool,
    pub default_route: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Switch {
    pub name: String,
    pub switch_type: u32,
    pub adapter_guid: Option<String>,
}

/// One line of the invocation log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    pub tool: String,
    pub args: Vec<String>,
    /// Parsed parameters where the fake understands them (e.g. PowerShell cmdlet parameters).
    #[serde(default)]
    pub parsed: BTreeMap<String, String>,
    #[serde(default)]
    pub fault: Option<String>,
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("world.json")
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("invocations.jsonl")
}

pub fn append(dir: &Path, invocation: &Invocation) {
    let line = serde_json::to_string(invocation).expect("json") + "\n";
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log_path(dir)) {
        let _ = file.write_all(line.as_bytes());
    }
}

pub fn read_log(dir: &Path) -> Vec<Invocation> {
    std::fs::read_to_string(log_path(dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
