//! The guaranteed-delivery sample, end to end against a RabbitMQ node of its own: orders
//! sent while the broker is stopped land in the SQLite failover store, and once the broker
//! is back every accepted order reaches the warehouse; an order the warehouse refuses goes
//! to the dead-letter store without holding up the next one.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferry_tests::broker::PrivateBroker;
use ferry_tests::{Ferry, client, workspace_root};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_accepted_while_the_broker_was_down_arrives_once_it_is_back() {
    let Some(mut broker) = PrivateBroker::start() else {
        return;
    };
    // The sample as shipped, pointed at this test's node instead of the shared broker.
    let sample =
        workspace_root().join("config/samples/guaranteed-delivery/guaranteed-delivery.yaml");
    let text = std::fs::read_to_string(sample).unwrap();
    let host = "    host: 127.0.0.1\n";
    assert_eq!(
        text.matches(host).count(),
        1,
        "the sample names one broker host"
    );
    let text = text.replace(host, &format!("{host}    port: {}\n", broker.port()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guaranteed-delivery.yaml"), text).unwrap();
    let ferry = Ferry::start(&[dir.path()], &[]);
    let http = client();
    // A fresh node has an empty queue, so any ids will do.
    let base = 1;
    let send = |id: u64| {
        let http = http.clone();
        let url = ferry.url("/shop/orders");
        async move {
            http.post(url)
                .json(&json!({"id": id}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(send(base).await, 202, "{}", ferry.log());

    broker.stop_app();
    for id in base + 1..base + 6 {
        assert_eq!(
            send(id).await,
            202,
            "stored in the failover store: {}",
            ferry.log()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.start_app();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = ferry.log();
        let missing: Vec<u64> = (base..base + 6)
            .filter(|id| !log.contains(&format!("fulfilled order {id}")))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orders {missing:?} never arrived:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        ferry
            .log()
            .contains("the primary store refused a message; storing it in the failover store"),
        "the outage went to the failover store"
    );

    // An order the warehouse refuses (no id) goes to the dead-letter store at once, and the
    // order behind it is fulfilled.
    let poison = http
        .post(ferry.url("/shop/orders"))
        .json(&json!({"item": "no id"}))
        .send()
        .await
        .unwrap();
    assert_eq!(poison.status().as_u16(), 202);
    assert_eq!(send(base + 6).await, 202);
    let dead = ferry.admin_url("/management/message-stores/orders-dead");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let size = http
            .get(&dead)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["size"]
            .clone();
        if size == 1
            && ferry
                .log()
                .contains(&format!("fulfilled order {}", base + 6))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dead letters: {size}\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
