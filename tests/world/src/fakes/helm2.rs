//! Helm v2.17.0 with tiller semantics: v2 flags (`--name`, `--namespace`, integer `--timeout`, no
//! `--create-namespace`), `version` printing `Client:` then `Server:` only while a tiller pod is ready (else
//! "could not find tiller"), `init` creating tiller-deploy in kube-system, releases kept as tiller's
//! ConfigMaps (OWNER=TILLER). Charts are rendered by the real Helm 3 (`template`) and applied by the real
//! kubectl, so what lands in the cluster is what the chart says.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::flags::{self, Parsed};
use super::Env;

const VERSION: &str = "v2.17.0+ga690bad";
const GLOBAL: &[(&str, bool)] =
    &[("kube-context", true), ("tiller-namespace", true), ("home", true), ("debug", false), ("host", true)];

fn api(env: &Env) -> Option<String> {
    let kubeconfig = std::env::var("KUBECONFIG").ok()?;
    let text = std::fs::read_to_string(kubeconfig).ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server: ").map(|s| s.trim().to_string()))
        .filter(|_| !env.dir.as_os_str().is_empty())
}

fn get(url: &str) -> Option<Value> {
    ureq::get(url).call().ok()?.into_json().ok()
}

fn tiller_ready(env: &Env) -> bool {
    let Some(base) = api(env) else { return false };
    get(&format!("{base}/apis/apps/v1/namespaces/kube-system/deployments/tiller-deploy"))
        .is_some_and(|d| d["status"]["readyReplicas"].as_u64().unwrap_or(0) > 0)
}

fn usage(message: &str) -> i32 {
    eprintln!("Error: {message}");
    1
}

pub fn run(env: &Env, args: &[String]) -> i32 {
    let (command, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => return usage("helm requires a command"),
    };
    let spec: Vec<(&str, bool)> = match command {
        "version" => {
            vec![("c", false), ("client", false), ("s", false), ("server", false), ("short", false), ("template", true)]
        }
        "init" => vec![
            ("service-account", true),
            ("stable-repo-url", true),
            ("wait", false),
            ("upgrade", false),
            ("client-only", false),
            ("c", false),
        ],
        "repo" => vec![],
        "upgrade" => vec![
            ("install", false),
            ("i", false),
            ("version", true),
            ("namespace", true),
            ("f", true),
            ("values", true),
            ("set", true),
            ("wait", false),
            ("timeout", true),
        ],
        "install" => vec![
            ("name", true),
            ("n", true),
            ("version", true),
            ("namespace", true),
            ("f", true),
            ("values", true),
            ("set", true),
            ("wait", false),
            ("timeout", true),
        ],
        "status" => vec![],
        "list" | "ls" => vec![("all", false), ("a", false), ("namespace", true)],
        "delete" => vec![("purge", false)],
        "reset" => vec![("force", false)],
        other => {
            env.log("helm", args, Vec::new(), None);
            return usage(&format!("unknown command \"{other}\" for \"helm\""));
        }
    };
    let all: Vec<(&str, bool)> = spec.iter().chain(GLOBAL.iter()).copied().collect();
    let parsed = match flags::parse(rest, &all) {
        Ok(p) => p,
        Err(e) => {
            env.log("helm", args, vec![("error".into(), e.clone())], None);
            return usage(&e);
        }
    };
    env.log("helm", args, parsed.flags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), None);
    match command {
        "version" => version(env, &parsed),
        "init" => init(env, &parsed),
        "repo" => repo(env, &parsed),
        "upgrade" | "install" => install(env, command, &parsed),
        "status" => status(env, &parsed),
        "list" | "ls" => list(env),
        _ => usage("not supported by the test world's Helm 2"),
    }
}

fn version(env: &Env, parsed: &Parsed) -> i32 {
    let short = parsed.flags.contains_key("short");
    let client_only = parsed.flags.contains_key("c") || parsed.flags.contains_key("client");
    let line = |who: &str| {
        if short {
            format!("{who}: {VERSION}")
        } else {
            format!("{who}: &version.Version{{SemVer:\"v2.17.0\", GitCommit:\"a690bad98af45b015bd3da1a41f6218b1a451dbe\", GitTreeState:\"clean\"}}")
        }
    };
    println!("{}", line("Client"));
    if client_only {
        return 0;
    }
    if tiller_ready(env) {
        println!("{}", line("Server"));
        0
    } else {
        usage("could not find tiller")
    }
}

