//! CustomResourceDefinitions, served as a real API server serves them: creating one makes its resource
//! appear in discovery (every served version, short names, categories, the status and scale subresources
//! it declares) with CRUD and watches; its structural schema checks types and required fields and prunes
//! (or, with `fieldValidation=Strict`, refuses) unknown fields; deleting it first deletes its objects
//! (finalizers honoured) and only then stops serving it.

use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::apiserver::ApiState;
use crate::resources::Resource;
use crate::store::{finalizers, name_of, now_rfc3339, ApiError};

pub const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";
const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// What a CRD defines, in the shape of a compiled-in `Resource`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Definition {
    group: String,
    plural: String,
    singular: String,
    kind: String,
    namespaced: bool,
    short: Vec<String>,
    categories: Vec<String>,
    subresources: Vec<String>,
    versions: Vec<String>,
}

/// Each distinct definition becomes one `&'static Resource` (leaked once, shared by every world).
fn intern(definition: Definition) -> &'static Resource {
    static INTERNED: Mutex<Vec<(Definition, &'static Resource)>> = Mutex::new(Vec::new());
    let mut interned = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, resource)) = interned.iter().find(|(d, _)| *d == definition) {
        return resource;
    }
    let text = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let texts = |v: &[String]| -> &'static [&'static str] {
        Box::leak(v.iter().map(|s| text(s)).collect::<Vec<_>>().into_boxed_slice())
    };
    let versions: Vec<(&'static str, u32, u32)> = definition.versions.iter().map(|v| (text(v), 0, u32::MAX)).collect();
    let resource: &'static Resource = Box::leak(Box::new(Resource {
        group: text(&definition.group),
        plural: text(&definition.plural),
        singular: text(&definition.singular),
        kind: text(&definition.kind),
        namespaced: definition.namespaced,
        short: texts(&definition.short),
        subresources: texts(&definition.subresources),
        categories: texts(&definition.categories),
        versions: Box::leak(versions.into_boxed_slice()),
    }));
    interned.push((definition, resource));
    resource
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// The resource a CRD defines (None for a malformed one).
fn resource_of(crd: &Value) -> Option<&'static Resource> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let served: Vec<&Value> =
        spec["versions"].as_array()?.iter().filter(|v| v["served"].as_bool().unwrap_or(true)).collect();
    let mut versions: Vec<String> = served.iter().filter_map(|v| v["name"].as_str().map(String::from)).collect();
    versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    let mut subresources = Vec::new();
    for sub in ["status", "scale"] {
        if served.iter().any(|v| !v["subresources"][sub].is_null()) {
            subresources.push(sub.to_string());
        }
    }
    let kind = names["kind"].as_str()?.to_string();
    Some(intern(Definition {
        group: spec["group"].as_str()?.to_string(),
        plural: names["plural"].as_str()?.to_string(),
        singular: names["singular"].as_str().map_or_else(|| kind.to_lowercase(), String::from),
        kind,
        namespaced: spec["scope"] != "Cluster",
        short: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        subresources,
        versions,
    }))
}

/// Kubernetes' version order: GA over beta over alpha, higher numbers first (v2 > v1 > v1beta2 > v1alpha1).
fn version_priority(version: &str) -> (u32, u32, u32) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = match tail {
        "" => (3, 0),
        t if t.starts_with("beta") => (2, t[4..].parse().unwrap_or(0)),
        t if t.starts_with("alpha") => (1, t[5..].parse().unwrap_or(0)),
        _ => (0, 0),
    };
    (stage, major, minor)
}

/// The resources the CRDs in the store define (terminating ones are still served).
pub fn resources(state: &ApiState) -> Vec<&'static Resource> {
    state.store.list(CRDS, None).iter().filter_map(resource_of).collect()
}

pub fn find(state: &ApiState, group: &str, plural: &str) -> Option<&'static Resource> {
    state.store.get(CRDS, "", &format!("{plural}.{group}")).as_ref().and_then(resource_of)
}

