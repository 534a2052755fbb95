//! `enrich`: copies (or moves) a piece of the message — the body, a path in it, a property,
//! a variable or an inline value — into another place: the body, a path in a JSON body, a
//! property or a variable, replacing it or adding it as a child or sibling; or, with
//! `action: remove`, takes out of the body, a property or a variable what JSON paths or an
//! XPath select.
//!
//! JSON paths are resolved once at load time into steps; XPath targets inside XML bodies
//! and registry keys are not supported yet and are rejected by validation.

use bytes::Bytes;
use ferry_api::check::mediator::{
    self as checked, EnrichCopy, EnrichRemove, EnrichSource, EnrichTarget, Removal, RemoveStep,
    Step,
};
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
    /// Copies the value into place, or removes what the removal selects.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.0 {
            checked::Enrich::Copy(copy) => enrich_copy(copy, msg)?,
            checked::Enrich::Remove(remove) => enrich_remove(remove, msg)?,
        }
        Ok(Flow::Continue)
    }
}

fn enrich_copy(copy: &EnrichCopy, msg: &mut Message) -> Result<(), Fault> {
    {
        let value = match &copy.source {
            EnrichSource::Body => body_value(msg)?,
            EnrichSource::Expr(e) => eval(e, msg)?,
            EnrichSource::Property(p) => msg
                .property(PropertyScope::Default, p)
                .unwrap_or(Value::Null),
            EnrichSource::Variable(v) => msg.variable(v).cloned().unwrap_or(Value::Null),
            EnrichSource::Inline(v) => v.clone(),
        };
        match &copy.target {
            EnrichTarget::Property(p) => msg.set_property(PropertyScope::Default, p, value),
            EnrichTarget::Variable(v) => msg.set_variable(v, value),
            EnrichTarget::Body => match copy.action {
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
                match copy.action {
                    EnrichAction::Replace => *slot = value,
                    action => add(slot, value, action)?,
                }
                msg.set_json(body);
            }
        }
        if !copy.clone {
            match &copy.source {
                EnrichSource::Property(p) => {
                    msg.remove_property(PropertyScope::Default, p);
                }
                EnrichSource::Variable(v) => {
                    msg.remove_variable(v);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn enrich_remove(remove: &EnrichRemove, msg: &mut Message) -> Result<(), Fault> {
    match &remove.selection {
        Removal::XPath(expr) => {
            let left = crate::expr::remove_selected(expr, msg).map_err(|e| {
                Fault::internal(codes::CUSTOM, format!("enrich: cannot remove: {e}")).with_cause(e)
            })?;
            match left {
                Some(element) => msg.set_xml(element),
                None => msg.set_bytes(Bytes::new(), None),
            }
        }
        Removal::Json(paths) => {
            let mut value = match &remove.from {
                EnrichTarget::Body => body_value(msg)?,
                EnrichTarget::Property(p) => json_of(msg.property(PropertyScope::Default, p)),
                EnrichTarget::Variable(v) => json_of(msg.variable(v).cloned()),
                // The checker allows no path target for a removal.
                EnrichTarget::Path(_) => return Ok(()),
            };
            if value.is_null() {
                return Ok(());
            }
            for path in paths {
                remove_at(&mut value, path);
            }
            match &remove.from {
                EnrichTarget::Body => msg.set_json(value),
                EnrichTarget::Property(p) => msg.set_property(PropertyScope::Default, p, value),
                EnrichTarget::Variable(v) => msg.set_variable(v, value),
                EnrichTarget::Path(_) => {}
            }
        }
    }
    Ok(())
}

/// A property or variable as JSON: a string holding a JSON object or array is parsed (a
/// property set from a body keeps its text), anything else is taken as it is.
fn json_of(value: Option<Value>) -> Value {
    match value {
        Some(Value::String(text)) if text.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        Some(other) => other,
        None => Value::Null,
    }
}

/// Removes what `path` selects from `value`; a step that matches nothing removes nothing
/// (MI ignores paths that do not exist). Array elements go from the highest index down,
/// so `[*]` and later indices are not shifted by earlier removals.
fn remove_at(value: &mut Value, path: &[RemoveStep]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut holders: Vec<&mut Value> = vec![value];
    for step in parents {
        let mut next = Vec::new();
        for v in holders {
            match (step, v) {
                (RemoveStep::One(Step::Key(k)), Value::Object(o)) => next.extend(o.get_mut(k)),
                (RemoveStep::One(Step::Index(i)), Value::Array(a)) => next.extend(a.get_mut(*i)),
                (RemoveStep::All, Value::Object(o)) => next.extend(o.values_mut()),
                (RemoveStep::All, Value::Array(a)) => next.extend(a.iter_mut()),
                _ => {}
            }
        }
        holders = next;
    }
    for holder in holders {
        match (last, holder) {
            (RemoveStep::One(Step::Key(k)), Value::Object(o)) => {
                o.remove(k);
            }
            (RemoveStep::One(Step::Index(i)), Value::Array(a)) if *i < a.len() => {
                a.remove(*i);
            }
            (RemoveStep::All, Value::Object(o)) => o.clear(),
            (RemoveStep::All, Value::Array(a)) => a.clear(),
            _ => {}
        }
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

    fn path(src: &str) -> Vec<RemoveStep> {
        let mut paths = ferry_api::check::mediator::remove_paths(src).unwrap();
        assert_eq!(paths.len(), 1, "{src}");
        paths.remove(0)
    }

    #[test]
    fn removals_apply_in_order_with_wildcards() {
        // MI's documented example: every student's modules, then the first student.
        let mut v = json!({"data": {"students": [
            {"id": "01", "modules": ["a"]},
            {"id": "02", "name": "Nick", "modules": ["b"]}
        ]}});
        let paths = ferry_api::check::mediator::remove_paths(
            "json-eval($.data.students[*].modules,$.data.students[0])",
        )
        .unwrap();
        for p in &paths {
            remove_at(&mut v, p);
        }
        assert_eq!(
            v,
            json!({"data": {"students": [{"id": "02", "name": "Nick"}]}})
        );
    }

    #[test]
    fn removals_of_what_is_not_there_change_nothing() {
        let mut v = json!({"a": [1, 2], "b": {"c": 1}});
        for p in ["$.x", "$.a[5]", "$.b.c.d", "$.a.k", "$.b[0]"] {
            remove_at(&mut v, &path(p));
        }
        assert_eq!(v, json!({"a": [1, 2], "b": {"c": 1}}));
        remove_at(&mut v, &path("${payload.a[*]}"));
        remove_at(&mut v, &path("$.b.*"));
        assert_eq!(v, json!({"a": [], "b": {}}));
    }

    #[test]
    fn json_text_in_a_property_is_read_as_json() {
        assert_eq!(json_of(Some(json!("{\"a\":1}"))), json!({"a": 1}));
        assert_eq!(json_of(Some(json!("{not json"))), json!("{not json"));
        assert_eq!(json_of(None), Value::Null);
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
}
