//! A stand-in Interlok that does what the image and its files say (see `images`). It boots as Interlok does:
//! `bootstrap.properties` (from `/opt/interlok/config`, or the file `INTERLOK_OPTS` names) gives the management
//! components and the adapter file; the adapter's `jetty-message-consumer`s are served on 8080 when `jetty`
//! is a management component, each answering as its workflow's producer does (404 elsewhere); each
//! `message-metrics-interceptor` counts the messages of its workflow. The pusher runs only when the image
//! carries it, `kubernetes-metrics` is configured and `prometheusEndpointUrl` is set, and then behaves as
//! interlok-kubernetes' PrometheusMetricsAdapter: a POST per interceptor to
//! `/metrics/job/interlok/k8s_namespace/<ns>/k8s_pod_name/<pod>` of the endpoint (host:port; client_java
//! prepends `http://`), the metric named after the interceptor's unique-id with every `-` removed, the count
//! of its last window. What it logs goes through the effective log4j2.xml's console pattern, as real
//! Interlok's output does.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::apiserver::ApiState;
use crate::http::{Reply, Response, Server};
use crate::images::{Simpleclient, CONFIG_DIR, INTERLOK_HOME};
use crate::kubelet::WorldKubelet;

/// Time scaling of the stand-in (real Interlok: a 10 s collector interval over 10 s of time slices).
#[derive(Debug, Clone)]
pub struct InterlokOptions {
    pub push_interval: Duration,
    /// Interlok reports the messages of its newest ~10 s of time slices.
    pub window: Duration,
}

impl Default for InterlokOptions {
    fn default() -> Self {
        InterlokOptions { push_interval: Duration::from_millis(500), window: Duration::from_secs(10) }
    }
}

/// The pusher's warning when `prometheusEndpointUrl` is missing (PrometheusMetricsAdapter.init).
pub const NO_ENDPOINT_WARNING: &str = "Prometheus Metrics Adapter could not be started because the bootstrap property or system property prometheusEndpointUrl, was not set.";

const PUSHER_LOGGER: &str = "com.adaptris.kubernetes.metrics.prometheus.PrometheusMetricsAdapter";
const COMPONENT_LOGGER: &str = "com.adaptris.mgmt.kubernetes.metrics.KubernetesMetricsComponent";

/// A workflow as far as HTTP and metrics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub unique_id: String,
    /// The `jetty-message-consumer`'s path, if the workflow has one.
    pub path: Option<String>,
    /// What the workflow answers (a `jetty-standard-response-producer`'s configured status, else 200).
    pub status: u16,
    /// Unique-ids of its `message-metrics-interceptor`s.
    pub interceptors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterConfig {
    pub unique_id: String,
    pub workflows: Vec<Workflow>,
}

/// Reads an adapter.xml as Interlok's marshaller would find the parts we model.
pub fn parse_adapter(xml: &str) -> Result<AdapterConfig, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if root.tag_name().name() != "adapter" {
        return Err(format!("the root element is <{}>, not <adapter>", root.tag_name().name()));
    }
    let mut workflows = Vec::new();
    for list in root.descendants().filter(|n| n.has_tag_name("workflow-list")) {
        for workflow in list.children().filter(roxmltree::Node::is_element) {
            workflows.push(parse_workflow(workflow, workflows.len()));
        }
    }
    Ok(AdapterConfig { unique_id: unique_id(root).unwrap_or_else(|| generated_id(0)), workflows })
}

fn parse_workflow(workflow: roxmltree::Node, index: usize) -> Workflow {
    let child = |name: &str| workflow.children().find(|n| n.has_tag_name(name));
    let consumer = child("consumer").filter(|c| class_of(*c) == "jetty-message-consumer");
    // 3.x: <destination><destination>/in-box</destination></destination>; later: <path>/in-box</path>
    let path = consumer.and_then(|c| {
        let path = child_text(c, "path");
        path.or_else(|| c.children().find(|e| e.has_tag_name("destination")).and_then(|d| child_text(d, "destination")))
    });
    let status = child("producer")
        .filter(|p| class_of(*p) == "jetty-standard-response-producer")
        .and_then(|p| p.descendants().find(|n| n.has_tag_name("status")).and_then(|s| s.text()))
        .and_then(|s| s.trim().rsplit('_').next().and_then(|code| code.parse().ok()))
        .unwrap_or(200);
    let interceptors = workflow
        .descendants()
        .filter(|n| n.has_tag_name("message-metrics-interceptor") || class_of(*n) == "message-metrics-interceptor")
        .enumerate()
        .map(|(i, n)| unique_id(n).unwrap_or_else(|| generated_id(index * 10 + i + 1)))
        .collect();
    Workflow { unique_id: unique_id(workflow).unwrap_or_else(|| generated_id(index + 100)), path, status, interceptors }
}

