//! SOAP envelopes in Ferry's message model: a SOAP message's payload is its whole envelope
//! (so `$header`, `$body` and `/soapenv:Envelope/...` read what was received), and these
//! helpers find its parts, wrap a payload in an envelope for a `soap11` / `soap12`
//! endpoint, or take the body's content out for a `pox` one.

use crate::xml::{Element, Node, QName};

/// The SOAP 1.1 envelope namespace.
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

/// A SOAP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// SOAP 1.1 (`text/xml`, a `SOAPAction` header).
    Soap11,
    /// SOAP 1.2 (`application/soap+xml`, the action as a content-type parameter).
    Soap12,
}

impl Version {
    /// The envelope namespace.
    pub fn namespace(self) -> &'static str {
        match self {
            Version::Soap11 => SOAP11,
            Version::Soap12 => SOAP12,
        }
    }

    /// The content type of a message in this version.
    pub fn content_type(self) -> &'static str {
        match self {
            Version::Soap11 => "text/xml",
            Version::Soap12 => "application/soap+xml",
        }
    }
}

/// The SOAP version a request speaks, by its headers: `application/soap+xml` is SOAP 1.2,
/// `text/xml` with a `SOAPAction` header SOAP 1.1. Such a client gets its errors as SOAP
/// faults, as an Axis2 server answers them.
pub fn request_version(headers: &http::HeaderMap) -> Option<Version> {
    // On bytes: this runs for every passthrough request, and str's pattern search and
    // UTF-8 check cost more than the rest of the lookup.
    let content_type = headers.get(http::header::CONTENT_TYPE)?.as_bytes();
    let end = content_type
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(content_type.len());
    let mime = content_type[..end].trim_ascii();
    if mime.eq_ignore_ascii_case(b"application/soap+xml") {
        Some(Version::Soap12)
    } else if mime.eq_ignore_ascii_case(b"text/xml") && headers.contains_key("soapaction") {
        Some(Version::Soap11)
    } else {
        None
    }
}

/// The SOAP version of `element` when it is an envelope.
pub fn envelope_version(element: &Element) -> Option<Version> {
    if element.name.local != "Envelope" {
        return None;
    }
    match element.name.namespace.as_deref() {
        Some(SOAP11) => Some(Version::Soap11),
        Some(SOAP12) => Some(Version::Soap12),
        _ => None,
    }
}

/// The envelope's child named `local` (`Header`, `Body`) in its own namespace.
pub fn part<'e>(envelope: &'e Element, local: &str) -> Option<&'e Element> {
    envelope.children.iter().find_map(|c| match c {
        Node::Element(e)
            if e.name.local == local && e.name.namespace == envelope.name.namespace =>
        {
            Some(&**e)
        }
        _ => None,
    })
}

/// The first element in the envelope's body: what a SOAP message carries, as Synapse's
/// JSON conversion and a `pox` endpoint see it.
pub fn body_content(envelope: &Element) -> Option<&Element> {
    part(envelope, "Body")?
        .children
        .iter()
        .find_map(|c| match c {
            Node::Element(e) => Some(&**e),
            _ => None,
        })
}

/// `payload` in an envelope of `version`. An envelope already of that version is kept as
/// it is; one of the other version has its header blocks and body content moved into the
/// new one; anything else becomes the body's content.
pub fn wrap(payload: Option<&Element>, version: Version) -> Element {
    let (headers, content): (Vec<Node>, Vec<Node>) = match payload {
        Some(p) if envelope_version(p) == Some(version) => return p.clone(),
        Some(p) if envelope_version(p).is_some() => (
            part(p, "Header")
                .map(|h| h.children.clone())
                .unwrap_or_default(),
            part(p, "Body")
                .map(|b| b.children.clone())
                .unwrap_or_default(),
        ),
        Some(p) => (Vec::new(), vec![Node::Element(Box::new(p.clone()))]),
        None => (Vec::new(), Vec::new()),
    };
    let name = |local: &str| QName {
        prefix: Some("soapenv".into()),
        local: local.into(),
        namespace: Some(version.namespace().into()),
    };
    let mut envelope = Element::with_name(name("Envelope"));
    if !headers.is_empty() {
        let mut header = Element::with_name(name("Header"));
        header.children = headers;
        envelope.children.push(Node::Element(Box::new(header)));
    }
    let mut body = Element::with_name(name("Body"));
    body.children = content;
    envelope.children.push(Node::Element(Box::new(body)));
    envelope
}

