//! The guaranteed-delivery sample, end to end against the local RabbitMQ: orders sent
//! while the broker is stopped land in the SQLite failover store, and once the broker is
//! back every accepted order reaches the warehouse.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferry_tests::{Ferry, broker, client, workspace_root};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_accepted_while_the_broker_was_down_arrives_once_it_is_back() {
    if !broker::controllable() {
        return;
    }
    let sample = workspace_root().join("config/samples/guaranteed-delivery");
    let ferry = Ferry::start(&[&sample], &[]);
    let http = client();
    // Ids unique to this run: the broker's queue is durable and outlives test runs.
    let base = u64::from(std::process::id()) * 1000;
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

    let _restart = broker::RestartOnDrop;
    broker::rabbitmqctl("stop_app");
    for id in base + 1..base + 6 {
        assert_eq!(
            send(id).await,
            202,
            "stored in the failover store: {}",
            ferry.log()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker::rabbitmqctl("start_app");

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
}