fn invalid(kind: &str, group: &str, name: &str, causes: &[(String, String, &str)]) -> ApiError {
    let listed: Vec<String> = causes.iter().map(|(field, message, _)| format!("{field}: {message}")).collect();
    let joined = if listed.len() == 1 { listed[0].clone() } else { format!("[{}]", listed.join(", ")) };
    let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    let causes: Vec<Value> = causes
        .iter()
        .map(|(field, message, reason)| json!({"reason": reason, "message": message, "field": field}))
        .collect();
    ApiError::new(422, "Invalid", format!("{qualified} \"{name}\" is invalid: {joined}"))
        .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
}

/// A new CRD as the API server stores it: checked names, the cleanup finalizer, and its status.
pub fn on_create(crd: &mut Value) -> Result<(), ApiError> {
    let name = name_of(crd);
    let spec = &crd["spec"];
    let expected =
        format!("{}.{}", spec["names"]["plural"].as_str().unwrap_or(""), spec["group"].as_str().unwrap_or(""));
    if name != expected {
        let message = format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group");
        return Err(invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            &[("metadata.name".into(), message, "FieldValueInvalid")],
        ));
    }
    if resource_of(crd).is_none() {
        let message = "Required value: group, names.kind, names.plural and at least one version".to_string();
        return Err(invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            &[("spec".into(), message, "FieldValueRequired")],
        ));
    }
    let mut kept = finalizers(crd);
    if !kept.iter().any(|f| f == CLEANUP_FINALIZER) {
        kept.push(CLEANUP_FINALIZER.into());
    }
    crd["metadata"]["finalizers"] = json!(kept);
    refresh_status(crd);
    Ok(())
}

/// Names accepted, established, the storage version recorded (the status a real server settles on).
pub fn refresh_status(crd: &mut Value) {
    let mut names = crd["spec"]["names"].clone();
    if names["singular"].is_null() {
        names["singular"] = json!(names["kind"].as_str().unwrap_or("").to_lowercase());
    }
    if names["listKind"].is_null() {
        names["listKind"] = json!(format!("{}List", names["kind"].as_str().unwrap_or("")));
    }
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|vs| vs.iter().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect())
        .unwrap_or_default();
    let mut stored = crd["status"]["storedVersions"].as_array().cloned().unwrap_or_default();
    for version in storage {
        if !stored.contains(&version) {
            stored.push(version);
        }
    }
    let previous = crd["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let since = |kind: &str| {
        previous
            .iter()
            .find(|c| c["type"] == kind)
            .map_or_else(|| json!(now_rfc3339()), |c| c["lastTransitionTime"].clone())
    };
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
               "lastTransitionTime": since("NamesAccepted")}),
        json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
               "message": "the initial names have been accepted", "lastTransitionTime": since("Established")}),
    ];
    if let Some(terminating) = previous.iter().find(|c| c["type"] == "Terminating") {
        conditions.push(terminating.clone());
    }
    crd["status"] = json!({"conditions": conditions, "acceptedNames": names, "storedVersions": stored});
}

/// Whether creating objects of this resource is refused because its CRD is being deleted.
pub fn terminating(state: &ApiState, resource: &Resource) -> bool {
    state
        .store
        .get(CRDS, "", &format!("{}.{}", resource.plural, resource.group))
        .is_some_and(|crd| !crd["metadata"]["deletionTimestamp"].is_null())
}

/// The CRD controller's cleanup: a CRD being deleted deletes its objects, then lets its finalizer go.
pub fn finish_deletions(state: &ApiState) {
    for crd in state.store.list(CRDS, None) {
        if crd["metadata"]["deletionTimestamp"].is_null() || !finalizers(&crd).iter().any(|f| f == CLEANUP_FINALIZER) {
            continue;
        }
        let Some(resource) = resource_of(&crd) else { continue };
        let objects = state.store.list(&resource.key(), None);
        let mut next = crd.clone();
        if objects.is_empty() {
            let kept: Vec<String> = finalizers(&crd).into_iter().filter(|f| f != CLEANUP_FINALIZER).collect();
            next["metadata"]["finalizers"] = json!(kept);
            let _ = state.store.update(CRDS, next, None);
            continue;
        }
        for object in objects.iter().filter(|o| o["metadata"]["deletionTimestamp"].is_null()) {
            let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
            let _ = state.store.request_delete(&resource.key(), ns, &name_of(object));
        }
        let terminating = json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
                                 "message": "CustomResource deletion is in progress", "lastTransitionTime": now_rfc3339()});
        let conditions = next["status"]["conditions"].as_array_mut();
        if let Some(conditions) = conditions.filter(|cs| !cs.iter().any(|c| c["type"] == "Terminating")) {
            conditions.push(terminating);
            let _ = state.store.update(CRDS, next, None);
        }
    }
}

