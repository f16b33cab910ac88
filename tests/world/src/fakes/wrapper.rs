//! The thin wrapper in front of real kubectl and helm: log the call, apply any configured fault, then run
//! the real binary with the same arguments, stdio and environment.

use std::process::Command;

use super::Env;
use crate::fakeconfig::Effect;

/// The first matching fault's effect, counted (a fault limited to the first N calls stops matching after).
fn matching_fault(env: &Env, tool: &str, args: &[String]) -> Option<Effect> {
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
        return Some(fault.effect.clone());
    }
    None
}

/// Applies the first matching fault; returns the exit code if the call should end here. `HangAfter` is left
/// to `hang_after`, once the call has done its work.
pub fn inject_fault(env: &Env, tool: &str, args: &[String]) -> Option<i32> {
    let effect = matching_fault(env, tool, args)?;
    if matches!(effect, Effect::HangAfter) {
        HANG_AFTER.store(true, std::sync::atomic::Ordering::SeqCst);
        return None;
    }
    env.log(tool, args, Vec::new(), Some(format!("{effect:?}")));
    Some(match &effect {
        Effect::Exit { code, stderr } => {
            eprintln!("{stderr}");
            *code
        }
        Effect::Garbage => {
            println!("\u{1b}[31m%%% not what you expected {{{{ \u{0}garbage");
            0
        }
        Effect::Empty => 0,
        Effect::Hang | Effect::HangAfter => hang(),
    })
}

static HANG_AFTER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// After a call did its work: hangs (logging that it does) when a `HangAfter` fault matched it.
pub fn hang_after(env: &Env, tool: &str, args: &[String], code: i32) -> i32 {
    if !HANG_AFTER.load(std::sync::atomic::Ordering::SeqCst) {
        return code;
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    env.log(tool, args, Vec::new(), Some(format!("{:?} (the work is done, exit code {code})", Effect::HangAfter)));
    hang()
}

fn hang() -> i32 {
    let (_tx, rx) = std::sync::mpsc::channel::<()>();
    let _ = rx.recv(); // blocks until the caller's timeout (or the user) stops us
    0
}

/// Runs the real binary in this process's place (so stopping this process stops the real tool, as when the
/// wizard runs the real one), or as a child when a `HangAfter` fault must hang once it is done.
pub fn exec_real(env: &Env, tool: &str, args: &[String]) -> i32 {
    env.log(tool, args, Vec::new(), None);
    let real = &env.config.real[tool];
    if !HANG_AFTER.load(std::sync::atomic::Ordering::SeqCst) {
        use std::os::unix::process::CommandExt;
        let error = Command::new(real).args(args).exec();
        eprintln!("{tool}: could not run {}: {error}", real.display());
        return 127;
    }
    match Command::new(real).args(args).status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!("{tool}: could not run {}: {e}", real.display());
            127
        }
    }
}
