//! `bundle`: one archive for a bug report — tool versions and PATH order, the verify report, the adapter's
//! config and log, the APIServices, the autoscaler (and KEDA's ScaledObject, HPA, pods and logs), Interlok's
//! pods and log, Prometheus targets and series, pushgateway groups, minikube's log. Every Secret value the wizard
//! can read, and anything that looks like a password or token (`PATTERNS`), is replaced by `[REDACTED]` before a
//! byte is written. Redaction fails closed: when Secrets cannot be listed the patterns still apply, and
//! REDACTION.txt (and the screen) says what could not be checked.

use std::io::Write;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::context::Context;
use crate::problem::Problem;
use crate::reach::Reach;
use crate::runner::Cmd;
use crate::verify::{self, Probe};

/// (file name, contents) before redaction.
pub(crate) fn collect(cx: &Context) -> Vec<(String, String)> {
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
    let prometheus = probe.prometheus();
    files.push(("prometheus-targets.json".into(), http(&prometheus, "/api/v1/targets", &[])));
    let series = format!("{{__name__=~\"{}(_total)?\"}}", s.metric);
    files.push(("metric-series.json".into(), http(&prometheus, "/api/v1/series", &[("match[]", &series)])));
    files.push(("pushgateway-groups.json".into(), http(&probe.pushgateway(), "/api/v1/metrics", &[])));
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

/// The most of one HTTP answer kept in the bundle.
const HTTP_LIMIT: usize = crate::reach::BODY_LIMIT;

fn http(server: &Result<Reach, String>, path: &str, query: &[(&str, &str)]) -> String {
    let answer = server.clone().and_then(|server| server.get(path, query, std::time::Duration::from_secs(15)));
    let mut text = match answer {
        Ok((_, text)) => text,
        Err(e) => return format!("could not collect: {e}\n"),
    };
    if text.len() > HTTP_LIMIT {
        let mut end = HTTP_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!("\n[cut here: the answer was longer than {} MiB]\n", HTTP_LIMIT >> 20));
    }
    text
}

/// The Secret values to scrub, and what could not be read: redaction fails closed, so what was not checked
/// is said in the bundle and on screen.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    /// Values (and their base64 forms), longest first.
    pub(crate) values: Vec<String>,
    /// Where the values came from: "all namespaces", or namespaces one by one.
    pub(crate) checked: Vec<String>,
    /// What could not be read, each with why.
    pub(crate) unchecked: Vec<String>,
    /// Secret keys (`namespace/name:key`) whose values are not searched for: too short or a plain word.
    pub(crate) skipped: Vec<String>,
}

impl Secrets {
    pub(crate) fn complete(&self) -> bool {
        self.unchecked.is_empty()
    }

    /// REDACTION.txt: what was redacted and how, and what could not be checked.
    pub(crate) fn note(&self) -> String {
        let mut text = String::from("How the files in this bundle were redacted\n\n");
        let from = if self.checked.is_empty() { "no Secrets".to_string() } else { self.checked.join(", ") };
        text.push_str(&format!(
            "Secret values replaced by [REDACTED] wherever they appear: {} (from {from}).\n",
            self.values.len()
        ));
        for what in &self.unchecked {
            text.push_str(&format!("NOT CHECKED: {what}\n"));
        }
        if !self.skipped.is_empty() {
            text.push_str(&format!(
                "Not searched for (1-2 characters, or a plain word like true/false): the values of {}\n",
                self.skipped.join(", ")
            ));
        }
        text.push_str(&format!(
            "Also replaced everywhere, by pattern: {PATTERNS}.\n\n{}\n",
            if self.complete() {
                "Read the files before you share them all the same: a secret kept outside Kubernetes Secrets that matches none of these patterns is not redacted."
            } else {
                "Secret values that could not be read above were redacted only where a pattern matches: read the files before you share them."
            }
        ));
        text
    }
}

/// What pattern redaction covers, in words.
pub(crate) const PATTERNS: &str = "values named like a password, token, secret, key or credential (password=…, \"token\": …, --password …, env entries), Authorization headers and Bearer/Basic credentials, JWTs, user:password@ in URLs, PEM private keys";