/// The schema of one version of a custom resource, if its CRD declares one.
fn schema_for(state: &ApiState, resource: &Resource, version: &str) -> Option<Value> {
    let crd = state.store.get(CRDS, "", &format!("{}.{}", resource.plural, resource.group))?;
    let versions = crd["spec"]["versions"].as_array()?;
    let found = versions.iter().find(|v| v["name"] == version)?;
    Some(found["schema"]["openAPIV3Schema"].clone()).filter(|s| !s.is_null())
}

/// Checks a custom object against its CRD's structural schema as the API server does: wrong types,
/// missing required fields and values out of range are Invalid (422); unknown fields are pruned, or a
/// BadRequest when the client asked for strict field validation.
pub fn validate(
    state: &ApiState,
    resource: &Resource,
    version: &str,
    object: &mut Value,
    strict: bool,
) -> Result<(), ApiError> {
    let Some(schema) = schema_for(state, resource, version) else { return Ok(()) };
    let mut check = Check { causes: Vec::new(), unknown: Vec::new() };
    check.walk(&schema, object, "");
    let name = name_of(object);
    if !check.causes.is_empty() {
        return Err(invalid(resource.kind, resource.group, &name, &check.causes));
    }
    if strict && !check.unknown.is_empty() {
        let fields: Vec<String> = check.unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", "),
                kind = resource.kind
            ),
        ));
    }
    Ok(())
}

