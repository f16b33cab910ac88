//! The thin wrapper in front of real kubectl and helm: log the call, apply any configured fault, then run
//! the real binary with the same arguments, stdio and environment.

use std::process::Command;

use super::Env;
use crate::fakeconfig::Effect;

/// Applies the first matching fault; returns the exit code if the call should end here.
pub fn inject_fault(env: &Env, tool: &str, args: &[String]) -> Option<i32> {
    // PowerShell faults may name words of the (encoded) script, e.g. "New-VMSwitch"
    let script = super::powershell::script_of(args).unwrap_or_default();
    for (index, fault) in env.config.faults.iter().enumerate() {
        if fault.tool != tool || !fault.args_contain.iter().all(|w| args.contains(w) || script.contains(w.as_str())) {
            continue;
        }
        if let Some(first) = fault.first {
            let counter = env.dir.join(format!("fault-{index}.count"));
            let seen: u32 = std::fs::read_to_string(&counter).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            let _ = std::fs::write(&counter, (seen + 1).to_string());
            if seen >= first {
                continue;
            }
        }
        env.log(tool, args, Vec::new(), Some(format!("{:?}", fault.effect)));
        return Some(match &fault.effect {
            Effect::Exit { code, stderr } => {
                eprintln!("{stderr}");
                *code
            }
            Effect::Garbage => {
                println!("\u{1b}[31m%%% not what you expected {{{{ \u{0}garbage");
                0
            }
            Effect::Empty => 0,
            Effect::Hang => {
                let (_tx, rx) = std::sync::mpsc::channel::<()>();
                let _ = rx.recv(); // blocks until the caller's timeout kills us
                0
            }
        });
    }
    None
}

pub fn exec_real(env: &Env, tool: &str, args: &[String]) -> i32 {
    env.log(tool, args, Vec::new(), None);
    let real = &env.config.real[tool];
    match Command::new(real).args(args).status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!("{tool}: could not run {}: {e}", real.display());
            127
        }
    }
}
