//! kubectl: version JSON (`gitVersion`, not `minor`, which vendor builds print as `"32+"`), and the commands
//! the wizard sends. Every command carries `--context` when the user chose one.

use serde::Deserialize;

use super::Found;
use crate::api_read::{ApiRead, Form, Served};
use crate::problem::Problem;
use crate::runner::{Cmd, Runner};
use crate::version::Version;

/// Each kubectl on PATH that answers with a readable version, in PATH order, and why the others did not.
pub(crate) fn every_on_path(runner: &Runner) -> (Vec<Found>, Vec<Problem>) {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for path in runner.resolve_all("kubectl") {
        match super::read_version(runner, "kubectl", &path.display().to_string()) {
            Ok(version) => found.push(Found { path, version }),
            Err(problem) => {
                failures.push(problem.with_hint(format!("reinstall {}, or take it off PATH", path.display())))
            }
        }
    }
    (found, failures)
}

/// Builds kubectl commands against one binary (an absolute path once `kubectl on PATH` has chosen it).
#[derive(Debug, Clone)]
pub(crate) struct Kubectl {
    program: String,
    /// Words before kubectl's own arguments: `kubectl --` when run as `minikube kubectl --`.
    prefix: Vec<String>,
    context: Option<String>,
}

impl Kubectl {
    pub(crate) fn new(program: impl Into<String>, context: Option<String>) -> Self {
        Kubectl { program: program.into(), prefix: Vec::new(), context }
    }

    /// kubectl as `minikube kubectl --`, which matches the cluster's version.
    pub(crate) fn via_minikube(minikube: impl Into<String>, context: Option<String>) -> Self {
        Kubectl { program: minikube.into(), prefix: vec!["kubectl".into(), "--".into()], context }
    }

    pub(crate) fn client_version(&self) -> Cmd {
        Cmd::query(&self.program).args(self.prefix.iter().cloned()).args(["version", "--client", "-o", "json"])
    }

    /// Client and server versions; exits 1 (with client JSON on stdout) when the server is unreachable.
    pub(crate) fn version(&self) -> Cmd {
        self.query(["version", "-o", "json"])
    }

    /// `version`, for a kubectl known to be `client`: the server's part can be read through the run's proxy.
    pub(crate) fn version_knowing(&self, client: Version) -> Cmd {
        self.via_api(self.version(), Form::Version { client: client.to_string() })
    }

