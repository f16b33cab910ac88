//! The rules a value must pass, whatever its source (flag, `INTERLOK_K8S_*` variable, config file, an answer
//! at the prompt): pure functions from the text as typed to a value the tools can use, or why it is not usable
//! and how to write one that is. The clap value parsers of the subcommands' own flags use the same functions.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a value cannot be used, and how to write one that can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) why: String,
    pub(crate) fix: String,
}

fn invalid<T>(why: impl Into<String>, fix: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid { why: why.into(), fix: fix.into() })
}

/// A value quoted for a message: escaped, and cut short when long (a 20,000-character name helps nobody).
pub(crate) fn quote(text: &str) -> String {
    const SHOWN: usize = 60;
    let count = text.chars().count();
    if count <= SHOWN + 20 {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN).collect();
    let quoted = format!("{head:?}");
    format!("{}…\" ({count} characters)", &quoted[..quoted.len() - 1])
}

fn no_control_characters(text: &str) -> Result<(), Invalid> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => invalid(format!("it holds the control character {c:?}"), "write it on one line, without tabs"),
        None => Ok(()),
    }
}

/// A namespace: a DNS-1123 label.
pub(crate) fn dns_label(text: &str) -> Result<String, Invalid> {
    let fix = "a Kubernetes name is 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit";
    if text.is_empty() {
        return invalid("it is empty", fix);
    }
    if text.len() > 63 {
        return invalid(format!("it is {} characters long", text.chars().count()), fix);
    }
    let allowed = text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !allowed || text.starts_with('-') || text.ends_with('-') {
        return invalid("it is not a Kubernetes name", fix);
    }
    Ok(text.to_string())
}

/// The Deployment's name is also its Service's, and a Service name is a DNS-1035 label: it starts with a letter.
pub(crate) fn service_name(text: &str) -> Result<String, Invalid> {
    let name = dns_label(text).map_err(|e| Invalid {
        fix: "a Service name is 1-63 lower-case letters, digits or '-', starting with a letter and ending with a letter or digit".into(),
        ..e
    })?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid(
            "the Deployment's Service gets this name too, and a Service name starts with a letter",
            "start the name with a lower-case letter, e.g. interlok",
        );
    }
    Ok(name)
}

/// A kube context: kubeconfig allows any name, so only one usable line of bounded length is asked for.
pub(crate) fn context_name(text: &str) -> Result<String, Invalid> {
    if text.trim().is_empty() {
        return invalid("it is empty", "name a context from `kubectl config get-contexts`");
    }
    if text.chars().count() > 253 {
        return invalid(
            format!("it is {} characters long", text.chars().count()),
            "a context name here is at most 253 characters",
        );
    }
    no_control_characters(text)?;
    Ok(text.to_string())
}

/// The metric the autoscaler follows: a Prometheus metric name without ':' (reserved for recording rules).
pub(crate) fn metric_name(text: &str) -> Result<String, Invalid> {
    let fix = "a metric name is up to 128 letters, digits and '_', not starting with a digit (Interlok drops the dashes of the interceptor's unique-id)";
    let mut chars = text.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && text.len() <= 128;
    if valid {
        Ok(text.to_string())
    } else {
        invalid("it is not a Prometheus metric name", fix)
    }
}

const IMAGE_FIX: &str =
    "write an image as [registry[:port]/]name[:tag][@sha256:<64 hex digits>], e.g. adaptris/interlok:snapshot";

