//! Correlation ids and log formats, black box: every request gets an `activityid` (or the
//! configured header), kept or made, sent to every backend call, returned in the answer and
//! written in the log lines of its flow; logs written to a file are JSON lines by default.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, client};

const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: first
spec:
  http: {uriTemplate: 'http://127.0.0.1:PORT/first', method: get}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: second
spec:
  http: {uriTemplate: 'http://127.0.0.1:PORT/second', method: get}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: shop
spec:
  context: /shop
  resources:
    - methods: [GET]
      uriTemplate: /both
      inSequence:
        - log: {level: custom, message: 'calling the backends'}
        - call: {endpoint: {key: first}}
        - call: {endpoint: {key: second}}
        - respond: {}
";

fn write_config(port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop.yaml"),
        CONFIG.replace("PORT", &port.to_string()),
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_an_activityid_gets_one_that_every_call_and_the_answer_carry() {
    let backend = Backend::start(|_| Reply::json(serde_json::json!({"ok": true})));
    let dir = write_config(backend.port());
    let ferry = Ferry::start(&[dir.path()], &[]);

    let answer = client().get(ferry.url("/shop/both")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{}", ferry.log());
    let id = answer.headers()["activityid"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let requests = backend.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.header("activityid"), Some(id.as_str()), "{}", r.uri);
    }

    // One given by the caller is kept, and the flow's log lines name it.
    let answer = client()
        .get(ferry.url("/shop/both"))
        .header("activityid", "order-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["activityid"], "order-4711");
    assert_eq!(
        backend.requests()[3].header("activityid"),
        Some("order-4711")
    );
    let log = ferry.log();
    assert!(
        log.lines().any(|l| l.contains("calling the backends")
            && l.contains("correlation_id=\"order-4711\"")
            || l.contains("calling the backends") && l.contains("correlation_id=order-4711")),
        "{log}"
    );

    // Unknown paths are answered with one too.
    let missing = client().get(ferry.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert!(missing.headers().contains_key("activityid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correlation_header_is_configurable_and_can_be_turned_off() {
    let backend = Backend::start(|_| Reply::json(serde_json::json!({"ok": true})));
    let dir = write_config(backend.port());
    let ferry = Ferry::start(&[dir.path()], &["--correlation-header", "X-Request-ID"]);
    let answer = client()
        .get(ferry.url("/shop/both"))
        .header("x-request-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "abc");
    assert!(!answer.headers().contains_key("activityid"));
    assert_eq!(backend.requests()[1].header("x-request-id"), Some("abc"));
    drop(ferry);

    let ferry = Ferry::start(&[dir.path()], &["--correlation-header", ""]);
    let answer = client().get(ferry.url("/shop/both")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(!answer.headers().contains_key("activityid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_written_to_a_file_are_json_lines_by_default() {
    let backend = Backend::start(|_| Reply::json(serde_json::json!({"ok": true})));
    let dir = write_config(backend.port());
    // The harness asks for text; `auto` is the default without FERRY_LOG_FORMAT.
    let ferry = Ferry::start_with_env(&[dir.path()], &[], &[("FERRY_LOG_FORMAT", "auto")]);
    client()
        .get(ferry.url("/shop/both"))
        .header("activityid", "json-1")
        .send()
        .await
        .unwrap();
    let log = ferry.log();
    assert!(!log.contains('\u{1b}'), "{log:?}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "serving"), "{log}");
    assert!(
        lines
            .iter()
            .any(|l| l["correlation_id"] == "json-1" && l["message"] == "calling the backends"),
        "{log}"
    );
}
