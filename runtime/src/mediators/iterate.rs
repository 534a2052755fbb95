//! `iterate`: splits the message into fragments — the items of a JSON array, or the XML
//! elements an XPath selects — and runs a copy per fragment through the target, as `clone`
//! runs its copies ([`super::split`]): concurrently unless `sequential`, each going on after
//! the iterate once its target is done (where an `aggregate` collects them).
//!
//! Memory: a fragment copy holds its fragment, never the whole payload. A JSON array named
//! by a simple path is moved out of the payload, not copied; with `preservePayload` each
//! copy holds the payload minus the split array plus its one item.

use ferry_api::check::mediator::{self as checked, Attach, Step};
use ferry_api::expr::{Expression, XPathExpression};
use serde_json::Value;

use super::BuildCx;
use super::split::{Split, Target};
use crate::expr::value::eval;
use crate::expr::{self, EvalError};
use crate::expr::{Leave, Taken, XPathValue};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::message::payload::Payload;
use crate::sequence::{Env, Flow};
use crate::xml::Node;

/// An `iterate` mediator.
pub struct Iterate {
    id: Option<String>,
    expression: Expression,
    path: Option<Vec<Step>>,
    sequential: bool,
    continue_parent: bool,
    attach: Option<Attach>,
    target: Target,
}

impl Iterate {
    /// Builds the target.
    pub fn build(c: &checked::Iterate, cx: &mut BuildCx<'_>) -> Option<Self> {
        Some(Iterate {
            id: c.id.clone(),
            expression: c.expression.clone(),
            path: c.path.clone(),
            sequential: c.sequential,
            continue_parent: c.continue_parent,
            attach: c.attach.clone(),
            target: Target::build(&c.target, cx)?,
        })
    }

    /// The target, for load-time analysis.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Splits the message and runs the fragments; the flow ends here (see
    /// [`super::split`]).
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let fragments = self.fragments(msg)?;
        let template = msg.copy_with(msg.payload().empty_like());
        if !self.continue_parent {
            // The original goes no further: its payload is not kept beside the fragments.
            msg.payload_mut().clear();
        }
        let total = fragments.len();
        let target = &self.target;
        Split {
            id: self.id.as_deref(),
            total,
            copies: fragments
                .into_iter()
                .map(move |payload| (template.copy_with(payload), target)),
            sequential: self.sequential,
            continue_parent: self.continue_parent,
        }
        .run(msg, env)
        .await
    }

    /// The fragments' payloads, in order.
    fn fragments(&self, msg: &mut Message) -> Result<Vec<Payload>, Fault> {
        if let Expression::XPath(x) = &self.expression {
            return match &self.attach {
                Some(Attach::Xml(under)) => self.preserved_xml_fragments(msg, x, under),
                _ => self.xml_fragments(msg),
            };
        }
        let attach = match &self.attach {
            Some(Attach::Json(steps)) => Some(steps),
            _ => None,
        };
        let items = match (&self.path, attach, self.continue_parent) {
            // Nothing needs the original payload any more: move the array out of it.
            (Some(steps), None, false) => {
                let body = match msg.payload_mut().json_mut() {
                    Ok(body) => body,
                    Err(e) => return Err(parse_fault(e)),
                };
                match body.and_then(|b| find_mut(b, steps)) {
                    Some(slot) => std::mem::take(slot),
                    None => Value::Null,
                }
            }
            _ => eval(&self.expression, msg)?,
        };
        let Value::Array(items) = items else {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!(
                    "iterate: {} selects no JSON array to iterate over (found {})",
                    self.expression.source(),
                    kind(&items)
                ),
            ));
        };
        let empty = msg.payload().empty_like();
        let Some(attach) = attach else {
            return Ok(items
                .into_iter()
                .map(|item| {
                    let mut p = empty.empty_like();
                    p.set_json(item);
                    p
                })
                .collect());
        };
        // preservePayload: the payload, its split array emptied, with each item at `attach`.
        let mut root = match msg.payload_json() {
            Ok(Some(v)) => v.clone(),
            Ok(None) => Value::Null,
            Err(e) => return Err(parse_fault(e)),
        };
        if self.path.as_ref() != Some(attach)
            && let Some(steps) = &self.path
            && let Some(slot) = find_mut(&mut root, steps)
        {
            *slot = Value::Array(Vec::new());
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let mut doc = root.clone();
            *attach_slot(&mut doc, attach)? = item;
            let mut p = empty.empty_like();
            p.set_json(doc);
            out.push(p);
        }
        Ok(out)
    }

    /// preservePayload over XML: the payload without the split elements, each fragment
    /// appended to the element `under` selects.
    fn preserved_xml_fragments(
        &self,
        msg: &Message,
        x: &XPathExpression,
        under: &XPathExpression,
    ) -> Result<Vec<Payload>, Fault> {
        let Taken { rest, elements } =
            expr::take_selected(x, Leave::Under(under), msg).map_err(|e| self.eval_fault(e))?;
        let empty = msg.payload().empty_like();
        Ok(elements
            .into_iter()
            .map(|fragment| {
                let mut doc = rest.clone();
                let mut fragment = Some(fragment);
                Taken::fill(&mut doc, &mut |_| fragment.take());
                let mut p = empty.empty_like();
                p.set_xml(doc);
                p
            })
            .collect())
    }

    fn eval_fault(&self, e: EvalError) -> Fault {
        match e {
            EvalError::Payload(e) => parse_fault(e),
            e => Fault::internal(
                codes::CUSTOM,
                format!("iterate: cannot split on {}: {e}", self.expression.source()),
            ),
        }
    }

    fn xml_fragments(&self, msg: &Message) -> Result<Vec<Payload>, Fault> {
        let nodes = match expr::evaluate_xml(&self.expression, msg) {
            Ok(XPathValue::Nodes { nodes, .. }) => nodes,
            Ok(other) => {
                return Err(Fault::internal(
                    codes::CUSTOM,
                    format!(
                        "iterate: {} selects no XML elements (found the value {:?})",
                        self.expression.source(),
                        other.into_string()
                    ),
                ));
            }
            Err(EvalError::Payload(e)) => return Err(parse_fault(e)),
            Err(e) => {
                return Err(Fault::internal(
                    codes::CUSTOM,
                    format!("iterate: cannot evaluate {}: {e}", self.expression.source()),
                ));
            }
        };
        let empty = msg.payload().empty_like();
        nodes
            .into_iter()
            .map(|node| match node {
                Node::Element(e) => {
                    let mut p = empty.empty_like();
                    p.set_xml(*e);
                    Ok(p)
                }
                _ => Err(Fault::internal(
                    codes::CUSTOM,
                    format!(
                        "iterate: {} selects a node that is not an element",
                        self.expression.source()
                    ),
                )),
            })
            .collect()
    }
}

