//! Entry point: parse, dispatch, map the result to an exit code.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use interlok_k8s::commands::Exit;

fn main() -> ExitCode {
    // arguments as the OS gives them: one that is not UTF-8 is a clear usage error (exit 2), never a panic
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == interlok_k8s::supervise::MARKER) {
        let code = interlok_k8s::supervise::main(&args[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    match interlok_k8s::cli::Cli::try_parse_from(&args) {
        Ok(cli) => ExitCode::from(code(interlok_k8s::commands::dispatch(cli))),
        Err(error) if error.kind() == clap::error::ErrorKind::InvalidUtf8 => {
            // clap does not say which one: name it, as the user would recognise it
            let bad = args.iter().skip(1).find(|a| a.to_str().is_none()).map(|a| a.to_string_lossy().into_owned());
            let _ = writeln!(
                std::io::stderr(),
                "error: the argument '{}' is not valid UTF-8 (\u{FFFD} marks the bytes that are not)\n\nEvery name, URL and path interlok-k8s reads is UTF-8 text: type it again, or rename the file. For more information, try '--help'.",
                bad.unwrap_or_default()
            );
            ExitCode::from(code(Exit::Usage))
        }
        Err(error) => {
            // --help and --version end here too, with exit 0
            let _ = error.print();
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
        }
    }
}

/// The documented exit codes (README, `--help`).
fn code(exit: Exit) -> u8 {
    match exit {
        Exit::Success => 0,
        Exit::Failed => 1,
        Exit::Usage => 2,
        Exit::Interrupted => 130,
    }
}
