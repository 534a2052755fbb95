//! The supervisor follows leadership: processors on standby take nothing from their
//! stores, run once the lead comes, stop (releasing what they held) when it goes, and a
//! reload keeps to the leadership of the moment.

use std::time::Duration;

use tokio::net::TcpListener;

use super::*;
use crate::compile::compile_test_yaml;
use crate::stores::MessageStore;
use crate::stores::contract::message;

/// `move` carries `inbox` to `outbox`; `send` forwards `held` to an endpoint on a closed
/// port, retrying forever (so it holds its message while it runs).
fn config(port: u16) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {{name: inbox}}
spec: {{type: memory}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {{name: outbox}}
spec: {{type: memory}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {{name: held}}
spec: {{type: memory}}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: nowhere}}
spec:
  http: {{uriTemplate: 'http://127.0.0.1:{port}/pay', method: post}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata: {{name: move}}
spec: {{type: failoverForwarding, messageStore: inbox, targetStore: outbox, interval: 10}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata: {{name: send}}
spec:
  type: forwarding
  messageStore: held
  targetEndpoint: nowhere
  interval: 10
  clientRetryInterval: 10
  maxDeliveryAttempts: -1
"
    )
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

struct Fixture {
    processors: Arc<Processors>,
    compiled: Arc<Compiled>,
    metrics: Arc<Metrics>,
    lead: watch::Sender<bool>,
}

impl Fixture {
    async fn new(leader: bool) -> Self {
        let metrics = Arc::new(Metrics::new());
        let compiled = Arc::new(compile_test_yaml(
            &config(closed_port().await),
            metrics.clone(),
        ));
        let (lead, rx) = watch::channel(leader);
        let processors = Processors::new(metrics.clone(), Leadership::from_receiver(rx));
        Self {
            processors,
            compiled,
            metrics,
            lead,
        }
    }

    fn store(&self, name: &str) -> Arc<dyn MessageStore> {
        self.compiled.stores[name].clone()
    }

    async fn count(&self, name: &str) -> u64 {
        self.store(name).count().await.unwrap()
    }

    fn state(&self, name: &str) -> Arc<ProcessorState> {
        self.processors.state(name).unwrap()
    }

    fn failed_attempts(&self) -> u64 {
        self.state("send").snapshot().3
    }

    fn scrape(&self) -> String {
        self.metrics.encode().unwrap()
    }

    /// Waits up to 5 s for `cond`.
    async fn until(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        for _ in 0..500 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }
}

#[tokio::test]
async fn processors_on_standby_take_nothing_and_run_once_they_lead() {
    let f = Fixture::new(false).await;
    f.store("inbox").store(message("m1")).await.unwrap();
    f.store("held").store(message("h1")).await.unwrap();
    f.processors.install(f.compiled.clone()).await;

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(f.count("inbox").await, 1);
    assert_eq!(f.count("outbox").await, 0);
    assert_eq!(
        f.failed_attempts(),
        0,
        "the forwarding processor took nothing"
    );
    let json = f.state("send").to_json();
    assert_eq!(json["leader"], false, "{json}");
    assert_eq!(json["state"], "Active", "{json}");
    assert!(f.scrape().contains("ferry_leader 0"), "{}", f.scrape());

    f.lead.send_replace(true);
    f.until("the message moved", |f| f.state("move").snapshot().2 == 1)
        .await;
    assert_eq!(f.count("outbox").await, 1);
    f.until("delivery was attempted", |f| f.failed_attempts() > 0)
        .await;
    assert_eq!(f.state("send").to_json()["leader"], true);
    assert!(f.scrape().contains("ferry_leader 1"), "{}", f.scrape());
}

#[tokio::test]
async fn losing_the_lead_stops_processors_and_leaves_their_messages_in_the_store() {
    let f = Fixture::new(true).await;
    f.store("held").store(message("h1")).await.unwrap();
    f.processors.install(f.compiled.clone()).await;
    f.until("delivery was attempted", |f| f.failed_attempts() > 0)
        .await;

    f.lead.send_replace(false);
    f.until("both stand by", |f| {
        f.processors.states().iter().all(|s| !s.is_leader())
    })
    .await;
    // The message `send` held is back in its store, free for the next leader.
    let lease = f.store("held").next().await.unwrap();
    assert_eq!(lease.map(|l| l.message.id), Some("h1".to_string()));
    let attempts = f.failed_attempts();
    f.store("inbox").store(message("m2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(f.count("inbox").await, 1, "nothing moves on standby");
    assert_eq!(f.failed_attempts(), attempts);
    assert!(f.scrape().contains("ferry_leader 0"), "{}", f.scrape());
}

#[tokio::test]
async fn a_reload_on_standby_starts_nothing_until_the_lead_comes() {
    let f = Fixture::new(false).await;
    f.processors.install(f.compiled.clone()).await;
    f.store("inbox").store(message("m1")).await.unwrap();
    // A new configuration (the same stores) while standing by.
    f.processors.install(f.compiled.clone()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.count("inbox").await, 1);

    f.lead.send_replace(true);
    f.until("the message moved", |f| f.state("move").snapshot().2 == 1)
        .await;
    // And a reload while leading starts the new processors at once.
    f.processors.install(f.compiled.clone()).await;
    assert!(f.state("move").is_leader());
    f.store("inbox").store(message("m2")).await.unwrap();
    f.until("the second message moved", |f| {
        f.state("move").snapshot().2 == 1 && f.processors.states().len() == 2
    })
    .await;
}

#[tokio::test]
async fn after_shutdown_a_regained_lead_starts_nothing() {
    let f = Fixture::new(true).await;
    f.processors.install(f.compiled.clone()).await;
    f.processors.stop().await;
    f.lead.send_replace(false);
    f.lead.send_replace(true);
    f.store("inbox").store(message("m1")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.count("inbox").await, 1);
    assert!(!f.state("move").is_leader());
}
