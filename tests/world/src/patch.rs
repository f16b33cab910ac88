//! Patch semantics: JSON merge patch (RFC 7386), strategic merge patch (lists of named items merge by
//! their key), JSON patch (RFC 6902) and server-side apply (modelled as a strategic merge of the applied
//! configuration: enough for objects that one manager owns, as in these tests).

use serde_json::{Map, Value};

/// Merge keys the real strategic-merge-patch uses for the lists our manifests contain.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "env" | "volumes" | "volumeMounts" | "imagePullSecrets" => Some("name"),
        "ports" => Some("containerPort"),
        "conditions" => Some("type"),
        _ => None,
    }
}

pub fn merge_patch(target: &mut Value, patch: &Value) {
    merge(target, patch, false, "");
}

pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    merge(target, patch, true, "");
}

fn merge(target: &mut Value, patch: &Value, strategic: bool, field: &str) {
    match patch {
        Value::Object(patch_map) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let target_map = target.as_object_mut().expect("object");
            for (key, value) in patch_map {
                if strategic && (key.starts_with("$setElementOrder/") || key == "$retainKeys" || key == "$patch") {
                    continue;
                }
                if value.is_null() {
                    target_map.remove(key);
                } else {
                    let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                    merge(slot, value, strategic, key);
                }
            }
        }
        Value::Array(items) if strategic => match (merge_key(field), target.as_array_mut()) {
            (Some(key), Some(existing)) if field_is_ports_or_named(items, key) => {
                for item in items {
                    let id = &item[key];
                    if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                        existing.retain(|e| &e[key] != id);
                        continue;
                    }
                    match existing.iter_mut().find(|e| &e[key] == id) {
                        Some(found) => merge(found, item, true, ""),
                        None => existing.push(item.clone()),
                    }
                }
            }
            _ => *target = strip_directives(patch),
        },
        other => *target = other.clone(),
    }
}

fn field_is_ports_or_named(items: &[Value], key: &str) -> bool {
    items.iter().all(|i| i.get(key).is_some())
}

fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_directives(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies an RFC 6902 JSON patch; returns an error message for an operation that cannot apply.
pub fn json_patch(target: &mut Value, operations: &Value) -> Result<(), String> {
    let ops = operations.as_array().ok_or("a JSON patch is an array of operations")?;
    for op in ops {
        let path = op["path"].as_str().ok_or("operation without path")?;
        match op["op"].as_str().unwrap_or_default() {
            "add" | "replace" => set_pointer(target, path, op["value"].clone())?,
            "remove" => remove_pointer(target, path)?,
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unsupported JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| format!("bad JSON pointer {path:?}"))?;
    Ok((parent.to_string(), last.replace("~1", "/").replace("~0", "~")))
}

fn set_pointer(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(items)) if last == "-" => {
            items.push(value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
            if index > items.len() {
                return Err(format!("index out of range in {path}"));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("no parent for {path}")),
    }
}

fn remove_pointer(target: &mut Value, path: &str) -> Result<(), String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => map.remove(&last).map(|_| ()).ok_or_else(|| format!("nothing at {path}")),
        Some(Value::Array(items)) => {
            let index: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
            if index >= items.len() {
                return Err(format!("index out of range in {path}"));
            }
            items.remove(index);
            Ok(())
        }
        _ => Err(format!("nothing at {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut target = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"$setElementOrder/containers": [{"name": "a"}], "spec": {"containers": [{"name": "a", "image": "z"}]}});
        strategic_merge_patch(&mut target, &patch);
        assert_eq!(target["spec"]["containers"][0]["image"], "z");
        assert_eq!(target["spec"]["containers"][1]["image"], "y");
    }

    #[test]
    fn merge_patch_replaces_lists_and_removes_nulls() {
        let mut target = json!({"a": [1, 2], "b": 1});
        merge_patch(&mut target, &json!({"a": [3], "b": null}));
        assert_eq!(target, json!({"a": [3]}));
    }

    #[test]
    fn json_patch_adds_and_removes() {
        let mut target = json!({"spec": {"replicas": 1, "x": [1]}});
        json_patch(&mut target, &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}, {"op": "add", "path": "/spec/x/-", "value": 2}])).unwrap();
        assert_eq!(target, json!({"spec": {"replicas": 3, "x": [1, 2]}}));
        assert!(json_patch(&mut target, &json!([{"op": "remove", "path": "/nope/x"}])).is_err());
    }
}
