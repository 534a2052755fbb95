//! Orchestration, black box: copies made by clone, iterate and scatterGather call real
//! backends concurrently (three backends of 100 ms each answer in about 100 ms, not 300),
//! and splitting a large payload does not copy it once per fragment.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferry_tests::backend::{Backend, Reply};
use ferry_tests::{Ferry, client, workspace_root};
use serde_json::{Value, json};

const DELAY: Duration = Duration::from_millis(100);

/// A backend answering `{"<name>": <request>}` after [`DELAY`].
fn slow_backend(name: &'static str) -> Backend {
    Backend::start(move |req| {
        let body = json!({ name: req.json() });
        Reply::json(body).delayed(DELAY)
    })
}

struct Setup {
    ferry: Ferry,
    _backends: Vec<Backend>,
}

fn start() -> Setup {
    let backends = vec![
        slow_backend("stock"),
        slow_backend("price"),
        slow_backend("shipping"),
        Backend::start(|_| Reply::json(json!({"slow": true})).delayed(Duration::from_secs(5))),
    ];
    let sets: Vec<String> = ["stock", "price", "shipping", "slow"]
        .iter()
        .zip(&backends)
        .map(|(name, b)| format!("backend.{name}.port={}", b.port()))
        .collect();
    let mut args = Vec::new();
    for s in &sets {
        args.push("--set");
        args.push(s.as_str());
    }
    let config = workspace_root().join("tests/orchestration");
    Setup {
        ferry: Ferry::start(&[&config], &args),
        _backends: backends,
    }
}

/// Posts `body` to `path`, returning the JSON answer and how long it took (after one
/// warm-up request, so connection setup is not counted).
async fn timed_post(ferry: &Ferry, path: &str, body: &Value) -> (Value, Duration) {
    let http = client();
    let warm = http.post(ferry.url(path)).json(body).send().await.unwrap();
    assert_eq!(warm.status(), 200, "{}", warm.text().await.unwrap());
    let started = Instant::now();
    let resp = http.post(ferry.url(path)).json(body).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 200);
    (resp.json().await.unwrap(), elapsed)
}