/// Every Secret value the cluster lets the wizard read, decoded, to scrub wherever it appears. All
/// namespaces when allowed; otherwise the namespaces the bundle collects from, one by one.
pub(crate) fn secret_values(cx: &Context) -> Secrets {
    let mut secrets = Secrets::default();
    let everywhere = cx.kubectl().query(["get", "secrets", "-A", "-o", "json"]);
    match read_secrets(cx, &everywhere, &mut secrets) {
        Ok(()) => secrets.checked.push("all namespaces".into()),
        Err(why) => {
            secrets.unchecked.push(format!("Secrets in all namespaces: `{everywhere}` failed: {why}"));
            let s = &cx.settings;
            let mut namespaces = vec![s.namespace.clone(), s.monitoring_namespace.clone()];
            namespaces.dedup();
            for namespace in namespaces {
                let one = cx.kubectl().query(["get", "secrets", "-n", &namespace, "-o", "json"]);
                match read_secrets(cx, &one, &mut secrets) {
                    Ok(()) => secrets.checked.push(format!("namespace {namespace}")),
                    Err(why) => {
                        secrets.unchecked.push(format!("Secrets in namespace {namespace}: `{one}` failed: {why}"))
                    }
                }
            }
        }
    }
    secrets.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    secrets.values.dedup();
    secrets
}

/// Adds the values of one Secret list; Err(why) when it cannot be listed or read.
fn read_secrets(cx: &Context, cmd: &Cmd, secrets: &mut Secrets) -> Result<(), String> {
    let output = cx.runner.run(cmd).map_err(|problem| {
        let said = problem.command.as_ref().map(|c| c.stderr_tail.trim().to_string()).unwrap_or_default();
        said.lines().last().map_or(problem.message.clone(), str::to_string)
    })?;
    let list: Value =
        serde_json::from_str(&output.stdout).map_err(|e| format!("its output is not a JSON list ({e})"))?;
    let items = list["items"].as_array().ok_or("its output has no items")?;
    for item in items {
        let name = format!(
            "{}/{}",
            item["metadata"]["namespace"].as_str().unwrap_or_default(),
            item["metadata"]["name"].as_str().unwrap_or_default()
        );
        for (key, encoded) in item["data"].as_object().into_iter().flatten() {
            let Some(encoded) = encoded.as_str().filter(|e| !e.is_empty()) else { continue };
            let Some(bytes) = crate::base64::decode(encoded) else { continue };
            let text = String::from_utf8_lossy(&bytes);
            let value = text.trim();
            if value.chars().count() < 3 || PLAIN_WORDS.contains(&value.to_ascii_lowercase().as_str()) {
                secrets.skipped.push(format!("{name}:{key}"));
                continue;
            }
            secrets.values.push(value.to_string());
            secrets.values.push(encoded.to_string());
            // a multi-line value (a key, a config file) may be shown a line at a time
            let lines = value.lines().map(str::trim).filter(|l| l.len() >= 16 && !l.contains(char::is_whitespace));
            secrets.values.extend(lines.map(str::to_string));
        }
    }
    Ok(())
}

/// Values no one keeps secret, which would match all over the bundle.
const PLAIN_WORDS: [&str; 7] = ["true", "false", "null", "yes", "no", "on", "off"];

/// Values shorter than this are replaced only as whole words (a 4-character password, not the letters of
/// every word that contains them).
const SHORT: usize = 6;

/// Replaces secret values, and everything the patterns recognise (see `PATTERNS`).
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if !out.contains(secret.as_str()) {
            continue;
        }
        out = if secret.chars().count() < SHORT {
            replace_words(&out, secret)
        } else {
            out.replace(secret.as_str(), "[REDACTED]")
        };
    }
    for (pattern, replacement) in patterns() {
        if let std::borrow::Cow::Owned(changed) = pattern.replace_all(&out, *replacement) {
            out = changed;
        }
    }
    out
}

