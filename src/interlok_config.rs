//! `--interlok-config`: the user's own Interlok configuration — read, checked before anything is applied, and
//! checksummed so that a changed configuration rolls the pods. The checks are the ones the chain needs
//! (docs/interlok.md): a `message-metrics-interceptor` whose unique-id, without `-`, is the metric the
//! autoscaler follows (Interlok's pusher names the metric so); an HTTP consumer on the path setup's smoke test,
//! `load` and `demo` send to; and, in `bootstrap.properties`, the `kubernetes-metrics` management component.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::images::{self, Kind};
use crate::problem::Problem;
use crate::settings::rules::INTERLOK_CONFIG_FILES;
use crate::settings::Settings;

/// Where the images keep their configuration; each file is mounted over the image's own.
pub(crate) const MOUNT_DIR: &str = "/opt/interlok/config";

/// The pod template annotation that carries the checksum: a changed configuration changes the template.
pub(crate) const CHECKSUM_ANNOTATION: &str = "interlok-k8s/config-checksum";

/// The configuration as the ConfigMap holds it: file name → content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterlokConfig {
    /// The folder, or the single file used as adapter.xml.
    pub(crate) source: PathBuf,
    pub(crate) folder: bool,
    pub(crate) files: BTreeMap<String, String>,
}

/// What the chain needs to know of adapter.xml: its workflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workflow {
    pub(crate) unique_id: Option<String>,
    /// The path of its `jetty-message-consumer`, if it has one.
    pub(crate) path: Option<String>,
    /// The unique-ids of its `message-metrics-interceptor`s (None: Interlok generates one).
    pub(crate) interceptors: Vec<Option<String>>,
}

impl InterlokConfig {
    /// Reads a folder (the files of `INTERLOK_CONFIG_FILES` that are there) or a single file as adapter.xml.
    pub(crate) fn read(source: &Path) -> Result<InterlokConfig, Problem> {
        let mut files = BTreeMap::new();
        let folder = source.is_dir();
        if folder {
            for name in INTERLOK_CONFIG_FILES {
                let path = source.join(name);
                if path.exists() {
                    files.insert(name.to_string(), read_text(&path)?);
                }
            }
        } else {
            files.insert("adapter.xml".to_string(), read_text(source)?);
        }
        Ok(InterlokConfig { source: source.to_path_buf(), folder, files })
    }

    /// The path a file was read from, for messages.
    fn path_of(&self, name: &str) -> PathBuf {
        if self.folder {
            self.source.join(name)
        } else {
            self.source.clone()
        }
    }

    pub(crate) fn checksum(&self) -> String {
        checksum(&self.files)
    }

    /// The content checks; Ok holds the warnings to show.
    pub(crate) fn check(&self, settings: &Settings) -> Result<Vec<String>, Problem> {
        let adapter_file = self.path_of("adapter.xml");
        let workflows = workflows(self.files.get("adapter.xml").map_or("", String::as_str), &adapter_file)?;
        if let Some(log4j2) = self.files.get("log4j2.xml") {
            parse_xml(log4j2, &self.path_of("log4j2.xml"))?;
        }
        let counting = check_interceptors(&workflows, &adapter_file, settings)?;
        let consuming = check_consumer(&workflows, &adapter_file, settings)?;
        let mut warnings = Vec::new();
        if !consuming.interceptors.iter().flatten().any(|id| metric_of(id) == settings.metric) {
            warnings.push(format!(
                "in {}, the workflow consuming {} ({}) does not count for {}: messages sent by load and demo will not \
                 move the metric (the workflow {} does)",
                adapter_file.display(),
                settings.inbox_path,
                consuming.unique_id.as_deref().unwrap_or("without a unique-id"),
                settings.metric,
                counting.unique_id.as_deref().unwrap_or("without a unique-id"),
            ));
        }
        if let Some(bootstrap) = self.files.get("bootstrap.properties") {
            warnings.extend(check_bootstrap(bootstrap, &self.path_of("bootstrap.properties"), &settings.image));
        }
        Ok(warnings)
    }
}

/// The Interlok input, before anything is applied: the image rule (`images`) and, with `--interlok-config`,
/// the configuration's content. Ok holds the warnings to show; Err is bad input (exit 2).
pub(crate) fn check_input(settings: &Settings) -> Result<Vec<String>, Problem> {
    let mut warnings = images::check(settings)?;
    if let Some(config) = read(settings)? {
        warnings.extend(config.check(settings)?);
    }
    Ok(warnings)
}

/// The configuration the settings name, read (not checked), or None for the image's own.
pub(crate) fn read(settings: &Settings) -> Result<Option<InterlokConfig>, Problem> {
    settings.interlok_config.as_deref().map(InterlokConfig::read).transpose()
}

