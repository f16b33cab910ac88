//! The image catalogue: what each image holds, as a container runtime finds it — Interlok's files under
//! `/opt/interlok/config`, whether its classpath carries the `kubernetes-metrics` pusher (and which
//! simpleclient that pusher was built with), its ports. Names not in the catalogue do not exist: their pods
//! sit in ImagePullBackOff, as a real node's would. Sources: INTERLOK-FACTS.md (the guide's image, the stock
//! images), the charts in `tests/world/charts`.

use std::collections::BTreeMap;

/// Where the Interlok images are installed; Interlok resolves `./config/...` against it.
pub const INTERLOK_HOME: &str = "/opt/interlok";
pub const CONFIG_DIR: &str = "/opt/interlok/config";

/// The Prometheus Java client on the pusher's classpath: it decides the counter's name on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simpleclient {
    /// 0.6.0 (the 2019 build): the series is the interceptor's name, `MessageMetrics`.
    V0_6,
    /// 0.10.0 and later (OpenMetrics naming): `MessageMetrics_total`, plus a `MessageMetrics_created` gauge.
    V0_10,
}

/// What a container of the image runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// Interlok: it boots from `bootstrap.properties`; `pusher` is the kubernetes-metrics component on its
    /// classpath, if any.
    Interlok { version: String, pusher: Option<Simpleclient> },
    /// Anything else: it runs; what listens on its ports is whatever the world serves for it (the real
    /// Prometheus and Pushgateway, or nothing).
    Other,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub program: Program,
    /// Files baked into the image, by absolute path.
    pub files: BTreeMap<String, String>,
    /// The ports the image exposes (a description: what listens is decided when the container starts).
    pub ports: Vec<u16>,
}

impl Image {
    /// A non-Interlok image that just runs.
    pub fn other(ports: &[u16]) -> Image {
        Image { program: Program::Other, files: BTreeMap::new(), ports: ports.to_vec() }
    }

    /// The guide's image (aaronmcgrathadpx/interlok-kubernetes-scaling): Interlok 3.9 with the pusher on
    /// simpleclient 0.6.0, `/in-box` → workflow `MetricsWorkflow` → interceptor `MessageMetrics`.
    pub fn guide() -> Image {
        Image {
            program: Program::Interlok { version: "3.9-SNAPSHOT".into(), pusher: Some(Simpleclient::V0_6) },
            files: config_files(&[
                ("bootstrap.properties", GUIDE_BOOTSTRAP),
                ("adapter.xml", GUIDE_ADAPTER),
                ("log4j2.xml", GUIDE_LOG4J2),
            ]),
            ports: vec![8080, 5555],
        }
    }

    /// The stock nightly image (adaptris/interlok): an adapter with no channels, no kubernetes-metrics.
    pub fn stock() -> Image {
        Image {
            program: Program::Interlok { version: "5.0-SNAPSHOT".into(), pusher: None },
            files: config_files(&[
                ("bootstrap.properties", STOCK_BOOTSTRAP),
                ("adapter.xml", STOCK_ADAPTER),
                ("log4j2.xml", STOCK_LOG4J2),
            ]),
            ports: vec![8080, 5555],
        }
    }

    /// The same image with another pusher on its classpath (None: without one).
    pub fn with_pusher(mut self, pusher: Option<Simpleclient>) -> Image {
        if let Program::Interlok { pusher: p, .. } = &mut self.program {
            *p = pusher;
        }
        self
    }

    /// The same image with a file of its config directory replaced (or added).
    pub fn with_config_file(mut self, name: &str, content: &str) -> Image {
        self.files.insert(format!("{CONFIG_DIR}/{name}"), content.to_string());
        self
    }

    /// The same image without a file of its config directory.
    pub fn without_config_file(mut self, name: &str) -> Image {
        self.files.remove(&format!("{CONFIG_DIR}/{name}"));
        self
    }
}

fn config_files(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files.iter().map(|(name, text)| (format!("{CONFIG_DIR}/{name}"), text.to_string())).collect()
}

/// Image repositories (any tag) and what they hold; later entries win.
#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<(String, Image)>,
}