fn sorted(v: &Value) -> Vec<String> {
    let mut items: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    items.sort();
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_calls_three_backends_at_once() {
    let s = start();
    let (answer, elapsed) = timed_post(&s.ferry, "/o/clone", &json!({"sku": "a"})).await;
    assert_eq!(
        sorted(&answer),
        sorted(&json!([
            {"price": {"sku": "a"}},
            {"shipping": {"sku": "a"}},
            {"stock": {"sku": "a"}}
        ]))
    );
    assert!(
        elapsed < Duration::from_millis(250),
        "three 100 ms backends took {elapsed:?}: the copies did not run concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterate_calls_a_backend_for_every_item_at_once() {
    let s = start();
    let body = json!({"items": [1, 2, 3]});
    let (answer, elapsed) = timed_post(&s.ferry, "/o/iterate", &body).await;
    assert_eq!(
        sorted(&answer),
        sorted(&json!([{"stock": 1}, {"stock": 2}, {"stock": 3}]))
    );
    assert!(
        elapsed < Duration::from_millis(250),
        "three fragments of 100 ms took {elapsed:?}: they did not run concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_gather_calls_three_backends_at_once_and_keeps_their_order() {
    let s = start();
    let body = json!({"sku": "a"});
    let (answer, elapsed) = timed_post(&s.ferry, "/o/scatter", &body).await;
    assert_eq!(
        answer,
        json!([{"stock": {"sku": "a"}}, {"price": {"sku": "a"}}, {"shipping": {"sku": "a"}}])
    );
    assert!(
        elapsed < Duration::from_millis(250),
        "three 100 ms backends took {elapsed:?}: the sequences did not run concurrently"
    );
    // The same three calls one after the other take three times as long: the comparison
    // that shows the test measures what it says.
    let (sequential, slow) = timed_post(&s.ferry, "/o/sequential", &body).await;
    assert_eq!(sequential, answer);
    assert!(
        slow >= Duration::from_millis(300),
        "sequential calls took {slow:?}"
    );
}

/// The value of `ferry_open_aggregations` on the admin port.
async fn open_aggregations(ferry: &Ferry) -> f64 {
    let text = client()
        .get(ferry.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("ferry_open_aggregations "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ferry_open_aggregations in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_aggregation_is_counted_and_goes_at_its_timeout() {
    let s = start();
    assert_eq!(open_aggregations(&s.ferry).await, 0.0);
    let url = s.ferry.url("/o/open-aggregation");
    let started = Instant::now();
    let request = tokio::spawn(async move { client().post(url).json(&json!({})).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        open_aggregations(&s.ferry).await,
        1.0,
        "the fast copy waits at the aggregate for the slow one"
    );
    let resp = request.await.unwrap().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!([{"fast": true}]));
    assert!(
        elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}: the 600 ms timeout did not complete the aggregation"
    );
    assert_eq!(open_aggregations(&s.ferry).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregation_left_open_goes_with_its_request() {
    let s = start();
    let resp = client()
        .post(s.ferry.url("/o/abandoned-aggregation"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"b": true}));
    // The first copy waited at the aggregate when the second answered: the aggregation
    // (and the message in it) went with the request.
    assert_eq!(open_aggregations(&s.ferry).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlate_on_joins_messages_of_separate_requests() {
    let s = start();
    let post = |body: Value| {
        let url = s.ferry.url("/o/correlated");
        async move {
            let resp = client().post(url).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    // Two requests of order A, at once: one carries both items, the other ends (202). An
    // order of its own (B) does not mix in.
    let first = tokio::spawn(post(json!({"order": "A", "item": 1})));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (a2, b) = tokio::join!(
        post(json!({"order": "A", "item": 2})),
        post(json!({"order": "B", "item": 3}))
    );
    let a1 = first.await.unwrap();
    let mut answers = [a1.clone(), a2.clone()];
    answers.sort();
    assert_eq!(answers[0].0, 200, "{a1:?} {a2:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&answers[0].1).unwrap(),
        json!([1, 2])
    );
    assert_eq!(answers[1], (202, String::new()), "{a1:?} {a2:?}");
    // B had no partner: its timeout (500 ms) completed it with what it had.
    assert_eq!(b.0, 200);
    assert_eq!(serde_json::from_str::<Value>(&b.1).unwrap(), json!([3]));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(open_aggregations(&s.ferry).await, 0.0);
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splitting_a_large_payload_does_not_copy_it_per_fragment() {
    let s = start();
    // 400 fragments of 25 KB: a 10 MB payload. One copy of it per fragment would be 4 GB.
    let blob = "x".repeat(25_000);
    let items: Vec<Value> = (0..400).map(|i| json!({"i": i, "blob": blob})).collect();
    let body = json!({ "items": items });
    let before = peak_rss_kib(s.ferry.pid());
    let resp = client()
        .post(s.ferry.url("/o/split-large"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"fragments": 400})
    );
    let after = peak_rss_kib(s.ferry.pid());
    assert!(
        after < before + 100 * 1024,
        "peak RSS {before} KiB -> {after} KiB for a 10 MB payload split in 400"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_sample_fans_out_and_joins() {
    let sample = workspace_root().join("config/samples/orders");
    let ferry = Ferry::start(&[&sample], &[]);
    let http = client();
    let order = json!({
        "orderId": "o-1",
        "country": "FI",
        "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 7}]
    });
    let resp = http
        .post(ferry.url("/orders/quote"))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({
            "orderId": "o-1",
            "stock": [{"sku": "A1", "available": true}, {"sku": "B2", "available": false}],
            "price": {"currency": "EUR", "lines": [
                {"sku": "A1", "qty": 2, "amount": 19.0},
                {"sku": "B2", "qty": 7, "amount": 66.5}
            ]},
            "shipping": {"carrier": "ferry-post", "country": "FI", "days": 2}
        })
    );

    // The request is validated against the schema in a LocalEntry first; the answer to a
    // bad one comes from a payloadFactory format in a LocalEntry.
    let resp = http
        .post(ferry.url("/orders/quote"))
        .json(&json!({"orderId": "o-2", "country": "FI", "lines": [{"sku": "A1", "qty": 0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "{}", ferry.log());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid order request", "reason": "/lines/0/qty: 0 is less than the minimum of 1"})
    );

    let resp = http
        .post(ferry.url("/orders/availability"))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        sorted(&body["lines"]),
        sorted(&json!([
            {"sku": "A1", "available": true},
            {"sku": "B2", "available": false}
        ]))
    );

    let resp = http
        .post(ferry.url("/orders/quote-clone"))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
}
