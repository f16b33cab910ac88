//! A prometheus-adapter rule evaluated the way prometheus-adapter evaluates it, so verify can tell a wrong
//! rule from a broken adapter: the `seriesQuery` (and `seriesFilters`) find series; `name.matches`/`as` name
//! them (an empty `matches` means everything; an empty `as` means `$1` with one capture group, else `$0`);
//! `resources.overrides` map labels to namespace and pod; the `metricsQuery` template gets `<<.Series>>`
//! (the stored series name), `<<.LabelMatchers>>` and `<<.GroupBy>>`; and only live pods get values.

use std::collections::BTreeMap;

use regex::Regex;

use crate::manifests::schema::AdapterRule;
use crate::prometheus_api::{self, Labels};

/// A series the rule exposes under `metric`, with the labels that carry namespace and pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    pub(crate) series: String,
    pub(crate) namespace_label: Option<String>,
    pub(crate) pod_label: String,
}

/// What the rule makes of the series Prometheus has, for one metric name.
pub fn discover(rule: &AdapterRule, metric: &str, series: &[Labels]) -> Result<Vec<Exposed>, String> {
    let matches = if rule.name.matches.is_empty() { ".*" } else { rule.name.matches.as_str() };
    let namer = Regex::new(matches).map_err(|e| format!("name.matches {matches:?} is not a valid regex: {e}"))?;
    let as_ = match (rule.name.as_.as_str(), namer.captures_len()) {
        ("", 1) => "$0".to_string(),
        ("", 2) => "$1".to_string(),
        ("", _) => return Err("name.as is empty and name.matches has more than one capture group".into()),
        (given, _) => given.to_string(),
    };
    let label_for = |resource: &str| {
        rule.resources
            .overrides
            .iter()
            .find(|(_, o)| o.resource == resource || o.resource == format!("{resource}s"))
            .map(|(label, _)| label.clone())
            .or_else(|| rule.resources.template.as_ref().map(|t| t.replace("<<.Resource>>", resource)))
    };
    let Some(pod_label) = label_for("pod") else { return Ok(Vec::new()) };
    let namespace_label = label_for("namespace");
    let mut exposed: Vec<Exposed> = Vec::new();
    for labels in series {
        let Some(name) = labels.get("__name__") else { continue };
        if !passes_filters(rule, name)? || !labels.contains_key(&pod_label) {
            continue;
        }
        let Some(captures) = namer.captures(name) else { continue };
        let mut public = String::new();
        captures.expand(&as_, &mut public);
        let entry =
            Exposed { series: name.clone(), namespace_label: namespace_label.clone(), pod_label: pod_label.clone() };
        if public == metric && !exposed.contains(&entry) {
            exposed.push(entry);
        }
    }
    Ok(exposed)
}

fn passes_filters(rule: &AdapterRule, name: &str) -> Result<bool, String> {
    for filter in &rule.series_filters {
        for (kind, pattern) in filter {
            let re = Regex::new(pattern).map_err(|e| format!("seriesFilters {pattern:?}: {e}"))?;
            let ok = match kind.as_str() {
                "is" => re.is_match(name),
                "isNot" => !re.is_match(name),
                _ => true,
            };
            if !ok {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The metrics query for these pods, with the template filled as the adapter fills it.
pub(crate) fn metrics_query(rule: &AdapterRule, exposed: &Exposed, namespace: &str, pods: &[String]) -> String {
    let mut matchers = Vec::new();
    if let Some(ns) = &exposed.namespace_label {
        matchers.push(format!("{ns}=\"{namespace}\""));
    }
    matchers.push(format!("{}=~\"{}\"", exposed.pod_label, pods.join("|")));
    let placeholder = Regex::new(r"<<\s*\.(Series|LabelMatchers|GroupBy)\s*>>").expect("static regex");
    placeholder
        .replace_all(&rule.metrics_query, |c: &regex::Captures| match &c[1] {
            "Series" => exposed.series.clone(),
            "LabelMatchers" => matchers.join(","),
            _ => exposed.pod_label.clone(),
        })
        .into_owned()
}

/// Evaluates the rule against a live Prometheus: the value per live pod, as the adapter would answer.
pub(crate) fn evaluate(
    rule: &AdapterRule,
    metric: &str,
    prometheus: &crate::reach::Reach,
    namespace: &str,
    pods: &[String],
) -> Result<BTreeMap<String, f64>, String> {
    let series = prometheus_api::series(prometheus, &rule.series_query)?;
    let exposed = discover(rule, metric, &series)?;
    let Some(first) = exposed.first() else {
        return Err(format!(
            "its seriesQuery {:?} and name rules expose no {metric} series with a pod label",
            rule.series_query
        ));
    };
    let query = metrics_query(rule, first, namespace, pods);
    let samples = prometheus_api::query(prometheus, &query)?;
    Ok(samples
        .into_iter()
        .filter_map(|(labels, value)| {
            labels.get(&first.pod_label).filter(|p| pods.contains(p)).map(|p| (p.clone(), value))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(series_query: &str, matches: &str, as_: &str, query: &str) -> AdapterRule {
        serde_yaml::from_str(&format!(
            "seriesQuery: '{series_query}'\nresources:\n  overrides:\n    k8s_namespace: {{resource: namespace}}\n    k8s_pod_name: {{resource: pod}}\nname:\n  matches: \"{matches}\"\n  as: \"{as_}\"\nmetricsQuery: '{query}'\n"
        ))
        .expect("rule")
    }

    fn series(name: &str) -> Labels {
        [("__name__", name), ("k8s_namespace", "default"), ("k8s_pod_name", "p1")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    #[test]
    fn the_wizard_rule_exposes_both_names() {
        let r = rule(
            "{__name__=~\"^MessageMetrics(_total)?$\"}",
            "^MessageMetrics(_total)?$",
            "MessageMetrics",
            "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
        );
        for name in ["MessageMetrics", "MessageMetrics_total"] {
            let found = discover(&r, "MessageMetrics", &[series(name)]).unwrap();
            assert_eq!(found[0].series, name);
            let q = metrics_query(&r, &found[0], "default", &["p1".into(), "p2".into()]);
            assert_eq!(
                q,
                format!("sum({name}{{k8s_namespace=\"default\",k8s_pod_name=~\"p1|p2\"}}) by (k8s_pod_name)")
            );
        }
    }

    #[test]
    fn empty_matches_and_as_default_to_the_whole_name() {
        let r = rule("{}", "", "", "x");
        assert_eq!(discover(&r, "MessageMetrics_total", &[series("MessageMetrics_total")]).unwrap().len(), 1);
        assert!(discover(&r, "MessageMetrics", &[series("MessageMetrics_total")]).unwrap().is_empty());
    }

    #[test]
    fn the_guides_literal_query_ignores_the_matchers() {
        let r = rule("{__name__=~\"MessageMetrics\"}", "", "MessageMetrics", "MessageMetrics");
        let found = discover(&r, "MessageMetrics", &[series("MessageMetrics")]).unwrap();
        assert_eq!(metrics_query(&r, &found[0], "default", &["p1".into()]), "MessageMetrics");
    }
}
