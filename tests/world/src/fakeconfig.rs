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
    /// How long matching invocations take before they do their work (emulated network and cluster time).
    #[serde(default)]
    pub latencies: Vec<ToolLatency>,
    /// How far apart matching invocations print their progress lines (minikube start's steps).
    #[serde(default)]
    pub paces: Vec<ToolPace>,
    /// A kubectl that only reports this old version (Docker Desktop's), in `docker-bin` ahead on PATH.
    #[serde(default)]
    pub shadow_kubectl: Option<String>,
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
pub struct ToolLatency {
    pub tool: String,
    pub args_contain: Vec<String>,
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolPace {
    pub tool: String,
    pub args_contain: Vec<String>,
    pub every_millis: u64,
}

/// A progress line a fake printed, and when (milliseconds since the Unix epoch): what a test measures a
/// screen's delay against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Printed {
    pub tool: String,
    pub line: String,
    pub at_millis: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Effect {
    Exit {
        code: i32,
        stderr: String,
    },
    Garbage,
    Empty,
    /// Hangs before doing anything (until the caller's timeout or the user stops it).
    Hang,
    /// Does its work, then hangs: stopping it now leaves the change made and the caller not told (a
    /// `kill -9` right after `New-VMSwitch`).
    HangAfter,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MinikubeConfig {
    pub version: String,
    pub kubernetes_version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowsConfig {
    /// Shown by the fakes as the machine's state; New-VMSwitch changes a copy kept in the world.
    pub admin: bool,
    pub hyperv_admin_group: bool,
    pub hyperv_enabled: bool,
    /// Hyper-V was enabled and Windows waits for a reboot to start it: the feature reads `EnablePending`,
    /// the hypervisor is not present yet.
    #[serde(default)]
    pub hyperv_enable_pending: bool,
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
    /// What `Get-NetAdapter` says of its medium: `802.3` (wired) or `Native 802.11` (Wi-Fi).
    #[serde(default = "wired")]
    pub media: String,
}

fn wired() -> String {
    "802.3".into()
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
    /// The path the tool was invoked as (which copy on PATH).
    #[serde(default)]
    pub program: String,
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

pub fn printed_path(dir: &Path) -> PathBuf {
    dir.join("printed.jsonl")
}

/// Where the fakes keep the Windows machine's state once a command changed it (switches made, removed).
pub fn windows_state_path(dir: &Path) -> PathBuf {
    dir.join("windows-state.json")
}

/// The Windows machine as it is now: its state after the last change, else as the world began.
pub fn windows_state(dir: &Path) -> Option<WindowsConfig> {
    std::fs::read_to_string(windows_state_path(dir)).ok().and_then(|t| serde_json::from_str(&t).ok()).or_else(|| {
        let config: FakeConfig = serde_json::from_str(&std::fs::read_to_string(config_path(dir)).ok()?).ok()?;
        config.windows
    })
}

pub fn append(dir: &Path, invocation: &Invocation) {
    let line = serde_json::to_string(invocation).expect("json") + "\n";
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log_path(dir)) {
        let _ = file.write_all(line.as_bytes());
    }
}

pub fn append_printed(dir: &Path, printed: &Printed) {
    let line = serde_json::to_string(printed).expect("json") + "\n";
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(printed_path(dir)) {
        let _ = file.write_all(line.as_bytes());
    }
}

pub fn read_printed(dir: &Path) -> Vec<Printed> {
    std::fs::read_to_string(printed_path(dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn read_log(dir: &Path) -> Vec<Invocation> {
    std::fs::read_to_string(log_path(dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

impl WindowsConfig {
    /// An elevated Windows 11 workstation with Hyper-V on, chocolatey, wired Ethernet (default route) and Wi-Fi, no switch.
    pub fn workstation() -> WindowsConfig {
        WindowsConfig {
            admin: true,
            hyperv_admin_group: false,
            hyperv_enabled: true,
            hyperv_enable_pending: false,
            adapters: vec![
                Adapter {
                    name: "Ethernet".into(),
                    description: "Intel(R) Ethernet Connection I219-LM".into(),
                    guid: "5A1C3E2B-0D4F-4C6A-9E8B-1F2A3B4C5D6E".into(),
                    up: true,
                    default_route: true,
                    media: wired(),
                },
                Adapter {
                    name: "Wi-Fi".into(),
                    description: "Intel(R) Wi-Fi 6 AX201 160MHz".into(),
                    guid: "7B2D4F3C-1E5A-4D7B-8F9C-2A3B4C5D6E7F".into(),
                    up: true,
                    default_route: false,
                    media: "Native 802.11".into(),
                },
                Adapter {
                    name: "Bluetooth Network Connection".into(),
                    description: "Bluetooth Device (Personal Area Network)".into(),
                    guid: "9C3E5A4D-2F6B-4E8C-9A0D-3B4C5D6E7F80".into(),
                    up: false,
                    default_route: false,
                    media: "BlueTooth".into(),
                },
            ],
            switches: Vec::new(),
            choco_installed: true,
        }
    }
}
