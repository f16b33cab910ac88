//! The test world's self-test: real kubectl (1.27 and 1.33) and real helm v4 against the fake API server,
//! real Prometheus and Pushgateway, the stand-in Interlok and the adapter and HPA emulation, and the node's
//! reading of what is inside each image (the catalogue, mounted ConfigMaps, pull and mount failures, logs).

use serde_json::{json, Value};
use testworld::interlok::InterlokOptions;
use testworld::prom::PromOptions;
use testworld::world::{http_get, PortForward, World};

use crate::support::{
    install_monitoring, interlok_3_12, interlok_manifest, interlok_manifest_with, ok, GUIDE_IMAGE, INTERLOK_3_12, LONG,
};

fn rollout_with(kubectl: &str) {
    let Some(world) = World::builder().kubectl(kubectl).without_helm().start() else {
        return;
    };
    let manifest = interlok_manifest(&world, "nowhere:9091", "K8S_NAMESPACE");
    let applied = ok(&world, "kubectl", &["apply", "-f", &manifest]);
    assert!(applied.stdout.contains("deployment.apps/interlok created"), "{}", applied.all());
    let status = ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    assert!(status.stdout.contains("successfully rolled out"), "{}", status.all());
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    assert_eq!(deployment["status"]["availableReplicas"], 1);
    let again = ok(&world, "kubectl", &["apply", "-f", &manifest]);
    assert!(again.stdout.contains("deployment.apps/interlok unchanged"), "{}", again.all());
}

#[test]
fn kubectl_1_27_applies_and_rolls_out() {
    rollout_with("1.27");
}

#[test]
fn kubectl_1_33_applies_and_rolls_out() {
    rollout_with("1.33");
}

/// helm v4 installs Prometheus with --wait, `helm status` says deployed, and a port-forward made by this kubectl
/// reaches the real Prometheus.
fn helm4_and_port_forward_with(kubectl: &str) {
    let Some(world) =
        World::builder().kubectl(kubectl).helm(4).with_charts().with_prometheus(PromOptions::default()).start()
    else {
        return;
    };
    install_monitoring(&world, None);
    let status = ok(&world, "helm", &["status", "prometheus", "-n", "monitoring"]);
    assert!(status.stdout.contains("STATUS: deployed"), "{}", status.all());
    let forward =
        PortForward::start(&world, &["-n", "monitoring", "svc/prometheus-server", ":80"]).expect("port-forward");
    let (code, body) = http_get(&forward.url("/api/v1/status/buildinfo")).expect("prometheus answers");
    assert_eq!(code, 200);
    let info: Value = serde_json::from_str(&body).expect("json");
    let real = world.prom.as_ref().expect("prom");
    let (_, direct) = http_get(&format!("{}/api/v1/status/buildinfo", real.prometheus_url())).expect("direct");
    assert_eq!(info, serde_json::from_str::<Value>(&direct).expect("json"), "the port-forward reaches the real server");
}

#[test]
fn helm4_installs_prometheus_and_kubectl_1_27_port_forwards_to_it() {
    helm4_and_port_forward_with("1.27");
}

#[test]
fn helm4_installs_prometheus_and_kubectl_1_33_port_forwards_to_it() {
    helm4_and_port_forward_with("1.33");
}

#[test]
fn kubectl_1_27_port_forwards_too() {
    let Some(world) = World::builder().kubectl("1.27").without_helm().with_prometheus(PromOptions::default()).start()
    else {
        return;
    };
    let manifest = interlok_manifest(&world, "nowhere:9091", "K8S_NAMESPACE");
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    let forward = PortForward::start(&world, &["svc/interlok", ":8080"]).expect("port-forward");
    for _ in 0..3 {
        let (code, _) = http_get(&forward.url("/in-box")).expect("in-box answers");
        assert_eq!(code, 200);
    }
    assert_eq!(world.interlok_requests(), 3);
}

