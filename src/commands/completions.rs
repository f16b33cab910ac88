//! `completions SHELL`: prints a completion script generated from the clap definition.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::ui::Ui;

use super::Exit;

pub(crate) fn run(shell: clap_complete::Shell) -> Exit {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "interlok-k8s", &mut script);
    Ui::plain().raw(&String::from_utf8_lossy(&script));
    super::EXIT_OK
}
