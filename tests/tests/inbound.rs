//! Inbound endpoints, black box: a RabbitMQ queue consumed into a sequence that calls an
//! HTTP backend (acknowledged only after the sequence), a failed message dead-lettered,
//! request-reply, a SIGKILL while consuming 2,000 messages; a directory of CSV files polled
//! into JSON records, moved to done/ or failed/, a part file left alone, and a SIGKILL
//! while processing 500 files. RabbitMQ tests use the machine's broker (127.0.0.1:5672)
//! with queues of their own, and skip with a reason when it is not there.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::broker::PrivateBroker;
use ferry_tests::files::{names, record_to_api};
use ferry_tests::{
    Backend, Ferry, client, inbound_endpoint, wait_inbound_endpoint, wait_until, write_config,
};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";

/// A queue name of this test run alone.
fn queue(name: &str) -> String {
    format!("ferry-test-inbound-{name}-{}", std::process::id())
}

async fn channel() -> Option<(Connection, Channel)> {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let Ok(conn) = Connection::connect(BROKER, props).await else {
        eprintln!("skipped: no RabbitMQ on 127.0.0.1:5672 (make services starts it)");
        return None;
    };
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    Some((conn, channel))
}

async fn declare(channel: &Channel, queue: &str) {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
}

async fn delete(channel: &Channel, queue: &str) {
    let _ = channel
        .queue_delete(queue, QueueDeleteOptions::default())
        .await;
}

