//! Against the RabbitMQ on 127.0.0.1:5672 (guest/guest); each test uses its own queues.

use super::*;
use crate::stores::contract;
use lapin::ConnectionProperties;
use std::time::Duration;

fn spec(queue: &str) -> RabbitMqSpec {
    RabbitMqSpec {
        host: "127.0.0.1".into(),
        queue: Some(queue.into()),
        publisher_confirms: true,
        virtual_host: "/".into(),
        prefetch: 10,
        ..RabbitMqSpec::default()
    }
}

async fn reachable() -> bool {
    let up = tokio::net::TcpStream::connect("127.0.0.1:5672")
        .await
        .is_ok();
    if !up {
        eprintln!("skipped: no RabbitMQ on 127.0.0.1:5672 (make services starts it)");
    }
    up
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn delete_queue(queue: &str) {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let conn = Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", props)
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let _ = ch.queue_delete(queue, Default::default()).await;
}

#[tokio::test]
async fn the_store_contract_holds() {
    if !reachable().await {
        return;
    }
    let queues = Mutex::new(Vec::new());
    contract::check_all(|| {
        let q = unique("ferry-test");
        queues.lock().unwrap().push(q.clone());
        RabbitMqStore::new("s", &spec(&q)).unwrap()
    })
    .await;
    let q = unique("ferry-test-reopen");
    contract::unacked_lease_comes_back_after_reopen(|| RabbitMqStore::new("r", &spec(&q)).unwrap())
        .await;
    let mut all = std::mem::take(&mut *queues.lock().unwrap());
    all.push(q);
    for q in &all {
        delete_queue(q).await;
    }
}

#[tokio::test]
async fn an_exchange_and_routing_key_route_into_the_queue_and_a_dead_letter_target_is_set() {
    if !reachable().await {
        return;
    }
    let q = unique("ferry-test-x");
    let dlq = unique("ferry-test-dlq");
    let s = RabbitMqStore::new(
        "x",
        &RabbitMqSpec {
            exchange: Some(format!("{q}-exchange")),
            routing_key: Some("payments".into()),
            dead_letter_exchange: Some(String::new()),
            dead_letter_routing_key: Some(dlq.clone()),
            ..spec(&q)
        },
    )
    .unwrap();
    // The dead-letter queue: rejected messages land here through the default exchange.
    let dead = RabbitMqStore::new("dead", &spec(&dlq)).unwrap();
    dead.count().await.unwrap();
    s.store(contract::message("1")).await.unwrap();
    assert_eq!(s.count().await.unwrap(), 1);
    let lease = s.next().await.unwrap().unwrap();
    assert_eq!(lease.message, contract::message("1"));
    // Rejected without requeue (as the broker does past a delivery limit): dead-lettered.
    let (channel, _) = s.channel().await.unwrap();
    let (_, tag) = s.take_lease(&lease).unwrap();
    channel
        .basic_nack(
            tag,
            BasicNackOptions {
                requeue: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut waited = 0;
    while dead.count().await.unwrap() == 0 && waited < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    let moved = dead
        .next()
        .await
        .unwrap()
        .expect("the message was dead-lettered");
    assert_eq!(moved.message.id, "1");
    dead.ack(&moved).await.unwrap();
    delete_queue(&q).await;
    delete_queue(&dlq).await;
}

#[tokio::test]
async fn a_broker_that_is_down_is_a_transient_error_and_reconnecting_backs_off() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = RabbitMqStore::new(
        "down",
        &RabbitMqSpec {
            port: Some(port),
            ..spec("nowhere")
        },
    )
    .unwrap();
    let first = s.store(contract::message("1")).await.unwrap_err();
    assert!(first.retryable, "{first}");
    let second = s.store(contract::message("1")).await.unwrap_err();
    assert!(second.message.contains("reconnecting in"), "{second}");
}

#[test]
fn bad_settings_are_refused_before_connecting() {
    let user = RabbitMqStore::new(
        "x",
        &RabbitMqSpec {
            username: Some("ferry".into()),
            ..spec("q")
        },
    )
    .err()
    .unwrap();
    assert!(user.contains("passwordFrom is required"), "{user}");
    let unset = RabbitMqStore::new(
        "x",
        &RabbitMqSpec {
            username: Some("ferry".into()),
            password_from: Some(ferry_api::resources::SecretSource {
                env: Some("FERRY_TEST_UNSET_AMQP_PASSWORD".into()),
                secret_key_ref: None,
            }),
            ..spec("q")
        },
    )
    .err()
    .unwrap();
    assert!(unset.contains("FERRY_TEST_UNSET_AMQP_PASSWORD"), "{unset}");
}
