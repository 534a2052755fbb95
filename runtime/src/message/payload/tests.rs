use serde_json::json;

use super::*;

fn raw(body: &'static str, content_type: &str) -> Payload {
    Payload::from_bytes(Bytes::from_static(body.as_bytes()), Some(content_type))
}

#[test]
fn media_types_decide_the_kind() {
    for (ct, kind) in [
        ("application/json", PayloadKind::Json),
        ("application/json; charset=UTF-8", PayloadKind::Json),
        ("application/vnd.api+json", PayloadKind::Json),
        ("application/xml", PayloadKind::Xml),
        ("text/xml; charset=utf-8", PayloadKind::Xml),
        ("application/soap+xml", PayloadKind::Xml),
        ("application/atom+xml", PayloadKind::Xml),
        ("TEXT/PLAIN", PayloadKind::Text),
        ("text/csv", PayloadKind::Text),
        ("application/x-www-form-urlencoded", PayloadKind::Text),
        ("application/octet-stream", PayloadKind::Binary),
        ("image/png", PayloadKind::Binary),
    ] {
        assert_eq!(PayloadKind::of(ct), kind, "{ct}");
    }
    assert_eq!(
        Payload::from_bytes(Bytes::new(), Some("application/json")).kind(),
        PayloadKind::Empty
    );
    assert_eq!(
        Payload::from_bytes(Bytes::from_static(b"x"), None).kind(),
        PayloadKind::Binary
    );
}

