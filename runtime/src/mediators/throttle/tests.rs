//! The throttle through the dispatcher: exact counts per caller, rules, onReject, the default
//! 429 (Redis and several processes: tests/tests/security.rs).

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Request, StatusCode};
use serde_json::Value;

use crate::admin::metrics::Metrics;
use crate::compile::compile_test_yaml;
use crate::dispatch::{ClientAddr, Dispatcher};
use crate::transports::http::body::{self, read_body_limited};

fn dispatcher(yaml: &str) -> Dispatcher {
    let metrics = Arc::new(Metrics::new());
    let compiled = compile_test_yaml(yaml, metrics.clone());
    Dispatcher::new(Arc::new(ArcSwap::from_pointee(compiled)), metrics, 1 << 20)
}

fn api(id: &str, throttle: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: t}}
spec:
  context: /t
  resources:
    - inSequence:
        - throttle:
            id: {id}
{throttle}
        - payloadFactory: {{mediaType: json, format: '{{\"ok\": true}}'}}
        - respond: {{}}
"
    )
}

async fn call(
    d: &Dispatcher,
    from: &str,
    client: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::get("/t/x");
    if let Some(c) = client {
        req = req.header("x-client", c);
    }
    let mut req = req.body(body::empty()).unwrap();
    req.extensions_mut()
        .insert(ClientAddr(format!("{from}:40000").parse().unwrap()));
    let resp = d.dispatch(req).await;
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = read_body_limited(resp.into_body(), 1 << 16).await.unwrap();
    (
        status,
        retry,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_caller_gets_exactly_max_count_then_a_429_with_retry_after() {
    let d = dispatcher(&api(
        "exact-per-ip",
        "            policy:
              rules: [{range: other, maxCount: 5, unitTime: 60000}]",
    ));
    for i in 0..5 {
        let (status, _, _) = call(&d, "10.0.0.1", None).await;
        assert_eq!(status, StatusCode::OK, "request {}", i + 1);
    }
    let (status, retry, body) = call(&d, "10.0.0.1", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("12"), "a token every 12 s");
    assert_eq!(body["error"]["code"], 900800);
    // Another address has its own bucket.
    assert_eq!(call(&d, "10.0.0.2", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_key_expression_counts_per_header_and_rules_allow_or_deny_keys() {
    let d = dispatcher(&api(
        "by-header",
        "            key: '${headers[\"x-client\"]}'
            policy:
              rules:
                - {range: gold, access: allow}
                - {range: banned, access: deny}
                - {range: other, maxCount: 2, unitTime: 60000}",
    ));
    for _ in 0..2 {
        assert_eq!(call(&d, "10.0.0.1", Some("a")).await.0, StatusCode::OK);
    }
    assert_eq!(
        call(&d, "10.0.0.1", Some("a")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Same address, another key: its own bucket.
    assert_eq!(call(&d, "10.0.0.1", Some("b")).await.0, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(call(&d, "10.0.0.1", Some("gold")).await.0, StatusCode::OK);
    }
    assert_eq!(
        call(&d, "10.0.0.1", Some("banned")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn on_reject_runs_with_the_error_properties_and_on_accept_for_admitted_messages() {
    let d = dispatcher(&api(
        "with-sequences",
        "            policy:
              rules: [{range: other, maxCount: 1, unitTime: 60000}]
            onAccept:
              - property: {name: admitted, value: 'yes'}
            onReject:
              - payloadFactory:
                  mediaType: json
                  format: '{\"rejected\": \"${props.synapse.ERROR_CODE}\"}'
              - property: {name: HTTP_SC, scope: axis2, value: '503'}
              - respond: {}",
    ));
    let (status, _, body) = call(&d, "10.0.0.9", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], true);
    let (status, _, body) = call(&d, "10.0.0.9", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["rejected"], "900800");
}

#[tokio::test]
async fn max_concurrent_access_rejects_a_message_while_another_is_inside_on_accept() {
    // A backend that takes the connection and never answers: the first message stays
    // inside onAccept until its call times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        drop(socket);
    });
    let d = Arc::new(dispatcher(&api(
        "concurrency",
        &format!(
            "            policy: {{maxConcurrentAccess: 1}}
            onAccept:
              - call:
                  endpoint:
                    http: {{uriTemplate: 'http://127.0.0.1:{port}/slow'}}
                    timeout: {{duration: 1500}}"
        ),
    )));
    let inside = {
        let d = d.clone();
        tokio::spawn(async move { call(&d, "10.0.0.7", None).await.0 })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, _, body) = call(&d, "10.0.0.8", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        body["error"]["message"],
        "Message throttled out: too many messages in flight"
    );
    // The first one timed out inside onAccept; its place is free again.
    assert_eq!(inside.await.unwrap(), StatusCode::GATEWAY_TIMEOUT);
    held.abort();
    let (status, _, _) = call(&d, "10.0.0.8", None).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
}
