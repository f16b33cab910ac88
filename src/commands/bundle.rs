//! `bundle`: writes the support archive and prints what is in it.

use std::path::PathBuf;

use crate::bundle;
use crate::cli::BundleArgs;
use crate::context::Context;
use crate::settings::Settings;
use crate::ui::Ui;

use super::{Exit, EXIT_FAILED, EXIT_OK};

pub(crate) fn run(settings: Settings, ui: Ui, args: &BundleArgs) -> Exit {
    let runner = super::runner(&settings, &ui, false);
    let cx = Context::new(settings, runner, ui.clone());
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let path = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("interlok-k8s-bundle-{stamp}.tar.gz")));
    let secrets = bundle::secret_values(&cx);
    let mut files: Vec<(String, String)> =
        bundle::collect(&cx).into_iter().map(|(name, text)| (name, bundle::redact(&text, &secrets.values))).collect();
    files.push(("REDACTION.txt".into(), secrets.note()));
    match bundle::write(&path, &files) {
        Ok(names) => {
            if secrets.complete() {
                ui.heading(&format!("wrote {} (Secret values, tokens and passwords redacted):", path.display()));
            } else {
                ui.heading(&format!("wrote {}:", path.display()));
            }
            for name in names {
                ui.line(&format!("  {name}"));
            }
            for what in &secrets.unchecked {
                ui.warn(&format!("not checked: {what}"));
            }
            if !secrets.complete() {
                ui.warn(&format!(
                    "Secret values that could not be read were redacted only where a pattern matches ({}); read REDACTION.txt and the files before you share them",
                    bundle::PATTERNS
                ));
            }
            EXIT_OK
        }
        Err(problem) => {
            ui.problem(Some("bundle"), &problem);
            EXIT_FAILED
        }
    }
}
