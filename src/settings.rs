//! Settings, resolved once and validated up front: flags > `INTERLOK_K8S_*` environment > `--config` file >
//! defaults. Every later layer trusts what comes out of here, so a bad value is rejected before anything runs,
//! with an error that names it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::platform::{Platform, PlatformChoice};
use crate::problem::Problem;
use crate::ui::ColorChoice;

pub const DEFAULT_IMAGE: &str = "aaronmcgrathadpx/interlok-kubernetes-scaling:latest";
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "interlok-k8s");

/// The chart repositories the wizard installs from, by the alias it gives them.
pub const DEFAULT_CHART_REPOS: [(&str, &str); 3] = [
    ("prometheus-community", "https://prometheus-community.github.io/helm-charts"),
    ("grafana-community", "https://grafana-community.github.io/helm-charts"),
    // the archived, read-only stable repository: the only chart source on Helm 2
    ("stable", "https://charts.helm.sh/stable"),
];

/// Chart versions the wizard was tested with; `--chart-version NAME=VERSION` overrides.
pub const DEFAULT_CHART_VERSIONS: [(&str, &str); 3] =
    [("prometheus", "29.27.0"), ("prometheus-adapter", "5.3.0"), ("grafana", "12.11.1")];

#[derive(Debug, Clone)]
pub struct Settings {
    pub context: Option<String>,
    pub namespace: String,
    pub monitoring_namespace: String,
    pub verbose: bool,
    pub color: ColorChoice,
    pub command_timeout: std::time::Duration,
    pub platform: Platform,
    pub image: String,
    pub deployment: String,
    pub metric: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target_average: u64,
    pub driver: String,
    pub switch: String,
    pub adapter: Option<String>,
    pub kubernetes_version: Option<String>,
    pub cpus: u32,
    pub memory_mib: u32,
    pub chart_repos: BTreeMap<String, String>,
    pub chart_versions: BTreeMap<String, String>,
    pub grafana: bool,
    pub allow_helm2: bool,
    pub use_minikube_kubectl: bool,
    pub scrape_interval: std::time::Duration,
    pub relist_interval: std::time::Duration,
    pub wait_timeout: std::time::Duration,
    pub show_password: bool,
    /// setup: take over existing objects that lack the wizard's label, recording them as adopted.
    pub adopt: bool,
    /// teardown: also remove what was adopted.
    pub include_adopted: bool,
    /// teardown: find what to remove by the wizard's labels instead of the record.
    pub from_labels: bool,
}

/// The config file: keys are the long flag names; unknown keys are an error, not a silent no-op.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub monitoring_namespace: Option<String>,
    pub color: Option<ColorChoice>,
    pub command_timeout: Option<u64>,
    pub platform: Option<PlatformChoice>,
    pub image: Option<String>,
    pub deployment: Option<String>,
    pub metric: Option<String>,
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    pub target_average: Option<u64>,
    pub driver: Option<String>,
    pub switch: Option<String>,
    pub adapter: Option<String>,
    pub kubernetes_version: Option<String>,
    pub cpus: Option<u32>,
    pub memory: Option<u32>,
    pub chart_repos: Option<BTreeMap<String, String>>,
    pub chart_versions: Option<BTreeMap<String, String>>,
    pub grafana: Option<bool>,
    pub allow_helm2: Option<bool>,
    pub use_minikube_kubectl: Option<bool>,
    pub scrape_interval: Option<String>,
    pub relist_interval: Option<String>,
    pub wait_timeout: Option<String>,
}

