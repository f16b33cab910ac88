//! Interlok for real (issue #13): the world runs what each image holds, and the wizard knows it — the guide's
//! image pushes, a stock image is refused alone and warned about with a configuration of one's own, a user's
//! configuration is checked before anything is applied, mounted over the image's, and rolls the pods when it
//! changes; verify names the link that breaks.

use std::path::{Path, PathBuf};

use serde_json::Value;
use testworld::world::World;

use crate::monitoring::{healthy_world, monitoring_world, setup};
use crate::skeleton::mutating_calls;
use crate::support::{GUIDE_IMAGE, LONG, PRODUCT};

const STOCK_IMAGE: &str = "adaptris/interlok:snapshot";

/// An adapter.xml with one HTTP workflow: its consumer's path and its message-metrics interceptor's id, in
/// the 3.x form the guide's image uses (`<destination><destination>`) or the later `<path>`.
pub fn adapter_xml(path: &str, interceptor: &str, later_form: bool) -> String {
    let destination = if later_form {
        format!("<path>{path}</path>")
    } else {
        format!("<destination class=\"configured-consume-destination\"><destination>{path}</destination></destination>")
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<adapter>
  <unique-id>my-interlok</unique-id>
  <channel-list>
    <channel>
      <unique-id>http</unique-id>
      <consume-connection class="jetty-embedded-connection"/>
      <workflow-list>
        <standard-workflow>
          <unique-id>Inbound</unique-id>
          <consumer class="jetty-message-consumer">
            <unique-id>http-in</unique-id>
            {destination}
          </consumer>
          <producer class="jetty-standard-response-producer">
            <status-provider class="http-configured-status"><status>OK_200</status></status-provider>
          </producer>
          <message-metrics-interceptor>
            <unique-id>{interceptor}</unique-id>
          </message-metrics-interceptor>
        </standard-workflow>
      </workflow-list>
    </channel>
  </channel-list>
</adapter>
"#
    )
}

/// A configuration folder holding these files.
fn config_dir(world: &World, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = world.dir.join(name);
    std::fs::create_dir_all(&dir).expect("config folder");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("config file");
    }
    dir
}

fn path(dir: &Path) -> String {
    dir.display().to_string()
}

fn verify_json(world: &World, args: &[&str]) -> Value {
    let mut all = vec!["verify", "--json"];
    all.extend(args);
    let run = world.run(PRODUCT, &all);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.all()))
}

fn failures(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("id"), text("message"), text("hint"))
        })
        .collect()
}

/// The Interlok pods in the default namespace.
fn interlok_pods(world: &World) -> Vec<Value> {
    world.objects("", "pods").into_iter().filter(|p| p["metadata"]["labels"]["app"] == "interlok").collect()
}

/// Nothing was changed: no mutating command and no mutating API request.
fn nothing_applied(world: &World, what: &str) {
    assert_eq!(mutating_calls(world), Vec::<String>::new(), "{what}");
    assert!(world.mutating_requests().is_empty(), "{what}: {:?}", world.mutating_requests());
}

#[test]
fn default_setup_scales_one_to_two_under_demo_because_the_world_knows_the_guides_image() {
    let Some(world) = monitoring_world(4) else { return };
    let run = setup(&world, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("/in-box answers 200"), "{}", run.stdout);
    let pod = &interlok_pods(&world)[0];
    assert_eq!(pod["spec"]["containers"][0]["image"], GUIDE_IMAGE);
    let name = pod["metadata"]["name"].as_str().unwrap();
    let log = world.pod_log("default", name, "interlok").expect("log");
    assert!(log.contains("Bootstrap of Interlok 3.9-SNAPSHOT complete"), "the guide's Interlok booted:\n{log}");
    assert!(
        world.kubelet.interlok_pushes("default", name).iter().any(|p| p.contains(" MessageMetrics ")),
        "its pusher pushes MessageMetrics"
    );
    let demo = world.run(PRODUCT, &["--wait-timeout", "60s", "demo"]);
    assert_eq!(demo.code, 0, "{}", demo.all());
    assert!(demo.stdout.contains("sent 150 messages to /in-box"), "{}", demo.stdout);
    assert!(demo.stdout.contains("scaled 1 → 2"), "{}", demo.stdout);
}

