//! What teardown removes: what setup recorded — made, or about to be made when a run was interrupted — that
//! still exists and is still the wizard's (Kubernetes objects and namespaces only while they carry
//! `app.kubernetes.io/managed-by: interlok-k8s`; switches by their exact name), in the reverse of setup's
//! order. What `--adopt` took over stays unless `--include-adopted`. With `--from-labels` the list comes from
//! the labels instead of the record (when the record is lost or damaged). A namespace is kept when it holds
//! anything the wizard did not make.

use serde_json::Value;

use crate::cluster::ownership::{self, ADOPTED_ANNOTATION};
use crate::cluster::Reader;
use crate::context::Context;
use crate::problem::Problem;
use crate::record::{Created, Entry, State};
use crate::runner::{exit_problem, Cmd};
use crate::settings::MANAGED_BY_LABEL;
use crate::tools::{helm, powershell};

/// The kinds setup applies, as kubectl names them: what `--from-labels` looks for in the wizard's
/// namespaces. A stage that applies a new kind adds it here.
const LABELLED_KINDS: [&str; 5] = [crate::cluster::keda::KIND, "hpa", "deployment", "service", "configmap"];

/// One removal: what it is, and the commands that remove it.
pub(crate) struct Removal {
    pub(crate) item: Option<Created>,
    pub(crate) what: String,
    pub(crate) commands: Vec<Cmd>,
}

/// What teardown will remove, what it leaves on purpose (with why), and what stays unless a flag removes it.
#[derive(Default)]
pub(crate) struct Plan {
    pub(crate) removals: Vec<Removal>,
    pub(crate) kept: Vec<String>,
    /// The minikube cluster and the wizard's switch, each with the flag that removes it.
    pub(crate) remaining: Vec<String>,
}

fn order(item: &Created) -> u8 {
    match item {
        Created::Object { kind, .. } if kind == "hpa" || kind == crate::cluster::keda::KIND => 0,
        Created::Release { name, .. } if name == "prometheus-adapter" => 1,
        Created::Object { .. } => 2,
        Created::Release { name, .. } if name == "grafana" => 3,
        Created::Release { .. } => 4,
        Created::Namespace { .. } => 5,
        Created::Repository { .. } => 6,
        Created::Tiller => 7,
        Created::Cluster => 8,
        Created::Switch { .. } => 9,
    }
}

pub(crate) fn plan(cx: &Context, delete_cluster: bool, remove_switch: bool) -> Result<Plan, Problem> {
    let mut plan = if cx.settings.from_labels {
        from_labels(cx)?
    } else {
        let record = cx.record.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(problem) = record.damaged() {
            return Err(problem.clone());
        }
        let entries = record.entries();
        drop(record);
        let mut plan = from_record(cx, entries.clone(), delete_cluster, remove_switch);
        if !remove_switch {
            plan.remaining.extend(entries.into_iter().filter_map(|entry| match entry.item {
                Created::Switch { name } if powershell::switch_exists(&cx.runner, &name).unwrap_or(false) => Some(
                    format!("the Hyper-V switch {name:?} setup created (`interlok-k8s teardown --remove-switch` removes it)"),
                ),
                _ => None,
            }));
        }
        plan
    };
    plan.removals.sort_by_key(|r| r.item.as_ref().map_or(u8::MAX, order));
    if delete_cluster
        && cx.settings.uses_minikube()
        && !plan.removals.iter().any(|r| r.item == Some(Created::Cluster))
        && cluster_exists(cx)
    {
        plan.removals.push(Removal {
            item: None,
            what: "the minikube cluster".into(),
            commands: vec![Cmd::change(cx.minikube()).arg("delete")],
        });
    }
    if !delete_cluster && cx.settings.uses_minikube() && cluster_exists(cx) {
        plan.remaining.insert(0, "the minikube cluster (`interlok-k8s teardown --delete-cluster` deletes it)".into());
    }
    Ok(plan)
}

fn from_record(cx: &Context, entries: Vec<Entry>, delete_cluster: bool, remove_switch: bool) -> Plan {
    let mut plan = Plan::default();
    for Entry { item, state } in entries {
        if state == State::Adopted && !cx.settings.include_adopted {
            plan.kept.push(format!("kept {item}: setup --adopt took it over (teardown --include-adopted removes it)"));
            continue;
        }
        if let Some(removal) = removal(cx, item, delete_cluster, remove_switch) {
            plan.removals.push(removal);
        }
    }
    plan
}