pub const DRIVERS: [&str; 7] = ["auto", "hyperv", "docker", "kvm2", "podman", "hyperkit", "qemu"];

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> Result<Settings, Problem> {
        let file = match &args.config {
            Some(path) => load_config(path)?,
            None => ConfigFile::default(),
        };
        let stack = &args.stack;
        let settings = Settings {
            context: args.context.clone().or(file.context),
            namespace: pick(&args.namespace, file.namespace, "default"),
            monitoring_namespace: pick(&args.monitoring_namespace, file.monitoring_namespace, "monitoring"),
            verbose: args.verbose,
            color: args.color.or(file.color).unwrap_or(ColorChoice::Auto),
            command_timeout: std::time::Duration::from_secs(number(
                "command-timeout",
                &args.command_timeout,
                file.command_timeout,
                60,
            )?),
            platform: Platform::resolve(args.platform.or(file.platform).unwrap_or(PlatformChoice::Auto)),
            image: pick(&stack.image, file.image, DEFAULT_IMAGE),
            deployment: pick(&stack.deployment, file.deployment, "interlok"),
            metric: pick(&stack.metric, file.metric, "MessageMetrics"),
            min_replicas: number("min-replicas", &stack.min_replicas, file.min_replicas, 1)?,
            max_replicas: number("max-replicas", &stack.max_replicas, file.max_replicas, 5)?,
            target_average: number("target-average", &stack.target_average, file.target_average, 100)?,
            driver: pick(&stack.driver, file.driver, "auto"),
            switch: pick(&stack.switch, file.switch, "minikube"),
            adapter: stack.adapter.clone().or(file.adapter),
            kubernetes_version: stack.kubernetes_version.clone().or(file.kubernetes_version),
            cpus: number("cpus", &stack.cpus, file.cpus, 2)?,
            memory_mib: number("memory", &stack.memory, file.memory, 4096)?,
            chart_repos: merged_pairs("chart-repo", &DEFAULT_CHART_REPOS, file.chart_repos, &stack.chart_repo)?,
            chart_versions: merged_pairs(
                "chart-version",
                &DEFAULT_CHART_VERSIONS,
                file.chart_versions,
                &stack.chart_version,
            )?,
            grafana: stack.grafana || file.grafana.unwrap_or(false),
            allow_helm2: stack.allow_helm2 || file.allow_helm2.unwrap_or(false),
            use_minikube_kubectl: stack.use_minikube_kubectl || file.use_minikube_kubectl.unwrap_or(false),
            scrape_interval: duration(
                "scrape-interval",
                stack.scrape_interval.as_ref().or(file.scrape_interval.as_ref()),
                "15s",
            )?,
            relist_interval: duration(
                "relist-interval",
                stack.relist_interval.as_ref().or(file.relist_interval.as_ref()),
                "30s",
            )?,
            wait_timeout: duration("wait-timeout", args.wait_timeout.as_ref().or(file.wait_timeout.as_ref()), "10m")?,
            show_password: stack.show_password,
            // the flags come with the settings table (settings branch); until then these stay off
            adopt: false,
            include_adopted: false,
            from_labels: false,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), Problem> {
        dns_label("namespace", &self.namespace)?;
        dns_label("monitoring-namespace", &self.monitoring_namespace)?;
        dns_label("deployment", &self.deployment)?;
        if let Some(context) = &self.context {
            if context.trim().is_empty() || context.contains(['\n', '\r']) {
                return Err(bad("context", context, "a kube context name is one non-empty line"));
            }
        }
        metric_name(&self.metric)?;
        image_reference(&self.image)?;
        in_range("min-replicas", self.min_replicas.into(), 1, 1000)?;
        in_range("max-replicas", self.max_replicas.into(), 1, 1000)?;
        if self.min_replicas > self.max_replicas {
            return Err(Problem::new(format!(
                "--min-replicas {} is larger than --max-replicas {}",
                self.min_replicas, self.max_replicas
            ))
            .with_hint("make --min-replicas at most --max-replicas"));
        }
        in_range("target-average", self.target_average, 1, 1_000_000_000)?;
        in_range("command-timeout", self.command_timeout.as_secs(), 1, 3600)?;
        in_range("cpus", self.cpus.into(), 1, 256)?;
        in_range("memory", self.memory_mib.into(), 1024, 1_048_576)?;
        in_range("scrape-interval", self.scrape_interval.as_secs(), 1, 3600)?;
        in_range("relist-interval", self.relist_interval.as_secs(), 1, 3600)?;
        if self.relist_interval < self.scrape_interval {
            return Err(Problem::new(format!(
                "--relist-interval {}s is shorter than --scrape-interval {}s",
                self.relist_interval.as_secs(),
                self.scrape_interval.as_secs()
            ))
            .with_hint(
                "a relist shorter than the scrape interval makes metrics flicker in and out; make it at least as long",
            ));
        }
        in_range("wait-timeout", self.wait_timeout.as_secs(), 1, 24 * 3600)?;
        if !DRIVERS.contains(&self.driver.as_str()) {
            return Err(bad("driver", &self.driver, &format!("choose one of {}", DRIVERS.join(", "))));
        }
        one_line("switch", &self.switch)?;
        if let Some(adapter) = &self.adapter {
            one_line("adapter", adapter)?;
        }
        if let Some(version) = &self.kubernetes_version {
            if crate::version::Version::parse(version).is_none() {
                return Err(bad("kubernetes-version", version, "write a version like v1.33.1 or 1.33"));
            }
        }
        for (name, url) in &self.chart_repos {
            if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("oci://")) {
                return Err(bad(
                    "chart-repo",
                    &format!("{name}={url}"),
                    "the URL must start with http://, https:// or oci://",
                ));
            }
        }
        for name in self.chart_versions.keys() {
            if !DEFAULT_CHART_VERSIONS.iter().any(|(known, _)| known == name) {
                return Err(bad("chart-version", name, "charts are prometheus, prometheus-adapter and grafana"));
            }
        }
        Ok(())
    }

    /// The answers a user may change from the plan, as (key, current value); keys are flag names.
    pub fn answers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("namespace", self.namespace.clone()),
            ("monitoring-namespace", self.monitoring_namespace.clone()),
            ("image", self.image.clone()),
            ("metric", self.metric.clone()),
            ("min-replicas", self.min_replicas.to_string()),
            ("max-replicas", self.max_replicas.to_string()),
            ("target-average", self.target_average.to_string()),
            ("grafana", self.grafana.to_string()),
        ]
    }

    /// A copy with one answer changed, validated like the flag of the same name.
    pub fn with_answer(&self, key: &str, value: &str) -> Result<Settings, Problem> {
        let mut next = self.clone();
        let value = value.trim();
        let whole = |flag: &str| value.parse::<u32>().map_err(|_| bad(flag, value, "expected a whole number"));
        match key {
            "namespace" => next.namespace = value.to_string(),
            "monitoring-namespace" => next.monitoring_namespace = value.to_string(),
            "image" => next.image = value.to_string(),
            "metric" => next.metric = value.to_string(),
            "min-replicas" => next.min_replicas = whole(key)?,
            "max-replicas" => next.max_replicas = whole(key)?,
            "target-average" => next.target_average = whole(key)?.into(),
            "grafana" => next.grafana = value.parse().map_err(|_| bad(key, value, "expected true or false"))?,
            _ => return Err(Problem::new(format!("{key:?} is not an answer that can be changed"))),
        }
        next.validate()?;
        Ok(next)
    }

    /// Whether the wizard brings up minikube (no `--context`) or uses an existing cluster.
    pub fn uses_minikube(&self) -> bool {
        self.context.is_none()
    }
}

