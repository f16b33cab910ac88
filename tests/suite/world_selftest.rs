//! The test world's self-test: real kubectl (1.27 and 1.33) and real helm v4 against the fake API server,
//! real Prometheus and Pushgateway, the stand-in Interlok and the adapter and HPA emulation, and the node's
//! reading of what is inside each image (the catalogue, mounted ConfigMaps, pull and mount failures, logs).

use serde_json::{json, Value};
use testworld::interlok::InterlokOptions;
use testworld::prom::PromOptions;
use testworld::world::{http_get, PortForward, World};

use crate::support::{
    install_keda, install_monitoring, interlok_3_12, interlok_manifest, interlok_manifest_with, ok, GUIDE_IMAGE,
    INTERLOK_3_12, LONG,
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
/// A ScaledObject for the Interlok Deployment with a prometheus trigger, written into the world's folder.
fn scaled_object(world: &World, name: &str, query: &str, extra_metadata: &str) -> String {
    let text = format!(
        "apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {name}
spec:
  scaleTargetRef:
    name: interlok
  minReplicaCount: 1
  maxReplicaCount: 5
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://prometheus-server.monitoring.svc.cluster.local:80
        query: '{query}'
        threshold: '100'{extra_metadata}
"
    );
    let path = world.dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

fn condition(object: &Value, kind: &str) -> Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
        .unwrap_or(Value::Null)
}

/// The KEDA chart installs with helm --wait, and kubectl knows ScaledObjects only once its CRDs are
/// served: `apply --dry-run=client` fails before (as against a real cluster) and succeeds after, as do
/// short names and discovery; the CRD's schema refuses a number where KEDA wants a string.
fn keda_crds_with(kubectl: &str, helm: u32) {
    let Some(world) = World::builder().kubectl(kubectl).helm(helm).with_charts().start() else {
        return;
    };
    let manifest = scaled_object(&world, "interlok", "sum(MessageMetrics)", "");
    let before = world.run("kubectl", &["apply", "--dry-run=client", "-f", &manifest]);
    assert_eq!(before.code, 1, "{}", before.all());
    assert!(
        before.stderr.contains("no matches for kind \"ScaledObject\" in version \"keda.sh/v1alpha1\""),
        "{}",
        before.stderr
    );
    install_keda(&world, "keda");
    let crds = ok(&world, "kubectl", &["get", "crd", "-o", "name"]);
    for crd in [
        "scaledobjects.keda.sh",
        "scaledjobs.keda.sh",
        "triggerauthentications.keda.sh",
        "clustertriggerauthentications.keda.sh",
        "cloudeventsources.eventing.keda.sh",
        "clustercloudeventsources.eventing.keda.sh",
    ] {
        assert!(crds.stdout.contains(crd), "{crd} missing: {}", crds.stdout);
    }
    let after = ok(&world, "kubectl", &["apply", "--dry-run=client", "-f", &manifest]);
    assert!(after.stdout.contains("scaledobject.keda.sh/interlok created (dry run)"), "{}", after.all());
    let resources = ok(&world, "kubectl", &["api-resources", "--api-group=keda.sh", "-o", "name"]);
    assert!(resources.stdout.contains("scaledobjects.keda.sh"), "{}", resources.stdout);
    let none = ok(&world, "kubectl", &["get", "so", "-A", "-o", "name"]);
    assert_eq!(none.stdout.trim(), "", "short name resolves, nothing created by a dry run");

    // the CRD's schema: trigger metadata values are strings
    let bad = std::fs::read_to_string(&manifest).expect("manifest").replace("threshold: '100'", "threshold: 100");
    let bad_path = world.dir.join("bad.yaml");
    std::fs::write(&bad_path, bad).expect("write");
    let refused = world.run("kubectl", &["apply", "-f", &bad_path.display().to_string()]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains(
            "spec.triggers[0].metadata.threshold: Invalid value: \"integer\": spec.triggers[0].metadata.threshold in body must be of type string: \"integer\""
        ),
        "{}",
        refused.stderr
    );
    // server-side apply creates it; KEDA finds no Deployment to scale and says so
    ok(&world, "kubectl", &["apply", "--server-side", "-f", &manifest]);
    world.wait_until("KEDA to check the ScaledObject", LONG, || {
        let so = world.object("keda.sh", "scaledobjects", "default", "interlok").unwrap_or(Value::Null);
        condition(&so, "Ready")["reason"] == "ScaledObjectCheckFailed"
    });
    let so = world.object("keda.sh", "scaledobjects", "default", "interlok").expect("so");
    assert_eq!(
        condition(&so, "Ready")["message"],
        "ScaledObject doesn't have correct scaleTargetRef specification: deployments.apps \"interlok\" not found"
    );
    assert_eq!(condition(&so, "Active")["status"], "Unknown");
    assert!(world.objects("autoscaling", "horizontalpodautoscalers").is_empty());
}

#[test]
fn keda_installed_by_helm3_teaches_kubectl_1_27_the_scaledobject_kind() {
    keda_crds_with("1.27", 3);
}

#[test]
fn keda_installed_by_helm4_teaches_kubectl_1_33_the_scaledobject_kind() {
    keda_crds_with("1.33", 4);
}

/// Prometheus, KEDA (in `keda_namespace`) and Interlok (with the adapter path's HPA, as `setup` leaves
/// it) in one world, and a port-forward to Interlok for sending messages.
fn keda_world(keda_namespace: &str) -> Option<(World, PortForward)> {
    // a window longer than the test: the pushed count stays at what was sent
    let options = InterlokOptions {
        push_interval: std::time::Duration::from_millis(300),
        window: std::time::Duration::from_secs(600),
    };
    let world = World::builder()
        .helm(4)
        .with_charts()
        .with_prometheus(PromOptions::default())
        .interlok(options)
        .keda_polling(std::time::Duration::from_millis(500))
        .start()?;
    install_monitoring(&world, None);
    install_keda(&world, keda_namespace);
    let manifest = interlok_manifest(
        &world,
        "prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091",
        "K8S_NAMESPACE",
    );
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["rollout", "status", "deployment/interlok", "--timeout=60s"]);
    let forward = PortForward::start(&world, &["svc/interlok", ":8080"]).expect("port-forward");
    Some((world, forward))
}

