//! The one way a stage writes Kubernetes objects. `apply` asks whose each object is first
//! (`cluster::ownership`) and, when one exists that is not the wizard's, stops before anything changes —
//! unless `--adopt` — naming it; it records each object as intended before `kubectl apply` and as created
//! (or adopted) after, and puts the wizard's label on each. A stage that adds objects calls this, nothing else.

use serde_json::{json, Value};

use crate::cluster::ownership::{self, Owner, ADOPTED_ANNOTATION};
use crate::cluster::Reader;
use crate::context::Context;
use crate::problem::Problem;
use crate::record::State;
use crate::settings::MANAGED_BY_LABEL;

/// Applies these objects (one `kubectl apply` of a List) as the wizard's own. What `--adopt` takes over is
/// replaced instead (`kubectl replace`): applied over an object made another way, `apply` would merge lists
/// — the user's container would stay next to Interlok's.
pub(crate) fn apply(cx: &mut Context, objects: Vec<Value>) -> Result<(), Problem> {
    let mut planned = Vec::with_capacity(objects.len());
    for object in objects {
        let (kind, namespace, name) = identity(&object)?;
        let (owner, live) = match ownership::object(cx, &kind, &namespace, &name) {
            Ok(found) => found,
            // a dry run may have no cluster yet: show what it would apply
            Err(_) if cx.runner.dry_run() => (Owner::Absent, None),
            Err(problem) => return Err(problem),
        };
        let what = describe(&kind, &namespace, &name);
        planned.push((object, owner, live, what, ownership::item(&kind, &namespace, &name)));
    }
    let foreign: Vec<String> =
        planned.iter().filter(|(_, owner, ..)| *owner == Owner::Foreign).map(|(.., what, _)| what.clone()).collect();
    if !foreign.is_empty() && !cx.settings.adopt {
        return Err(foreign_problem(&foreign, "--deployment NAME or --namespace NS"));
    }
    let (mut applied, mut replaced) = (Vec::new(), Vec::new());
    for (object, owner, live, what, item) in &mut planned {
        stamp(object, matches!(owner, Owner::Foreign | Owner::Adopted));
        match owner {
            Owner::Foreign => {
                // write-ahead: an adoption is recorded before the object is changed
                cx.confirm(item.clone(), State::Adopted);
                cx.note(format!("adopted {what} (--adopt): teardown leaves it in place unless --include-adopted"));
                replaced.push(taking_over(object.clone(), live.as_ref()));
                continue;
            }
            Owner::Absent | Owner::Ours => cx.intend(item.clone())?,
            Owner::Adopted => {}
        }
        applied.push(object.clone());
    }
    for (items, replace) in [(applied, false), (replaced, true)] {
        if items.is_empty() {
            continue;
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
        // objects of one namespace are applied in it: the run then knows the change stays there
        let k = cx.kubectl();
        let cmd = match (replace, one_namespace(&items)) {
            (false, None) => k.apply(&list),
            (false, Some(namespace)) => k.apply_in(namespace, &list),
            (true, None) => k.replace(&list),
            (true, Some(namespace)) => k.replace_in(namespace, &list),
        };
        cx.runner.run(&cmd)?;
    }
    for (_, owner, _, _, item) in planned {
        if matches!(owner, Owner::Absent | Owner::Ours) && cx.recorded(&item) != Some(State::Created) {
            cx.confirm(item, State::Created);
        }
    }
    Ok(())
}

/// The namespace every one of these objects names, if they name one and the same.
fn one_namespace(objects: &[Value]) -> Option<&str> {
    let mut namespaces = objects.iter().map(|o| o["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()));
    let first = namespaces.next()??;
    namespaces.all(|n| n == Some(first)).then_some(first)
}

/// The manifest that replaces an object being adopted: it keeps the live object's resourceVersion (the
/// replace fails if the object changed since it was read) and a Service's cluster IPs (immutable).
fn taking_over(mut object: Value, live: Option<&Value>) -> Value {
    if let Some(live) = live {
        object["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        for field in ["clusterIP", "clusterIPs"] {
            if !live["spec"][field].is_null() && object["kind"] == "Service" {
                object["spec"][field] = live["spec"][field].clone();
            }
        }
    }
    object
}

/// Makes the namespace (labelled and recorded) unless it exists: using someone else's namespace changes
/// nothing of it.
pub(crate) fn ensure_namespace(cx: &mut Context, name: &str) -> Result<(), Problem> {
    let exists = match cx.get("namespace", "", name) {
        Ok(found) => found.is_some(),
        // a dry run may have no cluster yet: show the namespace it would make
        Err(_) if cx.runner.dry_run() => false,
        Err(problem) => return Err(problem),
    };
    if exists {
        return Ok(());
    }
    apply(cx, vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})])
}

