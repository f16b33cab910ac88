//! `completions SHELL`: prints a completion script generated from the clap definition.
#![allow(clippy::print_stdout)]

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run(shell: clap_complete::Shell) -> u8 {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "interlok-k8s", &mut std::io::stdout());
    super::EXIT_OK
}
