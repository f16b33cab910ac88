//! The command line: each subcommand's own options (clap derive, below), plus the settings it reads, taken
//! from `settings::table` and grouped under headings, so `teardown --help` shows only what teardown uses.
//! Settings are passed on as typed and checked by `settings.rs`, the one place every value is checked; the
//! own options' value parsers use the same rules. Settings may come before the subcommand's name too
//! (`interlok-k8s --context prod setup`): they are read as that subcommand's, and refused if it does not read them.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::problem::Problem;
use crate::settings::rules::{self, Invalid};
use crate::settings::table::{self, Setting};
use crate::settings::Flags;

const AFTER_HELP: &str = "\
Examples:
  interlok-k8s setup                 walk through every stage, asking before it changes anything
  interlok-k8s setup --dry-run       show the plan and the exact commands, change nothing
  interlok-k8s --context prod setup  use an existing cluster instead of minikube
  interlok-k8s verify                find the first broken link from tools to the autoscaler

Each command's settings: interlok-k8s <COMMAND> --help. They may be written before or after the command.
Settings resolve as: flags > INTERLOK_K8S_* environment > --config file > defaults (docs/configuration.md).
Exit codes: 0 success, 1 a stage or check failed, 2 bad input (nothing was changed).";

/// What `interlok-k8s` alone prints: what the tool is for and where to start.
pub(crate) const ORIENTATION: &str = "\
interlok-k8s takes this machine to an Interlok that autoscales on its MessageMetrics, in minikube (or an
existing cluster with --context), and finds the first broken link when it does not.

Start with:
  interlok-k8s setup --dry-run   see the plan and the exact commands; nothing changes
  interlok-k8s setup             run it, asking before anything changes
  interlok-k8s verify            check the whole chain, tools to autoscaler
  interlok-k8s demo              prove it: 150 messages, then watch it scale to 2

Every command: interlok-k8s --help. One command's settings: interlok-k8s <COMMAND> --help.";

/// The command line as parsed: the subcommand with its own options, and the settings given as flags, as typed
/// (checked by `Settings::resolve`). `Cli::parse()` builds it; `Cli::command()` is the whole command line.
#[derive(Debug)]
pub struct Cli {
    /// `None` when no command was given: `dispatch` prints the orientation.
    pub(crate) command: Option<Command>,
    pub(crate) flags: Flags,
}

/// The derived part: the subcommands and their own options, without the settings.
#[derive(Debug, Parser)]
#[command(name = "interlok-k8s", version, about, after_help = AFTER_HELP, propagate_version = true)]
struct Own {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The subcommands with their own options only (tests compare it with the whole command line).
pub fn own_options() -> clap::Command {
    Own::command()
}

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        with_settings(Own::command())
    }

    fn command_for_update() -> clap::Command {
        with_settings(Own::command_for_update())
    }
}

