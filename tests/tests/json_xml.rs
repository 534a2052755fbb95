//! The json-xml sample: conversion both ways, and XPath over a JSON request.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::{Ferry, client, workspace_root};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_becomes_xml_and_xml_becomes_json() {
    let sample = workspace_root().join("config/samples/json-xml");
    let ferry = Ferry::start(&[&sample], &[]);
    let http = client();

    let resp = http
        .post(ferry.url("/convert/to-xml"))
        .json(&json!({"order": {"id": 7, "items": ["tea"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = resp.text().await.unwrap();
    assert!(xml.contains("<jsonObject><order><id>7</id>"), "{xml}");
    assert!(xml.contains("<items>tea</items>"), "{xml}");

    let resp = http
        .post(ferry.url("/convert/to-json"))
        .header("content-type", "application/xml")
        .body("<order><id>7</id><item>tea</item><item>milk</item></order>")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"order": {"id": 7, "item": ["tea", "milk"]}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpath_reads_a_json_request_and_answers_xml() {
    let sample = workspace_root().join("config/samples/json-xml");
    let ferry = Ferry::start(&[&sample], &[]);
    let resp = client()
        .post(ferry.url("/convert/order-summary"))
        .json(&json!({"order": {"id": 7, "items": ["tea", "milk"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let xml = resp.text().await.unwrap();
    assert!(xml.contains("<id>7</id>"), "{xml}");
    assert!(xml.contains("<first>tea</first>"), "{xml}");
    assert!(xml.contains("<count>2</count>"), "{xml}");
}

// === memory (issue #12: a 9 MB conversion took ferry from 20 MB to 738 MB) ===

/// `VmHWM` (peak) and `VmRSS` of a process, in bytes; `None` without `/proc`.
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

const MIB: u64 = 1 << 20;
const BIG: usize = 9_000_000;

/// Sends `body` through a fresh ferry and checks the answer is `expected`, that the peak
/// RSS grew by less than 6× the body, and that the RSS came back down afterwards. The bound
/// is on the growth over the idle RSS: a debug binary's idle RSS differs between machines
/// (51 MiB on one CI machine, under 40 MiB on others), and it is not the conversion's.
async fn converts_within_bounded_memory(
    path: &str,
    content_type: &str,
    body: String,
    expected: &str,
) {
    let sample = workspace_root().join("config/samples/json-xml");
    let ferry = Ferry::start(&[&sample], &[]);
    let Some((_, idle)) = memory_of(ferry.pid()) else {
        println!("skipped: no /proc/PID/status to read the RSS from");
        return;
    };
    let body_len = body.len() as u64;
    let resp = client()
        .post(ferry.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let answer = resp.text().await.unwrap();
    assert!(
        answer == expected,
        "the answer differs from the expected {} bytes",
        expected.len()
    );

    let (peak, _) = memory_of(ferry.pid()).unwrap();
    let bound = idle + 6 * body_len;
    assert!(
        peak < bound,
        "peak RSS {} MiB, bound {} MiB (idle {} MiB, body {} MiB)",
        peak / MIB,
        bound / MIB,
        idle / MIB,
        body_len / MIB
    );
    // What the conversion took is given back (the allocator may keep a little).
    let mut rss = u64::MAX;
    for _ in 0..30 {
        rss = memory_of(ferry.pid()).unwrap().1;
        if rss < idle + body_len {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        rss < idle + body_len,
        "RSS after the request {} MiB (idle {} MiB, peak {} MiB)",
        rss / MIB,
        idle / MIB,
        peak / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_9_mb_json_body_becomes_xml_in_bounded_memory() {
    let (mut body, mut expected) = (
        String::from(r#"{"orders":["#),
        String::from("<jsonObject><?xml-multiple orders?>"),
    );
    let mut i = 0;
    while body.len() < BIG {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":{i},"name":"n<{i}>&","price":1.5e2,"tags":["a","b"],"none":null}}"#
        ));
        expected.push_str(&format!(
            "<orders><id>{i}</id><name>n&lt;{i}&gt;&amp;</name><price>150.0</price>\
             <?xml-multiple tags?><tags>a</tags><tags>b</tags><none/></orders>"
        ));
        i += 1;
    }
    body.push_str("]}");
    expected.push_str("</jsonObject>");
    converts_within_bounded_memory("/convert/to-xml", "application/json", body, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_9_mb_xml_body_becomes_json_in_bounded_memory() {
    let (mut body, mut expected) = (
        String::from("<orders>"),
        String::from(r#"{"orders":{"order":["#),
    );
    let mut i = 0;
    while body.len() < BIG {
        if i > 0 {
            expected.push(',');
        }
        body.push_str(&format!(
            "<order id=\"{i}\">\n  <name>n &amp; {i}</name><qty>{}</qty><ok>true</ok><note/>\n</order>",
            i % 7
        ));
        expected.push_str(&format!(
            r#"{{"@id":"{i}","name":"n & {i}","qty":{},"ok":true,"note":null}}"#,
            i % 7
        ));
        i += 1;
    }
    body.push_str("</orders>");
    expected.push_str("]}}");
    converts_within_bounded_memory("/convert/to-json", "application/xml", body, &expected).await;
}