/// A copy of `envelope` (its headers kept) whose body holds `content` alone.
pub fn with_body_content(envelope: &Element, content: Element) -> Element {
    let mut out = Element::with_name(envelope.name.clone());
    out.attributes = envelope.attributes.clone();
    out.namespaces = envelope.namespaces.clone();
    if let Some(header) = part(envelope, "Header") {
        out.children.push(Node::Element(Box::new(header.clone())));
    }
    let mut body = match part(envelope, "Body") {
        Some(b) => Element::with_name(b.name.clone()),
        None => Element::with_name(QName {
            prefix: envelope.name.prefix.clone(),
            local: "Body".into(),
            namespace: envelope.name.namespace.clone(),
        }),
    };
    body.children.push(Node::Element(Box::new(content)));
    out.children.push(Node::Element(Box::new(body)));
    out
}

/// The envelope's `Header`, created (before the body) when it has none.
pub fn header_mut(envelope: &mut Element) -> &mut Element {
    let ns = envelope.name.namespace.clone();
    let prefix = envelope.name.prefix.clone();
    let position = envelope.children.iter().position(
        |c| matches!(c, Node::Element(e) if e.name.local == "Header" && e.name.namespace == ns),
    );
    let index = match position {
        Some(i) => i,
        None => {
            let header = Element::with_name(QName {
                prefix,
                local: "Header".into(),
                namespace: ns,
            });
            envelope.children.insert(0, Node::Element(Box::new(header)));
            0
        }
    };
    match &mut envelope.children[index] {
        Node::Element(e) => e,
        // The position found (or made) holds an element.
        _ => unreachable!("the envelope's header is an element"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Element {
        Element::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_request_s_soap_version_comes_from_its_content_type_and_soap_action() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = http::HeaderMap::new();
            for (n, v) in pairs {
                h.insert(*n, http::HeaderValue::from_static(v));
            }
            h
        };
        let v = |pairs: &[(&'static str, &'static str)]| request_version(&headers(pairs));
        assert_eq!(
            v(&[("content-type", "application/soap+xml; action=\"urn:a\"")]),
            Some(Version::Soap12)
        );
        assert_eq!(
            v(&[
                ("content-type", "text/xml; charset=UTF-8"),
                ("soapaction", "\"\"")
            ]),
            Some(Version::Soap11)
        );
        assert_eq!(v(&[("content-type", "text/xml")]), None);
        assert_eq!(
            v(&[("content-type", "application/json"), ("soapaction", "x")]),
            None
        );
        assert_eq!(v(&[]), None);
    }

    #[test]
    fn a_payload_is_wrapped_and_an_envelope_kept_or_rewrapped() {
        let order = parse("<order><id>7</id></order>");
        let env = wrap(Some(&order), Version::Soap11);
        assert_eq!(envelope_version(&env), Some(Version::Soap11));
        assert_eq!(body_content(&env), Some(&order));
        assert_eq!(wrap(Some(&env), Version::Soap11), env);
        let twelve = wrap(Some(&env), Version::Soap12);
        assert_eq!(envelope_version(&twelve), Some(Version::Soap12));
        assert_eq!(body_content(&twelve), Some(&order));
        let with_header = parse(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header><h/></s:Header><s:Body><order/></s:Body></s:Envelope>",
        );
        let moved = wrap(Some(&with_header), Version::Soap12);
        assert!(part(&moved, "Header").is_some_and(|h| !h.children.is_empty()));
    }

    #[test]
    fn new_body_content_keeps_the_envelope_and_its_headers() {
        let env = parse(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header><h/></s:Header><s:Body><old/></s:Body></s:Envelope>",
        );
        let new = with_body_content(&env, parse("<new/>"));
        assert_eq!(
            body_content(&new).map(|e| e.name.local.as_str()),
            Some("new")
        );
        assert!(part(&new, "Header").is_some());
        assert_eq!(envelope_version(&new), Some(Version::Soap11));
    }

    #[test]
    fn only_soap_envelopes_are_envelopes() {
        assert_eq!(envelope_version(&parse("<Envelope/>")), None);
        assert_eq!(
            envelope_version(&parse("<e:Envelope xmlns:e=\"urn:other\"/>")),
            None
        );
        let empty = parse(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>",
        );
        assert_eq!(envelope_version(&empty), Some(Version::Soap12));
        assert_eq!(body_content(&empty), None);
    }
}