fn repositories(env: &Env) -> Vec<(String, String)> {
    std::fs::read_to_string(env.dir.join("helm2-repositories.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_repositories(env: &Env, repos: &[(String, String)]) {
    let _ = std::fs::write(env.dir.join("helm2-repositories.json"), serde_json::to_string(repos).expect("json"));
}

fn init(env: &Env, parsed: &Parsed) -> i32 {
    let stable = parsed.flags.get("stable-repo-url").cloned().unwrap_or_else(|| "https://charts.helm.sh/stable".into());
    let mut repos = repositories(env);
    if !repos.iter().any(|(n, _)| n == "stable") {
        repos.push(("stable".into(), stable));
        save_repositories(env, &repos);
    }
    println!("$HELM_HOME has been configured at {}/.helm.", std::env::var("HOME").unwrap_or_default());
    if parsed.flags.contains_key("client-only") {
        return 0;
    }
    let Some(base) = api(env) else { return usage("Kubernetes cluster unreachable") };
    let account = parsed.flags.get("service-account").cloned().unwrap_or_else(|| "default".into());
    let labels = json!({"app": "helm", "name": "tiller"});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "tiller-deploy", "namespace": "kube-system", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"serviceAccountName": account,
                                       "containers": [{"name": "tiller", "image": "ghcr.io/helm/tiller:v2.17.0", "ports": [{"containerPort": 44134, "name": "tiller"}]}]}}}});
    let created = ureq::post(&format!("{base}/apis/apps/v1/namespaces/kube-system/deployments")).send_json(deployment);
    match created {
        Ok(_) => println!("Tiller (the Helm server-side component) has been installed into your Kubernetes Cluster."),
        Err(ureq::Error::Status(409, _)) => println!("Warning: Tiller is already installed in the cluster."),
        Err(e) => return usage(&format!("error installing: {e}")),
    }
    if parsed.flags.contains_key("wait") && !wait_for(env, tiller_ready) {
        return usage("tiller was not found. polling deadline exceeded");
    }
    0
}

/// Polls (bounded) with a short backoff, as Helm's own waits do.
fn wait_for(env: &Env, ready: impl Fn(&Env) -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut pause = std::time::Duration::from_millis(50);
    while std::time::Instant::now() < deadline {
        if ready(env) {
            return true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(500));
    }
    false
}

fn repo(env: &Env, parsed: &Parsed) -> i32 {
    let words: Vec<&str> = parsed.positional.iter().map(String::as_str).collect();
    let mut repos = repositories(env);
    match words.as_slice() {
        ["add", name, url] => {
            repos.retain(|(n, _)| n != name);
            repos.push((name.to_string(), url.to_string()));
            save_repositories(env, &repos);
            println!("\"{name}\" has been added to your repositories");
            0
        }
        ["list"] => {
            println!("NAME  \tURL");
            for (n, u) in &repos {
                println!("{n}\t{u}");
            }
            0
        }
        ["update"] => {
            println!("Hang tight while we grab the latest from your chart repositories...\nUpdate Complete.");
            0
        }
        _ => usage("unknown repo command"),
    }
}

fn releases_url(base: &str) -> String {
    format!("{base}/api/v1/namespaces/kube-system/configmaps")
}

fn find_release(env: &Env, name: &str) -> Option<Value> {
    let base = api(env)?;
    get(&format!("{}/{name}.v1", releases_url(&base)))
}

