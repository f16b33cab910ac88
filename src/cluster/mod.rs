//! The read side: every question the wizard asks about the cluster, answered in one place, over typed
//! views of what kubectl prints (`views`). Stages (is my link already working?) and `verify` (which link is
//! broken?) ask the same functions, so they cannot disagree. Answers come through a `Reader` (the context,
//! or verify's `Probe`), and both give each question one answer per look at the cluster (`lookups`).

pub(crate) mod adapter;
pub(crate) mod apiservice;
pub(crate) mod autoscaler;
pub(crate) mod interlok;
pub(crate) mod keda;
pub(crate) mod lookups;
pub mod monitoring;
pub(crate) mod ownership;
pub mod pods;
pub(crate) mod releases;
pub(crate) mod server;
pub mod views;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::problem::Problem;
use crate::runner::{exit_problem, Cmd, Output};
use crate::tools::helm::{Release, ReleaseStatus};

/// Where the answers come from. `namespace` is empty for cluster-scoped kinds (apiservice, node, namespace).
pub(crate) trait Reader: Sync {
    fn cx(&self) -> &Context;
    /// One object, or None when it does not exist.
    fn get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, Problem>;
    /// Objects of a kind, optionally by label selector.
    fn list(&self, kind: &str, namespace: &str, selector: Option<&str>) -> Result<Vec<Value>, Problem>;
    /// A Helm release's status, or None when it is not installed (see `releases::status`).
    fn release(&self, release: &Release) -> Result<Option<ReleaseStatus>, Problem>;
    /// What a query printed, whatever its exit code (see `read` for one that must succeed).
    fn output(&self, cmd: &Cmd) -> Result<Output, Problem>;
}

/// What a query printed; its exit code must be 0.
pub(crate) fn read(reader: &(impl Reader + ?Sized), cmd: &Cmd) -> Result<String, Problem> {
    let output = reader.output(cmd)?;
    if !output.success() {
        return Err(exit_problem(cmd, &output));
    }
    Ok(output.stdout)
}

impl Reader for Context {
    fn cx(&self) -> &Context {
        self
    }

    fn get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, Problem> {
        lookups::Lookups::current(self).get(self, kind, namespace, name)
    }

    fn list(&self, kind: &str, namespace: &str, selector: Option<&str>) -> Result<Vec<Value>, Problem> {
        lookups::Lookups::current(self).list(self, kind, namespace, selector)
    }

    fn release(&self, release: &Release) -> Result<Option<ReleaseStatus>, Problem> {
        lookups::Lookups::current(self).release(self, release)
    }

    fn output(&self, cmd: &Cmd) -> Result<Output, Problem> {
        lookups::Lookups::current(self).output(self, cmd)
    }
}

/// `kubectl get KIND NAME -o json`; None when the server says it is not there.
pub(crate) fn fetch_one(cx: &Context, kind: &str, namespace: &str, name: &str) -> Result<Option<Value>, Problem> {
    let cmd = if namespace.is_empty() {
        cx.kubectl().get_cluster_json(kind, name)
    } else {
        cx.kubectl().get_json(namespace, kind, name)
    };
    let output = cx.runner.run_unchecked(&cmd)?;
    if !output.success() {
        if output.stderr.contains("NotFound") || output.stderr.contains("not found") {
            return Ok(None);
        }
        return Err(exit_problem(&cmd, &output));
    }
    serde_json::from_str(&output.stdout)
        .map(Some)
        .map_err(|e| exit_problem(&cmd, &output).reworded(format!("kubectl printed something that is not JSON ({e})")))
}

/// `kubectl get KIND -n NS [-l SELECTOR] -o json`, the items of the list.
/// With an empty namespace, the cluster-scoped objects of the kind (namespaces, say).
pub(crate) fn fetch_list(
    cx: &Context,
    kind: &str,
    namespace: &str,
    selector: Option<&str>,
) -> Result<Vec<Value>, Problem> {
    let cmd = if namespace.is_empty() {
        cx.kubectl().list_cluster_json(kind, selector)
    } else {
        cx.kubectl().list_json(namespace, kind, selector)
    };
    let output = cx.runner.run(&cmd)?;
    let list: Value = serde_json::from_str(&output.stdout).map_err(|e| {
        exit_problem(&cmd, &output).reworded(format!("kubectl printed something that is not a JSON list ({e})"))
    })?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Objects of several kinds (`deployments,services`) in one namespace, in one `kubectl get`.
pub(crate) fn fetch_many(cx: &Context, kinds: &str, namespace: &str) -> Result<Vec<Value>, Problem> {
    let cmd = cx.kubectl().list_json(namespace, kinds, None);
    let output = cx.runner.run(&cmd)?;
    let list: Value = serde_json::from_str(&output.stdout).map_err(|e| {
        exit_problem(&cmd, &output).reworded(format!("kubectl printed something that is not a JSON list ({e})"))
    })?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Whether an object's labels match a selector of `key=value` terms (None: other operators, not handled here).
pub(crate) fn selector_matches(object: &Value, selector: &str) -> Option<bool> {
    let labels = &object["metadata"]["labels"];
    let mut all = true;
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, value) = term.split_once('=')?;
        if key.ends_with('!') || value.starts_with('=') || key.contains([' ', '(']) {
            return None;
        }
        all &= labels[key].as_str() == Some(value);
    }
    Some(all)
}

/// One object as a typed view.
pub(crate) fn get<T: DeserializeOwned>(
    reader: &(impl Reader + ?Sized),
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<T>, Problem> {
    reader.get(kind, namespace, name)?.map(|value| view(kind, value)).transpose()
}

/// Objects of a kind as typed views.
pub(crate) fn list<T: DeserializeOwned>(
    reader: &(impl Reader + ?Sized),
    kind: &str,
    namespace: &str,
    selector: Option<&str>,
) -> Result<Vec<T>, Problem> {
    reader.list(kind, namespace, selector)?.into_iter().map(|value| view(kind, value)).collect()
}

/// A typed view of one object as kubectl printed it.
pub fn view<T: DeserializeOwned>(kind: &str, value: Value) -> Result<T, Problem> {
    serde_json::from_value(without_nulls(value))
        .map_err(|e| Problem::new(format!("the cluster returned a {kind} this wizard cannot read ({e})")))
}

/// Servers write `null` for empty fields (`"labels": null`); a view reads those as absent, i.e. empty.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_selectors_are_judged_and_others_are_left_to_kubectl() {
        let pod = json!({"metadata": {"labels": {"app": "interlok", "tier": "web"}}});
        assert_eq!(selector_matches(&pod, "app=interlok"), Some(true));
        assert_eq!(selector_matches(&pod, "app=interlok,tier=web"), Some(true));
        assert_eq!(selector_matches(&pod, "app=other"), Some(false));
        assert_eq!(selector_matches(&pod, "app!=other"), None);
        assert_eq!(selector_matches(&pod, "app==interlok"), None);
        assert_eq!(selector_matches(&pod, "environment in (a,b)"), None);
        assert_eq!(selector_matches(&pod, "app"), None);
    }
}
