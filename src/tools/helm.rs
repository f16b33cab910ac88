//! helm 2, 3 and 4. The major version decides the syntax (v2: `--name`, tiller; v3+: release name
//! positional, `--create-namespace`; v4: `--wait` takes a strategy), so it is detected first from
//! `helm version --short`: `v3.17.1+g980d8ac` on v3/v4, `Client: v2.17.0+ga690bad` (then a Server line, or a
//! tiller error) on v2.

use crate::runner::Cmd;
use crate::version::Version;

#[derive(Debug, Clone)]
pub struct Helm {
    program: String,
    context: Option<String>,
}

impl Helm {
    pub fn new(program: impl Into<String>, context: Option<String>) -> Self {
        Helm { program: program.into(), context }
    }

    pub(crate) fn version_short(&self) -> Cmd {
        Cmd::query(&self.program).args(["version", "--short"])
    }

    pub(crate) fn query<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_context(Cmd::query(&self.program).args(args))
    }

    pub(crate) fn change<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_context(Cmd::change(&self.program).args(args))
    }

    pub(crate) fn repo_list(&self) -> Cmd {
        self.query(["repo", "list", "-o", "json"])
    }

    /// `helm repo add`; `force` replaces a repository of the same name with another URL. Credentials in the
    /// URL (`https://user:password@host/…`) never reach the command line: the bare URL, `--username`, and
    /// the password on stdin (`--password-stdin`, never shown).
    pub fn repo_add(&self, name: &str, url: &str, force: bool) -> Cmd {
        let repo = RepoUrl::parse(url);
        let mut cmd = Cmd::change(&self.program).args(["repo", "add", name, &repo.url]);
        if let Some((username, password)) = &repo.credentials {
            cmd = cmd.args(["--username", username, "--password-stdin"]).secret_stdin(password.as_str());
        }
        let cmd = if force { cmd.arg("--force-update") } else { cmd };
        cmd.timeout(std::time::Duration::from_secs(120))
    }

    /// `helm repo update`, of the named repositories only when given (Helm 3.7+).
    pub(crate) fn repo_update(&self, names: &[String]) -> Cmd {
        Cmd::change(&self.program)
            .args(["repo", "update"])
            .args(names.iter().cloned())
            .timeout(std::time::Duration::from_secs(300))
    }

    /// The release of that exact name as a JSON array (empty when there is none; never null).
    /// Every release of a namespace that is deployed, failed or pending (one answer for each of them).
    pub(crate) fn list_releases(&self, namespace: &str) -> Cmd {
        let args = ["list", "-n", namespace, "--deployed", "--failed", "--pending", "-o", "json"];
        self.query(args.map(String::from))
    }

    pub(crate) fn list_release(&self, release: &str, namespace: &str) -> Cmd {
        self.query([
            "list".to_string(),
            "-n".into(),
            namespace.into(),
            "--filter".into(),
            format!("^{release}$"),
            "--deployed".into(),
            "--failed".into(),
            "--pending".into(),
            "-o".into(),
            "json".into(),
        ])
    }

    /// Installs or upgrades a release (Helm 3/4) with values from stdin, waiting until it is ready.
    pub(crate) fn upgrade_install(&self, release: &Release, values: &str, wait: std::time::Duration) -> Cmd {
        let namespace = ["-n".to_string(), release.namespace.clone(), "--create-namespace".into()];
        self.upgrade(release, &namespace, format!("{}s", wait.as_secs()), values, wait)
    }

    /// Helm 2's form: `--namespace` (no --create-namespace: tiller creates it) and an integer `--timeout`.
    pub(crate) fn upgrade_install_v2(&self, release: &Release, values: &str, wait: std::time::Duration) -> Cmd {
        let namespace = ["--namespace".to_string(), release.namespace.clone()];
        self.upgrade(release, &namespace, wait.as_secs().to_string(), values, wait)
    }

    fn upgrade(
        &self,
        release: &Release,
        namespace: &[String],
        timeout: String,
        values: &str,
        wait: std::time::Duration,
    ) -> Cmd {
        let head =
            ["upgrade", "--install", &release.name, &release.chart, "--version", &release.version].map(String::from);
        let tail = ["-f".to_string(), "-".into(), "--wait".into(), "--timeout".into(), timeout];
        self.change(head.into_iter().chain(namespace.iter().cloned()).chain(tail))
            .stdin(values)
            .timeout(wait + std::time::Duration::from_secs(60))
    }

    /// The values the release was installed with (the user-supplied ones), as JSON (`null` when none).
    pub(crate) fn get_values(&self, release: &str, namespace: &str) -> Cmd {
        self.query(["get", "values", release, "-n", namespace, "-o", "json"])
    }

    /// Helm 2's status (no -o json before v2.14; the text starts with STATUS lines).
    pub(crate) fn status_v2(&self, release: &str) -> Cmd {
        self.query(["status", release])
    }

    /// A release's revisions as JSON (`revision` a number, `status` deployed, superseded, failed, pending-…).
    pub(crate) fn history(&self, release: &str, namespace: &str) -> Cmd {
        self.query(["history", release, "-n", namespace, "--max", "20", "-o", "json"])
    }

    /// Rolls a release back to a revision, waiting until it is ready (Helm 3/4).
    pub(crate) fn rollback(&self, release: &str, namespace: &str, revision: u64, wait: std::time::Duration) -> Cmd {
        let timeout = format!("{}s", wait.as_secs());
        self.change(["rollback", release, &revision.to_string(), "-n", namespace, "--wait", "--timeout", &timeout])
            .timeout(wait + std::time::Duration::from_secs(60))
    }

    /// Every release carrying these labels, in every namespace, deployed, failed or pending, as JSON (Helm
    /// 3.13+; the status flags because Helm 3 lists only deployed and failed ones by default, and Helm 4 has
    /// no `--all`).
    pub(crate) fn list_labelled(&self, selector: &str) -> Cmd {
        self.query(["list", "-A", "--deployed", "--failed", "--pending", "-l", selector, "-o", "json"])
    }

    pub(crate) fn uninstall(&self, release: &str, namespace: &str) -> Cmd {
        self.change(["uninstall", release, "-n", namespace, "--wait"]).timeout(std::time::Duration::from_secs(600))
    }

    /// Helm 2: removes a release and its history.
    pub(crate) fn delete_v2(&self, release: &str) -> Cmd {
        self.change(["delete", "--purge", release]).timeout(std::time::Duration::from_secs(600))
    }

    pub(crate) fn repo_remove(&self, name: &str) -> Cmd {
        Cmd::change(&self.program).args(["repo", "remove", name])
    }

    /// Helm 2: installs tiller with a service account, waiting for it.
    pub(crate) fn init_tiller(&self, stable_repo: &str) -> Cmd {
        self.change(["init", "--service-account", "tiller", "--stable-repo-url", stable_repo, "--wait"])
            .timeout(std::time::Duration::from_secs(600))
    }

    fn with_context(&self, cmd: Cmd) -> Cmd {
        match &self.context {
            Some(context) => cmd.arg(format!("--kube-context={context}")),
            None => cmd,
        }
    }
}

