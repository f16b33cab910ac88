//! Label and field selectors as the API server reads them from `labelSelector=` and `fieldSelector=`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Splits on commas that are not inside parentheses (`a in (x,y),b=c`).
fn split_top(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

fn parse(text: &str) -> Vec<Requirement> {
    split_top(text)
        .into_iter()
        .map(|part| {
            let set = |rest: &str| -> Vec<String> {
                rest.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .collect()
            };
            if let Some((key, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(key.trim().into(), set(rest))
            } else if let Some((key, rest)) = part.split_once(" in ") {
                Requirement::In(key.trim().into(), set(rest))
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().into())
            } else {
                Requirement::Exists(part)
            }
        })
        .collect()
}

fn holds(requirement: &Requirement, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
    match requirement {
        Requirement::Equals(k, v) => lookup(k).as_deref().unwrap_or("") == v,
        Requirement::NotEquals(k, v) => lookup(k).as_deref().unwrap_or("") != v,
        Requirement::In(k, vs) => lookup(k).is_some_and(|x| vs.contains(&x)),
        Requirement::NotIn(k, vs) => lookup(k).is_none_or(|x| !vs.contains(&x)),
        Requirement::Exists(k) => lookup(k).is_some(),
        Requirement::NotExists(k) => lookup(k).is_none(),
    }
}

pub fn labels_match(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    parse(selector).iter().all(|r| holds(r, &|k| labels[k].as_str().map(String::from)))
}

pub fn fields_match(selector: &str, object: &Value) -> bool {
    parse(selector).iter().all(|r| {
        holds(r, &|path| {
            let pointer = format!("/{}", path.replace('.', "/"));
            match object.pointer(&pointer) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => Some(String::new()),
                Some(other) => Some(other.to_string()),
            }
        })
    })
}

/// Does a `spec.selector` map (matchLabels or a Service's plain map) select this object?
pub fn selector_map_matches(selector: &Value, object: &Value) -> bool {
    let Some(map) = selector.get("matchLabels").unwrap_or(selector).as_object() else {
        return false;
    };
    !map.is_empty() && map.iter().all(|(k, v)| object["metadata"]["labels"][k] == *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_cover_every_operator() {
        let pod = json!({"metadata": {"labels": {"app": "interlok", "tier": "web"}}});
        assert!(labels_match("app=interlok", &pod));
        assert!(labels_match("app in (x,interlok),tier!=db", &pod));
        assert!(labels_match("!missing,tier", &pod));
        assert!(!labels_match("app notin (interlok)", &pod));
        assert!(labels_match("", &pod));
    }

    #[test]
    fn field_selectors_follow_paths() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "status": {"phase": "Running"}});
        assert!(fields_match("metadata.name=p,status.phase=Running", &pod));
        assert!(!fields_match("metadata.namespace!=d", &pod));
    }
}
