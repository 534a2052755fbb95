//! `payloadFactory`: replaces the payload with a template filled from `$1…$n` arguments and
//! inline `${...}` expressions, as JSON, XML or text.
//!
//! The template is split once at load time. For JSON we also note, for every insertion,
//! whether it sits inside a string literal: there the value's text is inserted escaped;
//! outside, the value is inserted as JSON (a string gets quotes, an object stays an object).
//! So `"name": "${payload.name}"` and `"patient": ${payload.patient}` both do what they say,
//! and a quote in a value can never break the document. `literal: true` on an argument
//! inserts its text as is.

use bytes::Bytes;
use ferry_api::check::mediator::{self as checked, PayloadArg, Piece};
use ferry_api::expr::Expression;
use ferry_api::mediator::MediaType;
use serde_json::Value;

use crate::expr::XPathValue;
use crate::expr::context::PropertyScope;
use crate::expr::value::{Evaluate, ValueSource, to_text};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::message::convert::{self, ConversionOptions};
use crate::message::payload::MAX_MEMBER_SCANS;
use crate::message::soap;
use crate::sequence::Flow;
use crate::xml::{Element, Node};

/// A `payloadFactory` mediator.
#[derive(Debug)]
pub struct PayloadFactory {
    media_type: MediaType,
    pieces: Vec<Piece>,
    args: Vec<PayloadArg>,
    /// The template reads the payload more often than member scans pay off: parse it once.
    reads_many: bool,
}

impl PayloadFactory {
    /// Builds the mediator; a template that reads the payload more often than member
    /// scans pay off has it parsed once per message.
    pub fn build(c: &checked::PayloadFactory) -> Self {
        let payload_reads = c
            .args
            .iter()
            .filter(|a| a.source.expression().is_some_and(Expression::uses_payload))
            .count()
            + c.pieces
                .iter()
                .filter(|p| matches!(p, Piece::Expr { expr, .. } if expr.uses_payload()))
                .count();
        PayloadFactory {
            media_type: c.media_type,
            pieces: c.pieces.clone(),
            args: c.args.clone(),
            reads_many: payload_reads > usize::from(MAX_MEMBER_SCANS),
        }
    }

    /// Builds the new payload.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        if self.reads_many {
            msg.payload().expect_many_reads();
        }
        let mut arg_values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            arg_values.push(self.arg_value(arg, msg)?);
        }
        let options = msg.payload().options();
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Arg { index, in_string } => {
                    let literal = self.args.get(*index).is_some_and(|a| a.literal);
                    match arg_values.get(*index) {
                        Some(ArgValue::Markup(xml)) => out.push_str(xml),
                        Some(ArgValue::Value(value)) => {
                            self.insert(&mut out, value, *in_string, literal, options)
                        }
                        None => self.insert(&mut out, &Value::Null, *in_string, literal, options),
                    }
                }
                Piece::Expr { expr, in_string } => {
                    let value = crate::expr::value::eval(expr, msg)?;
                    self.insert(&mut out, &value, *in_string, false, options);
                }
            }
        }
        let content_type = match self.media_type {
            MediaType::Json => {
                // Checked, not kept: the payload is the text as built, so the template's
                // layout (line breaks, indentation, member order) reaches the client as MI
                // sends it; a mediator that reads it parses it then.
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&out) {
                    return Err(Fault::internal(
                        codes::CUSTOM,
                        format!("payloadFactory built invalid JSON: {e}"),
                    )
                    .with_detail(out)
                    .with_cause(e));
                }
                msg.set_bytes(Bytes::from(out), Some("application/json"));
                "application/json"
            }
            MediaType::Xml => {
                let element = Element::parse(out.as_bytes()).map_err(|e| {
                    Fault::internal(
                        codes::CUSTOM,
                        format!("payloadFactory built invalid XML: {e}"),
                    )
                    .with_detail(out.clone())
                    .with_cause(e)
                })?;
                // As Synapse, whose every message is an envelope: the new payload replaces
                // a SOAP message's body content and the message stays SOAP; an envelope
                // built here is the message itself.
                let envelope = msg
                    .payload_xml()
                    .ok()
                    .flatten()
                    .and_then(|p| soap::envelope_version(p).map(|v| (p, v)));
                match (envelope, soap::envelope_version(&element)) {
                    (Some((current, version)), None) => {
                        let replaced = soap::with_body_content(current, element);
                        msg.set_xml(replaced);
                        version.content_type()
                    }
                    (_, Some(version)) => {
                        msg.set_xml(element);
                        version.content_type()
                    }
                    (None, None) => {
                        msg.set_xml(element);
                        "application/xml"
                    }
                }
            }
            MediaType::Text => {
                msg.set_text(out);
                "text/plain"
            }
        };
        // As in Synapse, the new payload decides the outgoing format.
        msg.set_property(
            PropertyScope::Axis2,
            "messageType",
            Value::from(content_type),
        );
        msg.set_property(
            PropertyScope::Axis2,
            "ContentType",
            Value::from(content_type),
        );
        Ok(Flow::Continue)
    }

    /// An argument's value. In an XML template an XPath's node-set is inserted as the XML
    /// it selects (MI inserts elements, not their text), and in a JSON template an XPath
    /// result that reads as a JSON number is that number (XPath gives text only, and MI
    /// inserts it unquoted).
    fn arg_value(&self, arg: &PayloadArg, msg: &Message) -> Result<ArgValue, Fault> {
        let ValueSource::Expr(expr @ Expression::XPath(_)) = &arg.source else {
            return arg.source.eval(msg).map(ArgValue::Value);
        };
        if self.media_type == MediaType::Xml {
            return match crate::expr::evaluate_xml(expr, msg) {
                Ok(XPathValue::Nodes { nodes, .. }) => Ok(ArgValue::Markup(markup(&nodes))),
                Ok(other) => Ok(ArgValue::Value(other.into_json())),
                // The payload errors and the rest as every expression treats them.
                Err(_) => arg.source.eval(msg).map(ArgValue::Value),
            };
        }
        let value = arg.source.eval(msg)?;
        Ok(ArgValue::Value(match value {
            Value::String(text) if self.media_type == MediaType::Json => json_number(&text)
                .map(Value::Number)
                .unwrap_or(Value::String(text)),
            other => other,
        }))
    }

    fn insert(
        &self,
        out: &mut String,
        value: &Value,
        in_string: bool,
        literal: bool,
        options: &ConversionOptions,
    ) {
        match self.media_type {
            _ if literal => out.push_str(&to_text(value)),
            MediaType::Json if in_string => {
                let quoted = Value::String(to_text(value)).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            MediaType::Json => out.push_str(&value.to_string()),
            // A JSON object or array goes in as the XML the Synapse rules make of it.
            MediaType::Xml if value.is_object() || value.is_array() => {
                match convert::json_to_xml(value, options) {
                    Ok(element) if is_json_wrapper(&element) => {
                        for child in &element.children {
                            out.push_str(&markup(std::slice::from_ref(child)));
                        }
                    }
                    Ok(element) => out.push_str(&element.to_xml_string()),
                    Err(_) => escape_xml(&to_text(value), out),
                }
            }
            MediaType::Xml => {
                let text = to_text(value);
                // A value that is itself XML (an OM property) goes in as XML.
                if text.trim_start().starts_with('<') && Element::parse(text.as_bytes()).is_ok() {
                    out.push_str(&text);
                } else {
                    escape_xml(&text, out);
                }
            }
            MediaType::Text => out.push_str(&to_text(value)),
        }
    }
}

