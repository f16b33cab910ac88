//! Parsers of tool output never panic, whatever they are fed (property tests; the fuzz targets in
//! tests/fuzz go further with coverage guidance).

use interlok_k8s::tools::{helm, kubectl, minikube, powershell};
use interlok_k8s::version::Version;
use proptest::prelude::*;

fn json_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\[\\]{}\":,0-9a-zA-Z _.+-]{0,200}",
        Just(r#"{"clientVersion":{"gitVersion":"v1.33.1"},"serverVersion":{"gitVersion":"v1.33.1"}}"#.to_string()),
        Just(r#"{"status":"success","data":{"result":[{"metric":{},"value":[1,"x"]}]}}"#.to_string()),
        Just(r#"[{"name":"prometheus","status":"deployed","chart":"prometheus-29.27.0"}]"#.to_string()),
    ]
    .prop_map(|s| s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn versions(text in any::<String>()) {
        let _ = Version::parse(&text);
        let _ = Version::find_in(&text);
        let _ = helm::parse_short_version(&text);
        let _ = minikube::parse_version(&text);
    }

    #[test]
    fn json_outputs(text in json_like(), code in -2i32..100) {
        let _ = kubectl::parse_versions(&text);
        let _ = helm::parse_repo_list(code, &text, &text);
        let _ = helm::parse_release("prometheus", &text);
        let _ = minikube::parse_status(code, &text);
        let _ = powershell::parse_list::<powershell::Adapter>(&text);
        let _ = powershell::parse_bools(&text);
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = interlok_k8s::prometheus_api::parse_vector(&value);
            let _ = interlok_k8s::prometheus_api::parse_groups(&value);
            let items = value.as_array().cloned().unwrap_or_default();
            let services: Vec<interlok_k8s::cluster::views::Service> =
                items.into_iter().filter_map(|v| interlok_k8s::cluster::view("service", v).ok()).collect();
            let _ = interlok_k8s::cluster::monitoring::pick(&services);
            if let Ok(pod) = interlok_k8s::cluster::view::<interlok_k8s::cluster::views::Pod>("pod", value.clone()) {
                let _ = interlok_k8s::cluster::pods::stuck(&pod);
                let _ = interlok_k8s::cluster::pods::describe(&pod);
            }
            if let Ok(hpa) = interlok_k8s::cluster::view::<interlok_k8s::cluster::views::Hpa>("hpa", value) {
                let _ = (hpa.current_value(), hpa.metric().target(), hpa.blocking_conditions());
            }
        }
    }

    #[test]
    fn http_responses(bytes in proptest::collection::vec(any::<u8>(), 0..400), eof in any::<bool>()) {
        let _ = interlok_k8s::load::parse_response(&bytes, eof);
        let mut framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = interlok_k8s::load::parse_response(&framed, eof);
    }

    #[test]
    fn secrets_and_rules(text in any::<String>(), matches in "[^\\x00]{0,20}", as_ in "[^\\x00]{0,10}") {
        let _ = interlok_k8s::base64::decode(&text);
        let _ = interlok_k8s::bundle::redact(&text, std::slice::from_ref(&text));
        let rule: Result<interlok_k8s::manifests::schema::AdapterRule, _> = serde_yaml::from_str(&format!(
            "seriesQuery: x\nresources: {{overrides: {{pod: {{resource: pod}}}}}}\nname: {{matches: {:?}, as: {:?}}}\nmetricsQuery: {:?}\n", matches, as_, text));
        if let Ok(rule) = rule {
            let series = vec![[("__name__".to_string(), text.clone()), ("pod".to_string(), "p".to_string())].into_iter().collect()];
            let _ = interlok_k8s::adapter_rule::discover(&rule, &text, &series);
        }
    }
}
