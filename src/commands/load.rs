//! `load`: the guide's JMeter step as one command. Exit 0 when every request got a 2xx, 1 when some did
//! not (or none was answered, or the run could not go on), 130 when interrupted (after printing the partial
//! summary).

use std::sync::atomic::Ordering;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::LoadArgs;
use crate::context::Context;
use crate::load::{self, Plan, Target};
use crate::problem::Problem;
use crate::settings::Settings;
use crate::ui::Ui;

use super::{Exit, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

pub(crate) fn run(settings: Settings, ui: Ui, args: &LoadArgs) -> Exit {
    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(file)) => match read_body(file) {
            Ok(bytes) => bytes,
            Err(problem) => {
                ui.problem(None, &problem);
                return EXIT_USAGE;
            }
        },
        (None, None) => Vec::new(),
    };
    let runner = super::runner(&settings, &ui, false);
    let cx = Context::new(settings, runner, ui.clone());
    // Without --url the port-forward lives as long as the run, and is closed on every way out.
    let (url, _forward) = match &args.url {
        Some(url) => (url.clone(), None),
        None => match crate::cluster::interlok::forward(&cx) {
            Ok(forward) => (forward.url(&cx.settings.inbox_path), Some(forward)),
            Err(problem) => {
                ui.problem(None, &problem);
                return EXIT_FAILED;
            }
        },
    };
    let target = match Target::parse(&url, &args.method, body) {
        Ok(t) => t,
        Err(why) => {
            ui.problem(None, &Problem::new(why).with_hint("pass --url http://HOST:PORT/in-box"));
            return EXIT_USAGE;
        }
    };
    let plan = Plan {
        target,
        requests: args.requests,
        duration: args.duration,
        concurrency: args.concurrency.into(),
        rate: args.rate,
        timeout: args.timeout,
    };
    let stop = load::ctrl_c_flag();
    let bar = if args.watch { None } else { progress_bar(&ui, args) };
    let summary = if args.watch {
        // the view refreshes while the load runs on its own threads, and once more after
        let finished = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let sender = scope.spawn(|| {
                let summary = load::run(&plan, &stop, &|_| {});
                finished.store(true, Ordering::SeqCst);
                summary
            });
            let until =
                crate::watch::Until { replicas: None, timeout: None, interval: std::time::Duration::from_secs(2) };
            crate::watch::watch(&cx, until, &|| !finished.load(Ordering::SeqCst));
            sender.join().expect("load thread")
        })
    } else {
        load::run(&plan, &stop, &|done| {
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        })
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let interrupted = stop.load(Ordering::SeqCst);
    if args.json {
        ui.raw(&serde_json::to_string_pretty(&summary.to_json(interrupted)).expect("json"));
    } else {
        if interrupted {
            ui.warn("interrupted: a partial summary");
        }
        for line in summary.lines() {
            ui.line(&line);
        }
    }
    if let Some(why) = &summary.aborted {
        let hint = format!(
            "lower --concurrency (now {}), or raise the limit (`ulimit -n 4096` in this shell), and run this again",
            args.concurrency
        );
        ui.problem(Some("load"), &Problem::new(why.clone()).with_hint(hint));
    }
    match (interrupted, summary.failed()) {
        (true, _) => Exit::Interrupted,
        // every request sent was answered 2xx (or was still in flight when the time was up), and some were
        (false, 0) if summary.aborted.is_none() && summary.ok() > 0 => EXIT_OK,
        _ => EXIT_FAILED,
    }
}

/// The most `--body-file` may hold: the body goes with every request.
const MAX_BODY: u64 = crate::settings::rules::BODY_FILE_MAX;

/// Reads `--body-file` (checked when the arguments were read), never more than `MAX_BODY` of it even if it
/// grew since.
fn read_body(file: &std::path::Path) -> Result<Vec<u8>, Problem> {
    use std::io::Read;
    let cannot = |e: std::io::Error| Problem::new(format!("cannot read --body-file {}: {e}", file.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(file).and_then(|f| f.take(MAX_BODY + 1).read_to_end(&mut bytes)).map_err(cannot)?;
    if bytes.len() as u64 > MAX_BODY {
        return Err(Problem::new(format!(
            "--body-file {} holds more than {} MiB, and load sends the body with every request",
            file.display(),
            MAX_BODY >> 20
        ))
        .with_hint("use a smaller file (a typical message is a few KiB)"));
    }
    Ok(bytes)
}

fn progress_bar(ui: &Ui, args: &LoadArgs) -> Option<ProgressBar> {
    if !ui.is_terminal() || args.json {
        return None;
    }
    let bar = match args.duration {
        Some(_) => ProgressBar::new_spinner(),
        None => ProgressBar::new(args.requests),
    };
    bar.set_style(
        ProgressStyle::with_template("  {bar:40} {pos}/{len} requests, {per_sec} ({elapsed})").expect("template"),
    );
    Some(bar)
}
