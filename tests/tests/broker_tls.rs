//! TLS to RabbitMQ (`amqps`), black box, on a private node of this test with an `amqps`
//! listener whose certificate a test CA issued, demanding client certificates (RabbitMQ's
//! mutual TLS): a store stores over it and its processor forwards, an inbound endpoint
//! consumes over it, an endpoint publishes over it; a store trusting another CA, and one
//! without a client certificate, are refused with a message that says why.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::broker::PrivateBroker;
use ferry_tests::tls::{TestCa, Usage};
use ferry_tests::{Backend, Ferry, client};
use serde_json::json;

/// `NAME`'s store settings over `amqps` on `TLSPORT`, with `TLSBLOCK` as its tls block.
const STORE: &str = "---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: NAME
spec:
  type: rabbitmq
  rabbitmq:
    host: 127.0.0.1
    port: TLSPORT
    queue: NAME
    connectionRetry: {initialDelay: 100, maxDelay: 500}
    tls: TLSBLOCK
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: NAME
spec:
  context: /NAME
  resources:
    - methods: [POST]
      inSequence:
        - store: {messageStore: NAME}
        - property: {name: HTTP_SC, value: '202', scope: axis2}
        - respond: {}
      faultSequence:
        - property: {name: HTTP_SC, scope: axis2, value: '503'}
        - payloadFactory: {mediaType: text, format: '${props.synapse.ERROR_MESSAGE}'}
        - respond: {}
";

const TRUSTED: &str = "{caFrom: {env: BROKER_CA}, certFrom: {env: CLIENT_CERT}, keyFrom: {env: CLIENT_KEY}, serverName: localhost}";

/// A processor forwarding `payments` to the backend on `SETTLE`; an endpoint publishing
/// `/publish` requests over `amqps` to the queue `incoming`, which an inbound endpoint
/// consumes over `amqps` into a call to the backend on `INBOUND`.
const FLOWS: &str = "---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: settle
spec:
  http: {uriTemplate: 'http://127.0.0.1:SETTLE/settle', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: forward
spec:
  type: forwarding
  messageStore: payments
  targetEndpoint: settle
  interval: 20
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: queue-ep
spec:
  address:
    uri: 'rabbitmq:/incoming?rabbitmq.server.host.name=127.0.0.1&rabbitmq.server.port=TLSPORT&rabbitmq.queue.name=incoming&rabbitmq.queue.autodeclare=true&rabbitmq.connection.ssl.enabled=true&rabbitmq.connection.ssl.ca.env=BROKER_CA&rabbitmq.connection.ssl.cert.env=CLIENT_CERT&rabbitmq.connection.ssl.key.env=CLIENT_KEY&rabbitmq.connection.ssl.server.name=localhost'
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: publish
spec:
  context: /publish
  resources:
    - methods: [POST]
      inSequence:
        - call: {endpoint: {key: queue-ep}}
        - respond: {}
      faultSequence:
        - property: {name: HTTP_SC, scope: axis2, value: '503'}
        - payloadFactory: {mediaType: text, format: '${props.synapse.ERROR_MESSAGE}'}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: inbound-backend
spec:
  http: {uriTemplate: 'http://127.0.0.1:INBOUND/in', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: consume
spec:
  mediators:
    - call: {endpoint: {key: inbound-backend}}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: incoming
spec:
  protocol: rabbitmq
  sequence: consume
  rabbitmq:
    host: 127.0.0.1
    port: TLSPORT
    queue: incoming
    declareQueue: {durable: true}
    connectionRetry: {initialDelay: 100, maxDelay: 500}
    tls: TRUSTED
";

async fn wait_for(what: &str, ferry: &Ferry, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(ferry: &Ferry, path: &str, n: u64) -> (u16, String) {
    let resp = client()
        .post(ferry.url(path))
        .json(&json!({"n": n}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_processors_inbounds_and_endpoints_speak_amqps_with_mutual_tls() {
    let ca = TestCa::new("broker CA");
    let server = ca.issue("rabbit", &["localhost"], Usage::Server);
    let client_cert = ca.issue("ferry", &["ferry"], Usage::Client);
    let other = TestCa::new("another CA");
    let Some(broker) = PrivateBroker::start_tls(&server, &ca.cert) else {
        return;
    };
    let tls_port = broker.tls_port().unwrap().to_string();
    let settle = Backend::start(|_| Reply::json(json!({})));
    let inbound = Backend::start(|_| Reply::json(json!({})));

    let store = |name: &str, tls: &str| STORE.replace("NAME", name).replace("TLSBLOCK", tls);
    let config = [
        store("payments", TRUSTED),
        store(
            "wrongca",
            "{caFrom: {env: OTHER_CA}, certFrom: {env: CLIENT_CERT}, keyFrom: {env: CLIENT_KEY}, serverName: localhost}",
        ),
        store("anonymous", "{caFrom: {env: BROKER_CA}, serverName: localhost}"),
        FLOWS
            .replace("SETTLE", &settle.port().to_string())
            .replace("INBOUND", &inbound.port().to_string())
            .replace("TRUSTED", TRUSTED),
    ]
    .concat()
    .replace("TLSPORT", &tls_port);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), &config).unwrap();
    let ferry = Ferry::start_with_env(
        &[Path::new(dir.path())],
        &[],
        &[
            ("BROKER_CA", &ca.cert),
            ("OTHER_CA", &other.cert),
            ("CLIENT_CERT", &client_cert.cert),
            ("CLIENT_KEY", &client_cert.key),
        ],
    );

    // A store over amqps, and its processor forwarding what it took from it.
    assert_eq!(post(&ferry, "/payments", 1).await.0, 202, "{}", ferry.log());
    wait_for("the forwarded payment", &ferry, || {
        settle.requests().iter().any(|r| r.json()["n"] == 1)
    })
    .await;

    // An endpoint publishing over amqps, an inbound endpoint consuming over amqps.
    wait_for("the consumer", &ferry, || {
        ferry.log().contains("consuming from RabbitMQ")
    })
    .await;
    let (status, body) = post(&ferry, "/publish", 2).await;
    assert_eq!(status, 200, "{body}\n{}", ferry.log());
    wait_for("the consumed message", &ferry, || {
        inbound.requests().iter().any(|r| r.json()["n"] == 2)
    })
    .await;

    // The broker's certificate from another CA: refused, saying so; nothing is stored in
    // plain text instead.
    let (status, body) = post(&ferry, "/wrongca", 3).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("TLS handshake with RabbitMQ failed")
            && body.contains("not signed by a trusted CA"),
        "{body}"
    );
    // No client certificate: the broker refuses it.
    let (status, body) = post(&ferry, "/anonymous", 4).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("TLS handshake with RabbitMQ failed"),
        "{body}"
    );
    assert!(
        !ferry.log().contains("PRIVATE KEY"),
        "key material never reaches the log"
    );
    drop(ferry);
    drop(broker);
}
