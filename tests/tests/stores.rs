//! Message stores and processors, black box: the store-and-forward flow end to end, a
//! SIGKILL in mid-stream on the SQLite store, a backend down past the attempt limit
//! (deactivate vs dead-letter), a poison message, and what a reload restarts.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::broker::PrivateBroker;
use ferry_tests::{Backend, Ferry, MANAGEMENT_TOKEN, client, management_token_file};
use serde_json::{Value, json};

/// An API storing every `POST /pay` into `payments`, a processor forwarding it to the
/// backend on `PORT`, with `EXTRA` processor settings and `STORE` as the store spec.
const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: pay
spec:
  context: /pay
  resources:
    - methods: [POST]
      uriTemplate: /
      inSequence:
        - store: {messageStore: payments}
        - payloadFactory: {mediaType: json, format: '{\"message\":\"accepted\"}'}
        - property: {name: HTTP_SC, value: '202', scope: axis2}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: payments
spec:
STORE
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: dead
spec:
  type: memory
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: settle
spec:
  http:
    uriTemplate: http://127.0.0.1:PORT/settle
    method: post
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
  clientRetryInterval: 30
EXTRA
";

fn config(port: u16, store: &str, extra: &str) -> String {
    CONFIG
        .replace("PORT", &port.to_string())
        .replace("STORE", store)
        .replace("EXTRA", extra)
}

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("config.yaml"), text).unwrap();
}

/// A backend that answers 400 to message 13 (a poison message) and 200 to the others.
fn refusing_13() -> Backend {
    Backend::start(|r| {
        if r.json()["n"] == 13 {
            Reply::with_status(400, "text/plain", "poison")
        } else {
            Reply::json(json!({}))
        }
    })
}

async fn pay(ferry: &Ferry, n: u64) -> Result<u16, reqwest::Error> {
    client()
        .post(ferry.url("/pay"))
        .json(&json!({"n": n}))
        .send()
        .await
        .map(|r| r.status().as_u16())
}

