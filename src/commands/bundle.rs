//! `bundle`: writes the support archive and prints what is in it.

use std::path::PathBuf;

use crate::bundle;
use crate::cli::BundleArgs;
use crate::context::Context;
use crate::settings::Settings;
use crate::ui::Ui;

use super::{Exit, EXIT_FAILED, EXIT_OK};

pub fn run(settings: Settings, ui: Ui, args: &BundleArgs) -> Exit {
    let runner = super::runner(&settings, &ui, false);
    let cx = Context::new(settings, runner, ui.clone());
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let path = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("interlok-k8s-bundle-{stamp}.tar.gz")));
    let secrets = bundle::secret_values(&cx);
    let files: Vec<(String, String)> =
        bundle::collect(&cx).into_iter().map(|(name, text)| (name, bundle::redact(&text, &secrets))).collect();
    match bundle::write(&path, &files) {
        Ok(names) => {
            ui.heading(&format!("wrote {} (secrets and tokens redacted):", path.display()));
            for name in names {
                ui.line(&format!("  {name}"));
            }
            EXIT_OK
        }
        Err(problem) => {
            ui.problem(Some("bundle"), &problem);
            EXIT_FAILED
        }
    }
}