    pub(crate) fn query<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_context(Cmd::query(&self.program).args(self.prefix.iter().cloned()).args(args))
    }

    pub(crate) fn change<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_context(Cmd::change(&self.program).args(self.prefix.iter().cloned()).args(args))
    }

    /// `kubectl apply -f -` of a manifest given on stdin (JSON bodies, never protobuf).
    pub(crate) fn apply(&self, manifest: &str) -> Cmd {
        self.change(["apply", "-f", "-"]).stdin(manifest)
    }

    /// `kubectl apply -f - -n NAMESPACE`: every object of the manifest is in that namespace (kubectl refuses
    /// one that says another), so the run knows what the change can reach.
    pub(crate) fn apply_in(&self, namespace: &str, manifest: &str) -> Cmd {
        self.apply(manifest).args(["-n", namespace])
    }

    /// `kubectl replace --save-config -f -`: the object becomes exactly the manifest (what `apply` would
    /// merge into a list, such as another container, is gone), and later `apply`s work on it.
    pub(crate) fn replace(&self, manifest: &str) -> Cmd {
        self.change(["replace", "--save-config", "-f", "-"]).stdin(manifest)
    }

    /// `kubectl replace` of objects that are all in `namespace` (see `apply_in`).
    pub(crate) fn replace_in(&self, namespace: &str, manifest: &str) -> Cmd {
        self.replace(manifest).args(["-n", namespace])
    }

    /// The context names in the kubeconfig (a kubeconfig question: never through --context).
    pub(crate) fn context_names(&self) -> Cmd {
        Cmd::query(&self.program).args(self.prefix.iter().cloned()).args(["config", "get-contexts", "-o", "name"])
    }

    /// Waits, watch-driven, until every node is Ready.
    pub(crate) fn wait_nodes_ready(&self, timeout_secs: u64) -> Cmd {
        self.query([
            "wait".to_string(),
            "--for=condition=Ready".into(),
            "node".into(),
            "--all".into(),
            format!("--timeout={timeout_secs}s"),
        ])
        .timeout(std::time::Duration::from_secs(timeout_secs + 30))
        .waits()
        .streamed()
    }

    /// Waits, watch-driven, for a Deployment's rollout.
    pub(crate) fn rollout_status(&self, namespace: &str, deployment: &str, timeout_secs: u64) -> Cmd {
        self.query([
            "rollout".to_string(),
            "status".into(),
            format!("deployment/{deployment}"),
            "-n".into(),
            namespace.into(),
            format!("--timeout={timeout_secs}s"),
        ])
        .timeout(std::time::Duration::from_secs(timeout_secs + 30))
        .waits()
        .streamed()
    }

    /// A Deployment's ready replica count (empty output when none are ready).
    pub(crate) fn ready_replicas(&self, namespace: &str, deployment: &str) -> Cmd {
        self.query(["get", "deployment", deployment, "-n", namespace, "-o", "jsonpath={.status.readyReplicas}"])
    }

    /// One object as JSON.
    pub(crate) fn get_json(&self, namespace: &str, kind: &str, name: &str) -> Cmd {
        let cmd = self.query(["get", kind, name, "-n", namespace, "-o", "json"]);
        match resource(kind) {
            Some(resource) => {
                let path = format!("{}/{}", resource.path(namespace), escaped(name));
                self.via_api(cmd, Form::Object { path, name: name.into(), kind: resource.served() })
            }
            None => cmd,
        }
    }

    /// Objects of a kind (or of kinds: `a,b`) in a namespace as a JSON List, optionally by label selector.
    pub(crate) fn list_json(&self, namespace: &str, kind: &str, selector: Option<&str>) -> Cmd {
        let cmd = self.query(["get", kind, "-n", namespace, "-o", "json"]);
        let cmd = match selector {
            Some(selector) => cmd.args(["-l", selector]),
            None => cmd,
        };
        self.listed(cmd, kind, namespace, selector)
    }

    /// Cluster-scoped objects of a kind as a JSON List, optionally by label selector.
    pub(crate) fn list_cluster_json(&self, kind: &str, selector: Option<&str>) -> Cmd {
        let cmd = self.query(["get", kind, "-o", "json"]);
        let cmd = match selector {
            Some(selector) => cmd.args(["-l", selector]),
            None => cmd,
        };
        self.listed(cmd, kind, "", selector)
    }

    /// A list command with its API form, when kubectl's names for every kind in it are known here.
    fn listed(&self, cmd: Cmd, kinds: &str, namespace: &str, selector: Option<&str>) -> Cmd {
        let query = selector.map(|s| format!("?labelSelector={}", escaped(s))).unwrap_or_default();
        let paths: Option<Vec<(String, Served)>> = kinds
            .split(',')
            .map(|kind| resource(kind).map(|r| (format!("{}{query}", r.path(namespace)), r.served())))
            .collect();
        match paths {
            Some(paths) => self.via_api(cmd, Form::Lists(paths)),
            None => cmd,
        }
    }

    /// The first `limit_bytes` of what a pod's container printed (what it logs at start is at the beginning).
    pub(crate) fn logs(&self, namespace: &str, pod: &str, container: &str, limit_bytes: u64) -> Cmd {
        let cmd = self.query([
            "logs".to_string(),
            pod.into(),
            format!("--container={container}"),
            "-n".into(),
            namespace.into(),
            format!("--limit-bytes={limit_bytes}"),
        ]);
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/log?container={}&limitBytes={limit_bytes}",
            escaped(namespace),
            escaped(pod),
            escaped(container)
        );
        self.via_api(cmd, Form::Raw(path))
    }

    /// Objects of one or more kinds (`a,b`) in every namespace, as one JSON List.
    pub(crate) fn list_everywhere_json(&self, kinds: &str) -> Cmd {
        self.query(["get", kinds, "--all-namespaces", "-o", "json"])
    }

    /// A cluster-scoped object as JSON.
    pub(crate) fn get_cluster_json(&self, kind: &str, name: &str) -> Cmd {
        let cmd = self.query(["get", kind, name, "-o", "json"]);
        match resource(kind) {
            Some(resource) => {
                let path = format!("{}/{}", resource.path(""), escaped(name));
                self.via_api(cmd, Form::Object { path, name: name.into(), kind: resource.served() })
            }
            None => cmd,
        }
    }

    /// A raw API path (e.g. the custom metrics API).
    pub(crate) fn get_raw(&self, path: &str) -> Cmd {
        let cmd = self.query(["get", "--raw", path]);
        self.via_api(cmd, Form::Raw(path.into()))
    }

    /// `cmd`, a `helm list` of `namespace`'s releases, answered from Helm's release Secrets read through
    /// this kubectl's proxy (see helm_storage.rs).
    pub(crate) fn helm_list_via_api(&self, cmd: Cmd, namespace: &str) -> Cmd {
        let selector = escaped(super::helm_storage::SELECTOR);
        let path = format!("/api/v1/namespaces/{}/secrets?labelSelector={selector}", escaped(namespace));
        self.via_api(cmd, Form::HelmList(path))
    }

    /// The read as API requests through `kubectl proxy` run by this same kubectl and context.
    fn via_api(&self, cmd: Cmd, form: Form) -> Cmd {
        cmd.via_api(ApiRead::new(self.proxy(), form))
    }

    /// The words of `kubectl proxy` with this kubectl and context (api_proxy.rs adds the socket).
    pub(crate) fn proxy(&self) -> Vec<String> {
        let proxy = self.query(["proxy"]);
        std::iter::once(proxy.program().to_string()).chain(proxy.arguments().iter().cloned()).collect()
    }

    /// The API group versions the server serves.
    pub(crate) fn api_versions(&self) -> Cmd {
        let cmd = self.query(["api-versions"]);
        self.via_api(cmd, Form::ApiVersions)
    }

    /// Deletes one object; gone already is fine.
    pub(crate) fn delete(&self, kind: &str, name: &str, namespace: Option<&str>) -> Cmd {
        let cmd = self.change(["delete", kind, name, "--ignore-not-found"]);
        match namespace {
            Some(ns) => cmd.args(["-n", ns]),
            None => cmd,
        }
        .timeout(std::time::Duration::from_secs(300))
    }

    /// A port-forward to a Service, on a free local port, bound to 127.0.0.1 only.
    /// `kubectl port-forward` to `target` (`svc/NAME` or `pod/NAME`) on a free local port.
    pub(crate) fn port_forward(&self, namespace: &str, target: &str, remote_port: u16) -> Cmd {
        self.query([
            "port-forward".to_string(),
            "-n".into(),
            namespace.into(),
            target.into(),
            format!(":{remote_port}"),
            "--address".into(),
            "127.0.0.1".into(),
        ])
    }

    fn with_context(&self, cmd: Cmd) -> Cmd {
        match &self.context {
            Some(context) => cmd.arg(format!("--context={context}")),
            None => cmd,
        }
    }
}

