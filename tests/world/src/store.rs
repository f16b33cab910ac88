//! In-memory objects with resource versions and an event log that watches replay from. One lock, one
//! condition variable: every change wakes watchers and controllers, so nothing polls on a timer.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `Status.details` (kind, name, causes), which kubectl prints for Invalid errors.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// As the real API server says it, for a store key (`apps/deployments`, `/pods`): the group-qualified
    /// resource in the message, and the name, group and resource in `details` (what clients match on).
    pub fn not_found(resource: &str, name: &str) -> Self {
        let (group, plural) = resource.rsplit_once('/').unwrap_or(("", resource));
        let qualified = if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") };
        let mut details = json!({"name": name, "kind": plural});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        ApiError::new(404, "NotFound", format!("{qualified} \"{name}\" not found")).with_details(details)
    }

    pub fn status(&self) -> Value {
        let mut status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "code": self.code});
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub at: Instant,
    pub rv: u64,
    pub kind: EventKind,
    pub resource: String,
    pub object: Value,
}

type Key = (String, String, String);

#[derive(Default)]
pub struct Inner {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    events: Vec<Event>,
    uid: u64,
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
    changed: Condvar,
}

pub fn namespace_of(object: &Value) -> String {
    object["metadata"]["namespace"].as_str().unwrap_or_default().to_string()
}

