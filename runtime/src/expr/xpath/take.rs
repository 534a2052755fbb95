//! Taking the elements an XPath selects out of the payload, for the mediators that work on
//! each of them and put something back: the legacy XPath `foreach` (each result goes where
//! its element was) and `iterate` with `preservePayload` (each fragment goes into what is
//! left of the payload, under the element `attachPath` selects). What is left carries slot
//! elements where those go; [`Taken::fill`] puts them there.
//!
//! The selection and the slots are made in one pass over the evaluation's document, so the
//! positions are exact whatever the expression (predicates, `//`, namespaces).

use sxd_document::dom::{self, ChildOfElement};
use sxd_xpath::nodeset::Node as XNode;

use ferry_api::expr::XPathExpression;

use super::super::EvalError;
use super::super::context::ExprContext;
use super::{Scope, compiled, from_element, is_soap, run_with};
use crate::xml::{Element, Node};

/// The namespace of slot elements; no payload uses it.
const SLOT_NS: &str = "urn:ferry:xpath-slot";
const SLOT: &str = "slot";

/// Where the taken elements' replacements go.
#[derive(Clone, Copy)]
pub(crate) enum Leave<'a> {
    /// Where each element was: slot `i` for the `i`-th element in document order.
    InPlace,
    /// Under the first element this XPath selects once the elements are out, as its last
    /// child: one slot, numbered 0.
    Under(&'a XPathExpression),
}

/// The selected elements and what is left of the payload.
#[derive(Debug)]
pub(crate) struct Taken {
    /// The payload left, with its slots: the envelope when the payload was one, else the
    /// body's element (which is a slot itself when the expression selected it).
    pub rest: Element,
    /// The elements taken, in document order.
    pub elements: Vec<Element>,
}

impl Taken {
    /// Puts `with(n)` in place of slot `n` of `rest` (a slot left unfilled disappears) and
    /// returns how many slots were filled.
    pub(crate) fn fill(
        rest: &mut Element,
        with: &mut dyn FnMut(usize) -> Option<Element>,
    ) -> usize {
        let mut filled = 0;
        if let Some(n) = slot_number(rest) {
            if let Some(e) = with(n) {
                *rest = e;
                return 1;
            }
            return 0;
        }
        let children = std::mem::take(&mut rest.children);
        rest.children = Vec::with_capacity(children.len());
        for child in children {
            match child {
                Node::Element(mut e) => match slot_number(&e) {
                    Some(n) => {
                        if let Some(result) = with(n) {
                            rest.children.push(Node::Element(Box::new(result)));
                            filled += 1;
                        }
                    }
                    None => {
                        filled += Self::fill(&mut e, with);
                        rest.children.push(Node::Element(e));
                    }
                },
                other => rest.children.push(other),
            }
        }
        filled
    }
}

fn slot_number(e: &Element) -> Option<usize> {
    if e.name.namespace.as_deref() != Some(SLOT_NS) || e.name.local != SLOT {
        return None;
    }
    e.attribute("n").and_then(|n| n.parse().ok())
}