fn child_text(node: roxmltree::Node, name: &str) -> Option<String> {
    node.children().find(|e| e.has_tag_name(name)).and_then(|e| e.text()).map(|t| t.trim().to_string())
}

fn class_of<'a>(node: roxmltree::Node<'a, '_>) -> &'a str {
    node.attribute("class").unwrap_or_else(|| node.tag_name().name())
}

fn unique_id(node: roxmltree::Node) -> Option<String> {
    node.children().find(|n| n.has_tag_name("unique-id")).and_then(|n| n.text()).map(|t| t.trim().to_string())
}

/// Interlok gives a component without a unique-id a generated GUID.
fn generated_id(n: usize) -> String {
    format!("{:08x}-3c1e-4d2a-9f6b-{:012x}", 0x5eed_0000 + n, n)
}

/// Java properties as Interlok's bootstrap reads them: `key=value`, `key: value` or `key value`, `#`/`!`
/// comments, backslash continuations.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            logical.push_str(stripped);
            continue;
        }
        logical.push_str(line);
        let split = logical.find(['=', ':', ' ', '\t']).unwrap_or(logical.len());
        let key = logical[..split].trim().to_string();
        let value = logical[split..].trim_start_matches([' ', '\t']);
        let value = value.strip_prefix(['=', ':']).unwrap_or(value).trim().to_string();
        properties.insert(key, value);
        logical.clear();
    }
    properties
}

/// Reads `-Dname=value` out of a JAVA_OPTS string.
pub fn system_property(java_opts: &str, name: &str) -> Option<String> {
    let prefix = format!("-D{name}=");
    java_opts.split_whitespace().find_map(|word| word.strip_prefix(&prefix).map(String::from))
}

/// An Interlok file URL or path (`file://localhost/./config/adapter.xml`, `./config/x.xml`,
/// `file:///opt/interlok/config/x.xml`) as an absolute path in the container.
fn container_path(url: &str) -> String {
    let path = url
        .strip_prefix("file://localhost")
        .or_else(|| url.strip_prefix("file://"))
        .or_else(|| url.strip_prefix("file:"))
        .unwrap_or(url);
    let relative = path.strip_prefix("/./").or_else(|| path.strip_prefix("./"));
    match relative {
        Some(rest) => format!("{INTERLOK_HOME}/{rest}"),
        None if path.starts_with('/') => path.to_string(),
        None => format!("{INTERLOK_HOME}/{path}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    fn parse(text: &str) -> Option<Level> {
        [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error, Level::Fatal]
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(text.trim()))
    }
}

/// One logging event of Interlok's (a logger is a full class name).
#[derive(Debug, Clone)]
pub struct Event {
    pub level: Level,
    pub thread: &'static str,
    pub logger: &'static str,
    pub message: String,
    pub throwable: Option<String>,
}

fn event(level: Level, logger: &'static str, message: impl Into<String>) -> Event {
    Event { level, thread: "main", logger, message: message.into(), throwable: None }
}

/// The console side of a log4j2.xml: the Console appender's pattern and the logger levels. Without a
/// log4j2.xml, log4j2's default configuration applies: errors only.
#[derive(Debug, Clone)]
pub struct Layout {
    pattern: String,
    levels: Vec<(String, Level)>,
    root: Level,
}

impl Layout {
    pub fn from_log4j2(xml: Option<&str>) -> Layout {
        let default = Layout {
            pattern: "%d{HH:mm:ss.SSS} [%t] %-5level %logger{36} - %msg%n".into(),
            levels: Vec::new(),
            root: Level::Error,
        };
        let Some(doc) = xml.and_then(|x| roxmltree::Document::parse(x).ok()) else {
            return default;
        };
        let console = doc.descendants().find(|n| n.has_tag_name("Console"));
        let Some(pattern) = console
            .and_then(|c| c.descendants().find(|n| n.has_tag_name("Pattern")).and_then(|p| p.text()))
            .or_else(|| {
                console.and_then(|c| c.descendants().find(|n| n.has_tag_name("PatternLayout"))?.attribute("pattern"))
            })
        else {
            return default;
        };
        let levels = doc
            .descendants()
            .filter(|n| n.has_tag_name("Logger"))
            .filter_map(|n| Some((n.attribute("name")?.to_string(), Level::parse(n.attribute("level")?)?)))
            .collect();
        let root = doc
            .descendants()
            .find(|n| n.has_tag_name("Root"))
            .and_then(|n| n.attribute("level").and_then(Level::parse))
            .unwrap_or(Level::Error);
        Layout { pattern: pattern.trim().to_string(), levels, root }
    }

