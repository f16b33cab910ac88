//! grafana (only with `--grafana`): Grafana with Prometheus as its datasource and a MessageMetrics dashboard.
//! The admin password is decoded here (Windows has no `base64 --decode`) and printed only with
//! `--show-password`; it is never logged, echoed or written anywhere.

use crate::cluster::views::Secret;
use crate::cluster::{self, monitoring};
use crate::context::Context;
use crate::engine::{Check, Stage, StageId};
use crate::manifests;
use crate::problem::Problem;
use crate::settings::Settings;

use super::releases;

pub(crate) struct Grafana;

impl Stage for Grafana {
    fn id(&self) -> StageId {
        StageId::Grafana
    }

    fn after(&self, _cx: &Context) -> &'static [StageId] {
        &[StageId::Prometheus]
    }

    fn summary(&self) -> &'static str {
        "install Grafana with a MessageMetrics dashboard (--grafana)"
    }

    fn not_applicable(&self, settings: &Settings) -> Option<String> {
        (!settings.grafana).then(|| "pass --grafana to install it".into())
    }

    fn link(&self) -> &'static [&'static str] {
        &["helm.grafana", "grafana.ready", "grafana.datasource"]
    }

    fn check(&self, cx: &mut Context) -> Result<Check, Problem> {
        let release = releases::release(cx, "grafana");
        Ok(match releases::needs_install(cx, &release)? {
            Some(reason) => Check::Needed(reason),
            None => Check::Done(how_to_open(cx)?),
        })
    }

    fn apply(&self, cx: &mut Context) -> Result<(), Problem> {
        let endpoints = monitoring::endpoints(cx)?;
        let values = manifests::grafana_values(&cx.settings, &endpoints)?;
        let release = releases::release(cx, "grafana");
        releases::install(cx, &release, &values.text)?;
        Ok(())
    }

    fn validate(&self, cx: &mut Context) -> Result<String, Problem> {
        let namespace = cx.settings.monitoring_namespace.clone();
        cx.runner.run(&cx.kubectl().rollout_status(&namespace, "grafana", cx.settings.wait_timeout.as_secs()))?;
        how_to_open(cx)
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

/// Reads Secret `grafana`, key `admin-password`, decoded in memory.
fn admin_password(cx: &Context) -> Result<String, Problem> {
    let secret = cluster::get::<Secret>(cx, "secret", &cx.settings.monitoring_namespace, "grafana")?
        .ok_or_else(|| Problem::new("Grafana's Secret `grafana` was not found"))?;
    secret.text("admin-password").ok_or_else(|| Problem::new("Grafana's Secret has no readable admin-password"))
}
