//! `payloadFactory`: replaces the payload with a template filled from `$1…$n` arguments and
//! inline `${...}` expressions, as JSON, XML or text.
//!
//! The template is split once at load time. For JSON we also note, for every insertion,
//! whether it sits inside a string literal: there the value's text is inserted escaped;
//! outside, the value is inserted as JSON (a string gets quotes, an object stays an object).
//! So `"name": "${payload.name}"` and `"patient": ${payload.patient}` both do what they say,
//! and a quote in a value can never break the document. `literal: true` on an argument
//! inserts its text as is.

use ferry_api::check::mediator::{self as checked, PayloadArg, Piece};
use ferry_api::expr::Expression;
use ferry_api::mediator::MediaType;
use serde_json::Value;

use crate::expr::context::PropertyScope;
use crate::expr::value::{Evaluate, to_text};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::message::payload::MAX_MEMBER_SCANS;
use crate::sequence::Flow;
use crate::xml::Element;

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
            arg_values.push(arg.source.eval(msg)?);
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Arg { index, in_string } => {
                    let literal = self.args.get(*index).is_some_and(|a| a.literal);
                    let value = arg_values.get(*index).unwrap_or(&Value::Null);
                    self.insert(&mut out, value, *in_string, literal);
                }
                Piece::Expr { expr, in_string } => {
                    let value = crate::expr::value::eval(expr, msg)?;
                    self.insert(&mut out, &value, *in_string, false);
                }
            }
        }
        let content_type = match self.media_type {
            MediaType::Json => {
                let value: Value = serde_json::from_str(&out).map_err(|e| {
                    Fault::internal(
                        codes::CUSTOM,
                        format!("payloadFactory built invalid JSON: {e}"),
                    )
                    .with_detail(out.clone())
                    .with_cause(e)
                })?;
                msg.set_json(value);
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
                msg.set_xml(element);
                "application/xml"
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

    fn insert(&self, out: &mut String, value: &Value, in_string: bool, literal: bool) {
        match self.media_type {
            _ if literal => out.push_str(&to_text(value)),
            MediaType::Json if in_string => {
                let quoted = Value::String(to_text(value)).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            MediaType::Json => out.push_str(&value.to_string()),
            MediaType::Xml => {
                let text = to_text(value);
                // A value that is itself XML (an OM property, an XPath node) goes in as XML.
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
    use super::escape_xml;

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
