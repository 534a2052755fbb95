use super::*;

fn parse_str(s: &str) -> Element {
    parse(s.as_bytes()).unwrap()
}

#[test]
fn namespaces_resolve_from_prefixes_and_the_default_namespace() {
    let root = parse_str(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:d">
             <soapenv:Body><order id="7"/></soapenv:Body></soapenv:Envelope>"#,
    );
    assert_eq!(root.name.local, "Envelope");
    assert_eq!(root.name.prefix.as_deref(), Some("soapenv"));
    assert_eq!(
        root.name.namespace.as_deref(),
        Some("http://schemas.xmlsoap.org/soap/envelope/")
    );
    assert_eq!(root.namespaces.len(), 2);
    let order = root.child("Body").unwrap().child("order").unwrap();
    assert_eq!(order.name.namespace.as_deref(), Some("urn:d"));
    assert_eq!(order.attribute("id"), Some("7"));
    // Unprefixed attributes never take the default namespace.
    assert_eq!(order.attributes[0].name.namespace, None);
}

#[test]
fn entities_and_character_references_are_unescaped_in_text_and_attributes() {
    let root =
        parse_str(r#"<a t="x &amp; &quot;y&quot; &#65;">1 &lt; 2 &amp;&amp; &#x42;&gt;</a>"#);
    assert_eq!(root.attribute("t"), Some(r#"x & "y" A"#));
    assert_eq!(root.children, vec![Node::Text("1 < 2 && B>".into())]);
}

#[test]
fn cdata_comments_and_processing_instructions_are_kept() {
    let root = parse_str("<a><![CDATA[<raw>]]><!-- note --><?xml-multiple item?></a>");
    assert_eq!(
        root.children,
        vec![
            Node::CData("<raw>".into()),
            Node::Comment(" note ".into()),
            Node::ProcessingInstruction {
                target: "xml-multiple".into(),
                data: "item".into()
            },
        ]
    );
}

#[test]
fn the_prolog_and_a_plain_doctype_are_skipped() {
    let root = parse_str(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<!DOCTYPE a>\n<a>x</a>\n",
    );
    assert_eq!(root.name.local, "a");
    assert_eq!(root.text(), "x");
}

#[test]
fn a_doctype_declaring_entities_is_rejected() {
    let lol = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    let err = parse(lol.as_bytes()).unwrap_err();
    assert!(err.message.contains("entity"), "{err}");
    let xxe = r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    assert!(parse(xxe.as_bytes()).is_err());
}

#[test]
fn an_unknown_entity_is_an_error() {
    let err = parse(b"<a>&nbsp;</a>").unwrap_err();
    assert!(err.message.contains("nbsp"), "{err}");
}

#[test]
fn malformed_xml_reports_line_and_column() {
    let err = parse(b"<a>\n  <b></c>\n</a>").unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.column >= 3, "{err}");
    assert!(err.to_string().starts_with("malformed XML at line 2"));
}

#[test]
fn documents_without_a_single_root_are_rejected() {
    assert!(parse(b"").is_err());
    assert!(parse(b"   ").is_err());
    assert!(parse(b"<a/><b/>").is_err());
    assert!(parse(b"text<a/>").is_err());
    assert!(parse(b"<a>").is_err());
}

#[test]
fn undeclared_prefixes_and_duplicate_attributes_are_rejected() {
    assert!(parse(b"<p:a/>").is_err());
    assert!(parse(br#"<a x="1" x="2"/>"#).is_err());
}

#[test]
fn invalid_utf8_is_located() {
    let err = parse(b"<a>\xff</a>").unwrap_err();
    assert_eq!(err.offset, 3);
}

#[test]
fn nesting_deeper_than_the_limit_is_rejected() {
    let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
    assert!(
        parse(deep.as_bytes())
            .unwrap_err()
            .message
            .contains("deeply")
    );
    let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
    assert!(parse(ok.as_bytes()).is_ok());
}

#[test]
fn serialising_escapes_text_and_attributes() {
    let e = Element::new("a")
        .with_attribute("q", "\"<&>\"\n")
        .with_text("1 < 2 & 3 > 2");
    let s = e.to_xml_string();
    assert_eq!(
        s,
        r#"<a q="&quot;&lt;&amp;&gt;&quot;&#10;">1 &lt; 2 &amp; 3 &gt; 2</a>"#
    );
    assert_eq!(parse_str(&s), e);
}

#[test]
fn serialising_writes_namespace_declarations_as_parsed() {
    let src = r#"<s:E xmlns:s="urn:s"><s:B xmlns="urn:d"><x a="1">t</x><y/></s:B></s:E>"#;
    let root = parse_str(src);
    assert_eq!(root.to_xml_string(), src);
}

#[test]
fn serialising_declares_namespaces_missing_from_built_elements() {
    let e = Element::with_name(QName::namespaced(
        None,
        "text",
        "http://ws.apache.org/commons/ns/payload",
    ))
    .with_text("hi");
    assert_eq!(
        e.to_xml_string(),
        r#"<text xmlns="http://ws.apache.org/commons/ns/payload">hi</text>"#
    );
    // A detached child of a default-namespace parent keeps its namespace when written alone.
    let root = parse_str(r#"<a xmlns="urn:x"><b/></a>"#);
    let b = root.child("b").unwrap();
    assert_eq!(b.to_xml_string(), r#"<b xmlns="urn:x"/>"#);
    // A child without namespace under a default namespace undeclares it.
    let parent =
        Element::with_name(QName::namespaced(None, "p", "urn:x")).with_child(Element::new("c"));
    assert_eq!(
        parent.to_xml_string(),
        r#"<p xmlns="urn:x"><c xmlns=""/></p>"#
    );
    assert_eq!(parse_str(&parent.to_xml_string()), {
        let mut expected = parent.clone();
        expected.namespaces.push(NamespaceDecl {
            prefix: None,
            uri: "urn:x".into(),
        });
        expected
            .child_mut("c")
            .unwrap()
            .namespaces
            .push(NamespaceDecl {
                prefix: None,
                uri: String::new(),
            });
        expected
    });
}

#[test]
fn serialising_keeps_cdata_comments_and_pis() {
    let src = "<a><![CDATA[x]]]]><![CDATA[>y]]><!--c--><?xml-multiple b?><?empty?></a>";
    let root = parse_str(src);
    assert_eq!(root.children[0], Node::CData("x]]".into()));
    assert_eq!(root.children[1], Node::CData(">y".into()));
    let back = root.to_xml_string();
    assert_eq!(parse_str(&back), root);
}

#[test]
fn text_concatenates_descendant_text_and_cdata() {
    let root = parse_str("<a>x<b>y<![CDATA[z]]></b><!--no--></a>");
    assert_eq!(root.text(), "xyz");
}

#[test]
fn child_lookups_find_elements_by_local_name() {
    let root = parse_str(r#"<r xmlns:p="urn:p"><p:i>1</p:i><i>2</i><j/></r>"#);
    assert_eq!(root.child("i").unwrap().text(), "1");
    assert_eq!(root.child_ns(None, "i").unwrap().text(), "2");
    assert_eq!(root.child_ns(Some("urn:p"), "i").unwrap().text(), "1");
    assert_eq!(root.children_named("i").count(), 2);
    assert_eq!(root.child_elements().count(), 3);
    assert!(root.child("k").is_none());
    assert!(root.has_child_elements());
}

#[test]
fn line_endings_in_text_are_normalised() {
    let root = parse_str("<a>x\r\ny</a>");
    assert_eq!(root.text(), "x\ny");
}

#[test]
fn an_element_or_attribute_name_that_is_no_qname_is_refused() {
    // Found by the `convert` fuzz target: `<\r\r/>` parsed as an element with an empty
    // name, which the writer then wrote as `</>`.
    for bad in [
        "<a><\r\r/></a>",
        "<a><:b/></a>",
        "<a><b:/></a>",
        "<1a/>",
        "<a 1b='x'/>",
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad:?} parsed");
    }
    parse(b"<p:a xmlns:p='urn:p' p:b-c.d='x'><_e\xC3\xA9/></p:a>").unwrap();
}