async fn publish(channel: &Channel, queue: &str, body: &[u8], props: BasicProperties) {
    channel
        .basic_publish("", queue, BasicPublishOptions::default(), body, props)
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Messages ready in `queue` (not counting those delivered and unacknowledged).
async fn ready(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
}

/// Waits until `queue` holds `count` ready messages; past `timeout` the test fails with
/// `failure`.
async fn wait_ready(channel: &Channel, queue: &str, count: u32, failure: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while ready(channel, queue).await != count {
        assert!(Instant::now() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `n` of each request the backend received, in order.
fn received(backend: &Backend) -> Vec<u64> {
    backend
        .requests()
        .iter()
        .filter_map(|r| r.json()["n"].as_u64())
        .collect()
}

/// Counts per `n`: how many never arrived, and which arrived more than once.
fn tally(backend: &Backend, total: u64) -> (Vec<u64>, Vec<(u64, usize)>) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for n in received(backend) {
        *counts.entry(n).or_default() += 1;
    }
    let lost = (0..total).filter(|n| !counts.contains_key(n)).collect();
    let mut duplicated: Vec<(u64, usize)> = counts.into_iter().filter(|(_, c)| *c > 1).collect();
    duplicated.sort_unstable();
    (lost, duplicated)
}

/// Waits until each of the `total` messages reached the backend, lets redeliveries of the
/// last in-flight ones land, prints `what` with the calls in all, the lost and the
/// duplicated, and fails if one was lost.
async fn every_one_arrived(backend: &Backend, total: u64, what: &str) {
    wait_until("every message", Duration::from_secs(120), || {
        tally(backend, total).0.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (lost, duplicated) = tally(backend, total);
    eprintln!(
        "{what}, {} calls in all, {} lost, {} duplicated {:?}",
        backend.requests().len(),
        lost.len(),
        duplicated.len(),
        duplicated
    );
    assert!(lost.is_empty(), "lost {lost:?}");
}

/// A RabbitMQ inbound endpoint on `QUEUE` into a sequence that calls the backend on `PORT`,
/// with `EXTRA` settings in its rabbitmq block.
const RABBIT: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: backend
spec:
  http:
    uriTemplate: http://127.0.0.1:PORT/orders
    method: post
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: to-backend
spec:
  mediators:
    - filter:
        expression: ${payload.poison == true}
        then:
          - throwError: {type: POISON, errorMessage: poisoned}
    - call: {endpoint: {key: backend}}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: on-error
spec:
  mediators:
    - log: {message: 'failed: ${props.synapse.ERROR_MESSAGE}'}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: orders-in
spec:
  protocol: rabbitmq
  sequence: to-backend
  onError: on-error
  sequential: SEQUENTIAL
  rabbitmq:
    host: 127.0.0.1
    queue: QUEUE
EXTRA
";

fn rabbit_config(port: u16, queue: &str, sequential: bool, extra: &str) -> String {
    RABBIT
        .replace("PORT", &port.to_string())
        .replace("QUEUE", queue)
        .replace("SEQUENTIAL", &sequential.to_string())
        .replace("EXTRA", extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_messages_go_through_the_sequence_and_are_acknowledged_after_it() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("basic");
    delete(&ch, &q).await;
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    let extra = "    declareQueue: {durable: true}\n    prefetch: 5";
    write_config(dir.path(), &rabbit_config(backend.port(), &q, true, extra));
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_until("the consumer", Duration::from_secs(20), || {
        ferry.log().contains("consuming from RabbitMQ")
    })
    .await;

    let headers = {
        let mut t = FieldTable::default();
        t.insert(
            "x-tenant".into(),
            lapin::types::AMQPValue::LongString("acme".into()),
        );
        t
    };
    for n in 0..20u64 {
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(headers.clone());
        publish(&ch, &q, json!({"n": n}).to_string().as_bytes(), props).await;
    }
    wait_until("20 calls", Duration::from_secs(30), || {
        backend.requests().len() >= 20
    })
    .await;
    // Sequential: in the order published.
    assert_eq!(received(&backend), (0..20).collect::<Vec<_>>());
    let first = &backend.requests()[0];
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(
        first.header("x-tenant"),
        Some("acme"),
        "AMQP headers become transport headers"
    );

    let state = wait_inbound_endpoint(
        &ferry,
        "orders-in",
        "the counts to settle",
        Duration::from_secs(20),
        |s| s["succeeded"] == 20 && s["inFlight"] == 0,
    )
    .await;
    assert_eq!(state["received"], 20);
    assert_eq!(state["failed"], 0);
    assert_eq!(state["protocol"], "rabbitmq");
    assert_eq!(state["runsOn"], "everyReplica");
    assert_eq!(state["status"], "running");
    let metrics = client()
        .get(ferry.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "ferry_inbound_messages_total{inbound=\"orders-in\",outcome=\"succeeded\"} 20"
        ),
        "{metrics}"
    );
    drop(ferry);
    assert_eq!(ready(&ch, &q).await, 0, "every message was acknowledged");
    delete(&ch, &q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rabbitmq_message_is_rejected_to_the_dead_letter_queue() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("dlx");
    let dlq = queue("dlx-dead");
    delete(&ch, &q).await;
    delete(&ch, &dlq).await;
    declare(&ch, &dlq).await;
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    // The default exchange routes the dead letter to the queue named by the routing key.
    let extra = format!(
        "    onFault: reject\n    declareQueue: {{durable: true, deadLetterExchange: '', deadLetterRoutingKey: {dlq}}}"
    );
    write_config(dir.path(), &rabbit_config(backend.port(), &q, true, &extra));
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_until("the consumer", Duration::from_secs(20), || {
        ferry.log().contains("consuming from RabbitMQ")
    })
    .await;
    let json_props = || BasicProperties::default().with_content_type("application/json".into());
    publish(&ch, &q, br#"{"n": 1}"#, json_props()).await;
    publish(&ch, &q, br#"{"n": 2, "poison": true}"#, json_props()).await;
    publish(&ch, &q, br#"{"n": 3}"#, json_props()).await;
    wait_until("the good messages", Duration::from_secs(30), || {
        backend.requests().len() >= 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&ch, &dlq).await < 1 {
        assert!(
            Instant::now() < deadline,
            "nothing dead-lettered:\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = ch
        .basic_get(dlq.as_str(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.delivery.data, br#"{"n": 2, "poison": true}"#);
    assert_eq!(received(&backend), [1, 3]);
    assert!(ferry.log().contains("failed: poisoned"), "onError ran");
    let state = inbound_endpoint(&ferry, "orders-in").await;
    assert_eq!(state["failed"], 1, "{state}");
    drop(ferry);
    delete(&ch, &q).await;
    delete(&ch, &dlq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rabbitmq_message_is_requeued_and_taken_again() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("requeue");
    delete(&ch, &q).await;
    declare(&ch, &q).await;
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &rabbit_config(backend.port(), &q, true, "    requeueDelay: 50"),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    publish(
        &ch,
        &q,
        br#"{"poison": true}"#,
        BasicProperties::default().with_content_type("application/json".into()),
    )
    .await;
    wait_inbound_endpoint(
        &ferry,
        "orders-in",
        "three redeliveries",
        Duration::from_secs(30),
        |s| s["failed"].as_u64().unwrap_or(0) >= 3,
    )
    .await;
    drop(ferry);
    // Still there: requeued, never acknowledged.
    wait_ready(&ch, &q, 1, "the message is gone", Duration::from_secs(10)).await;
    delete(&ch, &q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_request_with_reply_to_is_answered_with_its_correlation_id() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("rpc");
    let replies = queue("rpc-replies");
    delete(&ch, &q).await;
    delete(&ch, &replies).await;
    declare(&ch, &q).await;
    declare(&ch, &replies).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!(
            "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: quote
spec:
  mediators:
    - payloadFactory:
        mediaType: json
        format: '{{\"sku\": \"${{payload.sku}}\", \"price\": 42}}'
    - respond: {{}}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: quotes
spec:
  protocol: rabbitmq
  sequence: quote
  rabbitmq: {{host: 127.0.0.1, queue: {q}}}
"
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_reply_to(replies.as_str().into())
        .with_correlation_id("req-7".into());
    publish(&ch, &q, br#"{"sku": "A1"}"#, props).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        if let Some(m) = ch
            .basic_get(replies.as_str(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            break m.delivery;
        }
        assert!(Instant::now() < deadline, "no reply:\n{}", ferry.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        reply
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str()),
        Some("req-7")
    );
    assert_eq!(
        reply.properties.content_type().as_ref().map(|c| c.as_str()),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&reply.data).unwrap();
    assert_eq!(body, json!({"sku": "A1", "price": 42}));
    drop(ferry);
    delete(&ch, &q).await;
    delete(&ch, &replies).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_sigkill_while_consuming_2000_rabbitmq_messages_loses_none() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("chaos");
    delete(&ch, &q).await;
    declare(&ch, &q).await;
    let total = 2000u64;
    for n in 0..total {
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        publish(&ch, &q, json!({"n": n}).to_string().as_bytes(), props).await;
    }
    let backend =
        Backend::start(|_| Reply::json(json!({"ok": true})).delayed(Duration::from_millis(1)));
    let dir = tempfile::tempdir().unwrap();
    let extra = "    prefetch: 50\n    consumers: 2";
    write_config(dir.path(), &rabbit_config(backend.port(), &q, false, extra));
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_until("a share of the messages", Duration::from_secs(60), || {
        backend.requests().len() >= 500
    })
    .await;
    ferry.signal("KILL");
    drop(ferry);
    let before_restart = backend.requests().len();

    let ferry = Ferry::start(&[dir.path()], &[]);
    every_one_arrived(
        &backend,
        total,
        &format!("rabbitmq chaos: {total} published, {before_restart} calls before the SIGKILL"),
    )
    .await;
    wait_ready(
        &ch,
        &q,
        0,
        "the queue never emptied",
        Duration::from_secs(20),
    )
    .await;
    drop(ferry);
    delete(&ch, &q).await;
}

/// A channel with publisher confirms to the private node on `port`.
async fn private_channel(port: u16) -> (Connection, Channel) {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2F");
    let conn = Connection::connect(&url, props).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    (conn, channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_a_broker_restart_while_consuming_1000_messages_loses_none() {
    let Some(mut broker) = PrivateBroker::start() else {
        return;
    };
    let q = queue("restart");
    let total = 1000u64;
    {
        let (_conn, ch) = private_channel(broker.port()).await;
        declare(&ch, &q).await;
        for n in 0..total {
            let props = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2);
            publish(&ch, &q, json!({"n": n}).to_string().as_bytes(), props).await;
        }
    }
    // About 100 messages a second (5 at a time, 50 ms each) until the node is told to stop;
    // then 5 a second, so it goes down with most of them still queued and some in flight,
    // however long its Erlang VM takes to stop on a loaded machine.
    let stopping = Arc::new(AtomicBool::new(false));
    let backend = Backend::start({
        let stopping = stopping.clone();
        move |_| {
            let delay = if stopping.load(Ordering::SeqCst) {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(50)
            };
            Reply::json(json!({"ok": true})).delayed(delay)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "    port: {}\n    prefetch: 5\n    consumers: 1",
        broker.port()
    );
    write_config(
        dir.path(),
        &rabbit_config(backend.port(), &q, false, &extra),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_until("a share of the messages", Duration::from_secs(60), || {
        backend.requests().len() >= 150
    })
    .await;
    // The whole node goes down (its Erlang VM exits) with messages in flight, and comes
    // back on the same ports and database.
    stopping.store(true, Ordering::SeqCst);
    tokio::task::block_in_place(|| broker.stop_node());
    let before_restart = backend.requests().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let state = inbound_endpoint(&ferry, "orders-in").await;
    assert_eq!(state["connected"], false, "the outage is seen: {state}");
    tokio::task::block_in_place(|| broker.start_node());
    stopping.store(false, Ordering::SeqCst);
    every_one_arrived(
        &backend,
        total,
        &format!(
            "rabbitmq restart: {total} published, {before_restart} calls before the node stopped"
        ),
    )
    .await;
    let (_conn, ch) = private_channel(broker.port()).await;
    wait_ready(
        &ch,
        &q,
        0,
        "the queue never emptied",
        Duration::from_secs(30),
    )
    .await;
    assert!(
        before_restart < total as usize,
        "the node stopped with messages left to consume"
    );
    wait_inbound_endpoint(
        &ferry,
        "orders-in",
        "the reconnection",
        Duration::from_secs(60),
        |s| s["connected"] == true,
    )
    .await;
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_across_a_broker_restart_faults_cleanly_and_loses_nothing_confirmed() {
    let Some(mut broker) = PrivateBroker::start() else {
        return;
    };
    let q = queue("publish-restart");
    let dir = tempfile::tempdir().unwrap();
    let params = format!(
        "rabbitmq.server.port={}&rabbitmq.queue.name={q}&rabbitmq.queue.autodeclare=true",
        broker.port()
    );
    write_config(dir.path(), &publish_api(&params));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let http = client();
    let post = |n: u64| {
        let (http, url) = (http.clone(), ferry.url("/publish"));
        async move {
            http.post(url)
                .json(&json!({"n": n}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut confirmed = Vec::new();
    for n in 0..50 {
        assert_eq!(post(n).await, 200, "{}", ferry.log());
        confirmed.push(n);
    }
    tokio::task::block_in_place(|| broker.stop_node());
    // During the outage: a clean fault, quickly, never a hang or a false success.
    for n in 50..55 {
        let started = Instant::now();
        let status = post(n).await;
        assert_eq!(status, 503, "a call while the broker is down is a fault");
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "the fault came after {:?}",
            started.elapsed()
        );
    }
    tokio::task::block_in_place(|| broker.start_node());
    // The endpoint recovers by itself: calls succeed again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 100;
    loop {
        let status = post(n).await;
        if status == 200 {
            confirmed.push(n);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the endpoint never recovered: {}",
            ferry.log()
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in 1000..1020 {
        assert_eq!(post(n).await, 200);
        confirmed.push(n);
    }
    // Every call answered 200 was confirmed, so it is in the queue, across the restart.
    let (_conn, ch) = private_channel(broker.port()).await;
    let mut got = Vec::new();
    while let Some(m) = ch
        .basic_get(q.as_str(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        got.push(
            serde_json::from_slice::<Value>(&m.delivery.data).unwrap()["n"]
                .as_u64()
                .unwrap(),
        );
    }
    got.sort_unstable();
    let missing: Vec<u64> = confirmed
        .iter()
        .copied()
        .filter(|n| !got.contains(n))
        .collect();
    eprintln!(
        "rabbitmq publish across a restart: {} confirmed, {} in the queue, {} missing",
        confirmed.len(),
        got.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "confirmed but lost: {missing:?}");
    drop(ferry);
}

// === publishing ===

/// An API publishing each POST to a RabbitMQ endpoint with `params`, answering with what
/// the call left in the message (202 for a plain publish), or 503 from its fault sequence.
fn publish_api(params: &str) -> String {
    ferry_tests::publish_config(
        "queue-ep",
        &format!("rabbitmq:/q?rabbitmq.server.host.name=127.0.0.1&{params}"),
        10000,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_is_published_to_rabbitmq_confirmed_with_its_headers() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("publish");
    delete(&ch, &q).await;
    let dir = tempfile::tempdir().unwrap();
    let params = format!("rabbitmq.queue.name={q}&rabbitmq.queue.autodeclare=true");
    write_config(dir.path(), &publish_api(&params));
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..3 {
        let resp = client()
            .post(ferry.url("/publish"))
            .header("x-tenant", "acme")
            .json(&json!({"n": n}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", ferry.log());
    }
    // Confirmed before the answer: all three are in the queue now.
    assert_eq!(ready(&ch, &q).await, 3);
    let got = ch
        .basic_get(q.as_str(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .unwrap()
        .delivery;
    assert_eq!(
        serde_json::from_slice::<Value>(&got.data).unwrap(),
        json!({"n": 0})
    );
    let props = &got.properties;
    assert_eq!(
        props.content_type().as_ref().map(|c| c.as_str()),
        Some("application/json")
    );
    assert_eq!(*props.delivery_mode(), Some(2), "persistent");
    let headers = props.headers().as_ref().unwrap();
    assert!(
        headers.inner().iter().any(|(k, v)| k.as_str() == "x-tenant"
            && matches!(v, lapin::types::AMQPValue::LongString(s) if s.as_bytes() == b"acme")),
        "{headers:?}"
    );
    assert!(
        !headers.inner().keys().any(|k| k.as_str() == "host"),
        "HTTP framing headers stay behind"
    );
    drop(ferry);
    delete(&ch, &q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_no_queue_takes_is_a_fault_not_a_silent_loss() {
    let Some((_conn, _ch)) = channel().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let params = format!("rabbitmq.queue.name={}", queue("nowhere"));
    write_config(dir.path(), &publish_api(&params));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let resp = client()
        .post(ferry.url("/publish"))
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"code": "101500"})
    );
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_rabbitmq_gets_the_reply_through_direct_reply_to() {
    let Some((_conn, ch)) = channel().await else {
        return;
    };
    let q = queue("rpc-out");
    delete(&ch, &q).await;
    declare(&ch, &q).await;
    let dir = tempfile::tempdir().unwrap();
    let params = format!("rabbitmq.queue.name={q}&rabbitmq.replyto.name=amq.rabbitmq.reply-to");
    // The same Ferry answers the requests: an inbound endpoint on the queue.
    let responder = format!(
        "---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: price
spec:
  mediators:
    - payloadFactory: {{mediaType: json, format: '{{\"sku\": \"${{payload.sku}}\", \"price\": 9}}'}}
    - respond: {{}}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: pricer
spec:
  protocol: rabbitmq
  sequence: price
  rabbitmq: {{host: 127.0.0.1, queue: {q}}}
"
    );
    write_config(dir.path(), &format!("{}{responder}", publish_api(&params)));
    let ferry = Ferry::start(&[dir.path()], &[]);
    for sku in ["A1", "B2"] {
        let resp = client()
            .post(ferry.url("/publish"))
            .json(&json!({"sku": sku}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", ferry.log());
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"sku": sku, "price": 9})
        );
    }
    drop(ferry);
    delete(&ch, &q).await;
}

// === files ===

/// A file inbound endpoint on `DIR` sending each CSV record into `record-to-api`.
const FILES: &str = "apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: csv-in
spec:
  protocol: file
  sequence: record-to-api
  file:
    directory: DIR/in
    fileNamePattern: '.*\\.csv'
    interval: 50
    stableFor: STABLE
    content: csv
    actionAfterProcess: move
    moveAfterProcess: DIR/done
    moveAfterFailure: DIR/failed
";

fn files_config(port: u16, dir: &Path, stable_for: u64) -> String {
    record_to_api(port)
        + &FILES
            .replace("DIR", dir.to_str().unwrap())
            .replace("STABLE", &stable_for.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_become_json_records_and_move_to_done_or_failed() {
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    std::fs::create_dir_all(root.join("in")).unwrap();
    let conf = tempfile::tempdir().unwrap();
    write_config(conf.path(), &files_config(backend.port(), root, 200));
    let ferry = Ferry::start(&[conf.path()], &[]);

    std::fs::write(
        root.join("in/b.csv"),
        "sku,qty,note\nA1,2,\"fragile, glass\"\nB2,5,\n",
    )
    .unwrap();
    std::fs::write(root.join("in/a.csv"), "sku,qty\nC3,1\n").unwrap();
    std::fs::write(root.join("in/bad.csv"), "sku,qty\nD4,1\nBAD,1\nE5,1\n").unwrap();
    std::fs::write(root.join("in/notes.txt"), "not matched").unwrap();
    std::fs::write(root.join("in/c.csv.part"), "sku,qty\nZ9,1\n").unwrap();

    wait_until("the files to be handled", Duration::from_secs(30), || {
        names(&root.join("done")).len() == 2 && names(&root.join("failed")).len() == 1
    })
    .await;
    assert_eq!(names(&root.join("done")), ["a.csv", "b.csv"]);
    assert_eq!(names(&root.join("failed")), ["bad.csv"]);
    assert_eq!(names(&root.join("in")), ["c.csv.part", "notes.txt"]);
    let mut records: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.json().to_string())
        .collect();
    records.sort();
    // bad.csv stops at its bad record: E5 is never sent.
    let mut expected: Vec<String> = [
        json!({"sku": "C3", "qty": "1"}),
        json!({"sku": "D4", "qty": "1"}),
        json!({"sku": "A1", "qty": "2", "note": "fragile, glass"}),
        json!({"sku": "B2", "qty": "5", "note": ""}),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    expected.sort();
    assert_eq!(records, expected);
    let first = &backend.requests()[0];
    assert_eq!(first.header("content-type"), Some("application/json"));
    let state = inbound_endpoint(&ferry, "csv-in").await;
    assert_eq!(state["runsOn"], "leader", "{state}");
    assert_eq!(state["succeeded"], 4, "{state}");
    assert_eq!(state["failed"], 1, "{state}");

    // Renamed when complete: taken then.
    std::fs::rename(root.join("in/c.csv.part"), root.join("in/c.csv")).unwrap();
    wait_until("the renamed part file", Duration::from_secs(30), || {
        names(&root.join("done")).contains(&"c.csv".to_string())
    })
    .await;
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_being_written_is_not_taken_until_it_is_stable() {
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    std::fs::create_dir_all(root.join("in")).unwrap();
    let conf = tempfile::tempdir().unwrap();
    write_config(conf.path(), &files_config(backend.port(), root, 1500));
    let ferry = Ferry::start(&[conf.path()], &[]);

    // A writer appending a record every 200 ms: never quiet for 1.5 s while it writes.
    let path = root.join("in/slow.csv");
    std::fs::write(&path, "sku,qty\n").unwrap();
    for n in 0..10 {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(f, "S{n},1").unwrap();
        drop(f);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(backend.requests().is_empty(), "taken while being written");
    }
    wait_until("the finished file", Duration::from_secs(30), || {
        names(&root.join("done")).contains(&"slow.csv".to_string())
    })
    .await;
    assert_eq!(backend.requests().len(), 10, "every record, once");
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_sigkill_while_processing_500_files_loses_none() {
    let backend =
        Backend::start(|_| Reply::json(json!({"ok": true})).delayed(Duration::from_millis(1)));
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    std::fs::create_dir_all(root.join("in")).unwrap();
    let total = 500u64;
    for n in 0..total {
        std::fs::write(root.join(format!("in/{n:04}.csv")), format!("n\n{n}\n")).unwrap();
    }
    let conf = tempfile::tempdir().unwrap();
    // The files are complete before Ferry starts: no need to wait for them to settle.
    write_config(conf.path(), &files_config(backend.port(), root, 0));
    let ferry = Ferry::start(&[conf.path()], &[]);
    wait_until("a share of the files", Duration::from_secs(60), || {
        backend.requests().len() >= 150
    })
    .await;
    ferry.signal("KILL");
    drop(ferry);
    let before_restart = backend.requests().len();

    let ferry = Ferry::start(&[conf.path()], &[]);
    wait_until("every file", Duration::from_secs(120), || {
        names(&root.join("in")).is_empty()
    })
    .await;
    let numbers = |backend: &Backend| -> Vec<u64> {
        backend
            .requests()
            .iter()
            .filter_map(|r| r.json()["n"].as_str()?.parse().ok())
            .collect()
    };
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for n in numbers(&backend) {
        *counts.entry(n).or_default() += 1;
    }
    let lost: Vec<u64> = (0..total).filter(|n| !counts.contains_key(n)).collect();
    let mut duplicated: Vec<u64> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    duplicated.sort_unstable();
    eprintln!(
        "file chaos: {total} files, {before_restart} records before the SIGKILL, {} in all, {} lost, {} duplicated {:?}",
        backend.requests().len(),
        lost.len(),
        duplicated.len(),
        duplicated
    );
    assert!(lost.is_empty(), "lost {lost:?}");
    assert_eq!(names(&root.join("done")).len(), total as usize);
    drop(ferry);
}
