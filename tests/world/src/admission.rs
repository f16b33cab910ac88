//! Validating admission webhooks, called as the API server calls them: every webhook of every
//! ValidatingWebhookConfiguration whose rules match the request (group, version, resource, operation)
//! gets an AdmissionReview at its Service; the pod behind the Service answers (the world knows what runs
//! in it), and a denial becomes the API server's 403. A webhook nobody answers follows its
//! `failurePolicy` (Ignore lets the request through, Fail refuses it).

use serde_json::{json, Value};

use crate::apiserver::ApiState;
use crate::resources::Resource;
use crate::selectors;
use crate::store::{name_of, ApiError};

const CONFIGURATIONS: &str = "admissionregistration.k8s.io/validatingwebhookconfigurations";

/// What one webhook server decides about a review: allowed, denied with a message, or nobody answered.
pub enum Verdict {
    Allowed,
    Denied(String),
    Unreachable,
}

pub struct Review<'a> {
    pub resource: &'a Resource,
    pub version: &'a str,
    /// CREATE or UPDATE
    pub operation: &'a str,
    pub object: &'a Value,
    pub old: Option<&'a Value>,
    pub dry_run: bool,
}

impl Review<'_> {
    /// The `request` of an admission.k8s.io/v1 AdmissionReview.
    pub fn request(&self) -> Value {
        json!({"uid": "00000000-0000-4000-8000-000000000000",
               "kind": {"group": self.resource.group, "version": self.version, "kind": self.resource.kind},
               "resource": {"group": self.resource.group, "version": self.version, "resource": self.resource.plural},
               "namespace": self.object["metadata"]["namespace"], "name": name_of(self.object),
               "operation": self.operation, "object": self.object, "oldObject": self.old.cloned().unwrap_or(Value::Null),
               "dryRun": self.dry_run})
    }
}

fn listed(list: &Value, wanted: &str) -> bool {
    list.as_array().is_some_and(|items| items.iter().any(|i| i == "*" || i == wanted))
}

fn rule_matches(rule: &Value, review: &Review) -> bool {
    let resources = rule["resources"].as_array().cloned().unwrap_or_default();
    let resource_ok = resources.iter().any(|r| r == "*" || r == "*/*" || r == review.resource.plural);
    listed(&rule["apiGroups"], review.resource.group)
        && listed(&rule["apiVersions"], review.version)
        && listed(&rule["operations"], review.operation)
        && resource_ok
}

/// Runs the validating webhooks for a create or update; `serve` answers for the pod behind a webhook's
/// Service (path, AdmissionReview request).
pub fn validate(
    state: &ApiState,
    review: &Review,
    serve: &dyn Fn(&Value, &str, &Value) -> Verdict,
) -> Result<(), ApiError> {
    for configuration in state.store.list(CONFIGURATIONS, None) {
        for webhook in configuration["webhooks"].as_array().cloned().unwrap_or_default() {
            let rules = webhook["rules"].as_array().cloned().unwrap_or_default();
            let object_selected = webhook["objectSelector"]["matchLabels"]
                .as_object()
                .is_none_or(|labels| labels.iter().all(|(k, v)| review.object["metadata"]["labels"][k] == *v));
            if !object_selected || !rules.iter().any(|rule| rule_matches(rule, review)) {
                continue;
            }
            let name = webhook["name"].as_str().unwrap_or_default();
            let verdict = match backing_pod(state, &webhook["clientConfig"]) {
                Some(pod) => {
                    serve(&pod, webhook["clientConfig"]["service"]["path"].as_str().unwrap_or("/"), &review.request())
                }
                None => Verdict::Unreachable,
            };
            match verdict {
                Verdict::Allowed => {}
                Verdict::Denied(message) => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!("admission webhook \"{name}\" denied the request: {message}"),
                    ))
                }
                Verdict::Unreachable if webhook["failurePolicy"] == "Ignore" => {}
                Verdict::Unreachable => return Err(unreachable(name, &webhook["clientConfig"])),
            }
        }
    }
    Ok(())
}

/// A Running, Ready pod behind the webhook's Service, if there is one.
fn backing_pod(state: &ApiState, client: &Value) -> Option<Value> {
    let service = &client["service"];
    let ns = service["namespace"].as_str()?;
    let svc = state.store.get("/services", ns, service["name"].as_str()?)?;
    state.store.list("/pods", Some(ns)).into_iter().find(|p| {
        selectors::selector_map_matches(&svc["spec"]["selector"], p)
            && p["status"]["phase"] == "Running"
            && p["status"]["conditions"][0]["status"] == "True"
    })
}

fn unreachable(name: &str, client: &Value) -> ApiError {
    let service = &client["service"];
    let url = match client["url"].as_str() {
        Some(url) => url.to_string(),
        None => format!(
            "https://{}.{}.svc:{}{}",
            service["name"].as_str().unwrap_or_default(),
            service["namespace"].as_str().unwrap_or_default(),
            service["port"].as_u64().unwrap_or(443),
            service["path"].as_str().unwrap_or("")
        ),
    };
    ApiError::new(
        500,
        "InternalError",
        format!("Internal error occurred: failed calling webhook \"{name}\": failed to call webhook: Post \"{url}?timeout=10s\": dial tcp 10.96.0.10:443: connect: connection refused"),
    )
}