/// Where the API serves a kind the wizard reads often, by the names kubectl takes for it. Others (and any
/// other version of these) are read by kubectl itself.
struct Resource {
    names: &'static [&'static str],
    group_version: &'static str,
    plural: &'static str,
    namespaced: bool,
    /// Served at this version only, so a 404 for its path means the server does not have the kind.
    only_version: bool,
}

const RESOURCES: &[Resource] = &[
    Resource {
        names: &["deployment", "deployments", "deploy"],
        group_version: "apis/apps/v1",
        plural: "deployments",
        namespaced: true,
        only_version: false,
    },
    Resource {
        names: &["service", "services", "svc"],
        group_version: "api/v1",
        plural: "services",
        namespaced: true,
        only_version: false,
    },
    Resource {
        names: &["pod", "pods", "po"],
        group_version: "api/v1",
        plural: "pods",
        namespaced: true,
        only_version: false,
    },
    Resource {
        names: &["configmap", "configmaps", "cm"],
        group_version: "api/v1",
        plural: "configmaps",
        namespaced: true,
        only_version: false,
    },
    // kubectl reads autoscalers at the group's preferred version, v2 since Kubernetes 1.23; on an older
    // server this path is missing, and kubectl answers
    Resource {
        names: &["hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"],
        group_version: "apis/autoscaling/v2",
        plural: "horizontalpodautoscalers",
        namespaced: true,
        only_version: false,
    },
    Resource {
        names: &["namespace", "namespaces", "ns"],
        group_version: "api/v1",
        plural: "namespaces",
        namespaced: false,
        only_version: false,
    },
    Resource {
        names: &["node", "nodes", "no"],
        group_version: "api/v1",
        plural: "nodes",
        namespaced: false,
        only_version: false,
    },
    Resource {
        names: &["apiservice", "apiservices", "apiservices.apiregistration.k8s.io"],
        group_version: "apis/apiregistration.k8s.io/v1",
        plural: "apiservices",
        namespaced: false,
        only_version: false,
    },
    // KEDA serves one version of its kinds
    Resource {
        names: &["scaledobject.keda.sh", "scaledobjects.keda.sh"],
        group_version: "apis/keda.sh/v1alpha1",
        plural: "scaledobjects",
        namespaced: true,
        only_version: true,
    },
];

