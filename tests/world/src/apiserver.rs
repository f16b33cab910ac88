//! A fake Kubernetes API server, faithful to what real kubectl and helm ask of one (see
//! FAKE-APISERVER-FACTS.md): discovery, minimal OpenAPI, CRUD with selectors, every patch type, watches,
//! subresources, aggregated APIs (delegated to the world) and port-forward (see `portforward`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::admission::{self, Verdict};
use crate::crd;
use crate::http::{Reply, Request, Response};
use crate::patch;
use crate::resources::{self, Resource};
use crate::selectors;
use crate::store::{name_of, namespace_of, ApiError, Store};

/// What the world adds to the API server: aggregated APIs, APIService health, pod "runtimes".
pub trait Extensions: Send + Sync {
    /// Whether an APIService is Available; `counted` marks a client's look at it (for "fail the first N").
    fn apiservice_available(&self, state: &ApiState, apiservice: &Value, counted: bool) -> Result<(), String>;
    /// Answers a request under an aggregated API group (e.g. custom.metrics.k8s.io).
    fn aggregated(&self, state: &ApiState, request: &Request) -> Response;
    /// Where a pod's container port really listens (for port-forward).
    fn port_target(&self, state: &ApiState, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr>;
    /// What a pod's container printed, this run or the previous one (Err: why there is none).
    fn pod_log(&self, _namespace: &str, _pod: &str, _container: &str, _previous: bool) -> Result<String, String> {
        Ok(String::new())
    }
    /// What the webhook server in this pod answers to an AdmissionReview request sent to `path`.
    fn webhook(&self, _state: &ApiState, _pod: &Value, _path: &str, _request: &Value) -> Verdict {
        Verdict::Unreachable
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRecord {
    #[serde(skip)]
    pub at: Option<std::time::Instant>,
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    /// Who asked: kubectl's own requests say `kubectl/v1.33…`; the wizard's reads through `kubectl proxy`
    /// keep the wizard's name.
    pub user_agent: String,
}

impl RequestRecord {
    /// A read the wizard sent through `kubectl proxy`.
    pub fn proxied_read(&self) -> bool {
        self.method == "GET" && self.user_agent.starts_with("interlok-k8s")
    }
}

/// An injected failure for requests matching a method and a path fragment.
#[derive(Debug, Clone)]
pub struct ApiFault {
    pub method: String,
    pub path_contains: String,
    pub effect: ApiEffect,
    pub remaining: Option<u32>,
}

/// What a faulted API request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiEffect {
    Status(u16),
    Garbage,
    /// Never answers (until the client gives up).
    Hang,
    /// Answers normally after this many milliseconds.
    Delay(u64),
}

pub struct ApiState {
    pub store: Store,
    pub git_version: RwLock<String>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub faults: Mutex<Vec<ApiFault>>,
    pub ext: RwLock<Option<Arc<dyn Extensions>>>,
    pub stopping: AtomicBool,
}

pub const AGGREGATED_GROUPS: [(&str, &str); 2] =
    [("custom.metrics.k8s.io", "v1beta1"), ("external.metrics.k8s.io", "v1beta1")];

impl ApiState {
    pub fn new(git_version: &str) -> Arc<ApiState> {
        let state = Arc::new(ApiState {
            store: Store::default(),
            git_version: RwLock::new(git_version.to_string()),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            ext: RwLock::new(None),
            stopping: AtomicBool::new(false),
        });
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "minikube", "labels": {"kubernetes.io/hostname": "minikube", "node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                       "nodeInfo": {"kubeletVersion": git_version, "containerRuntimeVersion": "docker://28.0.0"}}});
        let _ = state.store.create("/nodes", node);
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = state.store.create("/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "status": {"phase": "Active"}}));
        }
        state
    }

    pub fn minor(&self) -> u32 {
        let version = self.git_version.read().expect("version").clone();
        version.trim_start_matches('v').split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(33)
    }

    pub(crate) fn extensions(&self) -> Option<Arc<dyn Extensions>> {
        self.ext.read().expect("ext").clone()
    }

    /// Whether the APIService for an aggregated group/version is Available right now.
    pub fn aggregated_available(&self, group: &str, version: &str, counted: bool) -> bool {
        let name = format!("{version}.{group}");
        let Some(apiservice) = self.store.get("apiregistration.k8s.io/apiservices", "", &name) else {
            return false;
        };
        self.extensions().is_some_and(|ext| ext.apiservice_available(self, &apiservice, counted).is_ok())
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.lock().expect("log").clone()
    }
}

pub fn handle(state: &Arc<ApiState>, request: Request) -> Reply {
    state.log.lock().expect("log").push(RequestRecord {
        at: Some(std::time::Instant::now()),
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        content_type: request.header("content-type").unwrap_or_default().to_string(),
        user_agent: request.header("user-agent").unwrap_or_default().to_string(),
    });
    match injected_fault(state, &request) {
        Some(ApiEffect::Status(status)) => {
            let error =
                ApiError::new(status, "InternalError", format!("injected fault: {} {}", request.method, request.path));
            return Reply::Full(Response::json(status, &error.status()));
        }
        Some(ApiEffect::Garbage) => {
            return Reply::Full(Response::bytes(200, "application/json", b"{\"kind\": garbage".to_vec()))
        }
        Some(ApiEffect::Hang) => {
            let mut seen = 0;
            while !state.stopping.load(Ordering::SeqCst) {
                seen = state.store.wait_timeout(seen, std::time::Duration::from_secs(1));
            }
            return Reply::Full(Response::bytes(503, "text/plain", Vec::new()));
        }
        Some(ApiEffect::Delay(millis)) => std::thread::sleep(std::time::Duration::from_millis(millis)),
        None => {}
    }
    let path = request.path.trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => full(200, version_info(state)),
        ["healthz"] | ["readyz"] | ["livez"] => Reply::Full(Response::bytes(200, "text/plain", b"ok".to_vec())),
        ["api"] => full(
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        ["apis"] => full(200, group_list(state)),
        ["api", "v1"] => full(200, resource_list(state, "", "v1")),
        ["openapi", "v2"] => openapi_v2(&request),
        ["openapi", "v3"] => full(200, openapi_v3_index(state)),
        ["openapi", "v3", "api", "v1"] => full(200, openapi_v3_doc(state, "", "v1")),
        ["openapi", "v3", "apis", group, version] => full(200, openapi_v3_doc(state, group, version)),
        ["apis", group, version, ..] if AGGREGATED_GROUPS.iter().any(|(g, v)| g == group && v == version) => {
            aggregated(state, group, version, &request)
        }
        ["apis", group, version] => match served_groups(state).iter().find(|(g, _)| g == group) {
            Some((_, versions)) if versions.contains(version) => full(200, resource_list(state, group, version)),
            _ => error(ApiError::new(404, "NotFound", "the server could not find the requested resource")),
        },
        ["api", "v1", rest @ ..] => route(state, "", "v1", rest, request),
        ["apis", group, version, rest @ ..] => route(state, group, version, rest, request),
        _ => error(ApiError::new(404, "NotFound", "the server could not find the requested resource")),
    }
}

fn injected_fault(state: &ApiState, request: &Request) -> Option<ApiEffect> {
    let mut faults = state.faults.lock().expect("faults");
    let fault = faults.iter_mut().find(|f| {
        (f.method == "*" || f.method.eq_ignore_ascii_case(&request.method))
            && request.path.contains(&f.path_contains)
            && f.remaining != Some(0)
    })?;
    if let Some(n) = fault.remaining.as_mut() {
        *n -= 1;
    }
    Some(fault.effect)
}

fn full(status: u16, value: Value) -> Reply {
    Reply::Full(Response::json(status, &value))
}

fn error(e: ApiError) -> Reply {
    full(e.code, e.status())
}

fn version_info(state: &ApiState) -> Value {
    let git = state.git_version.read().expect("version").clone();
    json!({"major": "1", "minor": state.minor().to_string(), "gitVersion": git, "gitCommit": "0000000000000000000000000000000000000000",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"})
}

fn group_list(state: &ApiState) -> Value {
    let mut groups: Vec<Value> =
        served_groups(state).into_iter().map(|(name, versions)| group_entry(name, &versions)).collect();
    for (group, version) in AGGREGATED_GROUPS {
        if state.aggregated_available(group, version, false) {
            groups.push(group_entry(group, &[version]));
        }
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn group_entry(name: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
}

/// Every resource served: the compiled-in ones and those the CustomResourceDefinitions define.
fn served(state: &ApiState) -> Vec<&'static Resource> {
    resources::RESOURCES.iter().chain(crd::resources(state)).collect()
}

fn served_groups(state: &ApiState) -> Vec<(&'static str, Vec<&'static str>)> {
    resources::groups_of(served(state), state.minor())
}

/// A resource by group and plural, compiled-in or from a CustomResourceDefinition.
pub fn lookup(state: &ApiState, group: &str, plural: &str) -> Option<&'static Resource> {
    resources::find(group, plural).or_else(|| crd::find(state, group, plural))
}

fn resources_in(state: &ApiState, group: &str, version: &str) -> Vec<&'static Resource> {
    let minor = state.minor();
    served(state).into_iter().filter(|r| r.group == group && r.served_versions(minor).contains(&version)).collect()
}

fn resource_list(state: &ApiState, group: &str, version: &str) -> Value {
    let mut list = Vec::new();
    for r in resources_in(state, group, version) {
        let verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
        list.push(json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                         "verbs": verbs, "shortNames": r.short, "categories": r.categories}));
        for sub in r.subresources {
            let kind = if *sub == "scale" { "Scale" } else { r.kind };
            list.push(json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
                             "kind": kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
}

fn openapi_v2(request: &Request) -> Reply {
    if request.header("accept").unwrap_or_default().contains("protobuf") {
        // An empty openapi_v2.Document: kubectl then skips client-side schema checks.
        return Reply::Full(Response::bytes(
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            Vec::new(),
        ));
    }
    full(
        200,
        json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1"}, "paths": {}, "definitions": {}}),
    )
}

fn openapi_v3_index(state: &ApiState) -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert("api/v1".into(), json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=0"}));
    for (group, versions) in served_groups(state) {
        for version in versions {
            let key = format!("apis/{group}/{version}");
            paths.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=0")}));
        }
    }
    json!({"paths": paths})
}

fn openapi_v3_doc(state: &ApiState, group: &str, version: &str) -> Value {
    let prefix = if group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{group}/{version}") };
    let mut paths = serde_json::Map::new();
    for r in resources_in(state, group, version) {
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let operation = json!({
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {"200": {"description": "OK"}}
        });
        paths.insert(path, json!({"patch": operation}));
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1"}, "paths": paths, "components": {"schemas": {}}})
}

fn aggregated(state: &Arc<ApiState>, group: &str, version: &str, request: &Request) -> Reply {
    if !state.aggregated_available(group, version, false) {
        return error(ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request"));
    }
    match state.extensions() {
        Some(ext) => Reply::Full(ext.aggregated(state, request)),
        None => error(ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request")),
    }
}

/// A request for a resource: where it points and what is asked.
struct Target<'a> {
    resource: &'static Resource,
    version: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_target<'a>(state: &ApiState, group: &str, version: &'a str, rest: &[&'a str]) -> Option<Target<'a>> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..]
            if !(group.is_empty() && (*resource == "status" || *resource == "finalize")) =>
        {
            (Some(*ns), [&[*resource][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let resource = lookup(state, group, rest.first()?)?;
    Some(Target { resource, version, namespace, name: rest.get(1).copied(), sub: rest.get(2).copied() })
}

fn route(state: &Arc<ApiState>, group: &str, version: &str, rest: &[&str], request: Request) -> Reply {
    let Some(target) = parse_target(state, group, version, rest) else {
        return error(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    };
    if !target.resource.served_versions(state.minor()).contains(&version) {
        return error(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    }
    let proxied = matches!(target.resource.plural, "services" | "pods") && target.resource.group.is_empty();
    if target.sub == Some("proxy") && proxied {
        let (namespace, name) = (target.namespace.unwrap_or("default"), target.name.unwrap_or(""));
        return crate::apiproxy::serve(state, target.resource.plural, namespace, name, &request);
    }
    if target.sub == Some("portforward") {
        return crate::portforward::upgrade(
            state,
            target.namespace.unwrap_or("default"),
            target.name.unwrap_or(""),
            &request,
        );
    }
    let result = match (request.method.as_str(), target.name, target.sub) {
        ("GET", None, _) if is_watch(&request) => return watch(state, &target, &request),
        ("GET", None, _) => list(state, &target, &request),
        ("GET", Some(name), None) => get(state, &target, name),
        ("GET", Some(name), Some("log")) => return pod_log(state, &target, name, &request),
        ("GET", Some(name), Some("scale")) => get(state, &target, name).map(|(code, d)| (code, scale_of(&d))),
        ("GET", Some(name), Some(_)) => get(state, &target, name),
        ("POST", None, _) => create(state, &target, &request),
        ("PUT", Some(name), sub) => put(state, &target, name, sub, &request),
        ("PATCH", Some(name), sub) => patch_object(state, &target, name, sub, &request),
        ("DELETE", Some(name), None) => delete(state, &target, name),
        _ => Err(ApiError::new(405, "MethodNotAllowed", format!("{} is not supported here", request.method))),
    };
    match result {
        Ok((status, value)) => full(status, value),
        Err(e) => error(e),
    }
}

type ApiResult = Result<(u16, Value), ApiError>;

fn is_watch(request: &Request) -> bool {
    matches!(request.param("watch"), Some("true") | Some("1"))
}

fn key(target: &Target) -> String {
    target.resource.key()
}

fn ns_of(target: &Target) -> String {
    if target.resource.namespaced {
        target.namespace.unwrap_or("default").to_string()
    } else {
        String::new()
    }
}

/// The object as the requested version shows it.
fn present(target: &Target, mut object: Value) -> Value {
    object["apiVersion"] = json!(target.resource.api_version(target.version));
    object["kind"] = json!(target.resource.kind);
    if target.resource.plural == "horizontalpodautoscalers" {
        object = crate::hpa::convert(&object, target.version);
    }
    object
}

fn with_live_status(state: &ApiState, target: &Target, mut object: Value, counted: bool) -> Value {
    if target.resource.plural == "apiservices" {
        if let Some(ext) = state.extensions() {
            let condition = match ext.apiservice_available(state, &object, counted) {
                Ok(()) => {
                    json!({"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed"})
                }
                Err(why) => {
                    json!({"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck", "message": why})
                }
            };
            object["status"] = json!({"conditions": [condition]});
        }
    }
    object
}

fn get(state: &ApiState, target: &Target, name: &str) -> ApiResult {
    let object =
        state.store.get(&key(target), &ns_of(target), name).ok_or_else(|| ApiError::not_found(&key(target), name))?;
    Ok((200, present(target, with_live_status(state, target, object, true))))
}

fn selected(request: &Request, object: &Value) -> bool {
    request.param("labelSelector").is_none_or(|s| selectors::labels_match(s, object))
        && request.param("fieldSelector").is_none_or(|s| selectors::fields_match(s, object))
}

fn list(state: &ApiState, target: &Target, request: &Request) -> ApiResult {
    let namespace = target.resource.namespaced.then_some(target.namespace).flatten();
    let rv = state.store.resource_version();
    // a real server leaves the kind out of a built-in list's items (the list says it); a custom resource's
    // items are stored as they came, with theirs
    let built_in = resources::find(target.resource.group, target.resource.plural).is_some();
    let items: Vec<Value> = state
        .store
        .list(&key(target), namespace)
        .into_iter()
        .filter(|o| selected(request, o))
        .map(|o| present(target, with_live_status(state, target, o, true)))
        .map(|mut o| {
            if let (true, Some(fields)) = (built_in, o.as_object_mut()) {
                fields.remove("kind");
                fields.remove("apiVersion");
            }
            o
        })
        .collect();
    Ok((
        200,
        json!({"kind": format!("{}List", target.resource.kind), "apiVersion": target.resource.api_version(target.version),
                    "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

fn parse_body(request: &Request) -> Result<Value, ApiError> {
    let content_type = request.header("content-type").unwrap_or_default();
    if content_type.contains("protobuf") {
        return crate::protobuf::decode(&request.body).map_err(|e| ApiError::new(415, "UnsupportedMediaType", e));
    }
    if content_type.contains("yaml") {
        return serde_yaml::from_slice(&request.body).map_err(|e| ApiError::new(400, "BadRequest", e.to_string()));
    }
    serde_json::from_slice(&request.body).map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))
}

fn dry_run(request: &Request) -> bool {
    request.param("dryRun").is_some_and(|v| v == "All")
}

fn ensure_namespace(state: &ApiState, target: &Target) -> Result<(), ApiError> {
    let ns = ns_of(target);
    if ns.is_empty() || state.store.get("/namespaces", "", &ns).is_some() {
        return Ok(());
    }
    Err(ApiError::not_found("/namespaces", &ns))
}

fn create(state: &ApiState, target: &Target, request: &Request) -> ApiResult {
    let mut object = parse_body(request)?;
    prepare_new(target, &mut object)?;
    ensure_namespace(state, target)?;
    admit(state, target, request, &mut object, None)?;
    if dry_run(request) {
        return Ok((201, present(target, object)));
    }
    let created = state.store.create(&key(target), object)?;
    Ok((201, present(target, created)))
}

fn prepare_new(target: &Target, object: &mut Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::new(400, "BadRequest", "the body is not an object"));
    }
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if target.resource.namespaced {
        object["metadata"]["namespace"] = json!(ns_of(target));
    } else if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    if target.resource.plural == "horizontalpodautoscalers" {
        *object = crate::hpa::convert(object, "v2");
    }
    if target.resource.plural == "namespaces" && object["status"].is_null() {
        object["status"] = json!({"phase": "Active"});
    }
    if target.resource.plural == "services" && object["spec"]["clusterIP"].is_null() {
        object["spec"]["clusterIP"] = json!("10.96.0.10");
        object["spec"]["type"] = object["spec"]["type"].as_str().map_or(json!("ClusterIP"), |t| json!(t));
    }
    object["apiVersion"] = json!(target
        .resource
        .api_version(if target.resource.plural == "horizontalpodautoscalers" { "v2" } else { target.version }));
    object["kind"] = json!(target.resource.kind);
    Ok(())
}

fn put(state: &ApiState, target: &Target, name: &str, sub: Option<&str>, request: &Request) -> ApiResult {
    let body = parse_body(request)?;
    let current =
        state.store.get(&key(target), &ns_of(target), name).ok_or_else(|| ApiError::not_found(&key(target), name))?;
    let expected = body["metadata"]["resourceVersion"].as_str().map(String::from);
    let next = match sub {
        Some("status") => {
            let mut next = current.clone();
            next["status"] = body["status"].clone();
            next
        }
        Some("scale") => with_scale(current.clone(), &body),
        _ => {
            let mut next = body;
            prepare_new(target, &mut next)?;
            next["metadata"]["namespace"] = current["metadata"]["namespace"].clone();
            if next["status"].is_null() {
                next["status"] = current["status"].clone();
            }
            admit(state, target, request, &mut next, Some(&current))?;
            next
        }
    };
    if dry_run(request) {
        return Ok((200, present(target, next)));
    }
    let updated = state.store.update(&key(target), next, expected.as_deref())?;
    Ok((200, if sub == Some("scale") { scale_of(&updated) } else { present(target, updated) }))
}

fn patch_object(state: &ApiState, target: &Target, name: &str, sub: Option<&str>, request: &Request) -> ApiResult {
    let content_type = request.header("content-type").unwrap_or_default().to_string();
    let body = parse_body(request)?;
    let existing = state.store.get(&key(target), &ns_of(target), name);
    let Some(current) = existing else {
        if content_type.contains("apply-patch") {
            // server-side apply creates what does not exist yet
            let mut object = body;
            prepare_new(target, &mut object)?;
            ensure_namespace(state, target)?;
            admit(state, target, request, &mut object, None)?;
            if dry_run(request) {
                return Ok((201, present(target, object)));
            }
            return Ok((201, present(target, state.store.create(&key(target), object)?)));
        }
        return Err(ApiError::not_found(&key(target), name));
    };
    let mut next = if sub == Some("scale") { scale_of(&current) } else { present(target, current.clone()) };
    if content_type.contains("json-patch") {
        patch::json_patch(&mut next, &body).map_err(|e| ApiError::new(422, "Invalid", e))?;
    } else if content_type.contains("strategic-merge-patch") || content_type.contains("apply-patch") {
        patch::strategic_merge_patch(&mut next, &body);
    } else {
        patch::merge_patch(&mut next, &body);
    }
    let next = match sub {
        Some("scale") => with_scale(current.clone(), &next),
        Some("status") => {
            let mut copy = current.clone();
            copy["status"] = next["status"].clone();
            copy
        }
        _ => {
            let mut next = next;
            if target.resource.plural == "horizontalpodautoscalers" {
                next = crate::hpa::convert(&next, "v2");
            }
            next["metadata"]["name"] = json!(name);
            admit(state, target, request, &mut next, Some(&current))?;
            next
        }
    };
    if dry_run(request) {
        return Ok((200, present(target, next)));
    }
    let updated = state.store.update(&key(target), next, None)?;
    Ok((200, if sub == Some("scale") { scale_of(&updated) } else { present(target, updated) }))
}

fn scale_of(deployment: &Value) -> Value {
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                 "metadata": {"name": deployment["metadata"]["name"], "namespace": deployment["metadata"]["namespace"],
                              "resourceVersion": deployment["metadata"]["resourceVersion"]},
                 "spec": {"replicas": deployment["spec"]["replicas"].as_i64().unwrap_or(1)},
                 "status": {"replicas": deployment["status"]["replicas"].as_i64().unwrap_or(0)}})
}

fn with_scale(mut deployment: Value, scale: &Value) -> Value {
    if let Some(replicas) = scale["spec"]["replicas"].as_i64() {
        deployment["spec"]["replicas"] = json!(replicas);
    }
    deployment
}

fn delete(state: &ApiState, target: &Target, name: &str) -> ApiResult {
    let ns = ns_of(target);
    let deleted = state.store.request_delete(&key(target), &ns, name)?;
    if target.resource.plural == "namespaces" {
        for (resource, namespace, object_name, _) in state.store.dump() {
            if namespace == name {
                let _ = state.store.delete(&resource, &namespace, &object_name);
            }
        }
    }
    Ok((200, present(target, deleted)))
}

/// What the API server does to a new or changed object before storing it: CRD bookkeeping, custom
/// resources' schema and status subresource, then the validating admission webhooks.
fn admit(
    state: &ApiState,
    target: &Target,
    request: &Request,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let resource = target.resource;
    if resource.key() == crd::CRDS {
        match old {
            None => crd::on_create(object)?,
            Some(old) => {
                object["status"] = old["status"].clone();
                crd::refresh_status(object);
            }
        }
    }
    if !resources::is_builtin(resource) {
        if old.is_none() && crd::terminating(state, resource) {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            ));
        }
        if resource.subresources.contains(&"status") {
            // with a status subresource, only /status sets the status
            match old.map(|o| &o["status"]) {
                None | Some(Value::Null) => drop(object.as_object_mut().and_then(|o| o.remove("status"))),
                Some(status) => object["status"] = status.clone(),
            }
        }
        crd::validate(state, resource, target.version, object, request.param("fieldValidation") == Some("Strict"))?;
    }
    let Some(ext) = state.extensions() else { return Ok(()) };
    let review = admission::Review {
        resource,
        version: target.version,
        operation: if old.is_some() { "UPDATE" } else { "CREATE" },
        object,
        old,
        dry_run: dry_run(request),
    };
    admission::validate(state, &review, &|pod, path, review| ext.webhook(state, pod, path, review))
}

/// A GET under an aggregated API on behalf of a controller (the HPA reading external metrics): the same
/// answer a client would get through the API server, without appearing in the request log.
pub fn aggregated_get(state: &ApiState, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version) = match segments.as_slice() {
        ["apis", group, version, ..] => (*group, *version),
        _ => return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource")),
    };
    let unavailable =
        || ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request");
    if !state.aggregated_available(group, version, false) {
        return Err(unavailable());
    }
    let ext = state.extensions().ok_or_else(unavailable)?;
    let request = Request {
        method: "GET".into(),
        path: path.into(),
        query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        headers: BTreeMap::new(),
        body: Vec::new(),
    };
    let response = ext.aggregated(state, &request);
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|e| ApiError::new(500, "InternalError", format!("the server returned an unreadable answer: {e}")))?;
    if (200..300).contains(&response.status) {
        return Ok(body);
    }
    let reason = match body["reason"].as_str().unwrap_or("") {
        "NotFound" => "NotFound",
        "ServiceUnavailable" => "ServiceUnavailable",
        "InternalError" => "InternalError",
        _ => "",
    };
    Err(ApiError::new(response.status, reason, body["message"].as_str().unwrap_or_default()))
}

/// `pods/<name>/log` as the API server and kubelet answer it: the container named (or the only one),
/// `previous`, `tailLines`, `limitBytes`; a container that has not started has no log yet.
fn pod_log(state: &ApiState, target: &Target, name: &str, request: &Request) -> Reply {
    let Some(pod) = state.store.get(&key(target), &ns_of(target), name) else {
        return error(ApiError::not_found("pods", name));
    };
    let bad = |message: String| error(ApiError::new(400, "BadRequest", message));
    let names: Vec<&str> =
        pod["spec"]["containers"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
    let container = match request.param("container") {
        Some(c) if names.contains(&c) => c.to_string(),
        Some(c) => return bad(format!("container {c} is not valid for pod {name}")),
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return bad(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            ))
        }
    };
    let previous = request.param("previous") == Some("true");
    let statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    let waiting = statuses
        .iter()
        .find(|s| s["name"] == container.as_str())
        .and_then(|s| s["state"]["waiting"]["reason"].as_str());
    if let (Some(reason), false) = (waiting, previous) {
        let why = match reason {
            "ErrImagePull" | "ImagePullBackOff" => Some("trying and failing to pull image"),
            "ContainerCreating" | "PodInitializing" | "CreateContainerConfigError" => Some(reason),
            _ => None,
        };
        if let Some(why) = why {
            return bad(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {why}"));
        }
    }
    let text = match state.extensions().map(|ext| ext.pod_log(&ns_of(target), name, &container, previous)) {
        Some(Ok(text)) => text,
        Some(Err(message)) => return bad(message),
        None => String::new(),
    };
    let text = match request.param("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            lines[lines.len().saturating_sub(n)..].concat()
        }
        None => text,
    };
    let mut bytes = text.into_bytes();
    if let Some(limit) = request.param("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        bytes.truncate(limit);
    }
    Reply::Full(Response::bytes(200, "text/plain", bytes))
}

fn watch(state: &Arc<ApiState>, target: &Target, request: &Request) -> Reply {
    let state = state.clone();
    let resource = target.resource;
    let version = target.version.to_string();
    let namespace = resource.namespaced.then(|| target.namespace.map(String::from)).flatten();
    let request = request.clone();
    let timeout = request.param("timeoutSeconds").and_then(|t| t.parse().ok()).unwrap_or(300u64).min(600);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    Reply::Stream(
        "application/json".into(),
        Box::new(move |writer| {
            let target = Target { resource, version: &version, namespace: namespace.as_deref(), name: None, sub: None };
            let from: u64 = request.param("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
            let initial = from == 0 || request.param("sendInitialEvents") == Some("true");
            let mut cursor = state.store.resource_version();
            if initial {
                for object in state.store.list(&key(&target), namespace.as_deref()) {
                    if selected(&request, &object) {
                        let event = json!({"type": "ADDED", "object": present(&target, object)});
                        if writer.send(&line(&event)).is_err() {
                            return;
                        }
                    }
                }
                if request.param("sendInitialEvents") == Some("true") {
                    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": resource.kind, "apiVersion": resource.api_version(&version),
                        "metadata": {"resourceVersion": cursor.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}}});
                    if writer.send(&line(&bookmark)).is_err() {
                        return;
                    }
                }
            } else {
                cursor = from;
            }
            while Instant::now() < deadline && !state.stopping.load(Ordering::SeqCst) {
                let now_rv = state.store.resource_version();
                for event in state.store.events_since(&key(&target), cursor) {
                    if event.rv > now_rv {
                        break;
                    }
                    let in_namespace = namespace.as_deref().is_none_or(|ns| namespace_of(&event.object) == ns);
                    if !in_namespace || !selected(&request, &event.object) {
                        continue;
                    }
                    let object = event.object.clone();
                    let event = json!({"type": event.kind.as_str(), "object": present(&target, object)});
                    if writer.send(&line(&event)).is_err() {
                        return;
                    }
                }
                cursor = now_rv;
                state.store.wait_for_change(now_rv, deadline.min(Instant::now() + Duration::from_secs(1)));
            }
        }),
    )
}

fn line(event: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(event).expect("json");
    bytes.push(b'\n');
    bytes
}

/// For tests: find objects of a kind by name.
pub fn find_object(state: &ApiState, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
    let resource = lookup(state, group, plural)?;
    state.store.get(&resource.key(), if resource.namespaced { namespace } else { "" }, name)
}

pub fn object_name(object: &Value) -> String {
    name_of(object)
}