/// A chart repository URL with its `user:password@` taken out: the bare URL is what is shown, compared and
/// given to helm; the credentials go to helm by other ways.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RepoUrl {
    pub(crate) url: String,
    /// Username and password, percent-decoded as in any URL.
    pub(crate) credentials: Option<(String, String)>,
}

impl RepoUrl {
    pub(crate) fn parse(url: &str) -> RepoUrl {
        let bare = |url: &str| RepoUrl { url: url.to_string(), credentials: None };
        let Some((scheme, rest)) = url.split_once("://") else { return bare(url) };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else { return bare(url) };
        let (username, password) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
        RepoUrl {
            url: format!("{scheme}://{}", &rest[at + 1..]),
            credentials: Some((percent_decode(username), percent_decode(password))),
        }
    }
}

/// The password stays out of `{:?}` too.
impl std::fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.credentials.as_ref().map(|(user, _)| user.as_str());
        f.debug_struct("RepoUrl").field("url", &self.url).field("username", &user).finish_non_exhaustive()
    }
}

/// `%40` → `@`; an incomplete or invalid escape stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Helm 3.13 and later keep labels on a release's own record (`--labels`, `list -l`).
pub(crate) fn keeps_labels(version: Version) -> bool {
    version >= Version::new(3, 13, 0)
}

