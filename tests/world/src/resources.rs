//! The API resources the fake server serves, as discovery lists them. Autoscaling versions are served only
//! where a real server of that version would serve them.

#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub group: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
    pub subresources: &'static [&'static str],
    /// Discovery categories (`kubectl get all` lists the resources in "all").
    pub categories: &'static [&'static str],
    /// Versions served, with the minimum (inclusive) and maximum (exclusive) server minor for each.
    pub versions: &'static [(&'static str, u32, u32)],
}

const ALL: u32 = 999;

impl Resource {
    pub fn served_versions(&self, minor: u32) -> Vec<&'static str> {
        self.versions.iter().filter(|(_, from, until)| minor >= *from && minor < *until).map(|(v, _, _)| *v).collect()
    }

    /// Key used in the store: the group and plural (all versions of a resource share one storage).
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }
}

macro_rules! res {
    ($group:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $sub:expr, $versions:expr) => {
        Resource {
            group: $group,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short: $short,
            subresources: $sub,
            categories: &["all"],
            versions: $versions,
        }
    };
}

const V1: &[(&str, u32, u32)] = &[("v1", 0, ALL)];
const EXTENSIONS: &[&str] = &["api-extensions"];

pub static RESOURCES: &[Resource] = &[
    res!("", "namespaces", "namespace", "Namespace", false, &["ns"], &["status"], V1),
    res!("", "nodes", "node", "Node", false, &["no"], &["status"], V1),
    res!("", "pods", "pod", "Pod", true, &["po"], &["status", "log", "portforward", "proxy", "exec"], V1),
    res!("", "services", "service", "Service", true, &["svc"], &["status", "proxy"], V1),
    res!("", "endpoints", "endpoints", "Endpoints", true, &["ep"], &[], V1),
    res!("", "configmaps", "configmap", "ConfigMap", true, &["cm"], &[], V1),
    res!("", "secrets", "secret", "Secret", true, &[], &[], V1),
    res!("", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], &[], V1),
    res!("", "events", "event", "Event", true, &["ev"], &[], V1),
    res!(
        "",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &["status"],
        V1
    ),
    res!("apps", "deployments", "deployment", "Deployment", true, &["deploy"], &["status", "scale"], V1),
    res!("apps", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], &["status", "scale"], V1),
    res!("apps", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], &["status"], V1),
    res!("apps", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], &["status", "scale"], V1),
    res!("rbac.authorization.k8s.io", "clusterroles", "clusterrole", "ClusterRole", false, &[], &[], V1),
    res!(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
        V1
    ),
    res!("rbac.authorization.k8s.io", "roles", "role", "Role", true, &[], &[], V1),
    res!("rbac.authorization.k8s.io", "rolebindings", "rolebinding", "RoleBinding", true, &[], &[], V1),
    Resource {
        categories: EXTENSIONS,
        ..res!("apiregistration.k8s.io", "apiservices", "apiservice", "APIService", false, &[], &["status"], V1)
    },
    Resource {
        categories: EXTENSIONS,
        ..res!(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            &["status"],
            V1
        )
    },
    Resource {
        categories: EXTENSIONS,
        ..res!(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            false,
            &[],
            &[],
            V1
        )
    },
    Resource {
        categories: EXTENSIONS,
        ..res!(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            false,
            &[],
            &[],
            V1
        )
    },
    res!(
        "policy",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &["status"],
        V1
    ),
    res!(
        "autoscaling",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        &["status"],
        &[("v2", 23, ALL), ("v1", 0, ALL), ("v2beta2", 12, 26), ("v2beta1", 0, 25)]
    ),
];

pub fn find(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.plural == plural)
}

/// Whether a resource is compiled in (rather than defined by a CustomResourceDefinition).
pub fn is_builtin(resource: &Resource) -> bool {
    RESOURCES.iter().any(|r| std::ptr::eq(r, resource))
}

pub fn find_kind(group: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.kind == kind)
}

/// The groups in discovery order, each with its served versions (preferred first).
pub fn groups(minor: u32) -> Vec<(&'static str, Vec<&'static str>)> {
    groups_of(RESOURCES.iter(), minor)
}

/// The groups of these resources, in order, each with its served versions (preferred first).
pub fn groups_of<'a>(
    resources: impl IntoIterator<Item = &'a Resource>,
    minor: u32,
) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for resource in resources.into_iter().filter(|r| !r.group.is_empty()) {
        let versions = resource.served_versions(minor);
        match groups.iter_mut().find(|(g, _)| *g == resource.group) {
            Some((_, existing)) => {
                for v in versions {
                    if !existing.contains(&v) {
                        existing.push(v);
                    }
                }
            }
            None => groups.push((resource.group, versions)),
        }
    }
    groups
}
