//! Entry point: parse, dispatch, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(interlok_k8s::supervise::MARKER) {
        let code = interlok_k8s::supervise::main(&args[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = interlok_k8s::cli::Cli::parse();
    ExitCode::from(interlok_k8s::commands::dispatch(cli))
}