fn scaled_object_state(world: &World, name: &str) -> Value {
    world.object("keda.sh", "scaledobjects", "default", name).unwrap_or(Value::Null)
}

/// Switching Interlok from the adapter's HPA to KEDA and back: the admission webhook refuses the
/// ScaledObject while the plain HPA scales the Deployment; once it is gone KEDA takes over, owns
/// `keda-hpa-interlok`, serves the query's value as an external metric, and 150 messages make the HPA
/// want 2 replicas. Deleting the ScaledObject, then KEDA, leaves room for the adapter's HPA again and
/// nothing of KEDA behind.
#[test]
fn keda_takes_over_from_the_adapter_hpa_and_scales_on_the_real_query() {
    let Some((world, forward)) = keda_world("keda") else {
        return;
    };
    let manifest = scaled_object(&world, "interlok", "sum(MessageMetrics{k8s_namespace=\"default\"})", "");
    let refused = world.run("kubectl", &["apply", "-f", &manifest]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("Error from server (Forbidden): error when creating")
            && refused.stderr.contains("admission webhook \"vscaledobject.kb.io\" denied the request: the workload 'interlok' of type 'apps/v1.Deployment' is already managed by the hpa 'interlok'"),
        "{}",
        refused.stderr
    );
    assert!(world.object("keda.sh", "scaledobjects", "default", "interlok").is_none());

    ok(&world, "kubectl", &["delete", "hpa", "interlok"]);
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["wait", "--for=condition=Ready", "scaledobject/interlok", "--timeout=60s"]);
    let so = scaled_object_state(&world, "interlok");
    assert_eq!(condition(&so, "Ready")["reason"], "ScaledObjectReady");
    assert_eq!(so["status"]["hpaName"], "keda-hpa-interlok");
    assert_eq!(so["status"]["scaleTargetKind"], "apps/v1.Deployment");
    assert_eq!(so["status"]["externalMetricNames"], serde_json::json!(["s0-prometheus"]));
    assert!(so["metadata"]["finalizers"].to_string().contains("finalizer.keda.sh"));
    let hpa =
        world.object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok").expect("KEDA's HPA");
    assert_eq!(hpa["metadata"]["ownerReferences"][0]["kind"], "ScaledObject");
    assert_eq!(hpa["metadata"]["ownerReferences"][0]["uid"], so["metadata"]["uid"]);
    assert_eq!(hpa["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(hpa["spec"]["metrics"][0]["external"]["metric"]["name"], "s0-prometheus");
    assert_eq!(hpa["spec"]["metrics"][0]["external"]["target"]["averageValue"], "100");
    assert_eq!(world.objects("autoscaling", "horizontalpodautoscalers").len(), 1, "one autoscaler");

    for _ in 0..150 {
        assert_eq!(http_get(&forward.url("/in-box")).expect("in-box").0, 200);
    }
    let prom = world.prom.as_ref().expect("prom");
    world.wait_until("the 150 messages to reach Prometheus", LONG, || {
        prom.query("sum(MessageMetrics{k8s_namespace=\"default\"}) == 150").len() == 1
    });
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-prometheus?labelSelector=scaledobject.keda.sh%2Fname%3Dinterlok";
    // KEDA asks Prometheus for the value at the current second (RFC 3339, as the real scaler does), so
    // it may lag what Prometheus already holds by up to a second
    let mut list = Value::Null;
    world.wait_until("the external metric to read 150", LONG, || {
        list = serde_json::from_str(&ok(&world, "kubectl", &["get", "--raw", path]).stdout).expect("json");
        list["items"][0]["value"] == "150"
    });
    assert_eq!(list["kind"], "ExternalMetricValueList");
    assert_eq!(list["items"][0]["metricName"], "s0-prometheus");
    // the status that asks for 2: while one pod runs, its average is the 150 (once both run, and the HPA has
    // synced again, it is over both, and the window's count falls)
    let mut hpa = Value::Null;
    world.wait_until("KEDA's HPA to want 2 replicas", LONG, || {
        hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok").expect("hpa");
        hpa["status"]["desiredReplicas"] == 2
    });
    if hpa["status"]["currentReplicas"] == 1 {
        assert_eq!(hpa["status"]["currentMetrics"][0]["external"]["current"]["averageValue"], "150", "{hpa}");
    }
    world.wait_until("the ScaledObject to be Active", LONG, || {
        condition(&scaled_object_state(&world, "interlok"), "Active")["status"] == "True"
    });

    // and back to the adapter's HPA: ScaledObject first (KEDA lets it go, its HPA follows), then KEDA
    ok(&world, "kubectl", &["delete", "scaledobject", "interlok", "--timeout=60s"]);
    world.wait_until("KEDA's HPA to go", LONG, || world.objects("autoscaling", "horizontalpodautoscalers").is_empty());
    ok(&world, "helm", &["uninstall", "keda", "-n", "keda", "--wait"]);
    let interlok = interlok_manifest(
        &world,
        "prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091",
        "K8S_NAMESPACE",
    );
    ok(&world, "kubectl", &["apply", "-f", &interlok]);
    let hpas: Vec<String> = world
        .objects("autoscaling", "horizontalpodautoscalers")
        .iter()
        .map(testworld::apiserver::object_name)
        .collect();
    assert_eq!(hpas, vec!["interlok"], "one autoscaler");
    world.wait_until("KEDA's CRDs to go", LONG, || {
        world.objects("apiextensions.k8s.io", "customresourcedefinitions").is_empty()
    });
    assert!(world.object("apiregistration.k8s.io", "apiservices", "", "v1beta1.external.metrics.k8s.io").is_none());
    assert!(world.objects("admissionregistration.k8s.io", "validatingwebhookconfigurations").is_empty());
    let left_in_keda: Vec<String> = world
        .state
        .store
        .dump()
        .into_iter()
        .filter(|(r, ns, _, _)| ns == "keda" && r != "/events") // events outlive their objects (for an hour)
        .map(|(r, _, n, _)| format!("{r} {n}"))
        .collect();
    assert_eq!(
        left_in_keda,
        vec!["/secrets kedaorg-certs"],
        "what a real cluster keeps too: the operator's, not the chart's"
    );
}

/// A query on a metric that does not exist: with `ignoreNullValues: "false"` KEDA reports the trigger
/// broken (Ready=False, TriggerError, a KEDAScalerFailed event saying the result is empty) and the HPA
/// cannot read the metric; with KEDA's default (`true`) the empty result reads as 0 — Ready, not Active.
#[test]
fn keda_reports_a_query_on_a_wrong_metric_name_as_real_keda_does() {
    let Some((world, _forward)) = keda_world("autoscaling") else {
        return;
    };
    ok(&world, "kubectl", &["delete", "hpa", "interlok"]);
    let strict = scaled_object(&world, "interlok", "sum(MessageMetricz)", "\n        ignoreNullValues: 'false'");
    ok(&world, "kubectl", &["apply", "-f", &strict]);
    world.wait_until("KEDA to report the trigger broken", LONG, || {
        condition(&scaled_object_state(&world, "interlok"), "Ready")["reason"] == "TriggerError"
    });
    let so = scaled_object_state(&world, "interlok");
    let ready = condition(&so, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["message"], "Triggers defined in ScaledObject are not working correctly");
    assert_eq!(condition(&so, "Active")["reason"], "ScalerNotActive");
    let events =
        ok(&world, "kubectl", &["get", "events", "--field-selector", "involvedObject.name=interlok", "-o", "json"]);
    assert!(
        events.stdout.contains("prometheus metrics 'prometheus' target may be lost, the result is empty"),
        "{}",
        events.stdout
    );
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-prometheus?labelSelector=scaledobject.keda.sh%2Fname%3Dinterlok";
    let raw = world.run("kubectl", &["get", "--raw", path]);
    assert_eq!(raw.code, 1, "{}", raw.all());
    assert!(raw.stderr.contains("metric:s0-prometheus encountered error"), "{}", raw.stderr);
    world.wait_until("the HPA to fail on the external metric", LONG, || {
        world
            .object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok")
            .is_some_and(|h| condition(&h, "ScalingActive")["reason"] == "FailedGetExternalMetric")
    });
    world.wait_until("the ScaledObject to show the HPA's failure", LONG, || {
        condition(&scaled_object_state(&world, "interlok"), "HPAActive")["reason"] == "FailedGetExternalMetric"
    });

    let lenient = scaled_object(&world, "interlok", "sum(MessageMetricz)", "");
    ok(&world, "kubectl", &["apply", "-f", &lenient]);
    world.wait_until("KEDA to read the empty result as 0", LONG, || {
        let so = scaled_object_state(&world, "interlok");
        condition(&so, "Ready")["status"] == "True" && condition(&so, "Active")["reason"] == "ScalerNotActive"
    });
    let raw = ok(&world, "kubectl", &["get", "--raw", path]);
    assert!(raw.stdout.contains("\"value\":\"0\""), "{}", raw.stdout);
    let deployment = world.object("apps", "deployments", "default", "interlok").expect("deployment");
    assert_eq!(deployment["spec"]["replicas"], 1, "minReplicaCount 1 keeps the Deployment up");
}

/// KEDA's minReplicaCount defaults to 0: an idle target goes to zero replicas at the first poll (its
/// initialCooldownPeriod is 0), and the HPA then stands aside, as real KEDA and Kubernetes do.
#[test]
fn keda_scales_an_idle_target_to_zero_when_min_replica_count_is_left_out() {
    let Some((world, _forward)) = keda_world("keda") else {
        return;
    };
    ok(&world, "kubectl", &["delete", "hpa", "interlok"]);
    let manifest = scaled_object(&world, "interlok", "sum(MessageMetrics{k8s_namespace=\"default\"})", "");
    let text = std::fs::read_to_string(&manifest).expect("manifest").replace("  minReplicaCount: 1\n", "");
    std::fs::write(&manifest, text).expect("manifest");
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    world.wait_until("KEDA to scale Interlok to zero", LONG, || {
        world.object("apps", "deployments", "default", "interlok").is_some_and(|d| d["spec"]["replicas"] == 0)
    });
    world.wait_until("the HPA to stand aside", LONG, || {
        world
            .object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok")
            .is_some_and(|h| condition(&h, "ScalingActive")["reason"] == "ScalingDisabled")
    });
    let hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok").expect("hpa");
    assert_eq!(hpa["spec"]["minReplicas"], 1, "KEDA's HPA never goes below 1; KEDA itself does");
}

/// Deleting a ScaledObject: KEDA's finalizer lets it go and the garbage collector takes its HPA.
/// Uninstalling KEDA first leaves it stuck on that finalizer (and the CRD terminating) until someone
/// removes the finalizer — the trap a real cluster has too.
#[test]
fn deleting_a_scaled_object_removes_its_hpa_but_not_after_keda_is_gone() {
    let Some((world, _forward)) = keda_world("keda") else {
        return;
    };
    ok(&world, "kubectl", &["delete", "hpa", "interlok"]);
    let manifest = scaled_object(&world, "interlok", "sum(MessageMetrics{k8s_namespace=\"default\"})", "");
    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["wait", "--for=condition=Ready", "scaledobject/interlok", "--timeout=60s"]);
    ok(&world, "kubectl", &["delete", "scaledobject", "interlok", "--timeout=60s"]);
    world.wait_until("KEDA's HPA to go with its owner", LONG, || {
        world.objects("autoscaling", "horizontalpodautoscalers").is_empty()
    });
    assert!(world.object("keda.sh", "scaledobjects", "default", "interlok").is_none());

    ok(&world, "kubectl", &["apply", "-f", &manifest]);
    ok(&world, "kubectl", &["wait", "--for=condition=Ready", "scaledobject/interlok", "--timeout=60s"]);
    ok(&world, "helm", &["uninstall", "keda", "-n", "keda"]);
    world.wait_until("the CRD to be stuck terminating", LONG, || {
        world
            .object("apiextensions.k8s.io", "customresourcedefinitions", "", "scaledobjects.keda.sh")
            .is_some_and(|crd| condition(&crd, "Terminating")["status"] == "True")
    });
    let so = scaled_object_state(&world, "interlok");
    assert!(so["metadata"]["deletionTimestamp"].is_string(), "{so}");
    assert!(world.object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok").is_some());
    let patch = r#"{"metadata":{"finalizers":null}}"#;
    ok(&world, "kubectl", &["patch", "scaledobject", "interlok", "--type=merge", "-p", patch]);
    world.wait_until("the ScaledObject, its HPA and the CRDs to go", LONG, || {
        world.objects("autoscaling", "horizontalpodautoscalers").is_empty()
            && world.objects("apiextensions.k8s.io", "customresourcedefinitions").is_empty()
    });
    let gone = world.run("kubectl", &["get", "scaledobjects"]);
    assert_eq!(gone.code, 1, "{}", gone.all());
    // kubectl's discovery cache may still name the resource; the server no longer serves it either way
    let unserved = [
        "the server doesn't have a resource type \"scaledobjects\"",
        "the server could not find the requested resource",
    ];
    assert!(unserved.iter().any(|m| gone.stderr.contains(m)), "{}", gone.stderr);
}

/// Any CustomResourceDefinition: its kind is served while it exists (short name, status subresource that
/// only `/status` changes), and deleting it deletes its objects and stops serving it.
#[test]
fn a_crd_serves_its_kind_until_it_is_deleted() {
    let Some(world) = World::builder().without_helm().start() else {
        return;
    };
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {size: {type: integer}}}
            status: {type: object, properties: {phase: {type: string}}}
---
";
    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\nstatus: {phase: Made}\n";
    let crd_path = world.dir.join("crd.yaml");
    let widget_path = world.dir.join("widget.yaml");
    std::fs::write(&crd_path, crd).expect("write");
    std::fs::write(&widget_path, widget).expect("write");
    ok(&world, "kubectl", &["apply", "-f", &crd_path.display().to_string()]);
    ok(&world, "kubectl", &["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]);
    ok(&world, "kubectl", &["apply", "-f", &widget_path.display().to_string()]);
    let made = world.object("example.com", "widgets", "default", "w").expect("widget");
    assert!(made["status"].is_null(), "status comes only through /status: {made}");
    let patch = r#"{"status":{"phase":"Made"}}"#;
    ok(&world, "kubectl", &["patch", "wd", "w", "--subresource=status", "--type=merge", "-p", patch]);
    let phase = ok(&world, "kubectl", &["get", "wd", "w", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase.stdout, "Made");
    ok(&world, "kubectl", &["delete", "crd", "widgets.example.com", "--timeout=30s"]);
    assert!(world.objects("apiextensions.k8s.io", "customresourcedefinitions").is_empty());
    assert!(world.state.store.list("example.com/widgets", None).is_empty(), "its objects went first");
    let gone = world.run("kubectl", &["get", "--raw", "/apis/example.com/v1/namespaces/default/widgets"]);
    assert!(gone.stderr.contains("NotFound"), "{}", gone.all());
}

// The world's Prometheus scrapes what the cluster tells it to, as the chart's Prometheus would.

const JOB: &str = "prometheus-pushgateway";

/// The jobs of Prometheus's active targets.
fn active_jobs(world: &World) -> Vec<String> {
    let prom = world.prom.as_ref().expect("prom");
    let (_, body) = http_get(&format!("{}/api/v1/targets", prom.prometheus_url())).expect("prometheus answers");
    let targets: Value = serde_json::from_str(&body).expect("json");
    targets["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["labels"]["job"].as_str().map(String::from))
        .collect()
}

/// Waits until the pushgateway job's `up` series is `expected` (None: there is no such target).
fn wait_for_up(world: &World, expected: Option<f64>) -> Vec<Value> {
    let prom = world.prom.as_ref().expect("prom");
    let mut up = Vec::new();
    world.wait_until(&format!("up{{job=\"{JOB}\"}} to be {expected:?}"), LONG, || {
        up = prom.query(&format!("up{{job=\"{JOB}\"}}"));
        let value = up.first().and_then(|s| s["value"][1].as_str()).and_then(|v| v.parse::<f64>().ok());
        up.len() <= 1 && value == expected
    });
    up
}

/// `helm upgrade --install prometheus` of a stand-in chart version, with extra values (a file's content).
fn install_prometheus(world: &World, version: &str, values: Option<&str>) {
    let repo = world.charts.as_ref().expect("world with charts").repo_url("prometheus-community");
    ok(world, "helm", &["repo", "add", "prometheus-community", &repo]);
    let mut args = vec!["upgrade", "--install", "prometheus", "prometheus-community/prometheus", "--version", version];
    args.extend(["-n", "monitoring", "--create-namespace", "--wait", "--timeout", "2m"]);
    let file = world.dir.join("prometheus-values.yaml").display().to_string();
    if let Some(values) = values {
        std::fs::write(&file, values).expect("write values");
        args.extend(["-f", &file]);
    }
    ok(world, "helm", &args);
}

#[test]
fn prometheus_scrapes_the_pushgateway_only_while_its_service_carries_the_probe_annotation() {
    let Some(world) = World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).start() else {
        return;
    };
    assert_eq!(active_jobs(&world), Vec::<String>::new(), "no Prometheus release: nothing is scraped");
    install_prometheus(&world, "29.27.0", None);
    let up = wait_for_up(&world, Some(1.0));
    assert_eq!(up[0]["metric"]["instance"], "prometheus-prometheus-pushgateway.monitoring.svc:9091", "{up:?}");
    let service = ["service", "prometheus-prometheus-pushgateway", "-n", "monitoring"];
    ok(&world, "kubectl", &[&["annotate"], &service[..], &["prometheus.io/probe-"]].concat());
    wait_for_up(&world, None);
    assert_eq!(active_jobs(&world), Vec::<String>::new(), "the job's relabelling drops the Service");
    ok(&world, "kubectl", &[&["annotate"], &service[..], &["prometheus.io/probe=pushgateway"]].concat());
    wait_for_up(&world, Some(1.0));
}

// (every transition waits out real Prometheus's 5 s discovery cycle: the two halves run side by side)
#[test]
fn prometheus_scrapes_the_pushgateway_only_while_a_ready_pod_backs_its_service_and_the_release_is_there() {
    let Some(world) = World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).start() else {
        return;
    };
    install_prometheus(&world, "29.27.0", None);
    wait_for_up(&world, Some(1.0));
    let deployment = ["deployment/prometheus-prometheus-pushgateway", "-n", "monitoring"];
    ok(&world, "kubectl", &[&["scale"], &deployment[..], &["--replicas=0"]].concat());
    wait_for_up(&world, Some(0.0));
    ok(&world, "kubectl", &[&["scale"], &deployment[..], &["--replicas=1"]].concat());
    wait_for_up(&world, Some(1.0));
    ok(&world, "helm", &["uninstall", "prometheus", "-n", "monitoring", "--wait"]);
    world.wait_until("no Prometheus pod, no scrape jobs", LONG, || active_jobs(&world).is_empty());
    assert_eq!(world.prom.as_ref().unwrap().discovery.reload_error(), None);
}

#[test]
fn the_2019_charts_pushgateway_service_is_discovered_by_its_annotation_too() {
    let Some(world) = World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).start() else {
        return;
    };
    install_prometheus(&world, "15.18.0", None);
    let up = wait_for_up(&world, Some(1.0));
    assert_eq!(up[0]["metric"]["instance"], "prometheus-pushgateway.monitoring.svc:9091", "{up:?}");
}

#[test]
fn honor_labels_off_in_the_chart_values_renames_the_pushed_labels_exported() {
    let Some(world) = World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).start() else {
        return;
    };
    let values = format!("scrapeConfigs:\n  {JOB}:\n    honor_labels: false\n");
    install_prometheus(&world, "29.27.0", Some(&values));
    let prom = world.prom.as_ref().expect("prom");
    let group = "/metrics/job/interlok/k8s_namespace/default/k8s_pod_name/interlok-1";
    assert_eq!(prom.push(group, "# TYPE MessageMetrics counter\nMessageMetrics 3\n"), 200);
    let renamed = "MessageMetrics{exported_job=\"interlok\",k8s_pod_name=\"interlok-1\"}";
    world.wait_until("the pushed job label renamed exported_job", LONG, || prom.query(renamed).len() == 1);
    let series = prom.query("MessageMetrics");
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["metric"]["job"], JOB, "the scrape's own job label wins: {series:?}");
    // (an upgrade given no values reuses the release's: the fix names the setting)
    install_prometheus(&world, "29.27.0", Some(&values.replace("false", "true")));
    let kept = "MessageMetrics{job=\"interlok\",k8s_pod_name=\"interlok-1\"}";
    world.wait_until("honor_labels: true to keep them", LONG, || prom.query(kept).len() == 1);
}

