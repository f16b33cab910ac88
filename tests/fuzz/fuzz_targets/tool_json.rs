#![no_main]
// JSON outputs of kubectl, helm, minikube and PowerShell.
use interlok_k8s::tools::{helm, kubectl, minikube, powershell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kubectl::parse_versions(text);
        let _ = helm::parse_repo_list(0, text, "");
        let _ = helm::parse_release("prometheus", text);
        let _ = minikube::parse_status(0, text);
        let _ = minikube::parse_status(7, text);
        let _ = powershell::parse_list::<powershell::Adapter>(text);
        let _ = powershell::parse_list::<powershell::Switch>(text);
        let _ = powershell::parse_bools(text);
    }
});
