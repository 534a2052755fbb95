//! What a client that sends something wrong gets back, black box on the json-xml sample:
//! one JSON error format (`{"error": {"code", "message"}}`) and a 4xx status that says what
//! was wrong, whichever layer noticed; and a client too slow to send its request is not
//! waited for forever.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferry_tests::backend::{Backend, Reply};
use ferry_tests::{Ferry, client, workspace_root};
use serde_json::{Value, json};

fn start(extra: &[&str]) -> Ferry {
    let sample = workspace_root().join("config/samples/json-xml");
    Ferry::start(&[&sample], extra)
}

/// Writes `request` on a fresh connection and reads the whole answer (the request should
/// say `Connection: close`).
async fn raw(addr: SocketAddr, request: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(&request).unwrap();
        let mut answer = Vec::new();
        // The server may close before reading the rest of a refused body: keep what came.
        let _ = tcp.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

/// Ferry's log without the terminal colours it writes even to a file.
fn plain_log(ferry: &Ferry) -> String {
    let log = ferry.log();
    let mut out = String::new();
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence: ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The status line's code and the body parsed as JSON of a raw HTTP/1.1 answer.
fn status_and_json(answer: &str) -> (u16, Value) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_resource_of_a_known_api_is_named_in_the_404() {
    let ferry = start(&[]);
    let resp = client()
        .get(ferry.url("/convert/unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": 404, "message": "no resource of API \"convert\" matches GET /convert/unknown"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_413_answers_are_the_same_json_error() {
    let ferry = start(&["--max-body-bytes", "16"]);
    let expected =
        json!({"error": {"code": 413, "message": "the request body is larger than 16 bytes"}});

    // A declared Content-Length: refused by the listener before the body is read.
    let resp = client()
        .post(ferry.url("/convert/to-xml"))
        .header("content-type", "application/json")
        .body(r#"{"order": {"id": 7, "items": ["tea"]}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.json::<Value>().await.unwrap(), expected);

    // A chunked body: refused by the dispatcher once it grows past the limit.
    let answer = raw(
        ferry.http,
        b"POST /convert/to-xml HTTP/1.1\r\nHost: ferry\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          a\r\n{\"order\": \r\na\r\n{\"id\": 7, \r\na\r\n\"items\": [\r\n0\r\n\r\n"
            .to_vec(),
    )
    .await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    assert_eq!(body, expected, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_parse_as_its_content_type_is_a_logged_400() {
    let ferry = start(&[]);
    let http = client();
    let deep_json = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep_xml = format!("{}{}", "<a>".repeat(600), "</a>".repeat(600));
    let cases: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        (
            "malformed JSON",
            "to-xml",
            "application/json",
            br#"{"a":"#.to_vec(),
        ),
        (
            "malformed XML",
            "to-json",
            "application/xml",
            b"<a><b></a>".to_vec(),
        ),
        (
            "JSON, invalid UTF-8",
            "to-xml",
            "application/json",
            b"{\"a\":\"\xff\"}".to_vec(),
        ),
        (
            "XML, invalid UTF-8",
            "to-json",
            "application/xml",
            b"<a>\xff</a>".to_vec(),
        ),
        (
            "JSON nested too deep",
            "to-xml",
            "application/json",
            deep_json.into_bytes(),
        ),
        (
            "XML nested too deep",
            "to-json",
            "application/xml",
            deep_xml.into_bytes(),
        ),
        (
            "DOCTYPE with an entity",
            "to-json",
            "application/xml",
            br#"<!DOCTYPE a [<!ENTITY x "secret">]><a>&x;</a>"#.to_vec(),
        ),
    ];
    for (case, resource, content_type, body) in cases {
        let resp = http
            .post(ferry.url(&format!("/convert/{resource}")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{case}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], 601000, "{case}: {body}");
    }
    // Logged by default (the harness runs with FERRY_LOG=info), by API and resource, and
    // without the payload.
    let log = plain_log(&ferry);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("bad request"))
        .collect();
    assert_eq!(warnings.len(), 7, "{log}");
    assert!(
        warnings
            .iter()
            .all(|l| l.contains("api=convert") && l.contains("resource=")),
        "{log}"
    );
    assert!(!log.contains("secret"), "{log}");
}

/// Sends `head`, then the body one byte every 200 ms (a client that declared more than it
/// is willing to send quickly), while reading the answer; gives up after `patience`.
async fn dribble(addr: SocketAddr, head: &'static str, patience: Duration) -> String {
    tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(patience)).unwrap();
        tcp.write_all(head.as_bytes()).unwrap();
        let mut writer = tcp.try_clone().unwrap();
        let sending = std::thread::spawn(move || {
            for _ in 0..1000 {
                if writer.write_all(b" ").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        // Until the server closes, or its answer is complete (it may keep the connection).
        while let Ok(n) = tcp.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
        let _ = tcp.shutdown(std::net::Shutdown::Both);
        let _ = sending.join();
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_gets_408_at_the_body_deadline() {
    let ferry = start(&["--request-body-timeout", "1"]);
    let started = Instant::now();
    let answer = dribble(
        ferry.http,
        "POST /convert/to-xml HTTP/1.1\r\nHost: ferry\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(
        body,
        json!({"error": {"code": 408, "message": "the request body did not arrive within 1s"}})
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(plain_log(&ferry).contains("the request body did not arrive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_a_request_is_closed_at_the_header_deadline() {
    let ferry = start(&["--request-header-timeout", "1"]);
    let closed = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(ferry.http).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        // Ok(0 bytes): the server closed the connection; Err: it never did.
        let closed = matches!(tcp.read_to_end(&mut buf), Ok(0));
        (closed, started.elapsed())
    })
    .await
    .unwrap();
    assert!(closed.0, "the connection stayed open");
    assert!(closed.1 < Duration::from_secs(5), "{:?}", closed.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_unanswered_at_the_request_timeout_gets_504() {
    let backend =
        Backend::start(|_| Reply::json(json!({"late": true})).delayed(Duration::from_secs(10)));
    let config = workspace_root().join("tests/passthrough");
    let port = format!("backend.port={}", backend.port());
    let ferry = Ferry::start(&[&config], &["--set", &port, "--request-timeout", "1"]);
    let started = Instant::now();
    // The buffered resource: a log, then the call the backend takes 10 s to answer.
    let resp = client()
        .post(ferry.url("/pass/buffered/x"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": 504, "message": "the request was not answered within 1s"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_sent_a_byte_at_a_time_gets_408_not_a_backend_fault() {
    let backend = Backend::echo();
    let config = workspace_root().join("tests/passthrough");
    let port = format!("backend.port={}", backend.port());
    let ferry = Ferry::start(&[&config], &["--set", &port, "--request-body-timeout", "1"]);
    // A declared length on a passthrough resource: the body streams to the backend.
    let answer = dribble(
        ferry.http,
        "POST /pass/stream/x HTTP/1.1\r\nHost: ferry\r\nContent-Type: text/plain\r\n\
         Content-Length: 1000\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(body["error"]["code"], 408, "{answer}");
}