#[test]
fn a_config_map_of_the_users_named_by_config_map_override_name_is_what_prometheus_runs() {
    let Some(world) = World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).start() else {
        return;
    };
    let config = "scrape_configs:\n- job_name: my-pushgateway\n  honor_labels: true\n  kubernetes_sd_configs:\n  - role: service\n    namespaces:\n      own_namespace: true\n  relabel_configs:\n  - source_labels: [__meta_kubernetes_service_name]\n    regex: .*pushgateway\n    action: keep\n";
    ok(&world, "kubectl", &["create", "namespace", "monitoring"]);
    let file = world.dir.join("prometheus.yml").display().to_string();
    std::fs::write(&file, config).expect("write config");
    ok(&world, "kubectl", &["create", "configmap", "prometheus-mine", "-n", "monitoring", "--from-file", &file]);
    install_prometheus(&world, "29.27.0", Some("server:\n  configMapOverrideName: mine\n"));
    assert!(world.object("", "configmaps", "monitoring", "prometheus-server").is_none(), "the chart renders none");
    let prom = world.prom.as_ref().expect("prom");
    world.wait_until("the user's job to scrape the pushgateway", LONG, || {
        prom.query("up{job=\"my-pushgateway\"} == 1").len() == 1
    });
    assert!(prom.query(&format!("up{{job=\"{JOB}\"}}")).is_empty(), "only the user's jobs run");
}
