//! Every setting once: its flag, environment variable, config key, default, help, heading, and the subcommands
//! that read it. The CLI is built from this table (so a subcommand shows exactly the settings it reads), the
//! resolver reads each entry from its sources, and the tests hold docs/configuration.md to it.

use super::DEFAULT_IMAGE;

/// One setting. Its environment variable is `INTERLOK_K8S_` and the flag in upper case with '_' for '-'.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub flag: &'static str,
    pub short: Option<char>,
    /// `None` for an on/off switch (on when the flag is given).
    pub value_name: Option<&'static str>,
    /// Given as NAME=VALUE, once per name; the config file holds a map under `config_key`.
    pub pairs: bool,
    pub(crate) env: bool,
    pub config_key: Option<&'static str>,
    /// Where `--help` groups it; `None` puts it with the subcommand's own options.
    pub heading: Option<&'static str>,
    pub(crate) help: &'static str,
    /// The default as written in help and docs (the resolver reads it through the same rule as any value).
    pub default: Option<&'static str>,
    pub hidden: bool,
    /// The subcommands that read it, and so show it.
    pub commands: &'static [&'static str],
}

impl Setting {
    const fn value(flag: &'static str, value_name: &'static str, commands: &'static [&'static str]) -> Self {
        Setting {
            flag,
            short: None,
            value_name: Some(value_name),
            pairs: false,
            env: true,
            config_key: Some(flag),
            heading: None,
            help: "",
            default: None,
            hidden: false,
            commands,
        }
    }

    const fn switch(flag: &'static str, commands: &'static [&'static str]) -> Self {
        Setting { value_name: None, ..Setting::value(flag, "", commands) }
    }

    const fn help(self, help: &'static str) -> Self {
        Setting { help, ..self }
    }

    const fn under(self, heading: &'static str) -> Self {
        Setting { heading: Some(heading), ..self }
    }

    const fn default(self, default: &'static str) -> Self {
        Setting { default: Some(default), ..self }
    }

    /// A per-run choice: only ever a flag, never read from the environment or a config file.
    const fn flag_only(self) -> Self {
        Setting { env: false, config_key: None, ..self }
    }

    const fn pairs(self, config_key: &'static str) -> Self {
        Setting { pairs: true, env: false, config_key: Some(config_key), ..self }
    }

    const fn short(self, short: char) -> Self {
        Setting { short: Some(short), ..self }
    }

    const fn hidden(self) -> Self {
        Setting { hidden: true, ..self }
    }

    pub fn env_var(&self) -> Option<String> {
        self.env.then(|| format!("INTERLOK_K8S_{}", self.flag.to_ascii_uppercase().replace('-', "_")))
    }

    pub fn reads(&self, command: &str) -> bool {
        self.commands.contains(&command)
    }
}

const SHARED: &str = "Shared settings";
const STACK: &str = "The Interlok stack";
const SCALING: &str = "Autoscaling";
const CHARTS: &str = "Monitoring charts";
const CLUSTER: &str = "minikube and Hyper-V";

/// The subcommands that read settings (`completions` reads none).
pub(crate) const COMMANDS: [&str; 8] = ["setup", "verify", "load", "watch", "demo", "teardown", "bundle", "render"];
/// Every subcommand that talks to a cluster (all but `render`).
const ON_A_CLUSTER: &[&str] = &["setup", "verify", "load", "watch", "demo", "teardown", "bundle"];
/// The subcommands that look at Interlok and its autoscaler.
const ON_INTERLOK: &[&str] = &["setup", "verify", "load", "watch", "demo", "bundle", "render"];
const SETUP: &[&str] = &["setup"];
const SETUP_RENDER: &[&str] = &["setup", "render"];

