//! What the wizard applies, rendered from `templates/` and the settings, then parsed into strict typed
//! objects before use. `render` prints exactly this; the stages apply exactly this.

pub mod schema;

use crate::interlok_config;
use crate::problem::Problem;
use crate::settings::Settings;
use crate::version::Version;

const INTERLOK_DEPLOYMENT: &str = include_str!("../../templates/interlok-deployment.yaml");
const INTERLOK_SERVICE: &str = include_str!("../../templates/interlok-service.yaml");
const INTERLOK_CONFIGMAP: &str = include_str!("../../templates/interlok-configmap.yaml");
const HPA: &str = include_str!("../../templates/hpa.yaml");
const HPA_V2BETA1: &str = include_str!("../../templates/hpa-v2beta1.yaml");
const PROMETHEUS_VALUES: &str = include_str!("../../templates/prometheus-values.yaml");
const ADAPTER_VALUES: &str = include_str!("../../templates/adapter-values.yaml");
const GRAFANA_VALUES: &str = include_str!("../../templates/grafana-values.yaml");
const SCALED_OBJECT: &str = include_str!("../../templates/scaledobject.yaml");
const KEDA_VALUES: &str = include_str!("../../templates/keda-values.yaml");

/// Where the monitoring Services are (found in the cluster by the prometheus stage; today's names before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    pub(crate) pushgateway: (String, u16),
    pub(crate) prometheus: (String, u16),
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            pushgateway: ("prometheus-prometheus-pushgateway".into(), 9091),
            prometheus: ("prometheus-server".into(), 80),
        }
    }
}

/// One rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub(crate) file: &'static str,
    pub(crate) text: String,
}

/// The autoscaling API version to render for a server version, without asking it (`render`). v2 from 1.23;
/// v2beta2 for 1.16–1.22; v2beta1 (served up to 1.24) for the guide's era and older. `setup` asks the
/// server's discovery instead (`autoscaler` stage).
pub(crate) fn hpa_api_version(server: Version) -> &'static str {
    if server.minor >= 23 {
        "autoscaling/v2"
    } else if server.minor >= 16 {
        "autoscaling/v2beta2"
    } else {
        "autoscaling/v2beta1"
    }
}

/// A server version whose rendering uses this autoscaling API (the inverse of `hpa_api_version`).
pub(crate) fn version_for_api(api_version: &str) -> Version {
    match api_version {
        "autoscaling/v2" => Version::new(1, 33, 0),
        "autoscaling/v2beta2" => Version::new(1, 22, 0),
        _ => Version::new(1, 15, 0),
    }
}

/// The Prometheus KEDA's trigger queries, from inside the cluster: `--prometheus-url`, else the server setup installs.
fn keda_prometheus(settings: &Settings, endpoints: &Endpoints) -> String {
    let (service, port) = &endpoints.prometheus;
    settings
        .prometheus_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{service}.{}.svc.cluster.local:{port}", settings.monitoring_namespace))
}

/// The pushgateway address Interlok is given: host:port, no scheme (its client adds `http://`).
pub(crate) fn pushgateway_address(settings: &Settings, endpoints: &Endpoints) -> String {
    let (service, port) = &endpoints.pushgateway;
    format!("{service}.{}.svc.cluster.local:{port}", settings.monitoring_namespace)
}

fn fill(template: &str, vars: &[(&str, String)]) -> Result<String, Problem> {
    let mut text = template.to_string();
    for (key, value) in vars {
        text = text.replace(&format!("${{{key}}}"), value);
    }
    match text.find("${") {
        Some(at) => Err(Problem::new(format!(
            "a template placeholder was left unfilled: {}",
            &text[at..(at + 30).min(text.len())]
        ))),
        None => Ok(text),
    }
}

fn vars(settings: &Settings, endpoints: &Endpoints, server: Version) -> Vec<(&'static str, String)> {
    vec![
        ("deployment", settings.deployment.clone()),
        ("namespace", settings.namespace.clone()),
        ("monitoring_namespace", settings.monitoring_namespace.clone()),
        ("image", settings.image.clone()),
        ("metric", settings.metric.clone()),
        ("min_replicas", settings.min_replicas.to_string()),
        ("max_replicas", settings.max_replicas.to_string()),
        ("target_average", settings.target_average.to_string()),
        ("hpa_api_version", hpa_api_version(server).to_string()),
        ("pushgateway", pushgateway_address(settings, endpoints)),
        ("prometheus_service", endpoints.prometheus.0.clone()),
        ("prometheus_port", endpoints.prometheus.1.to_string()),
        ("keda_prometheus", keda_prometheus(settings, endpoints)),
        ("scrape_interval", format!("{}s", settings.scrape_interval.as_secs())),
        ("relist_interval", format!("{}s", settings.relist_interval.as_secs())),
    ]
}

