//! minikube, as far as the wizard uses it: `version` (`--short` from v1.10; until v1.20 it still printed
//! the `minikube version:` prefix), `status` (text or `-o json`, exit-code bits 1/2/4, 7 when stopped, 85
//! for a missing profile), `start` (`--vm-driver` before v1.8.0, `--driver` after; brings the fake
//! cluster up and writes the kubeconfig, printing minikube's own steps as it reaches them, at a configurable
//! pace), `stop`, `delete`, `kubectl --`.

use super::flags::{self, Parsed};
use super::Env;

fn version_of(env: &Env) -> (String, (u32, u32)) {
    let version = env.config.minikube.as_ref().map(|m| m.version.clone()).unwrap_or_else(|| "v1.38.1".into());
    let mut parts = version.trim_start_matches('v').split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(1), parts.next().unwrap_or(0));
    (version, (major, minor))
}

fn usage_error(env: &Env, message: &str, command: &str) -> i32 {
    let (_, v) = version_of(env);
    eprintln!("Error: {message}\nSee 'minikube {command} --help' for usage.");
    if v < (1, 10) {
        64
    } else {
        14
    }
}

fn control(env: &Env, action: &str) -> String {
    let url = format!("{}/minikube/{action}", env.config.control);
    ureq::get(&url)
        .call()
        .ok()
        .and_then(|r| r.into_json::<serde_json::Value>().ok())
        .and_then(|v| v["state"].as_str().map(String::from))
        .unwrap_or_else(|| "Nonexistent".into())
}

pub fn run(env: &Env, args: &[String]) -> i32 {
    let (command, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("", &[][..]),
    };
    let global: &[(&str, bool)] = &[("p", true), ("profile", true), ("alsologtostderr", false), ("v", true)];
    let spec: Vec<(&str, bool)> = match command {
        "version" => {
            let (_, v) = version_of(env);
            let mut s = vec![("o", true), ("output", true), ("components", false)];
            if v >= (1, 10) {
                s.push(("short", false));
            }
            s
        }
        "status" => vec![("o", true), ("output", true), ("f", true), ("format", true), ("l", true), ("layout", true)],
        "start" => start_flags(env),
        "stop" | "delete" | "ip" | "logs" => {
            vec![("all", false), ("purge", false), ("n", true), ("length", true), ("file", true)]
        }
        "kubectl" => vec![("ssh", false)],
        _ => {
            env.log("minikube", args, Vec::new(), None);
            eprintln!("Error: unknown command \"{command}\" for \"minikube\"\nRun 'minikube --help' for usage.");
            return usage_error(env, &format!("unknown command \"{command}\""), command);
        }
    };
    let all: Vec<(&str, bool)> = spec.iter().chain(global.iter()).copied().collect();
    let parsed = match flags::parse(rest, &all) {
        Ok(p) => p,
        Err(e) => {
            env.log("minikube", args, vec![("error".into(), e.clone())], None);
            return usage_error(env, &e, command);
        }
    };
    env.log("minikube", args, parsed.flags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), None);
    match command {
        "version" => version(env, &parsed),
        "status" => status(env, &parsed),
        "start" => start(env, &parsed),
        "stop" => {
            control(env, "stop");
            println!("✋  Stopping node \"minikube\"  ...\n🛑  1 node stopped.");
            0
        }
        "delete" => {
            control(env, "delete");
            println!("🔥  Deleting \"minikube\" ...\n💀  Removed all traces of the \"minikube\" cluster.");
            0
        }
        "ip" => {
            println!("192.168.49.2");
            0
        }
        "kubectl" => match env.config.real.get("minikube-kubectl").or(env.config.real.get("kubectl")) {
            Some(real) => {
                std::process::Command::new(real).args(&parsed.rest).status().map(|s| s.code().unwrap_or(1)).unwrap_or(1)
            }
            None => {
                eprintln!("❌  Exiting due to K8S_DOWNLOAD: no kubectl in the test world");
                1
            }
        },
        _ => {
            println!("==> minikube logs (test world) <==");
            0
        }
    }
}

fn version(env: &Env, parsed: &Parsed) -> i32 {
    let (version, v) = version_of(env);
    let commit = "b8b7ba3b2d9a4bdf7d3b1e5d4f6b8c2a1e0f9d8c";
    match parsed.flags.get("output").or(parsed.flags.get("o")).map(String::as_str) {
        Some("json") => println!("{{\"commit\":\"{commit}\",\"minikubeVersion\":\"{version}\"}}"),
        Some("yaml") => println!("commit: {commit}\nminikubeVersion: {version}"),
        Some(other) => {
            eprintln!("❌  Exiting due to MK_USAGE: version '{other}' is not a valid output format");
            return 14;
        }
        None if parsed.flags.contains_key("short") && v >= (1, 20) => println!("{version}"),
        None if parsed.flags.contains_key("short") => println!("minikube version: {version}"),
        None => println!("minikube version: {version}\ncommit: {commit}"),
    }
    0
}

