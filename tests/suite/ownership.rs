//! Ownership and the record (issue #16, items 1 and 2): nothing the wizard did not make is changed, recorded
//! or removed; what it makes is recorded before it is made, in a private file that is never misread.

use serde_json::Value;
use testworld::world::World;

use crate::monitoring::{monitoring_world, repo_flags, setup};
use crate::skeleton::mutating_calls;
use crate::support::{ok, PRODUCT};

/// What `kubectl create ARGS…` makes, made as the user would (the fake API server reads JSON bodies, and
/// `kubectl create deployment|service …` sends protobuf).
pub fn users_own(world: &World, args: &[&str]) {
    let made = ok(world, "kubectl", &[&["create"], args, &["--dry-run=client", "-o", "json"]].concat());
    let file = world.dir.join(format!("users-{}.json", args.join("-").replace(['/', '='], "_")));
    std::fs::write(&file, made.stdout).unwrap();
    ok(world, "kubectl", &["create", "-f", &file.display().to_string()]);
}

/// The record file of the world's user.
pub fn record_path(world: &World) -> std::path::PathBuf {
    world.dir.join("config/interlok-k8s/record.json")
}

/// What the record says of the minikube context: (type, name, state).
pub fn recorded(world: &World) -> Vec<(String, String, String)> {
    let Ok(text) = std::fs::read_to_string(record_path(world)) else { return Vec::new() };
    let record: Value = serde_json::from_str(&text).expect("the record is JSON");
    record["contexts"]["minikube"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let kind = if e["type"] == "object" { text("kind") } else { text("type") };
            (kind, text("name"), text("state"))
        })
        .collect()
}

/// What a write would change: the spec, the labels and annotations (the status is the controllers').
fn unchanged(object: &Value) -> Value {
    let m = &object["metadata"];
    serde_json::json!([object["spec"], m["labels"], m["annotations"], m["generation"]])
}