/// Replaces `word` where it stands alone: not inside a longer run of letters and digits.
fn replace_words(text: &str, word: &str) -> String {
    let alone = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(word) {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if alone(before) && alone(after) {
            out.push_str(&text[last..at]);
            out.push_str("[REDACTED]");
            last = at + word.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

/// The redaction patterns, compiled once: (what, what it becomes).
fn patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: std::sync::LazyLock<Vec<(Regex, &'static str)>> = std::sync::LazyLock::new(|| {
        let names = r"(?:password|passwd|pwd|passphrase|token|secret|api[-_]?key|access[-_]?key|private[-_]?key|client[-_]?key[-_]?data|credentials?)";
        [
            // PEM private keys, whole
            (r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----", "[REDACTED PRIVATE KEY]"),
            // Authorization: Bearer …, Proxy-Authorization: Basic …, "authorization": "…"; then Bearer anywhere
            (r#"(?i)(\b(?:proxy-)?authorization"?[ \t]*[:=][ \t]*"?)[^"\r\n]+"#, "${1}[REDACTED]"),
            (r"(?i)\b(bearer[ \t]+)[A-Za-z0-9._~+/-]{4,}=*", "${1}[REDACTED]"),
            // JWTs: three base64url parts, the first a JSON object (`{"` is `eyJ`)
            (r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", "[REDACTED]"),
            // scheme://user:password@host
            (r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", "${1}[REDACTED]@"),
            // password=…, "token": "…", api_key: …, on one line: quoted (the quotes stay), then bare
            (&format!(r#"(?i)({names}[\w.-]*"?[ \t]*[:=][ \t]*)(["'])[^"'\r\n]*(["'])"#), "${1}${2}[REDACTED]${3}"),
            (&format!(r#"(?i)({names}[\w.-]*"?[ \t]*[:=][ \t]*)[^\s"',}}\[{{][^\s"',}}]*"#), "${1}[REDACTED]"),
            // --password VALUE, --token VALUE (a flag and its value as two words)
            (&format!(r"(?i)(--[\w-]*{names}[\w-]*[ \t]+)[^\s-]\S*"), "${1}[REDACTED]"),
            // `- name: API_TOKEN` followed by `value: …` (Kubernetes env in YAML)
            (
                &format!(r"(?im)(name:[ \t]*\S*(?:{names}|key)\S*[ \t]*\r?\n[ \t]*value:[ \t]*)(\S.*)$"),
                "${1}[REDACTED]",
            ),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (Regex::new(pattern).expect("static regex"), replacement))
        .collect()
    });
    &PATTERNS
}

/// Writes the files as a tar.gz, atomically; returns the names written.
pub(crate) fn write(path: &Path, files: &[(String, String)]) -> Result<Vec<String>, Problem> {
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
        assert!(out.contains("\"token\": \"[REDACTED]\""), "quotes stay: {out}");
        assert_eq!(redact("replicas: 2", &secrets), "replicas: 2");
    }

    #[test]
    fn short_secret_values_are_redacted_as_whole_words() {
        let secrets = vec!["Zq7x".to_string()];
        assert_eq!(redact("login Zq7x ok, pin=Zq7x;", &secrets), "login [REDACTED] ok, pin=[REDACTED];");
        assert_eq!(redact("aZq7xb stays", &secrets), "aZq7xb stays");
    }

    #[test]
    fn patterns_redact_without_knowing_the_secrets() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl";
        let cases = [
            ("POST /in-box Authorization: Bearer abc.def-123", "abc.def-123"),
            ("header authorization=Basic dXNlcjpwdw==", "dXNlcjpwdw=="),
            ("sent bearer tok_live_5f9a2 upstream", "tok_live_5f9a2"),
            (&format!("session {jwt} accepted"), jwt),
            ("jdbc:postgresql://bob:s3cr3t-pw@db.example.com:5432/x", "s3cr3t-pw"),
            ("url: https://alice:p%40ss@charts.example.com/path", "p%40ss"),
            ("db-password: pl4nted", "pl4nted"),
            ("args: [--token, t0k3n] --token t0k3nB --password=pw9", "t0k3nB"),
            ("args: --password=pw9", "pw9"),
            ("{\"client_secret\":\"cs-77\"}", "cs-77"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----", "MIIBOgIBAAJBAK"),
            ("- name: ENCRYPTION_KEY\n  value: k3y-v4lue", "k3y-v4lue"),
        ];
        for (text, secret) in cases {
            let out = redact(text, &[]);
            assert!(!out.contains(secret), "{secret} leaked from {text:?}: {out}");
            assert!(out.contains("[REDACTED"), "{out}");
        }
        for plain in ["replicas: 2", "see https://charts.example.com/a@b", "basic checks passed", "tokens left: 5%"] {
            assert_eq!(redact(plain, &[]), plain);
        }
    }

    #[test]
    fn the_note_says_what_could_not_be_checked() {
        let secrets = Secrets {
            values: vec![],
            checked: vec!["namespace default".into()],
            unchecked: vec!["Secrets in all namespaces: `kubectl get secrets -A -o json` failed: Forbidden".into()],
            skipped: vec!["default/x:flag".into()],
        };
        let note = secrets.note();
        assert!(!secrets.complete());
        assert!(note.contains("NOT CHECKED: Secrets in all namespaces"), "{note}");
        assert!(note.contains("default/x:flag"), "{note}");
        assert!(note.contains("redacted only where a pattern matches"), "{note}");
    }
}