#[test]
fn a_stock_image_alone_is_refused_before_any_change_with_the_reason_and_the_fix() {
    let Some(world) = World::builder().helm(4).start() else { return };
    for args in [
        &["--image", STOCK_IMAGE, "setup", "--yes"][..],
        &["setup", "--dry-run", "--image", STOCK_IMAGE],
        &["render", "--image", STOCK_IMAGE],
    ] {
        let run = world.run(PRODUCT, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(run.stderr.contains(&format!("--image {STOCK_IMAGE} is a stock Interlok image")), "{}", run.stderr);
        assert!(run.stderr.contains("no kubernetes-metrics pusher"), "the reason: {}", run.stderr);
        assert!(run.stderr.contains(&format!("`--image {GUIDE_IMAGE}`")), "the fix: {}", run.stderr);
        assert!(!run.stdout.contains("would run"), "nothing was planned: {}", run.stdout);
    }
    nothing_applied(&world, "a stock image alone");
}

#[test]
fn a_stock_image_with_a_configuration_serves_and_verify_blames_only_the_pusher() {
    let Some(world) = healthy_world() else { return }; // the chain works with the guide's image
                                                       // the user moves to a stock image, bringing the guide's workflow along
    let dir = config_dir(&world, "stock-config", &[("adapter.xml", &adapter_xml("/in-box", "MessageMetrics", false))]);
    let run = setup(&world, &["--image", STOCK_IMAGE, "--interlok-config", &path(&dir)]);
    assert!(
        run.stdout.contains(&format!("warning: {STOCK_IMAGE} is a stock Interlok image: it will serve /in-box")),
        "setup warns before it starts:\n{}",
        run.stdout
    );
    assert_eq!(run.code, 1, "the chain cannot work: {}", run.all());
    assert!(run.stderr.contains("error: interlok:") && run.stderr.contains("(interlok.pushes)"), "{}", run.stderr);
    let configmap = world.object("", "configmaps", "default", "interlok").expect("the configuration's ConfigMap");
    assert_eq!(configmap["metadata"]["labels"]["app.kubernetes.io/managed-by"], "interlok-k8s");

    let report = verify_json(&world, &[]);
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "only the pusher is blamed: {report:#}");
    let (id, message, hint) = &failed[0];
    assert_eq!(id, "interlok.pushes");
    assert!(message.contains("pushes to the pushgateway"), "said at once, with no push to wait for: {message}");
    assert!(message.contains(&format!("{STOCK_IMAGE} is a stock Interlok image")), "{message}");
    assert!(hint.contains(STOCK_IMAGE) && hint.contains(&format!("--image {GUIDE_IMAGE}`")), "{hint}");
    let in_box = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "interlok.in-box").unwrap();
    assert_eq!(in_box["status"], "ok", "the configuration serves /in-box on the stock image: {in_box}");
}

#[test]
fn a_configuration_with_its_own_metric_and_path_works_end_to_end_on_the_guides_image() {
    let Some(world) = monitoring_world(4) else { return };
    let dir = config_dir(&world, "orders", &[("adapter.xml", &adapter_xml("/orders", "Orders-Metrics", true))]);
    let ours = ["--metric", "OrdersMetrics", "--inbox-path", "/orders"];
    let run = setup(&world, &[&ours[..], &["--interlok-config", &path(&dir)]].concat());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("/orders answers 200"), "{}", run.stdout);
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    let mounts = &deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert_eq!(mounts[0]["mountPath"], "/opt/interlok/config/adapter.xml", "{mounts}");
    assert_eq!(mounts[0]["subPath"], "adapter.xml", "{mounts}");
    let pod = interlok_pods(&world)[0]["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        world.kubelet.interlok_pushes("default", &pod).iter().any(|p| p.contains(" OrdersMetrics ")),
        "the pod runs the mounted configuration: {:?}",
        world.kubelet.interlok_pushes("default", &pod)
    );

    // verify without the user's path and metric says what the configuration serves and pushes instead
    let report = verify_json(&world, &[]);
    let (id, message, hint) = failures(&report).into_iter().next().expect("a failure");
    assert_eq!(id, "interlok.in-box", "{report:#}");
    assert!(message.contains("the adapter.xml mounted over") && message.contains("consumes /orders"), "{message}");
    assert!(hint.contains("`interlok-k8s verify --inbox-path /orders`"), "{hint}");
    let report = verify_json(&world, &["--inbox-path", "/orders"]);
    let (id, message, hint) = failures(&report).into_iter().next().expect("a failure");
    assert_eq!(id, "interlok.pushes", "{report:#}");
    assert!(message.contains("Interlok pushes OrdersMetrics but not MessageMetrics"), "{message}");
    assert!(hint.contains("`interlok-k8s verify --metric OrdersMetrics`"), "{hint}");
    let report = verify_json(&world, &ours);
    assert_eq!(failures(&report), Vec::new(), "{report:#}");
    let demo = world.run(PRODUCT, &[&ours[..], &["--wait-timeout", "60s", "demo"]].concat());
    assert_eq!(demo.code, 0, "{}", demo.all());
    assert!(demo.stdout.contains("sent 150 messages to /orders"), "{}", demo.stdout);
    assert!(demo.stdout.contains("scaled 1 → 2"), "{}", demo.stdout);
}