impl Default for Catalogue {
    fn default() -> Self {
        let mut catalogue = Catalogue { entries: Vec::new() };
        catalogue.register("aaronmcgrathadpx/interlok-kubernetes-scaling", Image::guide());
        catalogue.register("adaptris/interlok", Image::stock());
        for (repository, ports) in [
            // the charts in tests/world/charts
            ("quay.io/prometheus/prometheus", &[9090][..]),
            ("quay.io/prometheus/pushgateway", &[9091]),
            ("prom/pushgateway", &[9091]),
            ("prom/prometheus", &[9090]),
            ("registry.k8s.io/prometheus-adapter/prometheus-adapter", &[6443]),
            ("directxman12/k8s-prometheus-adapter-amd64", &[6443]),
            ("grafana/grafana", &[3000]),
            ("quay.io/prometheus-operator/prometheus-config-reloader", &[8080]),
            ("jimmidyson/configmap-reload", &[9533]),
            // Helm 2's tiller (the fake's and the historical name)
            ("ghcr.io/helm/tiller", &[44134, 44135]),
            ("gcr.io/kubernetes-helm/tiller", &[44134, 44135]),
            // KEDA 2.x (kedacore/charts)
            ("ghcr.io/kedacore/keda", &[8080]),
            ("ghcr.io/kedacore/keda-metrics-apiserver", &[6443, 8080]),
            ("ghcr.io/kedacore/keda-admission-webhooks", &[9443, 8080]),
        ] {
            catalogue.register(repository, Image::other(ports));
        }
        catalogue
    }
}

impl Catalogue {
    /// Adds (or replaces) an image repository; `repository` is matched as a pod's image is, tag aside.
    pub fn register(&mut self, repository: &str, image: Image) {
        let repository = canonical_repository(repository);
        self.entries.retain(|(r, _)| *r != repository);
        self.entries.push((repository, image));
    }

    /// What an image reference (`[registry/]name[:tag][@digest]`) holds, if the image exists.
    pub fn find(&self, reference: &str) -> Option<&Image> {
        let repository = canonical_repository(reference);
        self.entries.iter().rev().find(|(r, _)| *r == repository).map(|(_, image)| image)
    }
}

/// The repository part of an image reference, as Docker Hub names it: no tag or digest, no
/// `docker.io/` or `library/` prefix.
pub fn canonical_repository(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or_default();
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let name = match without_digest[last_slash..].find(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    };
    let name = name.strip_prefix("index.docker.io/").or_else(|| name.strip_prefix("docker.io/")).unwrap_or(name);
    name.strip_prefix("library/").unwrap_or(name).to_string()
}

/// The error a node's Docker runtime gives for a repository that does not exist (or is private).
pub fn pull_error(reference: &str) -> String {
    let repository = reference.split('@').next().unwrap_or(reference);
    let repository = canonical_repository(repository);
    format!(
        "Error response from daemon: pull access denied for {repository}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
    )
}

// The guide's configuration (adaptris-labs/interlok-kubernetes-scaling, src/main/interlok/config), in
// our own words: the same components and ids, less of the generated boilerplate.
const GUIDE_BOOTSTRAP: &str = "\
# Management components: JMX, the embedded web server, and the Kubernetes metrics pusher
managementComponents=jmx:jetty:kubernetes-metrics
adapterConfigUrl=file://localhost/./config/adapter.xml
jmxserviceurl=service:jmx:jmxmp://localhost:5555
sysprop.org.jboss.logging.provider=slf4j
";

const GUIDE_ADAPTER: &str = r#"<adapter>
  <unique-id>MyInterlokInstance</unique-id>
  <heartbeat-event-interval>
    <unit>MINUTES</unit>
    <interval>60</interval>
  </heartbeat-event-interval>
  <channel-list>
    <channel>
      <unique-id>MetricsChannel</unique-id>
      <consume-connection class="jetty-embedded-connection">
        <unique-id>embedded-jetty</unique-id>
      </consume-connection>
      <produce-connection class="null-connection">
        <unique-id>no-connection</unique-id>
      </produce-connection>
      <workflow-list>
        <standard-workflow>
          <unique-id>MetricsWorkflow</unique-id>
          <consumer class="jetty-message-consumer">
            <unique-id>http-in</unique-id>
            <destination class="configured-consume-destination">
              <destination>/in-box</destination>
            </destination>
          </consumer>
          <service-collection class="service-list">
            <unique-id>no-services</unique-id>
            <services/>
          </service-collection>
          <producer class="jetty-standard-response-producer">
            <unique-id>http-reply</unique-id>
            <status-provider class="http-configured-status">
              <status>OK_200</status>
            </status-provider>
          </producer>
          <message-metrics-interceptor>
            <unique-id>MessageMetrics</unique-id>
            <timeslice-duration>
              <unit>SECONDS</unit>
              <interval>5</interval>
            </timeslice-duration>
            <timeslice-history-count>100</timeslice-history-count>
          </message-metrics-interceptor>
          <in-flight-workflow-interceptor>
            <unique-id>MetricsWorkflow-InFlight</unique-id>
          </in-flight-workflow-interceptor>
        </standard-workflow>
      </workflow-list>
    </channel>
  </channel-list>
