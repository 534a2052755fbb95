//! Synapse names, black box: MI artifact names (`05_EP_XML`) are not Kubernetes names, so a
//! migrated resource keeps a Kubernetes name and carries its Synapse name in the annotation
//! `ferry.dev/synapse-name`. References may use either name, and logs and metrics show the
//! Synapse name, so a migrated configuration keeps working and reads as it did.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, client};
use serde_json::json;

const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: payments-api
  annotations: {ferry.dev/synapse-name: PaymentsAPI}
spec:
  context: /pay
  resources:
    - methods: [POST]
      uriTemplate: /now
      inSequence:
        - sequence: {key: Stamp_Seq}
        - call: {endpoint: {key: 05_EP_XML}}
        - respond: {}
    - methods: [POST]
      uriTemplate: /later
      inSequence:
        - store: {messageStore: PaymentRequestMessageStore}
        - property: {name: HTTP_SC, scope: axis2, value: '202'}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: stamp-seq
  annotations: {ferry.dev/synapse-name: Stamp_Seq}
spec:
  mediators:
    - header: {name: X-Stamped, value: 'yes'}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: ep-05-xml
  annotations: {ferry.dev/synapse-name: 05_EP_XML}
spec:
  http: {uriTemplate: 'http://127.0.0.1:PORT/settle', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: payment-request-store
  annotations: {ferry.dev/synapse-name: PaymentRequestMessageStore}
spec:
  type: memory
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: payment-forwarder
spec:
  type: forwarding
  messageStore: PaymentRequestMessageStore
  targetEndpoint: 05_EP_XML
  interval: 20
";

#[tokio::test]
async fn references_resolve_by_synapse_name_and_metrics_show_it() {
    let backend = Backend::start(|_| Reply::json(json!({"settled": true})));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, CONFIG.replace("PORT", &backend.port().to_string())).unwrap();
    let ferry = Ferry::start(&[&path], &[]);
    let http = client();

    let r = http
        .post(ferry.url("/pay/now"))
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", ferry.log());
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"settled": true})
    );
    assert_eq!(backend.requests()[0].header("x-stamped"), Some("yes"));

    let r = http
        .post(ferry.url("/pay/later"))
        .json(&json!({"n": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.requests().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the processor never delivered: {}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let metrics = http
        .get(ferry.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_http_requests_total{api=\"PaymentsAPI\",resource=\"/now\""),
        "{metrics}"
    );
    assert!(metrics.contains("endpoint=\"05_EP_XML\""), "{metrics}");
}

#[test]
fn a_synapse_name_taken_twice_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let doubled = CONFIG.replace("PORT", "1").replace(
        "  name: stamp-seq\n  annotations: {ferry.dev/synapse-name: Stamp_Seq}",
        "  name: stamp-seq\n  annotations: {ferry.dev/synapse-name: Stamp_Seq}\nspec:\n  mediators: []\n---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata:\n  name: other-seq\n  annotations: {ferry.dev/synapse-name: Stamp_Seq}",
    );
    std::fs::write(&path, doubled).unwrap();
    let out = ferry_tests::validate(&[&path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Sequence/other-seq metadata.annotations.ferry.dev/synapse-name: duplicate Sequence name \"Stamp_Seq\""),
        "{stdout}"
    );
}