/// issue #16: "A Deployment `interlok` and Service `interlok` that the user created before setup
/// (`kubectl create deployment interlok --image=nginx:1.25`) are overwritten, labelled
/// `app.kubernetes.io/managed-by: interlok-k8s`, recorded as created, and removed by `teardown`."
#[test]
fn a_users_own_deployment_and_service_are_never_changed_recorded_or_removed() {
    let Some(world) = monitoring_world(4) else { return };
    users_own(&world, &["deployment", "interlok", "--image=nginx:1.25"]);
    users_own(&world, &["service", "clusterip", "interlok", "--tcp=8080:80"]);
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("the user's Deployment");
    let service = world.object("", "services", "default", "interlok").expect("the user's Service");

    let run = setup(&world, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    for fragment in ["Deployment interlok in namespace default", "Service interlok in namespace default", "--adopt"] {
        assert!(run.stderr.contains(fragment), "the refusal does not name {fragment:?}:\n{}", run.stderr);
    }
    assert!(run.stdout.contains("✘ interlok"), "{}", run.stdout);
    let after = world.object("apps", "deployments", "default", "interlok").unwrap();
    assert_eq!(unchanged(&after), unchanged(&deployment), "not changed");
    assert_eq!(after["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25");
    let service_after = world.object("", "services", "default", "interlok").unwrap();
    assert_eq!(unchanged(&service_after), unchanged(&service));
    assert!(
        !recorded(&world).iter().any(|(kind, name, _)| name == "interlok" && kind != "namespace"),
        "never recorded: {:?}",
        recorded(&world)
    );

    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(world.object("apps", "deployments", "default", "interlok").is_some(), "teardown keeps it");
    assert!(world.object("", "services", "default", "interlok").is_some(), "teardown keeps it");
}

/// A Helm release of the same name that the user installed is someone else's too: setup stops before it
/// upgrades it, and teardown leaves it.
#[test]
fn a_users_own_release_is_never_upgraded_recorded_or_removed() {
    let Some(world) = monitoring_world(4) else { return };
    let repo = world.charts.as_ref().unwrap().repo_url("prometheus-community");
    ok(&world, "helm", &["repo", "add", "prometheus-community", &repo]);
    let install = ["upgrade", "--install", "prometheus", "prometheus-community/prometheus", "--version", "15.18.0"];
    ok(&world, "helm", &[&install[..], &["-n", "monitoring", "--create-namespace", "--wait"]].concat());
    let repos = repo_flags(&world);
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    args.extend(["setup", "--yes", "--only", "helm,prometheus"]);
    let run = world.run(PRODUCT, &args);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("Helm release prometheus in namespace monitoring already exists and is not the wizard's")
            && run.stderr.contains("--adopt"),
        "{}",
        run.stderr
    );
    let history = ok(&world, "helm", &["history", "prometheus", "-n", "monitoring", "-o", "json"]);
    assert_eq!(serde_json::from_str::<Value>(&history.stdout).unwrap().as_array().unwrap().len(), 1, "not upgraded");
    assert!(
        !recorded(&world).iter().any(|(kind, ..)| kind == "release" || kind == "namespace"),
        "{:?}",
        recorded(&world)
    );
    world.clear_logs();
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(!mutating_calls(&world).iter().any(|c| c.contains("uninstall")), "{:?}", mutating_calls(&world));
    assert_eq!(crate::recovery::releases(&world), [("prometheus".to_string(), "deployed".to_string())]);
}

/// What `setup --adopt` took over is recorded as adopted; teardown leaves it (saying how to remove it) —
/// here the record and the object are put as an adoption leaves them, without the flag.
#[test]
fn teardown_leaves_what_was_adopted() {
    let Some(world) = World::builder().helm(4).start() else { return };
    ok(&world, "kubectl", &["create", "configmap", "settings", "--from-literal=a=b"]);
    ok(&world, "kubectl", &["label", "configmap", "settings", "app.kubernetes.io/managed-by=interlok-k8s"]);
    std::fs::create_dir_all(record_path(&world).parent().unwrap()).unwrap();
    let entry =
        r#"{"type": "object", "kind": "configmap", "name": "settings", "namespace": "default", "state": "adopted"}"#;
    std::fs::write(record_path(&world), format!(r#"{{"contexts": {{"minikube": [{entry}]}}}}"#)).unwrap();
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(
        down.all().contains("kept configmap settings in default") && down.all().contains("--include-adopted"),
        "{}",
        down.all()
    );
    assert!(world.object("", "configmaps", "default", "settings").is_some());
}

/// issue #16: "a truncated `record.json` silently read as empty". It is an error naming the file and the
/// way out, for setup (before anything changes) and for teardown; the file is private to the user.
#[test]
fn a_damaged_record_is_an_error_naming_the_file_and_the_record_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let Some(world) = World::builder().helm(4).with_charts().start() else { return };
    let repos = repo_flags(&world);
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    args.extend(["setup", "--yes", "--only", "helm"]);
    assert_eq!(world.run(PRODUCT, &args).code, 0);
    let path = record_path(&world);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700), "private to the user");
    assert!(recorded(&world).contains(&("repository".into(), "prometheus-community".into(), "created".into())));

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    ok(&world, "helm", &["repo", "remove", "prometheus-community"]);
    world.clear_logs();
    let run = world.run(PRODUCT, &args);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains(&path.display().to_string()) && run.stderr.contains("--from-labels"), "{}", run.stderr);
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "nothing is made that could not be recorded");
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 1, "{}", down.all());
    assert!(down.stderr.contains(&path.display().to_string()), "{}", down.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text[..text.len() / 2], "left for the user to look at");
}

