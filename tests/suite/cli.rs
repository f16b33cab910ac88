//! The command line as users meet it: each subcommand's help shows only the settings it reads, shared settings
//! work before or after the subcommand, no arguments orient, and docs/configuration.md documents every setting.

use std::collections::BTreeSet;

use clap::CommandFactory;
use interlok_k8s::settings::table::{self, SETTINGS};

use crate::support::PRODUCT;

fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(PRODUCT).args(args).env_remove("INTERLOK_K8S_CONFIG").output().expect("run")
}

fn longs(command: &clap::Command) -> BTreeSet<String> {
    command
        .get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// The options a help text lists: clap starts an option line with `  -x, --name` or `      --name`; anything
/// indented further is a description (which may name other commands' flags).
fn listed(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|line| {
            let rest = match line.strip_prefix("      --") {
                Some(rest) => rest,
                None => line.strip_prefix("  -").filter(|l| l.get(1..5) == Some(", --"))?.get(5..)?,
            };
            Some(rest.split([' ', '=', '<']).next().unwrap_or_default().to_string())
        })
        .filter(|name| !matches!(name.as_str(), "help" | "version"))
        .collect()
}

/// Own options that share a setting's name but mean something else there: verify's `--prometheus-url` is where
/// verify itself reaches Prometheus; the setting is the URL KEDA queries (both helps say so).
const NAMESAKES: &[(&str, &str)] = &[("verify", "prometheus-url")];

#[test]
fn each_subcommand_shows_exactly_the_settings_it_reads() {
    let own = interlok_k8s::cli::own_options();
    let built = interlok_k8s::cli::Cli::command();
    let setting_flags: BTreeSet<&str> = SETTINGS.iter().map(|s| s.flag).collect();
    for sub in built.get_subcommands() {
        let name = sub.get_name();
        let own_options = own.find_subcommand(name).map(longs).unwrap_or_default();
        let misplaced: Vec<&String> = own_options
            .iter()
            .filter(|o| setting_flags.contains(o.as_str()) && !NAMESAKES.contains(&(name, o.as_str())))
            .collect();
        assert!(
            misplaced.is_empty(),
            "{name}: settings belong in settings::table, not in the subcommand: {misplaced:?}"
        );
        let reads: BTreeSet<String> = SETTINGS.iter().filter(|s| s.reads(name)).map(|s| s.flag.to_string()).collect();
        let expected: BTreeSet<String> = own_options.union(&reads).cloned().collect();
        assert_eq!(longs(sub), expected, "{name} exposes other options than its own and the settings it reads");
        for setting in SETTINGS.iter().filter(|s| s.reads(name)) {
            let arg = sub.get_arguments().find(|a| a.get_long() == Some(setting.flag)).expect("exposed");
            assert_eq!(arg.get_help_heading(), setting.heading, "{name} --{}: heading", setting.flag);
        }
        let hidden: BTreeSet<String> =
            SETTINGS.iter().filter(|s| s.reads(name) && s.hidden).map(|s| s.flag.to_string()).collect();
        let help = String::from_utf8_lossy(&run(&[name, "--help"]).stdout).into_owned();
        let shown: BTreeSet<String> = expected.difference(&hidden).cloned().collect();
        assert_eq!(listed(&help), shown, "`{name} --help` lists other options than those it reads:\n{help}");
    }
    let names: BTreeSet<&str> = built.get_subcommands().map(|s| s.get_name()).collect();
    for setting in SETTINGS {
        assert!(!setting.commands.is_empty(), "--{} is read by no subcommand", setting.flag);
        for command in setting.commands {
            assert!(names.contains(command) && *command != "completions", "--{}: {command}", setting.flag);
        }
    }
}

#[test]
fn teardown_and_load_help_list_only_their_own_settings() {
    let teardown = String::from_utf8_lossy(&run(&["teardown", "--help"]).stdout).into_owned();
    let options = listed(&teardown);
    for absent in
        ["target-average", "cpus", "scrape-interval", "image", "grafana", "chart-repo", "adopt", "wait-timeout"]
    {
        assert!(!options.contains(absent), "teardown --help lists --{absent}:\n{teardown}");
    }
    for present in ["context", "namespace", "include-adopted", "from-labels", "dry-run"] {
        assert!(options.contains(present), "teardown --help lacks --{present}:\n{teardown}");
    }
    assert!(teardown.contains("Shared settings:"), "{teardown}");
    let load = String::from_utf8_lossy(&run(&["load", "--help"]).stdout).into_owned();
    let options = listed(&load);
    for absent in ["target-average", "cpus", "image", "chart-version", "wait-timeout", "switch"] {
        assert!(!options.contains(absent), "load --help lists --{absent}:\n{load}");
    }
    for present in ["namespace", "deployment", "inbox-path", "requests"] {
        assert!(options.contains(present), "load --help lacks --{present}:\n{load}");
    }
    assert!(load.contains("Shared settings:"), "{load}");
}

