#![no_main]
// HTTP/1.1 responses as the load client reads them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = interlok_k8s::load::parse_response(data, false);
    let _ = interlok_k8s::load::parse_response(data, true);
});