/// A container image reference, by the grammar of the distribution project's `reference` package:
/// `[domain[:port]/]path[:tag][@digest]`, where the path is lower-case and a tag follows every ':'.
pub(crate) fn image_reference(text: &str) -> Result<String, Invalid> {
    if text.is_empty() {
        return invalid("it is empty", IMAGE_FIX);
    }
    let (named, digest) = match text.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        image_digest(digest)?;
    }
    let last_slash = named.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match named[last_slash..].rfind(':') {
        Some(at) => (&named[..last_slash + at], Some(&named[last_slash + at + 1..])),
        None => (named, None),
    };
    if let Some(tag) = tag {
        let mut chars = tag.chars();
        let first = chars.next();
        let valid = first.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && tag.len() <= 128;
        if first.is_none() {
            return invalid("nothing follows the ':' where the tag goes", IMAGE_FIX);
        }
        if !valid {
            return invalid(
                format!("the tag {} is not a tag (up to 128 letters, digits, '_', '.', '-')", quote(tag)),
                IMAGE_FIX,
            );
        }
    }
    if name.len() > 255 {
        return invalid("the name is longer than 255 characters", IMAGE_FIX);
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    let has_domain = components.len() > 1
        && (first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()));
    if has_domain {
        image_domain(first)?;
        components.remove(0);
    }
    for component in components {
        if !path_component(component) {
            return invalid(
                format!(
                    "{} is not a repository name part (lower-case letters and digits, joined by '.', '_', '__' or '-')",
                    quote(component)
                ),
                IMAGE_FIX,
            );
        }
    }
    Ok(text.to_string())
}

fn image_digest(digest: &str) -> Result<(), Invalid> {
    let (algorithm, hex) = digest.split_once(':').unwrap_or((digest, ""));
    let length = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return invalid(format!("the digest {} is not sha256:… or sha512:…", quote(digest)), IMAGE_FIX),
    };
    if hex.len() != length || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return invalid(format!("a {algorithm} digest is {length} lower-case hex digits"), IMAGE_FIX);
    }
    Ok(())
}

fn image_domain(domain: &str) -> Result<(), Invalid> {
    let Some((host, port)) = split_host_port(domain) else {
        return invalid(format!("the registry {} is not host[:port]", quote(domain)), IMAGE_FIX);
    };
    if let Some(port) = port {
        if port_number(port).is_err() {
            return invalid(format!("the registry port {} is not a port (1-65535)", quote(port)), IMAGE_FIX);
        }
    }
    if host_name(host) {
        Ok(())
    } else {
        invalid(format!("the registry {} is not a host name", quote(domain)), IMAGE_FIX)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` when the brackets do not close.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = authority.strip_prefix('[') {
        let end = inner.find(']')?;
        let rest = &inner[end + 1..];
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        return Some((&authority[..end + 2], port));
    }
    Some(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// A DNS name (labels of letters, digits, '-', '_') or a bracketed IPv6 address.
fn host_name(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[a-z0-9]+` parts joined by `.`, `_`, `__` or one or more `-`.
fn path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.first().is_none_or(|&b| !alnum(b)) || bytes.last().is_none_or(|&b| !alnum(b)) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        if !(separator == "." || separator == "_" || separator == "__" || separator.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

fn port_number(text: &str) -> Result<u16, ()> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(()),
    }
}

/// A chart version: one exact SemVer 2 version. Helm also takes ranges (`^2.0.0`) and no version at all, but
/// both follow the newest chart: every rerun could upgrade, and what was tested is no longer what runs.
pub(crate) fn chart_version(text: &str) -> Result<String, Invalid> {
    let fix = "pin one exact version, e.g. 29.27.0 (see `helm search repo NAME --versions`)";
    if text.is_empty() {
        return invalid("it is empty (an unpinned chart is upgraded on every run)", fix);
    }
    if text.len() > 64 {
        return invalid("it is longer than 64 characters", fix);
    }
    if text.eq_ignore_ascii_case("latest") {
        return invalid("a chart version is a number, and the newest chart is not pinned", fix);
    }
    if semver(text) {
        Ok(text.to_string())
    } else {
        invalid("it is not one exact SemVer version (MAJOR.MINOR.PATCH, optionally -pre-release and +build)", fix)
    }
}

/// SemVer 2.0.0: numbers without leading zeros, dot-separated pre-release and build identifiers.
fn semver(text: &str) -> bool {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && (part == "0" || !part.starts_with('0'))
    };
    let identifier = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p) && p.len() <= 9)
        && pre.is_none_or(|pre| {
            pre.split('.').all(|id| identifier(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric(id)))
        })
        && build.is_none_or(|build| build.split('.').all(identifier))
}

