//! The platform is a value chosen at run time (not `cfg`), so the Windows flow builds and is tested anywhere.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PlatformChoice {
    Auto,
    Windows,
    Linux,
    Macos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Windows,
    Linux,
    Macos,
}

impl Platform {
    pub(crate) fn resolve(choice: PlatformChoice) -> Platform {
        match choice {
            PlatformChoice::Windows => Platform::Windows,
            PlatformChoice::Linux => Platform::Linux,
            PlatformChoice::Macos => Platform::Macos,
            PlatformChoice::Auto => match std::env::consts::OS {
                "windows" => Platform::Windows,
                "macos" => Platform::Macos,
                _ => Platform::Linux,
            },
        }
    }

    /// The command a user on this platform runs to install `tool` (one of kubectl, helm, minikube).
    pub(crate) fn install_hint(self, tool: &str) -> String {
        match (self, tool) {
            (Platform::Windows, "kubectl") => "choco install kubernetes-cli".into(),
            (Platform::Windows, "helm") => "choco install kubernetes-helm".into(),
            (Platform::Windows, other) => format!("choco install {other}"),
            (Platform::Macos, "kubectl") => "brew install kubectl".into(),
            (Platform::Macos, other) => format!("brew install {other}"),
            (Platform::Linux, "kubectl") => {
                "sudo snap install kubectl --classic (or see https://kubernetes.io/docs/tasks/tools/)".into()
            }
            (Platform::Linux, "helm") => {
                "sudo snap install helm --classic (or see https://helm.sh/docs/intro/install/)".into()
            }
            (Platform::Linux, "minikube") => {
                "see https://minikube.sigs.k8s.io/docs/start/ (a single static binary)".into()
            }
            (Platform::Linux, other) => format!("install {other} with your package manager"),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::Macos => "macos",
        })
    }
}
