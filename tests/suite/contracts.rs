//! Contract tests: every kubectl and helm command the project builds is accepted by the real binaries (the
//! failure against a closed port is "cannot reach the cluster", never a usage error), and the version
//! parsers read the real binaries' output.

use std::net::TcpListener;
use std::process::Command;

use interlok_k8s::tools::{every_command, helm, kubectl};
use testworld::components;

fn closed_port_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: sample-context\n  context: {{cluster: c, user: u}}\ncurrent-context: sample-context\n"
    );
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

fn usage_error(text: &str) -> bool {
    [
        "unknown flag",
        "unknown command",
        "unknown shorthand",
        "requires at least",
        "accepts ",
        "invalid argument",
        "flag needs an argument",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

#[test]
fn every_command_is_accepted_by_the_real_kubectl_and_helm() {
    let real: Vec<(&str, std::path::PathBuf)> = [
        ("kubectl", components::require("kubectl 1.27", components::kubectl("1.27"))),
        ("kubectl", components::require("kubectl 1.33", components::kubectl("1.33"))),
        ("helm", components::require("helm v3", components::helm(3))),
        ("helm", components::require("helm v4", components::helm(4))),
    ]
    .into_iter()
    .filter_map(|(tool, path)| path.map(|p| (tool, p)))
    .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = closed_port_kubeconfig(dir.path());
    for cmd in every_command() {
        for (tool, binary) in real.iter().filter(|(tool, _)| *tool == cmd.program()) {
            let mut child = Command::new(binary)
                .args(cmd.arguments())
                .env("KUBECONFIG", &kubeconfig)
                .env("HOME", dir.path())
                .env("HELM_CONFIG_HOME", dir.path().join("helm"))
                .env("HELM_CACHE_HOME", dir.path().join("helm-cache"))
                .env("KUBECACHEDIR", dir.path().join("kcache"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run real binary");
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write;
                let _ = stdin.write_all(cmd.input().unwrap_or_default().as_bytes());
            }
            let output = child.wait_with_output().expect("wait for real binary");
            let text =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            assert!(!usage_error(&text), "{tool} ({}) rejects `{cmd}`:\n{text}", binary.display());
            if !output.status.success() {
                // a closed port, or (for repository commands, which need no cluster) an empty repository list
                let unreachable =
                    text.contains("refused") || text.contains("unreachable") || text.contains("no repositories");
                assert!(unreachable, "{tool} failed on `{cmd}` for another reason than the closed port:\n{text}");
            }
        }
    }
}

#[test]
fn version_parsers_read_the_real_binaries() {
    for minor in ["1.27", "1.30", "1.33"] {
        let Some(binary) = components::require(&format!("kubectl {minor}"), components::kubectl(minor)) else {
            continue;
        };
        let output = Command::new(&binary).args(["version", "--client", "-o", "json"]).output().expect("kubectl");
        let versions = kubectl::parse_versions(&String::from_utf8_lossy(&output.stdout)).expect("parses");
        assert_eq!(format!("{}.{}", versions.client.major, versions.client.minor), minor);
    }
    for major in [3, 4] {
        let Some(binary) = components::require(&format!("helm v{major}"), components::helm(major)) else { continue };
        let output = Command::new(&binary).args(["version", "--short"]).output().expect("helm");
        let version = helm::parse_short_version(&String::from_utf8_lossy(&output.stdout)).expect("parses");
        assert_eq!(version.major, major);
    }
}

#[test]
fn no_process_starts_outside_the_runner_and_no_shell_strings() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // unit tests may name shells
            let text = crate::support::product_code(&text);
            // runner.rs starts processes; supervise.rs is its other half (the lifeline that outlives nothing)
            let is_runner = path.ends_with("runner.rs") || path.ends_with("supervise.rs");
            for (n, line) in text.lines().enumerate() {
                let spawns = line.contains("Command::new(") || line.contains("duct::cmd");
                let shell = ["\"sh\"", "\"bash\"", "\"cmd\"", "\"-c\"", "\"/C\"", "\"-Command\""]
                    .iter()
                    .any(|s| line.contains(s));
                if (spawns && !is_runner) || shell {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "processes must start only in runner.rs, never through a shell:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_helm2_command_is_accepted_by_the_helm2_fake() {
    let Some(world) = testworld::world::World::builder().helm(2).start() else { return };
    for cmd in interlok_k8s::tools::helm2_commands() {
        let args: Vec<&str> = cmd.arguments().iter().map(String::as_str).collect();
        let run = world.run("helm", &args);
        assert!(!usage_error(&run.all()), "Helm 2 rejects `{cmd}`:\n{}", run.all());
    }
}

#[test]
fn a_repository_with_credentials_is_added_by_the_real_helm_3_and_4_with_the_password_from_stdin() {
    use std::sync::{Arc, Mutex};
    use testworld::http::{Reply, Response, Server};
    // a repository that answers only with the right Basic credentials, and remembers what it was sent
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let server = Server::start(Arc::new(move |request| {
        let given = request.header("authorization").and_then(|h| h.strip_prefix("Basic ")).unwrap_or_default();
        let decoded = interlok_k8s::base64::decode(given).map(|b| String::from_utf8_lossy(&b).into_owned());
        record.lock().unwrap().push(decoded.clone().unwrap_or_default());
        match decoded.as_deref() {
            Some("bob:p@ss w0rd") => {
                Reply::Full(Response::bytes(200, "text/yaml", b"apiVersion: v1\nentries: {}\n".to_vec()))
            }
            _ => Reply::Full(Response::bytes(401, "text/plain", b"unauthorized".to_vec())),
        }
    }))
    .expect("server");
    let url = format!("http://bob:p%40ss%20w0rd@{}/corp", server.addr);
    let cmd = helm::Helm::new("helm", None).repo_add("corp", &url, false);
    assert!(!cmd.arguments().iter().any(|a| a.contains("w0rd")), "{cmd}");
    for major in [3, 4] {
        let Some(binary) = components::require(&format!("helm v{major}"), components::helm(major)) else { continue };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(&binary)
            .args(cmd.arguments())
            .env("HOME", dir.path())
            .env("HELM_CONFIG_HOME", dir.path().join("helm"))
            .env("HELM_CACHE_HOME", dir.path().join("helm-cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("real helm");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(cmd.input().unwrap_or_default().as_bytes()).unwrap();
        }
        let output = child.wait_with_output().expect("helm");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "helm v{major} rejects `{cmd}`:\n{text}");
        assert_eq!(seen.lock().unwrap().last().map(String::as_str), Some("bob:p@ss w0rd"), "helm v{major}");
        assert!(!text.contains("w0rd"), "helm v{major} printed the password: {text}");
    }
}
