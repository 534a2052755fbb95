//! MQTT, black box, against the machine's Mosquitto (127.0.0.1:1883; each test skips with a
//! reason when it is not there): an MQTT inbound endpoint into a sequence that calls an
//! HTTP backend (3.1.1 and 5, QoS 1 and 2, a shared subscription), a QoS 1 message
//! redelivered after Ferry is SIGKILLed in the middle of its sequence (persistent
//! session), and HTTP requests published through `mqtt:` endpoints, seen by a test
//! subscriber. Every test uses topics and client ids of its own.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_tests::backend::Reply;
use ferry_tests::{
    Backend, Ferry, assert_contains_all, client, inbound_endpoint, validate_fails,
    wait_inbound_endpoint, wait_until, write_config,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

const HOST: &str = "127.0.0.1";
const PORT: u16 = 1883;

fn broker_up() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &format!("{HOST}:{PORT}").parse().unwrap(),
        Duration::from_secs(1),
    )
    .is_ok();
    if !up {
        eprintln!("skipped: no MQTT broker on 127.0.0.1:1883 (make services starts Mosquitto)");
    }
    up
}

/// A name of this test run alone (topics, client ids).
fn unique(name: &str) -> String {
    format!("ferry-test-{name}-{}", std::process::id())
}

async fn wait_connected(ferry: &Ferry, name: &str) {
    wait_inbound_endpoint(
        ferry,
        name,
        "the subscription",
        Duration::from_secs(20),
        |s| s["connected"] == true,
    )
    .await;
}

/// The `n` of each request the backend received, in order.
fn received(backend: &Backend) -> Vec<u64> {
    backend
        .requests()
        .iter()
        .filter_map(|r| r.json()["n"].as_u64())
        .collect()
}

/// A test publisher (MQTT 3.1.1): publishes and waits for the broker's acknowledgement.
struct Publisher {
    client: AsyncClient,
    acks: tokio::sync::mpsc::UnboundedReceiver<()>,
}

impl Publisher {
    async fn connect(id: &str) -> Publisher {
        let mut o = MqttOptions::new(id, HOST, PORT);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(o, 100);
        let (tx, acks) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(e) = events.poll().await {
                if let Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)) = e {
                    let _ = tx.send(());
                }
            }
        });
        Publisher { client, acks }
    }

    async fn publish(&mut self, topic: &str, qos: QoS, body: Value) {
        self.client
            .publish(topic, qos, false, body.to_string())
            .await
            .unwrap();
        if qos != QoS::AtMostOnce {
            tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
                .await
                .unwrap()
                .unwrap();
        }
    }
}

/// A test subscriber (MQTT 5, so content types and user properties are seen).
struct Subscriber {
    got: Arc<Mutex<Vec<rumqttc::v5::mqttbytes::v5::Publish>>>,
    _client: rumqttc::v5::AsyncClient,
}

