//! Synapse's message-exchange properties, black box: `FORCE_SC_ACCEPTED` (the client gets
//! 202 and no body), `OUT_ONLY` (call and send deliver without waiting for an answer) and a
//! stored message's `target.endpoint` (the endpoint a forwarding processor delivers it to),
//! together in MI's store-and-forward pattern.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, client};
use serde_json::json;

const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: exchange
spec:
  context: /x
  resources:
    # MI's store-and-forward: accept at once, route each stored message by its content.
    - methods: [POST]
      uriTemplate: /orders
      inSequence:
        - property: {name: FORCE_SC_ACCEPTED, value: 'true', scope: axis2}
        - property: {name: OUT_ONLY, value: 'true'}
        - property: {name: target.endpoint, expression: '${payload.priority == \"high\" ? \"express\" : \"standard\"}'}
        - store: {messageStore: orders}
    - methods: [POST]
      uriTemplate: /unrouted
      inSequence:
        - property: {name: FORCE_SC_ACCEPTED, value: 'true', scope: axis2}
        - store: {messageStore: orders}
    - methods: [POST]
      uriTemplate: /notify-call
      inSequence:
        - property: {name: OUT_ONLY, value: 'true'}
        - call: {endpoint: {key: slow}}
        - property: {name: OUT_ONLY, action: remove}
        - payloadFactory: {mediaType: json, format: '{\"after\": \"call\", \"n\": ${payload.n}}'}
        - respond: {}
    - methods: [POST]
      uriTemplate: /notify-send
      inSequence:
        - property: {name: OUT_ONLY, value: 'true'}
        - send: {endpoint: {key: slow}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: orders
spec:
  type: memory
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: express
spec:
  http: {uriTemplate: 'http://127.0.0.1:EXPRESS/express', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: standard
spec:
  http: {uriTemplate: 'http://127.0.0.1:STANDARD/standard', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: slow
spec:
  http: {uriTemplate: 'http://127.0.0.1:SLOW/slow', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: route-orders
spec:
  type: forwarding
  messageStore: orders
  interval: 20
";

struct Setup {
    express: Backend,
    standard: Backend,
    slow: Backend,
    ferry: Ferry,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let express = Backend::start(|_| Reply::json(json!({"lane": "express"})));
    let standard = Backend::start(|_| Reply::json(json!({"lane": "standard"})));
    let slow =
        Backend::start(|_| Reply::json(json!({"slow": true})).delayed(Duration::from_millis(800)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        CONFIG
            .replace("EXPRESS", &express.port().to_string())
            .replace("STANDARD", &standard.port().to_string())
            .replace("SLOW", &slow.port().to_string()),
    )
    .unwrap();
    let ferry = Ferry::start(&[&path], &[]);
    Setup {
        express,
        standard,
        slow,
        ferry,
        _dir: dir,
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn store_and_forward_answers_202_and_each_message_goes_where_its_target_endpoint_says() {
    let s = setup();
    for (n, priority) in [(1, "high"), (2, "low"), (3, "high")] {
        let r = client()
            .post(s.ferry.url("/x/orders"))
            .json(&json!({"n": n, "priority": priority}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        assert_eq!(
            r.text().await.unwrap(),
            "",
            "FORCE_SC_ACCEPTED answers no body"
        );
    }
    let ns = |b: &Backend| -> Vec<u64> {
        b.requests()
            .iter()
            .filter_map(|r| r.json()["n"].as_u64())
            .collect()
    };
    wait_for("three deliveries", || {
        s.express.requests().len() + s.standard.requests().len() == 3
    })
    .await;
    assert_eq!(ns(&s.express), [1, 3]);
    assert_eq!(ns(&s.standard), [2]);
}

#[tokio::test]
async fn an_out_only_call_does_not_wait_and_the_flow_keeps_its_message() {
    let s = setup();
    let started = Instant::now();
    let r = client()
        .post(s.ferry.url("/x/notify-call"))
        .json(&json!({"n": 7}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"after": "call", "n": 7}),
        "the flow goes on with the request, not the backend's answer"
    );
    assert!(
        took < Duration::from_millis(600),
        "waited {took:?} for an 800 ms backend"
    );
    wait_for("the detached delivery", || s.slow.requests().len() == 1).await;
    assert_eq!(s.slow.requests()[0].json(), json!({"n": 7}));
}

#[tokio::test]
async fn an_out_only_send_ends_the_flow_with_202_without_waiting() {
    let s = setup();
    let started = Instant::now();
    let r = client()
        .post(s.ferry.url("/x/notify-send"))
        .json(&json!({"n": 8}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status().as_u16(), 202);
    assert!(
        took < Duration::from_millis(600),
        "waited {took:?} for an 800 ms backend"
    );
    wait_for("the detached delivery", || s.slow.requests().len() == 1).await;
}

#[tokio::test]
async fn a_message_naming_no_endpoint_fails_for_good_and_stays_in_the_store() {
    let s = setup();
    // This resource stores without target.endpoint; the processor has no targetEndpoint
    // either. Retrying cannot help: the first attempt gives up and the processor's
    // onExhausted (deactivate, by default) applies, keeping the message.
    let r = client()
        .post(s.ferry.url("/x/unrouted"))
        .json(&json!({"n": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let mut state = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        state = client()
            .get(
                s.ferry
                    .admin_url("/management/message-processors/route-orders"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["state"] == "Inactive" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state["state"], "Inactive", "{state}");
    assert!(
        s.ferry.log().contains(
            "the processor has no targetEndpoint and the message no target.endpoint property"
        ),
        "{}",
        s.ferry.log()
    );
    assert_eq!(s.express.requests().len() + s.standard.requests().len(), 0);
}
