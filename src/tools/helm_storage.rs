//! What Helm 3 and 4 keep of a namespace's releases in their default storage, read as `helm list` reads it.
//! Each revision of a release is a Secret of type `helm.sh/release.v1` labelled `owner=helm`, `name`,
//! `version` (the revision) and `status`; its `release` value is the release as gzipped JSON, in base64 on top
//! of the Secret's own. A `helm list` costs a helm start (about 45 ms of CPU); the same Secrets read through
//! the run's `kubectl proxy` cost a GET. Anything else in that storage (another type, a payload that does not
//! decode) is left to helm itself, as is any storage the environment chooses (`HELM_DRIVER`) and any
//! connection it sets for helm alone (`HELM_KUBECONTEXT`, `HELM_KUBEAPISERVER`, …).

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;
use serde_json::json;

/// The label selector of Helm's release Secrets.
pub(crate) const SELECTOR: &str = "owner=helm";

/// Whether helm, run here, keeps its releases in Secrets and reaches the cluster the way kubectl does.
pub(crate) fn readable_from_secrets(env: impl IntoIterator<Item = (String, String)>) -> bool {
    env.into_iter().all(|(name, value)| match name.as_str() {
        "HELM_DRIVER" => matches!(value.to_ascii_lowercase().as_str(), "" | "secret" | "secrets"),
        _ => !name.starts_with("HELM_KUBE"),
    })
}

/// `helm list --deployed --failed --pending -o json` of the namespace whose release Secrets `secrets` lists
/// (a `SecretList`): for each release its latest revision (as Helm picks it, before the status filter),
/// if its status is one of those. None when the Secrets hold something Helm 3 and 4 do not write.
pub(crate) fn list(secrets: &str) -> Option<String> {
    let secrets: SecretList = serde_json::from_str(secrets).ok()?;
    let mut latest: BTreeMap<String, (u64, &Secret)> = BTreeMap::new();
    for secret in &secrets.items {
        if secret.kind != "helm.sh/release.v1" {
            return None;
        }
        let labels = &secret.metadata.labels;
        let (name, revision) = (labels.get("name")?, labels.get("version")?.parse::<u64>().ok()?);
        if latest.get(name).is_none_or(|(seen, _)| revision > *seen) {
            latest.insert(name.clone(), (revision, secret));
        }
    }
    let mut listed = Vec::new();
    for (revision, secret) in latest.values() {
        let release = decode(secret.data.get("release")?)?;
        if release.version != *revision {
            return None;
        }
        let status = release.info.status;
        if !matches!(
            status.as_str(),
            "deployed" | "failed" | "pending-install" | "pending-upgrade" | "pending-rollback"
        ) {
            continue;
        }
        let chart = &release.chart.metadata;
        listed.push(json!({
            "name": release.name,
            "namespace": release.namespace,
            "revision": revision.to_string(),
            "status": status,
            "chart": format!("{}-{}", chart.name, chart.version),
            "app_version": chart.app_version,
        }));
    }
    serde_json::to_string(&listed).ok()
}

/// The release a Secret's `release` value holds: base64 (the Secret's), base64 (Helm's), gzip, JSON.
fn decode(value: &str) -> Option<StoredRelease> {
    let helms = String::from_utf8(crate::base64::decode(value)?).ok()?;
    let gzipped = crate::base64::decode(&helms)?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gzipped.as_slice()).read_to_end(&mut json).ok()?;
    serde_json::from_slice(&json).ok()
}

#[derive(Deserialize)]
struct SecretList {
    items: Vec<Secret>,
}

#[derive(Deserialize)]
struct Secret {
    #[serde(rename = "type", default)]
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The fields of a stored release that `helm list` prints.
#[derive(Deserialize)]
struct StoredRelease {
    name: String,
    namespace: String,
    version: u64,
    info: Info,
    chart: Chart,
}

#[derive(Deserialize)]
struct Info {
    status: String,
}

#[derive(Deserialize)]
struct Chart {
    metadata: ChartMetadata,
}

#[derive(Deserialize)]
struct ChartMetadata {
    name: String,
    version: String,
    #[serde(rename = "appVersion", default)]
    app_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::io::Write;

