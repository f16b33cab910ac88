//! The lifeline every external command runs under: `interlok-k8s __supervise PROGRAM ARGS…` starts the
//! program, hands it the input the wizard sent (a length line, then the bytes), and then keeps reading its own
//! stdin. That pipe's other end is held by the wizard; when the wizard is done with the command, stops it (a
//! timeout, Ctrl-C), or dies — even by `kill -9` — the pipe closes and the supervisor kills the program. So no
//! port-forward, helm or kubectl ever outlives the wizard, on any platform, without signals or `unsafe`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

pub const MARKER: &str = "__supervise";

/// Runs the supervisor; returns the program's exit code.
pub fn main(args: &[String]) -> i32 {
    let Some((program, rest)) = args.split_first() else { return 127 };
    let mut lifeline = BufReader::new(std::io::stdin());
    let input = read_input(&mut lifeline);
    let mut child = match Command::new(program)
        .args(rest)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "could not run {program}: {e}");
            return 127;
        }
    };
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(&bytes);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // blocks until the wizard closes its end: then the program must go
        let mut rest = Vec::new();
        let _ = lifeline.read_to_end(&mut rest);
        let _ = tx.send(());
    });
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code().unwrap_or(1),
            Ok(None) => {}
            Err(_) => return 1,
        }
        if rx.recv_timeout(std::time::Duration::from_millis(50)).is_ok() {
            let _ = child.kill();
            let _ = child.wait();
            return 130;
        }
    }
}

/// The input header: `-` for none, else the byte count on its own line, then the bytes.
fn read_input(lifeline: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    lifeline.read_line(&mut line).ok()?;
    let length: usize = line.trim().parse().ok()?;
    let mut bytes = vec![0; length];
    lifeline.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

/// The header and input the runner writes first.
pub fn frame(input: Option<&str>) -> Vec<u8> {
    match input {
        Some(text) => {
            let mut bytes = format!("{}\n", text.len()).into_bytes();
            bytes.extend_from_slice(text.as_bytes());
            bytes
        }
        None => b"-\n".to_vec(),
    }
}