fn removal(cx: &Context, item: Created, delete_cluster: bool, remove_switch: bool) -> Option<Removal> {
    let helm2 = cx.helm_major() == 2;
    let (what, commands) = match &item {
        Created::Object { kind, name, namespace } => {
            // not labelled as the wizard's any more: someone else owns it now
            get(cx, kind, namespace, name).filter(ownership::labelled)?;
            (format!("{kind} {name} in {namespace}"), vec![cx.kubectl().delete(kind, name, Some(namespace))])
        }
        Created::Release { name, namespace } => {
            let listed = cx.runner.run(&cx.helm().list_release(name, namespace)).ok()?;
            helm::parse_release(name, &listed.stdout).ok().flatten()?;
            let cmd = if helm2 { cx.helm().delete_v2(name) } else { cx.helm().uninstall(name, namespace) };
            if name == crate::cluster::keda::RELEASE {
                // its CRDs go with it, and every KEDA object with them: kept while others use KEDA
                if !crate::cluster::keda::foreign_objects(cx).ok()?.is_empty() {
                    return None;
                }
                let commands = keda_removal(cx, namespace);
                return Some(Removal {
                    item: Some(item.clone()),
                    what: format!("KEDA (Helm release {name}) in {namespace}"),
                    commands,
                });
            }
            (format!("Helm release {name} in {namespace}"), vec![cmd])
        }
        Created::Namespace { name } => {
            get(cx, "namespace", "", name).filter(ownership::labelled)?;
            namespace_removal(cx, name)
        }
        Created::Repository { name } => {
            crate::cluster::releases::repositories(cx).ok()?.iter().find(|r| &r.name == name)?;
            (format!("chart repository {name}"), vec![cx.helm().repo_remove(name)])
        }
        Created::Tiller => {
            get(cx, "deployment", "kube-system", "tiller-deploy")?;
            let k = cx.kubectl();
            let commands = vec![
                k.delete("deployment", "tiller-deploy", Some("kube-system")),
                k.delete("service", "tiller-deploy", Some("kube-system")),
                k.delete("serviceaccount", "tiller", Some("kube-system")),
                k.delete("clusterrolebinding", "tiller", None),
            ];
            ("tiller and its cluster-admin binding".into(), commands)
        }
        Created::Cluster if delete_cluster && cluster_exists(cx) => {
            ("the minikube cluster".into(), vec![Cmd::change(cx.minikube()).arg("delete")])
        }
        Created::Switch { name } if remove_switch => {
            if !powershell::switch_exists(&cx.runner, name).ok()? {
                return None;
            }
            (format!("Hyper-V switch {name:?}"), vec![powershell::remove_switch(name)])
        }
        Created::Cluster | Created::Switch { .. } => return None,
    };
    Some(Removal { item: Some(item), what, commands })
}

fn namespace_removal(cx: &Context, name: &str) -> (String, Vec<Cmd>) {
    (format!("namespace {name} (when nothing else is left in it)"), vec![cx.kubectl().delete("namespace", name, None)])
}