/// What stopped setup: things that exist and are someone else's. `rename` names the flags that choose
/// other names.
pub(crate) fn foreign_problem(things: &[String], rename: &str) -> Problem {
    let (subject, them) = match things {
        [one] => (format!("{one} already exists and is not the wizard's"), "it"),
        many => (format!("these already exist and are not the wizard's: {}", many.join(", ")), "them"),
    };
    Problem::new(format!(
        "{subject} (it was not made by interlok-k8s: no {}: {} label, not in the record): setup changed nothing of {them}",
        MANAGED_BY_LABEL.0, MANAGED_BY_LABEL.1
    ))
    .with_hint(format!(
        "to keep {them} as {}, give the wizard other names ({rename}); to let the wizard take {them} over, run the same command with --adopt (teardown leaves what was adopted in place unless --include-adopted)",
        if them == "it" { "it is" } else { "they are" }
    ))
}

fn identity(object: &Value) -> Result<(String, String, String), Problem> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let (kind, name) = (text(&object["kind"]), text(&object["metadata"]["name"]));
    let namespace = text(&object["metadata"]["namespace"]);
    if kind.is_empty() || name.is_empty() || (namespace.is_empty() && kind != "Namespace") {
        return Err(Problem::new(format!(
            "a rendered manifest has no kind, name or namespace (a bug in interlok-k8s): {object}"
        )));
    }
    Ok((kind, namespace, name))
}

fn describe(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {name} in namespace {namespace}")
    }
}

/// The wizard's label, and for an adopted object the mark that says so.
fn stamp(object: &mut Value, adopted: bool) {
    let metadata = &mut object["metadata"];
    metadata["labels"][MANAGED_BY_LABEL.0] = json!(MANAGED_BY_LABEL.1);
    if adopted {
        metadata["annotations"][ADOPTED_ANNOTATION] = json!("true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_labels_and_marks_adoption() {
        let mut object =
            json!({"kind": "Service", "metadata": {"name": "s", "namespace": "n", "labels": {"app": "s"}}});
        stamp(&mut object, false);
        assert_eq!(object["metadata"]["labels"]["app"], "s");
        assert_eq!(object["metadata"]["labels"]["app.kubernetes.io/managed-by"], "interlok-k8s");
        assert!(object["metadata"]["annotations"].is_null());
        stamp(&mut object, true);
        assert_eq!(object["metadata"]["annotations"][ADOPTED_ANNOTATION], "true");
    }

    #[test]
    fn the_refusal_names_every_object_and_offers_adopt() {
        let one = foreign_problem(&["Deployment interlok in namespace default".into()], "--deployment NAME");
        assert!(one.message.starts_with("Deployment interlok in namespace default already exists"), "{}", one.message);
        assert!(one.hint.as_deref().unwrap().contains("--adopt"));
        let two = foreign_problem(&["Deployment a in namespace n".into(), "Service a in namespace n".into()], "x");
        assert!(two.message.contains("Deployment a in namespace n, Service a in namespace n"), "{}", two.message);
    }

    #[test]
    fn taking_over_keeps_the_version_read_and_a_services_cluster_ip() {
        let ours = json!({"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 8080}]}});
        let live = json!({"metadata": {"resourceVersion": "42"}, "spec": {"clusterIP": "10.0.0.7", "ports": []}});
        let replaced = taking_over(ours, Some(&live));
        assert_eq!(replaced["metadata"]["resourceVersion"], "42");
        assert_eq!(replaced["spec"]["clusterIP"], "10.0.0.7");
        assert_eq!(replaced["spec"]["ports"][0]["port"], 8080, "everything else is the wizard's");
    }

    #[test]
    fn objects_of_one_namespace_are_applied_in_it() {
        let object = |ns: &str| json!({"kind": "Service", "metadata": {"name": "s", "namespace": ns}});
        assert_eq!(one_namespace(&[object("default"), object("default")]), Some("default"));
        assert_eq!(one_namespace(&[object("default"), object("monitoring")]), None);
        assert_eq!(one_namespace(&[json!({"kind": "Namespace", "metadata": {"name": "n"}})]), None);
    }

    #[test]
    fn manifests_without_a_namespace_are_refused() {
        assert!(identity(&json!({"kind": "Deployment", "metadata": {"name": "d"}})).is_err());
        assert_eq!(identity(&json!({"kind": "Namespace", "metadata": {"name": "n"}})).unwrap().1, "");
    }
}
