//! Checks of the mediators that reshape the payload: `payloadFactory`, `enrich`.
//!
//! A payload template is split once here. For JSON we also note, for every insertion,
//! whether it sits inside a string literal, so the runtime can insert a value escaped there
//! and as JSON elsewhere.

use serde_json::Value;

use crate::check::cx::Cx;
use crate::check::value::ValueSource;
use crate::expr::{Expression, Part, Template};
use crate::mediator::{
    EnrichAction, EnrichSourceType, EnrichSpec, EnrichTargetType, Evaluator, MediaType,
    PayloadArg as PayloadArgSpec, PayloadFactorySpec, TemplateType,
};

/// A checked `payloadFactory`.
#[derive(Debug, Clone)]
pub struct PayloadFactory {
    /// JSON, XML or text.
    pub media_type: MediaType,
    /// The template, split.
    pub pieces: Vec<Piece>,
    /// The `$n` arguments.
    pub args: Vec<PayloadArg>,
}

/// One piece of a payload template.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Copied as is.
    Text(String),
    /// `$n` (0-based index into the arguments, which is always in range).
    Arg {
        /// Which argument.
        index: usize,
        /// Inside a JSON string literal.
        in_string: bool,
    },
    /// `${...}`.
    Expr {
        /// The expression.
        expr: Expression,
        /// Inside a JSON string literal.
        in_string: bool,
    },
}

/// A checked argument.
#[derive(Debug, Clone)]
pub struct PayloadArg {
    /// Its value.
    pub source: ValueSource,
    /// Insert the text as is (no escaping, no JSON quoting).
    pub literal: bool,
}