#[test]
fn passthrough_returns_the_received_bytes_without_copying() {
    let bytes = Bytes::from_static(br#"{"a":1}"#);
    let p = Payload::from_bytes(bytes.clone(), Some("application/json"));
    let out = p.to_bytes("application/json; charset=UTF-8").unwrap();
    assert_eq!(out.as_ptr(), bytes.as_ptr());
    // Reading does not replace the body: still zero-copy afterwards.
    assert_eq!(p.json().unwrap(), Some(&json!({"a": 1})));
    assert_eq!(
        p.to_bytes("application/json").unwrap().as_ptr(),
        bytes.as_ptr()
    );
    assert!(p.is_raw());
}

#[test]
fn the_body_is_parsed_at_most_once() {
    let p = raw(r#"{"a":[1,2]}"#, "application/json");
    let first = p.json().unwrap().unwrap() as *const Value;
    let second = p.json().unwrap().unwrap() as *const Value;
    assert_eq!(first, second);
    let x1 = p.xml().unwrap().unwrap() as *const Element;
    let x2 = p.xml().unwrap().unwrap() as *const Element;
    assert_eq!(x1, x2);
}

#[test]
fn json_is_converted_to_xml_on_demand_and_on_output() {
    let p = raw(r#"{"a":[1]}"#, "application/json");
    assert_eq!(
        p.xml().unwrap().unwrap().to_xml_string(),
        "<jsonObject><?xml-multiple a?><a>1</a></jsonObject>"
    );
    assert_eq!(
        &p.to_bytes("application/xml").unwrap()[..],
        b"<jsonObject><?xml-multiple a?><a>1</a></jsonObject>"
    );
}

#[test]
fn xml_is_converted_to_json_on_demand_and_on_output() {
    let p = raw("<order><id>7</id></order>", "text/xml");
    assert!(matches!(p.view().unwrap(), PayloadView::Xml(_)));
    assert_eq!(p.json().unwrap(), Some(&json!({"order": {"id": 7}})));
    assert_eq!(
        &p.to_bytes("application/json").unwrap()[..],
        br#"{"order":{"id":7}}"#
    );
}

#[test]
fn malformed_bodies_give_errors_and_keep_giving_them() {
    let p = raw("{oops", "application/json");
    let err = p.json().unwrap_err();
    assert!(err.message.contains("malformed JSON"), "{err}");
    assert_eq!(p.view().unwrap_err(), err);
    let x = raw("<a><b></a>", "application/xml");
    assert!(x.xml().unwrap_err().message.contains("line 1"));
    // Passthrough does not parse, so it does not fail.
    assert_eq!(&x.to_bytes("application/xml").unwrap()[..], b"<a><b></a>");
}

#[test]
fn a_parse_error_keeps_the_parsers_own_error_as_its_source() {
    use std::error::Error;
    let json = raw("{oops", "application/json").json().unwrap_err();
    let source = json.source().expect("the JSON parser's error");
    assert!(source.is::<serde_json::Error>(), "{source:?}");
    let xml = raw("<a><b></a>", "application/xml").xml().unwrap_err();
    let source = xml.source().expect("the XML parser's error");
    assert!(source.is::<crate::xml::XmlError>(), "{source:?}");
}

#[test]
fn text_is_seen_as_mi_sees_it_in_json_and_wrapped_as_xml() {
    let p = raw("hello <world>", "text/plain");
    assert!(matches!(
        p.view().unwrap(),
        PayloadView::Text("hello <world>")
    ));
    // MI converts its text wrapper element: `{"text": ...}`.
    assert_eq!(p.json().unwrap(), Some(&json!({"text": "hello <world>"})));
    assert_eq!(
        p.xml().unwrap().unwrap().to_xml_string(),
        r#"<text xmlns="http://ws.apache.org/commons/ns/payload">hello &lt;world&gt;</text>"#
    );
    assert_eq!(p.text().unwrap().as_deref(), Some("hello <world>"));
}

#[test]
fn a_text_wrapper_is_unwrapped_for_text_output() {
    let mut p = Payload::empty();
    p.set_xml(
        Element::parse(
            br#"<text xmlns="http://ws.apache.org/commons/ns/payload">a &amp; b</text>"#,
        )
        .unwrap(),
    );
    assert_eq!(&p.to_bytes("text/plain").unwrap()[..], b"a & b");
}

#[test]
fn binary_is_base64_in_a_binary_wrapper_and_unwrapped_back() {
    let p = Payload::from_bytes(
        Bytes::from_static(&[0, 159, 255]),
        Some("application/octet-stream"),
    );
    assert!(matches!(p.view().unwrap(), PayloadView::None));
    assert_eq!(p.json().unwrap(), None);
    let xml = p.xml().unwrap().unwrap().clone();
    assert_eq!(xml.name.local, BINARY_WRAPPER);
    assert_eq!(xml.text(), "AJ//");
    let mut q = Payload::empty();
    q.set_xml(xml);
    assert_eq!(
        &q.to_bytes("application/octet-stream").unwrap()[..],
        &[0, 159, 255]
    );
}

#[test]
fn invalid_utf8_text_is_an_error() {
    let p = Payload::from_bytes(Bytes::from_static(b"ok\xff"), Some("text/plain"));
    assert!(p.view().unwrap_err().message.contains("byte 2"));
}

#[test]
fn an_empty_body_has_no_views_and_serialises_to_nothing() {
    let p = Payload::empty();
    assert!(p.is_empty());
    assert!(matches!(p.view().unwrap(), PayloadView::None));
    assert_eq!(p.json().unwrap(), None);
    assert_eq!(p.xml().unwrap(), None);
    assert!(p.to_bytes("application/json").unwrap().is_empty());
}

#[test]
fn setters_replace_the_body_and_drop_cached_views() {
    let mut p = raw(r#"{"a":1}"#, "application/json");
    assert!(p.xml().unwrap().is_some());
    p.set_json(json!({"b": 2}));
    assert_eq!(p.content_type(), Some("application/json"));
    assert_eq!(
        p.xml().unwrap().unwrap().to_xml_string(),
        "<jsonObject><b>2</b></jsonObject>"
    );
    assert_eq!(&p.to_bytes("application/json").unwrap()[..], br#"{"b":2}"#);
    p.set_text("plain");
    assert_eq!(p.kind(), PayloadKind::Text);
    assert_eq!(p.json().unwrap(), Some(&json!({"text": "plain"})));
    p.set_bytes(Bytes::from_static(b"<x/>"), Some("application/xml"));
    assert_eq!(p.kind(), PayloadKind::Xml);
    assert_eq!(p.json().unwrap(), Some(&json!({"x": null})));
    p.clear();
    assert!(p.is_empty());
}

#[test]
fn json_mut_edits_in_place_converting_xml_first() {
    let mut p = raw("<jsonObject><a>1</a></jsonObject>", "application/xml");
    p.json_mut().unwrap().unwrap()["b"] = json!(true);
    assert_eq!(p.kind(), PayloadKind::Json);
    assert_eq!(
        &p.to_bytes("application/json").unwrap()[..],
        br#"{"a":1,"b":true}"#
    );
}

#[test]
fn xml_mut_edits_in_place_converting_json_first() {
    let mut p = raw(r#"{"a":1}"#, "application/json");
    p.xml_mut()
        .unwrap()
        .unwrap()
        .push_child(Element::new("b").with_text("2"));
    assert_eq!(p.kind(), PayloadKind::Xml);
    assert_eq!(
        &p.to_bytes("application/json").unwrap()[..],
        br#"{"a":1,"b":2}"#
    );
}

#[test]
fn conversion_options_apply_to_views() {
    let mut p = raw("<r><zip>01234</zip><n>5</n></r>", "application/xml");
    p.set_options(Arc::new(ConversionOptions {
        auto_primitive: false,
        ..ConversionOptions::default()
    }));
    assert_eq!(
        p.json().unwrap(),
        Some(&json!({"r": {"zip": "01234", "n": "5"}}))
    );
}

#[test]
fn a_payload_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Payload>();
}

/// `to_bytes` on a fresh payload (the direct conversion) and on one whose view was read
/// first (the tree path): the same bytes, or the same error.
fn direct_and_tree(body: &'static str, content_type: &str, out: &str) -> (String, String) {
    let direct = raw(body, content_type).to_bytes(out);
    let tree = raw(body, content_type);
    let _ = if PayloadKind::of(out) == PayloadKind::Xml {
        tree.xml().map(|_| ())
    } else {
        tree.json().map(|_| ())
    };
    let tree = tree.to_bytes(out);
    let show = |r: Result<Bytes, PayloadError>| match r {
        Ok(b) => String::from_utf8(b.to_vec()).unwrap(),
        Err(e) => format!("error: {e}"),
    };
    (show(direct), show(tree))
}

#[test]
fn a_raw_body_that_only_changes_format_is_converted_as_the_tree_path_would() {
    for (body, content_type, out) in [
        (
            r#"{"a":{"@id":"1","b":[1,2.5e1,null]}}"#,
            "application/json",
            "application/xml",
        ),
        // A repeated key: only the tree path writes it (the last value, the first place).
        (
            r#"{"a":1,"b":2,"a":3}"#,
            "application/json",
            "application/xml",
        ),
        (r#"{"bad key":1}"#, "application/json", "text/xml"),
        (r#"{"a":"#, "application/json", "application/xml"),
        ("[[[[1]]]]", "application/json", "application/xml"),
        (
            r#"<r a="1"><b>1</b><b>x</b><?xml-multiple c?></r>"#,
            "application/xml",
            "application/json",
        ),
        ("<a><b></a>", "application/xml", "application/json"),
    ] {
        let (direct, tree) = direct_and_tree(body, content_type, out);
        assert_eq!(direct, tree, "{body}");
    }
}

#[test]
fn a_malformed_body_keeps_giving_the_error_the_direct_conversion_found() {
    let p = raw(r#"{"a":"#, "application/json");
    let first = p.to_bytes("application/xml").unwrap_err();
    assert!(
        first.to_string().starts_with("malformed JSON: EOF"),
        "{first}"
    );
    assert_eq!(p.json().unwrap_err().to_string(), first.to_string());
    assert!(std::error::Error::source(&first).is_some());
}

#[test]
fn a_hundred_thousand_levels_are_a_clean_error_on_a_default_thread_stack() {
    let depth = 100_000;
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    // 2 MiB: the stack of a spawned thread (tokio's workers have the same).
    let errors = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let json = Payload::from_bytes(Bytes::from(json), Some("application/json"))
                .to_bytes("application/xml")
                .unwrap_err();
            let xml = Payload::from_bytes(Bytes::from(xml), Some("application/xml"))
                .to_bytes("application/json")
                .unwrap_err();
            (json.to_string(), xml.to_string())
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        errors.0.contains("recursion limit exceeded"),
        "{}",
        errors.0
    );
    assert!(errors.1.contains("nested too deeply"), "{}", errors.1);
}
