//! grafana (only with `--grafana`): Grafana with Prometheus as its datasource and a MessageMetrics dashboard.
//! The admin password is decoded here (Windows has no `base64 --decode`) and printed only with
//! `--show-password`; it is never logged, echoed or written anywhere.

use crate::context::Context;
use crate::engine::{Check, Stage};
use crate::manifests;
use crate::problem::Problem;
use crate::settings::Settings;

use super::{interlok, releases};

pub struct Grafana;

impl Stage for Grafana {
    fn name(&self) -> &'static str {
        "grafana"
    }

    fn after(&self, _cx: &Context) -> &'static [&'static str] {
        &["prometheus"]
    }

    fn summary(&self) -> &'static str {
        "install Grafana with a MessageMetrics dashboard (--grafana)"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        (!settings.grafana).then(|| "pass --grafana to install it".into())
    }

    fn check(&self, cx: &mut Context) -> anyhow::Result<Check> {
        let release = releases::release(cx, "grafana");
        Ok(match releases::needs_install(cx, &release)? {
            Some(reason) => Check::Needed(reason),
            None => Check::Done(how_to_open(cx)?),
        })
    }

    fn apply(&self, cx: &mut Context) -> anyhow::Result<()> {
        let endpoints = interlok::endpoints(cx)?;
        let values = manifests::grafana_values(&cx.settings, &endpoints)?;
        let release = releases::release(cx, "grafana");
        releases::install(cx, &release, &values.text)?;
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> anyhow::Result<String> {
        let namespace = cx.settings.monitoring_namespace.clone();
        cx.runner.run(&cx.kubectl().rollout_status(&namespace, "grafana", cx.settings.wait_timeout.as_secs()))?;
        Ok(how_to_open(cx)?)
    }
}

fn how_to_open(cx: &Context) -> Result<String, Problem> {
    let namespace = &cx.settings.monitoring_namespace;
    let password = if cx.settings.show_password {
        format!("admin password: {}", admin_password(cx)?)
    } else {
        "the admin password is shown with --show-password".into()
    };
    Ok(format!("open it with `kubectl port-forward -n {namespace} svc/grafana 3000:80` and http://localhost:3000 (user admin; {password})"))
}

/// Reads Secret `grafana`, key `admin-password`, and decodes it in memory.
fn admin_password(cx: &Context) -> Result<String, Problem> {
    let secret = interlok::get(cx, "secret", &cx.settings.monitoring_namespace, "grafana")?
        .ok_or_else(|| Problem::new("Grafana's Secret `grafana` was not found"))?;
    let encoded = secret["data"]["admin-password"]
        .as_str()
        .ok_or_else(|| Problem::new("Grafana's Secret has no admin-password"))?;
    let bytes = decode_base64(encoded).ok_or_else(|| Problem::new("Grafana's admin-password is not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| Problem::new("Grafana's admin-password is not text"))
}

pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.trim().bytes().filter(|b| *b != b'=') {
        let value = TABLE.iter().position(|t| *t == byte)? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_and_rejects_garbage() {
        assert_eq!(decode_base64("c2VjcmV0"), Some(b"secret".to_vec()));
        assert_eq!(decode_base64("YQ=="), Some(b"a".to_vec()));
        assert_eq!(decode_base64("!!"), None);
    }
}