/// Deploys Interlok (`image`) configured as today's wizard does, sends 150 messages through a port-forward,
/// and returns the world for assertions on the custom metrics API and the HPA.
fn chain(image: &str, adapter_values: &str) -> Option<(World, String)> {
    let options =
        InterlokOptions { push_interval: std::time::Duration::from_millis(300), ..InterlokOptions::default() };
    let world = World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(PromOptions::default())
        .interlok(options)
        .image(INTERLOK_3_12, interlok_3_12())
        .start()?;
    install_monitoring(&world, Some(adapter_values));
    let manifest = interlok_manifest_with(
        &world,
        image,
        "prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091",
        "K8S_NAMESPACE",
    );
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    let forward = PortForward::start(&world, &["svc/interlok", ":8080"]).expect("port-forward");
    for _ in 0..150 {
        assert_eq!(http_get(&forward.url("/in-box")).expect("in-box").0, 200);
    }
    let pod = world.kubelet.interlok_pods()[0].1.clone();
    let series = if image.starts_with(INTERLOK_3_12) { "MessageMetrics_total" } else { "MessageMetrics" };
    let prom = world.prom.as_ref().expect("prom");
    let query = format!("{series}{{k8s_namespace=\"default\",k8s_pod_name=\"{pod}\"}} == 150");
    world.wait_until("the 150 messages to reach Prometheus", LONG, || prom.query(&query).len() == 1);
    Some((world, pod))
}

#[test]
fn the_wizard_rule_exposes_the_pods_value_and_the_hpa_wants_two_replicas() {
    let Some((world, pod)) = chain(&format!("{INTERLOK_3_12}:latest"), "adapter-values-wizard.yaml") else {
        return;
    };
    let raw = ok(
        &world,
        "kubectl",
        &["get", "--raw", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/*/MessageMetrics"],
    );
    let list: Value = serde_json::from_str(&raw.stdout).expect("MetricValueList");
    assert_eq!(list["kind"], "MetricValueList");
    assert_eq!(list["items"][0]["describedObject"]["name"], pod.as_str());
    assert_eq!(list["items"][0]["value"], "150");
    world.wait_until("the HPA to want 2 replicas", LONG, || {
        world
            .object("autoscaling", "horizontalpodautoscalers", "default", "interlok")
            .is_some_and(|h| h["status"]["desiredReplicas"] == 2)
    });
}

#[test]
fn the_2019_rule_over_a_total_series_finds_nothing_as_the_real_adapter_would() {
    let Some((world, _)) = chain(&format!("{INTERLOK_3_12}:latest"), "adapter-values-2019.yaml") else {
        return;
    };
    let raw = world.run(
        "kubectl",
        &["get", "--raw", "/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/*/MessageMetrics"],
    );
    assert_eq!(raw.code, 1, "{}", raw.all());
    assert!(raw.stderr.contains("NotFound"), "{}", raw.stderr);
    let hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "interlok").expect("hpa");
    assert_ne!(hpa["status"]["desiredReplicas"], 2);
}

const PUSHGATEWAY: &str = "prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091";
const STOCK_IMAGE: &str = "adaptris/interlok:snapshot";

/// A world with the monitoring chart installed (its pushgateway is what Interlok pushes to), fast pushes.
fn pushing_world() -> Option<World> {
    let options =
        InterlokOptions { push_interval: std::time::Duration::from_millis(200), ..InterlokOptions::default() };
    let world =
        World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).interlok(options).start()?;
    install_monitoring(&world, None);
    Some(world)
}

/// A Deployment `name` with one Interlok container as the wizard deploys it (`java_opts` None: no JAVA_OPTS).
fn deployment(name: &str, image: &str, java_opts: Option<&str>) -> Value {
    let mut env = vec![
        json!({"name": "K8S_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": "K8S_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
    ];
    if let Some(opts) = java_opts {
        env.insert(0, json!({"name": "JAVA_OPTS", "value": opts}));
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "interlok", "image": image,
                                                          "ports": [{"containerPort": 8080}], "env": env}]}}}})
}

fn pushing(name: &str, image: &str) -> Value {
    deployment(name, image, Some(&format!("-DprometheusEndpointUrl={PUSHGATEWAY} -Dnetworkaddress.cache.ttl=30")))
}