pub(crate) fn parse_fault(e: crate::expr::context::PayloadError) -> Fault {
    Fault::bad_request(codes::PARSE_ERROR, format!("cannot read the payload: {e}")).with_cause(e)
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at `steps`, if it exists.
pub(crate) fn find_mut<'v>(mut cur: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    for step in steps {
        cur = match step {
            Step::Key(k) => cur.as_object_mut()?.get_mut(k)?,
            Step::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// The value at `steps`, creating object members on the way (as MI's attach path does).
fn attach_slot<'v>(mut cur: &'v mut Value, steps: &[Step]) -> Result<&'v mut Value, Fault> {
    for step in steps {
        if cur.is_null() && matches!(step, Step::Key(_)) {
            *cur = Value::Object(Default::default());
        }
        let what = kind(cur);
        let found = match (step, cur) {
            (Step::Key(k), Value::Object(obj)) => Some(obj.entry(k.clone()).or_insert(Value::Null)),
            (Step::Index(i), Value::Array(items)) => items.get_mut(*i),
            _ => None,
        };
        cur = found.ok_or_else(|| {
            Fault::internal(
                codes::CUSTOM,
                format!("iterate: attachPath has no {step:?} in {what}"),
            )
        })?;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn find_mut_finds_only_what_exists() {
        let mut v = json!({"a": {"b": [1, 2]}});
        let steps = vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(1)];
        assert_eq!(find_mut(&mut v, &steps), Some(&mut json!(2)));
        assert_eq!(find_mut(&mut v, &[Step::Key("x".into())]), None);
    }

    #[test]
    fn attach_slot_creates_members_on_the_way() {
        let mut v = json!({"a": {}});
        *attach_slot(&mut v, &[Step::Key("a".into()), Step::Key("b".into())]).unwrap() = json!(1);
        assert_eq!(v, json!({"a": {"b": 1}}));
        assert!(attach_slot(&mut json!([1]), &[Step::Key("a".into())]).is_err());
    }
}