/// A Kubernetes version for `minikube start` and `render`: `v1.33`, `1.33.1`, `v1.34.0-rc.1`. minikube takes
/// MAJOR.MINOR (its newest patch) or a full version; "stable" and "latest" are refused here because they move.
pub(crate) fn kubernetes_version(text: &str) -> Result<String, Invalid> {
    let fix = "write a version like v1.33.1 or 1.33";
    let bare = text.strip_prefix('v').unwrap_or(text);
    let (core, pre) = match bare.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (bare, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    let valid = (parts.len() == 2 || parts.len() == 3)
        && parts.iter().all(numeric)
        && parts[0] == "1"
        && pre.is_none_or(|pre| parts.len() == 3 && semver(&format!("1.0.0-{pre}")));
    if text.eq_ignore_ascii_case("latest") || text.eq_ignore_ascii_case("stable") {
        return invalid("it names no version, and the one it means changes with each minikube release", fix);
    }
    if valid {
        Ok(text.to_string())
    } else {
        invalid("it is not a Kubernetes 1.x version", fix)
    }
}

/// A URL the wizard reaches over HTTP: `http://` or `https://`, a host, an optional port and path; no
/// credentials (they would be echoed with every command), no query or fragment.
/// A chart repository's URL: an http(s) URL that may carry a login (`https://user:password@host/path`); the
/// password then goes to helm on its stdin, never on a command line (see `tools::helm::Helm::repo_add`).
pub(crate) fn chart_repo_url(text: &str) -> Result<String, Invalid> {
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((login, host)) => {
            if login.is_empty() || login.starts_with(':') {
                return invalid(
                    "its login has no user name",
                    "write https://USER:PASSWORD@host/path, or no login at all",
                );
            }
            http_url(&format!("{scheme}://{host}{}", &rest[authority_end..]))?;
            Ok(text.to_string())
        }
        None => http_url(text),
    }
}

/// Text with the password of any `scheme://user:password@` in it replaced by `***` (for messages).
pub(crate) fn mask_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '"']).unwrap_or(tail.len());
        match tail[..authority_end].rsplit_once('@') {
            Some((login, host)) => {
                let user = login.split(':').next().unwrap_or_default();
                let masked = if login.contains(':') { format!("{user}:***") } else { user.to_string() };
                out.push_str(&format!("{masked}@{host}"));
            }
            None => out.push_str(&tail[..authority_end]),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn http_url(text: &str) -> Result<String, Invalid> {
    let fix = "write a URL like http://127.0.0.1:9090 or https://mirror.example.com/charts";
    let Some(rest) = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://")) else {
        return invalid("it is not an http:// or https:// URL", fix);
    };
    if text.len() > 2048 {
        return invalid("it is longer than 2048 characters", fix);
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) {
        return invalid(
            format!("it holds {c:?}; a URL has no spaces or non-ASCII characters (percent-encode them)"),
            fix,
        );
    }
    if text.contains(['?', '#']) {
        return invalid("it has a query or fragment; give the base URL only", fix);
    }
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    if authority.contains('@') {
        return invalid("it carries credentials, which would be shown with every command", fix);
    }
    let Some((host, port)) = split_host_port(authority) else {
        return invalid("the host's brackets do not close", fix);
    };
    if !host_name(host) {
        return invalid("it has no usable host", fix);
    }
    if let Some(port) = port {
        if port_number(port).is_err() {
            return invalid(format!("the port {} is not 1-65535", quote(port)), fix);
        }
    }
    Ok(text.to_string())
}