    fn enabled(&self, event: &Event) -> bool {
        let threshold = self
            .levels
            .iter()
            .filter(|(name, _)| {
                event.logger == name || event.logger.strip_prefix(name.as_str()).is_some_and(|r| r.starts_with('.'))
            })
            .max_by_key(|(name, _)| name.len())
            .map_or(self.root, |(_, level)| *level);
        event.level >= threshold
    }

    /// The console output for an event ("" when its logger's level filters it out).
    pub fn render(&self, event: &Event) -> String {
        if !self.enabled(event) {
            return String::new();
        }
        render_pattern(&self.pattern, event)
    }
}

fn render_pattern(pattern: &str, event: &Event) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        if chars.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        // format modifier: [-]width[.max]
        let left = chars.get(i) == Some(&'-');
        if left {
            i += 1;
        }
        let mut width = 0;
        while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
            width = width * 10 + d as usize;
            i += 1;
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
        }
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        let mut options = Vec::new();
        while chars.get(i) == Some(&'{') {
            let (option, next) = braced(&chars, i);
            options.push(option);
            i = next;
        }
        let text = match name.as_str() {
            "highlight" => highlight(options.first().map_or("", String::as_str), options.get(1), event),
            "p" | "level" | "le" => event.level.name().to_string(),
            "t" | "thread" | "tn" => event.thread.to_string(),
            "c" | "logger" => abbreviate(event.logger, options.first().map(String::as_str)),
            "m" | "msg" | "message" => event.message.clone(),
            "n" => "\n".to_string(),
            "throwable" | "ex" | "exception" | "xEx" | "xThrowable" | "rEx" | "rThrowable" => {
                event.throwable.as_ref().map(|t| format!("{t}\n")).unwrap_or_default()
            }
            "d" | "date" => timestamp(options.first().map(String::as_str)),
            _ => String::new(),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&text);
        }
    }
    out
}

/// The text inside `{...}` starting at `open` (nesting counted), and the index after the closing brace.
fn braced(chars: &[char], open: usize) -> (String, usize) {
    let mut depth = 0;
    for (j, c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (chars[open + 1..j].iter().collect(), j + 1);
                }
            }
            _ => {}
        }
    }
    (chars[open + 1..].iter().collect(), chars.len())
}

/// log4j2's `%highlight`: the level's ANSI style before the text, the reset after it (after the newline,
/// when the pattern puts `%n` inside).
fn highlight(inner: &str, styles: Option<&String>, event: &Event) -> String {
    let text = render_pattern(inner, event);
    if text.is_empty() {
        return text;
    }
    let default = match event.level {
        Level::Fatal | Level::Error => "bright red",
        Level::Warn => "yellow",
        Level::Info => "green",
        Level::Debug => "cyan",
        Level::Trace => "black",
    };
    let style = styles
        .and_then(|s| {
            s.split(',').find_map(|pair| {
                let (level, style) = pair.split_once('=')?;
                (level.trim().eq_ignore_ascii_case(event.level.name())).then(|| style.trim().to_string())
            })
        })
        .unwrap_or_else(|| default.to_string());
    let codes: Vec<&str> = style
        .split_whitespace()
        .filter_map(|word| match word.to_ascii_lowercase().as_str() {
            "bright" | "bold" => Some("1"),
            "black" => Some("30"),
            "red" => Some("31"),
            "green" => Some("32"),
            "yellow" => Some("33"),
            "blue" => Some("34"),
            "magenta" => Some("35"),
            "cyan" => Some("36"),
            "white" => Some("37"),
            _ => None,
        })
        .collect();
    format!("\x1b[{}m{text}\x1b[m", codes.join(";"))
}

/// `%c{1.}` → `c.a.k.m.p.PrometheusMetricsAdapter`; `%c{1}` → `PrometheusMetricsAdapter`; `%c{36}` and
/// `%c` → the full name when it fits.
fn abbreviate(logger: &str, option: Option<&str>) -> String {
    let parts: Vec<&str> = logger.split('.').collect();
    match option.map(str::trim) {
        Some("1.") => {
            let (last, packages) = parts.split_last().expect("a logger name");
            let mut short: Vec<String> = packages.iter().map(|p| p.chars().take(1).collect()).collect();
            short.push(last.to_string());
            short.join(".")
        }
        // log4j2: an integer keeps that many rightmost name elements
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n > 0 && n < parts.len() => parts[parts.len() - n..].join("."),
            _ => logger.to_string(),
        },
        None => logger.to_string(),
    }
}

