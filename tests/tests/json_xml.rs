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
