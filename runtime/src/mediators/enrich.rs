//! `enrich`: copies (or moves) a piece of the message — the body, a path in it, a property,
//! a variable or an inline value — into another place: the body, a path in a JSON body, a
//! property or a variable, replacing it or adding it as a child or sibling.
//!
//! JSON paths are resolved once at load time into steps; XPath targets inside XML bodies
//! and registry keys are not supported yet and are rejected by validation.

use ferry_api::check::mediator::{self as checked, EnrichSource, EnrichTarget, Step};
use ferry_api::mediator::EnrichAction;
use serde_json::Value;

use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::Flow;
use crate::xml::Element;

/// An `enrich` mediator, built from its checked form.
#[derive(Debug)]
pub struct Enrich(pub checked::Enrich);

impl Enrich {
    /// Copies the value into place.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let value = match &self.0.source {
            EnrichSource::Body => body_value(msg)?,
            EnrichSource::Expr(e) => eval(e, msg)?,
            EnrichSource::Property(p) => msg
                .property(PropertyScope::Default, p)
                .unwrap_or(Value::Null),
            EnrichSource::Variable(v) => msg.variable(v).cloned().unwrap_or(Value::Null),
            EnrichSource::Inline(v) => v.clone(),
        };
        match &self.0.target {
            EnrichTarget::Property(p) => msg.set_property(PropertyScope::Default, p, value),
            EnrichTarget::Variable(v) => msg.set_variable(v, value),
            EnrichTarget::Body => match self.0.action {
                EnrichAction::Replace => set_body(msg, value)?,
                action => {
                    let mut body = body_json(msg)?;
                    add(&mut body, value, action)?;
                    msg.set_json(body);
                }
            },
            EnrichTarget::Path(steps) => {
                let mut body = body_json(msg)?;
                let slot = slot_mut(&mut body, steps)?;
                match self.0.action {
                    EnrichAction::Replace => *slot = value,
                    action => add(slot, value, action)?,
                }
                msg.set_json(body);
            }
        }
        if !self.0.clone {
            match &self.0.source {
                EnrichSource::Property(p) => {
                    msg.remove_property(PropertyScope::Default, p);
                }
                EnrichSource::Variable(v) => {
                    msg.remove_variable(v);
                }
                _ => {}
            }
        }
        Ok(Flow::Continue)
    }
}

/// The body as a JSON value (XML converted by the Synapse rules).
fn body_value(msg: &Message) -> Result<Value, Fault> {
    match msg.payload_json() {
        Ok(Some(v)) => Ok(v.clone()),
        Ok(None) => Ok(Value::Null),
        Err(e) => Err(Fault::bad_request(
            codes::PARSE_ERROR,
            format!("cannot read the payload: {e}"),
        )
        .with_cause(e)),
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
                .with_cause(e)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