fn status(env: &Env, parsed: &Parsed) -> i32 {
    let state = control(env, "status");
    if state == "Nonexistent" {
        println!("🤷  Profile \"minikube\" not found. Run \"minikube profile list\" to view all profiles.\n👉  To start a cluster, run: \"minikube start\"");
        return 85;
    }
    let running = state == "Running";
    let (host, kubelet, apiserver, kubeconfig) = if running {
        ("Running", "Running", "Running", "Configured")
    } else {
        ("Stopped", "Stopped", "Stopped", "Stopped")
    };
    match parsed.flags.get("output").or(parsed.flags.get("o")).map(String::as_str) {
        Some("json") => println!(
            "{{\"Name\":\"minikube\",\"Host\":\"{host}\",\"Kubelet\":\"{kubelet}\",\"APIServer\":\"{apiserver}\",\"Kubeconfig\":\"{kubeconfig}\",\"Worker\":false}}"
        ),
        _ => println!("minikube\ntype: Control Plane\nhost: {host}\nkubelet: {kubelet}\napiserver: {apiserver}\nkubeconfig: {kubeconfig}\n"),
    }
    if running {
        0
    } else {
        7
    }
}

fn start_flags(env: &Env) -> Vec<(&'static str, bool)> {
    let (_, v) = version_of(env);
    let mut spec = vec![
        ("vm-driver", true),
        ("kubernetes-version", true),
        ("cpus", true),
        ("memory", true),
        ("hyperv-virtual-switch", true),
        ("hyperv-use-external-switch", false),
        ("hyperv-external-adapter", true),
        ("container-runtime", true),
        ("wait", true),
        ("wait-timeout", true),
    ];
    if v >= (1, 8) {
        spec.push(("driver", true));
        spec.push(("d", true));
    }
    spec
}

/// `minikube start` prints its steps on stdout as it reaches them (minikube's `out.Step`, in
/// cmd/minikube/cmd/start.go, pkg/minikube/node/start.go, machine/start.go and bootstrapper/kubeadm), with
/// the configured pace between them: a fresh cluster, or a restart of a stopped one.
fn start(env: &Env, parsed: &Parsed) -> i32 {
    let (version, _) = version_of(env);
    let flag = |names: &[&str]| names.iter().find_map(|n| parsed.flags.get(*n)).cloned();
    let driver = flag(&["driver", "d", "vm-driver"]).unwrap_or_else(|| "docker".into());
    let kubernetes = flag(&["kubernetes-version"])
        .unwrap_or_else(|| env.config.minikube.as_ref().map_or("v1.33.1".into(), |m| m.kubernetes_version.clone()));
    let (cpus, memory) =
        (flag(&["cpus"]).unwrap_or_else(|| "2".into()), flag(&["memory"]).unwrap_or_else(|| "4096".into()));
    let step = |line: &str| env.step("minikube", line);
    let platform = if env.config.windows.is_some() {
        "Microsoft Windows 11 Pro 10.0.22631.4602 Build 22631.4602"
    } else {
        "Ubuntu 24.04"
    };
    let state = control(env, "status");
    let existing = state != "Nonexistent";
    step(&format!("😄  minikube {version} on {platform}"));
    let based_on = if existing { "existing profile" } else { "user configuration" };
    step(&format!("✨  Using the {driver} driver based on {based_on}"));
    if driver == "hyperv" {
        let Some(windows) = env.config.windows.as_ref().map(|_| super::powershell::load_state(env)) else {
            eprintln!("❌  Exiting due to DRV_UNSUPPORTED_OS: The driver 'hyperv' is not supported on linux/amd64");
            return 51;
        };
        if !windows.hyperv_enabled {
            eprintln!("❌  Exiting due to PROVIDER_HYPERV_NOT_RUNNING: Hyper-V requires Hyper-V to be enabled\n💡  Suggestion: Enable Hyper-V: Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All");
            return 89;
        }
        if let Some(switch) = parsed.flags.get("hyperv-virtual-switch") {
            if !windows.switches.iter().any(|s| &s.name == switch) {
                eprintln!("❌  Exiting due to GUEST_PROVISION: error provisioning guest: Failed to start host: creating host: create: precreate: vswitch \"{switch}\" not found");
                return 80;
            }
        }
    }
    step("👍  Starting \"minikube\" primary control-plane node in \"minikube\" cluster");
    let container = matches!(driver.as_str(), "docker" | "podman");
    let machine = if container { "container" } else { "VM" };
    if state == "Running" {
        step(&format!("🏃  Updating the running {driver} \"minikube\" {machine} ..."));
    } else if existing {
        step(&format!("🔄  Restarting existing {driver} {machine} for \"minikube\" ..."));
    } else {
        if container {
            step("🚜  Pulling base image v0.0.48 ...");
            step(&format!("🔥  Creating {driver} {machine} (CPUs={cpus}, Memory={memory}MB) ..."));
        } else {
            step(&format!("🔥  Creating {driver} {machine} (CPUs={cpus}, Memory={memory}MB, Disk=20000MB) ..."));
        }
    }
    step(&format!("🐳  Preparing Kubernetes {kubernetes} on Docker 28.4.0 ..."));
    if !existing {
        step("    ▪ Generating certificates and keys ...");
        step("    ▪ Booting up control plane ...");
        step("    ▪ Configuring RBAC rules ...");
    }
    step("🔗  Configuring bridge CNI (Container Networking Interface) ...");
    control(env, "start");
    step("🔎  Verifying Kubernetes components...");
    step("    ▪ Using image gcr.io/k8s-minikube/storage-provisioner:v5");
    step("🌟  Enabled addons: storage-provisioner, default-storageclass");
    step("🏄  Done! kubectl is now configured to use \"minikube\" cluster and \"default\" namespace by default");
    0
}
