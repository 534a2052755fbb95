//! `enrich`: copies (or moves) a piece of the message — the body, a path in it, a property,
//! a variable or an inline value — into another place: the body, a path in a JSON body, a
//! property or a variable, replacing it or adding it as a child or sibling.
//!
//! JSON paths are resolved once at load time into steps; XPath targets inside XML bodies
//! and registry keys are not supported yet and are rejected by validation.

use ferry_api::expr::Expression;
use ferry_api::mediator::{EnrichAction, EnrichSourceType, EnrichSpec, EnrichTargetType};
use serde_json::Value;

use super::value::eval;
use crate::compile::CompileCx;
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::message::xml::Element;
use crate::sequence::Flow;

/// Where the value comes from.
#[derive(Debug)]
enum Source {
    Body,
    Expr(Expression),
    Property(String),
    Variable(String),
    Inline(Value),
}

/// Where it goes.
#[derive(Debug)]
enum Target {
    Body,
    Path(Vec<Step>),
    Property(String),
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

/// A compiled `enrich` mediator.
#[derive(Debug)]
pub struct Enrich {
    source: Source,
    /// `clone: false` moves: the source property/variable is removed afterwards.
    clone: bool,
    target: Target,
    action: EnrichAction,
}

impl Enrich {
    /// Compiles the spec.
    pub fn compile(spec: &EnrichSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let sf = format!("{field}.source");
        let s = &spec.source;
        let source = match s.type_ {
            EnrichSourceType::Body | EnrichSourceType::Envelope => Source::Body,
            EnrichSourceType::Custom => match &s.expression {
                Some(e) => Source::Expr(cx.expression(&format!("{sf}.expression"), e)?),
                None => return missing(cx, &sf, "expression"),
            },
            EnrichSourceType::Property => match &s.property {
                Some(p) => Source::Property(p.clone()),
                None => return missing(cx, &sf, "property"),
            },
            EnrichSourceType::Variable => match &s.variable {
                Some(v) => Source::Variable(v.clone()),
                None => return missing(cx, &sf, "variable"),
            },
            EnrichSourceType::Inline => match &s.inline {
                Some(Value::String(text)) => Source::Inline(parse_inline(text)),
                Some(v) => Source::Inline(v.clone()),
                None => return missing(cx, &sf, "inline"),
            },
            EnrichSourceType::Key => {
                cx.error(&format!("{sf}.type"), "registry keys are not supported yet");
                return None;
            }
        };
        let tf = format!("{field}.target");
        let t = &spec.target;
        let target = match t.type_ {
            EnrichTargetType::Body | EnrichTargetType::Envelope => Target::Body,
            EnrichTargetType::Custom => match &t.expression {
                Some(e) => match json_path_steps(e) {
                    Some(steps) => Target::Path(steps),
                    None => {
                        cx.error(
                            &format!("{tf}.expression"),
                            format!(
                                "{e:?}: a custom target must be a simple JSON path such as \
                                 ${{payload.order.items}} or json-eval($.order.items) \
                                 (XPath targets are not supported yet)"
                            ),
                        );
                        return None;
                    }
                },
                None => return missing(cx, &tf, "expression"),
            },
            EnrichTargetType::Property => match &t.property {
                Some(p) => Target::Property(p.clone()),
                None => return missing(cx, &tf, "property"),
            },
            EnrichTargetType::Variable => match &t.variable {
                Some(v) => Target::Variable(v.clone()),
                None => return missing(cx, &tf, "variable"),
            },
            EnrichTargetType::Key => {
                cx.error(&format!("{tf}.type"), "registry keys are not supported yet");
                return None;
            }
        };
        if t.action != EnrichAction::Replace
            && matches!(target, Target::Property(_) | Target::Variable(_))
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

    /// Copies the value into place.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let value = match &self.source {
            Source::Body => body_value(msg)?,
            Source::Expr(e) => eval(e, msg)?,
            Source::Property(p) => msg
                .property(PropertyScope::Default, p)
                .unwrap_or(Value::Null),
            Source::Variable(v) => msg.variable(v).cloned().unwrap_or(Value::Null),
            Source::Inline(v) => v.clone(),
        };
        match &self.target {
            Target::Property(p) => msg.set_property(PropertyScope::Default, p, value),
            Target::Variable(v) => msg.set_variable(v, value),
            Target::Body => match self.action {
                EnrichAction::Replace => set_body(msg, value)?,
                action => {
                    let mut body = body_json(msg)?;
                    add(&mut body, value, action)?;
                    msg.set_json(body);
                }
            },
            Target::Path(steps) => {
                let mut body = body_json(msg)?;
                let slot = slot_mut(&mut body, steps)?;
                match self.action {
                    EnrichAction::Replace => *slot = value,
                    action => add(slot, value, action)?,
                }
                msg.set_json(body);
            }
        }
        if !self.clone {
            match &self.source {
                Source::Property(p) => {
                    msg.remove_property(PropertyScope::Default, p);
                }
                Source::Variable(v) => {
                    msg.remove_variable(v);
                }
                _ => {}
            }
        }
        Ok(Flow::Continue)
    }
}