/// The `n` of each request the backend received, in order.
fn received(backend: &Backend) -> Vec<u64> {
    backend
        .requests()
        .iter()
        .filter_map(|r| r.json()["n"].as_u64())
        .collect()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn processor(ferry: &Ferry, name: &str) -> Value {
    client()
        .get(ferry.admin_url(&format!("/management/message-processors/{name}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Per message id of a chaos run: which accepted ones never arrived, which arrived twice.
struct Tally {
    accepted: usize,
    delivered: usize,
    lost: Vec<u64>,
    duplicated: Vec<u64>,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accepted, {} delivered, {} lost, {} duplicated {:?}",
            self.accepted,
            self.delivered,
            self.lost.len(),
            self.duplicated.len(),
            self.duplicated
        )
    }
}

/// Waits (up to `timeout`) until every accepted message reached the backend, then counts.
async fn tally_deliveries(backend: &Backend, accepted: &[u64], timeout: Duration) -> Tally {
    wait_for("every accepted message", timeout, || {
        let got = received(backend);
        accepted.iter().all(|n| got.contains(n))
    })
    .await;
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for n in received(backend) {
        *counts.entry(n).or_default() += 1;
    }
    let mut duplicated: Vec<u64> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    duplicated.sort_unstable();
    Tally {
        accepted: accepted.len(),
        delivered: counts.len(),
        lost: accepted
            .iter()
            .copied()
            .filter(|n| !counts.contains_key(n))
            .collect(),
        duplicated,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_message_is_answered_at_once_and_forwarded_in_order() {
    let backend = Backend::start(|_| Reply::json(json!({"settled": true})));
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(dir.path(), &config(backend.port(), "  type: sqlite", ""));
    let ferry = Ferry::start(
        &[dir.path()],
        &["--data-dir", data.path().to_str().unwrap()],
    );
    for n in 0..5 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    wait_for("5 deliveries", Duration::from_secs(10), || {
        received(&backend).len() >= 5
    })
    .await;
    assert_eq!(received(&backend), [0, 1, 2, 3, 4]);
    let r = &backend.requests()[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(data.path().join("stores/payments.db").exists());
    // The backend has the 5th message a moment before the processor has its answer and
    // counts the delivery.
    let mut state = processor(&ferry, "forward").await;
    for _ in 0..100 {
        if state["delivered"] == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = processor(&ferry, "forward").await;
    }
    assert_eq!(state["state"], "Active", "{state}");
    assert_eq!(state["delivered"], 5, "{state}");
    let metrics = client()
        .get(ferry.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ferry_processor_messages_total{processor=\"forward\",outcome=\"delivered\"} 5",
        "ferry_processor_active{processor=\"forward\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_accept_sends_the_request_to_the_fault_sequence() {
    let backend = Backend::start(|_| Reply::json(json!({})));
    let dir = tempfile::tempdir().unwrap();
    // A full store, and a processor that is off, so it stays full.
    write(
        dir.path(),
        &config(
            backend.port(),
            "  type: memory\n  memory: {capacity: 1}",
            "  active: false",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(pay(&ferry, 1).await.unwrap(), 202);
    let resp = client()
        .post(ferry.url("/pay"))
        .json(&json!({"n": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body = resp.text().await.unwrap();
    assert!(body.contains("full"), "{body}");
    assert!(backend.requests().is_empty());
}

/// Sends messages while the backend is slow, SIGKILLs ferry in the middle, restarts it on
/// the same data directory, and counts per message: every accepted one must arrive (0
/// lost); duplicates (delivered, killed before the ack) are allowed and reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_sigkill_mid_stream_loses_no_accepted_message() {
    let backend =
        Backend::start(|_| Reply::json(json!({"ok": true})).delayed(Duration::from_millis(5)));
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap().to_string();
    write(dir.path(), &config(backend.port(), "  type: sqlite", ""));
    let ferry = Ferry::start(&[dir.path()], &["--data-dir", &data_arg]);

    let mut accepted = Vec::new();
    let total = 150u64;
    for n in 0..total {
        if n == total / 2 {
            ferry.signal("KILL");
        }
        if let Ok(202) = pay(&ferry, n).await {
            accepted.push(n);
        }
    }
    drop(ferry);
    assert!(!accepted.is_empty());

    let ferry = Ferry::start(&[dir.path()], &["--data-dir", &data_arg]);
    let tally = tally_deliveries(&backend, &accepted, Duration::from_secs(30)).await;
    eprintln!("chaos: {tally}");
    assert!(tally.lost.is_empty(), "lost {:?}", tally.lost);
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_down_past_the_attempt_limit_deactivates_and_keeps_the_message() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let backend = Backend::start(move |_| {
        if h.load(Ordering::SeqCst) {
            Reply::json(json!({}))
        } else {
            Reply::with_status(503, "text/plain", "down")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(backend.port(), "  type: memory", "  maxDeliveryAttempts: 3"),
    );
    let token = management_token_file();
    let ferry = Ferry::start(
        &[dir.path()],
        &["--management-token-file", token.path().to_str().unwrap()],
    );
    assert_eq!(pay(&ferry, 7).await.unwrap(), 202);
    let mut state = json!({});
    for _ in 0..200 {
        state = processor(&ferry, "forward").await;
        if state["state"] == "Inactive" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state["state"], "Inactive", "{state}");
    assert_eq!(state["failedAttempts"], 3, "{state}");
    assert_eq!(backend.requests().len(), 3);

    // The message was kept: once the backend is back and the processor activated, it goes.
    healthy.store(true, Ordering::SeqCst);
    let resp = client()
        .post(ferry.admin_url("/management/message-processors/forward/activate"))
        .bearer_auth(MANAGEMENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    wait_for("the kept message", Duration::from_secs(10), || {
        received(&backend).len() == 4
    })
    .await;
    assert_eq!(received(&backend), [7, 7, 7, 7]);
}

#[test]
fn a_processor_on_a_memory_store_is_warned_about_at_start() {
    let backend = Backend::start(|_| Reply::json(json!({})));
    let warning = "MessageProcessor/forward spec.messageStore: reads the memory store \"payments\"";
    for (store, warned) in [("  type: memory", true), ("  type: sqlite", false)] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &config(backend.port(), store, ""));
        let ferry = Ferry::start(&[dir.path()], &[]);
        let log = ferry.log();
        let line = log.lines().find(|l| l.contains(warning));
        assert_eq!(line.is_some(), warned, "{store}:\n{log}");
        if let Some(line) = line {
            assert!(line.contains("WARN"), "{line}");
        }
        // `dead` is a memory store too, but no processor reads it.
        assert!(!log.contains("memory store \"dead\""), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_down_past_the_attempt_limit_parks_the_message_in_the_dead_letter_store() {
    let backend = Backend::start(|r| {
        if r.json()["n"] == 1 {
            Reply::with_status(500, "text/plain", "boom")
        } else {
            Reply::json(json!({}))
        }
    });
    let dead_letters = Backend::start(|_| Reply::json(json!({})));
    let dlq = with_dead_letters("  maxDeliveryAttempts: 2", &dead_letters);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &config(backend.port(), "  type: memory", &dlq));
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 1..=2 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    wait_for("the parked message", Duration::from_secs(10), || {
        received(&dead_letters) == [1] && received(&backend).contains(&2)
    })
    .await;
    assert_eq!(received(&backend), [1, 1, 2]);
    let state = processor(&ferry, "forward").await;
    assert_eq!(state["state"], "Active", "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_fails_at_once_on_a_non_retry_status_and_is_dropped() {
    let backend = refusing_13();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(
            backend.port(),
            "  type: sqlite",
            "  maxDeliveryAttempts: 5\n  nonRetryStatusCodes: [400]\n  dropMessageAfterMaxDeliveryAttempts: true",
        ),
    );
    let data = tempfile::tempdir().unwrap();
    let ferry = Ferry::start(
        &[dir.path()],
        &["--data-dir", data.path().to_str().unwrap()],
    );
    for n in [12, 13, 14] {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    wait_for(
        "the messages after the poison",
        Duration::from_secs(10),
        || received(&backend).contains(&14),
    )
    .await;
    assert_eq!(received(&backend), [12, 13, 14], "the poison is tried once");
    let state = processor(&ferry, "forward").await;
    assert_eq!(state["state"], "Active", "{state}");
    assert_eq!(state["dropped"], 1, "{state}");
}

/// A dead-letter store `dead` drained by a second processor into a backend of its own.
fn with_dead_letters(extra: &str, dead_letters: &Backend) -> String {
    format!(
        "{extra}
  failMessagesStore: dead
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: dlq
spec:
  http:
    uriTemplate: http://127.0.0.1:{}/dlq
    method: post
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: dead-letters
spec:
  type: forwarding
  messageStore: dead
  targetEndpoint: dlq
  interval: 20",
        dead_letters.port()
    )
}

/// The store kinds a processor reads, as `payments` specs: memory, SQLite, the failover
/// wrapper, and PostgreSQL and RabbitMQ when the machine's servers run (`make services`).
fn store_kinds(tag: &str) -> Vec<(&'static str, String)> {
    let mut kinds = vec![
        ("memory", "  type: memory".to_string()),
        ("sqlite", "  type: sqlite".to_string()),
        (
            "failover",
            "  type: sqlite\n  failoverStore: dead".to_string(),
        ),
    ];
    let unique = format!("ferry_{tag}_{}", std::process::id());
    if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() {
        kinds.push((
            "postgres",
            format!("  type: postgres\n  postgres: {{url: \"postgres://postgres@127.0.0.1:5432/test\", table: {unique}}}"),
        ));
    } else {
        eprintln!("skipped postgres: no PostgreSQL on 127.0.0.1:5432 (make services starts it)");
    }
    if std::net::TcpStream::connect("127.0.0.1:5672").is_ok() {
        kinds.push((
            "rabbitmq",
            format!(
                "  type: rabbitmq\n  rabbitmq: {{host: 127.0.0.1, port: 5672, queue: {unique}}}"
            ),
        ));
    } else {
        eprintln!("skipped rabbitmq: no RabbitMQ on 127.0.0.1:5672 (make services starts it)");
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_holds_up_nothing_even_with_unlimited_retries() {
    // The backend says 400 to one message: the message is wrong, not the backend. With
    // unlimited attempts it used to be retried forever ahead of the good ones.
    for (kind, store) in store_kinds("poison") {
        let backend = refusing_13();
        let dead_letters = Backend::start(|_| Reply::json(json!({})));
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &config(
                backend.port(),
                &store,
                &with_dead_letters("  maxDeliveryAttempts: -1", &dead_letters),
            ),
        );
        let data = tempfile::tempdir().unwrap();
        let ferry = Ferry::start(
            &[dir.path()],
            &["--data-dir", data.path().to_str().unwrap()],
        );
        for n in [12, 13, 14, 15] {
            assert_eq!(pay(&ferry, n).await.unwrap(), 202, "{kind}");
        }
        wait_for(
            &format!("{kind}: the good messages and the dead letter"),
            Duration::from_secs(15),
            || received(&backend).contains(&15) && received(&dead_letters) == [13],
        )
        .await;
        assert_eq!(
            received(&backend),
            [12, 13, 14, 15],
            "{kind}: the poison is tried once"
        );
        let state = processor(&ferry, "forward").await;
        assert_eq!(state["state"], "Active", "{kind}: {state}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_replayed_and_purged_on_the_admin_port() {
    let fixed = Arc::new(AtomicBool::new(false));
    let f = fixed.clone();
    let backend = Backend::start(move |r| {
        if r.json()["n"] == 13 && !f.load(Ordering::SeqCst) {
            Reply::with_status(400, "text/plain", "poison")
        } else {
            Reply::json(json!({}))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(
            backend.port(),
            "  type: memory",
            "  maxDeliveryAttempts: -1\n  failMessagesStore: dead",
        ),
    );
    let token = management_token_file();
    let ferry = Ferry::start(
        &[dir.path()],
        &["--management-token-file", token.path().to_str().unwrap()],
    );
    let admin = |path: &str| ferry.admin_url(&format!("/management/message-stores{path}"));
    for n in [12, 13, 14] {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    wait_for("the good messages", Duration::from_secs(10), || {
        received(&backend).contains(&14)
    })
    .await;
    let stores: Value = client()
        .get(admin(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stores["list"][0],
        json!({"name": "dead", "size": 1}),
        "{stores}"
    );

    // Listing hands the message back: it can be listed again.
    for _ in 0..2 {
        let listed: Value = client()
            .get(admin("/dead/messages?limit=5"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["count"], 1, "{listed}");
        assert_eq!(listed["messages"][0]["bodyText"], r#"{"n":13}"#, "{listed}");
    }

    // The backend is fixed: replayed into its source store, the message goes through.
    fixed.store(true, Ordering::SeqCst);
    let replayed = client()
        .post(admin("/dead/replay?to=payments"))
        .bearer_auth(MANAGEMENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status().as_u16(), 200);
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        json!({"replayed": 1})
    );
    wait_for("the replayed message", Duration::from_secs(10), || {
        received(&backend) == [12, 13, 14, 13]
    })
    .await;

    // Purge, and what a wrong request gets.
    fixed.store(false, Ordering::SeqCst);
    assert_eq!(pay(&ferry, 13).await.unwrap(), 202);
    wait_for("the second dead letter", Duration::from_secs(10), || {
        received(&backend).len() == 5
    })
    .await;
    let mut purged = json!({});
    for _ in 0..100 {
        purged = client()
            .delete(admin("/dead/messages"))
            .bearer_auth(MANAGEMENT_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if purged["purged"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(purged, json!({"purged": 1}));
    let status = |path: &'static str| {
        let url = admin(path);
        async move {
            client()
                .post(url)
                .bearer_auth(MANAGEMENT_TOKEN)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/dead/replay").await, 400, "replay needs ?to=");
    assert_eq!(status("/dead/replay?to=nowhere").await, 404);
    assert_eq!(status("/nowhere/replay?to=dead").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_retried_when_asked_and_408_429_always() {
    let answers = Arc::new(std::sync::Mutex::new(vec![429u16, 408, 400]));
    let a = answers.clone();
    let backend = Backend::start(move |_| match a.lock().unwrap().pop() {
        Some(status) => Reply::with_status(status, "text/plain", "not now"),
        None => Reply::json(json!({})),
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(
            backend.port(),
            "  type: memory",
            "  maxDeliveryAttempts: -1
  retryClientErrors: true",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(pay(&ferry, 1).await.unwrap(), 202);
    wait_for("the fourth attempt", Duration::from_secs(10), || {
        received(&backend).len() == 4
    })
    .await;
    let state = processor(&ferry, "forward").await;
    assert_eq!(state["failedAttempts"], 3, "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_stretches_the_wait_before_the_next_attempt() {
    let busy = Arc::new(AtomicBool::new(true));
    let b = busy.clone();
    let backend = Backend::start(move |_| {
        if b.swap(false, Ordering::SeqCst) {
            let mut reply = Reply::with_status(503, "text/plain", "busy");
            reply.headers.push(("retry-after".into(), "1".into()));
            reply
        } else {
            Reply::json(json!({}))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(backend.port(), "  type: memory", "  maxDeliveryAttempts: 5"),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(pay(&ferry, 1).await.unwrap(), 202);
    wait_for("the first attempt", Duration::from_secs(10), || {
        received(&backend).len() == 1
    })
    .await;
    let first = Instant::now();
    wait_for("the second attempt", Duration::from_secs(10), || {
        received(&backend).len() == 2
    })
    .await;
    // clientRetryInterval is 30 ms; the backend asked for a second.
    assert!(
        first.elapsed() >= Duration::from_millis(900),
        "retried after {:?}",
        first.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_stays_current_while_the_head_message_is_retried() {
    for (kind, store) in store_kinds("backlog") {
        let backend = Backend::start(|_| Reply::with_status(503, "text/plain", "down"));
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &config(backend.port(), &store, "  maxDeliveryAttempts: -1"),
        );
        let data = tempfile::tempdir().unwrap();
        let mut ferry = Ferry::start(
            &[dir.path()],
            &["--data-dir", data.path().to_str().unwrap()],
        );
        assert_eq!(pay(&ferry, 1).await.unwrap(), 202, "{kind}");
        wait_for(
            &format!("{kind}: retries of the head"),
            Duration::from_secs(10),
            || received(&backend).len() >= 2,
        )
        .await;
        for n in 2..=6 {
            assert_eq!(pay(&ferry, n).await.unwrap(), 202, "{kind}");
        }
        // No message is taken while the head is retried; the backlog follows the store
        // anyway, within one refresh (2 s).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let state = processor(&ferry, "forward").await;
            if state["backlog"] == 6 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{kind}: backlog not refreshed: {state}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(received(&backend).iter().all(|n| *n == 1), "{kind}");
        // What is left in a shared server's queue or table must not reach the next run.
        ferry.signal("KILL");
        ferry.wait_exit(Duration::from_secs(5));
        purge_shared(kind, &store).await;
    }
}

/// Empties what a test left in the machine's PostgreSQL table or RabbitMQ queue, by running
/// Ferry on it with a processor that accepts everything.
async fn purge_shared(kind: &str, store: &str) {
    if !matches!(kind, "postgres" | "rabbitmq") {
        return;
    }
    let sink = Backend::start(|_| Reply::json(json!({})));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(sink.port(), store, "  maxDeliveryAttempts: -1"),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    wait_for(
        &format!("{kind}: the store drained"),
        Duration::from_secs(15),
        || received(&sink).len() >= 6,
    )
    .await;
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_stored_messages_and_restarts_the_processor() {
    let backend = Backend::start(|_| Reply::json(json!({})));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(backend.port(), "  type: sqlite", "  active: false"),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..3 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    let state = processor(&ferry, "forward").await;
    assert_eq!(state["state"], "Inactive", "{state}");
    // Same store spec, processor now active: the reload reuses the open store.
    write(dir.path(), &config(backend.port(), "  type: sqlite", ""));
    wait_for("the reloaded processor", Duration::from_secs(15), || {
        received(&backend).len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(received(&backend), [0, 1, 2], "{}", ferry.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_primary_spills_to_its_failover_store_and_failover_forwarding_brings_it_back() {
    let backend = Backend::start(|_| Reply::json(json!({})).delayed(Duration::from_millis(20)));
    let mover = "---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: move-back
spec:
  type: failoverForwarding
  messageStore: dead
  targetStore: payments
  interval: 20
  clientRetryInterval: 20
  maxDeliveryAttempts: -1";
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(
            backend.port(),
            "  type: memory\n  memory: {capacity: 1}\n  failoverStore: dead",
            mover,
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..5 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202, "{}", ferry.log());
    }
    wait_for(
        "all five, some through the failover store",
        Duration::from_secs(15),
        || received(&backend).len() >= 5,
    )
    .await;
    let mut got = received(&backend);
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    let moved = processor(&ferry, "move-back").await;
    assert!(moved["delivered"].as_u64().unwrap() >= 1, "{moved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampling_processor_runs_each_message_through_its_sequence() {
    let backend = Backend::start(|_| Reply::json(json!({})));
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: pay
spec:
  context: /pay
  resources:
    - methods: [POST]
      uriTemplate: /
      inSequence:
        - store: {{messageStore: samples}}
        - respond: {{}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: samples
spec:
  type: memory
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: sample-out
spec:
  mediators:
    - call: {{endpoint: {{http: {{uriTemplate: 'http://127.0.0.1:{}/sampled', method: post}}}}}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: sampler
spec:
  type: sampling
  messageStore: samples
  sequence: sample-out
  interval: 20
  concurrency: 2
",
        backend.port()
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &text);
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..4 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 200, "{}", ferry.log());
    }
    wait_for("four samples", Duration::from_secs(10), || {
        received(&backend).len() >= 4
    })
    .await;
    let mut got = received(&backend);
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
    let state = processor(&ferry, "sampler").await;
    assert_eq!(state["type"], "sampling", "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_processor_drains_the_store_at_each_fire_time_only() {
    let delivered_at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = delivered_at.clone();
    let backend = Backend::start(move |_| {
        seen.lock().unwrap().push(Instant::now());
        Reply::json(json!({"settled": true}))
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(
            backend.port(),
            "  type: memory",
            "  cronExpression: \"*/3 * * * * ?\"",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..3 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    wait_for("the first fire time", Duration::from_secs(10), || {
        received(&backend).len() >= 3
    })
    .await;
    assert_eq!(pay(&ferry, 3).await.unwrap(), 202);
    wait_for("the next fire time", Duration::from_secs(10), || {
        received(&backend).len() >= 4
    })
    .await;
    assert_eq!(received(&backend), [0, 1, 2, 3]);
    let times = delivered_at.lock().unwrap().clone();
    // The first three went in one window; the fourth waited for the next fire time,
    // three seconds after the first.
    assert!(times[2] - times[0] < Duration::from_secs(1), "{times:?}");
    assert!(
        times[3] - times[0] >= Duration::from_millis(2500),
        "{times:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_forward_runs_on_postgresql_and_survives_a_restart() {
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        eprintln!("skipped: no PostgreSQL on 127.0.0.1:5432 (make services starts it)");
        return;
    }
    let table = format!("ferry_bb_{}", std::process::id());
    let store = format!(
        "  type: postgres\n  postgres: {{url: \"postgres://postgres@127.0.0.1:5432/test\", table: {table}}}"
    );
    let dir = tempfile::tempdir().unwrap();
    // First run: the backend is down, so everything stays in the table.
    let down = Backend::start(|_| Reply::with_status(503, "text/plain", "down"));
    write(
        dir.path(),
        &config(down.port(), &store, "  maxDeliveryAttempts: -1"),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..5 {
        assert_eq!(pay(&ferry, n).await.unwrap(), 202);
    }
    wait_for("a failed attempt", Duration::from_secs(10), || {
        !down.requests().is_empty()
    })
    .await;
    let mut ferry = ferry;
    ferry.signal("KILL");
    ferry.wait_exit(Duration::from_secs(5));
    // Second run against a working backend: every message arrives, in order.
    let up = Backend::start(|_| Reply::json(json!({"settled": true})));
    write(
        dir.path(),
        &config(up.port(), &store, "  maxDeliveryAttempts: -1"),
    );
    let _ferry = Ferry::start(&[dir.path()], &[]);
    wait_for("5 deliveries", Duration::from_secs(15), || {
        received(&up).len() >= 5
    })
    .await;
    assert_eq!(received(&up), [0, 1, 2, 3, 4]);
    // Tidy up the test database; a leftover table is harmless, so a failure is ignored.
    let _ = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc"])
        .arg(format!("DROP TABLE IF EXISTS {table}"))
        .status();
}

/// Sends a stream of payments to a RabbitMQ store while the broker application is stopped
/// and started again in the middle, and counts per message: every accepted (202) one must
/// be delivered (0 lost); duplicates are reported. The broker is a node of this test alone,
/// so no other test (nor anyone else on the machine) loses the shared one meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_rabbitmq_stopped_and_started_mid_stream_loses_no_accepted_message() {
    let Some(mut broker) = PrivateBroker::start() else {
        return;
    };
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let store = format!(
        "  type: rabbitmq\n  rabbitmq: {{host: 127.0.0.1, port: {}, queue: ferry-chaos, connectionRetry: {{initialDelay: 200, maxDelay: 1000}}}}",
        broker.port()
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(
            backend.port(),
            &store,
            "  storeConnectionRetryInterval: 200\n  maxDeliveryAttempts: -1",
        ),
    );
    let ferry = Ferry::start(&[dir.path()], &[]);
    let mut accepted = Vec::new();
    let mut refused = 0;
    let total = 120u64;
    for n in 0..total {
        if n == total / 3 {
            broker.stop_app();
        }
        if n == 2 * total / 3 {
            broker.start_app();
        }
        match pay(&ferry, n).await {
            Ok(202) => accepted.push(n),
            _ => refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tally = tally_deliveries(&backend, &accepted, Duration::from_secs(60)).await;
    eprintln!("chaos (rabbitmq): {refused} refused while the broker was down; {tally}");
    assert!(tally.lost.is_empty(), "lost {:?}", tally.lost);
    assert!(refused > 0, "the broker outage was not noticed");
    // The outage in the log: one WARN when it starts, one INFO when it ends, and no
    // ERROR lines from the AMQP client for an expected reconnect. (Every accepted order may
    // have gone before the outage: the store reconnects at its next call.)
    wait_for(
        "the reconnection in the log",
        Duration::from_secs(30),
        || ferry.log().contains("reconnected to RabbitMQ"),
    )
    .await;
    let log = ferry.log();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(count("lost the connection to RabbitMQ"), 1, "{log}");
    assert_eq!(count("reconnected to RabbitMQ"), 1, "{log}");
    assert_eq!(count("io_loop"), 0, "{log}");
    drop(ferry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_past_its_timeout_for_a_slow_delivery_and_loses_nothing() {
    let slow =
        Backend::start(|_| Reply::json(json!({"ok": true})).delayed(Duration::from_secs(20)));
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap().to_string();
    write(dir.path(), &config(slow.port(), "  type: sqlite", ""));
    let mut ferry = Ferry::start(
        &[dir.path()],
        &["--data-dir", &data_arg, "--shutdown-timeout", "1"],
    );
    assert_eq!(pay(&ferry, 7).await.unwrap(), 202);
    wait_for("the delivery to start", Duration::from_secs(10), || {
        !slow.requests().is_empty()
    })
    .await;
    let asked = Instant::now();
    ferry.signal("TERM");
    assert_eq!(
        ferry.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        ferry.log()
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );

    let fast = Backend::start(|_| Reply::json(json!({"ok": true})));
    write(dir.path(), &config(fast.port(), "  type: sqlite", ""));
    let _ferry = Ferry::start(&[dir.path()], &["--data-dir", &data_arg]);
    wait_for("the redelivery", Duration::from_secs(10), || {
        received(&fast) == [7]
    })
    .await;
}

/// `GET /hello` answering `answer`: an API no processor reaches.
fn hello_api(answer: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: hello
spec:
  context: /hello
  resources:
    - methods: [GET]
      inSequence:
        - payloadFactory: {{mediaType: text, format: {answer}}}
        - respond: {{}}
"
    )
}

/// Waits until `GET /hello` answers `answer`: the reload that brought it was installed.
async fn hello_answers(ferry: &Ferry, answer: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(resp) = client().get(ferry.url("/hello")).send().await
            && resp.text().await.unwrap_or_default() == answer
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the reload to {answer:?} never came\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_inactive(ferry: &Ferry) -> Value {
    let mut state = json!({});
    for _ in 0..500 {
        state = processor(ferry, "forward").await;
        if state["state"] == "Inactive" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_changes_only_an_api_leaves_a_deactivated_processor_as_it_was() {
    let backend = Backend::start(|_| Reply::with_status(503, "text/plain", "down"));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &config(backend.port(), "  type: memory", "  maxDeliveryAttempts: 3"),
    );
    std::fs::write(dir.path().join("hello.yaml"), hello_api("one")).unwrap();
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(pay(&ferry, 7).await.unwrap(), 202);
    let state = until_inactive(&ferry).await;
    assert_eq!(state["state"], "Inactive", "{state}");
    assert_eq!(state["failedAttempts"], 3, "{state}");

    // Only the API changed: the processor stays deactivated, with its counts, and tries
    // nothing more (a restart would have reactivated it, as its spec says).
    std::fs::write(dir.path().join("hello.yaml"), hello_api("two")).unwrap();
    hello_answers(&ferry, "two").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let state = processor(&ferry, "forward").await;
    assert_eq!(state["state"], "Inactive", "{state}\n{}", ferry.log());
    assert_eq!(state["failedAttempts"], 3, "{state}");
    assert_eq!(state["leader"], true, "{state}");
    assert_eq!(backend.requests().len(), 3);

    // The processor's own spec changed: it starts afresh, active, and tries the kept
    // message up to its new limit.
    write(
        dir.path(),
        &config(backend.port(), "  type: memory", "  maxDeliveryAttempts: 4"),
    );
    wait_for("the restarted processor", Duration::from_secs(15), || {
        backend.requests().len() >= 7
    })
    .await;
    let state = until_inactive(&ferry).await;
    assert_eq!(state["state"], "Inactive", "{state}");
    assert_eq!(state["failedAttempts"], 4, "{state}");
    assert_eq!(received(&backend), [7; 7]);
}
