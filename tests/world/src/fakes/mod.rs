//! The fake tools. Each prints the real tool's formats (TOOLS-FACTS.md), exits with its codes, rejects
//! unknown flags as the real one does, and logs every invocation with its parsed arguments.

mod flags;
mod helm2;
mod minikube;
mod powershell;
mod wrapper;

use std::path::PathBuf;

use crate::fakeconfig::{self, FakeConfig, Invocation};

/// Where the world keeps its files, and what it says about this machine.
pub struct Env {
    pub dir: PathBuf,
    pub config: FakeConfig,
    /// The pause between this invocation's progress lines (a configured pace), and whether one was printed.
    pace: std::cell::Cell<(std::time::Duration, bool)>,
}

impl Env {
    fn load() -> Option<Env> {
        let dir = PathBuf::from(std::env::var_os("TESTWORLD_DIR")?);
        let text = std::fs::read_to_string(fakeconfig::config_path(&dir)).ok()?;
        let config = serde_json::from_str(&text).ok()?;
        Some(Env { dir, config, pace: Default::default() })
    }

    /// Prints one progress line as the real tool does (on stdout, at once), after the configured pause
    /// when it is not the first, and logs when it was printed.
    pub fn step(&self, tool: &str, line: &str) {
        use std::io::Write;
        let (every, started) = self.pace.get();
        if started {
            std::thread::sleep(every); // the emulated time of the real step
        }
        self.pace.set((every, true));
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        let at_millis =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        fakeconfig::append_printed(&self.dir, &fakeconfig::Printed { tool: tool.into(), line: line.into(), at_millis });
    }

    pub fn log(&self, tool: &str, args: &[String], parsed: Vec<(String, String)>, fault: Option<String>) {
        let invocation = Invocation {
            tool: tool.into(),
            program: std::env::args().next().unwrap_or_default(),
            args: args.to_vec(),
            parsed: parsed.into_iter().collect(),
            fault,
        };
        fakeconfig::append(&self.dir, &invocation);
    }
}

pub fn run(tool: &str, args: &[String]) -> i32 {
    let Some(env) = Env::load() else {
        eprintln!("{tool}: TESTWORLD_DIR is not set or its world.json is unreadable");
        return 127;
    };
    for latency in
        env.config.latencies.iter().filter(|l| l.tool == tool && l.args_contain.iter().all(|w| args.contains(w)))
    {
        // the emulated time this operation takes on a real machine
        std::thread::sleep(std::time::Duration::from_millis(latency.millis));
    }
    if let Some(pace) =
        env.config.paces.iter().find(|p| p.tool == tool && p.args_contain.iter().all(|w| args.contains(w)))
    {
        env.pace.set((std::time::Duration::from_millis(pace.every_millis), false));
    }
    if let Some(code) = wrapper::inject_fault(&env, tool, args) {
        return code;
    }
    let invoked_from_docker = std::env::args().next().is_some_and(|a| a.contains("/docker-bin/"));
    if tool == "kubectl" && invoked_from_docker {
        return old_kubectl(&env, args);
    }
    let code = match tool {
        "kubectl" | "helm" if env.config.real.contains_key(tool) => wrapper::exec_real(&env, tool, args),
        "helm" => helm2::run(&env, args),
        "minikube" => minikube::run(&env, args),
        "powershell" | "pwsh" => powershell::run(&env, tool, args),
        "choco" => choco(&env, args),
        other => {
            env.log(other, args, Vec::new(), None);
            eprintln!("{other}: not faked by the test world");
            127
        }
    };
    wrapper::hang_after(&env, tool, args, code)
}

/// chocolatey: `--version`, and `install <ids> -y`, which puts the tool on the world's PATH.
fn choco(env: &Env, args: &[String]) -> i32 {
    env.log("choco", args, Vec::new(), None);
    match args.first().map(String::as_str) {
        Some("--version") | Some("-v") => {
            println!("2.4.3");
            0
        }
        Some("install") => {
            let packages: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
            if env.config.windows.is_some() && !powershell::load_state(env).admin {
                // chocolatey installs machine-wide, under C:\ProgramData: that needs Administrator
                println!("Chocolatey v2.4.3\nChocolatey detected you are not running from an elevated command shell\n (cmd/powershell).");
                eprintln!("Access to the path 'C:\\ProgramData\\chocolatey\\lib-bad' is denied.");
                println!("Chocolatey installed 0/{} packages. {0} packages failed.", packages.len());
                return 1;
            }
            println!(
                "Chocolatey v2.4.3\nInstalling the following packages:\n{}",
                packages.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(";")
            );
            let fake = std::env::current_exe().expect("exe");
            for package in &packages {
                let tool = match package.as_str() {
                    "kubernetes-cli" => "kubectl",
                    "kubernetes-helm" => "helm",
                    other => other,
                };
                let link = env.dir.join("bin").join(tool);
                let _ = std::fs::remove_file(&link);
                if std::os::unix::fs::symlink(&fake, &link).is_err() {
                    eprintln!("Chocolatey installed 0/{} packages.", packages.len());
                    return 1;
                }
                println!("The install of {package} was successful.");
            }
            println!("Chocolatey installed {0}/{0} packages.", packages.len());
            0
        }
        _ => {
            eprintln!("Chocolatey v2.4.3\nCommand not recognized.");
            1
        }
    }
}

/// Docker Desktop's old kubectl: answers its client version; anything else it does is a bug in the caller.
fn old_kubectl(env: &Env, args: &[String]) -> i32 {
    env.log("kubectl", args, Vec::new(), None);
    let version = env.config.shadow_kubectl.clone().unwrap_or_else(|| "v1.14.8".into());
    let minor = version.trim_start_matches('v').split('.').nth(1).unwrap_or("14").to_string();
    if args.iter().any(|a| a == "--client") && args.iter().any(|a| a == "json") {
        println!("{{\n  \"clientVersion\": {{\n    \"major\": \"1\",\n    \"minor\": \"{minor}\",\n    \"gitVersion\": \"{version}\",\n    \"platform\": \"windows/amd64\"\n  }}\n}}");
        return 0;
    }
    eprintln!("error: the old Docker Desktop kubectl was used for: {}", args.join(" "));
    1
}
