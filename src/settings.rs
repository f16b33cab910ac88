//! Settings, resolved once and validated up front: flags > `INTERLOK_K8S_*` environment > `--config` file >
//! defaults. Every value passes one rule (`rules.rs`) whatever its source, and a bad one is refused before
//! anything runs, quoting it as typed and saying where it came from. `table.rs` lists every setting once.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::platform::{Platform, PlatformChoice};
use crate::problem::Problem;
use crate::ui::ColorChoice;

pub(crate) const DEFAULT_IMAGE: &str = "aaronmcgrathadpx/interlok-kubernetes-scaling:latest";
pub(crate) const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "interlok-k8s");

/// The chart repositories the wizard installs from, by the alias it gives them.
const DEFAULT_CHART_REPOS: [(&str, &str); 4] = [
    ("prometheus-community", "https://prometheus-community.github.io/helm-charts"),
    ("grafana-community", "https://grafana-community.github.io/helm-charts"),
    // the archived, read-only stable repository: the only chart source on Helm 2
    ("stable", "https://charts.helm.sh/stable"),
    ("kedacore", "https://kedacore.github.io/charts"),
];

/// Chart versions the wizard was tested with; `--chart-version NAME=VERSION` overrides.
const DEFAULT_CHART_VERSIONS: [(&str, &str); 4] =
    [("prometheus", "29.27.0"), ("prometheus-adapter", "5.3.0"), ("grafana", "12.11.1"), ("keda", "2.20.2")];

const DRIVERS: [&str; 7] = ["auto", "hyperv", "docker", "kvm2", "podman", "hyperkit", "qemu"];

pub(crate) mod rules;
pub mod table;

use rules::{quote, Invalid};

/// What scales Interlok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scaler {
    /// prometheus-adapter serves the metric to a HorizontalPodAutoscaler.
    Adapter,
    /// A KEDA ScaledObject with a Prometheus trigger.
    Keda,
}

impl std::fmt::Display for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scaler::Adapter => "adapter",
            Scaler::Keda => "keda",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) context: Option<String>,
    pub(crate) namespace: String,
    pub(crate) monitoring_namespace: String,
    pub(crate) verbose: bool,
    pub(crate) color: ColorChoice,
    pub(crate) command_timeout: Duration,
    pub(crate) platform: Platform,
    pub(crate) image: String,
    pub(crate) deployment: String,
    pub(crate) metric: String,
    pub(crate) min_replicas: u32,
    pub(crate) max_replicas: u32,
    pub(crate) target_average: u64,
    pub(crate) driver: String,
    pub(crate) switch: String,
    pub(crate) adapter: Option<String>,
    pub(crate) kubernetes_version: Option<String>,
    pub(crate) cpus: u32,
    pub(crate) memory_mib: u32,
    pub(crate) chart_repos: BTreeMap<String, String>,
    pub(crate) chart_versions: BTreeMap<String, String>,
    pub(crate) grafana: bool,
    pub(crate) allow_helm2: bool,
    pub(crate) use_minikube_kubectl: bool,
    pub(crate) scrape_interval: Duration,
    pub(crate) relist_interval: Duration,
    pub(crate) wait_timeout: Duration,
    pub(crate) show_password: bool,
    /// The Interlok configuration to run (a folder with adapter.xml, or one adapter.xml); `None`: the image's.
    pub(crate) interlok_config: Option<PathBuf>,
    /// The HTTP path Interlok receives messages on.
    pub(crate) inbox_path: String,
    pub(crate) scaler: Scaler,
    /// Whether the scaler was given (flag, environment, config file): otherwise the interactive wizard asks.
    pub(crate) scaler_given: bool,
    pub(crate) keda_namespace: String,
    /// The Prometheus KEDA's trigger queries, from inside the cluster; `None`: the one setup installs.
    pub(crate) prometheus_url: Option<String>,
    /// setup: take over existing objects that lack the wizard's label, recording them as adopted.
    pub(crate) adopt: bool,
    /// teardown: also remove what was adopted.
    pub(crate) include_adopted: bool,
    /// teardown: find what to remove by the wizard's labels instead of the record.
    pub(crate) from_labels: bool,
}

/// The settings given as flags, as typed, by flag name (an on/off flag that was given holds "true").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags(BTreeMap<String, Vec<String>>);

impl Flags {
    pub(crate) fn add(&mut self, flag: &str, value: impl Into<String>) {
        self.0.entry(flag.to_string()).or_default().push(value.into());
    }