#[test]
fn no_arguments_prints_a_short_orientation() {
    let output = run(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    for start in
        ["interlok-k8s setup --dry-run", "interlok-k8s setup ", "interlok-k8s verify", "interlok-k8s demo", "--help"]
    {
        assert!(stdout.contains(start), "{start} missing:\n{stdout}");
    }
    assert!(stdout.lines().count() <= 15, "an orientation, not a manual:\n{stdout}");
}

#[test]
fn help_says_which_guide_it_means() {
    let mut helps = vec![String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned()];
    for sub in interlok_k8s::cli::Cli::command().get_subcommands() {
        helps.push(String::from_utf8_lossy(&run(&[sub.get_name(), "--help"]).stdout).into_owned());
    }
    for help in helps {
        let text = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let guides = text.matches("guide").count();
        assert_eq!(text.matches("2019 Adaptris guide").count(), guides, "a guide without saying which:\n{help}");
    }
}

#[test]
fn shared_settings_work_before_and_after_the_subcommand() {
    let before = run(&["--namespace", "Bad", "teardown", "--yes"]);
    let after = run(&["teardown", "--yes", "--namespace", "Bad"]);
    assert_eq!(before.status.code(), Some(2));
    assert_eq!((before.status.code(), &before.stderr), (after.status.code(), &after.stderr));
    assert!(String::from_utf8_lossy(&before.stderr).contains("invalid --namespace \"Bad\""));
    let before = run(&["--grafana", "--scaler", "adapter", "render"]);
    let after = run(&["render", "--grafana", "--scaler", "adapter"]);
    assert_eq!(before.status.code(), Some(0), "{}", String::from_utf8_lossy(&before.stderr));
    assert_eq!(before.stdout, after.stdout);
    assert!(String::from_utf8_lossy(&before.stdout).contains("grafana"), "--grafana reached render");
    let listed = run(&["--context", "prod", "setup", "--list"]);
    assert_eq!(listed.status.code(), Some(0), "{}", String::from_utf8_lossy(&listed.stderr));
    let refused = run(&["--context", "prod", "render"]);
    assert_eq!(refused.status.code(), Some(2), "render reads no context");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--context"));
}

#[test]
fn the_configuration_doc_names_every_setting_with_its_variable_key_and_default() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md"))
        .expect("docs/configuration.md");
    let mut missing = Vec::new();
    for setting in SETTINGS {
        let row = docs.lines().find(|l| {
            l.starts_with(&format!("| `--{}", setting.flag))
                || l.starts_with(&format!("| `-{}`, `--{}", setting.short.unwrap_or('?'), setting.flag))
        });
        let Some(row) = row else {
            missing.push(format!("a row for --{}", setting.flag));
            continue;
        };
        let wanted = [
            setting.env_var().unwrap_or_else(|| "–".into()),
            setting.config_key.map_or_else(|| "–".into(), |k| format!("`{k}`")),
            setting.default.map_or_else(String::new, |d| format!("`{d}`")),
        ];
        for text in wanted.iter().filter(|t| !t.is_empty()) {
            if !row.contains(text.as_str()) {
                missing.push(format!("--{}: {text}", setting.flag));
            }
        }
    }
    let own = interlok_k8s::cli::own_options();
    for sub in own.get_subcommands() {
        for long in longs(sub) {
            if !docs.contains(&format!("--{long}")) {
                missing.push(format!("{} --{long}", sub.get_name()));
            }
        }
    }
    let variables: BTreeSet<String> = SETTINGS.iter().filter_map(table::Setting::env_var).collect();
    for word in docs.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')) {
        if word.starts_with("INTERLOK_K8S_") && word.len() > "INTERLOK_K8S_".len() && !variables.contains(word) {
            missing.push(format!("{word} is documented but no setting reads it"));
        }
    }
    assert!(missing.is_empty(), "docs/configuration.md is not true to the CLI: {missing:#?}");
}

/// issue #14: "`interlok-k8s render | (exec 0<&-)` panics with exit 101". The reader is gone before the
/// first line is written (no race with a pipe buffer that would take the output anyway): the tool ends
/// quietly, as `cat` or `kubectl` would, with every command that prints.
#[test]
fn a_reader_that_went_away_ends_the_tool_quietly() {
    for args in [&["render"][..], &["render", "--scaler", "keda"], &["--help"], &["setup", "--list"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = std::process::Command::new(PRODUCT)
            .args(args)
            .env_remove("INTERLOK_K8S_CONFIG")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
