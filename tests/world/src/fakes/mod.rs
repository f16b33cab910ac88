//! The fake tools. Each prints the real tool's formats (TOOLS-FACTS.md), exits with its codes, rejects
//! unknown flags as the real one does, and logs every invocation with its parsed arguments.

mod flags;
mod minikube;
mod wrapper;

use std::path::PathBuf;

use crate::fakeconfig::{self, FakeConfig, Invocation};

/// Where the world keeps its files, and what it says about this machine.
pub struct Env {
    pub dir: PathBuf,
    pub config: FakeConfig,
}

impl Env {
    fn load() -> Option<Env> {
        let dir = PathBuf::from(std::env::var_os("TESTWORLD_DIR")?);
        let text = std::fs::read_to_string(fakeconfig::config_path(&dir)).ok()?;
        Some(Env { dir, config: serde_json::from_str(&text).ok()? })
    }

    pub fn log(&self, tool: &str, args: &[String], parsed: Vec<(String, String)>, fault: Option<String>) {
        let invocation =
            Invocation { tool: tool.into(), args: args.to_vec(), parsed: parsed.into_iter().collect(), fault };
        fakeconfig::append(&self.dir, &invocation);
    }
}

pub fn run(tool: &str, args: &[String]) -> i32 {
    let Some(env) = Env::load() else {
        eprintln!("{tool}: TESTWORLD_DIR is not set or its world.json is unreadable");
        return 127;
    };
    if let Some(code) = wrapper::inject_fault(&env, tool, args) {
        return code;
    }
    match tool {
        "kubectl" | "helm" if env.config.real.contains_key(tool) => wrapper::exec_real(&env, tool, args),
        "minikube" => minikube::run(&env, args),
        other => {
            env.log(other, args, Vec::new(), None);
            eprintln!("{other}: not faked by the test world");
            127
        }
    }
}
