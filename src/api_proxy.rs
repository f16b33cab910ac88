//! Reads of the cluster's API through one `kubectl proxy` per run, instead of one kubectl process per read.
//! A kubectl start costs about 35 ms of CPU (more on Windows, where every start is scanned); a GET through
//! a proxy the run keeps open costs under 2 ms, and a run reads the cluster dozens of times.
//!
//! The proxy is the very kubectl a read would have run, with its context, so it sees what that read would.
//! It listens on a Unix socket in a folder only this user may open: a loopback port would lend the user's
//! credentials to every local user. Any answer that is not plainly what the read asked for (an error, a
//! proxy that does not start or stops answering, a system without Unix sockets) runs the command itself
//! instead (kubectl's, or helm's for `helm list`), so every failure still reads in that tool's own words.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::api_read::{ApiRead, Form, Served};
use crate::runner::{Answer, Background, Cmd, Output, Runner, ThroughApi};

/// The proxies a run has started, one per kubectl and context (normally one) and cluster start, shared by
/// every copy of its runner; each stops with the run.
#[derive(Default)]
pub(crate) struct Proxies {
    started: Mutex<HashMap<(String, usize), Slot>>,
}

/// One proxy's place, filled by the first read that needs it (None: it could not start).
type Slot = Arc<OnceLock<Option<Arc<Proxy>>>>;

impl ThroughApi for Proxies {
    /// What `read`'s command would print, read through its proxy for the cluster as it is after `cluster`
    /// starts of minikube.
    fn read(&self, runner: &Runner, read: &ApiRead, cluster: usize, timeout: Duration) -> Answer {
        let Some(proxy) = self.proxy(runner, &read.proxy, cluster, timeout) else {
            return Answer::Unanswered;
        };
        let deadline = Instant::now() + timeout;
        match answer(&proxy, &read.form, deadline) {
            Some(output) => Answer::Read(output),
            None if Instant::now() >= deadline => Answer::TimedOut,
            None => Answer::Unanswered,
        }
    }

    fn get(
        &self,
        runner: &Runner,
        proxy: &[String],
        path: &str,
        cluster: usize,
        timeout: Duration,
    ) -> Option<(u16, String)> {
        self.proxy(runner, proxy, cluster, timeout)?.get(path, Instant::now() + timeout)
    }
}

impl Proxies {
    /// The proxy of this kubectl and context for the cluster as it is after `cluster` starts of minikube,
    /// started by the first to ask; None when it could not start or was abandoned.
    fn proxy(&self, runner: &Runner, proxy: &[String], cluster: usize, timeout: Duration) -> Option<Arc<Proxy>> {
        let slot = {
            let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
            started.retain(|(_, at), _| *at == cluster); // a proxy of the cluster before stops
            started.entry((proxy.join(" "), cluster)).or_default().clone()
        };
        let proxy = slot.get_or_init(|| Proxy::start(runner, proxy, timeout).map(Arc::new)).clone()?;
        (!proxy.abandoned.load(Ordering::SeqCst)).then_some(proxy)
    }
}

/// What kubectl would print for `form`, from the proxy's answers.
fn answer(proxy: &Proxy, form: &Form, deadline: Instant) -> Option<Output> {
    let answer = match form {
        Form::Raw(path) => proxy.get(path, deadline).and_then(|(status, body)| (status == 200).then_some(body)),
        Form::Object { path, name, kind } => match proxy.get(path, deadline)? {
            (200, body) => Some(body),
            (404, body) => return not_found(&body, name).or_else(|| unserved(kind)),
            _ => None,
        },
        Form::Lists(paths) => {
            let mut lists = Vec::new();
            for (path, kind) in paths {
                match proxy.get(path, deadline)? {
                    (200, body) => lists.push(body),
                    (404, _) => return unserved(kind),
                    _ => return None,
                }
            }
            merged(&lists)
        }
        Form::Version { client } => match proxy.get("/version", deadline)? {
            (200, body) => {
                let server: Value = serde_json::from_str(&body).ok()?;
                let versions = serde_json::json!({"clientVersion": {"gitVersion": client}, "serverVersion": server});
                serde_json::to_string_pretty(&versions).ok()
            }
            _ => None,
        },
        Form::ApiVersions => match (proxy.get("/api", deadline)?, proxy.get("/apis", deadline)?) {
            ((200, core), (200, groups)) => api_versions(&core, &groups),
            _ => None,
        },
        Form::HelmList(path) => match proxy.get(path, deadline)? {
            (200, body) => crate::tools::helm_storage::list(&body),
            _ => None,
        },
    };
    answer.map(|stdout| Output { code: 0, stdout, stderr: String::new() })
}