</adapter>
"#;

/// Console output as the guide's log4j2.xml writes it: level-coloured, logger names abbreviated.
const GUIDE_LOG4J2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="Console" target="SYSTEM_OUT">
      <PatternLayout>
        <Pattern>%highlight{%-5p [%t] [%c{1.}] %m%n%throwable}{FATAL=bright white, ERROR=bright red, WARN=bright yellow, INFO=magenta, DEBUG=green, TRACE=cyan}</Pattern>
      </PatternLayout>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="com.adaptris" level="TRACE"/>
    <Root level="TRACE">
      <AppenderRef ref="Console"/>
    </Root>
  </Loggers>
</Configuration>
"#;

// The stock image's configuration (adaptris/docker-interlok, builder/src/main/interlok/config).
const STOCK_BOOTSTRAP: &str = "\
# Management components to enable
managementComponents=jetty:jmx
# The adapter configuration (primary)
adapterConfigUrl.0=file://localhost/./config/adapter.xml
jmxserviceurl=service:jmx:jmxmp://localhost:5555
sysprop.org.jboss.logging.provider=slf4j
";

const STOCK_ADAPTER: &str = r#"<?xml version="1.0"?>
<adapter>
  <unique-id>MyInterlokInstance</unique-id>
  <heartbeat-event-interval>
    <unit>MINUTES</unit>
    <interval>60</interval>
  </heartbeat-event-interval>
</adapter>
"#;

const STOCK_LOG4J2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="Console" target="SYSTEM_OUT">
      <PatternLayout>
        <Pattern>%-5p [%t] [%c{1}] %m%n</Pattern>
      </PatternLayout>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="com.adaptris" level="TRACE"/>
    <Root level="TRACE">
      <AppenderRef ref="Console"/>
    </Root>
  </Loggers>
</Configuration>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_their_repository_whatever_the_tag_or_registry_prefix() {
        assert_eq!(canonical_repository("adaptris/interlok:snapshot"), "adaptris/interlok");
        assert_eq!(canonical_repository("docker.io/adaptris/interlok"), "adaptris/interlok");
        assert_eq!(canonical_repository("docker.io/library/nginx:1.27"), "nginx");
        assert_eq!(canonical_repository("localhost:5000/interlok:1@sha256:abc"), "localhost:5000/interlok");
        let catalogue = Catalogue::default();
        assert!(matches!(
            catalogue.find("adaptris/interlok:latest-zulu-alpine").map(|i| &i.program),
            Some(Program::Interlok { pusher: None, .. })
        ));
        assert!(matches!(
            catalogue.find("aaronmcgrathadpx/interlok-kubernetes-scaling:latest").map(|i| &i.program),
            Some(Program::Interlok { pusher: Some(Simpleclient::V0_6), .. })
        ));
        assert!(catalogue.find("docker.io/grafana/grafana:13.2.0").is_some());
        assert!(catalogue.find("adaptris/interlok-typo:snapshot").is_none());
        assert!(catalogue.find("interlok").is_none(), "a name merely containing interlok is not an image");
    }

    #[test]
    fn a_registered_image_replaces_the_catalogues_entry() {
        let mut catalogue = Catalogue::default();
        catalogue.register("adaptris/interlok", Image::guide().with_pusher(Some(Simpleclient::V0_10)));
        assert!(matches!(
            catalogue.find("adaptris/interlok:3.12.0").map(|i| &i.program),
            Some(Program::Interlok { pusher: Some(Simpleclient::V0_10), .. })
        ));
    }
}