    pub(crate) fn get(&self, flag: &str) -> &[String] {
        self.0.get(flag).map_or(&[], Vec::as_slice)
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Flags {
    fn from(pairs: [(&str, &str); N]) -> Self {
        let mut flags = Flags::default();
        for (flag, value) in pairs {
            flags.add(flag, value);
        }
        flags
    }
}

/// Where a value came from, so a message can quote it as the user wrote it and say where to change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Flag,
    Env(String),
    Config { file: PathBuf, key: String },
    Answer,
    Default,
}

/// A value as typed, with its source.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) flag: &'static str,
    pub(crate) text: String,
    pub(crate) source: Source,
}

impl Raw {
    /// The value as the user wrote it, where they wrote it.
    pub(crate) fn label(&self) -> String {
        let value = quote(&rules::mask_credentials(&self.text));
        match &self.source {
            Source::Flag => format!("--{} {value}", self.flag),
            Source::Env(var) => format!("{var}={value}"),
            Source::Config { file, key } => format!("`{key}: {value}` in the config file {}", file.display()),
            Source::Answer => format!("the answer {value} for {}", self.flag),
            Source::Default => format!("{} {value} (the default)", self.flag),
        }
    }

    fn where_to_change(&self) -> String {
        match &self.source {
            Source::Flag => format!("change --{}", self.flag),
            Source::Env(var) => format!("change or unset the environment variable {var}"),
            Source::Config { file, key } => format!("change `{key}:` in {}", file.display()),
            Source::Answer => "answer again".into(),
            Source::Default => "this default is a bug: please report it".into(),
        }
    }

    pub(crate) fn invalid(&self, invalid: Invalid) -> Problem {
        Problem::new(format!("invalid {}: {}", self.label(), invalid.why)).with_hint(format!(
            "{}; {}",
            invalid.fix,
            self.where_to_change()
        ))
    }
}

impl Settings {
    /// Resolves every setting from the flags given, the process environment and the config file.
    pub fn resolve(flags: &Flags) -> Result<Settings, Problem> {
        Settings::resolve_with(flags, &|name| std::env::var_os(name))
    }

