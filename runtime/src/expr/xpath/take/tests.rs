//! Tests of taking selected elements out and filling their slots.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};

use super::*;
use crate::message::Message;

fn xml(body: &str) -> Message {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    Message::from_request(
        Method::POST,
        Uri::from_static("/t"),
        headers,
        Bytes::from(body.to_owned()),
    )
}

fn xpath(src: &str) -> XPathExpression {
    XPathExpression::parse(src, &[("m".into(), "urn:m".into())]).unwrap()
}

fn text(e: &Element) -> String {
    e.to_xml_string()
}

const ORDER: &str = r#"<order id="o1"><items><item>pen</item><note/><item>ink</item></items><total>3</total></order>"#;

#[test]
fn in_place_leaves_a_slot_where_each_element_was() {
    let msg = xml(ORDER);
    let mut taken = take_selected(&xpath("//item"), Leave::InPlace, &msg).unwrap();
    let names: Vec<String> = taken.elements.iter().map(text).collect();
    assert_eq!(names, ["<item>pen</item>", "<item>ink</item>"]);
    let mut n = 0;
    let filled = Taken::fill(&mut taken.rest, &mut |i| {
        n += 1;
        Some(Element::new("done").with_text(i.to_string()))
    });
    assert_eq!((filled, n), (2, 2));
    assert_eq!(
        text(&taken.rest),
        r#"<order id="o1"><items><done>0</done><note/><done>1</done></items><total>3</total></order>"#
    );
}

#[test]
fn the_payload_element_itself_can_be_taken_and_replaced() {
    let msg = xml(ORDER);
    let mut taken = take_selected(&xpath("/*/*/order"), Leave::InPlace, &msg).unwrap();
    assert_eq!(taken.elements.len(), 1);
    Taken::fill(&mut taken.rest, &mut |_| Some(Element::new("new")));
    assert_eq!(text(&taken.rest), "<new/>");
}

#[test]
fn under_removes_the_elements_and_leaves_one_slot_at_the_attach_path() {
    let msg = xml(ORDER);
    let attach = xpath("//items");
    let taken = take_selected(&xpath("//item"), Leave::Under(&attach), &msg).unwrap();
    assert_eq!(taken.elements.len(), 2);
    for fragment in &taken.elements {
        let mut rest = taken.rest.clone();
        let filled = Taken::fill(&mut rest, &mut |i| (i == 0).then(|| fragment.clone()));
        assert_eq!(filled, 1);
        assert_eq!(
            text(&rest),
            format!(
                r#"<order id="o1"><items><note/>{}</items><total>3</total></order>"#,
                text(fragment)
            )
        );
    }
}

#[test]
fn a_soap_envelope_stays_the_payload() {
    let env = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><m:list xmlns:m="urn:m"><m:a>1</m:a><m:a>2</m:a></m:list></soapenv:Body></soapenv:Envelope>"#;
    let msg = xml(env);
    let mut taken = take_selected(&xpath("//m:a"), Leave::InPlace, &msg).unwrap();
    assert_eq!(taken.elements.len(), 2);
    Taken::fill(&mut taken.rest, &mut |_| Some(Element::new("b")));
    let out = text(&taken.rest);
    assert!(
        out.contains("Envelope") && out.matches("<b/>").count() == 2,
        "{out}"
    );
}

#[test]
fn selections_that_cannot_be_taken_are_errors() {
    let msg = xml(ORDER);
    for bad in ["count(//item)", "//item/text()", "$body", "/*", "//@id"] {
        assert!(
            take_selected(&xpath(bad), Leave::InPlace, &msg).is_err(),
            "{bad} should be refused"
        );
    }
    let nowhere = xpath("//missing");
    let err = take_selected(&xpath("//item"), Leave::Under(&nowhere), &msg).unwrap_err();
    assert!(err.to_string().contains("attachPath"), "{err}");
}

#[test]
fn nested_selections_lose_a_slot_which_fill_counts() {
    let msg = xml("<a><b><b/></b></a>");
    let mut taken = take_selected(&xpath("//b"), Leave::InPlace, &msg).unwrap();
    assert_eq!(taken.elements.len(), 2);
    let filled = Taken::fill(&mut taken.rest, &mut |_| Some(Element::new("x")));
    assert_eq!(filled, 1);
}
