//! WS-Addressing: the SOAP header blocks that say where a message goes (`wsa:To`), what
//! it asks for (`wsa:Action`), who it is (`wsa:MessageID`), what it answers
//! (`wsa:RelatesTo`) and where answers and faults go (`wsa:ReplyTo`, `wsa:FaultTo`,
//! `wsa:From`, each an endpoint reference around a `wsa:Address`).
//!
//! Ferry keeps them as the message properties of the same names (default scope), as
//! Synapse keeps them on its message context: a request's own headers are what those
//! properties read until the flow sets them, and an endpoint with `enableAddressing`
//! writes them into the envelope it sends.

use ferry_api::check::mediator::AddressingHeader;
use ferry_api::resources::endpoint::AddressingVersion;

use super::soap;
use crate::xml::{Element, NamespaceDecl, Node, QName};

/// The namespace of WS-Addressing 1.0 (`final`).
pub const FINAL: &str = "http://www.w3.org/2005/08/addressing";
/// The namespace of the 2004/08 member submission.
pub const SUBMISSION: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

/// The namespace of a version.
pub fn namespace(version: AddressingVersion) -> &'static str {
    match version {
        AddressingVersion::Final => FINAL,
        AddressingVersion::Submission => SUBMISSION,
    }
}

/// The address that means "answer on the request's own connection".
pub fn anonymous(version: AddressingVersion) -> &'static str {
    match version {
        AddressingVersion::Final => "http://www.w3.org/2005/08/addressing/anonymous",
        AddressingVersion::Submission => {
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
        }
    }
}

fn is_addressing(name: &QName) -> bool {
    matches!(name.namespace.as_deref(), Some(FINAL | SUBMISSION))
}

/// The value of `header` in `envelope`'s header (of either version): the block's text, or
/// for an endpoint reference its `Address`. `None` when `envelope` is not a SOAP envelope
/// or carries no such block.
pub fn read(envelope: &Element, header: AddressingHeader) -> Option<String> {
    soap::envelope_version(envelope)?;
    let block = soap::part(envelope, "Header")?
        .child_elements()
        .find(|e| e.name.local == header.name() && is_addressing(&e.name))?;
    let text = if header.is_endpoint_reference() {
        block
            .child_elements()
            .find(|e| e.name.local == "Address" && is_addressing(&e.name))?
            .text()
    } else {
        block.text()
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Replaces the WS-Addressing blocks of `envelope`'s header (of either version) with
/// `values`, written in `version`'s namespace in the order given.
pub fn write(
    envelope: &mut Element,
    version: AddressingVersion,
    values: &[(AddressingHeader, String)],
) {
    let ns = namespace(version);
    let header = soap::header_mut(envelope);
    header
        .children
        .retain(|c| !matches!(c, Node::Element(e) if is_addressing(&e.name)));
    // Declared once on the header rather than on every block (unless the header already
    // gives the prefix another meaning: then the writer declares it where it is used).
    if !header
        .namespaces
        .iter()
        .any(|d| d.prefix.as_deref() == Some("wsa"))
    {
        header.namespaces.push(NamespaceDecl {
            prefix: Some("wsa".into()),
            uri: ns.into(),
        });
    }
    let name = |local: &str| QName {
        prefix: Some("wsa".into()),
        local: local.into(),
        namespace: Some(ns.into()),
    };
    for (h, value) in values {
        let mut block = Element::with_name(name(h.name()));
        if h.is_endpoint_reference() {
            block.push_child(Element::with_name(name("Address")).with_text(value.clone()));
        } else {
            block.push_text(value.clone());
        }
        header.push_child(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(header: &str) -> Element {
        let text = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:wsa=\"{FINAL}\"><s:Header>{header}</s:Header><s:Body><a/></s:Body></s:Envelope>"
        );
        crate::xml::parse(text.as_bytes()).expect("test envelope")
    }

    #[test]
    fn reads_text_and_endpoint_reference_headers() {
        let env = envelope(
            "<wsa:To>http://x/svc</wsa:To><wsa:MessageID> urn:uuid:1 </wsa:MessageID>\
             <wsa:ReplyTo><wsa:Address>http://client/cb</wsa:Address></wsa:ReplyTo>",
        );
        assert_eq!(
            read(&env, AddressingHeader::To).as_deref(),
            Some("http://x/svc")
        );
        assert_eq!(
            read(&env, AddressingHeader::MessageId).as_deref(),
            Some("urn:uuid:1")
        );
        assert_eq!(
            read(&env, AddressingHeader::ReplyTo).as_deref(),
            Some("http://client/cb")
        );
        assert_eq!(read(&env, AddressingHeader::Action), None);
    }

    #[test]
    fn reads_the_submission_version_and_nothing_outside_an_envelope() {
        let env = crate::xml::parse(
            format!(
                "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
                 xmlns:w=\"{SUBMISSION}\"><s:Header><w:Action>urn:a</w:Action></s:Header>\
                 <s:Body/></s:Envelope>"
            )
            .as_bytes(),
        )
        .expect("test envelope");
        assert_eq!(
            read(&env, AddressingHeader::Action).as_deref(),
            Some("urn:a")
        );
        let plain = crate::xml::parse(b"<Action>urn:a</Action>").expect("plain");
        assert_eq!(read(&plain, AddressingHeader::Action), None);
    }

    #[test]
    fn write_replaces_blocks_of_either_version_and_keeps_others() {
        let mut env = envelope("<wsa:To>old</wsa:To><t:Trace xmlns:t=\"urn:t\">1</t:Trace>");
        write(
            &mut env,
            AddressingVersion::Submission,
            &[
                (AddressingHeader::To, "http://b/svc".into()),
                (
                    AddressingHeader::ReplyTo,
                    anonymous(AddressingVersion::Submission).into(),
                ),
            ],
        );
        let xml = env.to_xml_string();
        assert!(!xml.contains("old"), "{xml}");
        assert!(xml.contains("<t:Trace"), "{xml}");
        assert_eq!(
            read(&env, AddressingHeader::To).as_deref(),
            Some("http://b/svc")
        );
        assert_eq!(
            read(&env, AddressingHeader::ReplyTo).as_deref(),
            Some(anonymous(AddressingVersion::Submission))
        );
        assert!(xml.contains(SUBMISSION), "{xml}");
    }
}