impl FromArgMatches for Cli {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        let flags = given(matches)?;
        Ok(Cli { command: Own::from_arg_matches_mut(matches)?.command, flags })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Parser for Cli {}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Take this machine to an autoscaling Interlok, stage by stage
    #[command(
        after_help = "Examples:\n  interlok-k8s setup --yes\n  interlok-k8s setup --list\n  interlok-k8s setup --only prerequisites\n  interlok-k8s setup --from prometheus --dry-run"
    )]
    Setup(SetupArgs),
    /// Walk the chain from tools to the autoscaler and report the first broken link
    #[command(
        after_help = "Examples:\n  interlok-k8s verify\n  interlok-k8s verify --json\n  interlok-k8s verify --pre"
    )]
    Verify(VerifyArgs),
    /// Send messages to Interlok's inbox path, /in-box by default (replaces the JMeter plan of the 2019 Adaptris guide)
    #[command(
        after_help = "Examples:\n  interlok-k8s load -n 150\n  interlok-k8s load --url http://127.0.0.1:8080/in-box -n 1000 -c 4"
    )]
    Load(LoadArgs),
    /// Watch the autoscaler live: replicas, the metric against its target, pods, a sparkline
    #[command(after_help = "Examples:\n  interlok-k8s watch\n  interlok-k8s watch --until-replicas 2 --timeout 5m")]
    Watch(WatchArgs),
    /// Prove autoscaling: send the 150 messages of the 2019 Adaptris guide and follow them until the autoscaler wants 2 replicas
    #[command(after_help = "Examples:\n  interlok-k8s demo\n  interlok-k8s --namespace team-a demo")]
    Demo,
    /// Remove what setup created, and nothing else
    #[command(
        after_help = "Examples:\n  interlok-k8s teardown --dry-run\n  interlok-k8s teardown --yes --delete-cluster"
    )]
    Teardown(TeardownArgs),
    /// Write a support archive for a bug report (secrets and tokens redacted)
    #[command(after_help = "Examples:\n  interlok-k8s bundle\n  interlok-k8s bundle --out support.tar.gz")]
    Bundle(BundleArgs),
    /// Print (or write) exactly what setup would apply, without a cluster
    #[command(
        after_help = "Examples:\n  interlok-k8s render\n  interlok-k8s render --kubernetes-version 1.22 --out manifests/"
    )]
    Render(RenderArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  interlok-k8s completions bash > /etc/bash_completion.d/interlok-k8s\n  interlok-k8s completions powershell >> $PROFILE"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Default)]
pub(crate) struct SetupArgs {
    /// Answer every question with its default and do not ask to proceed
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Print the commands that would change something instead of running them
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// List the stages and exit
    #[arg(long)]
    pub(crate) list: bool,
    /// Start at this stage (earlier stages are not run)
    #[arg(long, value_name = "STAGE", value_parser = stage_name)]
    pub(crate) from: Option<String>,
    /// Run only these stages (comma-separated or repeated)
    #[arg(long, value_name = "STAGE", value_delimiter = ',', value_parser = stage_name)]
    pub(crate) only: Vec<String>,
    /// Skip these stages (comma-separated or repeated)
    #[arg(long, value_name = "STAGE", value_delimiter = ',', value_parser = stage_name)]
    pub(crate) skip: Vec<String>,
    /// After setup, prove autoscaling (what `interlok-k8s demo` does)
    #[arg(long)]
    pub(crate) demo: bool,
}

impl SetupArgs {
    /// Stage choices that contradict each other, refused by name before anything runs (whether each name is a
    /// stage is the engine's to say). Without this, `--skip X --only X` ran nothing and reported success.
    pub(crate) fn selection_conflict(&self) -> Option<Problem> {
        let list = |names: &[String]| names.iter().map(|n| rules::quote(n)).collect::<Vec<_>>().join(",");
        if let (Some(from), false) = (&self.from, self.only.is_empty()) {
            return Some(
                Problem::new(format!(
                    "--from {} and --only {} conflict: --only runs just the stages it names, so there is no start to choose",
                    rules::quote(from),
                    list(&self.only)
                ))
                .with_hint("keep one of them"),
            );
        }
        if !self.only.is_empty() && !self.skip.is_empty() {
            let both: Vec<String> = self.skip.iter().filter(|s| self.only.contains(s)).cloned().collect();
            let why = if both.is_empty() {
                "--only runs just the stages it names, so there is nothing to skip".to_string()
            } else {
                format!("{} would be both run and skipped", list(&both))
            };
            return Some(
                Problem::new(format!("--skip {} and --only {} conflict: {why}", list(&self.skip), list(&self.only)))
                    .with_hint("name the stages to run in --only and drop --skip"),
            );
        }
        if let Some(from) = self.from.as_ref().filter(|from| self.skip.contains(from)) {
            return Some(
                Problem::new(format!(
                    "--from {0} and --skip {0} conflict: setup would start at a stage it skips",
                    rules::quote(from)
                ))
                .with_hint("start --from the stage you want to run first"),
            );
        }
        None
    }
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Stop once the autoscaler wants at least this many replicas (1-1000)
    #[arg(long, value_name = "N", value_parser = replicas)]
    pub(crate) until_replicas: Option<u64>,
    /// Stop after this long, e.g. 5m (1s-24h)
    #[arg(long, value_name = "DURATION", value_parser = long_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Time between refreshes (1s-1h)
    #[arg(long, value_name = "DURATION", value_parser = short_duration, default_value = "2s")]
    pub(crate) interval: Duration,
}

#[derive(Debug, Args, Default)]
pub(crate) struct VerifyArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Run only the checks setup needs before it starts
    #[arg(long)]
    pub(crate) pre: bool,
    /// Re-run until healthy or this much time has passed, e.g. 2m (1s-24h)
    #[arg(long, value_name = "DURATION", value_parser = long_duration)]
    pub(crate) wait: Option<Duration>,
    /// Where verify itself reaches Prometheus, instead of through the cluster (the API server or a port-forward), e.g. http://127.0.0.1:9090 (not setup's --prometheus-url, which is what KEDA queries)
    #[arg(long, value_name = "URL", value_parser = url)]
    pub(crate) prometheus_url: Option<String>,
    /// Where verify itself reaches the Pushgateway, instead of through the cluster (the API server or a port-forward), e.g. http://127.0.0.1:9091
    #[arg(long, value_name = "URL", value_parser = url)]
    pub(crate) pushgateway_url: Option<String>,
}

