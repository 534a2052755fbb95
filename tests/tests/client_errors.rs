//! What a client that sends something wrong gets back, black box on the json-xml sample:
//! one JSON error format (`{"error": {"code", "message"}}`) and a 4xx status that says what
//! was wrong, whichever layer noticed.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::SocketAddr;

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