/// Mounts ConfigMap `configmap` into the Deployment's container: each file by `subPath`, or (no files) the whole
/// map over /opt/interlok/config.
fn with_config(mut deployment: Value, configmap: &str, files: &[&str]) -> Value {
    let spec = &mut deployment["spec"]["template"]["spec"];
    spec["volumes"] = json!([{"name": "config", "configMap": {"name": configmap}}]);
    spec["containers"][0]["volumeMounts"] = if files.is_empty() {
        json!([{"name": "config", "mountPath": "/opt/interlok/config"}])
    } else {
        Value::Array(
            files
                .iter()
                .map(|f| json!({"name": "config", "mountPath": format!("/opt/interlok/config/{f}"), "subPath": f}))
                .collect(),
        )
    };
    deployment
}

fn configmap(name: &str, files: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = files.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

/// `kubectl apply` of these objects (as one JSON List).
fn apply(world: &World, objects: &[Value]) {
    let path = world.dir.join(format!("objects-{}.json", objects.len() + world.requests().len()));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&path, list.to_string()).expect("write objects");
    ok(world, "kubectl", &["apply", "-f", &path.display().to_string()]);
}

/// The pod of a Deployment (waits for it to exist).
fn pod_of(world: &World, app: &str) -> Value {
    let mut found = None;
    world.wait_until(&format!("a pod of {app}"), LONG, || {
        found = world.objects("", "pods").into_iter().find(|p| p["metadata"]["labels"]["app"] == app);
        found.is_some()
    });
    found.expect("pod")
}

/// Why the pod's container waits, as kubectl reads it.
fn waiting_reason(world: &World, pod: &str) -> String {
    let jsonpath = "-o=jsonpath={.status.containerStatuses[0].state.waiting.reason}";
    ok(world, "kubectl", &["get", "pod", pod, jsonpath]).stdout
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"].as_str().expect("name").to_string()
}

fn rolled_out(world: &World, app: &str) -> String {
    ok(world, "kubectl", &["rollout", "status", &format!("deployment/{app}"), "--timeout=60s"]);
    name(&pod_of(world, app))
}

