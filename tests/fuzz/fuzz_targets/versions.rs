#![no_main]
// Version strings as kubectl, helm and minikube print them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = interlok_k8s::version::Version::parse(text);
        let _ = interlok_k8s::version::Version::find_in(text);
        let _ = interlok_k8s::tools::helm::parse_short_version(text);
        let _ = interlok_k8s::tools::minikube::parse_version(text);
    }
});
