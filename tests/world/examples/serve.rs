use std::sync::Arc;
fn main() {
    let state = testworld::apiserver::ApiState::new("v1.33.1");
    let s2 = state.clone();
    let server = testworld::http::Server::start(Arc::new(move |r| testworld::apiserver::handle(&s2, r))).unwrap();
    println!("{}", server.url());
    std::thread::sleep(std::time::Duration::from_secs(600));
    drop(state);
}
