//! The lifeline every external command runs under: `interlok-k8s __supervise PROGRAM ARGS…` starts the
//! program, hands it the input the wizard sent (a length line, then the bytes), and then keeps reading its own
//! stdin. That pipe's other end is held by the wizard; when the wizard is done with the command, stops it (a
//! timeout, Ctrl-C), or dies — even by `kill -9` — the pipe closes and the supervisor ends the program's whole
//! process tree: its own process group on Unix (so a wrapper script's children go too), a job object on Windows.
//! So no port-forward, helm or kubectl, nor anything they started, outlives the wizard.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

pub const MARKER: &str = "__supervise";

/// Runs the supervisor; returns the program's exit code.
pub fn main(args: &[OsString]) -> i32 {
    let Some((program, rest)) = args.split_first() else { return 127 };
    let mut lifeline = BufReader::new(std::io::stdin());
    let input = read_input(&mut lifeline);
    let mut command = Command::new(program);
    command.args(rest).stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    tree::own_group(&mut command);
    let mut child = match spawn_when_not_busy(|| command.spawn()) {
        Ok(child) => child,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "could not run {}: {e}", program.to_string_lossy());
            return 127;
        }
    };
    let tree = tree::Tree::adopt(&child);
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // in a thread: a program that does not read its input must not keep us from watching the lifeline
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    // Two threads report to one channel: the program's exit (the moment it happens: a tool call's time is
    // mostly its start-up, and a poll would add to each) and the lifeline's end.
    let (tx, events) = std::sync::mpsc::channel();
    let pid = child.id();
    let exited = tx.clone();
    std::thread::spawn(move || {
        let code = child.wait().map_or(1, |status| status.code().unwrap_or(1));
        let _ = exited.send(Some(code));
    });
    std::thread::spawn(move || {
        // blocks until the wizard closes its end: then the program must go
        let mut rest = Vec::new();
        let _ = lifeline.read_to_end(&mut rest);
        let _ = tx.send(None);
    });
    match events.recv() {
        Ok(Some(code)) => code,
        _ => {
            // an exit reported meanwhile wins; otherwise the id still names the program (an id is reused only
            // after its process is reaped, and the waiter reports that at once)
            if let Ok(Some(code)) = events.try_recv() {
                return code;
            }
            tree.kill(pid);
            // reaped by its waiter once killed; a kill that did not take must not keep us here
            let _ = events.recv_timeout(std::time::Duration::from_secs(5));
            130
        }
    }
}

/// Starts a program, again a few times while Linux says it is busy (ETXTBSY): a file just written (a tool
/// just installed) is refused until every process that forked while it was open for writing has exec'd,
/// which takes a moment in a program that starts commands from several threads at once.
pub(crate) fn spawn_when_not_busy<T>(mut spawn: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let mut pause = std::time::Duration::from_millis(5);
    for _ in 0..5 {
        match spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => std::thread::sleep(pause),
            other => return other,
        }
        pause *= 2;
    }
    spawn()
}

/// The input header: `-` for none, else the byte count on its own line, then the bytes.
fn read_input(lifeline: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    lifeline.read_line(&mut line).ok()?;
    let length: usize = line.trim().parse().ok()?;
    let mut bytes = Vec::new();
    lifeline.take(length as u64).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The header and input the runner writes first.
pub(crate) fn frame(input: Option<&str>) -> Vec<u8> {
    match input {
        Some(text) => {
            let mut bytes = format!("{}\n", text.len()).into_bytes();
            bytes.extend_from_slice(text.as_bytes());
            bytes
        }
        None => b"-\n".to_vec(),
    }
}

/// A started program and everything it starts, ended together.
pub(crate) mod tree {
    use super::*;

    /// Starts the program as the leader of a new process group (Unix), so that the group is its whole tree
    /// and a Ctrl-C meant for the wizard does not reach it behind the wizard's back.
    pub(crate) fn own_group(command: &mut Command) {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        #[cfg(not(unix))]
        let _ = command;
    }

    /// The process tree of a child started with `own_group`.
    pub(crate) struct Tree {
        #[cfg(windows)]
        job: Option<win32job::Job>,
    }

    impl Tree {
        /// On Windows the child joins a job object that kills every process in it when closed (a process the
        /// child starts in the instant before it joins escapes; nothing safer exists without `unsafe`).
        pub(crate) fn adopt(child: &Child) -> Tree {
            #[cfg(windows)]
            {
                use std::os::windows::io::AsRawHandle;
                let job = win32job::Job::create().ok().filter(|job| {
                    let Ok(mut info) = job.query_extended_limit_info() else { return false };
                    info.limit_kill_on_job_close();
                    job.set_extended_limit_info(&info).is_ok()
                        && job.assign_process(child.as_raw_handle() as isize).is_ok()
                });
                Tree { job }
            }
            #[cfg(not(windows))]
            {
                let _ = child;
                Tree {}
            }
        }

        /// Kills the tree of the child with this id (started with `own_group`, not yet reaped), the child too.
        pub(crate) fn kill(self, pid: u32) {
            kill_group_of(pid);
            #[cfg(unix)]
            if let Ok(pid) = i32::try_from(pid) {
                // a child that left its group (setsid) still goes
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            #[cfg(windows)]
            if self.job.is_none() {
                // no job object to close: Windows' own tool ends the tree (not waited for: the caller waits, bounded,
                // for the program's exit)
                let system = std::env::var_os("SystemRoot").map(std::path::PathBuf::from);
                let taskkill = system.map_or("taskkill.exe".into(), |root| root.join(r"System32\taskkill.exe"));
                let _ = Command::new(taskkill)
                    .args(["/F", "/T", "/PID", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
            }
            #[cfg(windows)]
            drop(self.job);
        }
    }

    /// Kills the process group led by this process id.
    pub(crate) fn kill_group_of(pid: u32) {
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        #[cfg(not(unix))]
        let _ = pid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_program_still_open_for_writing_a_moment_longer_is_started_once_it_is_closed() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("just-installed");
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(&path).unwrap();
        file.write_all(b"#!/bin/sh\nexit 0\n").unwrap();
        let busy = Command::new(&path).spawn().map(|_| ()).unwrap_err();
        assert_eq!(busy.kind(), std::io::ErrorKind::ExecutableFileBusy, "Linux refuses it while it is open");
        let (closed_tx, closed) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            let _ = closed.recv_timeout(std::time::Duration::from_millis(20)); // the writer finishes a moment later
            drop(file);
        });
        let mut child = spawn_when_not_busy(|| Command::new(&path).spawn()).expect("started once it is closed");
        drop(closed_tx);
        writer.join().unwrap();
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn input_frames_round_trip() {
        let framed = frame(Some("a: 1\nb: 2\n"));
        assert_eq!(read_input(&mut BufReader::new(&framed[..])), Some(b"a: 1\nb: 2\n".to_vec()));
        assert_eq!(read_input(&mut BufReader::new(&frame(None)[..])), None);
        // a header promising more than arrives gives what arrived, never a huge allocation
        assert_eq!(read_input(&mut BufReader::new(&b"99999999999999\nab"[..])), Some(b"ab".to_vec()));
    }
}