/// Interlok: with `--interlok-config`, first its ConfigMap; then the Deployment (mounting each file of the
/// ConfigMap over the image's, with the files' checksum on the pod template) and the Service.
pub(crate) fn interlok(settings: &Settings, endpoints: &Endpoints) -> Result<Vec<Rendered>, Problem> {
    let vars = vars(settings, endpoints, Version::new(1, 33, 0));
    let config = interlok_config::read(settings)?;
    let mut docs = Vec::new();
    let (mut checksum, mut mounts, mut volume) = (None, None, None);
    if let Some(config) = &config {
        let data = fill(INTERLOK_CONFIGMAP, &vars)?;
        let configmap = Rendered {
            file: "interlok-configmap.yaml",
            text: insert(&data, "config-data", Some(one("data", &config.files)))?,
        };
        let parsed: schema::ConfigMap = check(&configmap)?;
        if parsed.data != config.files {
            return Err(Problem::new("interlok-configmap.yaml does not hold the configuration's files as they are")
                .with_hint("this is a bug in interlok-k8s's templates; please report it"));
        }
        docs.push(configmap);
        checksum = Some(one("annotations", one(interlok_config::CHECKSUM_ANNOTATION, config.checksum())));
        let mounted: Vec<Mount> = config
            .files
            .keys()
            .map(|file| Mount {
                name: CONFIG_VOLUME,
                mount_path: format!("{}/{file}", interlok_config::MOUNT_DIR),
                sub_path: file.clone(),
                read_only: true,
            })
            .collect();
        mounts = Some(one("volumeMounts", mounted));
        let source = one("name", &settings.deployment);
        volume = Some(one("volumes", [map([("name", CONFIG_VOLUME.into()), ("configMap", source)])]));
    }
    let text = fill(INTERLOK_DEPLOYMENT, &vars)?;
    let text = insert(&text, "config-checksum", checksum)?;
    let text = insert(&text, "config-mounts", mounts)?;
    let deployment = Rendered { file: "interlok-deployment.yaml", text: insert(&text, "config-volume", volume)? };
    let service = Rendered { file: "interlok-service.yaml", text: fill(INTERLOK_SERVICE, &vars)? };
    check::<schema::Deployment>(&deployment)?;
    check::<schema::Service>(&service)?;
    docs.extend([deployment, service]);
    Ok(docs)
}

const CONFIG_VOLUME: &str = "interlok-config";

/// A mount of one configuration file over the image's (`subPath`: the image's other files stay).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Mount {
    name: &'static str,
    mount_path: String,
    sub_path: String,
    read_only: bool,
}

/// `key: value` as YAML.
fn one(key: &str, value: impl serde::Serialize) -> serde_yaml::Value {
    map([(key, serde_yaml::to_value(value).unwrap_or_default())])
}

/// A YAML map with its keys in the order given.
fn map<const N: usize>(pairs: [(&str, serde_yaml::Value); N]) -> serde_yaml::Value {
    serde_yaml::Value::Mapping(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// Puts a YAML fragment (or nothing) where a template has the line `# insert: NAME`, at that line's
/// indentation. Unlike `${...}` placeholders, what is inserted is never searched for placeholders: a user's
/// files may hold Interlok's own `${variables}`.
fn insert(text: &str, name: &str, fragment: Option<serde_yaml::Value>) -> Result<String, Problem> {
    let marker = format!("# insert: {name}");
    let Some(line) = text.lines().find(|l| l.trim() == marker) else {
        return Err(Problem::new(format!("a template has no `{marker}` line")));
    };
    let indent = &line[..line.len() - line.trim_start().len()];
    let yaml = match fragment {
        Some(value) => serde_yaml::to_string(&value).map_err(|e| Problem::new(e.to_string()))?,
        None => String::new(),
    };
    let lines: String =
        yaml.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("{indent}{l}\n") }).collect();
    Ok(text.replacen(&format!("{line}\n"), &lines, 1))
}