/// A checksum of files by name and content (the same for the files read and for a ConfigMap's data).
pub(crate) fn checksum(files: &BTreeMap<String, String>) -> String {
    let mut hash = Sha256::new();
    for (name, content) in files {
        // lengths first, so that no two different sets of files hash the same bytes
        hash.update(format!("{}:{name}:{}:", name.len(), content.len()));
        hash.update(content);
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{digest}")
}

/// The metric Interlok's pusher pushes for an interceptor: its unique-id with every `-` removed.
fn metric_of(interceptor_id: &str) -> String {
    interceptor_id.replace('-', "")
}

fn read_text(path: &Path) -> Result<String, Problem> {
    let bytes = std::fs::read(path).map_err(|e| {
        Problem::new(format!("cannot read {}: {e}", path.display())).with_hint("check --interlok-config")
    })?;
    String::from_utf8(bytes).map_err(|_| {
        Problem::new(format!("{} is not UTF-8 text, which a ConfigMap needs", path.display()))
            .with_hint("save it as UTF-8 (Interlok reads UTF-8 XML and properties)")
    })
}

fn parse_xml<'t>(text: &'t str, file: &Path) -> Result<roxmltree::Document<'t>, Problem> {
    roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        let why = e.to_string();
        let why = why.strip_suffix(&format!(" at {}:{}", pos.row, pos.col)).unwrap_or(&why).to_string();
        Problem::new(format!("{} is not well-formed XML: {why} (line {}, column {})", file.display(), pos.row, pos.col))
            .with_hint("fix the file at that line and column; nothing was applied")
    })
}

/// The workflows of an adapter.xml, as Interlok's configuration reads them: every element of a
/// `workflow-list`; a consumer's path in the 3.x form (`<destination><destination>/in-box</destination>`) or
/// the later `<path>`; interceptors as elements or `class` attributes, directly or in `<interceptors>`.
pub(crate) fn workflows(xml: &str, file: &Path) -> Result<Vec<Workflow>, Problem> {
    let doc = parse_xml(xml, file)?;
    let root = doc.root_element();
    if root.tag_name().name() != "adapter" {
        let pos = doc.text_pos_at(root.range().start);
        return Err(Problem::new(format!(
            "{} is not an Interlok adapter: its root element is <{}> (line {}, column {}), not <adapter>",
            file.display(),
            root.tag_name().name(),
            pos.row,
            pos.col
        ))
        .with_hint("give the adapter.xml Interlok loads (bootstrap.properties' adapterConfigUrl names it)"));
    }
    Ok(root
        .descendants()
        .filter(|n| n.has_tag_name("workflow-list"))
        .flat_map(|list| list.children().filter(roxmltree::Node::is_element))
        .map(workflow)
        .collect())
}

fn workflow(node: roxmltree::Node) -> Workflow {
    let consumer = node.children().find(|c| c.has_tag_name("consumer") && class_of(*c) == "jetty-message-consumer");
    let path = consumer.and_then(|c| {
        child_text(c, "path")
            .or_else(|| c.children().find(|d| d.has_tag_name("destination")).and_then(|d| child_text(d, "destination")))
    });
    let interceptors = node
        .descendants()
        .filter(|n| n.is_element() && class_of(*n) == "message-metrics-interceptor")
        .map(|n| child_text(n, "unique-id"))
        .collect();
    Workflow { unique_id: child_text(node, "unique-id"), path, interceptors }
}

/// A component's type: its `class` attribute, else its element name.
fn class_of<'a>(node: roxmltree::Node<'a, '_>) -> &'a str {
    node.attribute("class").unwrap_or_else(|| node.tag_name().name())
}