fn install(env: &Env, command: &str, parsed: &Parsed) -> i32 {
    if !tiller_ready(env) {
        return usage("could not find a ready tiller pod");
    }
    let (name, chart) = if command == "install" {
        let Some(name) = parsed.flags.get("name").or(parsed.flags.get("n")).cloned() else {
            return usage("a release name is required (--name)");
        };
        (name, parsed.positional.first().cloned().unwrap_or_default())
    } else {
        if !parsed.flags.contains_key("install")
            && !parsed.flags.contains_key("i")
            && find_release(env, parsed.positional.first().map(String::as_str).unwrap_or("")).is_none()
        {
            return usage("\"release\" has no deployed releases");
        }
        (parsed.positional.first().cloned().unwrap_or_default(), parsed.positional.get(1).cloned().unwrap_or_default())
    };
    if let Some(timeout) = parsed.flags.get("timeout") {
        if timeout.parse::<u64>().is_err() {
            return usage(&format!("invalid argument \"{timeout}\" for \"--timeout\" flag: strconv.ParseInt: parsing \"{timeout}\": invalid syntax"));
        }
    }
    let namespace = parsed.flags.get("namespace").cloned().unwrap_or_else(|| "default".into());
    let Some((repo, chart_name)) = chart.split_once('/') else { return usage(&format!("chart \"{chart}\" not found")) };
    let Some((_, repo_url)) = repositories(env).into_iter().find(|(n, _)| n == repo) else {
        return usage(&format!("repo {repo} not found"));
    };
    let version = parsed.flags.get("version").cloned().unwrap_or_default();
    let tgz = format!("{repo_url}/{chart_name}-{version}.tgz");
    let values = match parsed.flags.get("f").or(parsed.flags.get("values")) {
        Some(file) if file == "-" => {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
            text
        }
        Some(file) => std::fs::read_to_string(file).unwrap_or_default(),
        None => String::new(),
    };
    let values_file = env.dir.join(format!("helm2-{name}-values.yaml"));
    let _ = std::fs::write(&values_file, &values);
    let Some(renderer) = env.config.real.get("helm3-renderer") else {
        return usage("the world has no Helm 3 to render charts with");
    };
    let rendered = Command::new(renderer)
        .args(["template", &name, &tgz, "--namespace", &namespace, "-f"])
        .arg(&values_file)
        .output();
    let Some(rendered) = rendered.ok().filter(|o| o.status.success()) else {
        return usage(&format!("chart \"{chart_name}\" version \"{version}\" not found in {repo_url}"));
    };
    let Some(kubectl) = env.config.real.get("kubectl") else { return usage("the world has no kubectl") };
    let _ = Command::new(kubectl)
        .args(["create", "namespace", &namespace])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let mut apply = Command::new(kubectl)
        .args(["apply", "-n", &namespace, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    let _ = apply.stdin.take().expect("stdin").write_all(&rendered.stdout);
    let applied = apply.wait_with_output().expect("kubectl apply");
    if !applied.status.success() {
        return usage(&format!("release {name} failed: {}", String::from_utf8_lossy(&applied.stderr)));
    }
    record_release(env, &name, &namespace, &format!("{chart_name}-{version}"));
    if parsed.flags.contains_key("wait") && !wait_for(env, |env| deployments_ready(env, &namespace)) {
        return usage(&format!("release {name} failed: timed out waiting for the condition"));
    }
    println!("Release \"{name}\" has been upgraded. Happy Helming!\nLAST DEPLOYED: now\nNAMESPACE: {namespace}\nSTATUS: DEPLOYED");
    0
}

fn deployments_ready(env: &Env, namespace: &str) -> bool {
    let Some(base) = api(env) else { return false };
    get(&format!("{base}/apis/apps/v1/namespaces/{namespace}/deployments")).is_some_and(|list| {
        list["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|d| d["status"]["availableReplicas"].as_u64().unwrap_or(0) > 0))
    })
}

fn record_release(env: &Env, name: &str, namespace: &str, chart: &str) {
    let Some(base) = api(env) else { return };
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}.v1"), "namespace": "kube-system",
                     "labels": {"OWNER": "TILLER", "NAME": name, "STATUS": "DEPLOYED", "VERSION": "1"}},
        "data": {"release": format!("{{\"chart\": \"{chart}\", \"namespace\": \"{namespace}\"}}")}});
    let _ = ureq::post(&releases_url(&base)).send_json(configmap);
}

fn status(env: &Env, parsed: &Parsed) -> i32 {
    if !tiller_ready(env) {
        return usage("could not find a ready tiller pod");
    }
    let name = parsed.positional.first().cloned().unwrap_or_default();
    match find_release(env, &name) {
        Some(release) => {
            let data: Value =
                serde_json::from_str(release["data"]["release"].as_str().unwrap_or("{}")).unwrap_or_default();
            println!(
                "LAST DEPLOYED: {}\nNAMESPACE: {}\nSTATUS: DEPLOYED",
                release["metadata"]["creationTimestamp"].as_str().unwrap_or(""),
                data["namespace"].as_str().unwrap_or("")
            );
            0
        }
        None => usage(&format!("getting deployed release \"{name}\": release: \"{name}\" not found")),
    }
}

fn list(env: &Env) -> i32 {
    let Some(base) = api(env) else { return usage("Kubernetes cluster unreachable") };
    println!("NAME\tREVISION\tSTATUS\tCHART\tNAMESPACE");
    if let Some(list) = get(&format!("{}?labelSelector=OWNER%3DTILLER", releases_url(&base))) {
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            let data: Value =
                serde_json::from_str(item["data"]["release"].as_str().unwrap_or("{}")).unwrap_or_default();
            println!(
                "{}\t1\tDEPLOYED\t{}\t{}",
                item["metadata"]["labels"]["NAME"].as_str().unwrap_or(""),
                data["chart"].as_str().unwrap_or(""),
                data["namespace"].as_str().unwrap_or("")
            );
        }
    }
    0
}
