//! Splits and joins through the dispatcher, without sockets: the copies' accounting that
//! decides when an aggregation can complete with what it holds.

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::admin::metrics::Metrics;
use crate::compile::compile_test_yaml;
use crate::dispatch::Dispatcher;
use crate::transports::http::body::{self, read_body_limited};

fn api(in_sequence: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: split}}
spec:
  context: /split
  resources:
    - methods: [POST]
      uriTemplate: /run
      inSequence:
{in_sequence}"
    )
}

/// Posts `json` to the flow and returns the status and the JSON answer.
async fn run(in_sequence: &str, json: Value) -> (StatusCode, Value, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let compiled = compile_test_yaml(&api(in_sequence), metrics.clone());
    let dispatcher = Dispatcher::new(
        Arc::new(ArcSwap::from_pointee(compiled)),
        metrics.clone(),
        1 << 20,
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri("/split/run")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(json.to_string()))
        .unwrap();
    let resp = dispatcher.dispatch(req).await;
    let status = resp.status();
    let bytes = read_body_limited(resp.into_body(), 1 << 20).await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value, metrics)
}

fn open_aggregations(metrics: &Metrics) -> i64 {
    metrics.open_aggregations().get()
}

#[tokio::test]
async fn an_aggregation_completes_with_what_it_holds_once_no_copy_can_come() {
    // The second copy drops: nothing more can reach the aggregate after the third.
    let (status, body, metrics) = run(
        "        - clone:
            targets:
              - sequence: [{payloadFactory: {mediaType: json, format: '1'}}]
              - sequence: [{drop: {}}]
              - sequence: [{payloadFactory: {mediaType: json, format: '3'}}]
        - aggregate:
            onComplete: {expression: '${payload}', sequence: [{respond: {}}]}
",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut got: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    got.sort();
    assert_eq!(got, vec![1, 3]);
    assert_eq!(open_aggregations(&metrics), 0);
}

#[tokio::test]
async fn nested_splits_join_by_id_inner_first() {
    let (status, body, _) = run(
        "        - clone:
            id: outer
            sequential: true
            targets:
              - sequence:
                  - iterate:
                      id: inner
                      expression: '${payload.a}'
                      sequential: true
                      target: {sequence: [{log: {}}]}
                  - aggregate: {id: inner, onComplete: {expression: '${payload}'}}
              - sequence: [{payloadFactory: {mediaType: json, format: '\"x\"'}}]
        - aggregate:
            id: outer
            onComplete: {expression: '${payload}', sequence: [{respond: {}}]}
",
        json!({"a": [1, 2]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([[1, 2], "x"]));
}

#[tokio::test]
async fn a_copy_arriving_after_completion_is_dropped() {
    // max 1: the first copy completes the aggregation and its flow drops; the second copy
    // arrives late and is dropped too, so nothing answers.
    let (status, _, metrics) = run(
        "        - clone:
            sequential: true
            targets:
              - sequence: [{payloadFactory: {mediaType: json, format: '1'}}]
              - sequence: [{payloadFactory: {mediaType: json, format: '2'}}]
        - aggregate:
            completeCondition: {messageCount: {max: 1}}
            onComplete: {expression: '${payload}', sequence: [{drop: {}}]}
        - respond: {}
",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(open_aggregations(&metrics), 0);
}

#[tokio::test]
async fn without_an_aggregate_the_first_copy_to_finish_answers() {
    let (status, body, _) = run(
        "        - clone:
            sequential: true
            targets:
              - sequence: [{payloadFactory: {mediaType: json, format: '{\"first\": true}'}}]
              - sequence: [{payloadFactory: {mediaType: json, format: '{\"second\": true}'}}]
",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"first": true}));
}
