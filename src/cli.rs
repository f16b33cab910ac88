//! Command-line types (clap derive). Handlers live in `commands/`; settings are resolved in `settings.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::platform::PlatformChoice;
use crate::ui::ColorChoice;

const AFTER_HELP: &str = "\
Examples:
  interlok-k8s setup                 walk through every stage, asking before it changes anything
  interlok-k8s setup --dry-run       show the plan and the exact commands, change nothing
  interlok-k8s --context prod setup  use an existing cluster instead of minikube
  interlok-k8s verify                find the first broken link from tools to the autoscaler

Exit codes: 0 success, 1 a stage or check failed, 2 bad input (nothing was changed).
Settings resolve as: flags > INTERLOK_K8S_* environment > --config file > defaults.";

#[derive(Debug, Parser)]
#[command(name = "interlok-k8s", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every subcommand. Values stay `Option` so the resolver can tell "given" from "default".
#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// Use this existing kube context instead of minikube (no minikube, no Hyper-V switch)
    #[arg(long, global = true, env = "INTERLOK_K8S_CONTEXT", value_name = "CTX")]
    pub context: Option<String>,
    /// Namespace for Interlok and its autoscaler [default: default]
    #[arg(long, global = true, env = "INTERLOK_K8S_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,
    /// Namespace for Prometheus, the pushgateway, the adapter and Grafana [default: monitoring]
    #[arg(long, global = true, env = "INTERLOK_K8S_MONITORING_NAMESPACE", value_name = "NS")]
    pub monitoring_namespace: Option<String>,
    /// YAML file with settings (keys are the long flag names)
    #[arg(long, global = true, env = "INTERLOK_K8S_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Echo every command as a line you could paste
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// When to colour output (NO_COLOR is respected under auto)
    #[arg(long, global = true, value_enum, env = "INTERLOK_K8S_COLOR", value_name = "WHEN")]
    pub color: Option<ColorChoice>,
    /// Pretend to be on this platform (drives the Windows flow anywhere)
    #[arg(long, global = true, value_enum, env = "INTERLOK_K8S_PLATFORM", hide = true)]
    pub platform: Option<PlatformChoice>,
    /// How long a wait (rollouts, the adapter, the autoscaler) may take, e.g. 10m [default: 10m]
    #[arg(long, global = true, env = "INTERLOK_K8S_WAIT_TIMEOUT", value_name = "DURATION")]
    pub wait_timeout: Option<String>,
    /// Seconds any one external command may take before it is stopped [default: 60]
    #[arg(long, global = true, env = "INTERLOK_K8S_COMMAND_TIMEOUT", value_name = "SECONDS")]
    pub command_timeout: Option<String>,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// What gets deployed and how it scales.