/// The HTTP path Interlok receives messages on: an absolute path of unreserved characters and %XX escapes.
pub(crate) fn inbox_path(text: &str) -> Result<String, Invalid> {
    let fix = "write an absolute path like /in-box: '/', letters, digits, '-', '.', '_', '~' or %XX";
    if !text.starts_with('/') || text.starts_with("//") {
        return invalid("it does not start with a single '/'", fix);
    }
    if text.len() > 256 {
        return invalid("it is longer than 256 characters", fix);
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let escape = bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !escape {
                return invalid("a '%' is not followed by two hex digits", fix);
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~/".contains(&b)) {
            let c = text[i..].chars().next().unwrap_or('?');
            return invalid(format!("it holds {c:?} (spaces, '?', '#' and the like do not belong in the path)"), fix);
        }
        i += 1;
    }
    if text.split('/').any(|segment| segment == "." || segment == "..") || text.contains("//") {
        return invalid("it has an empty, '.' or '..' segment", fix);
    }
    Ok(text.to_string())
}

/// A Windows name (a Hyper-V switch, a network adapter): any printable text, bounded in UTF-16 units as
/// Windows counts. An adapter's name (its interface alias) holds at most 256 (IF_MAX_STRING_SIZE); an
/// external switch gives the host an adapter named `vEthernet (NAME)`, which leaves 244 for the switch.
fn windows_name(text: &str, what: &str, max: usize) -> Result<String, Invalid> {
    let fix = format!("a {what} name is 1-{max} characters on one line, without spaces at either end");
    if text.trim().is_empty() {
        return invalid("it is empty", fix);
    }
    let units = text.encode_utf16().count();
    if units > max {
        return invalid(format!("it is {units} characters long"), fix);
    }
    if text.trim() != text {
        return invalid("it starts or ends with a space", fix);
    }
    no_control_characters(text)?;
    Ok(text.to_string())
}

const SWITCH_NAME_MAX: usize = 244;
const ADAPTER_NAME_MAX: usize = 256;

pub(crate) fn switch_name(text: &str) -> Result<String, Invalid> {
    windows_name(text, "Hyper-V switch", SWITCH_NAME_MAX)
}

pub(crate) fn adapter_name(text: &str) -> Result<String, Invalid> {
    windows_name(text, "network adapter", ADAPTER_NAME_MAX)
}

/// A whole number in a range (digits only: no sign, no decimal point, no spaces).
pub(crate) fn number(text: &str, min: u64, max: u64) -> Result<u64, Invalid> {
    let fix = format!("write a whole number from {min} to {max}");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return invalid("it is not a whole number", fix);
    }
    match text.parse::<u64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => invalid(format!("it is outside {min}-{max}"), fix),
    }
}

/// The one duration syntax: a whole number with `s`, `m` or `h` (plain numbers are seconds), within bounds.
pub(crate) fn duration(text: &str, min: Duration, max: Duration) -> Result<Duration, Invalid> {
    let fix = format!("write a duration like 30s, 2m or 1h, from {} to {}", show(min), show(max));
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return invalid("it is not a duration", fix),
    };
    let Some(seconds) = number.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)) else {
        return invalid(if number.is_empty() { "it is not a duration" } else { "it is far too long" }, fix);
    };
    let value = Duration::from_secs(seconds);
    if value < min || value > max {
        return invalid(format!("it is outside {}-{}", show(min), show(max)), fix);
    }
    Ok(value)
}

/// A duration as a person writes it: `90s`, `10m`, `24h`.
pub(crate) fn show(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        _ if s > 0 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s > 0 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// On/off from an environment variable or a config file (a flag is on by being given).
pub(crate) fn switch(text: &str) -> Result<bool, Invalid> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => invalid("it is not on or off", "write true or false"),
    }
}

/// One of a fixed set of words.
pub(crate) fn one_of(text: &str, choices: &[&str]) -> Result<String, Invalid> {
    if choices.contains(&text) {
        Ok(text.to_string())
    } else {
        invalid("it is not one of the choices", format!("choose one of {}", choices.join(", ")))
    }
}