fn child_text(node: roxmltree::Node, name: &str) -> Option<String> {
    let text = node.children().find(|c| c.has_tag_name(name))?.text()?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The workflow whose interceptor pushes the metric, or the error naming the interceptors found.
fn check_interceptors<'w>(
    workflows: &'w [Workflow],
    file: &Path,
    settings: &Settings,
) -> Result<&'w Workflow, Problem> {
    let metric = &settings.metric;
    if let Some(found) = workflows.iter().find(|w| w.interceptors.iter().flatten().any(|id| metric_of(id) == *metric)) {
        return Ok(found);
    }
    let found: Vec<String> = workflows
        .iter()
        .flat_map(|w| &w.interceptors)
        .map(|id| match id {
            Some(id) => format!("{id} (pushed as {})", metric_of(id)),
            None => "one without a unique-id (Interlok generates one)".to_string(),
        })
        .collect();
    if found.is_empty() {
        return Err(Problem::new(format!(
            "{} has no message-metrics-interceptor: Interlok pushes one metric per such interceptor, named after \
             its unique-id, and the autoscaler follows {metric} (--metric)",
            file.display()
        ))
        .with_hint(format!(
            "add `<message-metrics-interceptor><unique-id>{metric}</unique-id></message-metrics-interceptor>` to the \
             workflow that consumes {} (docs/interlok.md)",
            settings.inbox_path
        )));
    }
    let first = workflows.iter().flat_map(|w| &w.interceptors).flatten().next();
    let follow = first.map(|id| format!("follow the one it pushes with --metric {}, or ", metric_of(id)));
    Err(Problem::new(format!(
        "{} has no message-metrics-interceptor whose unique-id, with every '-' removed, is {metric} (the metric \
         the autoscaler follows, --metric); interceptors found: {}",
        file.display(),
        found.join(", ")
    ))
    .with_hint(format!("{}give an interceptor the unique-id {metric}", follow.unwrap_or_default())))
}

/// The workflow that consumes the inbox path, or the error naming the HTTP consumers found.
fn check_consumer<'w>(workflows: &'w [Workflow], file: &Path, settings: &Settings) -> Result<&'w Workflow, Problem> {
    let inbox = &settings.inbox_path;
    let serves = |path: &str| match path.strip_suffix("/*") {
        Some(prefix) => inbox == prefix || inbox.starts_with(&format!("{prefix}/")),
        None => path == inbox,
    };
    if let Some(found) = workflows.iter().find(|w| w.path.as_deref().is_some_and(serves)) {
        return Ok(found);
    }
    let paths: Vec<&str> = workflows.iter().filter_map(|w| w.path.as_deref()).collect();
    let Some(first) = paths.first() else {
        return Err(Problem::new(format!(
            "{} has no jetty-message-consumer: setup's smoke test, load and demo send their messages over HTTP to {inbox}",
            file.display()
        ))
        .with_hint(format!(
            "add a workflow whose consumer is a jetty-message-consumer on {inbox} (docs/interlok.md shows one)"
        )));
    };
    Err(Problem::new(format!(
        "{} has no jetty-message-consumer on {inbox}, where setup's smoke test, load and demo send messages \
         (--inbox-path); its HTTP consumers: {}",
        file.display(),
        paths.join(", ")
    ))
    .with_hint(format!("name the consumer's path with --inbox-path {}", first.trim_end_matches("/*"))))
}

/// Warnings about bootstrap.properties: the components the chain needs, and the adapter file it loads.
fn check_bootstrap(text: &str, file: &Path, image: &str) -> Vec<String> {
    let properties = parse_properties(text);
    let components: Vec<&str> = properties
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("managementComponents"))
        .map(|(_, v)| v.split(':').map(str::trim).collect())
        .unwrap_or_default();
    let file = file.display();
    let mut warnings = Vec::new();
    let pushes = components.contains(&"kubernetes-metrics");
    if !pushes {
        warnings.push(format!(
            "{file}: managementComponents ({}) lacks kubernetes-metrics, so Interlok never pushes the metric; \
             add it, e.g. managementComponents=jmx:jetty:kubernetes-metrics",
            components.join(":")
        ));
    }
    if pushes && images::kind(image) == Kind::Stock {
        warnings.push(format!(
            "{file}: managementComponents names kubernetes-metrics, which {image} does not carry: Interlok stops \
             at start (ClassNotFoundException)"
        ));
    }
    if !components.contains(&"jetty") {
        warnings.push(format!(
            "{file}: managementComponents lacks jetty, so the embedded web server that serves the HTTP consumer \
             never starts"
        ));
    }
    let adapter = ["adapterConfigUrl", "adapterConfigUrl.0"].iter().find_map(|k| properties.get(*k));
    if let Some(url) = adapter.filter(|u| !u.ends_with("config/adapter.xml")) {
        warnings.push(format!(
            "{file}: adapterConfigUrl is {url}, so Interlok loads that file, not the adapter.xml the wizard mounts \
             and checked"
        ));
    }
    warnings
}

