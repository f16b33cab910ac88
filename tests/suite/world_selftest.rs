//! The test world's self-test: real kubectl (1.27 and 1.33) and real helm v4 against the fake API server,
//! real Prometheus and Pushgateway, the stand-in Interlok and the adapter and HPA emulation.

use serde_json::Value;
use testworld::interlok::InterlokOptions;
use testworld::prom::PromOptions;
use testworld::world::{http_get, PortForward, World};

use crate::support::{install_keda, install_monitoring, interlok_manifest, ok, LONG};

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

/// Deploys Interlok configured as today's wizard does (or as the guide did), sends 150 messages through a
/// port-forward, and returns the world for assertions on the custom metrics API and the HPA.
fn chain(total_suffix: bool, adapter_values: &str) -> Option<(World, String)> {
    let options = InterlokOptions {
        total_suffix,
        push_interval: std::time::Duration::from_millis(300),
        ..InterlokOptions::default()
    };
    let world =
        World::builder().helm(4).with_charts().with_prometheus(PromOptions::default()).interlok(options).start()?;
    install_monitoring(&world, Some(adapter_values));
    let manifest = interlok_manifest(
        &world,
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
    let series = if total_suffix { "MessageMetrics_total" } else { "MessageMetrics" };
    let prom = world.prom.as_ref().expect("prom");
    let query = format!("{series}{{k8s_namespace=\"default\",k8s_pod_name=\"{pod}\"}} == 150");
    world.wait_until("the 150 messages to reach Prometheus", LONG, || prom.query(&query).len() == 1);
    Some((world, pod))
}

#[test]
fn the_wizard_rule_exposes_the_pods_value_and_the_hpa_wants_two_replicas() {
    let Some((world, pod)) = chain(true, "adapter-values-wizard.yaml") else {
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
    let Some((world, _)) = chain(true, "adapter-values-2019.yaml") else {
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
        ..InterlokOptions::default()
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
    world.wait_until("KEDA's HPA to want 2 replicas", LONG, || {
        world
            .object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok")
            .is_some_and(|h| h["status"]["desiredReplicas"] == 2)
    });
    let hpa = world.object("autoscaling", "horizontalpodautoscalers", "default", "keda-hpa-interlok").expect("hpa");
    assert_eq!(hpa["status"]["currentMetrics"][0]["external"]["current"]["averageValue"], "150");
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
        .filter(|(_, ns, _, _)| ns == "keda")
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
