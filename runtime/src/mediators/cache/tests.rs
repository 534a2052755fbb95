use http::{HeaderMap, Method};
use serde_json::json;

use super::{CacheControl, HashedHeaders, request_key};
use crate::message::Message;

fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> Message {
    let mut b = Message::builder().method(method).uri(uri).json(&body);
    for (n, v) in headers {
        b = b.header(n, v);
    }
    b.build().unwrap()
}

fn key(msg: &Message, selected: &HashedHeaders) -> [u8; 32] {
    request_key(msg, selected).unwrap()
}

#[test]
fn a_get_is_keyed_by_uri_and_headers_not_by_its_body() {
    let all = HashedHeaders::AllBut(Vec::new());
    let a = request(Method::GET, "/a?q=1", &[("x-k", "1")], json!({"b": 1}));
    let same = request(Method::GET, "/a?q=1", &[("x-k", "1")], json!({"b": 2}));
    assert_eq!(key(&a, &all), key(&same, &all));
    let other_query = request(Method::GET, "/a?q=2", &[("x-k", "1")], json!({}));
    let other_header = request(Method::GET, "/a?q=1", &[("x-k", "2")], json!({}));
    let other_method = request(Method::DELETE, "/a?q=1", &[("x-k", "1")], json!({}));
    for different in [other_query, other_header, other_method] {
        assert_ne!(key(&a, &all), key(&different, &all));
    }
}

#[test]
fn a_post_is_keyed_by_its_body_too() {
    let all = HashedHeaders::AllBut(Vec::new());
    let a = request(Method::POST, "/a", &[], json!({"b": 1}));
    let b = request(Method::POST, "/a", &[], json!({"b": 2}));
    assert_ne!(key(&a, &all), key(&b, &all));
}

#[test]
fn date_and_user_agent_never_count_and_excluded_headers_do_not_either() {
    let all = HashedHeaders::AllBut(Vec::new());
    let a = request(
        Method::GET,
        "/a",
        &[("user-agent", "x"), ("date", "y")],
        json!({}),
    );
    let b = request(Method::GET, "/a", &[("user-agent", "z")], json!({}));
    assert_eq!(key(&a, &all), key(&b, &all));
    let with = request(
        Method::GET,
        "/a",
        &[("x-trace", "1"), ("x-k", "1")],
        json!({}),
    );
    let without = request(Method::GET, "/a", &[("x-k", "1")], json!({}));
    assert_ne!(key(&with, &all), key(&without, &all));
    let but_trace = HashedHeaders::AllBut(vec!["x-trace".into()]);
    assert_eq!(key(&with, &but_trace), key(&without, &but_trace));
    let only_k = HashedHeaders::Only(vec!["x-k".into()]);
    assert_eq!(key(&with, &only_k), key(&without, &only_k));
    let none = request(Method::GET, "/a", &[], json!({}));
    assert_eq!(
        key(&with, &HashedHeaders::None),
        key(&none, &HashedHeaders::None)
    );
}

#[test]
fn cache_control_directives_are_read_from_every_header_line() {
    let mut h = HeaderMap::new();
    h.append("cache-control", "public, Max-Age=60".parse().unwrap());
    h.append("cache-control", "no-cache".parse().unwrap());
    let c = CacheControl::of(&h);
    assert_eq!(
        c,
        CacheControl {
            no_store: false,
            no_cache: true,
            max_age: Some(std::time::Duration::from_secs(60))
        }
    );
    let mut h = HeaderMap::new();
    h.insert("cache-control", "no-store".parse().unwrap());
    assert!(CacheControl::of(&h).no_store);
}