struct Check {
    /// (field path, message, cause reason)
    causes: Vec<(String, String, &'static str)>,
    unknown: Vec<String>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Check {
    fn walk(&mut self, schema: &Value, value: &mut Value, path: &str) {
        let field = if path.is_empty() { "<root>" } else { path };
        let actual = type_name(value);
        if let Some(expected) = schema["type"].as_str() {
            let fits = actual == expected || (expected == "number" && actual == "integer");
            let int_or_string = schema["x-kubernetes-int-or-string"] == true && matches!(actual, "integer" | "string");
            let nullable = actual == "null" && schema["nullable"] == true;
            if !(fits || int_or_string || nullable) {
                let message =
                    format!("Invalid value: \"{actual}\": {field} in body must be of type {expected}: \"{actual}\"");
                self.causes.push((field.to_string(), message, "FieldValueTypeInvalid"));
                return;
            }
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                let quoted: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
                let message = format!("Unsupported value: {value}: supported values: {}", quoted.join(", "));
                self.causes.push((field.to_string(), message, "FieldValueNotSupported"));
            }
        }
        if let (Some(minimum), Some(n)) = (schema["minimum"].as_f64(), value.as_f64()) {
            if n < minimum {
                let message =
                    format!("Invalid value: {value}: {field} in body should be greater than or equal to {minimum}");
                self.causes.push((field.to_string(), message, "FieldValueInvalid"));
            }
        }
        if let (Some(min), Some(text)) = (schema["minLength"].as_u64(), value.as_str()) {
            if (text.chars().count() as u64) < min {
                let message = format!("Invalid value: \"{text}\": {field} in body should be at least {min} chars long");
                self.causes.push((field.to_string(), message, "FieldValueInvalid"));
            }
        }
        match value {
            Value::Object(map) => self.walk_object(schema, map, path),
            Value::Array(items) => {
                if let Some(min) = schema["minItems"].as_u64() {
                    if (items.len() as u64) < min {
                        let message =
                            format!("Invalid value: {}: {field} in body should have at least {min} items", items.len());
                        self.causes.push((field.to_string(), message, "FieldValueInvalid"));
                    }
                }
                if schema["items"].is_object() {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.walk(&schema["items"], item, &format!("{path}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_object(&mut self, schema: &Value, map: &mut Map<String, Value>, path: &str) {
        let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
        for required in strings(&schema["required"]) {
            if map.get(&required).is_none_or(Value::is_null) {
                self.causes.push((join(&required), "Required value".into(), "FieldValueRequired"));
            }
        }
        let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
        let properties = schema["properties"].as_object();
        let additional = &schema["additionalProperties"];
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            let child = map.get_mut(&key).expect("key listed");
            if let Some(sub) = properties.and_then(|p| p.get(&key)) {
                self.walk(sub, child, &join(&key));
            } else if additional.is_object() {
                self.walk(additional, child, &join(&key));
            } else if !preserve && additional != &Value::Bool(true) {
                self.unknown.push(join(&key));
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(scope: &str) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.com"},
               "spec": {"group": "example.com", "scope": scope,
                        "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
                        "versions": [
                            {"name": "v1alpha1", "served": true, "storage": false},
                            {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                             "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                 "spec": {"type": "object", "required": ["size"], "properties": {
                                     "size": {"type": "integer", "minimum": 1},
                                     "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                                 "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}},
                            {"name": "v0", "served": false, "storage": false}]}})
    }

    #[test]
    fn a_crd_defines_a_resource_with_its_names_versions_and_subresources() {
        let resource = resource_of(&crd("Namespaced")).expect("resource");
        assert_eq!(
            (resource.group, resource.plural, resource.singular, resource.kind),
            ("example.com", "widgets", "widget", "Widget")
        );
        assert!(resource.namespaced);
        assert_eq!(resource.short, &["wd"]);
        assert_eq!(resource.subresources, &["status"]);
        assert_eq!(resource.served_versions(33), vec!["v1", "v1alpha1"], "preferred first, unserved left out");
        assert!(std::ptr::eq(resource, resource_of(&crd("Namespaced")).unwrap()), "interned once");
        assert!(!resource_of(&crd("Cluster")).unwrap().namespaced);
    }

    #[test]
    fn creating_a_crd_checks_its_name_and_establishes_it() {
        let mut good = crd("Namespaced");
        on_create(&mut good).expect("valid");
        assert_eq!(good["metadata"]["finalizers"], json!([CLEANUP_FINALIZER]));
        assert_eq!(good["status"]["conditions"][1]["type"], "Established");
        assert_eq!(good["status"]["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(good["status"]["storedVersions"], json!(["v1"]));
        let mut bad = crd("Namespaced");
        bad["metadata"]["name"] = json!("widget.example.com");
        let error = on_create(&mut bad).unwrap_err();
        assert_eq!(error.code, 422);
        assert!(error.message.contains("must be spec.names.plural+\".\"+spec.group"), "{}", error.message);
    }

    #[test]
    fn the_schema_checks_types_required_fields_and_ranges_and_prunes_unknown_fields() {
        let schema = crd("Namespaced")["spec"]["versions"][1]["schema"]["openAPIV3Schema"].clone();
        let mut check = Check { causes: Vec::new(), unknown: Vec::new() };
        let mut object = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                                "spec": {"size": 0, "labels": {"a": 1}, "colour": "red"}, "status": {"anything": 1}});
        check.walk(&schema, &mut object, "");
        let fields: Vec<&str> = check.causes.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(fields, vec!["spec.labels.a", "spec.size"]);
        assert_eq!(
            check.causes[0].1,
            "Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\""
        );
        assert_eq!(check.unknown, vec!["spec.colour"]);
        assert!(object["spec"].get("colour").is_none(), "pruned");
        assert_eq!(object["status"]["anything"], 1, "preserved");
        let mut missing = Check { causes: Vec::new(), unknown: Vec::new() };
        missing.walk(&schema, &mut json!({"spec": {}}), "");
        assert_eq!(missing.causes[0].0, "spec.size");
        assert_eq!(missing.causes[0].1, "Required value");
    }

    #[test]
    fn versions_sort_as_kubernetes_sorts_them() {
        let mut versions = vec!["v1alpha1", "v1beta1", "v2", "v1", "v1beta2"];
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(versions, vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1"]);
    }
}