/// What an argument gives: a value, or XML to insert as it is.
enum ArgValue {
    Value(Value),
    Markup(String),
}

/// Nodes as XML text: elements serialised, text escaped, comments kept.
fn markup(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Element(e) => out.push_str(&e.to_xml_string()),
            Node::Text(t) | Node::CData(t) => escape_xml(t, &mut out),
            Node::Comment(c) => {
                out.push_str("<!--");
                out.push_str(c);
                out.push_str("-->");
            }
            Node::ProcessingInstruction { .. } => {}
        }
    }
    out
}

/// The `<jsonObject>` / `<jsonArray>` element the Synapse rules wrap JSON in when it has no
/// single root: its children are what goes into a template.
fn is_json_wrapper(element: &Element) -> bool {
    element.name.namespace.is_none()
        && matches!(element.name.local.as_str(), "jsonObject" | "jsonArray")
}

/// Text that is a JSON number, as that number (`12.5`, `-3`, `1e3`; not `012` or ` 1`).
fn json_number(text: &str) -> Option<serde_json::Number> {
    let starts_like_number = text
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_digit() || *b == b'-');
    if !starts_like_number || text.ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Number(n)) => Some(n),
        _ => None,
    }
}

fn escape_xml(text: &str, out: &mut String) {
    // Runs between special characters are copied whole (they are ASCII, so slicing at them
    // keeps UTF-8 intact).
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

#[cfg(test)]
mod tests {
    use super::{escape_xml, json_number};

    #[test]
    fn only_text_that_is_a_json_number_becomes_one() {
        for (text, number) in [("12.5", true), ("-3", true), ("1e3", true), ("0", true)] {
            assert_eq!(json_number(text).is_some(), number, "{text}");
        }
        for text in ["012", " 1", "1 ", "abc", "", "+1", "NaN", "true", "1.2.3"] {
            assert!(json_number(text).is_none(), "{text}");
        }
    }

    #[test]
    fn markup_characters_are_escaped_and_the_rest_copied_as_is() {
        let mut out = String::from("<a>");
        escape_xml("1 < 2 & \"x\" > 'y' — é", &mut out);
        assert_eq!(
            out,
            "<a>1 &lt; 2 &amp; &quot;x&quot; &gt; &apos;y&apos; — é"
        );
        let mut plain = String::new();
        escape_xml("nothing to do", &mut plain);
        assert_eq!(plain, "nothing to do");
    }
}