/// Each pushgateway group's `k8s_pod_name`.
fn pushed_pods(world: &World) -> Vec<String> {
    let prom = world.prom.as_ref().expect("prom");
    let (_, body) = http_get(&format!("{}/api/v1/metrics", prom.pushgateway_url())).expect("pushgateway answers");
    let groups: Value = serde_json::from_str(&body).expect("json");
    groups["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["labels"]["k8s_pod_name"].as_str().map(String::from))
        .collect()
}

/// Waits until the control pod has pushed `n` more times: by then any other Interlok's pusher had as many
/// chances to push.
fn wait_for_pushes(world: &World, control: &str, n: usize) {
    let before = world.kubelet.interlok_pushes("default", control).len();
    world.wait_until(&format!("{n} more pushes from {control}"), LONG, || {
        world.kubelet.interlok_pushes("default", control).len() >= before + n
    });
}

fn send(world: &World, pod: &str, path: &str, n: usize) -> Vec<u16> {
    let forward = PortForward::start(world, &[&format!("pod/{pod}"), ":8080"]).expect("port-forward");
    (0..n).map(|_| http_get(&forward.url(path)).expect("Interlok answers").0).collect()
}

#[test]
fn the_stock_image_answers_404_on_in_box_and_never_pushes_while_the_guides_image_does_both() {
    let Some(world) = pushing_world() else { return };
    apply(&world, &[pushing("stock", STOCK_IMAGE), pushing("guide", GUIDE_IMAGE)]);
    let (stock, guide) = (rolled_out(&world, "stock"), rolled_out(&world, "guide"));
    assert_eq!(send(&world, &stock, "/in-box", 3), [404; 3], "the stock adapter.xml has no channel");
    assert_eq!(send(&world, &guide, "/in-box", 5), [200; 5]);
    let prom = world.prom.as_ref().expect("prom");
    let query = format!("MessageMetrics{{k8s_namespace=\"default\",k8s_pod_name=\"{guide}\"}} == 5");
    world.wait_until("the guide's 5 messages in Prometheus", LONG, || prom.query(&query).len() == 1);
    wait_for_pushes(&world, &guide, 3);
    assert!(!pushed_pods(&world).contains(&stock), "the stock image pushed: {:?}", pushed_pods(&world));
    let log = ok(&world, "kubectl", &["logs", "deploy/stock"]).stdout;
    assert!(log.contains("Bootstrap of Interlok") && log.contains("Adapter(MyInterlokInstance) Started"), "{log}");
    assert!(!log.contains("PrometheusMetricsAdapter"), "no pusher on the stock image's classpath: {log}");
}

const ORDERS_ADAPTER: &str = r#"<adapter>
  <unique-id>orders</unique-id>
  <channel-list><channel><unique-id>c</unique-id>
    <consume-connection class="jetty-embedded-connection"/>
    <workflow-list><standard-workflow><unique-id>OrdersWorkflow</unique-id>
      <consumer class="jetty-message-consumer"><unique-id>in</unique-id><path>/orders</path></consumer>
      <producer class="jetty-standard-response-producer"><unique-id>out</unique-id>
        <status-provider class="http-configured-status"><status>OK_200</status></status-provider></producer>
      <interceptors><message-metrics-interceptor><unique-id>Orders-Metrics</unique-id></message-metrics-interceptor></interceptors>
    </standard-workflow></workflow-list>
  </channel></channel-list>
</adapter>
"#;

const IN_BOX_ADAPTER: &str = r#"<adapter><unique-id>mine</unique-id><channel-list><channel><workflow-list>
  <standard-workflow><unique-id>W</unique-id>
    <consumer class="jetty-message-consumer"><destination class="configured-consume-destination"><destination>/in-box</destination></destination></consumer>
    <producer class="jetty-standard-response-producer"><status-provider class="http-configured-status"><status>OK_200</status></status-provider></producer>
    <message-metrics-interceptor><unique-id>MessageMetrics</unique-id></message-metrics-interceptor>
  </standard-workflow></workflow-list></channel></channel-list></adapter>
"#;

#[test]
fn mounted_config_files_override_the_images_own_and_the_stock_image_still_never_pushes() {
    let Some(world) = pushing_world() else { return };
    let stock_bootstrap = "managementComponents=jetty:jmx\nadapterConfigUrl.0=file://localhost/./config/adapter.xml\n";
    apply(
        &world,
        &[
            configmap("orders-config", &[("adapter.xml", ORDERS_ADAPTER)]),
            configmap("stock-config", &[("bootstrap.properties", stock_bootstrap), ("adapter.xml", IN_BOX_ADAPTER)]),
            with_config(pushing("orders", GUIDE_IMAGE), "orders-config", &["adapter.xml"]),
            with_config(pushing("stock", STOCK_IMAGE), "stock-config", &[]),
        ],
    );
    let (orders, stock) = (rolled_out(&world, "orders"), rolled_out(&world, "stock"));
    assert_eq!(send(&world, &stock, "/in-box", 4), [200; 4], "the mounted adapter.xml has /in-box");
    assert_eq!(send(&world, &orders, "/in-box", 1), [404], "the mounted adapter.xml replaced the guide's");
    assert_eq!(send(&world, &orders, "/orders", 3), [200; 3]);
    let prom = world.prom.as_ref().expect("prom");
    let query = format!("OrdersMetrics{{k8s_pod_name=\"{orders}\"}} == 3");
    world.wait_until("OrdersMetrics in Prometheus", LONG, || prom.query(&query).len() == 1);
    assert!(prom.query(&format!("MessageMetrics{{k8s_pod_name=\"{orders}\"}}")).is_empty());
    wait_for_pushes(&world, &orders, 3);
    assert!(!pushed_pods(&world).contains(&stock), "a stock image has no pusher, whatever its config");
}

#[test]
fn without_the_endpoint_or_the_component_the_guides_image_never_pushes_and_says_why_in_its_log() {
    let Some(world) = pushing_world() else { return };
    let no_component = "managementComponents=jmx:jetty\nadapterConfigUrl=file://localhost/./config/adapter.xml\n";
    apply(
        &world,
        &[
            configmap("plain", &[("bootstrap.properties", no_component)]),
            deployment("no-endpoint", GUIDE_IMAGE, Some("-Dnetworkaddress.cache.ttl=30")),
            with_config(pushing("no-component", GUIDE_IMAGE), "plain", &["bootstrap.properties"]),
            pushing("control", GUIDE_IMAGE),
        ],
    );
    let pods: Vec<String> = ["no-endpoint", "no-component", "control"].iter().map(|a| rolled_out(&world, a)).collect();
    for pod in &pods {
        assert_eq!(send(&world, pod, "/in-box", 2), [200; 2]);
    }
    wait_for_pushes(&world, &pods[2], 3);
    let pushed = pushed_pods(&world);
    assert!(pushed.contains(&pods[2]) && !pushed.contains(&pods[0]) && !pushed.contains(&pods[1]), "{pushed:?}");
    let warning = "[c.a.k.m.p.PrometheusMetricsAdapter] Prometheus Metrics Adapter could not be started because the bootstrap property or system property prometheusEndpointUrl, was not set.";
    let log = ok(&world, "kubectl", &["logs", "deploy/no-endpoint"]).stdout;
    assert!(log.contains(&format!("\x1b[1;33mWARN  [main] {warning}\n\x1b[m")), "{log:?}");
    let log = ok(&world, "kubectl", &["logs", "deploy/no-component"]).stdout;
    assert!(!log.contains("PrometheusMetricsAdapter"), "{log}");
    // %highlight puts its reset after the newline: the log's last "line" is the reset code alone
    let last = ok(&world, "kubectl", &["logs", &format!("pod/{}", pods[2]), "--tail=2"]).stdout;
    assert!(last.contains("Pushing metric 'MessageMetrics' with value '2' to Prometheus.\n\x1b[m"), "{last:?}");
    assert_eq!(last.matches('\n').count(), 1, "--tail=2: one whole line and the reset: {last:?}");
}

#[test]
fn an_unknown_image_sits_in_image_pull_back_off_with_the_kubelets_events() {
    let Some(world) = World::builder().without_helm().start() else { return };
    apply(&world, &[deployment("typo", "adaptris/interlock:snapshot", None)]);
    let pod = name(&pod_of(&world, "typo"));
    assert_eq!(waiting_reason(&world, &pod), "ImagePullBackOff");
    let describe = ok(&world, "kubectl", &["describe", "pod", &pod]).stdout;
    assert!(
        describe.contains("Failed to pull image \"adaptris/interlock:snapshot\": Error response from daemon: pull access denied for adaptris/interlock"),
        "{describe}"
    );
    let logs = world.run("kubectl", &["logs", &pod]);
    assert_eq!(logs.code, 1, "{}", logs.all());
    assert!(logs.stderr.contains("is waiting to start: trying and failing to pull image"), "{}", logs.stderr);
    assert!(world.kubelet.interlok_pods().is_empty());
}

#[test]
fn a_missing_config_map_keeps_the_pod_creating_until_it_exists() {
    let Some(world) = World::builder().without_helm().start() else { return };
    apply(&world, &[with_config(deployment("late", GUIDE_IMAGE, None), "late-config", &["adapter.xml"])]);
    let pod = name(&pod_of(&world, "late"));
    assert_eq!(waiting_reason(&world, &pod), "ContainerCreating");
    let events = ok(&world, "kubectl", &["describe", "pod", &pod]).stdout;
    assert!(
        events.contains("MountVolume.SetUp failed for volume \"config\" : configmap \"late-config\" not found"),
        "{events}"
    );
    apply(&world, &[configmap("late-config", &[("adapter.xml", ORDERS_ADAPTER)])]);
    assert_eq!(rolled_out(&world, "late"), pod, "the same pod starts once its volume mounts");
    assert_eq!(send(&world, &pod, "/orders", 1), [200]);
}

#[test]
fn kubernetes_metrics_on_the_stock_image_crash_loops_with_the_jvms_error_in_the_previous_log() {
    let Some(world) = World::builder().without_helm().start() else { return };
    let guide_bootstrap =
        "managementComponents=jmx:jetty:kubernetes-metrics\nadapterConfigUrl=file://localhost/./config/adapter.xml\n";
    apply(
        &world,
        &[
            configmap("k8s-metrics", &[("bootstrap.properties", guide_bootstrap)]),
            with_config(deployment("crashing", STOCK_IMAGE, None), "k8s-metrics", &["bootstrap.properties"]),
        ],
    );
    let pod = name(&pod_of(&world, "crashing"));
    assert_eq!(waiting_reason(&world, &pod), "CrashLoopBackOff");
    let previous = ok(&world, "kubectl", &["logs", &pod, "--previous"]).stdout;
    assert!(
        previous.ends_with("Exception in thread \"main\" java.lang.ClassNotFoundException: kubernetes-metrics\n"),
        "{previous}"
    );
}