pub(super) fn payload_factory(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &PayloadFactorySpec,
) -> Option<PayloadFactory> {
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
    let ff = format!("{field}.format");
    let template = match Template::parse_payload_format(format, cx.namespaces()) {
        Ok(t) => t,
        Err(e) => {
            cx.error(&ff, format!("invalid template: {e}"));
            return None;
        }
    };
    if !cx.template_config_set(&ff, &template) {
        return None;
    }
    let mut pieces = pieces_of(template);
    if spec.media_type == MediaType::Json {
        mark_json_strings(&mut pieces);
    }
    let mut args = Vec::with_capacity(spec.args.len());
    let mut ok = true;
    for (i, a) in spec.args.iter().enumerate() {
        match payload_arg(cx, &format!("{field}.args[{i}]"), a) {
            Some(arg) => args.push(arg),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    for piece in &pieces {
        if let Piece::Arg { index, .. } = piece
            && *index >= args.len()
        {
            cx.error(
                &ff,
                format!(
                    "${} is used but only {} args are given",
                    index + 1,
                    args.len()
                ),
            );
            return None;
        }
    }
    Some(PayloadFactory {
        media_type: spec.media_type,
        pieces,
        args,
    })
}

fn payload_arg(cx: &mut Cx<'_>, field: &str, a: &PayloadArgSpec) -> Option<PayloadArg> {
    let source = cx.value_source(field, a.value.as_deref(), a.expression.as_deref())?;
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
    Some(PayloadArg {
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

/// A checked `enrich`.
#[derive(Debug, Clone)]
pub struct Enrich {
    /// Where the value comes from.
    pub source: EnrichSource,
    /// `clone: false` moves: the source property/variable is removed afterwards.
    pub clone: bool,
    /// Where it goes.
    pub target: EnrichTarget,
    /// Replace, or add as a child or sibling.
    pub action: EnrichAction,
}

/// Where an enriched value comes from.
pub type EnrichSource = super::MessagePart;

/// Where an enriched value goes.
#[derive(Debug, Clone)]
pub enum EnrichTarget {
    /// The body.
    Body,
    /// A path in a JSON body.
    Path(Vec<Step>),
    /// A property.
    Property(String),
    /// A variable.
    Variable(String),
}

/// One step of a JSON path into the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

pub(super) fn enrich(cx: &mut Cx<'_>, field: &str, spec: &EnrichSpec) -> Option<Enrich> {
    let sf = format!("{field}.source");
    let s = &spec.source;
    let source = match s.type_ {
        EnrichSourceType::Body | EnrichSourceType::Envelope => Some(EnrichSource::Body),
        EnrichSourceType::Custom => match &s.expression {
            Some(e) => cx
                .expression(&format!("{sf}.expression"), e)
                .map(EnrichSource::Expr),
            None => missing(cx, &sf, "expression"),
        },
        EnrichSourceType::Property => {
            named(cx, &sf, "property", &s.property).map(EnrichSource::Property)
        }
        EnrichSourceType::Variable => {
            named(cx, &sf, "variable", &s.variable).map(EnrichSource::Variable)
        }
        EnrichSourceType::Inline => match &s.inline {
            Some(Value::String(text)) => Some(EnrichSource::Inline(parse_inline(text))),
            Some(v) => Some(EnrichSource::Inline(v.clone())),
            None => missing(cx, &sf, "inline"),
        },
        EnrichSourceType::Key => {
            cx.error(&format!("{sf}.type"), "registry keys are not supported yet");
            None
        }
    };
    let tf = format!("{field}.target");
    let t = &spec.target;
    let target = match t.type_ {
        EnrichTargetType::Body | EnrichTargetType::Envelope => Some(EnrichTarget::Body),
        EnrichTargetType::Custom => match &t.expression {
            Some(e) => match json_path_steps(e) {
                Some(steps) => Some(EnrichTarget::Path(steps)),
                None => {
                    cx.error(
                        &format!("{tf}.expression"),
                        format!(
                            "{e:?}: a custom target must be a simple JSON path such as \
                             ${{payload.order.items}} or json-eval($.order.items) \
                             (XPath targets are not supported yet)"
                        ),
                    );
                    None
                }
            },
            None => missing(cx, &tf, "expression"),
        },
        EnrichTargetType::Property => {
            named(cx, &tf, "property", &t.property).map(EnrichTarget::Property)
        }
        EnrichTargetType::Variable => {
            named(cx, &tf, "variable", &t.variable).map(EnrichTarget::Variable)
        }
        EnrichTargetType::Key => {
            cx.error(&format!("{tf}.type"), "registry keys are not supported yet");
            None
        }
    };
    let (source, target) = (source?, target?);
    if t.action != EnrichAction::Replace
        && matches!(
            target,
            EnrichTarget::Property(_) | EnrichTarget::Variable(_)
        )
    {
        cx.error(
            &format!("{tf}.action"),
            "child and sibling need a body or path target",
        );
        return None;
    }
    Some(Enrich {
        source,
        clone: s.clone,
        target,
        action: t.action,
    })
}

fn missing<T>(cx: &mut Cx<'_>, field: &str, what: &str) -> Option<T> {
    cx.error(field, format!("{what} is required for this type"));
    None
}

/// A property or variable name the type needs: present and not empty.
fn named(cx: &mut Cx<'_>, field: &str, what: &str, name: &Option<String>) -> Option<String> {
    match name {
        Some(n) if !n.is_empty() => Some(n.clone()),
        Some(_) => {
            cx.error(&format!("{field}.{what}"), "must not be empty");
            None
        }
        None => missing(cx, field, what),
    }
}

/// Inline text that is JSON becomes JSON; anything else stays text.
fn parse_inline(text: &str) -> Value {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(v) = serde_json::from_str(text)
    {
        return v;
    }
    Value::String(text.to_string())
}

/// The steps of a simple JSON path (`${payload.a.b[0]}`, `json-eval($.a.b[0])`, `$.a`), or
/// `None` when it is not one (filters, wildcards, XPath).
pub fn json_path_steps(src: &str) -> Option<Vec<Step>> {
    let src = src.trim();
    let path = if let Some(inner) = src.strip_prefix("${").and_then(|s| s.strip_suffix('}')) {
        let inner = inner.trim();
        inner
            .strip_prefix("payload")
            .or_else(|| inner.strip_prefix('$'))?
    } else if let Some(inner) = src
        .strip_prefix("json-eval(")
        .and_then(|s| s.strip_suffix(')'))
    {
        inner.trim().strip_prefix('$')?
    } else {
        src.strip_prefix('$')?
    };
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name.contains(|c: char| c == '*' || c.is_whitespace()) {
                return None;
            }
            steps.push(Step::Key(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match quoted {
                Some(name) => steps.push(Step::Key(name.to_string())),
                None => steps.push(Step::Index(inner.parse().ok()?)),
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_paths_parse_into_steps() {
        let want = vec![
            Step::Key("a".into()),
            Step::Key("b c".into()),
            Step::Index(2),
        ];
        assert_eq!(
            json_path_steps("${payload.a[\"b c\"][2]}"),
            Some(want.clone())
        );
        assert_eq!(
            json_path_steps("json-eval($.a['b c'][2])"),
            Some(want.clone())
        );
        assert_eq!(json_path_steps("$.a['b c'][2]"), Some(want));
        assert_eq!(json_path_steps("${payload}"), Some(vec![]));
    }

    #[test]
    fn paths_that_are_not_simple_are_refused() {
        assert_eq!(json_path_steps("//order/id"), None);
        assert_eq!(json_path_steps("${payload.items[*]}"), None);
        assert_eq!(json_path_steps("${var.x}"), None);
    }

    #[test]
    fn inline_json_text_becomes_json() {
        assert_eq!(parse_inline("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_inline("hello"), json!("hello"));
    }
}
