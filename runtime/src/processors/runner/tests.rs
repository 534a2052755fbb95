//! The supervisor follows leadership: processors on standby take nothing from their
//! stores, run once the lead comes, stop (releasing what they held) when it goes, and a
//! reload keeps to the leadership of the moment.

use std::time::Duration;

use tokio::net::TcpListener;

use tokio::sync::watch;

use super::*;
use crate::compile::{CompileEnv, compile, compile_test_yaml};
use crate::endpoints::client::EndpointClient;
use crate::stores::MessageStore;
use crate::stores::contract::message;
use crate::stores::factory::StoreRegistry;

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
    // The same configuration again while standing by.
    f.processors.install(f.compiled.clone()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(f.count("inbox").await, 1);

    f.lead.send_replace(true);
    f.until("the message moved", |f| f.state("move").snapshot().2 == 1)
        .await;
    // And a reload while leading leaves the unchanged processors running as they were.
    let moving = f.state("move");
    let changes = f.processors.install(f.compiled.clone()).await;
    assert_eq!(changes.kept, ["move", "send"]);
    assert!(Arc::ptr_eq(&moving, &f.state("move")));
    assert!(moving.is_leader());
    f.store("inbox").store(message("m2")).await.unwrap();
    f.until("the second message moved", |f| {
        f.state("move").snapshot().2 == 2 && f.processors.states().len() == 2
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

// === reloads ===

/// [`config`] with the API `hello` answering `answer`; `edit` rewrites it further.
fn config_with_api(port: u16, answer: &str, edit: impl Fn(String) -> String) -> String {
    edit(format!(
        "{}---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: hello}}
spec:
  context: /hello
  resources:
    - inSequence:
        - payloadFactory: {{mediaType: text, format: {answer}}}
        - respond: {{}}
",
        config(port)
    ))
}

/// Compiles as `ferry run` does on each reload: one store registry throughout, so stores
/// whose spec is unchanged are the same instances.
fn compile_in(env: &CompileEnv, yaml: &str) -> Arc<Compiled> {
    let (bundle, diagnostics) = ferry_api::bundle::load(&[ferry_api::bundle::Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    match compile(&bundle, env) {
        Ok(c) => Arc::new(c),
        Err(d) => panic!("does not compile: {d:?}"),
    }
}

fn attempts(state: &ProcessorState) -> u64 {
    state.to_json()["attempts"].as_u64().unwrap()
}

#[tokio::test]
async fn a_reload_that_changes_only_an_api_leaves_the_processors_their_attempts_and_activation() {
    let data = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let env = CompileEnv {
        config: Arc::default(),
        client: EndpointClient::default(),
        metrics: metrics.clone(),
        stores: StoreRegistry::new(data.path().to_path_buf()),
    };
    let port = closed_port().await;
    let (_lead, rx) = watch::channel(true);
    let processors = Processors::new(metrics, Leadership::from_receiver(rx));
    let first = compile_in(&env, &config_with_api(port, "one", |c| c));
    first.stores["held"].store(message("h1")).await.unwrap();
    processors.install(first.clone()).await;
    let send = processors.state("send").unwrap();
    let moving = processors.state("move").unwrap();
    moving.set_active(false);
    for _ in 0..500 {
        if attempts(&send) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(attempts(&send) >= 3, "{}", send.to_json());

    // Only the API changed: both processors run on, untouched.
    let second = compile_in(&env, &config_with_api(port, "two", |c| c));
    let changes = processors.install(second).await;
    assert_eq!(changes.kept, ["move", "send"]);
    assert!(changes.restarted.is_empty() && changes.started.is_empty());
    assert!(Arc::ptr_eq(&send, &processors.state("send").unwrap()));
    assert!(Arc::ptr_eq(&moving, &processors.state("move").unwrap()));
    let json = send.to_json();
    assert!(attempts(&send) >= 3, "the attempts started over: {json}");
    assert_eq!(json["leader"], true, "{json}");
    assert!(
        !moving.is_active(),
        "the deactivated processor was reactivated"
    );

    // The endpoint `send` posts to changed: `send` starts afresh, `move` stays as it is.
    let third = compile_in(
        &env,
        &config_with_api(port, "two", |c| c.replace("/pay'", "/pay2'")),
    );
    let changes = processors.install(third).await;
    assert_eq!(changes.kept, ["move"]);
    assert_eq!(changes.restarted, ["send"]);
    let restarted = processors.state("send").unwrap();
    assert!(!Arc::ptr_eq(&send, &restarted));
    assert!(!send.is_leader(), "the old processor stopped");
    assert!(!moving.is_active());
    // The message the old processor held is back in the store, for the new one.
    for _ in 0..500 {
        if restarted.snapshot().3 > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(restarted.snapshot().3 > 0, "{}", restarted.to_json());

    // `move`'s own spec changed: it starts afresh, active as its spec says.
    let fourth = compile_in(
        &env,
        &config_with_api(port, "two", |c| {
            c.replace("/pay'", "/pay2'").replace(
                "targetStore: outbox, interval: 10",
                "targetStore: outbox, interval: 20",
            )
        }),
    );
    let changes = processors.install(fourth).await;
    assert_eq!(changes.kept, ["send"]);
    assert_eq!(changes.restarted, ["move"]);
    assert!(processors.state("move").unwrap().is_active());
    processors.stop().await;
}