/// Takes every element `x` selects out of the payload and leaves slots as `leave` says.
/// An expression that selects anything but elements, or nothing of the payload, is an
/// error; so is an `attachPath` that selects no element of what is left.
pub(crate) fn take_selected(
    x: &XPathExpression,
    leave: Leave<'_>,
    cx: &dyn ExprContext,
) -> Result<Taken, EvalError> {
    let compiled_x = compiled(&x.source)?;
    let compiled_under = match leave {
        Leave::Under(a) => Some(compiled(&a.source)?),
        Leave::InPlace => None,
    };
    // One context for both expressions: it binds what either of them reads.
    let mut both = x.clone();
    if let Leave::Under(a) = leave {
        for v in &a.variables {
            if !both.variables.contains(v) {
                both.variables.push(v.clone());
            }
        }
        for ns in &a.namespaces {
            if !both.namespaces.contains(ns) {
                both.namespaces.push(ns.clone());
            }
        }
    }
    let payload_was_envelope = cx
        .payload_xml()?
        .is_some_and(|p| p.name.local == "Envelope" && is_soap(p.name.namespace.as_deref()));
    run_with(&compiled_x, &both, cx, |value, scope| {
        let sxd_xpath::Value::Nodeset(set) = value else {
            return Err(EvalError::Type(format!(
                "{}: selects no elements (the expression gives a value, not nodes)",
                x.source
            )));
        };
        let mut selected = Vec::new();
        for node in set.document_order() {
            match node {
                XNode::Element(e) if !is_envelope_part(e) => selected.push(e),
                XNode::Element(_) => {
                    return Err(EvalError::Type(format!(
                        "{}: selects the envelope or its body; select elements inside the payload",
                        x.source
                    )));
                }
                _ => {
                    return Err(EvalError::Type(format!(
                        "{}: selects a node that is not an element",
                        x.source
                    )));
                }
            }
        }
        let elements: Vec<Element> = selected.iter().map(|e| from_element(*e)).collect();
        for (n, e) in selected.iter().enumerate() {
            match leave {
                Leave::InPlace => {
                    if let Some(parent) = e.parent() {
                        let slot = slot(&scope, n);
                        replace_child(parent, *e, slot);
                    }
                }
                Leave::Under(_) => e.remove_from_parent(),
            }
        }
        if let (Leave::Under(a), Some(under)) = (leave, &compiled_under) {
            let target = under
                .evaluate(scope.context, scope.doc.root())
                .map_err(|e| EvalError::XPath(e.to_string()))?;
            let target = match target {
                sxd_xpath::Value::Nodeset(set) => {
                    set.document_order().into_iter().find_map(|n| match n {
                        XNode::Element(e) => Some(e),
                        _ => None,
                    })
                }
                _ => None,
            };
            let Some(target) = target else {
                return Err(EvalError::NotFound(format!(
                    "attachPath {}: selects no element of what is left of the payload",
                    a.source
                )));
            };
            target.append_child(slot(&scope, 0));
        }
        let rest = if payload_was_envelope {
            scope.body.parent().and_then(|p| match p {
                dom::ParentOfChild::Element(e) => Some(from_element(e)),
                dom::ParentOfChild::Root(_) => None,
            })
        } else {
            let mut roots = scope.body.children().into_iter().filter_map(|c| match c {
                ChildOfElement::Element(e) => Some(e),
                _ => None,
            });
            match (roots.next(), roots.next()) {
                (Some(root), None) => Some(from_element(root)),
                (Some(_), Some(_)) => {
                    return Err(EvalError::Type(
                        "attachPath selects the SOAP Body, which already holds the payload's element: select an element inside the payload".into(),
                    ));
                }
                (None, _) => None,
            }
        };
        let rest = rest.ok_or_else(|| {
            EvalError::NotFound(format!("{}: nothing of the payload is left", x.source))
        })?;
        Ok(Taken { rest, elements })
    })
}

/// The envelope, its Header or its Body: the frame of the message, not part of it.
fn is_envelope_part(e: dom::Element<'_>) -> bool {
    fn parent_element(e: dom::Element<'_>) -> Option<dom::Element<'_>> {
        match e.parent() {
            Some(dom::ParentOfChild::Element(p)) => Some(p),
            _ => None,
        }
    }
    match parent_element(e) {
        None => true,
        Some(p) => parent_element(p).is_none(),
    }
}

fn slot<'d>(scope: &Scope<'_, 'd>, n: usize) -> dom::Element<'d> {
    let e = scope.doc.create_element((SLOT_NS, SLOT));
    e.set_attribute_value("n", &n.to_string());
    e
}

/// Puts `new` where `old` is among `parent`'s children.
fn replace_child<'d>(parent: dom::ParentOfChild<'d>, old: dom::Element<'d>, new: dom::Element<'d>) {
    let dom::ParentOfChild::Element(parent) = parent else {
        return;
    };
    let children: Vec<ChildOfElement<'d>> = parent
        .children()
        .into_iter()
        .map(|c| match c {
            ChildOfElement::Element(e) if e == old => ChildOfElement::Element(new),
            other => other,
        })
        .collect();
    parent.replace_children(children);
}

#[cfg(test)]
mod tests;
