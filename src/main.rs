//! Entry point: parse, dispatch, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = interlok_k8s::cli::Cli::parse();
    ExitCode::from(interlok_k8s::commands::dispatch(cli))
}