/// A chart release the wizard manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub(crate) name: String,
    pub(crate) chart: String,
    pub(crate) version: String,
    pub(crate) namespace: String,
}

/// What `helm status -o json` says about a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseStatus {
    pub(crate) status: String,
    pub(crate) chart_version: String,
}

/// Parses `helm list -o json` for one release (`chart` is `name-version`); `Ok(None)` when it is not there.
pub fn parse_release(release: &str, stdout: &str) -> Result<Option<ReleaseStatus>, String> {
    release_status(release, &list_items(stdout)?)
}

/// The items of `helm list -o json`.
pub(crate) fn list_items(stdout: &str) -> Result<Vec<serde_json::Value>, String> {
    serde_json::from_str(stdout.trim())
        .map_err(|e| format!("helm list printed something that is not a JSON list ({e})"))
}

/// One release's status among `helm list`'s items; `Ok(None)` when it is not there.
pub(crate) fn release_status(release: &str, items: &[serde_json::Value]) -> Result<Option<ReleaseStatus>, String> {
    let Some(item) = items.iter().find(|i| i["name"] == release) else { return Ok(None) };
    let status = item["status"].as_str().ok_or("helm list JSON has no status")?.to_string();
    let chart = item["chart"].as_str().unwrap_or_default();
    let chart_version = chart.rsplit_once('-').map(|(_, v)| v.to_string()).unwrap_or_default();
    Ok(Some(ReleaseStatus { status, chart_version }))
}

/// One revision of `helm history -o json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revision {
    pub(crate) revision: u64,
    pub(crate) status: String,
}

/// Parses `helm history -o json` (the revision is a number there; read a string too).
pub(crate) fn parse_history(stdout: &str) -> Result<Vec<Revision>, String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("helm history printed something that is not a JSON list ({e})"))?;
    items
        .iter()
        .map(|item| {
            let revision = item["revision"]
                .as_u64()
                .or_else(|| item["revision"].as_str().and_then(|s| s.parse().ok()))
                .ok_or("helm history JSON has no revision")?;
            let status = item["status"].as_str().ok_or("helm history JSON has no status")?.to_string();
            Ok(Revision { revision, status })
        })
        .collect()
}

/// The releases in `helm list -o json`: (name, namespace, status).
pub(crate) fn parse_list(stdout: &str) -> Result<Vec<(String, String, String)>, String> {
    Ok(list_items(stdout)?
        .iter()
        .map(|i| {
            let text = |key: &str| i[key].as_str().unwrap_or_default().to_string();
            (text("name"), text("namespace"), text("status"))
        })
        .collect())
}

/// Reads the client version from `helm version --short` output. Helm 2 prints its client line even when
/// the command then fails to reach tiller, so callers parse stdout whatever the exit code.
pub fn parse_short_version(stdout: &str) -> Result<Version, String> {
    let first = stdout.lines().map(str::trim).find(|l| !l.is_empty()).ok_or("helm printed no version")?;
    let word = first.strip_prefix("Client:").map(str::trim).unwrap_or(first);
    if !word.starts_with('v') {
        return Err(format!("helm printed an unexpected version line {first:?}"));
    }
    Version::parse(word).ok_or_else(|| format!("helm printed an unreadable version {word:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_major_version_shape() {
        assert_eq!(parse_short_version("v4.1.4+g05fa379\n"), Ok(Version::new(4, 1, 4)));
        assert_eq!(parse_short_version("v3.17.1+g980d8ac\n"), Ok(Version::new(3, 17, 1)));
        let v2 = "Client: v2.17.0+ga690bad\nServer: v2.17.0+ga690bad\n";
        assert_eq!(parse_short_version(v2), Ok(Version::new(2, 17, 0)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_short_version("").is_err());
        assert!(parse_short_version("version.BuildInfo{Version:\"v3\"}").is_err());
        assert!(parse_short_version("vgarbage").is_err());
    }
}

/// One entry of `helm repo list -o json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RepoEntry {
    pub(crate) name: String,
    pub(crate) url: String,
}

/// `helm repo list -o json`: Helm 3 exits non-zero with "no repositories to show" when there are none
/// (v3.0 even with -o json); Helm 4 prints `[]` and exits 0.
pub fn parse_repo_list(code: i32, stdout: &str, stderr: &str) -> Result<Vec<RepoEntry>, String> {
    if code != 0 && (stderr.contains("no repositories to show") || stdout.contains("no repositories to show")) {
        return Ok(Vec::new());
    }
    if code != 0 {
        return Err("helm repo list failed".into());
    }
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| format!("helm repo list printed something that is not a JSON list ({e})"))
}