pub(crate) fn autoscaler(settings: &Settings, endpoints: &Endpoints, server: Version) -> Result<Rendered, Problem> {
    let vars = vars(settings, endpoints, server);
    if hpa_api_version(server) == "autoscaling/v2beta1" {
        let hpa = Rendered { file: "hpa.yaml", text: fill(HPA_V2BETA1, &vars)? };
        check::<schema::HorizontalPodAutoscalerV2beta1>(&hpa)?;
        return Ok(hpa);
    }
    let hpa = Rendered { file: "hpa.yaml", text: fill(HPA, &vars)? };
    check::<schema::HorizontalPodAutoscaler>(&hpa)?;
    Ok(hpa)
}

pub(crate) fn prometheus_values(settings: &Settings) -> Result<Rendered, Problem> {
    let values = Rendered {
        file: "prometheus-values.yaml",
        text: fill(PROMETHEUS_VALUES, &vars(settings, &Endpoints::default(), Version::new(1, 33, 0)))?,
    };
    check::<serde_yaml::Value>(&values)?;
    Ok(values)
}

pub(crate) fn adapter_values(settings: &Settings, endpoints: &Endpoints) -> Result<Rendered, Problem> {
    let values = Rendered {
        file: "adapter-values.yaml",
        text: fill(ADAPTER_VALUES, &vars(settings, endpoints, Version::new(1, 33, 0)))?,
    };
    let parsed: serde_yaml::Value = check(&values)?;
    let rules: Vec<schema::AdapterRule> = serde_yaml::from_value(parsed["rules"]["custom"].clone())
        .map_err(|e| Problem::new(format!("the adapter rule in adapter-values.yaml does not parse: {e}")))?;
    if rules.len() != 1 {
        return Err(Problem::new("adapter-values.yaml must hold exactly one custom rule"));
    }
    Ok(values)
}

/// The wizard's adapter rule, as the adapter's config holds it.
pub(crate) fn adapter_rule(settings: &Settings, endpoints: &Endpoints) -> Result<schema::AdapterRule, Problem> {
    let values = adapter_values(settings, endpoints)?;
    let parsed: serde_yaml::Value = serde_yaml::from_str(&values.text).map_err(|e| Problem::new(e.to_string()))?;
    serde_yaml::from_value(parsed["rules"]["custom"][0].clone()).map_err(|e| Problem::new(e.to_string()))
}

pub(crate) fn grafana_values(settings: &Settings, endpoints: &Endpoints) -> Result<Rendered, Problem> {
    let values = Rendered {
        file: "grafana-values.yaml",
        text: fill(GRAFANA_VALUES, &vars(settings, endpoints, Version::new(1, 33, 0)))?,
    };
    let parsed: serde_yaml::Value = check(&values)?;
    let dashboard = parsed["dashboards"]["interlok"]["messagemetrics"]["json"].as_str().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(dashboard)
        .map_err(|e| Problem::new(format!("the Grafana dashboard in grafana-values.yaml is not JSON: {e}")))?;
    Ok(values)
}

/// With `--scaler keda`: the ScaledObject in place of the HPA.
pub(crate) fn scaled_object(settings: &Settings, endpoints: &Endpoints) -> Result<Rendered, Problem> {
    let vars = vars(settings, endpoints, Version::new(1, 33, 0));
    let rendered = Rendered { file: "scaledobject.yaml", text: fill(SCALED_OBJECT, &vars)? };
    check::<schema::ScaledObject>(&rendered)?;
    Ok(rendered)
}

/// The query the wizard's ScaledObject runs (the same whatever the Prometheus it asks).
pub(crate) fn keda_query(settings: &Settings) -> Result<String, Problem> {
    let rendered = scaled_object(settings, &Endpoints::default())?;
    let parsed: schema::ScaledObject = check(&rendered)?;
    Ok(parsed.spec.triggers.into_iter().next().map(|t| t.metadata.query).unwrap_or_default())
}

pub(crate) fn keda_values(settings: &Settings) -> Result<Rendered, Problem> {
    let values = Rendered {
        file: "keda-values.yaml",
        text: fill(KEDA_VALUES, &vars(settings, &Endpoints::default(), Version::new(1, 33, 0)))?,
    };
    check::<serde_yaml::Value>(&values)?;
    Ok(values)
}

/// Everything setup applies or installs, in order (what `render` prints): the adapter's values and the HPA,
/// or with `--scaler keda` KEDA's values and the ScaledObject.
pub(crate) fn all(settings: &Settings, endpoints: &Endpoints, server: Version) -> Result<Vec<Rendered>, Problem> {
    let mut docs = vec![prometheus_values(settings)?];
    docs.extend(interlok(settings, endpoints)?);
    if settings.scaler == crate::settings::Scaler::Keda {
        docs.push(keda_values(settings)?);
        docs.push(scaled_object(settings, endpoints)?);
    } else {
        docs.push(adapter_values(settings, endpoints)?);
        docs.push(autoscaler(settings, endpoints, server)?);
    }
    if settings.grafana {
        docs.push(grafana_values(settings, endpoints)?);
    }
    Ok(docs)
}

