//! Streaming passthrough, black box: a resource that only forwards the request and answers
//! with the reply streams both bodies — the backend sees exactly what the client sent, the
//! client exactly what the backend answered, Ferry's memory does not grow with the body,
//! and the limits and faults of the buffered path still hold.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::backend::{Backend, Reply};
use ferry_tests::{Ferry, client, workspace_root};

fn start(backend: &Backend, extra: &[&str]) -> Ferry {
    let config = workspace_root().join("tests/passthrough");
    let port = format!("backend.port={}", backend.port());
    let mut args = vec!["--set", port.as_str()];
    args.extend_from_slice(extra);
    Ferry::start(&[&config], &args)
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A backend answering every request with the same 40 MiB body and `status`.
fn large_answer_backend(status: u16) -> (Backend, bytes::Bytes) {
    let answer = bytes::Bytes::from(body(40 * 1024 * 1024));
    let served = answer.clone();
    let backend = Backend::start(move |_| {
        Reply::with_status(status, "application/octet-stream", served.clone())
    });
    (backend, answer)
}

/// Reads `resp` and checks it is `answer`, whole and with its length declared, while
/// Ferry's peak RSS (`before` when the request went out) did not grow by the answer's
/// size; returns the peak after.
async fn assert_streamed_answer(
    resp: reqwest::Response,
    answer: &bytes::Bytes,
    pid: u32,
    before: u64,
) -> u64 {
    assert_eq!(
        resp.headers()["content-length"],
        answer.len().to_string().as_str()
    );
    assert_eq!(resp.bytes().await.unwrap(), *answer);
    let after = peak_rss_kib(pid);
    assert!(
        after < before + 16 * 1024,
        "peak RSS {before} KiB -> {after} KiB: the answer was buffered"
    );
    after
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
async fn request_and_answer_pass_unchanged_with_the_endpoint_headers() {
    let backend = Backend::start(|req| {
        let mut reply = Reply::with_status(201, "application/x-thing", req.body.clone());
        reply.headers.push(("x-backend".into(), "yes".into()));
        reply
    });
    let ferry = start(&backend, &[]);
    let sent = body(300_000);
    let resp = client()
        .post(ferry.url("/pass/stream/orders?x=1"))
        .header("content-type", "application/x-thing")
        .header("x-client", "c")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", ferry.log());
    assert_eq!(resp.headers()["x-backend"], "yes");
    assert_eq!(resp.headers()["content-type"], "application/x-thing");
    assert_eq!(
        resp.headers()["content-length"],
        "300000",
        "a known length stays known"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), sent.as_slice());
    let got = &backend.requests()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.uri, "/in/orders");
    assert_eq!(got.header("x-client"), Some("c"));
    assert_eq!(
        got.header("x-via"),
        Some("ferry"),
        "the endpoint's headers are added"
    );
    assert_eq!(got.header("content-length"), Some("300000"));
    assert_eq!(got.body.as_ref(), sent.as_slice());
}