#[cfg(test)]
mod repo_tests {
    use super::*;

    #[test]
    fn credentials_in_a_repository_url_go_to_stdin_never_the_command_line() {
        let helm = Helm::new("helm", None);
        let cmd = helm.repo_add("corp", "https://bob:p%40ss:w0rd@charts.example.com/helm?x=1", false);
        assert_eq!(
            cmd.to_string(),
            "helm repo add corp 'https://charts.example.com/helm?x=1' --username bob --password-stdin (with a secret on stdin)"
        );
        assert_eq!(cmd.input(), Some("p@ss:w0rd"));
        assert!(!format!("{cmd:?}").contains("w0rd"));
        let plain = helm.repo_add("corp", "https://charts.example.com/a@b", true);
        assert_eq!(plain.to_string(), "helm repo add corp https://charts.example.com/a@b --force-update");
        assert_eq!(plain.input(), None);
        let user_only = RepoUrl::parse("http://token123@127.0.0.1:8080/charts");
        assert_eq!(user_only.url, "http://127.0.0.1:8080/charts");
        assert_eq!(user_only.credentials, Some(("token123".into(), String::new())));
        assert!(!format!("{:?}", RepoUrl::parse("https://u:secret@h/")).contains("secret"));
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn repo_lists_of_every_helm() {
        assert_eq!(parse_repo_list(1, "", "Error: no repositories to show"), Ok(vec![]));
        assert_eq!(parse_repo_list(0, "[]", ""), Ok(vec![]));
        let one = parse_repo_list(0, r#"[{"name":"prometheus-community","url":"https://x"}]"#, "").unwrap();
        assert_eq!(one[0].name, "prometheus-community");
        assert!(parse_repo_list(0, "NAME URL", "").is_err());
        assert!(parse_repo_list(1, "", "Error: something else").is_err());
    }
}

#[cfg(test)]
mod release_tests {
    use super::*;

    #[test]
    fn releases_read_from_helm_list() {
        let json = r#"[{"name":"prometheus","namespace":"monitoring","revision":"1","status":"deployed","chart":"prometheus-29.27.0","app_version":"v3"}]"#;
        let found = parse_release("prometheus", json).unwrap().unwrap();
        assert_eq!((found.status.as_str(), found.chart_version.as_str()), ("deployed", "29.27.0"));
        assert_eq!(parse_release("grafana", json).unwrap(), None);
        assert_eq!(parse_release("x", "[]").unwrap(), None);
        assert!(parse_release("x", "NAME NAMESPACE").is_err());
    }

    #[test]
    fn history_reads_numbers_and_strings() {
        let json = r#"[{"revision":1,"status":"superseded"},{"revision":"2","status":"deployed"},{"revision":3,"status":"pending-upgrade"}]"#;
        let revisions = parse_history(json).unwrap();
        assert_eq!(revisions[1], Revision { revision: 2, status: "deployed".into() });
        assert_eq!(revisions.len(), 3);
        assert!(parse_history("[{}]").is_err());
        assert!(parse_history("REVISION UPDATED").is_err());
    }
}