fn missing<T>(cx: &mut CompileCx<'_>, field: &str, what: &str) -> Option<T> {
    cx.error(field, format!("{what} is required for this type"));
    None
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

/// The body as a JSON value (XML converted by the Synapse rules).
fn body_value(msg: &Message) -> Result<Value, Fault> {
    match msg.payload_json() {
        Ok(Some(v)) => Ok(v.clone()),
        Ok(None) => Ok(Value::Null),
        Err(e) => Err(Fault::bad_request(
            codes::PARSE_ERROR,
            format!("cannot read the payload: {e}"),
        )),
    }
}

fn body_json(msg: &Message) -> Result<Value, Fault> {
    body_value(msg).map(|v| {
        if v.is_null() {
            Value::Object(Default::default())
        } else {
            v
        }
    })
}

/// Replaces the body: JSON values as JSON, a string holding XML as XML, other text as text.
fn set_body(msg: &mut Message, value: Value) -> Result<(), Fault> {
    match value {
        Value::String(text) if text.trim_start().starts_with('<') => {
            let element = Element::parse(text.as_bytes()).map_err(|e| {
                Fault::internal(
                    codes::CUSTOM,
                    format!("enrich: the new body is not valid XML: {e}"),
                )
            })?;
            msg.set_xml(element);
        }
        Value::String(text) => msg.set_text(text),
        other => msg.set_json(other),
    }
    Ok(())
}

/// Adds `value` to `slot`: as a child (into an array, or merged into an object), or as a
/// sibling (beside it: the slot becomes an array holding both).
fn add(slot: &mut Value, value: Value, action: EnrichAction) -> Result<(), Fault> {
    match (action, slot) {
        (EnrichAction::Child, Value::Array(items)) => items.push(value),
        (EnrichAction::Child, Value::Object(obj)) => match value {
            Value::Object(more) => obj.extend(more),
            other => {
                return Err(Fault::internal(
                    codes::CUSTOM,
                    format!("enrich: cannot add {other} as a child of an object"),
                ));
            }
        },
        (EnrichAction::Sibling, slot) => {
            let old = std::mem::take(slot);
            *slot = match old {
                Value::Array(mut items) => {
                    items.push(value);
                    Value::Array(items)
                }
                other => Value::Array(vec![other, value]),
            };
        }
        (_, slot) => {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!("enrich: cannot add a child to {slot}"),
            ));
        }
    }
    Ok(())
}

/// The value at `steps`, creating objects along the way for missing members.
fn slot_mut<'v>(mut cur: &'v mut Value, steps: &[Step]) -> Result<&'v mut Value, Fault> {
    for step in steps {
        cur = match step {
            Step::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Default::default());
                }
                match cur {
                    Value::Object(obj) => obj.entry(k.clone()).or_insert(Value::Null),
                    other => {
                        return Err(Fault::internal(
                            codes::CUSTOM,
                            format!("enrich: cannot find member {k:?} in {other}"),
                        ));
                    }
                }
            }
            Step::Index(i) => {
                if cur.as_array().is_none_or(|items| *i >= items.len()) {
                    return Err(Fault::internal(
                        codes::CUSTOM,
                        format!("enrich: no element {i} in {cur}"),
                    ));
                }
                match cur.get_mut(*i) {
                    Some(item) => item,
                    None => {
                        return Err(Fault::internal(
                            codes::CUSTOM,
                            format!("enrich: no element {i}"),
                        ));
                    }
                }
            }
        };
    }
    Ok(cur)
}

/// Parses a simple JSON path into steps: `${payload.a.b[0]}`, `${payload["a b"]}`,
/// `json-eval($.a.b)`, `$.a['b']`. `None` for anything else (filters, wildcards, XPath).
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
    fn missing_members_are_created_on_the_way() {
        let mut body = json!({"a": {}});
        *slot_mut(&mut body, &[Step::Key("a".into()), Step::Key("b".into())]).unwrap() = json!(1);
        assert_eq!(body, json!({"a": {"b": 1}}));
    }

    #[test]
    fn children_go_into_arrays_and_objects_and_siblings_beside() {
        let mut arr = json!([1]);
        add(&mut arr, json!(2), EnrichAction::Child).unwrap();
        assert_eq!(arr, json!([1, 2]));
        let mut obj = json!({"a": 1});
        add(&mut obj, json!({"b": 2}), EnrichAction::Child).unwrap();
        assert_eq!(obj, json!({"a": 1, "b": 2}));
        let mut one = json!({"a": 1});
        add(&mut one, json!({"b": 2}), EnrichAction::Sibling).unwrap();
        assert_eq!(one, json!([{"a": 1}, {"b": 2}]));
        assert!(add(&mut json!("x"), json!(1), EnrichAction::Child).is_err());
    }

    #[test]
    fn inline_json_text_becomes_json() {
        assert_eq!(parse_inline("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_inline("hello"), json!("hello"));
    }
}
