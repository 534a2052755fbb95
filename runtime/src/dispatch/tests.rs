//! The dispatcher without sockets: requests go straight into `dispatch`, as the listener
//! hands them over.

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::admin::metrics::Metrics;
use crate::compile::compile_test_yaml;
use crate::transports::http::body::read_body_limited;

/// The json-xml sample's conversion resources.
const CONVERT: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: convert}
spec:
  context: /convert
  resources:
    - methods: [POST]
      uriTemplate: /to-xml
      inSequence:
        - property: {name: messageType, scope: axis2, value: application/xml}
        - respond: {}
    - methods: [POST]
      uriTemplate: /to-json
      inSequence:
        - property: {name: messageType, scope: axis2, value: application/json}
        - respond: {}
";

fn dispatcher(yaml: &str, max_body_bytes: usize) -> Dispatcher {
    let metrics = Arc::new(Metrics::new());
    let compiled = compile_test_yaml(yaml, metrics.clone());
    Dispatcher::new(
        Arc::new(ArcSwap::from_pointee(compiled)),
        metrics,
        max_body_bytes,
    )
}

fn post(path: &str, content_type: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap()
}

/// The status and the body parsed as JSON.
async fn answer(resp: Response<Body>) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = read_body_limited(resp.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_unknown_resource_under_a_known_context_names_the_api() {
    let d = dispatcher(CONVERT, 1024);
    let req = Request::get("/convert/unknown")
        .body(body::empty())
        .unwrap();
    let (status, body) = answer(d.dispatch(req).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"],
        r#"no resource of API "convert" matches GET /convert/unknown"#
    );
}

#[tokio::test]
async fn a_path_outside_every_context_says_no_api_matches() {
    let d = dispatcher(CONVERT, 1024);
    let req = Request::get("/elsewhere").body(body::empty()).unwrap();
    let (status, body) = answer(d.dispatch(req).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no API matches /elsewhere");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_json_413() {
    let d = dispatcher(CONVERT, 4);
    let chunks = futures::stream::iter(
        ["12", "34", "56"]
            .map(|c| Ok::<_, body::BoxError>(hyper::body::Frame::data(Bytes::from(c)))),
    );
    let chunked = body::boxed(http_body_util::StreamBody::new(chunks));
    let (status, body) = answer(
        d.dispatch(post("/convert/to-xml", "application/json", chunked))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body,
        json!({"error": {"code": 413, "message": "the request body is larger than 4 bytes"}})
    );
}
