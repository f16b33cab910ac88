//! Thin handlers, one per subcommand: they turn parsed arguments into settings and call the real logic.

pub(crate) mod bundle;
pub(crate) mod completions;
pub(crate) mod load;
pub(crate) mod render;
pub(crate) mod setup;
pub(crate) mod teardown;
pub(crate) mod verify;
pub(crate) mod watch;

use crate::cli::{Cli, Command};
use crate::settings::Settings;
use crate::ui::Ui;

/// The runner every command uses: its timeouts, dry-run, every process under the supervisor, and reads
/// through one `kubectl proxy`.
pub(crate) fn runner(settings: &Settings, ui: &Ui, dry_run: bool) -> crate::runner::Runner {
    crate::runner::Runner::new(ui.clone(), dry_run)
        .with_default_timeout(settings.command_timeout)
        .supervised()
        .through_api(std::sync::Arc::new(crate::api_proxy::Proxies::default()))
}

/// How a command ended; `main` turns it into the process's exit code (the only place codes are numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// A stage or check failed.
    Failed,
    /// Bad input: nothing was changed.
    Usage,
    /// Ctrl-C (or a cancelled prompt).
    Interrupted,
}

pub(crate) const EXIT_OK: Exit = Exit::Success;
pub(crate) const EXIT_FAILED: Exit = Exit::Failed;
pub(crate) const EXIT_USAGE: Exit = Exit::Usage;

pub fn dispatch(cli: Cli) -> Exit {
    crate::runner::interrupt_flag();
    let Some(command) = cli.command else {
        // No command is a request for orientation, not a mistake: like `kubectl` and `helm`, say where to
        // start and succeed; nothing was asked for, so nothing failed.
        Ui::new(crate::ui::ColorChoice::Auto, false, true).line(crate::cli::ORIENTATION);
        return EXIT_OK;
    };
    if let Command::Completions { shell } = &command {
        return completions::run(*shell);
    }
    let assume_yes = matches!(&command, Command::Setup(a) if a.yes);
    let selection = match &command {
        Command::Setup(args) => args.selection_conflict(),
        _ => None,
    };
    let settings = match Settings::resolve(&cli.flags).and_then(|s| selection.map_or(Ok(s), Err)) {
        Ok(settings) => settings,
        Err(problem) => {
            let ui = Ui::new(crate::settings::early_color(&cli.flags), false, true);
            ui.problem(None, &problem);
            return EXIT_USAGE;
        }
    };
    let ui = Ui::new(settings.color, settings.verbose, assume_yes);
    match command {
        Command::Setup(args) => setup::run(settings, ui, &args),
        Command::Verify(args) => verify::run(settings, ui, &args),
        Command::Load(args) => load::run(settings, ui, &args),
        Command::Watch(args) => watch::run(settings, ui, &args),
        Command::Demo => watch::demo(settings, ui),
        Command::Teardown(args) => teardown::run(settings, ui, &args),
        Command::Bundle(args) => bundle::run(settings, ui, &args),
        Command::Render(args) => render::run(&settings, &ui, &args),
        Command::Completions { .. } => unreachable!("handled above"),
    }
}
