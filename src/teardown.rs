//! What teardown removes: the things setup recorded as its own that still exist — Kubernetes objects only
//! when they also carry `app.kubernetes.io/managed-by: interlok-k8s` — in the reverse of setup's order. A
//! namespace is kept when it holds anything the wizard did not create.

use serde_json::Value;

use crate::context::Context;
use crate::record::Created;
use crate::runner::Cmd;
use crate::settings::MANAGED_BY_LABEL;
use crate::tools::minikube;
use crate::tools::powershell;

/// One removal: what it is, and the commands that remove it.
pub struct Removal {
    pub item: Option<Created>,
    pub what: String,
    pub commands: Vec<Cmd>,
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

pub fn plan(cx: &Context, delete_cluster: bool, remove_switch: bool) -> Vec<Removal> {
    let mut items = cx.record.lock().expect("record").entries();
    items.sort_by_key(order);
    let mut removals: Vec<Removal> =
        items.into_iter().filter_map(|item| removal(cx, item, delete_cluster, remove_switch)).collect();
    if delete_cluster
        && cx.settings.uses_minikube()
        && !removals.iter().any(|r| r.item == Some(Created::Cluster))
        && cluster_exists(cx)
    {
        removals.push(Removal {
            item: None,
            what: "the minikube cluster".into(),
            commands: vec![Cmd::change(cx.minikube()).arg("delete")],
        });
    }
    removals
}

fn removal(cx: &Context, item: Created, delete_cluster: bool, remove_switch: bool) -> Option<Removal> {
    let helm2 = cx.helm_major() == 2;
    let (what, commands) = match &item {
        Created::Object { kind, name, namespace } => {
            let object = get(cx, kind, Some(namespace), name)?;
            if object["metadata"]["labels"][MANAGED_BY_LABEL.0] != MANAGED_BY_LABEL.1 {
                return None; // not labelled as ours any more: someone else owns it now
            }
            (format!("{kind} {name} in {namespace}"), vec![cx.kubectl().delete(kind, name, Some(namespace))])
        }
        Created::Release { name, namespace } => {
            let listed = cx.runner.run(&cx.helm().list_release(name, namespace)).ok()?;
            crate::tools::helm::parse_release(name, &listed.stdout).ok().flatten()?;
            let cmd = if helm2 { cx.helm().delete_v2(name) } else { cx.helm().uninstall(name, namespace) };
            if name == crate::cluster::keda::RELEASE {
                // its CRDs go with it, and every KEDA object with them: kept while others use KEDA
                if !crate::cluster::keda::foreign_objects(cx).ok()?.is_empty() {
                    return None;
                }
                let commands = crate::stages::keda::uninstall_commands(cx, namespace);
                return Some(Removal {
                    item: Some(item.clone()),
                    what: format!("KEDA (Helm release {name}) in {namespace}"),
                    commands,
                });
            }
            (format!("Helm release {name} in {namespace}"), vec![cmd])
        }
        Created::Namespace { name } => {
            get(cx, "namespace", None, name)?;
            (
                format!("namespace {name} (when nothing else is left in it)"),
                vec![cx.kubectl().delete("namespace", name, None)],
            )
        }
        Created::Repository { name } => {
            let listed = cx.runner.run_unchecked(&cx.helm().repo_list()).ok()?;
            let repos = crate::tools::helm::parse_repo_list(listed.code, &listed.stdout, &listed.stderr).ok()?;
            repos.iter().find(|r| &r.name == name)?;
            (format!("chart repository {name}"), vec![cx.helm().repo_remove(name)])
        }
        Created::Tiller => {
            get(cx, "deployment", Some("kube-system"), "tiller-deploy")?;
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
            (format!("Hyper-V switch {name}"), vec![powershell::remove_switch(name)])
        }
        Created::Cluster | Created::Switch { .. } => return None,
    };
    Some(Removal { item: Some(item), what, commands })
}

fn get(cx: &Context, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
    let cmd = match namespace {
        Some(ns) => cx.kubectl().get_json(ns, kind, name),
        None => cx.kubectl().get_cluster_json(kind, name),
    };
    let output = cx.runner.run(&cmd).ok()?;
    serde_json::from_str(&output.stdout).ok()
}

fn cluster_exists(cx: &Context) -> bool {
    cx.runner.run_unchecked(&minikube::status(&cx.minikube())).is_ok_and(|o| o.code != 85)
}

/// Whether a namespace still holds workloads or configuration the wizard did not create.
pub fn namespace_in_use(cx: &Context, namespace: &str) -> bool {
    ["deployments", "statefulsets", "daemonsets", "services", "configmaps"].iter().any(|kind| {
        let Ok(output) = cx.runner.run(&cx.kubectl().list_json(namespace, kind, None)) else { return true };
        let list: Value = serde_json::from_str(&output.stdout).unwrap_or(Value::Null);
        list["items"].as_array().is_some_and(|items| items.iter().any(|i| i["metadata"]["name"] != "kube-root-ca.crt"))
    })
}