/// The plan from the wizard's labels: its objects in its namespaces, the namespaces it labelled, and (Helm
/// 3.13+) the releases it labelled. The record is not read.
fn from_labels(cx: &Context) -> Result<Plan, Problem> {
    let mut plan = Plan::default();
    let selector = format!("{}={}", MANAGED_BY_LABEL.0, MANAGED_BY_LABEL.1);
    let labelled_namespaces = cx.list("namespaces", "", Some(&selector))?;
    let mut namespaces = vec![cx.settings.namespace.clone(), cx.settings.monitoring_namespace.clone()];
    namespaces.extend(labelled_namespaces.iter().map(name_of));
    namespaces.sort();
    namespaces.dedup();
    for namespace in &namespaces {
        for kind in LABELLED_KINDS {
            let objects = match cx.list(kind, namespace, Some(&selector)) {
                Ok(objects) => objects,
                // KEDA's kind is served only while its CRDs are installed
                Err(_) if kind == crate::cluster::keda::KIND => Vec::new(),
                Err(problem) => return Err(problem),
            };
            for object in objects {
                let name = name_of(&object);
                // a controller's child is removed with its owner
                if object["metadata"]["ownerReferences"].as_array().is_some_and(|o| !o.is_empty()) {
                    continue;
                }
                let item = Created::Object { kind: kind.into(), name: name.clone(), namespace: namespace.clone() };
                if ownership::marked_adopted(&object) && !cx.settings.include_adopted {
                    plan.kept.push(format!("kept {item}: adopted (teardown --include-adopted removes it)"));
                    continue;
                }
                let commands = vec![cx.kubectl().delete(kind, &name, Some(namespace))];
                plan.removals.push(Removal {
                    item: Some(item),
                    what: format!("{kind} {name} in {namespace}"),
                    commands,
                });
            }
        }
    }
    if cx.helm_found().is_some_and(|f| helm::keeps_labels(f.version)) {
        let selector = match cx.settings.include_adopted {
            true => selector.clone(),
            false => format!("{selector},{ADOPTED_ANNOTATION}!=true"),
        };
        let cmd = cx.helm().list_labelled(&selector);
        let output = cx.runner.run(&cmd)?;
        for (name, namespace, _) in
            helm::parse_list(&output.stdout).map_err(|why| exit_problem(&cmd, &output).reworded(why))?
        {
            let commands = vec![cx.helm().uninstall(&name, &namespace)];
            let what = format!("Helm release {name} in {namespace}");
            plan.removals.push(Removal { item: Some(Created::Release { name, namespace }), what, commands });
        }
    } else {
        plan.kept.push(
            "Helm releases are not found by label with this Helm (3.13 or later keeps labels): remove the wizard's with `helm uninstall`"
                .into(),
        );
    }
    for namespace in labelled_namespaces {
        let name = name_of(&namespace);
        if ownership::marked_adopted(&namespace) && !cx.settings.include_adopted {
            continue;
        }
        let (what, commands) = namespace_removal(cx, &name);
        plan.removals.push(Removal { item: Some(Created::Namespace { name }), what, commands });
    }
    if cx.settings.platform == crate::platform::Platform::Windows && cx.settings.uses_minikube() {
        plan.kept.push("a Hyper-V switch carries no label: remove it in Hyper-V Manager if the wizard made it".into());
    }
    Ok(plan)
}

fn name_of(object: &Value) -> String {
    object["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

/// The object, when it exists and can be read (teardown skips what it cannot see).
/// The commands that remove the wizard's KEDA release in `namespace` and the certificate Secret its
/// operator made there, which the chart does not own (the keda stage leaves KEDA's path the same way).
pub(crate) fn keda_removal(cx: &Context, namespace: &str) -> Vec<Cmd> {
    vec![
        cx.helm().uninstall(crate::cluster::keda::RELEASE, namespace),
        cx.kubectl().delete("secret", crate::cluster::keda::CERTS_SECRET, Some(namespace)),
    ]
}

fn get(cx: &Context, kind: &str, namespace: &str, name: &str) -> Option<Value> {
    cx.get(kind, namespace, name).ok().flatten()
}

fn cluster_exists(cx: &Context) -> bool {
    crate::cluster::server::minikube_status(cx).is_ok_and(|status| status.exists())
}

/// What a namespace still holds that the wizard did not create (its workloads and configuration, as
/// `kind/name`): a namespace holding any of it is kept. A list that fails is the error, never "in use".
pub(crate) fn foreign_objects(cx: &Context, namespace: &str) -> Result<Vec<String>, Problem> {
    let mut found = Vec::new();
    for kind in ["deployments", "statefulsets", "daemonsets", "services", "configmaps"] {
        let items = cx.list(kind, namespace, None).map_err(|problem| {
            problem
                .reworded(format!("could not list the {kind} in namespace {namespace}, so it was not removed"))
                .with_hint(format!(
                    "run `kubectl get {kind} -n {namespace}` to see why, then `interlok-k8s teardown` again"
                ))
        })?;
        let singular = kind.trim_end_matches('s');
        found.extend(
            items
                .iter()
                .map(name_of)
                .filter(|name| name != "kube-root-ca.crt")
                .map(|name| format!("{singular} {name}")),
        );
    }
    Ok(found)
}
