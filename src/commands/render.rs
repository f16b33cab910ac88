//! `render`: prints (or writes, one file per document) exactly what `setup` applies or installs, without a
//! cluster: today's Service names, the autoscaling API for `--kubernetes-version` (default 1.33), and with
//! `--interlok-config` the ConfigMap and the Deployment's mounts of it.

use std::path::Path;

use crate::cli::RenderArgs;
use crate::manifests::{self, Endpoints};
use crate::problem::Problem;
use crate::settings::Settings;
use crate::ui::Ui;
use crate::version::Version;

use super::{Exit, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

pub(crate) fn run(settings: &Settings, ui: &Ui, args: &RenderArgs) -> Exit {
    // the image and --interlok-config are checked as setup checks them: bad input renders nothing
    match crate::interlok_config::check_input(settings) {
        Ok(warnings) => warnings.iter().for_each(|w| ui.warn_stderr(w)),
        Err(problem) => {
            ui.problem(None, &problem);
            return EXIT_USAGE;
        }
    }
    match render(settings, ui, args) {
        Ok(written) => {
            for file in written {
                ui.line(&format!("wrote {file}"));
            }
            EXIT_OK
        }
        Err(problem) => {
            ui.problem(None, &problem);
            EXIT_FAILED
        }
    }
}

fn render(settings: &Settings, ui: &Ui, args: &RenderArgs) -> Result<Vec<String>, Problem> {
    let version = settings.kubernetes_version.as_deref().and_then(Version::parse).unwrap_or(Version::new(1, 33, 0));
    let docs = manifests::all(settings, &Endpoints::default(), version)?;
    let Some(dir) = &args.out else {
        for doc in &docs {
            ui.raw(&format!("---\n# file: {}\n{}", doc.file, doc.text.trim_end()));
        }
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir).map_err(|e| Problem::new(format!("cannot create {}: {e}", dir.display())))?;
    docs.iter().map(|doc| write_atomically(&dir.join(doc.file), &doc.text)).collect()
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<String, Problem> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Problem::new(format!("cannot write {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}