#[derive(Debug, Args, Default)]
pub struct StackArgs {
    /// Interlok container image [default: adaptris/interlok:snapshot]
    #[arg(long, global = true, env = "INTERLOK_K8S_IMAGE", value_name = "IMAGE")]
    pub image: Option<String>,
    /// Name of the Interlok Deployment, Service and autoscaler [default: interlok]
    #[arg(long, global = true, env = "INTERLOK_K8S_DEPLOYMENT", value_name = "NAME")]
    pub deployment: Option<String>,
    /// Metric the autoscaler follows (the message-metrics interceptor's unique-id without dashes) [default: MessageMetrics]
    #[arg(long, global = true, env = "INTERLOK_K8S_METRIC", value_name = "NAME")]
    pub metric: Option<String>,
    /// Fewest Interlok replicas [default: 1]
    #[arg(long, global = true, env = "INTERLOK_K8S_MIN_REPLICAS", value_name = "N")]
    pub min_replicas: Option<String>,
    /// Most Interlok replicas [default: 5]
    #[arg(long, global = true, env = "INTERLOK_K8S_MAX_REPLICAS", value_name = "N")]
    pub max_replicas: Option<String>,
    /// Target average of the metric per pod [default: 100]
    #[arg(long, global = true, env = "INTERLOK_K8S_TARGET_AVERAGE", value_name = "N")]
    pub target_average: Option<String>,
    /// minikube driver: auto, hyperv, docker, kvm2, podman, hyperkit, qemu [default: auto]
    #[arg(long, global = true, env = "INTERLOK_K8S_DRIVER", value_name = "DRIVER")]
    pub driver: Option<String>,
    /// Hyper-V switch for minikube ("Default Switch" uses the built-in one) [default: minikube]
    #[arg(long, global = true, env = "INTERLOK_K8S_SWITCH", value_name = "NAME")]
    pub switch: Option<String>,
    /// Network adapter the Hyper-V switch binds to [default: the Up adapter with the default route]
    #[arg(long, global = true, env = "INTERLOK_K8S_ADAPTER", value_name = "NAME")]
    pub adapter: Option<String>,
    /// Kubernetes version for minikube start, e.g. v1.33.1 [default: minikube's]
    #[arg(long, global = true, env = "INTERLOK_K8S_KUBERNETES_VERSION", value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// CPUs for the minikube VM [default: 2]
    #[arg(long, global = true, env = "INTERLOK_K8S_CPUS", value_name = "N")]
    pub cpus: Option<String>,
    /// Memory for the minikube VM, in MiB [default: 4096]
    #[arg(long, global = true, env = "INTERLOK_K8S_MEMORY", value_name = "MIB")]
    pub memory: Option<String>,
    /// Chart repository URL, repeatable (e.g. a corporate mirror): NAME=URL
    #[arg(long, global = true, value_name = "NAME=URL")]
    pub chart_repo: Vec<String>,
    /// Chart version, repeatable: NAME=VERSION (prometheus, prometheus-adapter, grafana)
    #[arg(long, global = true, value_name = "NAME=VERSION")]
    pub chart_version: Vec<String>,
    /// Also install Grafana with a MessageMetrics dashboard
    #[arg(long, global = true, env = "INTERLOK_K8S_GRAFANA")]
    pub grafana: bool,
    /// Run the wizard's kubectl calls as `minikube kubectl --` (a kubectl matching the cluster)
    #[arg(long, global = true, env = "INTERLOK_K8S_USE_MINIKUBE_KUBECTL")]
    pub use_minikube_kubectl: bool,
    /// Prometheus scrape interval for the demo [default: 15s]
    #[arg(long, global = true, env = "INTERLOK_K8S_SCRAPE_INTERVAL", value_name = "DURATION")]
    pub scrape_interval: Option<String>,
    /// prometheus-adapter relist interval, at least the scrape interval [default: 30s]
    #[arg(long, global = true, env = "INTERLOK_K8S_RELIST_INTERVAL", value_name = "DURATION")]
    pub relist_interval: Option<String>,
    /// Print Grafana's admin password (never printed or logged otherwise)
    #[arg(long, global = true)]
    pub show_password: bool,
    /// Accept Helm 2 (end-of-life; tiller gets cluster-admin)
    #[arg(long, global = true, env = "INTERLOK_K8S_ALLOW_HELM2")]
    pub allow_helm2: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Send messages to Interlok's /in-box (replaces the guide's JMeter plan)
    #[command(
        after_help = "Examples:\n  interlok-k8s load -n 150\n  interlok-k8s load --url http://127.0.0.1:8080/in-box -n 1000 -c 4"
    )]
    Load(LoadArgs),
    /// Watch the autoscaler live: replicas, the metric against its target, pods, a sparkline
    #[command(after_help = "Examples:\n  interlok-k8s watch\n  interlok-k8s watch --until-replicas 2 --timeout 5m")]
    Watch(WatchArgs),
    /// Prove autoscaling: send the guide's 150 messages and follow them until the autoscaler wants 2 replicas
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
pub struct SetupArgs {
    /// Answer every question with its default and do not ask to proceed
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the commands that would change something instead of running them
    #[arg(long)]
    pub dry_run: bool,
    /// List the stages and exit
    #[arg(long)]
    pub list: bool,
    /// Start at this stage (earlier stages are not run)
    #[arg(long, value_name = "STAGE")]
    pub from: Option<String>,
    /// Run only these stages (comma-separated or repeated)
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Skip these stages (comma-separated or repeated)
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    pub skip: Vec<String>,
    /// After setup, prove autoscaling (what `interlok-k8s demo` does)
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Stop once the autoscaler wants at least this many replicas
    #[arg(long, value_name = "N")]
    pub until_replicas: Option<u64>,
    /// Stop after this long, e.g. 5m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Time between refreshes
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args, Default)]
pub struct VerifyArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Run only the checks setup needs before it starts
    #[arg(long)]
    pub pre: bool,
    /// Re-run until healthy or this much time has passed, e.g. 2m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,
    /// Use this Prometheus instead of a port-forward, e.g. http://127.0.0.1:9090
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub prometheus_url: Option<String>,
    /// Use this Pushgateway instead of a port-forward, e.g. http://127.0.0.1:9091
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub pushgateway_url: Option<String>,
}

/// `30s`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 2m or 1h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?} is not a duration like 30s, 2m or 1h")),
    };
    Ok(std::time::Duration::from_secs(value.saturating_mul(factor)))
}

/// An http(s) URL with a host.
pub fn parse_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{text:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(text.to_string())
}

#[derive(Debug, Args, Default)]
pub struct LoadArgs {
    /// Send exactly this many requests (the guide's JMeter plan sent 150)
    #[arg(short = 'n', long = "requests", default_value_t = 150, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub requests: u64,
    /// Run for this long instead of a count, e.g. 30s
    #[arg(long, value_name = "DURATION", value_parser = crate::load::parse_limit, conflicts_with = "requests")]
    pub duration: Option<std::time::Duration>,
    /// Interlok's /in-box URL (default: a port-forward to the Interlok Service, closed afterwards)
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub url: Option<String>,
    /// HTTP method
    #[arg(long, default_value = "GET", value_parser = ["GET", "POST", "PUT"])]
    pub method: String,
    /// Request body
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body from a file
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<std::path::PathBuf>,
    /// Connections sending at once
    #[arg(short = 'c', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// At most this many requests per second, across all connections
    #[arg(long, value_name = "PER_SECOND", value_parser = crate::load::parse_rate)]
    pub rate: Option<f64>,
    /// Per-request timeout, e.g. 10s
    #[arg(long, value_name = "DURATION", value_parser = crate::load::parse_limit, default_value = "10s")]
    pub timeout: std::time::Duration,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Show the live scaling view while the load runs
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
}

#[derive(Debug, Args, Default)]
pub struct TeardownArgs {
    /// Do not ask before removing
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the minikube cluster
    #[arg(long)]
    pub delete_cluster: bool,
    /// Also remove the Hyper-V switch, if the wizard created it
    #[arg(long)]
    pub remove_switch: bool,
}

#[derive(Debug, Args, Default)]
pub struct BundleArgs {
    /// Where to write the archive [default: interlok-k8s-bundle-<time>.tar.gz]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args, Default)]
pub struct RenderArgs {
    /// Write one file per object into this directory instead of printing
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}
