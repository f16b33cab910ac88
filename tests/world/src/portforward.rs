//! `kubectl port-forward`: SPDY/3.1 over an HTTP upgrade (see FAKE-APISERVER-FACTS.md).

use std::sync::Arc;

use crate::apiserver::ApiState;
use crate::http::{Reply, Request, Response};

pub fn upgrade(_state: &Arc<ApiState>, _namespace: &str, _pod: &str, _request: &Request) -> Reply {
    Reply::Full(Response::bytes(
        400,
        "text/plain",
        b"port-forward not ready".to_vec(),
    ))
}
