//! Whose a thing is — asked before every write, so nothing the wizard did not make is changed or recorded.
//! An object is the wizard's when it carries the `app.kubernetes.io/managed-by: interlok-k8s` label (and
//! adopted when the record says `--adopt` took it over); a Helm release, when the record lists it. Anything
//! else that exists is someone else's.

use serde_json::Value;

use super::views::Meta;
use super::Reader;
use crate::context::Context;
use crate::problem::Problem;
use crate::record::{Created, State};
use crate::tools::helm::Release;

/// Put on what `--adopt` took over, so teardown `--from-labels` can tell it from what the wizard made.
pub(crate) const ADOPTED_ANNOTATION: &str = "interlok-k8s/adopted";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Not there: the wizard may make it.
    Absent,
    /// The wizard made it.
    Ours,
    /// Someone else made it, and `setup --adopt` took it over.
    Adopted,
    /// Someone else's: never changed, never recorded.
    Foreign,
}

/// The record's entry for an object: `kind` as the API writes it (`Deployment`) or as kubectl names it.
pub(crate) fn item(kind: &str, namespace: &str, name: &str) -> Created {
    match resource(kind).as_str() {
        "namespace" => Created::Namespace { name: name.into() },
        resource => Created::Object { kind: resource.into(), name: name.into(), namespace: namespace.into() },
    }
}

/// kubectl's name for a kind (`HorizontalPodAutoscaler` → `hpa`, the name earlier records used).
pub(crate) fn resource(kind: &str) -> String {
    match kind.to_ascii_lowercase().as_str() {
        "horizontalpodautoscaler" => "hpa".into(),
        "scaledobject" => super::keda::KIND.into(),
        other => other.into(),
    }
}

/// Whose this object is (`namespace` empty for a cluster-scoped kind), and the object as it is.
pub(crate) fn object(
    reader: &(impl Reader + ?Sized),
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<(Owner, Option<Value>), Problem> {
    let found = reader.get(&resource(kind), namespace, name)?;
    let recorded = reader.cx().recorded(&item(kind, namespace, name));
    Ok((classify(found.as_ref(), recorded), found))
}

/// Whose this release is; `exists` is whether Helm lists it (in any state).
pub(crate) fn release(cx: &Context, release: &Release, exists: bool) -> Owner {
    let item = Created::Release { name: release.name.clone(), namespace: release.namespace.clone() };
    match (exists, cx.recorded(&item)) {
        (false, _) => Owner::Absent,
        (true, Some(State::Adopted)) => Owner::Adopted,
        (true, Some(_)) => Owner::Ours,
        (true, None) => Owner::Foreign,
    }
}

/// Whether an object as kubectl printed it carries the wizard's label.
pub(crate) fn labelled(object: &Value) -> bool {
    super::view::<Meta>("object", object["metadata"].clone()).is_ok_and(|meta| meta.managed_by_wizard())
}

/// Whether an object as kubectl printed it was adopted (`--adopt` marks it).
pub(crate) fn marked_adopted(object: &Value) -> bool {
    object["metadata"]["annotations"][ADOPTED_ANNOTATION] == "true"
}

fn classify(found: Option<&Value>, recorded: Option<State>) -> Owner {
    match found {
        None => Owner::Absent,
        // a label taken off means someone else owns it now, whatever the record says
        Some(object) if !labelled(object) => Owner::Foreign,
        Some(_) if recorded == Some(State::Adopted) => Owner::Adopted,
        Some(_) => Owner::Ours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_label_decides_and_the_record_says_adopted() {
        let ours = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "interlok-k8s"}}});
        let theirs = json!({"metadata": {"labels": {"app": "interlok"}}});
        let helms = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}}});
        let unlabelled = json!({"metadata": {"name": "x", "labels": null}});
        assert_eq!(classify(None, Some(State::Created)), Owner::Absent);
        assert_eq!(classify(Some(&ours), None), Owner::Ours, "labelled but unrecorded (a lost record) is ours");
        assert_eq!(classify(Some(&ours), Some(State::Intended)), Owner::Ours);
        assert_eq!(classify(Some(&ours), Some(State::Adopted)), Owner::Adopted);
        for other in [&theirs, &helms, &unlabelled] {
            assert_eq!(classify(Some(other), None), Owner::Foreign);
            assert_eq!(classify(Some(other), Some(State::Created)), Owner::Foreign, "the label was taken off");
        }
    }

    #[test]
    fn kinds_map_to_the_records_names() {
        assert_eq!(item("Namespace", "", "team"), Created::Namespace { name: "team".into() });
        assert_eq!(
            item("HorizontalPodAutoscaler", "default", "interlok"),
            Created::Object { kind: "hpa".into(), name: "interlok".into(), namespace: "default".into() }
        );
        assert_eq!(resource("Deployment"), "deployment");
    }
}
