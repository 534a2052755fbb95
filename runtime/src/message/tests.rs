use serde_json::json;

use super::*;
use crate::expr::context::{ExprContext, PayloadView};

fn json_request(body: &'static str) -> Message {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Message::from_request(
        Method::POST,
        Uri::from_static("/orders/7?q=a%20b&tag=x+y&tag=z&flag"),
        headers,
        Bytes::from_static(body.as_bytes()),
    )
}

#[test]
fn a_request_keeps_method_uri_headers_and_decoded_query_params() {
    let m = json_request("{}");
    assert_eq!(m.method, Method::POST);
    assert_eq!(m.uri.path(), "/orders/7");
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.header("Content-Type"), Some("application/json"));
    assert_eq!(
        m.query_params,
        vec![
            ("q".to_owned(), "a b".to_owned()),
            ("tag".to_owned(), "x y".to_owned()),
            ("tag".to_owned(), "z".to_owned()),
            ("flag".to_owned(), String::new()),
        ]
    );
    assert_eq!(ExprContext::query_param(&m, "tag"), Some("x y"));
}

#[test]
fn an_untouched_body_passes_through_as_the_same_bytes() {
    let body = Bytes::from_static(br#"{"a":1}"#);
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    let m = Message::from_request(Method::POST, Uri::from_static("/"), headers, body.clone());
    let (out, ct) = m.body_bytes().unwrap();
    assert_eq!(out.as_ptr(), body.as_ptr());
    assert_eq!(ct, "application/json; charset=UTF-8");
    assert!(m.payload().is_raw());
}

#[test]
fn message_type_switches_the_output_format() {
    let mut m = Message::builder()
        .xml("<order><id>7</id></order>")
        .build()
        .unwrap();
    m.try_set_property(
        PropertyScope::Axis2,
        "messageType",
        json!("application/json"),
    )
    .unwrap();
    let (out, ct) = m.body_bytes().unwrap();
    assert_eq!(&out[..], br#"{"order":{"id":7}}"#);
    assert_eq!(ct, "application/json");

    let mut j = json_request(r#"{"a":1}"#);
    j.try_set_property(PropertyScope::Axis2, "messageType", json!("text/xml"))
        .unwrap();
    j.try_set_property(
        PropertyScope::Axis2,
        "ContentType",
        json!("text/xml; charset=UTF-8"),
    )
    .unwrap();
    let (out, ct) = j.body_bytes().unwrap();
    assert_eq!(&out[..], b"<jsonObject><a>1</a></jsonObject>");
    assert_eq!(ct, "text/xml; charset=UTF-8");
}

#[test]
fn content_type_alone_sets_the_output_and_a_new_payload_brings_its_own() {
    let mut m = json_request(r#"{"a":1}"#);
    m.try_set_property(
        PropertyScope::Axis2,
        "ContentType",
        json!("application/xml"),
    )
    .unwrap();
    assert_eq!(m.content_type_out().as_deref(), Some("application/xml"));
    let mut n = json_request("{}");
    n.set_text("hello");
    assert_eq!(n.content_type_out().as_deref(), Some("text/plain"));
    assert_eq!(n.body_bytes().unwrap().0, Bytes::from_static(b"hello"));
}

#[test]
fn http_sc_sets_the_status_and_is_validated() {
    let mut m = Message::new_empty();
    assert_eq!(m.status(), StatusCode::OK);
    m.try_set_property(PropertyScope::Axis2, "HTTP_SC", json!("404"))
        .unwrap();
    assert_eq!(m.status(), StatusCode::NOT_FOUND);
    m.try_set_property(PropertyScope::Axis2, "HTTP_SC", json!(201))
        .unwrap();
    assert_eq!(m.status(), StatusCode::CREATED);
    assert!(
        m.try_set_property(PropertyScope::Axis2, "HTTP_SC", json!("abc"))
            .is_err()
    );
    assert!(
        m.try_set_property(PropertyScope::Axis2, "HTTP_SC", json!(42))
            .is_err()
    );
    assert_eq!(m.status(), StatusCode::CREATED);
}

#[test]
fn no_entity_body_sends_nothing() {
    let mut m = json_request(r#"{"a":1}"#);
    m.try_set_property(PropertyScope::Axis2, "NO_ENTITY_BODY", json!(true))
        .unwrap();
    assert_eq!(m.body_bytes().unwrap(), (Bytes::new(), String::new()));
    m.try_set_property(PropertyScope::Axis2, "NO_ENTITY_BODY", json!("false"))
        .unwrap();
    assert!(!m.body_bytes().unwrap().0.is_empty());
}

#[test]
fn http_method_reads_and_sets_the_method() {
    let mut m = Message::new_empty();
    assert_eq!(
        m.property(PropertyScope::Axis2, "HTTP_METHOD"),
        Some(json!("GET"))
    );
    m.try_set_property(PropertyScope::Axis2, "HTTP_METHOD", json!("put"))
        .unwrap();
    assert_eq!(m.method, Method::PUT);
    assert!(
        m.try_set_property(PropertyScope::Axis2, "HTTP_METHOD", json!("bad method"))
            .is_err()
    );
}

#[test]
fn transport_properties_are_headers() {
    let mut m = Message::new_empty();
    m.try_set_property(PropertyScope::Transport, "X-Trace", json!("abc"))
        .unwrap();
    assert_eq!(m.header("x-trace"), Some("abc"));
    assert_eq!(
        m.property(PropertyScope::Transport, "X-TRACE"),
        Some(json!("abc"))
    );
    assert_eq!(
        m.remove_property(PropertyScope::Transport, "x-trace"),
        Some(json!("abc"))
    );
    assert_eq!(m.header("x-trace"), None);
    assert!(m.set_header("bad header", "x").is_err());
    assert!(m.set_header("x-ok", "line\nbreak").is_err());
}

#[test]
fn env_and_system_scopes_are_read_only_views() {
    let mut m = Message::builder()
        .config("db.url", "sqlite://x")
        .build()
        .unwrap();
    assert_eq!(
        m.property(PropertyScope::System, "db.url"),
        Some(json!("sqlite://x"))
    );
    assert_eq!(ExprContext::config(&m, "db.url"), Some("sqlite://x"));
    let path = std::env::var("PATH").ok().map(Value::String);
    assert_eq!(m.property(PropertyScope::Env, "PATH"), path);
    assert_eq!(
        m.try_set_property(PropertyScope::Env, "PATH", json!("x")),
        Err(MessageError::ReadOnlyScope(PropertyScope::Env))
    );
    assert!(
        m.try_set_property(PropertyScope::System, "db.url", json!("x"))
            .is_err()
    );
    assert_eq!(m.remove_property(PropertyScope::System, "db.url"), None);
    m.set_property(PropertyScope::System, "db.url", json!("x"));
    assert_eq!(
        m.property(PropertyScope::System, "db.url"),
        Some(json!("sqlite://x"))
    );
}

#[test]
fn message_id_and_to_have_defaults_that_can_be_overridden() {
    let mut a = Message::new_empty();
    let b = Message::new_empty();
    let id = a.id();
    assert!(id.starts_with("urn:uuid:"), "{id}");
    assert_eq!(id.len(), "urn:uuid:".len() + 36);
    assert_eq!(&id[9 + 14..9 + 15], "4");
    assert_ne!(id, b.id());
    assert_eq!(
        a.property(PropertyScope::Default, "MessageID"),
        Some(Value::String(id))
    );
    assert_eq!(a.property(PropertyScope::Default, "To"), Some(json!("/")));
    a.try_set_property(PropertyScope::Default, "To", json!("http://backend/x"))
        .unwrap();
    assert_eq!(
        a.property(PropertyScope::Default, "To"),
        Some(json!("http://backend/x"))
    );
}

#[test]
fn ids_do_not_repeat() {
    let ids: std::collections::HashSet<String> =
        (0..10_000).map(|_| Message::new_empty().id()).collect();
    assert_eq!(ids.len(), 10_000);
}

#[test]
fn default_and_operation_properties_are_stored() {
    let mut m = Message::new_empty();
    m.try_set_property(PropertyScope::Default, "ERROR_CODE", json!(101503))
        .unwrap();
    m.try_set_property(PropertyScope::Operation, "count", json!(2))
        .unwrap();
    assert_eq!(
        m.property(PropertyScope::Default, "ERROR_CODE"),
        Some(json!(101503))
    );
    assert_eq!(
        ExprContext::property(&m, PropertyScope::Operation, "count"),
        Some(json!(2))
    );
    assert_eq!(
        m.remove_property(PropertyScope::Operation, "count"),
        Some(json!(2))
    );
    assert_eq!(m.property(PropertyScope::Operation, "count"), None);
}

#[test]
fn variables_keep_insertion_order_and_can_be_removed() {
    let mut m = Message::new_empty();
    m.set_variable("b", json!(1));
    m.set_variable("a", json!({"x": [1]}));
    assert_eq!(m.variables().keys().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(ExprContext::variable(&m, "a"), Some(&json!({"x": [1]})));
    assert_eq!(m.remove_variable("b"), Some(json!(1)));
    assert_eq!(m.variable("b"), None);
}

#[test]
fn set_response_replaces_headers_payload_and_axis2_scope() {
    let mut m = json_request(r#"{"req":1}"#);
    m.try_set_property(
        PropertyScope::Axis2,
        "messageType",
        json!("application/xml"),
    )
    .unwrap();
    m.try_set_property(PropertyScope::Default, "keep", json!(true))
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    headers.insert("x-backend", HeaderValue::from_static("b1"));
    let body = Bytes::from_static(b"<r>ok</r>");
    m.set_response(StatusCode::ACCEPTED, headers, body.clone());
    assert_eq!(m.status(), StatusCode::ACCEPTED);
    assert_eq!(m.header("x-backend"), Some("b1"));
    assert_eq!(m.property(PropertyScope::Axis2, "messageType"), None);
    assert_eq!(
        m.property(PropertyScope::Default, "keep"),
        Some(json!(true))
    );
    assert_eq!(m.payload_json().unwrap(), Some(&json!({"r": "ok"})));
    let (out, ct) = m.body_bytes().unwrap();
    assert_eq!(out.as_ptr(), body.as_ptr());
    assert_eq!(ct, "application/xml");
}

#[test]
fn the_expression_context_reads_payload_params_and_headers() {
    let m = Message::builder()
        .method(Method::POST)
        .uri("/p/9?x=1")
        .header("X-Id", "h1")
        .json(&json!({"orders": [{"id": 3}]}))
        .uri_param("id", "9")
        .function_param("p", json!(5))
        .variable("v", json!("w"))
        .property(PropertyScope::Axis2, "HTTP_SC", json!(202))
        .build()
        .unwrap();
    assert!(matches!(
        ExprContext::payload(&m).unwrap(),
        PayloadView::Json(_)
    ));
    assert_eq!(
        ExprContext::payload_json(&m).unwrap(),
        Some(&json!({"orders": [{"id": 3}]}))
    );
    assert_eq!(
        ExprContext::payload_xml(&m).unwrap().unwrap().name.local,
        "jsonObject"
    );
    assert_eq!(ExprContext::header(&m, "x-id"), Some("h1"));
    assert_eq!(ExprContext::uri_param(&m, "id"), Some("9"));
    assert_eq!(ExprContext::uri_param(&m, "nope"), None);
    assert_eq!(ExprContext::query_param(&m, "x"), Some("1"));
    assert_eq!(ExprContext::function_param(&m, "p"), Some(&json!(5)));
    assert_eq!(ExprContext::variable(&m, "v"), Some(&json!("w")));
    assert_eq!(
        ExprContext::property(&m, PropertyScope::Axis2, "HTTP_SC"),
        Some(json!(202))
    );
    assert_eq!(ExprContext::config(&m, "missing"), None);
    assert_eq!(m.status(), StatusCode::ACCEPTED);
}

#[test]
fn the_builder_rejects_invalid_input() {
    assert!(Message::builder().header("bad name", "x").build().is_err());
    assert!(Message::builder().uri("http://[::1").build().is_err());
    assert!(
        Message::builder()
            .property(PropertyScope::Env, "x", json!(1))
            .build()
            .is_err()
    );
}

#[test]
fn conversion_options_reach_the_payload() {
    let mut m = Message::builder().xml("<r><n>5</n></r>").build().unwrap();
    m.set_conversion_options(Arc::new(ConversionOptions {
        auto_primitive: false,
        ..ConversionOptions::default()
    }));
    assert_eq!(m.payload_json().unwrap(), Some(&json!({"r": {"n": "5"}})));
}

#[test]
fn a_message_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Message>();
}

#[test]
fn an_empty_message_has_no_body() {
    let m = Message::new_empty();
    assert_eq!(m.body_bytes().unwrap(), (Bytes::new(), String::new()));
    assert_eq!(m.content_type_out(), None);
}

#[test]
fn a_clone_shares_the_received_body_and_diverges_after_changes() {
    let mut a = json_request(r#"{"a":1}"#);
    assert!(a.payload_json().unwrap().is_some());
    let b = a.clone();
    assert_eq!(
        a.payload().raw_bytes().unwrap().as_ptr(),
        b.payload().raw_bytes().unwrap().as_ptr()
    );
    a.set_json(json!({"a": 2}));
    a.set_variable("v", json!(1));
    assert_eq!(b.payload_json().unwrap(), Some(&json!({"a": 1})));
    assert_eq!(b.variable("v"), None);
    assert_eq!(b.id(), a.id());
    a.renew_id();
    assert_ne!(b.id(), a.id());
}

#[test]
fn params_are_looked_up_by_name() {
    let mut m = Message::new_empty();
    m.set_params(
        vec![("id".into(), "7".into())],
        vec![("q".into(), "a".into()), ("q".into(), "b".into())],
    );
    assert_eq!(m.uri_param("id"), Some("7"));
    assert_eq!(m.query_param("q"), Some("a"));
    assert_eq!(m.query_param("x"), None);
    assert!(m.is_payload_empty());
}

#[test]
fn a_member_of_a_raw_json_body_is_read_without_parsing_it() {
    let p = payload::Payload::from_bytes(
        Bytes::from_static(br#"{"kind": "a", "rest": [1, 2, 3]}"#),
        Some("application/json"),
    );
    assert_eq!(p.json_member("kind"), Some(Some(json!("a"))));
    assert_eq!(p.json_member("none"), Some(None));
    assert_eq!(
        p.json_member("rest"),
        None,
        "a third field: one parse beats more scans"
    );
    p.json().unwrap();
    assert_eq!(p.json_member("kind"), None, "once parsed, the tree answers");
    let xml = payload::Payload::from_bytes(Bytes::from_static(b"<a/>"), Some("application/xml"));
    assert_eq!(
        xml.json_member("a"),
        None,
        "XML goes through the conversion rules"
    );
}

#[test]
fn a_reader_of_many_fields_skips_the_scans() {
    let p = payload::Payload::from_bytes(
        Bytes::from_static(br#"{"kind": "a", "id": 7}"#),
        Some("application/json"),
    );
    p.expect_many_reads();
    assert_eq!(
        p.json_member("kind"),
        None,
        "no scan: the full parse answers"
    );
    assert_eq!(p.json().unwrap(), Some(&json!({"kind": "a", "id": 7})));
}

#[test]
fn length_of_a_payload_array_reads_the_same_scanned_or_parsed() {
    let expr = ferry_api::expr::Expression::parse("${length(payload.items)}").unwrap();
    let body = Bytes::from_static(br#"{"kind": "a", "items": [1, 2, 3]}"#);
    let fresh = || {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Message::from_request(Method::POST, Uri::from_static("/"), headers, body.clone())
    };
    // The first read of a raw body scans for the member.
    let scanned = fresh();
    assert_eq!(crate::expr::evaluate(&expr, &scanned).unwrap(), json!(3));
    // Once parsed, the array is read in place.
    let parsed = fresh();
    parsed.payload_json().unwrap();
    assert_eq!(crate::expr::evaluate(&expr, &parsed).unwrap(), json!(3));
}