/// issue #16: "two setups on two contexts at once (last writer wins)". Both runs' records survive.
#[test]
fn two_setups_on_two_contexts_at_once_are_both_recorded() {
    let Some(world) = monitoring_world(4) else { return };
    let repos = repo_flags(&world);
    let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
    args.extend(["setup", "--yes", "--only", "helm,prometheus"]);
    assert_eq!(world.run(PRODUCT, &args).code, 0);
    ok(&world, "kubectl", &["config", "set-context", "other", "--cluster=minikube", "--user=minikube"]);
    let runs: Vec<std::process::Child> =
        [["--context", "minikube", "--namespace", "team-a"], ["--context", "other", "--namespace", "team-b"]]
            .iter()
            .map(|global| {
                let mut args: Vec<&str> = repos.iter().map(String::as_str).collect();
                args.extend(global);
                args.extend(["--wait-timeout", "60s", "setup", "--yes", "--only", "interlok"]);
                let mut command = world.command(PRODUCT, &args);
                command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
                command.spawn().expect("setup")
            })
            .collect();
    for run in runs {
        let output = run.wait_with_output().expect("wait");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let record: Value = serde_json::from_str(&std::fs::read_to_string(record_path(&world)).unwrap()).unwrap();
    for (context, namespace) in [("minikube", "team-a"), ("other", "team-b")] {
        let entries = record["contexts"][context].to_string();
        for made in [
            format!("\"namespace\":\"{namespace}\""),
            "\"kind\":\"deployment\"".to_string(),
            "\"kind\":\"service\"".to_string(),
        ] {
            assert!(entries.contains(&made), "{context} lost {made}: {record}");
        }
    }
    assert!(
        record["contexts"]["minikube"].to_string().contains("\"type\":\"release\""),
        "the earlier run's entries too"
    );
}

/// `setup --adopt` takes over the user's objects, labels them, records them as adopted; teardown keeps them
/// unless `--include-adopted`.
#[test]
fn adopt_takes_over_and_teardown_keeps_it_unless_included() {
    let Some(world) = World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(Default::default())
        .image("nginx", testworld::images::Image::other(&[80]))
        .start()
    else {
        return;
    };
    users_own(&world, &["deployment", "interlok", "--image=nginx:1.25"]);
    let run = setup(&world, &["--adopt"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("adopted Deployment interlok in namespace default"), "{}", run.all());
    let deployment = world.object("apps", "deployments", "default", "interlok").unwrap();
    assert_eq!(deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"], "interlok-k8s");
    assert_eq!(deployment["metadata"]["annotations"]["interlok-k8s/adopted"], "true");
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "taken over, not merged with the user's container: {containers:?}");
    assert_eq!(containers[0]["name"], "interlok");
    assert!(recorded(&world).contains(&("deployment".into(), "interlok".into(), "adopted".into())));
    assert!(recorded(&world).contains(&("service".into(), "interlok".into(), "created".into())));
    world.clear_logs();
    assert_eq!(setup(&world, &["--adopt"]).code, 0, "a rerun");
    assert_eq!(mutating_calls(&world), Vec::<String>::new(), "converged: what was adopted is the wizard's now");
    let down = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(world.object("apps", "deployments", "default", "interlok").is_some(), "adopted: kept");
    assert!(world.object("", "services", "default", "interlok").is_none(), "made by the wizard: removed");
    let all = world.run(PRODUCT, &["teardown", "--yes", "--include-adopted"]);
    assert_eq!(all.code, 0, "{}", all.all());
    assert!(world.object("apps", "deployments", "default", "interlok").is_none());
}

/// With the record lost, `teardown --from-labels` finds what the wizard made by its labels (releases by
/// Helm's own labels) and removes exactly that.
#[test]
fn teardown_from_labels_removes_the_wizards_things_when_the_record_is_lost() {
    let Some(world) = monitoring_world(4) else { return };
    ok(&world, "kubectl", &["create", "configmap", "mine", "--from-literal=a=b"]);
    assert_eq!(setup(&world, &[]).code, 0);
    std::fs::write(record_path(&world), "{\"contexts\": {").unwrap();
    let refused = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    let down = world.run(PRODUCT, &["teardown", "--yes", "--from-labels"]);
    assert_eq!(down.code, 0, "{}", down.all());
    crate::recovery::nothing_left(&world, &["monitoring"], "teardown --from-labels");
    assert!(world.object("", "configmaps", "default", "mine").is_some(), "the user's own stays");
}

/// Every object a stage writes goes through `stages/owned.rs` (ownership asked, intent recorded): a stage
/// added later cannot `kubectl apply` around it. Helm 2's tiller RBAC (kube-system, recorded as tiller) is the
/// one exception.
#[test]
fn every_kubectl_write_of_a_stage_goes_through_the_ownership_helper() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let code = crate::support::product_code(&text);
            for (n, line) in code.lines().enumerate() {
                let writes =
                    [".apply(", ".replace(", "\"apply\"", "\"replace\"", "\"create\"", "\"patch\"", "\"label\""]
                        .iter()
                        .any(|w| line.contains(w));
                let kubectl = line.contains("kubectl") || line.contains("self.change(");
                // the tools build the commands (and list them for the contract tests); they decide nothing
                let allowed = path.ends_with("stages/owned.rs")
                    || path.parent().is_some_and(|d| d.ends_with("src/tools"))
                    || line.contains("TILLER_RBAC");
                if writes && kubectl && !allowed {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "write objects through stages::owned::apply:\n{}", found.join("\n"));
}