fn load_config(path: &Path) -> Result<ConfigFile, Problem> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problem::new(format!("cannot read the config file {}: {e}", path.display()))
            .with_hint("check the path given to --config (or INTERLOK_K8S_CONFIG)")
    })?;
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_yaml::from_str(&text).map_err(|e| {
        Problem::new(format!("the config file {} is not valid: {e}", path.display()))
            .with_hint("keys are the long flag names, e.g. `namespace: default` or `max-replicas: 5`")
    })
}

fn pick(flag: &Option<String>, file: Option<String>, default: &str) -> String {
    flag.clone().or(file).unwrap_or_else(|| default.to_string())
}

fn number<T>(flag: &str, given: &Option<String>, file: Option<T>, default: T) -> Result<T, Problem>
where
    T: std::str::FromStr,
{
    match given {
        Some(text) => text.trim().parse().map_err(|_| bad(flag, text, "expected a whole number")),
        None => Ok(file.unwrap_or(default)),
    }
}

/// Durations as `30s`, `2m`, `1h` or plain seconds.
fn duration(flag: &str, given: Option<&String>, default: &str) -> Result<std::time::Duration, Problem> {
    let text = given.map(String::as_str).unwrap_or(default).trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad(flag, text, "write a duration like 30s, 2m or 1h")),
    };
    let value: u64 = number.parse().map_err(|_| bad(flag, text, "write a duration like 30s, 2m or 1h"))?;
    Ok(std::time::Duration::from_secs(value.saturating_mul(factor)))
}

