//! `bundle`: one archive for a bug report — tool versions and PATH order, the verify report, the adapter's
//! config and log, the APIServices, the autoscaler (and KEDA's ScaledObject, HPA, pods and logs), Interlok's pods and log, Prometheus targets and series,
//! pushgateway groups, minikube's log. Every Secret value in the cluster, and anything that looks like a
//! password or token, is replaced by `[REDACTED]` before a byte is written.

use std::io::Write;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::context::Context;
use crate::problem::Problem;
use crate::runner::Cmd;
use crate::verify::{self, Probe};

/// (file name, contents) before redaction.
pub fn collect(cx: &Context) -> Vec<(String, String)> {
    let s = &cx.settings;
    let (ns, mon, name) = (s.namespace.as_str(), s.monitoring_namespace.as_str(), s.deployment.as_str());
    let keda = s.keda_namespace.as_str();
    let k = cx.kubectl();
    let selector = format!("app={name}");
    let mut files = vec![("versions.txt".to_string(), versions(cx))];
    let probe = Probe::new(cx, None, None);
    files.push(("verify.json".into(), verify::to_json(&verify::run(&probe, false))));
    let commands: Vec<(&str, Cmd)> = vec![
        ("adapter-configmap.yaml", k.query(["get", "configmap", "prometheus-adapter", "-n", mon, "-o", "yaml"])),
        ("adapter-logs.txt", k.query(["logs", "-n", mon, "deploy/prometheus-adapter", "--tail=500"])),
        ("apiservices.yaml", k.query(["get", "apiservice", "v1beta1.custom.metrics.k8s.io", "-o", "yaml"])),
        ("hpa-describe.txt", k.query(["describe", "hpa", name, "-n", ns])),
        ("events.txt", k.query(["get", "events", "-n", ns, "-o", "wide"])),
        ("interlok-pods.yaml", k.query(["get", "pods", "-n", ns, "-l", &selector, "-o", "yaml"])),
        ("interlok-logs.txt", k.query(["logs", "-n", ns, &format!("deploy/{name}"), "--tail=500"])),
        // KEDA's path
        ("scaledobject.yaml", k.query(["get", crate::cluster::keda::KIND, name, "-n", ns, "-o", "yaml"])),
        ("keda-hpa-describe.txt", k.query(["describe", "hpa", &format!("keda-hpa-{name}"), "-n", ns])),
        ("keda-apiservice.yaml", k.query(["get", "apiservice", "v1beta1.external.metrics.k8s.io", "-o", "yaml"])),
        ("keda-pods.txt", k.query(["get", "pods", "-n", keda, "-o", "wide"])),
        ("keda-operator-logs.txt", k.query(["logs", "-n", keda, "deploy/keda-operator", "--tail=500"])),
        (
            "keda-metrics-server-logs.txt",
            k.query(["logs", "-n", keda, "deploy/keda-operator-metrics-apiserver", "--tail=500"]),
        ),
    ];
    for (file, cmd) in commands {
        files.push((file.into(), output_of(cx, &cmd)));
    }
    files.push(("prometheus-targets.json".into(), http(&probe.prometheus(), "/api/v1/targets")));
    let series = format!("/api/v1/series?match[]={{__name__=~\"{}(_total)?\"}}", s.metric);
    files.push(("metric-series.json".into(), http(&probe.prometheus(), &series)));
    files.push(("pushgateway-groups.json".into(), http(&probe.pushgateway(), "/api/v1/metrics")));
    if s.uses_minikube() {
        files.push((
            "minikube-logs.txt".into(),
            output_of(cx, &Cmd::query(cx.minikube()).args(["logs", "--length", "200"])),
        ));
    }
    files
}

fn versions(cx: &Context) -> String {
    let mut text = String::new();
    for tool in ["kubectl", "helm", "minikube"] {
        let found = cx.runner.resolve_all(tool);
        text.push_str(&format!(
            "{tool} on PATH, in order: {}\n",
            if found.is_empty() {
                "none".into()
            } else {
                found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            }
        ));
    }
    text.push_str(&output_of(cx, &cx.kubectl().version()));
    text.push_str(&output_of(cx, &cx.helm().version_short()));
    text.push_str(&format!("interlok-k8s {}\nplatform {}\n", env!("CARGO_PKG_VERSION"), cx.settings.platform));
    text
}

fn output_of(cx: &Context, cmd: &Cmd) -> String {
    match cx.runner.run_unchecked(cmd) {
        Ok(output) => format!("$ {cmd}\n{}{}", output.stdout, output.stderr),
        Err(problem) => format!("$ {cmd}\ncould not collect: {}\n", problem.message),
    }
}

fn http(base: &Result<String, String>, path: &str) -> String {
    let Ok(base) = base else { return format!("could not collect: {}\n", base.clone().err().unwrap_or_default()) };
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(15)).build();
    match client.and_then(|c| c.get(format!("{base}{path}")).send()).and_then(|r| r.text()) {
        Ok(text) => text,
        Err(e) => format!("could not collect: {e}\n"),
    }
}

/// Every Secret value in the cluster, decoded, to scrub wherever it appears.
pub fn secret_values(cx: &Context) -> Vec<String> {
    let Ok(output) = cx.runner.run(&cx.kubectl().query(["get", "secrets", "-A", "-o", "json"])) else {
        return Vec::new();
    };
    let list: Value = serde_json::from_str(&output.stdout).unwrap_or(Value::Null);
    let mut values: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["data"].as_object().cloned().unwrap_or_default().into_values())
        .filter_map(|v| v.as_str().and_then(crate::cluster::views::decode_base64))
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| v.len() >= 6 && v.len() <= 4096)
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    values
}

/// Replaces secret values, and the value of anything named like a password, token or key.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        out = out.replace(secret.as_str(), "[REDACTED]");
    }
    let named =
        Regex::new(r#"(?i)((?:password|passwd|token|secret|api[-_]?key|credential)[\w.-]*"?\s*[:=]\s*"?)([^\s",}]+)"#)
            .expect("static regex");
    let out = named.replace_all(&out, "${1}[REDACTED]").into_owned();
    // `- name: API_TOKEN` followed by `value: …` (Kubernetes env in YAML)
    let env = Regex::new(r#"(?im)(name:\s*\S*(?:password|token|secret|key)\S*\s*\n\s*value:\s*)(\S.*)$"#)
        .expect("static regex");
    env.replace_all(&out, "${1}[REDACTED]").into_owned()
}

/// Writes the files as a tar.gz, atomically; returns the names written.
pub fn write(path: &Path, files: &[(String, String)]) -> Result<Vec<String>, Problem> {
    let tmp = path.with_extension("tmp");
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            );
            header.set_cksum();
            archive.append_data(&mut header, format!("interlok-k8s-bundle/{name}"), text.as_bytes())?;
        }
        archive.into_inner()?.finish()?.flush()
    })();
    result.and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Problem::new(format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(files.iter().map(|(n, _)| n.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_known_values_and_named_fields() {
        let secrets = vec!["hunter22".to_string()];
        let text = "pw hunter22 here\nGF_SECURITY_ADMIN_PASSWORD=abc123\n\"token\": \"eyJhbGci\"\n- name: API_TOKEN\n  value: s3cr3t\n";
        let out = redact(text, &secrets);
        for leaked in ["hunter22", "abc123", "eyJhbGci", "s3cr3t"] {
            assert!(!out.contains(leaked), "{leaked} leaked: {out}");
        }
        assert_eq!(redact("replicas: 2", &secrets), "replicas: 2");
    }
}