#[derive(Debug, Args, Default)]
pub(crate) struct LoadArgs {
    /// Send exactly this many requests (1-1000000000; the 2019 Adaptris guide's JMeter plan sent 150)
    #[arg(short = 'n', long = "requests", value_name = "N", default_value = "150", value_parser = requests)]
    pub(crate) requests: u64,
    /// Run for this long instead of a count, e.g. 30s (1s-24h)
    #[arg(long, value_name = "DURATION", value_parser = long_duration, conflicts_with = "requests")]
    pub(crate) duration: Option<Duration>,
    /// The URL to send to (default: --inbox-path through a port-forward to the Interlok Service, closed afterwards)
    #[arg(long, value_name = "URL", value_parser = url)]
    pub(crate) url: Option<String>,
    /// HTTP method
    #[arg(long, default_value = "GET", value_parser = ["GET", "POST", "PUT"])]
    pub(crate) method: String,
    /// Request body
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub(crate) body: Option<String>,
    /// Request body from a file (a regular file of at most 64 MiB)
    #[arg(long, value_name = "FILE", value_parser = body_file)]
    pub(crate) body_file: Option<PathBuf>,
    /// Connections sending at once (1-1024)
    #[arg(short = 'c', long, value_name = "N", default_value = "1", value_parser = concurrency)]
    pub(crate) concurrency: u16,
    /// At most this many requests per second, across all connections (above 0, at most 1000000)
    #[arg(long, value_name = "PER_SECOND", value_parser = rate)]
    pub(crate) rate: Option<f64>,
    /// Per-request timeout, e.g. 10s (1s-1h)
    #[arg(long, value_name = "DURATION", value_parser = short_duration, default_value = "10s")]
    pub(crate) timeout: Duration,
    /// Print the summary as JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Show the live scaling view while the load runs
    #[arg(long, conflicts_with = "json")]
    pub(crate) watch: bool,
}

#[derive(Debug, Args, Default)]
pub(crate) struct TeardownArgs {
    /// Do not ask before removing
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Print what would be removed, remove nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also delete the minikube cluster
    #[arg(long)]
    pub(crate) delete_cluster: bool,
    /// Also remove the Hyper-V switch, if the wizard created it
    #[arg(long)]
    pub(crate) remove_switch: bool,
}

#[derive(Debug, Args, Default)]
pub(crate) struct BundleArgs {
    /// Where to write the archive [default: interlok-k8s-bundle-<time>.tar.gz]
    #[arg(long, value_name = "FILE", value_parser = archive_path)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub(crate) struct RenderArgs {
    /// Write one file per object into this directory instead of printing
    #[arg(long, value_name = "DIR", value_parser = directory_path)]
    pub(crate) out: Option<PathBuf>,
}

/// Each subcommand gets the settings it reads, under their headings; the top level takes every setting too,
/// hidden, so one written before the subcommand's name is read as the subcommand's (see `given`).
fn with_settings(own: clap::Command) -> clap::Command {
    let cli = table::COMMANDS.iter().fold(own, |cli, name| {
        cli.mut_subcommand(name, |sub| sub.args(table::SETTINGS.iter().filter(|s| s.reads(name)).map(setting_arg)))
    });
    cli.args(table::SETTINGS.iter().map(|s| setting_arg(s).hide(true)))
}

fn setting_arg(setting: &Setting) -> Arg {
    let mut help = setting.help.to_string();
    if let Some(default) = setting.default {
        help.push_str(&format!(" [default: {default}]"));
    }
    if let Some(var) = setting.env_var() {
        help.push_str(&format!(" [env: {var}]"));
    }
    let mut arg = Arg::new(setting.flag).long(setting.flag).help(help).hide(setting.hidden);
    arg = match (setting.value_name, setting.pairs) {
        (None, _) => arg.action(ArgAction::SetTrue),
        (Some(name), false) => arg.value_name(name).action(ArgAction::Set),
        (Some(name), true) => arg.value_name(name).action(ArgAction::Append),
    };
    if let Some(short) = setting.short {
        arg = arg.short(short);
    }
    if let Some(heading) = setting.heading {
        arg = arg.help_heading(heading);
    }
    arg
}