/// An endpoint with a fixed URL and literal headers is called without a message: the same
/// request reaches the backend (its method and headers, the correlation id, no
/// connection headers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_endpoint_gets_the_same_request_without_a_message() {
    let backend = Backend::start(|req| Reply::with_status(200, "text/plain", req.body.clone()));
    let ferry = start(&backend, &[]);
    let resp = client()
        .post(ferry.url("/pass/fixed?x=1"))
        .header("content-type", "application/json")
        .header("x-client", "c")
        .header("x-via", "client")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("te", "trailers")
        .body("{\"id\": 7}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let correlation = resp.headers()["activityid"].to_str().unwrap().to_string();
    assert_eq!(resp.text().await.unwrap(), "{\"id\": 7}");
    let got = &backend.requests()[0];
    assert_eq!(got.method, "PUT", "the endpoint's method");
    assert_eq!(got.uri, "/fixed", "the endpoint's fixed URL");
    assert_eq!(got.header("x-client"), Some("c"));
    assert_eq!(
        got.header("x-via"),
        Some("ferry-fixed"),
        "the endpoint's header wins"
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("content-length"), Some("9"));
    assert_eq!(got.header("activityid"), Some(correlation.as_str()));
    assert_eq!(got.header("proxy-authorization"), None);
    assert_eq!(got.header("te"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_streams_without_growing_ferry_s_memory() {
    let backend =
        Backend::start(|req| Reply::with_status(200, "text/plain", format!("{}", req.body.len())));
    let ferry = start(&backend, &["--max-body-bytes", "134217728"]);
    let http = client();
    let small = http
        .post(ferry.url("/pass/stream/x"))
        .body(body(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    let before = peak_rss_kib(ferry.pid());
    let len = 48 * 1024 * 1024;
    let resp = http
        .post(ferry.url("/pass/stream/x"))
        .body(body(len))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    assert_eq!(resp.text().await.unwrap(), len.to_string());
    let after = peak_rss_kib(ferry.pid());
    assert!(
        after < before + 16 * 1024,
        "a 48 MiB body raised Ferry's peak RSS from {before} KiB to {after} KiB: it was buffered"
    );
    // The same body on the buffered path does hold it (the comparison shows the test can see it).
    let resp = http
        .post(ferry.url("/pass/buffered/x"))
        .body(body(len))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(peak_rss_kib(ferry.pid()) > after + 32 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_to_a_get_streams_back() {
    let (backend, answer) = large_answer_backend(200);
    let ferry = start(&backend, &[]);
    let http = client();
    let warm = http
        .get(ferry.url("/pass/stream/warm"))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.bytes().await.unwrap().len(), answer.len());
    let before = peak_rss_kib(ferry.pid());
    let resp = http
        .get(ferry.url("/pass/stream/file"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_streamed_answer(resp, &answer, ferry.pid(), before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_request_streams_the_answer_when_nothing_reads_it() {
    let (backend, answer) = large_answer_backend(201);
    let ferry = start(&backend, &[]);
    let http = client();
    let post = |path: &str| {
        http.post(ferry.url(path))
            .header("content-type", "application/json")
            .body(r#"{"kind": "a", "id": 7}"#)
            .send()
    };
    let warm = post("/pass/routed/warm").await.unwrap();
    assert_eq!(warm.bytes().await.unwrap().len(), answer.len());
    let before = peak_rss_kib(ferry.pid());
    let resp = post("/pass/routed/file").await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let after = assert_streamed_answer(resp, &answer, ferry.pid(), before).await;
    // The backend got the request the switch read, whole.
    let seen = backend.requests();
    let last = seen.last().unwrap();
    assert_eq!(last.uri, "/in/file");
    assert_eq!(&last.body[..], br#"{"kind": "a", "id": 7}"#);

    // With a mediator after the call the answer is read into the message: the comparison
    // shows the test can see a buffered answer.
    let resp = post("/pass/routed-read/file").await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.bytes().await.unwrap(), answer);
    assert!(peak_rss_kib(ferry.pid()) > after + 32 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_before_anything_is_sent() {
    let backend = Backend::echo();
    let ferry = start(&backend, &["--max-body-bytes", "1000"]);
    let resp = client()
        .post(ferry.url("/pass/stream/x"))
        .body(body(2000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(backend.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_takes_the_buffered_path_and_arrives_whole() {
    use std::io::{Read, Write};
    let backend = Backend::echo();
    let ferry = start(&backend, &[]);
    let addr = ferry
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(
            b"POST /pass/stream/x HTTP/1.1\r\nHost: ferry\r\nContent-Type: text/plain\r\n\
              Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
              6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
        )
        .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello world"), "{answer}");
    assert_eq!(backend.requests()[0].body.as_ref(), b"hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_has_no_body_and_a_dead_backend_is_the_usual_fault() {
    let backend = Backend::echo();
    let ferry = start(&backend, &[]);
    let http = client();
    let resp = http.get(ferry.url("/pass/stream/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(backend.requests()[0].method, "GET");
    let resp = http
        .post(ferry.url("/pass/down"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let text = resp.text().await.unwrap();
    assert!(text.contains("nowhere"), "{text}");
}