fn merged_pairs(
    flag: &str,
    defaults: &[(&str, &str)],
    file: Option<BTreeMap<String, String>>,
    given: &[String],
) -> Result<BTreeMap<String, String>, Problem> {
    let mut merged: BTreeMap<String, String> = defaults.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    merged.extend(file.unwrap_or_default());
    for pair in given {
        let (name, value) = pair.split_once('=').ok_or_else(|| bad(flag, pair, "write NAME=VALUE"))?;
        if name.is_empty() || value.is_empty() {
            return Err(bad(flag, pair, "write NAME=VALUE with neither part empty"));
        }
        merged.insert(name.to_string(), value.to_string());
    }
    Ok(merged)
}

fn bad(flag: &str, value: &str, why: &str) -> Problem {
    Problem::new(format!("invalid --{flag} {value:?}: {why}"))
        .with_hint(format!("fix --{flag} (or INTERLOK_K8S_{} / `{flag}:` in the config file)", env_name(flag)))
}

fn env_name(flag: &str) -> String {
    flag.to_ascii_uppercase().replace('-', "_")
}

/// Kubernetes names of namespaces, Services and Deployments must be DNS-1123 labels.
pub fn dns_label(flag: &str, value: &str) -> Result<(), Problem> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(bad(
            flag,
            value,
            "a Kubernetes name is 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit",
        ))
    }
}

fn metric_name(value: &str) -> Result<(), Problem> {
    let mut chars = value.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(bad(
            "metric",
            value,
            "a Prometheus metric name is letters, digits and '_' (Interlok removes dashes from the unique-id)",
        ))
    }
}

fn image_reference(value: &str) -> Result<(), Problem> {
    let valid = !value.is_empty()
        && !value.starts_with('-')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "./:_-@".contains(c));
    if valid {
        Ok(())
    } else {
        Err(bad("image", value, "an image reference is like registry/name:tag"))
    }
}

fn one_line(flag: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() || value.contains(['\n', '\r', '\0']) {
        Err(bad(flag, value, "expected one non-empty line"))
    } else {
        Ok(())
    }
}

fn in_range(flag: &str, value: u64, min: u64, max: u64) -> Result<(), Problem> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(bad(flag, &value.to_string(), &format!("expected a number from {min} to {max}")))
    }
}

/// The default place for the wizard's own files (the record of what setup created).
pub fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("APPDATA")
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME"))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("interlok-k8s"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{GlobalArgs, StackArgs};

    fn args(stack: StackArgs) -> GlobalArgs {
        GlobalArgs { stack, ..GlobalArgs::default() }
    }

    #[test]
    fn defaults_follow_the_guide() {
        let s = Settings::resolve(&GlobalArgs::default()).expect("defaults are valid");
        assert_eq!((s.min_replicas, s.max_replicas, s.target_average), (1, 5, 100));
        assert_eq!(s.namespace, "default");
        assert_eq!(s.monitoring_namespace, "monitoring");
        assert_eq!(s.metric, "MessageMetrics");
    }

    #[test]
    fn min_above_max_is_rejected_naming_both() {
        let stack = StackArgs { min_replicas: Some("6".into()), ..StackArgs::default() };
        let err = Settings::resolve(&args(stack)).expect_err("6 > 5");
        assert!(
            err.message.contains("--min-replicas 6") && err.message.contains("--max-replicas 5"),
            "{}",
            err.message
        );
    }

    #[test]
    fn names_must_be_dns_labels() {
        for bad_name in ["Default", "-x", "x-", "a_b", "", &"a".repeat(64)] {
            assert!(dns_label("namespace", bad_name).is_err(), "{bad_name:?}");
        }
        assert!(dns_label("namespace", "team-1").is_ok());
    }

    #[test]
    fn pairs_override_defaults_and_need_an_equals_sign() {
        let stack = StackArgs { chart_version: vec!["prometheus=25.0.0".into()], ..StackArgs::default() };
        let s = Settings::resolve(&args(stack)).expect("valid");
        assert_eq!(s.chart_versions["prometheus"], "25.0.0");
        assert_eq!(s.chart_versions["grafana"], "12.11.1");
        let stack = StackArgs { chart_repo: vec!["nourl".into()], ..StackArgs::default() };
        assert!(Settings::resolve(&args(stack)).is_err());
    }
}