/// The settings given on the command line, as typed, before or after the subcommand's name. One written before
/// it must be one the subcommand reads, and given once (NAME=VALUE settings may repeat).
fn given(matches: &ArgMatches) -> Result<Flags, clap::Error> {
    let subcommand = matches.subcommand();
    let mut flags = Flags::default();
    for setting in table::SETTINGS {
        let before = values(matches, setting);
        let after = match subcommand {
            Some((name, sub)) if setting.reads(name) => values(sub, setting),
            _ => Vec::new(),
        };
        if !before.is_empty() {
            let refused = match subcommand {
                None => Some(format!("--{} is a setting, and no command was given to use it", setting.flag)),
                Some((name, _)) if !setting.reads(name) && has_own_option(name, setting.flag) => Some(format!(
                    "--{0} before `{name}` is the setting of that name, which `{name}` does not read; `{name}`'s own --{0} goes after it: interlok-k8s {name} --{0} …",
                    setting.flag
                )),
                Some((name, _)) if !setting.reads(name) => Some(format!(
                    "--{} is not a setting of `{name}`; `interlok-k8s {name} --help` lists the ones it reads",
                    setting.flag
                )),
                Some(_) if !after.is_empty() && !setting.pairs => {
                    Some(format!("--{} is given both before and after the command; give it once", setting.flag))
                }
                Some(_) => None,
            };
            if let Some(message) = refused {
                return Err(clap::Error::raw(ErrorKind::ArgumentConflict, message));
            }
        }
        for value in before.into_iter().chain(after) {
            flags.add(setting.flag, value);
        }
    }
    Ok(flags)
}

/// Whether a subcommand has an option of its own with this name (verify's `--prometheus-url`).
fn has_own_option(command: &str, long: &str) -> bool {
    Own::command().find_subcommand(command).is_some_and(|sub| sub.get_arguments().any(|a| a.get_long() == Some(long)))
}

/// A setting's values as typed on this level of the command line (an on/off flag given reads "true").
fn values(matches: &ArgMatches, setting: &Setting) -> Vec<String> {
    if matches.value_source(setting.flag) != Some(ValueSource::CommandLine) {
        return Vec::new();
    }
    match setting.value_name {
        None => vec!["true".to_string()],
        Some(_) => matches.get_many::<String>(setting.flag).into_iter().flatten().cloned().collect(),
    }
}

// Value parsers of the subcommands' own options: the rules of `settings::rules`, in clap's error shape.

fn clap_rule<T>(result: Result<T, Invalid>) -> Result<T, String> {
    result.map_err(|invalid| format!("{}; {}", invalid.why, invalid.fix))
}

fn long_duration(text: &str) -> Result<Duration, String> {
    clap_rule(rules::duration(text, Duration::from_secs(1), Duration::from_secs(24 * 3600)))
}

fn short_duration(text: &str) -> Result<Duration, String> {
    clap_rule(rules::duration(text, Duration::from_secs(1), Duration::from_secs(3600)))
}

fn url(text: &str) -> Result<String, String> {
    clap_rule(rules::http_url(text))
}

fn replicas(text: &str) -> Result<u64, String> {
    clap_rule(rules::number(text, 1, 1000))
}

fn requests(text: &str) -> Result<u64, String> {
    clap_rule(rules::number(text, 1, 1_000_000_000))
}

fn concurrency(text: &str) -> Result<u16, String> {
    clap_rule(rules::number(text, 1, 1024).map(|n| n as u16))
}

fn rate(text: &str) -> Result<f64, String> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match text.parse::<f64>() {
        Ok(rate) if plain && rate > 0.0 && !crate::load::representable_rate(rate) => Err(
            "at this rate one request would wait longer than the clock can count; write a rate like 0.5 (a request every 2s)".into(),
        ),
        Ok(rate) if plain && rate > 0.0 && rate <= 1_000_000.0 => Ok(rate),
        _ => {
            Err("it is not a number of requests per second; write a number above 0 and at most 1000000, e.g. 20 or 0.5"
                .into())
        }
    }
}

