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
