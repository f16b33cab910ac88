//! A kubectl (or helm) read as the API requests that answer it: what a command carries so that a runner that
//! keeps a `kubectl proxy` (api_proxy.rs) can send those instead of starting the command.

/// A kubectl read as the API request(s) that answer it, and the kubectl that would proxy them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiRead {
    /// The words of `kubectl … proxy` with the read's program, prefix and context (the socket is added
    /// when it starts).
    pub(crate) proxy: Vec<String>,
    pub(crate) form: Form,
}

/// What kubectl prints for the response(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Form {
    /// The body as it is (`kubectl get --raw`, `kubectl logs`).
    Raw(String),
    /// One object (`kubectl get KIND NAME -o json`); a NotFound for that name is kubectl's NotFound error.
    Object { path: String, name: String, kind: Served },
    /// Lists of one or more kinds (`kubectl get A,B -o json`): one `List` whose items say their kind.
    Lists(Vec<(String, Served)>),
    /// `kubectl version -o json` of a kubectl whose own version (`gitVersion`) is known: the server's
    /// answer to `/version` beside it.
    Version { client: String },
    /// `kubectl api-versions`: the group versions of `/api` and `/apis`, sorted, one per line.
    ApiVersions,
    /// `helm list` of a namespace, from the release Secrets at this path (see tools/helm_storage.rs).
    HelmList(String),
}

/// What a 404 for a kind's path (not for an object) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Served {
    /// The kind is served at one version only (KEDA's): the server does not have this kind, which kubectl
    /// says as `the server doesn't have a resource type "PLURAL"`.
    OnlyHere { plural: &'static str },
    /// Kubectl may find it at another version: it is asked.
    MaybeElsewhere,
}

impl ApiRead {
    pub(crate) fn new(proxy: Vec<String>, form: Form) -> Self {
        ApiRead { proxy, form }
    }
}