/// Java properties as Interlok's bootstrap reads them: `key=value`, `key: value` or `key value`, `#`/`!`
/// comments, backslash continuations.
pub(crate) fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            logical.push_str(continued);
            continue;
        }
        logical.push_str(line);
        let split = logical.find(['=', ':', ' ', '\t']).unwrap_or(logical.len());
        let value = logical[split..].trim_start_matches([' ', '\t']);
        let value = value.strip_prefix(['=', ':']).unwrap_or(value).trim();
        properties.insert(logical[..split].trim().to_string(), value.to_string());
        logical.clear();
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<adapter>
  <unique-id>orders</unique-id>
  <channel-list>
    <channel>
      <workflow-list>
        <standard-workflow>
          <unique-id>Files</unique-id>
          <consumer class="fs-consumer"/>
          <message-metrics-interceptor><unique-id>File-Metrics</unique-id></message-metrics-interceptor>
        </standard-workflow>
        <pooling-workflow>
          <unique-id>Orders</unique-id>
          <consumer class="jetty-message-consumer"><path>/orders</path></consumer>
          <interceptors>
            <interceptor class="message-metrics-interceptor"><unique-id>Orders-Metrics</unique-id></interceptor>
          </interceptors>
        </pooling-workflow>
      </workflow-list>
    </channel>
  </channel-list>