fn timestamp(format: Option<&str>) -> String {
    let now = crate::store::now_rfc3339(); // 2026-01-02T03:04:05Z
    let millis =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_millis()).unwrap_or(0);
    let (date, time) = now.trim_end_matches('Z').split_once('T').unwrap_or(("", ""));
    match format {
        Some(f) if f.starts_with("HH:mm:ss") => format!("{time}.{millis:03}"),
        _ => format!("{date}T{time},{millis:03}"),
    }
}

/// What a pod's Interlok does, decided at start from its image and effective files.
#[derive(Debug, Clone)]
pub struct Boot {
    pub adapter: AdapterConfig,
    /// The embedded web server (management component `jetty`) listens on 8080.
    pub jetty: bool,
    /// Where the pusher pushes and how it names counters, when it runs.
    pub push: Option<(String, Simpleclient)>,
    pub layout: Layout,
    /// What it wrote while starting (rendered).
    pub log: String,
}

/// Boots Interlok from its files (absolute path → content) and environment; Err is the output of a JVM
/// that exits during start-up.
pub fn boot(
    version: &str,
    pusher: Option<Simpleclient>,
    files: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> Result<Boot, String> {
    let layout = Layout::from_log4j2(files.get(&format!("{CONFIG_DIR}/log4j2.xml")).map(String::as_str));
    let mut log = String::new();
    let mut write = |e: Event| log.push_str(&layout.render(&e));
    let crash = |log: &str, exception: String| format!("{log}Exception in thread \"main\" {exception}\n");
    write(event(
        Level::Info,
        "com.adaptris.core.management.StandardBootstrap",
        format!("Bootstrap of Interlok {version} complete"),
    ));
    let resource = env
        .get("INTERLOK_OPTS")
        .and_then(|o| o.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "bootstrap.properties".into());
    let bootstrap_path = if resource.starts_with('/') { resource.clone() } else { format!("{CONFIG_DIR}/{resource}") };
    let Some(bootstrap) = files.get(&bootstrap_path) else {
        return Err(crash(&log, format!("java.lang.Exception: Could not find bootstrap resource [{resource}]")));
    };
    let properties = parse_properties(bootstrap);
    write(event(
        Level::Trace,
        "com.adaptris.core.management.BootstrapProperties",
        format!("Properties resource is [{resource}]"),
    ));
    let components: Vec<String> = properties
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("managementComponents"))
        .map(|(_, v)| v.split(':').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
        .unwrap_or_default();
    let known = |c: &str| matches!(c, "jmx" | "jetty") || (c == "kubernetes-metrics" && pusher.is_some());
    if let Some(unknown) = components.iter().find(|c| !known(c)) {
        return Err(crash(&log, format!("java.lang.ClassNotFoundException: {unknown}")));
    }
    let adapter_url = ["adapterConfigUrl", "adapterConfigUrl.0"].iter().find_map(|k| properties.get(*k));
    let Some(adapter_url) = adapter_url else {
        return Err(crash(
            &log,
            "com.adaptris.core.CoreException: no adapterConfigUrl in the bootstrap properties".into(),
        ));
    };
    let adapter_path = container_path(adapter_url);
    let Some(adapter_xml) = files.get(&adapter_path) else {
        return Err(crash(
            &log,
            format!("com.adaptris.core.CoreException: java.io.FileNotFoundException: {adapter_path} (No such file or directory)"),
        ));
    };
    let adapter = match parse_adapter(adapter_xml) {
        Ok(adapter) => adapter,
        Err(why) => return Err(crash(&log, format!("com.adaptris.core.CoreException: {adapter_path}: {why}"))),
    };
    let metrics = components.iter().any(|c| c == "kubernetes-metrics");
    let mut push = None;
    if let (true, Some(client)) = (metrics, pusher) {
        // the system property (JAVA_OPTS, or sysprop.* in the bootstrap) when not empty, else the bootstrap property
        let java_opts = [env.get("JAVA_OPTS"), env.get("JVM_ARGS")].into_iter().flatten().cloned().collect::<Vec<_>>();
        let endpoint = java_opts
            .iter()
            .find_map(|o| system_property(o, "prometheusEndpointUrl"))
            .or_else(|| properties.get("sysprop.prometheusEndpointUrl").cloned())
            .filter(|e| !e.is_empty())
            .or_else(|| properties.get("prometheusEndpointUrl").cloned());
        match endpoint {
            Some(endpoint) => push = Some((endpoint, client)),
            None => write(event(Level::Warn, PUSHER_LOGGER, NO_ENDPOINT_WARNING)),
        }
        write(event(Level::Info, COMPONENT_LOGGER, "Found and initializing metrics adapter PrometheusMetricsAdapter"));
    }
    write(event(Level::Info, "com.adaptris.core.management.UnifiedBootstrap", "Adapter created"));
    if metrics && pusher.is_some() {
        write(event(Level::Info, COMPONENT_LOGGER, "Starting metrics adapter PrometheusMetricsAdapter"));
    }
    write(event(Level::Info, "com.adaptris.core.Adapter", format!("Adapter({}) Started", adapter.unique_id)));
    Ok(Boot { adapter, jetty: components.iter().any(|c| c == "jetty"), push, layout, log })
}

/// Where a pod's output goes (`kubectl logs`).
pub type LogSink = Arc<Mutex<String>>;

/// A running Interlok: its web server (when `jetty` is on), its workflows' counters, its pusher.
pub struct StandIn {
    pub addr: Option<SocketAddr>,
    /// Messages each workflow consumed, in adapter order.
    consumed: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    _server: Option<Server>,
    /// Each successful push: "<grouping path> <metric> <value>".
    pub pushes: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    /// Starts what `boot` decided; `labels` are the pod's `K8S_NAMESPACE`/`K8S_POD_NAME` as the pusher reads them.
    pub fn start(
        pod: PodContext,
        boot: &Boot,
        labels: (String, String),
        options: InterlokOptions,
    ) -> std::io::Result<StandIn> {
        let consumed: Arc<Vec<AtomicU64>> =
            Arc::new(boot.adapter.workflows.iter().map(|_| AtomicU64::new(0)).collect());
        let server = if boot.jetty { Some(serve(&boot.adapter, consumed.clone())?) } else { None };
        let stop = Arc::new(AtomicBool::new(false));
        let pushes = Arc::new(Mutex::new(Vec::new()));
        if let Some((endpoint, client)) = &boot.push {
            let (namespace, pod_name) = labels;
            let interceptors = boot
                .adapter
                .workflows
                .iter()
                .enumerate()
                .flat_map(|(w, wf)| wf.interceptors.iter().map(move |id| (w, id.replace('-', ""))))
                .map(|(workflow, metric)| Interceptor { workflow, metric, samples: VecDeque::new() })
                .collect();
            let pusher = Pusher {
                pod,
                endpoint: endpoint.clone(),
                client: *client,
                path: format!("/metrics/job/interlok/k8s_namespace/{namespace}/k8s_pod_name/{pod_name}"),
                options,
                consumed: consumed.clone(),
                interceptors,
                layout: boot.layout.clone(),
                stop: stop.clone(),
                pushes: pushes.clone(),
            };
            thread::spawn(move || pusher.run());
        }
        Ok(StandIn { addr: server.as_ref().map(|s| s.addr), consumed, stop, _server: server, pushes })
    }

    /// Messages its workflows consumed.
    pub fn requests(&self) -> u64 {
        self.consumed.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Messages each workflow consumed, in adapter order (its counters, as a JVM holds them).
    pub fn counters(&self) -> Vec<u64> {
        self.consumed.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    /// Takes up another run's counters: the same pod, carried into a world started from a snapshot.
    pub fn resume(&self, counters: &[u64]) {
        for (counter, value) in self.consumed.iter().zip(counters) {
            counter.store(*value, Ordering::SeqCst);
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Jetty with a servlet per consumer path: the workflow's answer there, Jetty's 404 page elsewhere.
fn serve(adapter: &AdapterConfig, consumed: Arc<Vec<AtomicU64>>) -> std::io::Result<Server> {
    let routes: Vec<(usize, String, u16)> =
        adapter.workflows.iter().enumerate().filter_map(|(i, w)| w.path.clone().map(|p| (i, p, w.status))).collect();
    Server::start(Arc::new(move |request| {
        let route = routes.iter().find(|(_, path, _)| match path.strip_suffix("/*") {
            Some(prefix) => request.path == prefix || request.path.starts_with(&format!("{prefix}/")),
            None => request.path == *path,
        });
        match route {
            Some((workflow, _, status)) => {
                consumed[*workflow].fetch_add(1, Ordering::SeqCst);
                // an empty service list: the response producer answers with the message, i.e. the request body
                Reply::Full(Response::bytes(*status, "text/plain", request.body.clone()))
            }
            None => Reply::Full(Response::bytes(404, "text/html;charset=iso-8859-1", not_found_page(&request.path))),
        }
    }))
}

fn not_found_page(path: &str) -> Vec<u8> {
    format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error 404 Not Found</title>\n</head>\n<body><h2>HTTP ERROR 404 Not Found</h2>\n<table>\n<tr><th>URI:</th><td>{path}</td></tr>\n<tr><th>STATUS:</th><td>404</td></tr>\n<tr><th>MESSAGE:</th><td>Not Found</td></tr>\n</table>\n</body>\n</html>\n"
    )
    .into_bytes()
}

/// What the pusher needs of its pod's surroundings: the API server and node for cluster DNS, the pod's log.
#[derive(Clone)]
pub struct PodContext {
    pub state: Weak<ApiState>,
    pub kubelet: Weak<WorldKubelet>,
    pub namespace: String,
    pub log: LogSink,
}

struct Interceptor {
    workflow: usize,
    metric: String,
    /// (when, the workflow's total then), oldest first, spanning the window.
    samples: VecDeque<(Instant, u64)>,
}

struct Pusher {
    pod: PodContext,
    endpoint: String,
    client: Simpleclient,
    path: String,
    options: InterlokOptions,
    consumed: Arc<Vec<AtomicU64>>,
    interceptors: Vec<Interceptor>,
    layout: Layout,
    stop: Arc<AtomicBool>,
    pushes: Arc<Mutex<Vec<String>>>,
}

impl Pusher {
    /// Every `push_interval`, for each interceptor, pushes the count of its last `window` — from its first
    /// message on (before it, Interlok's calculator answers -1 and nothing is pushed).
    fn run(mut self) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let _keep = tx;
        while !self.stop.load(Ordering::SeqCst) {
            let _ = rx.recv_timeout(self.options.push_interval); // the pusher's own fixed-delay schedule
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            for i in 0..self.interceptors.len() {
                let total = self.consumed[self.interceptors[i].workflow].load(Ordering::SeqCst);
                let window = self.options.window;
                let samples = &mut self.interceptors[i].samples;
                samples.push_back((now, total));
                while samples.len() > 1 && now.duration_since(samples[1].0) >= window {
                    samples.pop_front();
                }
                if total == 0 {
                    continue;
                }
                let oldest = if now.duration_since(samples[0].0) >= window { samples[0].1 } else { 0 };
                let metric = self.interceptors[i].metric.clone();
                self.push(&metric, total - oldest);
            }
        }
    }

    fn log(&self, event: Event) {
        let line = self.layout.render(&event);
        self.pod.log.lock().expect("log").push_str(&line);
    }

    fn push(&self, metric: &str, value: u64) {
        let Some(state) = self.pod.state.upgrade() else { return };
        let Some(kubelet) = self.pod.kubelet.upgrade() else { return };
        self.log(Event {
            thread: "Prometheus Metric Gatherer",
            ..event(
                Level::Trace,
                PUSHER_LOGGER,
                format!("Pushing metric '{metric}' with value '{value}' to Prometheus."),
            )
        });
        let help = |name: &str| {
            format!("# HELP {name} Number of messages processed for the workflow interceptor named {metric}\n")
        };
        let body = match self.client {
            Simpleclient::V0_6 => format!("{}# TYPE {metric} counter\n{metric} {value}.0\n", help(metric)),
            Simpleclient::V0_10 => format!(
                "{}# TYPE {metric}_total counter\n{metric}_total {value}.0\n{}# TYPE {metric}_created gauge\n{metric}_created 1.7E9\n",
                help(&format!("{metric}_total")),
                help(&format!("{metric}_created")),
            ),
        };
        // client_java's PushGateway(String) prepends http:// itself: a value with a scheme names host "http"
        let failure = if let Some((scheme, _)) = self.endpoint.split_once("://") {
            Some(format!("java.net.UnknownHostException: {scheme}"))
        } else {
            match crate::dns::resolve(&state, &kubelet, &self.pod.namespace, &self.endpoint) {
                Err(why) if why.contains("no such host") => {
                    let host = self.endpoint.rsplit_once(':').map_or(self.endpoint.as_str(), |(h, _)| h);
                    Some(format!("java.net.UnknownHostException: {host}"))
                }
                Err(_) => Some("java.net.ConnectException: Connection refused (Connection refused)".into()),
                Ok(addr) => {
                    let url = format!("http://{addr}{}", self.path);
                    match ureq::post(&url)
                        .set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                        .send_string(&body)
                    {
                        Ok(_) => None,
                        Err(ureq::Error::Status(code, _)) => Some(format!(
                            "java.io.IOException: Response code from http://{}{} was {code}",
                            self.endpoint, self.path
                        )),
                        Err(_) => Some("java.net.ConnectException: Connection refused (Connection refused)".into()),
                    }
                }
            }
        };
        match failure {
            None => self.pushes.lock().expect("pushes").push(format!("{} {metric} {value}", self.path)),
            Some(exception) => self.log(Event {
                thread: "Prometheus Metric Gatherer",
                throwable: Some(format!(
                    "{exception}\n\tat io.prometheus.client.exporter.PushGateway.doRequest(PushGateway.java:315)"
                )),
                ..event(Level::Warn, PUSHER_LOGGER, "Could not push to Prometheus.")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::Image;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const JAVA_OPTS: (&str, &str) =
        ("JAVA_OPTS", "-DprometheusEndpointUrl=pushgateway:9091 -Dnetworkaddress.cache.ttl=30");

    #[test]
    fn the_guides_image_serves_in_box_and_pushes_message_metrics() {
        let image = Image::guide();
        let boot = boot("3.9", Some(Simpleclient::V0_6), &image.files, &env(&[JAVA_OPTS])).expect("boots");
        assert_eq!(boot.adapter.workflows.len(), 1);
        let workflow = &boot.adapter.workflows[0];
        assert_eq!(workflow.unique_id, "MetricsWorkflow");
        assert_eq!(workflow.path.as_deref(), Some("/in-box"));
        assert_eq!(workflow.status, 200);
        assert_eq!(workflow.interceptors, ["MessageMetrics"]);
        assert!(boot.jetty);
        assert_eq!(boot.push, Some(("pushgateway:9091".to_string(), Simpleclient::V0_6)));
        assert!(!boot.log.contains(NO_ENDPOINT_WARNING));
        assert!(boot.log.contains("Bootstrap of Interlok 3.9 complete"), "{}", boot.log);
    }

    #[test]
    fn the_stock_image_has_no_channel_and_never_pushes_whatever_java_opts_says() {
        let image = Image::stock();
        let boot = boot("5.0", None, &image.files, &env(&[JAVA_OPTS])).expect("boots");
        assert!(boot.adapter.workflows.is_empty());
        assert!(boot.jetty, "jetty:jmx: Jetty listens, and answers 404");
        assert_eq!(boot.push, None);
        assert!(
            boot.log.starts_with("INFO  [main] [StandardBootstrap] Bootstrap of Interlok 5.0 complete\n"),
            "{}",
            boot.log
        );
    }

    #[test]
    fn without_the_endpoint_the_pusher_warns_in_the_guides_coloured_layout_and_does_not_start() {
        let image = Image::guide();
        let boot = boot("3.9", Some(Simpleclient::V0_6), &image.files, &BTreeMap::new()).expect("boots");
        assert_eq!(boot.push, None);
        let warning =
            format!("\x1b[1;33mWARN  [main] [c.a.k.m.p.PrometheusMetricsAdapter] {NO_ENDPOINT_WARNING}\n\x1b[m");
        assert!(boot.log.contains(&warning), "{:?}", boot.log);
    }

    #[test]
    fn the_endpoint_may_come_from_the_bootstrap_properties() {
        let bootstrap = "managementComponents=jetty:jmx:kubernetes-metrics\nadapterConfigUrl=file://localhost/./config/adapter.xml\nprometheusEndpointUrl=gw.monitoring:9091\n";
        let image = Image::guide().with_config_file("bootstrap.properties", bootstrap);
        let boot = boot("3.9", Some(Simpleclient::V0_6), &image.files, &BTreeMap::new()).expect("boots");
        assert_eq!(boot.push.map(|p| p.0), Some("gw.monitoring:9091".to_string()));
    }

    #[test]
    fn without_kubernetes_metrics_in_the_components_nothing_is_pushed_or_warned() {
        let bootstrap = "managementComponents=jmx:jetty\nadapterConfigUrl=file://localhost/./config/adapter.xml\n";
        let image = Image::guide().with_config_file("bootstrap.properties", bootstrap);
        let boot = boot("3.9", Some(Simpleclient::V0_6), &image.files, &env(&[JAVA_OPTS])).expect("boots");
        assert_eq!(boot.push, None);
        assert!(!boot.log.contains("PrometheusMetricsAdapter"), "{}", boot.log);
    }

    #[test]
    fn kubernetes_metrics_on_an_image_without_it_stops_the_jvm() {
        let bootstrap = "managementComponents=jmx:jetty:kubernetes-metrics\nadapterConfigUrl.0=file://localhost/./config/adapter.xml\n";
        let image = Image::stock().with_config_file("bootstrap.properties", bootstrap);
        let crash = boot("5.0", None, &image.files, &env(&[JAVA_OPTS])).expect_err("no such component");
        assert!(
            crash.ends_with("Exception in thread \"main\" java.lang.ClassNotFoundException: kubernetes-metrics\n"),
            "{crash}"
        );
    }

    #[test]
    fn a_broken_or_missing_adapter_file_stops_the_jvm() {
        let image = Image::guide().with_config_file("adapter.xml", "<adapter><unique-id>x</adapter>");
        assert!(boot("3.9", Some(Simpleclient::V0_6), &image.files, &BTreeMap::new()).is_err());
        let image = Image::guide().without_config_file("adapter.xml");
        let crash = boot("3.9", Some(Simpleclient::V0_6), &image.files, &BTreeMap::new()).expect_err("no file");
        assert!(crash.contains("/opt/interlok/config/adapter.xml (No such file or directory)"), "{crash}");
    }

    #[test]
    fn metric_names_are_interceptor_ids_without_dashes_and_paths_come_from_either_consumer_form() {
        let xml = r#"<adapter><unique-id>a</unique-id><channel-list><channel><workflow-list>
            <pooling-workflow><unique-id>Orders</unique-id>
              <consumer class="jetty-message-consumer"><path>/orders</path></consumer>
              <producer class="jetty-standard-response-producer"><status-provider class="http-configured-status"><status>ACCEPTED_202</status></status-provider></producer>
              <interceptors><message-metrics-interceptor><unique-id>Orders-Metrics</unique-id></message-metrics-interceptor></interceptors>
            </pooling-workflow>
            <standard-workflow><unique-id>Files</unique-id><consumer class="fs-consumer"/></standard-workflow>
          </workflow-list></channel></channel-list></adapter>"#;
        let adapter = parse_adapter(xml).expect("parses");
        assert_eq!(adapter.workflows[0].path.as_deref(), Some("/orders"));
        assert_eq!(adapter.workflows[0].status, 202);
        assert_eq!(adapter.workflows[0].interceptors, ["Orders-Metrics"]);
        assert_eq!(adapter.workflows[1].path, None);
    }

    #[test]
    fn without_a_log4j2_file_only_errors_reach_the_console() {
        let layout = Layout::from_log4j2(None);
        assert_eq!(layout.render(&event(Level::Warn, PUSHER_LOGGER, "x")), "");
        assert!(layout.render(&event(Level::Error, PUSHER_LOGGER, "boom")).contains("ERROR com.adaptris.kubernetes"));
    }

    #[test]
    fn properties_parse_as_java_reads_them() {
        let p = parse_properties("# c\n! c\na=1\nb : 2\nc 3\nd=x\\\n  y\n");
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "2");
        assert_eq!(p["c"], "3");
        assert_eq!(p["d"], "xy");
        assert_eq!(container_path("file://localhost/./config/adapter.xml"), "/opt/interlok/config/adapter.xml");
        assert_eq!(container_path("file:///etc/adapter.xml"), "/etc/adapter.xml");
        assert_eq!(container_path("./config/a.xml"), "/opt/interlok/config/a.xml");
    }

    #[test]
    fn the_web_server_answers_and_counts_on_the_consumer_path_and_404s_elsewhere() {
        let image = Image::guide();
        let boot = boot("3.9", Some(Simpleclient::V0_6), &image.files, &BTreeMap::new()).expect("boots");
        let pod = PodContext {
            state: Weak::new(),
            kubelet: Weak::new(),
            namespace: "default".into(),
            log: LogSink::default(),
        };
        let standin =
            StandIn::start(pod, &boot, ("default".into(), "p".into()), InterlokOptions::default()).expect("start");
        let base = format!("http://{}", standin.addr.expect("jetty"));
        assert_eq!(crate::world::http_get(&format!("{base}/in-box")).expect("answers").0, 200);
        let (status, page) = crate::world::http_get(&format!("{base}/orders")).expect("answers");
        assert_eq!(status, 404);
        assert!(page.contains("HTTP ERROR 404"), "{page}");
        assert_eq!(standin.requests(), 1);
    }
}
