//! keda-operator-metrics-apiserver: `external.metrics.k8s.io/v1beta1` behind KEDA's APIService. The HPA
//! asks for `s<i>-prometheus` with the label selector `scaledobject.keda.sh/name=<name>`; the metrics
//! server asks the operator over gRPC, which runs the trigger's query (pkg/provider, pkg/metricsservice,
//! GetScaledObjectMetrics). Failures come back as the custom-metrics-apiserver library returns a plain
//! error: HTTP 500 with the gRPC error text.

use serde_json::json;

use super::scaler::{self, milli};
use super::{component_pod, METRICS_IMAGE, NAME_LABEL, OPERATOR_IMAGE, SCALED_OBJECTS};
use crate::apiserver::ApiState;
use crate::controllers::format_quantity;
use crate::http::{Request, Response};
use crate::kubelet::WorldKubelet;
use crate::store::{namespace_of, now_rfc3339, ApiError};

const PREFIX: &str = "/apis/external.metrics.k8s.io/v1beta1";

/// A plain (non-Status) error, as the generic API server turns it into a Status: 500, no reason.
fn failure(message: String) -> Response {
    Response::json(500, &ApiError::new(500, "", message).status()) // StatusReasonUnknown is ""
}

/// The operator's gRPC server answered with an error.
fn grpc_failure(message: String) -> Response {
    failure(format!("rpc error: code = Unknown desc = error when getting metric values {message}"))
}

pub fn serve(state: &ApiState, kubelet: &WorldKubelet, request: &Request) -> Response {
    let rest: Vec<&str> = request.path.trim_start_matches(PREFIX).split('/').filter(|s| !s.is_empty()).collect();
    match rest.as_slice() {
        [] => Response::json(
            200,
            &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "external.metrics.k8s.io/v1beta1",
                    "resources": [{"name": "externalmetrics", "singularName": "", "namespaced": true,
                                   "kind": "ExternalMetricValueList", "verbs": ["get"]}]}),
        ),
        ["namespaces", namespace, metric] => {
            external_metric(state, kubelet, namespace, metric, request.param("labelSelector").unwrap_or(""))
        }
        _ => Response::json(
            404,
            &ApiError::new(404, "NotFound", "the server could not find the requested resource").status(),
        ),
    }
}

/// GetExternalMetric: the value of one ScaledObject's metric, named by the selector.
fn external_metric(
    state: &ApiState,
    kubelet: &WorldKubelet,
    namespace: &str,
    metric: &str,
    selector: &str,
) -> Response {
    if component_pod(state, METRICS_IMAGE).is_none() {
        let status = ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request");
        return Response::json(503, &status.status()); // the APIService points at something that is not KEDA's
    }
    let Some(operator) = component_pod(state, OPERATOR_IMAGE) else {
        return failure("timeout while waiting to establish gRPC connection to KEDA Metrics Service server".into());
    };
    let scaled_object = selector
        .split(',')
        .filter_map(|part| part.split_once('='))
        .find(|(key, _)| key.trim() == NAME_LABEL)
        .map(|(_, value)| value.trim_start_matches('=').trim().to_string());
    let Some(name) = scaled_object.filter(|n| !n.is_empty()) else {
        return failure("scaledObject name is not specified".into());
    };
    let Some(so) = state.store.get(SCALED_OBJECTS, namespace, &name) else {
        return grpc_failure(format!("error getting scalers scaledobjects.keda.sh \"{name}\" not found"));
    };
    let scalers = match scaler::build(&so) {
        Ok(scalers) => scalers,
        Err(error) => return grpc_failure(format!("error getting scalers {error}")),
    };
    let mut items = Vec::new();
    for scaler in scalers.iter().filter(|s| s.metric_name() == metric) {
        match scaler.value(state, kubelet, &namespace_of(&operator)) {
            Ok(value) => items.push(json!({"metricName": metric, "metricLabels": null, "timestamp": now_rfc3339(),
                                           "value": format_quantity(milli(value))})),
            Err(_) => return grpc_failure(format!("metric:{metric} encountered error")),
        }
    }
    if items.is_empty() {
        return grpc_failure(format!("no matching metrics found for {metric}"));
    }
    Response::json(
        200,
        &json!({"kind": "ExternalMetricValueList", "apiVersion": "external.metrics.k8s.io/v1beta1", "metadata": {},
                "items": items}),
    )
}