pub fn name_of(object: &Value) -> String {
    object["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock().objects.get(&(resource.into(), namespace.into(), name.into())).cloned()
    }

    /// Objects of a resource, in one namespace or (None) all of them.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((r, ns, _), _)| r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn create(&self, resource: &str, mut object: Value) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (resource.to_string(), namespace_of(&object), name_of(&object));
        if key.2.is_empty() {
            return Err(ApiError::new(422, "Invalid", "metadata.name: Required value: name is required"));
        }
        if inner.objects.contains_key(&key) {
            let plural = resource.rsplit('/').next().unwrap_or(resource);
            return Err(ApiError::new(409, "AlreadyExists", format!("{plural} \"{}\" already exists", key.2)));
        }
        inner.rv += 1;
        inner.uid += 1;
        let (rv, uid) = (inner.rv, inner.uid);
        let meta = object["metadata"].as_object_mut().ok_or_else(|| ApiError::new(400, "BadRequest", "no metadata"))?;
        meta.insert("uid".into(), json!(format!("00000000-0000-4000-8000-{uid:012}")));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        inner.objects.insert(key, object.clone());
        record(&mut inner, EventKind::Added, resource, &object);
        drop(inner);
        self.changed.notify_all();
        Ok(object)
    }

    /// Replaces an existing object. `expected_rv` guards against lost updates (409 when stale).
    pub fn update(&self, resource: &str, mut object: Value, expected_rv: Option<&str>) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (resource.to_string(), namespace_of(&object), name_of(&object));
        let Some(current) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(resource, &key.2));
        };
        let current_rv = current["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
        if let Some(expected) = expected_rv.filter(|e| !e.is_empty()) {
            if expected != current_rv {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again", resource.rsplit('/').next().unwrap_or(resource), key.2),
                ));
            }
        }
        if object == current {
            return Ok(current);
        }
        inner.rv += 1;
        let rv = inner.rv;
        for field in ["uid", "creationTimestamp", "deletionTimestamp"] {
            object["metadata"][field] = current["metadata"][field].clone();
        }
        if object["metadata"]["deletionTimestamp"].is_null() {
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove("deletionTimestamp");
            }
        } else if finalizers(&object).is_empty() {
            // the last finalizer is gone: a deletion that was waiting for it completes
            inner.objects.remove(&key);
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            record(&mut inner, EventKind::Deleted, resource, &object);
            drop(inner);
            self.changed.notify_all();
            return Ok(object);
        }
        // generation moves only when the spec (or anything but status and metadata) changes
        let mut generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
        if without_status_and_meta(&object) != without_status_and_meta(&current) {
            generation += 1;
        }
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key, object.clone());
        record(&mut inner, EventKind::Modified, resource, &object);
        drop(inner);
        self.changed.notify_all();
        Ok(object)
    }

    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (resource.to_string(), namespace.to_string(), name.to_string());
        let Some(object) = inner.objects.remove(&key) else {
            return Err(ApiError::not_found(resource, name));
        };
        inner.rv += 1;
        record(&mut inner, EventKind::Deleted, resource, &object);
        drop(inner);
        self.changed.notify_all();
        Ok(object)
    }

    /// Deletes as the API server does for a client: an object with finalizers only gets its
    /// `deletionTimestamp` and goes when the last finalizer is removed (see `update`).
    pub fn request_delete(&self, resource: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let Some(mut object) = self.get(resource, namespace, name) else {
            return Err(ApiError::not_found(resource, name));
        };
        if finalizers(&object).is_empty() {
            return self.delete(resource, namespace, name);
        }
        if object["metadata"]["deletionTimestamp"].is_null() {
            object["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            let mut inner = self.lock();
            let key = (resource.to_string(), namespace.to_string(), name.to_string());
            if inner.objects.contains_key(&key) {
                inner.rv += 1;
                object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
                inner.objects.insert(key, object.clone());
                record(&mut inner, EventKind::Modified, resource, &object);
            }
            drop(inner);
            self.changed.notify_all();
        }
        Ok(object)
    }

    /// For the garbage collector: every object's UID, and the objects (with their resource) that name
    /// owners, leaving out the resources in `skip`.
    pub fn owner_scan(&self, skip: &[&str]) -> (std::collections::HashSet<String>, Vec<(String, Value)>) {
        let inner = self.lock();
        let mut uids = std::collections::HashSet::new();
        let mut dependents = Vec::new();
        for ((resource, _, _), object) in &inner.objects {
            if let Some(uid) = object["metadata"]["uid"].as_str() {
                uids.insert(uid.to_string());
            }
            let owned = object["metadata"]["ownerReferences"].as_array().is_some_and(|refs| !refs.is_empty());
            if owned && !skip.contains(&resource.as_str()) {
                dependents.push((resource.clone(), object.clone()));
            }
        }
        (uids, dependents)
    }

    /// Events of `resource` after resource version `since`.
    pub fn events_since(&self, resource: &str, since: u64) -> Vec<Event> {
        let inner = self.lock();
        let start = inner.events.partition_point(|e| e.rv <= since);
        inner.events[start..].iter().filter(|e| e.resource == resource).cloned().collect()
    }

    /// Blocks until something changes after `seen` or the deadline passes; returns the current version.
    pub fn wait_for_change(&self, seen: u64, deadline: Instant) -> u64 {
        let mut inner = self.lock();
        while inner.rv <= seen {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            inner = self
                .changed
                .wait_timeout(inner, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        inner.rv
    }

    /// Wakes every waiter without a change (used on shutdown and by timers).
    pub fn nudge(&self) {
        self.changed.notify_all();
    }

    pub fn wait_timeout(&self, seen: u64, timeout: Duration) -> u64 {
        self.wait_for_change(seen, Instant::now() + timeout)
    }

    /// Every change of a resource so far (for measurements).
    pub fn history(&self, resource: &str) -> Vec<Event> {
        self.lock().events.iter().filter(|e| e.resource == resource).cloned().collect()
    }

    /// Puts objects back as another store held them (uid, generation and status kept; a fresh resource
    /// version each), in one change, so watchers and controllers see them as they would a restore from etcd.
    pub fn restore(&self, objects: &[(String, Value)]) {
        let mut inner = self.lock();
        for (resource, object) in objects {
            let key = (resource.clone(), namespace_of(object), name_of(object));
            let uid = object["metadata"]["uid"].as_str().and_then(|u| u.rsplit('-').next()?.parse::<u64>().ok());
            inner.uid = inner.uid.max(uid.unwrap_or(0));
            inner.rv += 1;
            let mut object = object.clone();
            object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            let kind = if inner.objects.contains_key(&key) { EventKind::Modified } else { EventKind::Added };
            inner.objects.insert(key, object.clone());
            record(&mut inner, kind, resource, &object);
        }
        drop(inner);
        self.changed.notify_all();
    }

    /// Every object, for assertions: (resource, namespace, name, object).
    pub fn dump(&self) -> Vec<(String, String, String, Value)> {
        self.lock().objects.iter().map(|((r, ns, n), v)| (r.clone(), ns.clone(), n.clone(), v.clone())).collect()
    }
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|f| f.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn record(inner: &mut Inner, kind: EventKind, resource: &str, object: &Value) {
    let rv = inner.rv;
    inner.events.push(Event { at: Instant::now(), rv, kind, resource: resource.to_string(), object: object.clone() });
}

fn without_status_and_meta(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("status");
        map.remove("metadata");
    }
    copy
}

/// Now as RFC 3339 UTC, second precision (what the API server writes in timestamps).
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

pub fn rfc3339(epoch_seconds: u64) -> String {
    let days = (epoch_seconds / 86_400) as i64;
    let secs = epoch_seconds % 86_400;
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn generation_moves_only_on_spec_changes() {
        let store = Store::default();
        let created = store
            .create("apps/deployments", json!({"metadata": {"name": "a", "namespace": "d"}, "spec": {"replicas": 1}}))
            .unwrap();
        let mut status = created.clone();
        status["status"] = json!({"readyReplicas": 1});
        let updated = store.update("apps/deployments", status, None).unwrap();
        assert_eq!(updated["metadata"]["generation"], 1);
        let mut spec = updated.clone();
        spec["spec"]["replicas"] = json!(2);
        assert_eq!(store.update("apps/deployments", spec, None).unwrap()["metadata"]["generation"], 2);
        let stale = store.update("apps/deployments", updated, Some("1"));
        assert_eq!(stale.unwrap_err().code, 409);
    }
}