#[test]
fn a_configuration_the_chain_cannot_use_is_refused_before_anything_is_applied() {
    let Some(world) = World::builder().helm(4).start() else { return };
    let broken = adapter_xml("/in-box", "MessageMetrics", false).replace("</channel-list>", "");
    let no_interceptor = adapter_xml("/in-box", "MessageMetrics", false)
        .replace("message-metrics-interceptor", "in-flight-workflow-interceptor");
    let cases = [
        ("malformed", broken, "adapter.xml is not well-formed XML: ", "(line 25, column 1)"),
        (
            "no-interceptor",
            no_interceptor,
            "has no message-metrics-interceptor:",
            "the autoscaler follows MessageMetrics",
        ),
        (
            "other-metric",
            adapter_xml("/in-box", "Orders-Metrics", false),
            "has no message-metrics-interceptor whose unique-id, with every '-' removed, is MessageMetrics",
            "interceptors found: Orders-Metrics (pushed as OrdersMetrics)",
        ),
        (
            "other-path",
            adapter_xml("/orders", "MessageMetrics", true),
            "has no jetty-message-consumer on /in-box",
            "its HTTP consumers: /orders",
        ),
    ];
    for (name, xml, what, detail) in cases {
        let dir = config_dir(&world, name, &[("adapter.xml", &xml)]);
        let file = path(&dir.join("adapter.xml"));
        for args in [&["setup", "--yes", "--interlok-config", &path(&dir)][..], &["render", "--interlok-config", &file]]
        {
            let run = world.run(PRODUCT, args);
            assert_eq!(run.code, 2, "{name} {args:?}: {}", run.all());
            assert!(run.stderr.contains(&format!("{file} ")), "{name}: names the file: {}", run.stderr);
            assert!(run.stderr.contains(what) && run.stderr.contains(detail), "{name}: {}", run.stderr);
            assert!(!run.stdout.contains("kind: Deployment"), "{name}: render printed nothing");
        }
    }
    nothing_applied(&world, "bad configurations");
}

#[test]
fn a_changed_configuration_rolls_the_pods_an_unchanged_one_changes_nothing_and_teardown_removes_it() {
    let Some(world) = monitoring_world(4) else { return };
    let xml = adapter_xml("/in-box", "MessageMetrics", false);
    let dir = config_dir(&world, "rolling", &[("adapter.xml", &xml)]);
    let flags = ["--interlok-config".to_string(), path(&dir)];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let first = setup(&world, &flags);
    assert_eq!(first.code, 0, "{}", first.all());
    let annotation = |pod: &Value| pod["metadata"]["annotations"]["interlok-k8s/config-checksum"].clone();
    let before: Vec<Value> = interlok_pods(&world);
    let old_names: Vec<Value> = before.iter().map(|p| p["metadata"]["name"].clone()).collect();
    let old_sum = annotation(&before[0]);
    assert!(old_sum.as_str().is_some_and(|s| s.starts_with("sha256:")), "{:#}", before[0]["metadata"]);

    world.clear_logs();
    let again = setup(&world, &flags);
    assert_eq!(again.code, 0, "{}", again.all());
    nothing_applied(&world, "an unchanged configuration");

    std::fs::write(dir.join("adapter.xml"), xml.replace("my-interlok", "my-interlok2")).expect("one byte more");
    let changed = setup(&world, &flags);
    assert_eq!(changed.code, 0, "{}", changed.all());
    assert!(changed.stdout.contains("changed since Deployment interlok got it"), "{}", changed.stdout);
    let configmap = world.object("", "configmaps", "default", "interlok").expect("configmap");
    assert!(configmap["data"]["adapter.xml"].as_str().unwrap().contains("my-interlok2"));
    let new_sum = annotation(&world.object("apps", "deployments", "default", "interlok").unwrap()["spec"]["template"]);
    assert_ne!(new_sum, old_sum);
    assert!(
        interlok_pods(&world).iter().any(|p| annotation(p) == new_sum && !old_names.contains(&p["metadata"]["name"])),
        "setup returned with a pod of the new configuration"
    );
    world.wait_until("the old pods to go", LONG, || {
        interlok_pods(&world).iter().all(|p| !old_names.contains(&p["metadata"]["name"]))
    });

    let teardown = world.run(PRODUCT, &["teardown", "--yes"]);
    assert_eq!(teardown.code, 0, "{}", teardown.all());
    assert!(world.object("", "configmaps", "default", "interlok").is_none(), "setup made it, teardown removes it");
}