fn body_file(text: &str) -> Result<PathBuf, String> {
    clap_rule(rules::readable_file(std::path::Path::new(text), rules::BODY_FILE_MAX))
}

fn stage_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty() && text.len() <= 63 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(text.to_string())
    } else {
        Err("it is not a stage name; `interlok-k8s setup --list` lists them".into())
    }
}

/// Where an archive is written: a new or regular file, never a directory or a device.
fn archive_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match std::fs::metadata(&path) {
        _ if text.is_empty() => Err("it is empty; give a file name".into()),
        Ok(m) if !m.is_file() => Err("it exists and is not a regular file; give a new file name".into()),
        _ => Ok(path),
    }
}

/// Where rendered files go: a directory, new or existing.
fn directory_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match std::fs::metadata(&path) {
        _ if text.is_empty() => Err("it is empty; give a directory".into()),
        Ok(m) if !m.is_dir() => Err("it exists and is not a directory; give a directory".into()),
        _ => Ok(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from([&["interlok-k8s"][..], args].concat())
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn settings_are_collected_as_typed_wherever_they_are_written() {
        let before = parse(&["--namespace", "Team", "--grafana", "setup", "--yes"]).unwrap();
        let after = parse(&["setup", "--yes", "--namespace", "Team", "--grafana"]).unwrap();
        assert_eq!(before.flags, after.flags);
        assert_eq!(before.flags.get("namespace"), ["Team"]);
        assert_eq!(before.flags.get("grafana"), ["true"]);
        assert!(matches!(before.command, Some(Command::Setup(SetupArgs { yes: true, .. }))));
        let split = parse(&["--namespace", "setup", "verify", "--metric", "m"]).unwrap();
        assert_eq!(
            (split.flags.get("namespace"), matches!(split.command, Some(Command::Verify(_)))),
            (&["setup".to_string()][..], true)
        );
        let pairs = parse(&["--chart-version", "a=1", "setup", "--chart-version=b=2"]).unwrap();
        assert_eq!(pairs.flags.get("chart-version"), ["a=1", "b=2"]);
        assert!(parse(&[]).unwrap().command.is_none());
    }

    #[test]
    fn a_setting_is_refused_where_it_is_not_read_or_given_twice() {
        for args in [
            &["teardown", "--target-average", "5"][..],
            &["--cpus", "4", "load"],
            &["render", "--context", "c"],
            &["--context", "c", "render"],
            &["--namespace", "x", "completions", "bash"],
            &["--namespace", "x"],
            &["--namespace", "a", "setup", "--namespace", "b"],
            &["--grafana", "setup", "--grafana"],
        ] {
            let error = parse(args).expect_err("refused");
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        let error = parse(&["--cpus", "4", "teardown"]).expect_err("refused").to_string();
        assert!(error.contains("--cpus is not a setting of `teardown`"), "{error}");
        let error = parse(&["--prometheus-url", "http://p:9090", "verify"]).expect_err("refused").to_string();
        assert!(error.contains("`verify`'s own --prometheus-url goes after it"), "{error}");
        let own = parse(&["verify", "--prometheus-url", "http://p:9090"]).unwrap();
        assert!(own.flags.get("prometheus-url").is_empty(), "verify's own option is not the setting");
    }

    #[test]
    fn conflicting_stage_selections_are_named() {
        let setup = |args: &[&str]| match parse(&[&["setup"][..], args].concat()).unwrap().command {
            Some(Command::Setup(args)) => args,
            _ => unreachable!(),
        };
        let conflict = |args: &[&str]| setup(args).selection_conflict().map(|p| p.message).unwrap_or_default();
        assert!(conflict(&["--skip", "helm", "--only", "helm"]).contains("\"helm\" would be both run and skipped"));
        assert!(conflict(&["--from", "helm", "--only", "grafana"]).contains("--from \"helm\" and --only \"grafana\""));
        assert!(conflict(&["--only", "helm", "--skip", "grafana"]).contains("nothing to skip"));
        assert!(conflict(&["--from", "helm", "--skip", "helm"]).contains("start at a stage it skips"));
        for fine in [&["--from", "helm", "--skip", "grafana"][..], &["--only", "helm,grafana"], &["--skip", "grafana"]]
        {
            assert!(setup(fine).selection_conflict().is_none(), "{fine:?}");
        }
        assert!(parse(&["setup", "--only", "helm,,grafana"]).is_err(), "an empty stage name");
    }
}