/// How big a file the wizard reads whole may be.
pub(crate) const CONFIG_FILE_MAX: u64 = 1024 * 1024;
pub(crate) const BODY_FILE_MAX: u64 = 64 * 1024 * 1024;
/// A ConfigMap holds at most 1 MiB, its own metadata included.
const INTERLOK_CONFIG_MAX: u64 = 1_000_000;

/// A file read whole: a regular file (a FIFO or device would block or never end), readable, not too big.
/// Looked at with `metadata` before it is opened, because opening a FIFO for reading blocks.
pub(crate) fn readable_file(path: &Path, max: u64) -> Result<PathBuf, Invalid> {
    let fix = "give the path of a readable regular file";
    let metadata =
        std::fs::metadata(path).map_err(|e| Invalid { why: format!("cannot read it: {e}"), fix: fix.into() })?;
    if !metadata.is_file() {
        return invalid(format!("it is {}, not a regular file", kind(&metadata)), fix);
    }
    if metadata.len() > max {
        return invalid(format!("it is {} bytes; at most {max} are read", metadata.len()), fix);
    }
    std::fs::File::open(path).map_err(|e| Invalid { why: format!("cannot open it: {e}"), fix: fix.into() })?;
    Ok(path.to_path_buf())
}

fn kind(metadata: &std::fs::Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The files of an Interlok configuration folder the wizard mounts; adapter.xml is the one it needs.
pub(crate) const INTERLOK_CONFIG_FILES: [&str; 4] =
    ["adapter.xml", "bootstrap.properties", "variables.properties", "log4j2.xml"];

/// `--interlok-config`: a folder holding adapter.xml (and optionally the other three files), or one file used
/// as adapter.xml. Every file is regular and readable, and together they fit in a ConfigMap. Whether the XML
/// makes sense is checked later, by the stage that uses it.
pub(crate) fn interlok_config(path: &Path) -> Result<PathBuf, Invalid> {
    let fix = format!("give a folder holding {} (or a single adapter.xml file)", INTERLOK_CONFIG_FILES.join(", "));
    let metadata =
        std::fs::metadata(path).map_err(|e| Invalid { why: format!("cannot read it: {e}"), fix: fix.clone() })?;
    if metadata.is_file() {
        readable_file(path, INTERLOK_CONFIG_MAX).map_err(|e| Invalid { fix: fix.clone(), ..e })?;
        return Ok(path.to_path_buf());
    }
    if !metadata.is_dir() {
        return invalid(format!("it is {}", kind(&metadata)), fix);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| Invalid { why: format!("cannot list it: {e}"), fix: fix.clone() })?;
    let mut total = 0;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Invalid { why: format!("cannot list it: {e}"), fix: fix.clone() })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // editor and OS droppings (.DS_Store, .swp) are not configuration
        }
        if !INTERLOK_CONFIG_FILES.contains(&name.as_str()) {
            return invalid(
                format!("it holds {}, which the wizard would not mount", quote(&name)),
                format!("keep only {} in the folder", INTERLOK_CONFIG_FILES.join(", ")),
            );
        }
        let file = readable_file(&entry.path(), INTERLOK_CONFIG_MAX)
            .map_err(|e| Invalid { why: format!("{name}: {}", e.why), fix: fix.clone() })?;
        total += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        names.push(name);
    }
    if !names.iter().any(|n| n == "adapter.xml") {
        return invalid("it has no adapter.xml", fix);
    }
    if total > INTERLOK_CONFIG_MAX {
        return invalid(format!("its files hold {total} bytes; a ConfigMap holds under 1 MiB"), fix);
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn a_chart_repository_may_carry_a_login_and_messages_never_show_its_password() {
        assert!(chart_repo_url("https://bob:s3cr3t@mirror.example/charts").is_ok());
        assert!(chart_repo_url("https://:s3cr3t@mirror.example/charts").is_err());
        assert!(chart_repo_url("https://bob:s3cr3t@").is_err());
        assert!(http_url("https://bob:s3cr3t@mirror.example").is_err(), "other URLs stay without logins");
        assert_eq!(
            mask_credentials("prometheus-community=https://bob:s3cr3t@mirror.example/charts"),
            "prometheus-community=https://bob:***@mirror.example/charts"
        );
        assert_eq!(mask_credentials("no url here"), "no url here");
        assert_eq!(mask_credentials("http://host:80/x"), "http://host:80/x");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_the_reference_grammar() {
        for good in [
            "adaptris/interlok:snapshot",
            "aaronmcgrathadpx/interlok-kubernetes-scaling:latest",
            "interlok",
            "registry.example.com:5000/team/interlok:5.0.1",
            "localhost/interlok",
            "localhost:5000/a__b/c-d.e:v1_x",
            "[::1]:5000/interlok:1",
            "ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image_reference(good).is_ok(), "{good}: {:?}", image_reference(good));
        }
        for bad in [
            "",
            "foo:",
            "bad image",
            "-x",
            "Interlok",
            "adaptris/Interlok:1",
            "a//b",
            "a/b:-tag",
            "a/b@sha256:abc",
            "a/b@md5:0123456789abcdef0123456789abcdef",
            "registry:99999/a",
            "a/b:c:d",
            "a..b",
            "a_/b",
            ":tag",
            "a/b:tag with space",
            &format!("a:{}", "t".repeat(129)),
            &format!("{}/b", "r".repeat(300)),
        ] {
            assert!(image_reference(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn chart_versions_are_one_exact_semver_version() {
        for good in ["29.27.0", "0.1.0", "1.0.0-rc.1", "1.0.0+build.5", "1.0.0-alpha-1.0+x"] {
            assert!(chart_version(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "latest",
            "LATEST",
            "1.0",
            "^2.0.0",
            "~1.2.3",
            ">=1.0.0",
            "1.0.0 --set x=y",
            "01.0.0",
            "1.0.0-01",
            "v1.0.0",
            "1.0.0-",
            "1.0.0+",
        ] {
            assert!(chart_version(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn kubernetes_versions_are_1_x_with_or_without_a_patch() {
        for good in ["v1.33.1", "1.33", "v1.15", "1.34.0-rc.1"] {
            assert!(kubernetes_version(good).is_ok(), "{good}");
        }
        for bad in ["latest", "stable", "2.0.0", "v1", "1.33.1.1", "1.x", "1.33-rc.1", " 1.33", "1.33 "] {
            assert!(kubernetes_version(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations_have_one_syntax_and_bounds() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(86_400));
        assert_eq!(duration("90", min, max), Ok(Duration::from_secs(90)));
        assert_eq!(duration("2m", min, max), Ok(Duration::from_secs(120)));
        assert_eq!(duration("24h", min, max), Ok(max));
        for bad in ["", "0", "25h", "1d", "-5s", "5 s", "1.5m", "m", "99999999999999999999h", "18446744073709551615h"] {
            assert!(duration(bad, min, max).is_err(), "{bad:?} was accepted");
        }
        let why = duration("25h", min, max).unwrap_err();
        assert!(why.why.contains("1s-24h") && !why.why.contains("90000"), "{why:?}");
    }

    #[test]
    fn urls_need_a_scheme_and_a_host_and_carry_nothing_else() {
        for good in [
            "http://127.0.0.1:9090",
            "https://mirror.example.com/charts",
            "http://[::1]:8080/in-box",
            "http://prometheus-server.monitoring.svc",
        ] {
            assert!(http_url(good).is_ok(), "{good}");
        }
        for bad in [
            "localhost:9090",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a b",
            "http://u:p@host",
            "http://h:0",
            "http://h:70000",
            "http://h/x?y=1",
            "http://h/#f",
            "oci://ghcr.io/charts",
        ] {
            assert!(http_url(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_inbox_path_is_an_absolute_path_and_nothing_more() {
        for good in ["/in-box", "/api/v1/in_box", "/a%20b"] {
            assert!(inbox_path(good).is_ok(), "{good}");
        }
        for bad in
            ["in-box", "//evil.example/x", "/in box", "/in-box?x=1", "/in-box#f", "/a/../b", "/a%2", "/a\n", "/é"]
        {
            assert!(inbox_path(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn windows_names_are_bounded_as_windows_counts() {
        assert!(switch_name("Default Switch").is_ok());
        assert!(switch_name("-Force'; $env:x `y` & | sw").is_ok(), "hostile but printable names are data");
        assert!(switch_name(&"s".repeat(SWITCH_NAME_MAX)).is_ok());
        assert!(switch_name(&"s".repeat(SWITCH_NAME_MAX + 1)).is_err());
        assert!(switch_name(&"x".repeat(20_000)).is_err());
        assert!(adapter_name(&"é".repeat(ADAPTER_NAME_MAX)).is_ok());
        assert!(adapter_name(&"😀".repeat(ADAPTER_NAME_MAX / 2 + 1)).is_err(), "counted in UTF-16 units");
        for bad in ["", "  ", " lead", "trail ", "two\nlines", "tab\there", "nul\0"] {
            assert!(switch_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_numbers_and_switches() {
        for bad in ["Default", "-x", "x-", "a_b", "", &"a".repeat(64)] {
            assert!(dns_label(bad).is_err(), "{bad:?}");
        }
        assert!(dns_label("team-1").is_ok() && dns_label("1team").is_ok());
        assert!(service_name("1interlok").is_err() && service_name("interlok-2").is_ok());
        assert!(metric_name("MessageMetrics").is_ok());
        for bad in ["Message-Metrics", "9lives", "a:b", "", &"m".repeat(129)] {
            assert!(metric_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(number("5", 1, 10), Ok(5));
        for bad in ["", "0", "11", "+5", "-1", "1.5", " 5", "99999999999999999999999"] {
            assert!(number(bad, 1, 10).is_err(), "{bad:?}");
        }
        assert_eq!(switch("Yes"), Ok(true));
        assert_eq!(switch("0"), Ok(false));
        assert!(switch("perhaps").is_err() && switch("").is_err());
    }

    #[test]
    fn long_values_are_quoted_short() {
        let quoted = quote(&"x".repeat(20_000));
        assert!(quoted.len() < 100 && quoted.contains("(20000 characters)"), "{quoted}");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn files_read_whole_must_be_regular_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.yaml");
        std::fs::write(&file, "x: 1").unwrap();
        assert!(readable_file(&file, 10).is_ok());
        assert!(readable_file(&file, 2).unwrap_err().why.contains("bytes"));
        assert!(readable_file(dir.path(), 10).unwrap_err().why.contains("directory"));
        assert!(readable_file(&dir.path().join("missing"), 10).is_err());
        #[cfg(unix)]
        assert!(readable_file(Path::new("/dev/zero"), 10).unwrap_err().why.contains("device"));
    }

    #[test]
    fn an_interlok_config_is_a_folder_with_adapter_xml_or_one_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(interlok_config(dir.path()).unwrap_err().why.contains("no adapter.xml"));
        std::fs::write(dir.path().join("adapter.xml"), "<adapter/>").unwrap();
        std::fs::write(dir.path().join("log4j2.xml"), "<Configuration/>").unwrap();
        std::fs::write(dir.path().join(".DS_Store"), "").unwrap();
        assert!(interlok_config(dir.path()).is_ok());
        assert!(interlok_config(&dir.path().join("adapter.xml")).is_ok());
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        assert!(interlok_config(dir.path()).unwrap_err().why.contains("notes.txt"));
        std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
        std::fs::write(dir.path().join("bootstrap.properties"), vec![b'x'; INTERLOK_CONFIG_MAX as usize]).unwrap();
        assert!(interlok_config(dir.path()).unwrap_err().why.contains("bytes"));
    }
}