#[test]
fn render_prints_the_config_map_and_the_mounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = adapter_xml("/in-box", "MessageMetrics", false);
    std::fs::write(dir.path().join("adapter.xml"), &xml).unwrap();
    std::fs::write(dir.path().join("bootstrap.properties"), "managementComponents=jmx:jetty:kubernetes-metrics\n")
        .unwrap();
    let output = std::process::Command::new(PRODUCT)
        .args(["render", "--interlok-config"])
        .arg(dir.path())
        .output()
        .expect("render");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let docs: Vec<&str> = stdout.split("---\n").filter(|d| !d.trim().is_empty()).collect();
    let doc = |file: &str| -> serde_yaml::Value {
        let text =
            docs.iter().find(|d| d.starts_with(&format!("# file: {file}\n"))).unwrap_or_else(|| panic!("{file}"));
        serde_yaml::from_str(text).expect("YAML")
    };
    let configmap = doc("interlok-configmap.yaml");
    assert_eq!(configmap["kind"], "ConfigMap");
    assert_eq!(configmap["metadata"]["name"], "interlok");
    assert_eq!(configmap["data"]["adapter.xml"].as_str(), Some(xml.as_str()));
    let deployment = doc("interlok-deployment.yaml");
    let pod = &deployment["spec"]["template"];
    let mounts: Vec<(&str, &str)> = pod["spec"]["containers"][0]["volumeMounts"]
        .as_sequence()
        .expect("mounts")
        .iter()
        .map(|m| (m["mountPath"].as_str().unwrap(), m["subPath"].as_str().unwrap()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/opt/interlok/config/adapter.xml", "adapter.xml"),
            ("/opt/interlok/config/bootstrap.properties", "bootstrap.properties")
        ]
    );
    assert_eq!(pod["spec"]["volumes"][0]["configMap"]["name"], "interlok");
    assert!(pod["metadata"]["annotations"]["interlok-k8s/config-checksum"].as_str().unwrap().starts_with("sha256:"));
    let plain = std::process::Command::new(PRODUCT).arg("render").output().expect("render");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ConfigMap"), "no configuration, no ConfigMap");
}

/// `setup --only interlok` with no Prometheus and nothing installing it: nothing can make the pushgateway
/// Service, so the stage says to install Prometheus at once instead of polling the cluster for it.
#[test]
fn interlok_alone_without_prometheus_says_to_install_it_without_waiting_for_it() {
    let Some(world) = World::builder().helm(4).with_charts().start() else { return };
    let run = world.run(PRODUCT, &["setup", "--yes", "--only", "interlok"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("`interlok-k8s setup --from prometheus`"), "{}", run.stderr);
    // a look is a `kubectl get` or a read through the run's `kubectl proxy`
    let by_kubectl = world
        .invocations()
        .iter()
        .filter(|i| i.tool == "kubectl" && i.args.first().is_some_and(|a| a == "get"))
        .filter(|i| i.args.get(1).is_some_and(|kinds| kinds.split(',').any(|k| k == "services")))
        .count();
    let by_proxy = world
        .requests()
        .iter()
        .filter(|r| r.proxied_read() && r.path == "/api/v1/namespaces/monitoring/services")
        .count();
    assert_eq!(by_kubectl + by_proxy, 1, "one look at the monitoring Services, no polling");
}