</adapter>
"#;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut s = Settings::defaults();
        for (flag, value) in pairs {
            s = match *flag {
                "metric" => Settings { metric: value.to_string(), ..s },
                "inbox-path" => Settings { inbox_path: value.to_string(), ..s },
                _ => Settings { image: value.to_string(), ..s },
            };
        }
        s
    }

    fn config(files: &[(&str, &str)]) -> InterlokConfig {
        let files = files.iter().map(|(n, c)| (n.to_string(), c.to_string())).collect();
        InterlokConfig { source: PathBuf::from("/nonexistent/cfg"), folder: true, files }
    }

    #[test]
    fn both_consumer_forms_and_both_interceptor_forms_are_read() {
        let flows = workflows(ORDERS, Path::new("adapter.xml")).unwrap();
        assert_eq!(flows[1].path.as_deref(), Some("/orders"));
        assert_eq!(flows[1].interceptors, [Some("Orders-Metrics".to_string())]);
        assert_eq!(flows[0].path, None, "not an HTTP consumer");
        let guide = r#"<adapter><channel-list><channel><workflow-list><standard-workflow>
            <consumer class="jetty-message-consumer"><unique-id>c</unique-id>
              <destination class="configured-consume-destination"><destination>/in-box</destination></destination>
            </consumer>
            <unique-id>MetricsWorkflow</unique-id>
            <message-metrics-interceptor><unique-id>MessageMetrics</unique-id></message-metrics-interceptor>
          </standard-workflow></workflow-list></channel></channel-list></adapter>"#;
        let flows = workflows(guide, Path::new("adapter.xml")).unwrap();
        assert_eq!(flows[0].path.as_deref(), Some("/in-box"));
        assert_eq!(flows[0].unique_id.as_deref(), Some("MetricsWorkflow"));
        assert!(config(&[("adapter.xml", guide)]).check(&Settings::defaults()).unwrap().is_empty());
    }

    #[test]
    fn the_metric_is_the_interceptor_id_without_dashes_and_a_mismatch_names_what_was_found() {
        let orders = settings(&[("metric", "OrdersMetrics"), ("inbox-path", "/orders")]);
        assert_eq!(config(&[("adapter.xml", ORDERS)]).check(&orders).unwrap(), Vec::<String>::new());
        let wrong = config(&[("adapter.xml", ORDERS)]).check(&settings(&[("inbox-path", "/orders")])).unwrap_err();
        assert!(
            wrong.message.contains(
                "interceptors found: File-Metrics (pushed as FileMetrics), Orders-Metrics (pushed as OrdersMetrics)"
            ),
            "{}",
            wrong.message
        );
        assert!(wrong.hint.unwrap().contains("--metric FileMetrics"));
        let none = config(&[("adapter.xml", "<adapter><unique-id>a</unique-id></adapter>")])
            .check(&Settings::defaults())
            .unwrap_err();
        assert!(none.message.contains("has no message-metrics-interceptor:"), "{}", none.message);
    }

    #[test]
    fn the_inbox_path_needs_an_http_consumer_and_a_counting_workflow_elsewhere_is_a_warning() {
        let metric = settings(&[("metric", "OrdersMetrics")]);
        let missing = config(&[("adapter.xml", ORDERS)]).check(&metric).unwrap_err();
        assert!(
            missing.message.contains("no jetty-message-consumer on /in-box") && missing.message.contains("/orders")
        );
        assert_eq!(missing.hint.as_deref(), Some("name the consumer's path with --inbox-path /orders"));
        let elsewhere = settings(&[("metric", "FileMetrics"), ("inbox-path", "/orders")]);
        let warnings = config(&[("adapter.xml", ORDERS)]).check(&elsewhere).unwrap();
        assert!(warnings[0].contains("(Orders) does not count for FileMetrics"), "{warnings:?}");
        let wildcard = ORDERS.replace("<path>/orders</path>", "<path>/orders/*</path>");
        let nested = settings(&[("metric", "OrdersMetrics"), ("inbox-path", "/orders/new")]);
        assert!(config(&[("adapter.xml", &wildcard)]).check(&nested).is_ok());
    }

    #[test]
    fn malformed_xml_names_the_file_line_and_column() {
        let broken = "<adapter>\n  <unique-id>a</unique-id>\n  <channel-list>\n</adapter>\n";
        let p = config(&[("adapter.xml", broken)]).check(&Settings::defaults()).unwrap_err();
        assert!(p.message.starts_with("/nonexistent/cfg/adapter.xml is not well-formed XML: "), "{}", p.message);
        assert!(p.message.ends_with("expected 'channel-list' tag, not 'adapter' (line 4, column 1)"), "{}", p.message);
        let log4j2 = config(&[("adapter.xml", ORDERS), ("log4j2.xml", "<Configuration>")]);
        let p = log4j2.check(&settings(&[("metric", "OrdersMetrics"), ("inbox-path", "/orders")])).unwrap_err();
        assert!(p.message.contains("log4j2.xml is not well-formed XML"), "{}", p.message);
        let p = config(&[("adapter.xml", "<beans/>")]).check(&Settings::defaults()).unwrap_err();
        assert!(p.message.contains("its root element is <beans>"), "{}", p.message);
    }

    #[test]
    fn bootstrap_properties_without_the_pusher_or_jetty_are_warned_about() {
        let orders = settings(&[("metric", "OrdersMetrics"), ("inbox-path", "/orders")]);
        let check = |bootstrap: &str, s: &Settings| {
            config(&[("adapter.xml", ORDERS), ("bootstrap.properties", bootstrap)]).check(s).unwrap()
        };
        let good = "managementComponents=jmx:jetty:kubernetes-metrics\nadapterConfigUrl=file://localhost/./config/adapter.xml\n";
        assert_eq!(check(good, &orders), Vec::<String>::new());
        let warnings = check("managementComponents = jetty : jmx\n", &orders);
        assert!(warnings[0].contains("lacks kubernetes-metrics"), "{warnings:?}");
        let warnings = check("managementComponents=jmx\nadapterConfigUrl.0=file:///tmp/other.xml\n", &orders);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        let stock = Settings { image: "adaptris/interlok:snapshot".into(), ..orders };
        assert!(check(good, &stock)[0].contains("ClassNotFoundException"));
    }

    #[test]
    fn the_checksum_changes_with_any_byte_or_name_and_only_then() {
        let a = config(&[("adapter.xml", ORDERS)]);
        assert_eq!(a.checksum(), config(&[("adapter.xml", ORDERS)]).checksum());
        assert_ne!(a.checksum(), config(&[("adapter.xml", &ORDERS.replace("orders", "ordert"))]).checksum());
        assert_ne!(a.checksum(), config(&[("adapter.xml", ORDERS), ("log4j2.xml", "")]).checksum());
        assert_ne!(
            config(&[("a", "bc")]).checksum(),
            config(&[("ab", "c")]).checksum(),
            "names and contents do not run together"
        );
        assert!(a.checksum().starts_with("sha256:") && a.checksum().len() == 71);
    }

    #[test]
    fn a_folder_is_read_file_by_file_and_a_single_file_is_adapter_xml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("adapter.xml"), ORDERS).unwrap();
        std::fs::write(dir.path().join("bootstrap.properties"), "a=1\n").unwrap();
        let folder = InterlokConfig::read(dir.path()).unwrap();
        assert_eq!(folder.files.keys().collect::<Vec<_>>(), ["adapter.xml", "bootstrap.properties"]);
        let single = InterlokConfig::read(&dir.path().join("adapter.xml")).unwrap();
        assert_eq!(single.files.keys().collect::<Vec<_>>(), ["adapter.xml"]);
        assert_eq!(single.path_of("adapter.xml"), dir.path().join("adapter.xml"));
        std::fs::write(dir.path().join("adapter.xml"), [0xff, 0xfe, 0x3c]).unwrap();
        assert!(InterlokConfig::read(dir.path()).unwrap_err().message.contains("not UTF-8"));
    }

    #[test]
    fn properties_parse_as_java_reads_them() {
        let p = parse_properties("# c\n! c\na=1\nb : 2\nc 3\nd=x\\\n  y\n");
        assert_eq!((p["a"].as_str(), p["b"].as_str(), p["c"].as_str(), p["d"].as_str()), ("1", "2", "3", "xy"));
    }
}