    fn encode_base64(bytes: &[u8]) -> String {
        const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                out.push(if i <= chunk.len() { TABLE[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        out
    }

    /// A release Secret as Helm writes one.
    fn secret(name: &str, revision: u64, status: &str, chart_version: &str) -> Value {
        let release = json!({"name": name, "namespace": "monitoring", "version": revision,
            "info": {"status": status, "last_deployed": "2026-12-01T04:00:00Z"},
            "chart": {"metadata": {"name": name, "version": chart_version, "appVersion": "v3.5.0"}, "templates": []},
            "manifest": "---\n", "config": {}});
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(release.to_string().as_bytes()).unwrap();
        let helms = encode_base64(&gzip.finish().unwrap());
        json!({"type": "helm.sh/release.v1",
            "metadata": {"name": format!("sh.helm.release.v1.{name}.v{revision}"),
                "labels": {"name": name, "owner": "helm", "status": status, "version": revision.to_string()}},
            "data": {"release": encode_base64(helms.as_bytes())}})
    }

    fn listed(items: &[Value]) -> Option<Vec<(String, String, String)>> {
        let stdout = list(&json!({"kind": "SecretList", "items": items}).to_string())?;
        let items = crate::tools::helm::list_items(&stdout).unwrap();
        let field = |i: &Value, k: &str| i[k].as_str().unwrap().to_string();
        Some(items.iter().map(|i| (field(i, "name"), field(i, "status"), field(i, "chart"))).collect())
    }

    #[test]
    fn the_latest_revision_of_each_release_is_listed_when_its_status_is_asked_for() {
        let items = [
            secret("prometheus", 1, "superseded", "29.26.0"),
            secret("prometheus", 2, "deployed", "29.27.0"),
            secret("grafana", 1, "deployed", "12.11.1"),
            secret("grafana", 2, "uninstalling", "12.11.1"),
            secret("keda", 1, "pending-install", "2.20.2"),
        ];
        let want = [("keda", "pending-install", "keda-2.20.2"), ("prometheus", "deployed", "prometheus-29.27.0")];
        let want: Vec<_> = want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
        assert_eq!(listed(&items), Some(want), "grafana's latest is uninstalling: not listed, as by helm");
        assert_eq!(listed(&[]), Some(vec![]));
    }

    #[test]
    fn anything_helm_3_and_4_do_not_write_is_left_to_helm() {
        let mut other = secret("prometheus", 1, "deployed", "29.27.0");
        other["type"] = json!("helm.sh/release.v2");
        assert_eq!(listed(&[other]), None);
        let mut broken = secret("prometheus", 1, "deployed", "29.27.0");
        broken["data"]["release"] = json!("bm90IGd6aXA=");
        assert_eq!(listed(&[broken]), None);
        let mut unlabelled = secret("prometheus", 1, "deployed", "29.27.0");
        unlabelled["metadata"]["labels"] = json!({"owner": "helm"});
        assert_eq!(listed(&[unlabelled]), None);
    }

    #[test]
    fn helm_settings_of_its_own_send_the_question_to_helm() {
        let env =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert!(readable_from_secrets(env(&[("PATH", "/bin"), ("HELM_DRIVER", "secret"), ("HELM_CACHE_HOME", "/c")])));
        assert!(!readable_from_secrets(env(&[("HELM_DRIVER", "configmap")])));
        assert!(!readable_from_secrets(env(&[("HELM_KUBECONTEXT", "other")])));
        assert!(!readable_from_secrets(env(&[("HELM_KUBEAPISERVER", "https://elsewhere")])));
    }
}