fn check<T: for<'de> serde::Deserialize<'de>>(rendered: &Rendered) -> Result<T, Problem> {
    serde_yaml::from_str(&rendered.text).map_err(|e| {
        Problem::new(format!("{} does not match its schema: {e}", rendered.file))
            .with_hint("this is a bug in interlok-k8s's templates; please report it")
    })
}

/// A manifest as JSON, for `kubectl apply -f -` (JSON bodies, never protobuf).
pub(crate) fn to_json(rendered: &Rendered) -> Result<String, Problem> {
    let value: serde_json::Value =
        serde_yaml::from_str(&rendered.text).map_err(|e| Problem::new(format!("{}: {e}", rendered.file)))?;
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::defaults()
    }

    #[test]
    fn the_hpa_follows_the_server_version() {
        assert_eq!(hpa_api_version(Version::new(1, 33, 0)), "autoscaling/v2");
        assert_eq!(hpa_api_version(Version::new(1, 22, 0)), "autoscaling/v2beta2");
        assert_eq!(hpa_api_version(Version::new(1, 15, 0)), "autoscaling/v2beta1");
        assert_eq!(hpa_api_version(Version::new(1, 16, 0)), "autoscaling/v2beta2");
    }

    #[test]
    fn every_document_renders_and_parses_for_every_api_version() {
        let mut s = settings();
        s.grafana = true;
        for minor in [11, 15, 22, 25, 33] {
            let docs = all(&s, &Endpoints::default(), Version::new(1, minor, 0)).expect("renders");
            assert_eq!(docs.len(), 6);
        }
        let hpa = autoscaler(&s, &Endpoints::default(), Version::new(1, 15, 0)).unwrap();
        assert!(hpa.text.contains("apiVersion: autoscaling/v2beta1") && hpa.text.contains("apiVersion: apps/v1"));
    }

    #[test]
    fn interlok_gets_the_discovered_pushgateway_without_a_scheme() {
        let endpoints = Endpoints { pushgateway: ("prometheus-pushgateway".into(), 9091), ..Endpoints::default() };
        let docs = interlok(&settings(), &endpoints).unwrap();
        assert!(docs[0]
            .text
            .contains("-DprometheusEndpointUrl=prometheus-pushgateway.monitoring.svc.cluster.local:9091 "));
        let deployment: schema::Deployment = serde_yaml::from_str(&docs[0].text).unwrap();
        let env: Vec<&str> = deployment.spec.template.spec.containers[0].env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(env, ["JAVA_OPTS", "K8S_POD_NAME", "K8S_NAMESPACE", "K8S_POD_NAMESPACE"]);
        assert!(deployment.spec.replicas.is_none(), "the autoscaler owns the replica count");
    }

    fn with_config(files: &[(&str, &str)]) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let settings = Settings { interlok_config: Some(dir.path().to_path_buf()), ..settings() };
        (dir, settings)
    }

    #[test]
    fn a_configuration_is_a_config_map_mounted_file_by_file_with_its_checksum_on_the_pod_template() {
        let adapter = "<adapter>\r\n  <unique-id>${adapter.id}</unique-id>\r\n\r\n</adapter>";
        let (_dir, s) = with_config(&[("adapter.xml", adapter), ("bootstrap.properties", "  a=${deployment}\n")]);
        let docs = interlok(&s, &Endpoints::default()).unwrap();
        let files: Vec<&str> = docs.iter().map(|d| d.file).collect();
        assert_eq!(files, ["interlok-configmap.yaml", "interlok-deployment.yaml", "interlok-service.yaml"]);
        let configmap: schema::ConfigMap = serde_yaml::from_str(&docs[0].text).unwrap();
        assert_eq!((configmap.metadata.name.as_str(), configmap.data["adapter.xml"].as_str()), ("interlok", adapter));
        assert_eq!(configmap.data["bootstrap.properties"], "  a=${deployment}\n", "user files are not templates");
        assert_eq!(configmap.metadata.labels["app.kubernetes.io/managed-by"], "interlok-k8s");
        let deployment: schema::Deployment = serde_yaml::from_str(&docs[1].text).unwrap();
        let pod = &deployment.spec.template;
        let checksum = &pod.metadata.annotations[interlok_config::CHECKSUM_ANNOTATION];
        assert_eq!(*checksum, interlok_config::read(&s).unwrap().unwrap().checksum());
        let mounts: Vec<(&str, Option<&str>)> = pod.spec.containers[0]
            .volume_mounts
            .iter()
            .map(|m| (m.mount_path.as_str(), m.sub_path.as_deref()))
            .collect();
        assert_eq!(
            mounts,
            [
                ("/opt/interlok/config/adapter.xml", Some("adapter.xml")),
                ("/opt/interlok/config/bootstrap.properties", Some("bootstrap.properties"))
            ]
        );
        assert_eq!(pod.spec.volumes[0].config_map.name, "interlok");
        assert!(!docs[1].text.contains("# insert:"), "{}", docs[1].text);
    }

    #[test]
    fn without_a_configuration_the_deployment_mounts_nothing() {
        let docs = interlok(&settings(), &Endpoints::default()).unwrap();
        assert_eq!(docs.len(), 2);
        let deployment: schema::Deployment = serde_yaml::from_str(&docs[0].text).unwrap();
        assert!(deployment.spec.template.metadata.annotations.is_empty());
        assert!(deployment.spec.template.spec.volumes.is_empty());
        assert!(deployment.spec.template.spec.containers[0].volume_mounts.is_empty());
        assert!(!docs[0].text.contains("# insert:"), "{}", docs[0].text);
    }

    proptest::proptest! {
        #[test]
        fn any_text_survives_the_config_map_as_it_is(text in "(?s)[ -~\t\r\n\u{a0}-\u{2fff}]{0,200}") {
            let (_dir, s) = with_config(&[("adapter.xml", &text)]);
            let docs = interlok(&s, &Endpoints::default()).expect("renders");
            let configmap: schema::ConfigMap = serde_yaml::from_str(&docs[0].text).unwrap();
            proptest::prop_assert_eq!(&configmap.data["adapter.xml"], &text);
        }
    }

    #[test]
    fn the_scaled_object_scales_between_the_wizards_bounds_on_one_number_for_both_metric_names() {
        let mut s = settings();
        s.scaler = crate::settings::Scaler::Keda;
        let names: Vec<&str> =
            all(&s, &Endpoints::default(), Version::new(1, 33, 0)).unwrap().iter().map(|d| d.file).collect();
        assert_eq!(
            names,
            [
                "prometheus-values.yaml",
                "interlok-deployment.yaml",
                "interlok-service.yaml",
                "keda-values.yaml",
                "scaledobject.yaml"
            ]
        );
        let so: schema::ScaledObject =
            serde_yaml::from_str(&scaled_object(&s, &Endpoints::default()).unwrap().text).unwrap();
        assert_eq!((so.spec.min_replica_count, so.spec.max_replica_count), (1, 5), "never KEDA's default of 0");
        assert_eq!(so.spec.scale_target_ref.name, "interlok");
        let trigger = &so.spec.triggers[0];
        assert_eq!((trigger.type_.as_str(), trigger.metric_type.as_str()), ("prometheus", "AverageValue"));
        assert_eq!(trigger.metadata.threshold, "100");
        assert_eq!(trigger.metadata.ignore_null_values, "false");
        assert_eq!(trigger.metadata.server_address, "http://prometheus-server.monitoring.svc.cluster.local:80");
        assert_eq!(
            trigger.metadata.query,
            r#"sum({__name__=~"MessageMetrics(_total)?",k8s_namespace="default",k8s_pod_name=~"interlok-[a-z0-9]+-[a-z0-9]+"})"#
        );
        assert_eq!(keda_query(&s).unwrap(), trigger.metadata.query);
        s.prometheus_url = Some("http://thanos.observability:9090/".into());
        assert!(scaled_object(&s, &Endpoints::default())
            .unwrap()
            .text
            .contains("serverAddress: http://thanos.observability:9090\n"));
    }

    #[test]
    fn a_misspelt_field_fails_the_schema() {
        let bad = Rendered { file: "x.yaml", text: INTERLOK_SERVICE.replace("targetPort", "targetprot") };
        let filled = Rendered {
            file: "x.yaml",
            text: fill(&bad.text, &vars(&settings(), &Endpoints::default(), Version::new(1, 33, 0))).unwrap(),
        };
        assert!(check::<schema::Service>(&filled).is_err());
    }
}