    /// As `resolve`, with the environment given (tests pass their own).
    fn resolve_with(flags: &Flags, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Settings, Problem> {
        let layers = Layers::new(flags, env)?;
        let settings = layers.settings()?;
        settings.consistent(&|flag| layers.describe(flag))?;
        Ok(settings)
    }

    /// Every default, with no flags, environment or config file (the unit tests' starting point).
    #[cfg(test)]
    pub(crate) fn defaults() -> Settings {
        Settings::resolve_with(&Flags::default(), &|_| None).expect("the defaults pass their own rules")
    }

    /// The settings these flags give on top of the defaults, ignoring the environment (for tests and benches).
    pub fn from_flags<const N: usize>(flags: [(&str, &str); N]) -> Result<Settings, Problem> {
        Settings::resolve_with(&Flags::from(flags), &|_| None)
    }

    /// What no single value can show: pairs of settings that contradict each other.
    fn consistent(&self, describe: &dyn Fn(&'static str) -> String) -> Result<(), Problem> {
        if self.min_replicas > self.max_replicas {
            return Err(Problem::new(format!(
                "{} is larger than {}",
                describe("min-replicas"),
                describe("max-replicas")
            ))
            .with_hint("make min-replicas at most max-replicas"));
        }
        if self.relist_interval < self.scrape_interval {
            return Err(Problem::new(format!(
                "{} is shorter than {}",
                describe("relist-interval"),
                describe("scrape-interval")
            ))
            .with_hint(
                "a relist shorter than the scrape interval makes metrics flicker in and out; make it at least as long",
            ));
        }
        if self.prometheus_url.is_some() && self.scaler != Scaler::Keda {
            return Err(Problem::new(format!(
                "{} is the URL KEDA queries, but {} does not use KEDA",
                describe("prometheus-url"),
                describe("scaler")
            ))
            .with_hint(
                "add --scaler keda, or drop --prometheus-url (verify's own --prometheus-url goes after `verify`)",
            ));
        }
        Ok(())
    }

    /// The answers a user may change from the plan, as (key, current value); keys are flag names.
    pub(crate) fn answers(&self) -> Vec<(&'static str, String)> {
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

    /// A copy with one answer changed, by the same rule as the flag of the same name.
    pub(crate) fn with_answer(&self, key: &str, value: &str) -> Result<Settings, Problem> {
        let Some(setting) = table::setting(key).filter(|_| self.answers().iter().any(|(k, _)| *k == key)) else {
            return Err(Problem::new(format!("{key:?} is not an answer that can be changed")));
        };
        let raw = Raw { flag: setting.flag, text: value.trim().to_string(), source: Source::Answer };
        let text = raw.text.as_str();
        let check = |invalid: Invalid| raw.invalid(invalid);
        let mut next = self.clone();
        match setting.flag {
            "namespace" => next.namespace = rules::dns_label(text).map_err(check)?,
            "monitoring-namespace" => next.monitoring_namespace = rules::dns_label(text).map_err(check)?,
            "image" => next.image = rules::image_reference(text).map_err(check)?,
            "metric" => next.metric = rules::metric_name(text).map_err(check)?,
            "min-replicas" => next.min_replicas = replicas(text).map_err(check)?,
            "max-replicas" => next.max_replicas = replicas(text).map_err(check)?,
            "target-average" => next.target_average = target_average(text).map_err(check)?,
            _ => next.grafana = rules::switch(text).map_err(check)?,
        }
        let answers = next.answers();
        next.consistent(&|flag| match answers.iter().find(|(k, _)| *k == flag) {
            Some(_) if flag == setting.flag => raw.label(),
            Some((_, value)) => format!("{flag} {value}"),
            None => flag.to_string(),
        })?;
        Ok(next)
    }

    /// Whether the wizard brings up minikube (no `--context`) or uses an existing cluster.
    pub(crate) fn uses_minikube(&self) -> bool {
        self.context.is_none()
    }
}

fn replicas(text: &str) -> Result<u32, Invalid> {
    rules::number(text, 1, 1000).map(|n| n as u32)
}

fn target_average(text: &str) -> Result<u64, Invalid> {
    rules::number(text, 1, 1_000_000_000)
}

/// minikube refuses to start below 2 CPUs and 1800 MiB; the fix says so.
fn minikube_minimum(number: Result<u64, Invalid>, unit: &str) -> Result<u32, Invalid> {
    number.map(|n| n as u32).map_err(|e| Invalid { fix: format!("{}; minikube needs {unit}", e.fix), ..e })
}

fn seconds(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn choice<T: clap::ValueEnum>(text: &str) -> Result<T, Invalid> {
    T::from_str(text, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        Invalid { why: "it is not one of the choices".into(), fix: format!("choose one of {}", names.join(", ")) }
    })
}

/// The sources of settings, read in precedence order, with the raw value each setting resolved from.
struct Layers<'a> {
    flags: &'a Flags,
    env: &'a dyn Fn(&str) -> Option<OsString>,
    file: Option<ConfigFile>,
    resolved: RefCell<BTreeMap<&'static str, Raw>>,
}

impl<'a> Layers<'a> {
    fn new(flags: &'a Flags, env: &'a dyn Fn(&str) -> Option<OsString>) -> Result<Self, Problem> {
        let mut layers = Layers { flags, env, file: None, resolved: RefCell::default() };
        if let Some(given) = layers.given("config")? {
            let path = rules::readable_file(Path::new(&given.text), rules::CONFIG_FILE_MAX).map_err(|why| {
                Problem::new(format!("cannot read the config file {}: {}", given.text, why.why)).with_hint(format!(
                    "{}; {}",
                    why.fix,
                    given.where_to_change()
                ))
            })?;
            layers.file = Some(ConfigFile::load(&path)?);
        }
        Ok(layers)
    }

    fn settings(&self) -> Result<Settings, Problem> {
        let command_timeout = |t: &str| rules::duration(t, seconds(1), seconds(3600));
        let interval = |t: &str| rules::duration(t, seconds(1), seconds(3600));
        Ok(Settings {
            context: self.optional("context", rules::context_name)?,
            namespace: self.value("namespace", rules::dns_label)?,
            monitoring_namespace: self.value("monitoring-namespace", rules::dns_label)?,
            verbose: self.switch("verbose")?,
            color: self.value("color", choice::<ColorChoice>)?,
            command_timeout: self.value("command-timeout", command_timeout)?,
            platform: Platform::resolve(self.value("platform", choice::<PlatformChoice>)?),
            image: self.value("image", rules::image_reference)?,
            deployment: self.value("deployment", rules::service_name)?,
            metric: self.value("metric", rules::metric_name)?,
            min_replicas: self.value("min-replicas", replicas)?,
            max_replicas: self.value("max-replicas", replicas)?,
            target_average: self.value("target-average", target_average)?,
            driver: self.value("driver", |t| rules::one_of(t, &DRIVERS))?,
            switch: self.value("switch", rules::switch_name)?,
            adapter: self.optional("adapter", rules::adapter_name)?,
            kubernetes_version: self.optional("kubernetes-version", rules::kubernetes_version)?,
            cpus: self.value("cpus", |t| minikube_minimum(rules::number(t, 2, 256), "CPUs, at least 2"))?,
            memory_mib: self.value("memory", |t| {
                minikube_minimum(rules::number(t, 1800, 1_048_576), "MiB (a number, no unit), at least 1800")
            })?,
            chart_repos: self.pairs("chart-repo", &DEFAULT_CHART_REPOS, "chart repository", rules::chart_repo_url)?,
            chart_versions: self.pairs("chart-version", &DEFAULT_CHART_VERSIONS, "chart", rules::chart_version)?,
            grafana: self.switch("grafana")?,
            allow_helm2: self.switch("allow-helm2")?,
            use_minikube_kubectl: self.switch("use-minikube-kubectl")?,
            scrape_interval: self.value("scrape-interval", interval)?,
            relist_interval: self.value("relist-interval", interval)?,
            wait_timeout: self.value("wait-timeout", |t| rules::duration(t, seconds(1), seconds(24 * 3600)))?,
            show_password: self.switch("show-password")?,
            interlok_config: self.path("interlok-config", rules::interlok_config)?,
            inbox_path: self.value("inbox-path", rules::inbox_path)?,
            scaler: self.value("scaler", choice::<Scaler>)?,
            scaler_given: self.given("scaler")?.is_some(),
            keda_namespace: self.value("keda-namespace", rules::dns_label)?,
            prometheus_url: self.optional("prometheus-url", rules::http_url)?,
            adopt: self.switch("adopt")?,
            include_adopted: self.switch("include-adopted")?,
            from_labels: self.switch("from-labels")?,
        })
    }

    /// The value given for a setting by the first source that has one: flag, environment, config file.
    fn given(&self, flag: &str) -> Result<Option<Raw>, Problem> {
        let setting = table::setting(flag).ok_or_else(|| Problem::new(format!("no setting is named {flag:?}")))?;
        let flag = setting.flag;
        if let Some(text) = self.flags.get(flag).last() {
            return Ok(Some(Raw { flag, text: text.clone(), source: Source::Flag }));
        }
        if let Some(var) = setting.env_var() {
            // an empty variable counts as unset, as `set NAME=` in cmd.exe leaves it
            if let Some(value) = (self.env)(&var).filter(|v| !v.is_empty()) {
                let text = value.into_string().map_err(|_| {
                    Problem::new(format!("the environment variable {var} is not valid Unicode text"))
                        .with_hint(format!("change or unset {var}"))
                })?;
                return Ok(Some(Raw { flag, text, source: Source::Env(var) }));
            }
        }
        match (setting.config_key, &self.file) {
            (Some(key), Some(file)) => file.scalar(key, flag),
            _ => Ok(None),
        }
    }

    fn raw_or_default(&self, flag: &'static str) -> Result<Option<Raw>, Problem> {
        let given = self.given(flag)?;
        Ok(given.or_else(|| {
            let default = table::setting(flag)?.default?;
            Some(Raw { flag, text: default.to_string(), source: Source::Default })
        }))
    }

    fn value<T>(&self, flag: &'static str, rule: impl Fn(&str) -> Result<T, Invalid>) -> Result<T, Problem> {
        self.optional(flag, rule)?.ok_or_else(|| {
            Problem::new(format!("the setting {flag} has no value and no default (a bug: please report it)"))
        })
    }

    fn optional<T>(&self, flag: &'static str, rule: impl Fn(&str) -> Result<T, Invalid>) -> Result<Option<T>, Problem> {
        self.apply(flag, |raw| rule(&raw.text))
    }

    /// The value of a setting (or its default) through its rule; `None` when it has neither.
    fn apply<T>(&self, flag: &'static str, rule: impl Fn(&Raw) -> Result<T, Invalid>) -> Result<Option<T>, Problem> {
        let raw = self.raw_or_default(flag)?;
        let value = raw.as_ref().map(|raw| rule(raw).map_err(|why| raw.invalid(why))).transpose()?;
        let shown = raw.unwrap_or(Raw { flag, text: String::new(), source: Source::Default });
        self.resolved.borrow_mut().insert(flag, shown);
        Ok(value)
    }

    /// An on/off setting: a flag turns it on; the environment and config file say true or false.
    fn switch(&self, flag: &'static str) -> Result<bool, Problem> {
        Ok(self.optional(flag, rules::switch)?.unwrap_or(false))
    }

    /// A path: one given in the config file is relative to the file's folder.
    fn path(
        &self,
        flag: &'static str,
        rule: fn(&Path) -> Result<PathBuf, Invalid>,
    ) -> Result<Option<PathBuf>, Problem> {
        self.apply(flag, |raw| {
            if raw.text.is_empty() {
                return Err(Invalid { why: "it is empty".into(), fix: "give a path".into() });
            }
            match &raw.source {
                Source::Config { file, .. } => rule(&file.parent().unwrap_or(Path::new(".")).join(&raw.text)),
                _ => rule(Path::new(&raw.text)),
            }
        })
    }

    /// NAME=VALUE settings: the defaults, then the config file's map, then each flag; every NAME is one the
    /// wizard uses (an unknown one would be silently ignored) and every VALUE passes `rule`.
    fn pairs(
        &self,
        flag: &'static str,
        defaults: &[(&str, &str)],
        what: &str,
        rule: fn(&str) -> Result<String, Invalid>,
    ) -> Result<BTreeMap<String, String>, Problem> {
        let known: Vec<&str> = defaults.iter().map(|(name, _)| *name).collect();
        let check = |raw: &Raw, name: &str, value: &str| -> Result<(String, String), Problem> {
            if !known.contains(&name) {
                return Err(raw.invalid(Invalid {
                    why: format!("{} is not a {what} the wizard uses", quote(name)),
                    fix: format!("NAME is one of {}", known.join(", ")),
                }));
            }
            Ok((name.to_string(), rule(value).map_err(|why| raw.invalid(why))?))
        };
        let mut merged: BTreeMap<String, String> =
            defaults.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        let setting = table::setting(flag).expect("a pair setting");
        if let (Some(key), Some(file)) = (setting.config_key, &self.file) {
            for (name, raw) in file.map(key, flag)? {
                let (name, value) = check(&raw, &name, &raw.text)?;
                merged.insert(name, value);
            }
        }
        for text in self.flags.get(flag) {
            let raw = Raw { flag, text: text.clone(), source: Source::Flag };
            let Some((name, value)) = text.split_once('=') else {
                return Err(raw.invalid(Invalid { why: "it has no '='".into(), fix: "write NAME=VALUE".into() }));
            };
            let (name, value) = check(&raw, name, value)?;
            merged.insert(name, value);
        }
        self.resolved.borrow_mut().insert(flag, Raw { flag, text: String::new(), source: Source::Default });
        Ok(merged)
    }

    /// A setting's value as typed, and where from, for messages about two settings at once.
    fn describe(&self, flag: &'static str) -> String {
        match self.resolved.borrow().get(flag) {
            Some(raw) => raw.label(),
            None => flag.to_string(),
        }
    }
}

/// The `--config` file: a YAML map whose keys are the long flag names (`chart-repos` and `chart-versions` hold
/// maps). Unknown keys are an error, not a silent no-op.
struct ConfigFile {
    path: PathBuf,
    entries: serde_yaml::Mapping,
}

/// Settings whose values YAML would silently turn into numbers: `1.10` is read as 1.1.
const VERSION_KEYS: [&str; 2] = ["kubernetes-version", "chart-versions"];

impl ConfigFile {
    fn load(path: &Path) -> Result<ConfigFile, Problem> {
        use std::io::Read;
        let problem = |why: String| {
            Problem::new(format!("the config file {} {why}", path.display()))
                .with_hint("keys are the long flag names, e.g. `namespace: default` or `max-replicas: 5`")
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(rules::CONFIG_FILE_MAX + 1).read_to_end(&mut bytes))
            .map_err(|e| Problem::new(format!("cannot read the config file {}: {e}", path.display())))?;
        if bytes.len() as u64 > rules::CONFIG_FILE_MAX {
            return Err(problem(format!("is larger than {} bytes", rules::CONFIG_FILE_MAX)));
        }
        let text = String::from_utf8(bytes).map_err(|_| problem("is not UTF-8 text".into()))?;
        let value: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| problem(format!("is not valid YAML: {e}")))?;
        let entries = match value {
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            serde_yaml::Value::Mapping(entries) => entries,
            _ => return Err(problem("is not a map of settings".into())),
        };
        let keys: Vec<&str> = table::SETTINGS.iter().filter_map(|s| s.config_key).collect();
        for key in entries.keys() {
            let known = key.as_str().filter(|k| keys.contains(k));
            if known.is_none() {
                let shown = key.as_str().map_or_else(|| format!("{key:?}"), quote);
                return Err(Problem::new(format!("unknown key {shown} in the config file {}", path.display()))
                    .with_hint(format!("keys are the long flag names: {}", keys.join(", "))));
            }
        }
        Ok(ConfigFile { path: path.to_path_buf(), entries })
    }

    fn raw(&self, flag: &'static str, key: String, value: &serde_yaml::Value) -> Result<Raw, Problem> {
        let source = Source::Config { file: self.path.clone(), key: key.clone() };
        let text = match value {
            serde_yaml::Value::String(text) => text.clone(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::Null => String::new(),
            serde_yaml::Value::Number(n) if !VERSION_KEYS.iter().any(|v| key.starts_with(v)) => n.to_string(),
            serde_yaml::Value::Number(n) => {
                return Err(Problem::new(format!(
                    "`{key}: {n}` in the config file {} is read by YAML as a number, not a version",
                    self.path.display()
                ))
                .with_hint(format!("write the version in quotes, e.g. `{key}: \"{n}\"` (YAML reads 1.10 as 1.1)")));
            }
            _ => {
                return Err(Problem::new(format!(
                    "`{key}` in the config file {} must be one value, not a list or map",
                    self.path.display()
                ))
                .with_hint(format!("write `{key}: VALUE`")));
            }
        };
        Ok(Raw { flag, text, source })
    }

    fn scalar(&self, key: &str, flag: &'static str) -> Result<Option<Raw>, Problem> {
        self.entries.get(key).map(|value| self.raw(flag, key.to_string(), value)).transpose()
    }

    /// A map of NAME: VALUE under `key`.
    fn map(&self, key: &str, flag: &'static str) -> Result<Vec<(String, Raw)>, Problem> {
        let Some(value) = self.entries.get(key) else { return Ok(Vec::new()) };
        let not_a_map = || {
            Problem::new(format!("`{key}` in the config file {} must be a map of NAME: VALUE", self.path.display()))
                .with_hint(format!("write `{key}:` and then one `  NAME: VALUE` line per entry"))
        };
        let serde_yaml::Value::Mapping(entries) = value else {
            return if value.is_null() { Ok(Vec::new()) } else { Err(not_a_map()) };
        };
        entries
            .iter()
            .map(|(name, value)| {
                let name = name.as_str().ok_or_else(not_a_map)?;
                Ok((name.to_string(), self.raw(flag, format!("{key}.{name}"), value)?))
            })
            .collect()
    }
}

/// The colour to report a settings error in, before the settings are known: the flag or variable if usable.
pub(crate) fn early_color(flags: &Flags) -> ColorChoice {
    let given = flags.get("color").last().cloned().or_else(|| std::env::var("INTERLOK_K8S_COLOR").ok());
    given.and_then(|text| choice::<ColorChoice>(&text).ok()).unwrap_or(ColorChoice::Auto)
}

/// The default place for the wizard's own files (the record of what setup created).
pub(crate) fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("APPDATA")
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME"))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("interlok-k8s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| OsString::from(v))
    }

    fn config(text: &str) -> (tempfile::TempDir, Flags) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, text).unwrap();
        let flags = Flags::from([("config", file.to_str().unwrap())]);
        (dir, flags)
    }

    fn error(flags: &Flags, vars: &[(&str, &str)]) -> Problem {
        Settings::resolve_with(flags, &env(vars)).expect_err("refused")
    }

    #[test]
    fn defaults_follow_the_2019_guide_and_pass_their_own_rules() {
        let s = Settings::defaults();
        assert_eq!((s.min_replicas, s.max_replicas, s.target_average), (1, 5, 100));
        assert_eq!((s.namespace.as_str(), s.monitoring_namespace.as_str()), ("default", "monitoring"));
        assert_eq!((s.metric.as_str(), s.inbox_path.as_str()), ("MessageMetrics", "/in-box"));
        assert_eq!((s.scaler, s.keda_namespace.as_str()), (Scaler::Adapter, "keda"));
        assert_eq!(s.chart_versions["keda"], "2.20.2");
        assert_eq!(s.chart_repos["kedacore"], "https://kedacore.github.io/charts");
        assert_eq!(s.command_timeout, Duration::from_secs(60));
        assert!(s.prometheus_url.is_none() && s.interlok_config.is_none() && !s.adopt);
    }

    #[test]
    fn every_setting_of_the_table_is_resolved_and_nothing_else() {
        let flags = Flags::default();
        let layers = Layers::new(&flags, &|_| None).unwrap();
        layers.settings().unwrap();
        let resolved: Vec<&str> = layers.resolved.borrow().keys().copied().collect();
        let mut table: Vec<&str> = table::SETTINGS.iter().map(|s| s.flag).filter(|f| *f != "config").collect();
        table.sort_unstable();
        assert_eq!(resolved, table);
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_config_file_which_beats_the_default() {
        let (_dir, mut flags) = config("namespace: from-file\nmax-replicas: 7\ntarget-average: 3\n");
        let vars = [("INTERLOK_K8S_NAMESPACE", "from-env"), ("INTERLOK_K8S_MAX_REPLICAS", "8")];
        let s = Settings::resolve_with(&flags, &env(&vars)).unwrap();
        assert_eq!((s.namespace.as_str(), s.max_replicas, s.target_average, s.min_replicas), ("from-env", 8, 3, 1));
        flags.add("namespace", "from-flag");
        assert_eq!(Settings::resolve_with(&flags, &env(&vars)).unwrap().namespace, "from-flag");
        let empty = [("INTERLOK_K8S_NAMESPACE", "")];
        assert_eq!(Settings::resolve_with(&flags, &env(&empty)).unwrap().namespace, "from-flag");
        let (_dir, flags) = config("namespace: from-file\n");
        assert_eq!(Settings::resolve_with(&flags, &env(&empty)).unwrap().namespace, "from-file", "empty is unset");
    }

    #[test]
    fn one_rule_whatever_the_source_and_the_message_quotes_it_where_it_was_written() {
        let flag = error(&Flags::from([("image", "foo:")]), &[]);
        assert!(flag.message.starts_with("invalid --image \"foo:\":"), "{}", flag.message);
        let var = error(&Flags::default(), &[("INTERLOK_K8S_IMAGE", "foo:")]);
        assert!(var.message.starts_with("invalid INTERLOK_K8S_IMAGE=\"foo:\":"), "{}", var.message);
        assert!(var.hint.unwrap().contains("unset the environment variable INTERLOK_K8S_IMAGE"));
        let (dir, flags) = config("image: 'foo:'\n");
        let file = error(&flags, &[]);
        assert!(file.message.starts_with("invalid `image: \"foo:\"` in the config file"), "{}", file.message);
        assert!(file.message.contains(&dir.path().display().to_string()));
        assert_eq!(flag.message.split_once(": ").unwrap().1, var.message.split_once(": ").unwrap().1, "the same rule");
        let timeout = error(&Flags::from([("wait-timeout", "25h")]), &[]);
        assert!(timeout.message.contains("\"25h\"") && !timeout.message.contains("90000"), "{}", timeout.message);
    }

    #[test]
    fn two_settings_that_contradict_each_other_are_named_with_their_sources() {
        let p = error(&Flags::from([("min-replicas", "6")]), &[]);
        assert_eq!(p.message, "--min-replicas \"6\" is larger than max-replicas \"5\" (the default)");
        let p = error(&Flags::from([("scrape-interval", "60s")]), &[("INTERLOK_K8S_RELIST_INTERVAL", "30s")]);
        assert_eq!(p.message, "INTERLOK_K8S_RELIST_INTERVAL=\"30s\" is shorter than --scrape-interval \"60s\"");
        let p = error(&Flags::from([("prometheus-url", "http://p:9090")]), &[]);
        assert!(p.message.contains("scaler \"adapter\" (the default) does not use KEDA"), "{}", p.message);
        assert!(Settings::from_flags([("prometheus-url", "http://p:9090"), ("scaler", "keda")]).is_ok());
    }

    #[test]
    fn chart_pairs_name_a_chart_or_repository_the_wizard_uses() {
        let s = Settings::from_flags([
            ("chart-version", "prometheus=25.0.0"),
            ("chart-repo", "kedacore=https://m.example/k"),
        ])
        .unwrap();
        assert_eq!(
            (s.chart_versions["prometheus"].as_str(), s.chart_versions["grafana"].as_str()),
            ("25.0.0", "12.11.1")
        );
        assert_eq!(s.chart_repos["kedacore"], "https://m.example/k");
        for (flag, value, fragment) in [
            ("chart-repo", "evil=https://evil.example", "\"evil\" is not a chart repository the wizard uses"),
            ("chart-repo", "prometheus-community", "it has no '='"),
            ("chart-repo", "stable=oci://ghcr.io/charts", "not an http:// or https:// URL"),
            ("chart-version", "prometheus=latest", "--chart-version \"prometheus=latest\""),
            ("chart-version", "prometheus=1.0.0 --set x=y", "not one exact SemVer"),
            ("chart-version", "nginx=1.0.0", "\"nginx\" is not a chart"),
        ] {
            let p = error(&Flags::from([(flag, value)]), &[]);
            assert!(p.message.contains(fragment), "{value}: {}", p.message);
        }
        let (_dir, flags) = config("chart-versions:\n  prometheus: ''\n");
        assert!(error(&flags, &[]).message.contains("`chart-versions.prometheus: \"\"` in the config file"));
        let (_dir, flags) = config("chart-versions:\n  prometheus: 1.10\n");
        assert!(error(&flags, &[]).message.contains("read by YAML as a number"));
    }

    #[test]
    fn config_files_are_maps_of_known_keys_with_one_value_each() {
        for (text, fragment) in [
            ("replicas: 3\n", "unknown key \"replicas\""),
            ("config: other.yaml\n", "unknown key \"config\""),
            ("namespace: [a, b]\n", "`namespace` in the config file"),
            ("- a\n- b\n", "is not a map of settings"),
            ("grafana: perhaps\n", "`grafana: \"perhaps\"`"),
            ("max-replicas: many\n", "`max-replicas: \"many\"`"),
            ("chart-repos: [a]\n", "must be a map of NAME: VALUE"),
            ("namespace: a\nnamespace: b\n", "is not valid YAML"),
            ("kubernetes-version: 1.30\n", "read by YAML as a number"),
            ("a: &a [1]\nb: *a\n", "unknown key"),
        ] {
            let (_dir, flags) = config(text);
            let p = error(&flags, &[]);
            assert!(p.message.contains(fragment), "{text:?}: {}", p.message);
        }
        let (_dir, flags) = config("# only a comment\n");
        assert!(Settings::resolve_with(&flags, &env(&[])).is_ok());
        let (_dir, flags) = config("grafana: yes\nallow-helm2: false\nmax-replicas: 9\n");
        let s = Settings::resolve_with(&flags, &env(&[])).unwrap();
        assert!(s.grafana && !s.allow_helm2 && s.max_replicas == 9);
    }

    #[test]
    fn a_config_file_that_is_not_a_small_regular_file_is_refused_before_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let p = error(&Flags::from([("config", dir.path().to_str().unwrap())]), &[]);
        assert!(
            p.message.contains("cannot read the config file") && p.message.contains("a directory"),
            "{}",
            p.message
        );
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; rules::CONFIG_FILE_MAX as usize + 1]).unwrap();
        assert!(error(&Flags::from([("config", big.to_str().unwrap())]), &[]).message.contains("bytes"));
        let p = error(&Flags::default(), &[("INTERLOK_K8S_CONFIG", "/nonexistent/c.yaml")]);
        assert!(p.message.contains("/nonexistent/c.yaml") && p.hint.unwrap().contains("INTERLOK_K8S_CONFIG"));
    }

    #[test]
    fn an_interlok_config_in_the_config_file_is_relative_to_the_file() {
        let (dir, flags) = config("interlok-config: interlok\n");
        std::fs::create_dir(dir.path().join("interlok")).unwrap();
        std::fs::write(dir.path().join("interlok/adapter.xml"), "<adapter/>").unwrap();
        let s = Settings::resolve_with(&flags, &env(&[])).unwrap();
        assert_eq!(s.interlok_config, Some(dir.path().join("interlok")));
    }

    #[test]
    fn an_answer_passes_the_flag_s_rule() {
        let s = Settings::defaults();
        assert_eq!(s.with_answer("namespace", " team-a ").unwrap().namespace, "team-a");
        assert!(s.with_answer("namespace", "Team").unwrap_err().message.contains("the answer \"Team\" for namespace"));
        let p = s.with_answer("min-replicas", "9").unwrap_err();
        assert_eq!(p.message, "the answer \"9\" for min-replicas is larger than max-replicas 5");
        assert!(s.with_answer("cpus", "4").is_err(), "not an answer of the plan");
    }
}
