//! `payloadFactory`: replaces the payload with a template filled from `$1…$n` arguments and
//! inline `${...}` expressions, as JSON, XML or text.
//!
//! The template is split once at load time. For JSON we also note, for every insertion,
//! whether it sits inside a string literal: there the value's text is inserted escaped;
//! outside, the value is inserted as JSON (a string gets quotes, an object stays an object).
//! So `"name": "${payload.name}"` and `"patient": ${payload.patient}` both do what they say,
//! and a quote in a value can never break the document. `literal: true` on an argument
//! inserts its text as is.

use ferry_api::expr::{Expression, Part, Template};
use ferry_api::mediator::{Evaluator, MediaType, PayloadArg, PayloadFactorySpec, TemplateType};
use serde_json::Value;

use super::value::{ValueSource, to_text};
use crate::compile::CompileCx;
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::message::payload::MAX_MEMBER_SCANS;
use crate::message::xml::Element;
use crate::sequence::Flow;

/// One piece of the template.
#[derive(Debug)]
enum Piece {
    Text(String),
    /// `$n` (0-based index into the arguments).
    Arg {
        index: usize,
        in_string: bool,
    },
    /// `${...}`.
    Expr {
        expr: Expression,
        in_string: bool,
    },
}

/// A compiled argument.
#[derive(Debug)]
struct Arg {
    source: ValueSource,
    literal: bool,
}

/// A compiled `payloadFactory` mediator.
#[derive(Debug)]
pub struct PayloadFactory {
    media_type: MediaType,
    pieces: Vec<Piece>,
    args: Vec<Arg>,
    /// The template reads the payload more often than member scans pay off: parse it once.
    reads_many: bool,
}

impl PayloadFactory {
    /// Compiles the spec.
    pub fn compile(spec: &PayloadFactorySpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        if spec.template_type == TemplateType::Freemarker {
            cx.error(
                &format!("{field}.templateType"),
                "FreeMarker templates are not supported yet; use the default template type",
            );
            return None;
        }
        if spec.format_key.is_some() {
            cx.error(
                &format!("{field}.formatKey"),
                "registry formats are not supported yet; put the format inline",
            );
            return None;
        }
        let Some(format) = &spec.format else {
            cx.error(&format!("{field}.format"), "format is required");
            return None;
        };
        let template = match Template::parse_payload_format(format) {
            Ok(t) => t,
            Err(e) => {
                cx.error(&format!("{field}.format"), format!("invalid template: {e}"));
                return None;
            }
        };
        let mut pieces = pieces_of(template);
        if spec.media_type == MediaType::Json {
            mark_json_strings(&mut pieces);
        }
        let mut args = Vec::with_capacity(spec.args.len());
        for (i, a) in spec.args.iter().enumerate() {
            args.push(compile_arg(a, cx, &format!("{field}.args[{i}]"))?);
        }
        for piece in &pieces {
            if let Piece::Arg { index, .. } = piece
                && *index >= args.len()
            {
                cx.error(
                    &format!("{field}.format"),
                    format!(
                        "${} is used but only {} args are given",
                        index + 1,
                        args.len()
                    ),
                );
                return None;
            }
        }
        let payload_reads = args
            .iter()
            .filter(|a| matches!(&a.source, ValueSource::Expr(e) if e.uses_payload()))
            .count()
            + pieces
                .iter()
                .filter(|p| matches!(p, Piece::Expr { expr, .. } if expr.uses_payload()))
                .count();
        Some(PayloadFactory {
            media_type: spec.media_type,
            pieces,
            args,
            reads_many: payload_reads > usize::from(MAX_MEMBER_SCANS),
        })
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
                    let value = super::value::eval(expr, msg)?;
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

fn compile_arg(a: &PayloadArg, cx: &mut CompileCx<'_>, field: &str) -> Option<Arg> {
    let source = ValueSource::compile(cx, field, a.value.as_deref(), a.expression.as_deref())?;
    if a.evaluator.is_some() {
        // The evaluator only tells Synapse how to read a legacy path; our expressions say so
        // themselves (`json-eval(...)` vs XPath), so a mismatch is worth an error.
        if let (Some(Evaluator::Json), Some(e)) = (a.evaluator, &a.expression)
            && !e.starts_with("json-eval(")
            && !e.starts_with("${")
            && !e.starts_with("$.")
        {
            cx.error(
                &format!("{field}.evaluator"),
                "evaluator json needs a json-eval(...) or ${...} expression",
            );
            return None;
        }
    }
    Some(Arg {
        source,
        literal: a.literal,
    })
}

/// The template's parts as pieces (`$n` becomes a 0-based argument index).
fn pieces_of(template: Template) -> Vec<Piece> {
    template
        .parts
        .into_iter()
        .map(|part| match part {
            Part::Literal(text) => Piece::Text(text),
            Part::Expr(expr) => Piece::Expr {
                expr,
                in_string: false,
            },
            Part::Arg(n) => Piece::Arg {
                index: n.saturating_sub(1),
                in_string: false,
            },
        })
        .collect()
}

/// Notes for each insertion whether it sits inside a JSON string literal.
fn mark_json_strings(pieces: &mut [Piece]) {
    let mut in_string = false;
    let mut escaped = false;
    for piece in pieces {
        match piece {
            Piece::Text(t) => {
                for c in t.chars() {
                    if escaped {
                        escaped = false;
                    } else if in_string && c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        in_string = !in_string;
                    }
                }
            }
            Piece::Arg { in_string: s, .. } | Piece::Expr { in_string: s, .. } => *s = in_string,
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