/// What `kubectl api-versions` prints for the server's `/api` (APIVersions) and `/apis` (APIGroupList).
fn api_versions(core: &str, groups: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Versions {
        versions: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Groups {
        groups: Vec<Group>,
    }
    #[derive(Deserialize)]
    struct Group {
        versions: Vec<GroupVersion>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct GroupVersion {
        group_version: String,
    }
    let core: Versions = serde_json::from_str(core).ok()?;
    let groups: Groups = serde_json::from_str(groups).ok()?;
    let mut all: Vec<String> = core.versions;
    all.extend(groups.groups.into_iter().flat_map(|g| g.versions).map(|v| v.group_version));
    all.sort();
    all.dedup();
    Some(all.iter().map(|v| format!("{v}\n")).collect())
}

/// kubectl's error for a Status that says this very object is not there (a missing kind or API group is a
/// NotFound too, for which kubectl says other things: that is left to kubectl).
fn not_found(body: &str, name: &str) -> Option<Output> {
    let status: Status = serde_json::from_str(body).ok()?;
    let is_it = status.kind == "Status" && status.reason == "NotFound" && status.details.name == name;
    is_it.then(|| Output {
        code: 1,
        stdout: String::new(),
        stderr: format!("Error from server (NotFound): {}\n", status.message),
    })
}

/// The fields of an API server's `Status` that kubectl's error is made of.
#[derive(Deserialize)]
struct Status {
    kind: String,
    #[serde(default)]
    reason: String,
    message: String,
    #[serde(default)]
    details: StatusDetails,
}

#[derive(Default, Deserialize)]
struct StatusDetails {
    #[serde(default)]
    name: String,
}

/// A list as the server sends it: its kind (`DeploymentList`) and version say what its items are.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct List {
    kind: String,
    api_version: String,
    #[serde(default)]
    items: Vec<serde_json::Map<String, Value>>,
}

/// kubectl's error for a kind the server does not serve, when that is what a 404 for its path means.
fn unserved(kind: &Served) -> Option<Output> {
    match kind {
        Served::OnlyHere { plural } => Some(Output {
            code: 1,
            stdout: String::new(),
            stderr: format!("error: the server doesn't have a resource type \"{plural}\"\n"),
        }),
        Served::MaybeElsewhere => None,
    }
}

/// Lists as `kubectl get A,B -o json` prints them: one List, each item with the kind and API version its
/// list names (the server leaves them out of a list's items).
fn merged(lists: &[String]) -> Option<String> {
    let mut items = Vec::new();
    for list in lists {
        let list: List = serde_json::from_str(list).ok()?;
        let kind = list.kind.strip_suffix("List")?;
        for mut item in list.items {
            item.insert("kind".into(), Value::String(kind.to_string()));
            item.insert("apiVersion".into(), Value::String(list.api_version.clone()));
            items.push(Value::Object(item));
        }
    }
    let list =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
    serde_json::to_string_pretty(&list).ok()
}

/// One running `kubectl proxy` and the socket it serves.
pub(crate) struct Proxy {
    socket: PathBuf,
    /// It stopped answering (or answered for itself, not for the server): the run reads through kubectl.
    abandoned: AtomicBool,
    /// Held (in a Mutex, to be shared between threads) until the run ends, which stops it.
    _process: Mutex<Background>,
    _folder: Folder,
}

impl Proxy {
    #[cfg(unix)]
    fn start(runner: &Runner, proxy: &[String], timeout: Duration) -> Option<Proxy> {
        let folder = Folder::create(&std::env::temp_dir())?;
        let socket = folder.0.join("api.sock");
        let (program, args) = proxy.split_first()?;
        let cmd = Cmd::query(program).args(args.iter().cloned()).arg(format!("--unix-socket={}", socket.display()));
        let process = runner.start_background(&cmd).ok()?;
        process.wait_for_line(timeout, |line| line.starts_with("Starting to serve on").then_some(())).ok()?;
        Some(Proxy { socket, abandoned: AtomicBool::new(false), _process: Mutex::new(process), _folder: folder })
    }

    /// Unix sockets are not in Rust's standard library on Windows: reads there run kubectl.
    #[cfg(not(unix))]
    fn start(_: &Runner, _: &[String], _: Duration) -> Option<Proxy> {
        None
    }

    /// The status and body of a GET; None when it did not answer in time, and (the proxy then abandoned)
    /// when it did not answer in HTTP or could not reach the server (see `its_own_failure`). A slow server
    /// is no reason to leave the proxy: kubectl would wait as long.
    fn get(&self, path: &str, deadline: Instant) -> Option<(u16, String)> {
        let answer = http::get(&self.socket, path, deadline).filter(|(status, body)| !its_own_failure(*status, body));
        if answer.is_none() && Instant::now() < deadline {
            self.abandoned.store(true, Ordering::SeqCst);
        }
        answer
    }
}

/// Whether an answer is the proxy's own failure, not the server's: kubectl proxy answers 500 (or 502) with
/// its error as plain text (`dial tcp 127.0.0.1:6443: connect: connection refused`) when it cannot reach the
/// server, which answers with a JSON Status.
fn its_own_failure(status: u16, body: &str) -> bool {
    status >= 500 && serde_json::from_str::<Value>(body).is_err()
}

/// A folder only this user may open, named after the run's process so that one left behind by a run that
/// was killed is removed by the next (and no other is touched).
struct Folder(PathBuf);

#[cfg(unix)]
const FOLDER_PREFIX: &str = "interlok-k8s-api-";

impl Folder {
    #[cfg(unix)]
    fn create(base: &std::path::Path) -> Option<Folder> {
        use std::os::unix::fs::DirBuilderExt;
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.subsec_nanos();
        let path = base.join(format!("{FOLDER_PREFIX}{}-{nonce}", std::process::id()));
        // fails rather than reuse a folder someone else made at that name
        std::fs::DirBuilder::new().mode(0o700).create(&path).ok()?;
        let folder = Folder(path);
        sweep(&folder);
        Some(folder)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the folders beside `ours` of this user's runs that no longer exist (killed before they could
/// remove their own).
#[cfg(unix)]
fn sweep(ours: &Folder) {
    use std::os::unix::fs::MetadataExt;

    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let Some(uid) = std::fs::metadata(&ours.0).ok().map(|m| m.uid()) else { return };
    let Some(Ok(entries)) = ours.0.parent().map(std::fs::read_dir) else { return };
    for entry in entries.flatten() {
        let owned_folder = std::fs::symlink_metadata(entry.path()).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        if !owned_folder {
            continue;
        }
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(FOLDER_PREFIX)).and_then(|rest| {
            let (pid, _) = rest.split_once('-')?;
            pid.parse::<i32>().ok()
        }) else {
            continue;
        };
        if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Just enough HTTP/1.1 for a GET over a Unix socket: one request per connection, the whole body back.
mod http {
    use std::path::Path;
    use std::time::Instant;

    /// The most of one body read (as for a command's stdout).
    const BODY_LIMIT: usize = 64 << 20;

    #[cfg(unix)]
    pub(super) fn get(socket: &Path, path: &str, deadline: Instant) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
        // short slices so that Ctrl-C and the deadline are noticed while the server thinks
        stream.set_read_timeout(Some(std::time::Duration::from_millis(100))).ok()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json, */*\r\nUser-Agent: interlok-k8s/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 64 << 10];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) if response.len() + n <= BODY_LIMIT => response.extend_from_slice(&chunk[..n]),
                Ok(_) => return None,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if crate::runner::interrupted() || Instant::now() >= deadline {
                        return None;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        parse(&response)
    }

    #[cfg(not(unix))]
    pub(super) fn get(_: &Path, _: &str, _: Instant) -> Option<(u16, String)> {
        None
    }

    /// The status and body of a whole response (`Content-Length`, chunked, or up to the connection's end).
    pub(super) fn parse(response: &[u8]) -> Option<(u16, String)> {
        let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&response[..end]).ok()?;
        let mut rest = &response[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.strip_prefix("HTTP/1.")?.get(2..)?.split(' ').next()?.parse().ok()?;
        let mut chunked = false;
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                rest = rest.get(..value.parse::<usize>().ok()?)?;
            }
        }
        let body = if chunked { dechunk(rest)? } else { rest.to_vec() };
        Some((status, String::from_utf8(body).ok()?))
    }

    /// A chunked body's data; None when it is cut short.
    fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = std::str::from_utf8(&rest[..line_end]).ok()?.split(';').next()?.trim();
            let size = usize::from_str_radix(size, 16).ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                return Some(body);
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read_whole_or_not_at_all() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(http::parse(sized), Some((200, "{}".to_string())));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(http::parse(chunked), Some((404, r#"{"a":1}"#.to_string())));
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"a\":";
        assert_eq!(http::parse(cut), None, "a body cut short is no answer");
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}";
        assert_eq!(http::parse(short), None);
        assert_eq!(http::parse(b"garbage"), None);
    }

    #[test]
    fn a_server_out_of_reach_is_the_proxys_own_failure_and_a_servers_error_is_not() {
        assert!(its_own_failure(500, "dial tcp 127.0.0.1:6443: connect: connection refused"));
        assert!(its_own_failure(502, "Error while proxying request: EOF"));
        let unavailable = r#"{"kind":"Status","reason":"ServiceUnavailable","code":503}"#;
        assert!(!its_own_failure(503, unavailable), "the server's own answer: kubectl tells it");
        assert!(!its_own_failure(404, "404 page not found"));
    }

    #[test]
    fn only_a_not_found_for_the_very_object_is_kubectls_not_found() {
        let gone = r#"{"kind":"Status","reason":"NotFound","message":"deployments.apps \"web\" not found","details":{"name":"web","group":"apps","kind":"deployments"},"code":404}"#;
        let output = not_found(gone, "web").expect("kubectl's error");
        assert_eq!(
            (output.code, output.stderr.as_str()),
            (1, "Error from server (NotFound): deployments.apps \"web\" not found\n")
        );
        let no_such_api = r#"{"kind":"Status","reason":"NotFound","message":"the server could not find the requested resource","details":{},"code":404}"#;
        assert!(not_found(no_such_api, "web").is_none(), "kubectl has its own words for a missing kind");
        assert!(not_found("404 page not found", "web").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_killed_runs_folder_is_removed_by_the_next_and_nothing_else() {
        let base = tempfile::tempdir().unwrap();
        // above any system's largest process id (Linux's is at most 2^22, macOS's 99,998): no process has it
        let ended = 999_999_999;
        let dead = base.path().join(format!("{FOLDER_PREFIX}{ended}-1"));
        let living = base.path().join(format!("{FOLDER_PREFIX}{}-2", std::process::id()));
        let other = base.path().join(format!("other-{ended}-3"));
        for folder in [&dead, &living, &other] {
            std::fs::create_dir(folder).unwrap();
            std::fs::write(folder.join("api.sock"), "").unwrap();
        }
        let ours = Folder::create(base.path()).expect("a folder");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&ours.0).unwrap().permissions().mode() & 0o777, 0o700, "this user's only");
        assert!(!dead.exists(), "a killed run's folder is removed");
        assert!(living.exists() && other.exists(), "a running run's folder and others' are kept");
        let path = ours.0.clone();
        drop(ours);
        assert!(!path.exists(), "a run removes its own");
    }

    #[test]
    fn api_versions_are_the_core_and_every_groups_versions_sorted() {
        let core = r#"{"kind":"APIVersions","versions":["v1"]}"#;
        let groups = r#"{"kind":"APIGroupList","groups":[
            {"name":"autoscaling","versions":[{"groupVersion":"autoscaling/v2","version":"v2"},{"groupVersion":"autoscaling/v1","version":"v1"}]},
            {"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}]}]}"#;
        assert_eq!(api_versions(core, groups).as_deref(), Some("apps/v1\nautoscaling/v1\nautoscaling/v2\nv1\n"));
        assert_eq!(api_versions("garbage", groups), None, "anything else is kubectl's to say");
    }

    #[test]
    fn lists_merge_as_kubectl_prints_them() {
        let deployments = r#"{"kind":"DeploymentList","apiVersion":"apps/v1","items":[{"metadata":{"name":"web"}}]}"#;
        let services = r#"{"kind":"ServiceList","apiVersion":"v1","items":[{"metadata":{"name":"web"}},{"metadata":{"name":"db"}}]}"#;
        let list: Value = serde_json::from_str(&merged(&[deployments.into(), services.into()]).unwrap()).unwrap();
        let kinds: Vec<(&str, &str)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["kind"].as_str().unwrap(), i["apiVersion"].as_str().unwrap()))
            .collect();
        assert_eq!(kinds, [("Deployment", "apps/v1"), ("Service", "v1"), ("Service", "v1")]);
        assert_eq!(list["kind"], "List");
        assert!(merged(&["{\"kind\":\"Status\"}".into()]).is_none(), "not a list: kubectl answers");
    }
}