fn resource(kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.names.contains(&kind))
}

impl Resource {
    fn served(&self) -> Served {
        match self.only_version {
            true => Served::OnlyHere { plural: self.plural },
            false => Served::MaybeElsewhere,
        }
    }

    /// The collection's path: in `namespace` for a namespaced kind (kubectl ignores `-n` for the others).
    fn path(&self, namespace: &str) -> String {
        match self.namespaced {
            true => format!("/{}/namespaces/{}/{}", self.group_version, escaped(namespace), self.plural),
            false => format!("/{}/{}", self.group_version, self.plural),
        }
    }
}

/// Percent-encodes all but the unreserved characters (for a path segment or a query's word).
pub(crate) fn escaped(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionJson {
    client_version: Option<VersionInfo>,
    server_version: Option<VersionInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    git_version: String,
}

/// Versions from `kubectl version -o json`; `server` is `None` when the cluster did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub client: Version,
    pub(crate) server: Option<Version>,
}

pub fn parse_versions(json: &str) -> Result<Versions, String> {
    let parsed: VersionJson =
        serde_json::from_str(json).map_err(|e| format!("kubectl printed something that is not version JSON ({e})"))?;
    let client = parsed.client_version.ok_or("kubectl's version JSON has no clientVersion")?;
    let client = Version::parse(&client.git_version)
        .ok_or_else(|| format!("kubectl reported an unreadable gitVersion {:?}", client.git_version))?;
    let server = parsed.server_version.and_then(|s| Version::parse(&s.git_version));
    Ok(Versions { client, server })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_git_version_not_minor() {
        let json =
            r#"{"clientVersion":{"major":"1","minor":"32+","gitVersion":"v1.32.5-eks-1"},"kustomizeVersion":"v5"}"#;
        let versions = parse_versions(json).expect("parses");
        assert_eq!(versions.client, Version::new(1, 32, 5));
        assert_eq!(versions.server, None);
    }

    #[test]
    fn reads_the_server_version_when_present() {
        let json = r#"{"clientVersion":{"gitVersion":"v1.27.16"},"serverVersion":{"gitVersion":"v1.33.1"}}"#;
        assert_eq!(parse_versions(json).expect("parses").server, Some(Version::new(1, 33, 1)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_versions("Client Version: v1.33").is_err());
        assert!(parse_versions("{}").is_err());
        assert!(parse_versions(r#"{"clientVersion":{"gitVersion":"banana"}}"#).is_err());
    }

    #[test]
    fn context_is_added_to_every_command() {
        let k = Kubectl::new("kubectl", Some("prod; rm -rf /".into()));
        assert_eq!(k.query(["get", "nodes"]).arguments(), ["get", "nodes", "--context=prod; rm -rf /"]);
    }
}