pub const SETTINGS: &[Setting] = &[
    // Shared settings
    Setting::value("context", "CTX", ON_A_CLUSTER)
        .under(SHARED)
        .help("Use this existing kube context instead of minikube (no minikube, no Hyper-V switch) [default: minikube]"),
    Setting::value("namespace", "NS", &COMMANDS)
        .under(SHARED)
        .default("default")
        .help("Namespace of Interlok, its Service and its autoscaler"),
    Setting::value("monitoring-namespace", "NS", &COMMANDS)
        .under(SHARED)
        .default("monitoring")
        .help("Namespace of Prometheus, the pushgateway, prometheus-adapter and Grafana"),
    Setting { config_key: None, ..Setting::value("config", "FILE", &COMMANDS) }
        .under(SHARED)
        .help("YAML file of settings; its keys are the long flag names (see docs/configuration.md)"),
    Setting::switch("verbose", ON_A_CLUSTER)
        .flag_only()
        .short('v')
        .under(SHARED)
        .help("Echo every command as a line you could paste"),
    Setting::value("color", "WHEN", &COMMANDS)
        .under(SHARED)
        .default("auto")
        .help("When to colour output: auto, always, never (auto respects NO_COLOR)"),
    Setting::value("platform", "PLATFORM", ON_A_CLUSTER)
        .under(SHARED)
        .default("auto")
        .hidden()
        .help("Pretend to be on this platform: auto, windows, linux, macos (drives the Windows flow anywhere)"),
    Setting::value("command-timeout", "DURATION", ON_A_CLUSTER)
        .under(SHARED)
        .default("60s")
        .help("How long any one external command may take before it is stopped, e.g. 90s or 2m"),
    Setting::value("wait-timeout", "DURATION", &["setup", "demo"])
        .under(SHARED)
        .default("10m")
        .help("How long a wait (rollouts, the adapter, the autoscaler, the demo's links) may take, e.g. 10m"),
    // The Interlok stack
    Setting::value("image", "IMAGE", SETUP_RENDER).under(STACK).default(DEFAULT_IMAGE).help("Interlok container image"),
    Setting::value("deployment", "NAME", ON_INTERLOK)
        .under(STACK)
        .default("interlok")
        .help("Name of the Interlok Deployment, its Service and its autoscaler"),
    Setting::value("interlok-config", "PATH", SETUP_RENDER).under(STACK).help(
        "Interlok configuration to run: a folder with adapter.xml (and optionally bootstrap.properties, variables.properties, log4j2.xml), or one adapter.xml [default: the image's own]",
    ),
    Setting::value("inbox-path", "PATH", &["setup", "verify", "load", "demo", "bundle"])
        .under(STACK)
        .default("/in-box")
        .help("HTTP path Interlok receives messages on (setup's smoke test, verify, load, demo)"),
    // Autoscaling
    Setting::value("scaler", "SCALER", ON_INTERLOK)
        .under(SCALING)
        .default("adapter")
        .help("What scales Interlok: adapter (prometheus-adapter and an HPA) or keda (a KEDA ScaledObject)"),
    Setting::value("metric", "NAME", ON_INTERLOK)
        .under(SCALING)
        .default("MessageMetrics")
        .help("Metric the autoscaler follows (the message-metrics interceptor's unique-id without dashes)"),
    Setting::value("min-replicas", "N", SETUP_RENDER).under(SCALING).default("1").help("Fewest Interlok replicas (1-1000)"),
    Setting::value("max-replicas", "N", SETUP_RENDER).under(SCALING).default("5").help("Most Interlok replicas (1-1000)"),
    Setting::value("target-average", "N", SETUP_RENDER)
        .under(SCALING)
        .default("100")
        .help("Target average of the metric per pod"),
    Setting::value("keda-namespace", "NS", &["setup", "verify", "bundle"])
        .under(SCALING)
        .default("keda")
        .help("Namespace KEDA is installed in (with --scaler keda)"),
    Setting::value("prometheus-url", "URL", SETUP_RENDER).under(SCALING).help(
        "Prometheus URL KEDA's trigger queries from inside the cluster (with --scaler keda) [default: the Prometheus setup installs]. Not verify's --prometheus-url, which is where verify itself reaches Prometheus",
    ),
    Setting::value("scrape-interval", "DURATION", SETUP_RENDER)
        .under(SCALING)
        .default("15s")
        .help("Prometheus scrape interval (the chart's own default is 1m)"),
    Setting::value("relist-interval", "DURATION", &["setup", "verify", "render"])
        .under(SCALING)
        .default("30s")
        .help("prometheus-adapter's relist interval; at least the scrape interval"),
    // Monitoring charts
    Setting::value("chart-repo", "NAME=URL", SETUP).under(CHARTS).pairs("chart-repos").help(
        "Chart repository URL, repeatable (e.g. a mirror); NAME is prometheus-community, grafana-community, stable or kedacore",
    ),
    Setting::value("chart-version", "NAME=VERSION", SETUP).under(CHARTS).pairs("chart-versions").help(
        "Chart version, repeatable; NAME is prometheus, prometheus-adapter, grafana or keda; VERSION is exact (e.g. 29.27.0)",
    ),
    Setting::switch("grafana", SETUP_RENDER).under(CHARTS).help("Also install Grafana with a MessageMetrics dashboard"),
    Setting::switch("show-password", SETUP)
        .under(CHARTS)
        .flag_only()
        .help("Print Grafana's admin password (never printed or logged otherwise)"),
    Setting::switch("allow-helm2", SETUP).under(CHARTS).help("Accept Helm 2 (end-of-life; tiller gets cluster-admin)"),
    // minikube and Hyper-V
    Setting::value("driver", "DRIVER", SETUP)
        .under(CLUSTER)
        .default("auto")
        .help("minikube driver: auto, hyperv, docker, kvm2, podman, hyperkit, qemu"),
    Setting::value("switch", "NAME", SETUP)
        .under(CLUSTER)
        .default("minikube")
        .help("Hyper-V switch for minikube (\"Default Switch\" is Windows' built-in one); at most 244 characters"),
    Setting::value("adapter", "NAME", SETUP)
        .under(CLUSTER)
        .help("Network adapter the Hyper-V switch binds to [default: the Up adapter with the default route]"),
    Setting::value("kubernetes-version", "VERSION", SETUP_RENDER)
        .under(CLUSTER)
        .help("Kubernetes version for minikube start (and the APIs render uses), e.g. v1.33.1 or 1.33 [default: minikube's]"),
    Setting::value("cpus", "N", SETUP).under(CLUSTER).default("2").help("CPUs of the minikube VM (2-256)"),
    Setting::value("memory", "MIB", SETUP).under(CLUSTER).default("4096").help("Memory of the minikube VM in MiB (1800-1048576)"),
    Setting::switch("use-minikube-kubectl", ON_A_CLUSTER)
        .under(CLUSTER)
        .help("Run the wizard's kubectl calls as `minikube kubectl --` (a kubectl matching the cluster)"),
    // Per-run choices, shown with the subcommand's own options
    Setting::switch("adopt", SETUP)
        .flag_only()
        .help("Take over existing objects of the same names that lack the wizard's label (recorded as adopted)"),
    Setting::switch("include-adopted", &["teardown"])
        .flag_only()
        .help("Also remove what setup --adopt took over (otherwise adopted objects are left in place)"),
    Setting::switch("from-labels", &["teardown"])
        .flag_only()
        .help("Find what to remove by the wizard's labels, when the record of what setup created is missing or damaged"),
];

/// The setting with this flag.
pub fn setting(flag: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.flag == flag)
}