impl Subscriber {
    async fn start(id: &str, filter: &str) -> Subscriber {
        use rumqttc::v5::mqttbytes::QoS as Q5;
        let o = rumqttc::v5::MqttOptions::new(id, HOST, PORT);
        let (client, mut events) = rumqttc::v5::AsyncClient::new(o, 100);
        client.subscribe(filter, Q5::ExactlyOnce).await.unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let store = got.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            while let Ok(e) = events.poll().await {
                match e {
                    rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::SubAck(_)) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::Publish(p)) => {
                        store.lock().unwrap().push(p);
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .unwrap()
            .unwrap();
        Subscriber {
            got,
            _client: client,
        }
    }

    fn messages(&self) -> Vec<rumqttc::v5::mqttbytes::v5::Publish> {
        self.got.lock().unwrap().clone()
    }
}

/// An MQTT inbound endpoint on `TOPICS` into a sequence that calls the backend on `PORT`,
/// with `EXTRA` settings in its mqtt block.
const INBOUND: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: backend
spec:
  http:
    uriTemplate: http://127.0.0.1:BACKEND/readings
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
    - header: {name: X-Topic, expression: \"${props.synapse['mqtt.topic']}\"}
    - call: {endpoint: {key: backend}}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: sensors-in
spec:
  protocol: mqtt
  sequence: to-backend
  sequential: SEQUENTIAL
  mqtt:
    host: 127.0.0.1
    clientId: CLIENT
    topics: [TOPICS]
EXTRA
";

fn inbound(backend: u16, client: &str, topics: &str, sequential: bool, extra: &str) -> String {
    INBOUND
        .replace("BACKEND", &backend.to_string())
        .replace("CLIENT", client)
        .replace("TOPICS", topics)
        .replace("SEQUENTIAL", &sequential.to_string())
        .replace("EXTRA", extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_go_through_the_sequence_to_an_http_backend_in_order() {
    if !broker_up() {
        return;
    }
    let base = unique("in");
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    let filter = format!("{base}/+/temperature");
    write_config(
        dir.path(),
        &inbound(
            backend.port(),
            &format!("{base}-ferry"),
            &format!("'{filter}'"),
            true,
            "    qos: 1\n    contentType: application/json",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_connected(&ferry, "sensors-in").await;

    let mut publisher = Publisher::connect(&format!("{base}-pub")).await;
    for n in 0..20u64 {
        publisher
            .publish(
                &format!("{base}/room{}/temperature", n % 3),
                QoS::AtLeastOnce,
                json!({"n": n}),
            )
            .await;
    }
    // Not matched by the filter: never delivered.
    publisher
        .publish(
            &format!("{base}/room1/humidity"),
            QoS::AtLeastOnce,
            json!({"n": 99}),
        )
        .await;
    // A failing message counts as failed, and is acknowledged after onError.
    publisher
        .publish(
            &format!("{base}/room1/temperature"),
            QoS::AtLeastOnce,
            json!({"poison": true}),
        )
        .await;
    wait_until("20 calls", Duration::from_secs(30), || {
        backend.requests().len() >= 20
    })
    .await;
    assert_eq!(received(&backend), (0..20).collect::<Vec<_>>());
    let first = &backend.requests()[0];
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(
        first.header("x-topic").map(str::to_string),
        Some(format!("{base}/room0/temperature"))
    );

    let state = wait_inbound_endpoint(
        &ferry,
        "sensors-in",
        "the counts to settle",
        Duration::from_secs(20),
        |s| s["succeeded"] == 20 && s["failed"] == 1 && s["inFlight"] == 0,
    )
    .await;
    assert_eq!(state["received"], 21);
    assert_eq!(state["protocol"], "mqtt");
    assert_eq!(state["runsOn"], "leader", "a plain subscription runs once");
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
            "ferry_inbound_messages_total{inbound=\"sensors-in\",outcome=\"succeeded\"} 20"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt5_shared_subscription_at_qos_2_carries_the_content_type_and_runs_everywhere() {
    if !broker_up() {
        return;
    }
    let base = unique("shared");
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    let topics = format!("'$share/ferry/{base}/#'");
    write_config(
        dir.path(),
        &inbound(
            backend.port(),
            &format!("{base}-ferry"),
            &topics,
            false,
            "    version: \"5\"\n    qos: 2\n    concurrency: 4",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_connected(&ferry, "sensors-in").await;
    let state = inbound_endpoint(&ferry, "sensors-in").await;
    assert_eq!(state["runsOn"], "everyReplica", "{state}");

    use rumqttc::v5::mqttbytes::QoS as Q5;
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    let o = rumqttc::v5::MqttOptions::new(format!("{base}-pub"), HOST, PORT);
    let (publisher, mut events) = rumqttc::v5::AsyncClient::new(o, 100);
    let (tx, mut completed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = events.poll().await {
            if let rumqttc::v5::Event::Incoming(rumqttc::v5::Incoming::PubComp(_)) = e {
                let _ = tx.send(());
            }
        }
    });
    for n in 0..10u64 {
        let props = PublishProperties {
            content_type: Some("application/json".into()),
            user_properties: vec![("x-site".into(), "north".into())],
            ..PublishProperties::default()
        };
        publisher
            .publish_with_properties(
                format!("{base}/a/b"),
                Q5::ExactlyOnce,
                false,
                json!({"n": n}).to_string(),
                props,
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), completed.recv())
            .await
            .unwrap()
            .unwrap();
    }
    wait_until("10 calls", Duration::from_secs(30), || {
        backend.requests().len() >= 10
    })
    .await;
    let mut got = received(&backend);
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>(), "each exactly once");
    let first = &backend.requests()[0];
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(
        first.header("x-site"),
        Some("north"),
        "user properties become transport headers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_a_qos1_message_comes_again_after_a_sigkill_in_the_middle_of_its_sequence() {
    if !broker_up() {
        return;
    }
    let base = unique("kill");
    // The first call hangs long enough for the kill; later ones answer at once.
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let backend = Backend::start(move |_| {
        let mut c = counter.lock().unwrap();
        *c += 1;
        let reply = Reply::json(json!({"ok": true}));
        if *c == 1 {
            reply.delayed(Duration::from_secs(30))
        } else {
            reply
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let topic = format!("{base}/orders");
    let config = inbound(
        backend.port(),
        &format!("{base}-ferry"),
        &format!("'{topic}'"),
        true,
        "    qos: 1\n    cleanSession: false",
    );
    write_config(dir.path(), &config);
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_connected(&ferry, "sensors-in").await;
    let mut publisher = Publisher::connect(&format!("{base}-pub")).await;
    publisher
        .publish(&topic, QoS::AtLeastOnce, json!({"n": 7}))
        .await;
    wait_until("the first call", Duration::from_secs(20), || {
        !backend.requests().is_empty()
    })
    .await;
    // Mid-sequence: the call is waiting for the backend, the message unacknowledged.
    ferry.signal("KILL");
    drop(ferry);
    // Published while Ferry is away: kept for the persistent session.
    publisher
        .publish(&topic, QoS::AtLeastOnce, json!({"n": 8}))
        .await;

    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_until("the redelivery", Duration::from_secs(30), || {
        let got = received(&backend);
        got.iter().filter(|n| **n == 7).count() >= 2 && got.contains(&8)
    })
    .await;
    eprintln!(
        "mqtt chaos: calls {:?} (7 before the SIGKILL, 7 again and 8 after)",
        received(&backend)
    );
    wait_inbound_endpoint(
        &ferry,
        "sensors-in",
        "the counts to settle",
        Duration::from_secs(20),
        |s| s["succeeded"] == 2 && s["inFlight"] == 0,
    )
    .await;
    // Acknowledged this time: a restart brings nothing again.
    drop(ferry);
    let before = backend.requests().len();
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_connected(&ferry, "sensors-in").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        backend.requests().len(),
        before,
        "nothing redelivered twice"
    );
    // End the persistent session at the broker.
    drop(ferry);
    let mut o = MqttOptions::new(format!("{base}-ferry"), HOST, PORT);
    o.set_clean_session(true);
    let (c, mut events) = AsyncClient::new(o, 10);
    let _ = tokio::time::timeout(Duration::from_secs(2), events.poll()).await;
    let _ = c.disconnect().await;
}

/// A regression guard for a deadlock (fixed) in which the loop reading from the broker
/// waited on a full queue to the sequence while the sequence waited for that loop to send
/// its acknowledgement: everything stopped after about 270 messages. A thousand QoS 1
/// messages, published as fast as the backend takes them, must all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_qos1_messages_all_reach_the_backend() {
    if !broker_up() {
        return;
    }
    const TOTAL: u64 = 1000;
    let base = unique("volume");
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    let topic = format!("{base}/readings");
    write_config(
        dir.path(),
        &inbound(
            backend.port(),
            &format!("{base}-ferry"),
            &format!("'{topic}'"),
            false,
            "    qos: 1\n    concurrency: 20\n    contentType: application/json",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_connected(&ferry, "sensors-in").await;

    let mut publisher = Publisher::connect(&format!("{base}-pub")).await;
    let mut acked = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    for n in 0..TOTAL {
        publisher
            .client
            .publish(&topic, QoS::AtLeastOnce, false, json!({"n": n}).to_string())
            .await
            .unwrap();
        while publisher.acks.try_recv().is_ok() {
            acked += 1;
        }
        // At most 300 ahead of the backend: the shared Mosquitto queues 1,000 messages for
        // a subscriber at most (max_queued_messages) and would drop the rest, which is the
        // broker's loss, not Ferry's.
        if n % 50 == 49 {
            loop {
                let behind = (n + 1).saturating_sub(backend.requests().len() as u64);
                if behind <= 300 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "stuck after {} calls of {} published: {}\n{}",
                    backend.requests().len(),
                    n + 1,
                    inbound_endpoint(&ferry, "sensors-in").await,
                    ferry.log()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    while acked < TOTAL {
        tokio::time::timeout(Duration::from_secs(10), publisher.acks.recv())
            .await
            .expect("the broker acknowledges every publish")
            .unwrap();
        acked += 1;
    }
    loop {
        let got = received(&backend);
        let mut distinct = got.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() as u64 == TOTAL {
            eprintln!(
                "mqtt volume: {TOTAL} published at QoS 1, {} calls, {} duplicated",
                got.len(),
                got.len() - distinct.len()
            );
            assert_eq!(distinct, (0..TOTAL).collect::<Vec<_>>());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {TOTAL} messages arrived: {}\n{}",
            distinct.len(),
            inbound_endpoint(&ferry, "sensors-in").await,
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = inbound_endpoint(&ferry, "sensors-in").await;
    assert!(state["succeeded"].as_u64().unwrap() >= TOTAL, "{state}");
    assert_eq!(state["failed"], 0, "{state}");
}

// === publishing ===

/// An API publishing each POST to an MQTT endpoint with `params`, answering 200 (the
/// message as it was), or 503 with the fault code from its fault sequence.
fn publish_api(params: &str) -> String {
    ferry_tests::publish_config(
        "mqtt-ep",
        &format!("mqtt:/out?mqtt.server.host.name=127.0.0.1&{params}"),
        5000,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_are_published_to_mqtt_after_the_broker_acknowledged_them() {
    if !broker_up() {
        return;
    }
    let base = unique("out");
    for (version, qos) in [("3.1.1", 1u8), ("5", 2), ("5", 0)] {
        let topic = format!("{base}/v{version}/q{qos}");
        let subscriber = Subscriber::start(&format!("{base}-sub-{qos}"), &topic).await;
        let dir = tempfile::tempdir().unwrap();
        let params = format!(
            "mqtt.topic.name={}&mqtt.subscription.qos={qos}&mqtt.version={version}",
            topic.replace('/', "%2F")
        );
        write_config(dir.path(), &publish_api(&params));
        let ferry = Ferry::start(&[dir.path()], &[]);
        for n in 0..5 {
            let resp = client()
                .post(ferry.url("/publish"))
                .header("x-tenant", "acme")
                .json(&json!({"n": n}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{}", ferry.log());
            assert_eq!(resp.json::<Value>().await.unwrap(), json!({"n": n}));
        }
        wait_until("5 messages", Duration::from_secs(10), || {
            subscriber.messages().len() >= 5
        })
        .await;
        let got = subscriber.messages();
        let bodies: Vec<Value> = got
            .iter()
            .map(|p| serde_json::from_slice(&p.payload).unwrap())
            .collect();
        assert_eq!(
            bodies,
            (0..5).map(|n| json!({"n": n})).collect::<Vec<_>>(),
            "version {version} qos {qos}"
        );
        let props = got[0].properties.clone().unwrap_or_default();
        if version == "5" {
            assert_eq!(props.content_type.as_deref(), Some("application/json"));
            assert!(
                props
                    .user_properties
                    .contains(&("x-tenant".into(), "acme".into())),
                "{props:?}"
            );
            assert!(!props.user_properties.iter().any(|(k, _)| k == "host"));
        } else {
            assert_eq!(props.content_type, None);
        }
        drop(ferry);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_message_is_kept_by_the_broker_for_later_subscribers() {
    if !broker_up() {
        return;
    }
    let base = unique("retain");
    let topic = format!("{base}/status");
    let dir = tempfile::tempdir().unwrap();
    let params = format!(
        "mqtt.topic.name={}&mqtt.retain=true&mqtt.qos=1",
        topic.replace('/', "%2F")
    );
    write_config(dir.path(), &publish_api(&params));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let resp = client()
        .post(ferry.url("/publish"))
        .json(&json!({"state": "up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    // Subscribed after the publish: gets it because it was retained.
    let subscriber = Subscriber::start(&format!("{base}-sub"), &topic).await;
    wait_until("the retained message", Duration::from_secs(10), || {
        !subscriber.messages().is_empty()
    })
    .await;
    let got = &subscriber.messages()[0];
    assert!(got.retain);
    assert_eq!(got.payload, Bytes::from(json!({"state": "up"}).to_string()));
    // Clear the retained message.
    let mut publisher = Publisher::connect(&format!("{base}-clear")).await;
    publisher
        .client
        .publish(&topic, QoS::AtLeastOnce, true, Vec::<u8>::new())
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), publisher.acks.recv()).await;
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_broker_that_is_not_there_is_a_connection_fault() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let params = format!("mqtt.server.port={port}&mqtt.topic.name=nowhere");
    write_config(dir.path(), &publish_api(&params));
    let ferry = Ferry::start(&[dir.path()], &[]);
    for _ in 0..2 {
        let resp = client()
            .post(ferry.url("/publish"))
            .json(&json!({"n": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"code": "101503"})
        );
    }
}

#[test]
fn validate_refuses_bad_mqtt_settings_with_located_messages() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: s
spec:
  mediators: [{log: {}}]
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: bad-in
spec:
  protocol: mqtt
  sequence: s
  mqtt:
    host: 127.0.0.1
    topics: ['a/#/b', '$share/g/x']
    qos: 3
    sessionExpiryInterval: 10
    passwordFrom: {env: PW}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-out
spec:
  address:
    uri: mqtt:/x?mqtt.topic.name=a/+&mqtt.retain=maybe
",
    );
    let text = validate_fails(&[dir.path()]);
    assert_contains_all(
        &text,
        &[
            "InboundEndpoint/bad-in spec.mqtt.topics[0]",
            "# must be a whole level and the last one",
            "spec.mqtt.topics[1]",
            "either every filter is a shared subscription",
            "spec.mqtt.qos: must be 0, 1 or 2",
            "spec.mqtt.sessionExpiryInterval",
            "spec.mqtt.passwordFrom: a password goes with a username",
            "Endpoint/bad-out spec.address.uri: mqtt.server.host.name is required",
            "mqtt.retain must be true or false",
            "no wildcards",
        ],
    );
}
