//! The Synapse expression evaluator: walks a parsed [`Node`] tree against one message.
//!
//! Semantics follow Micro Integrator's engine: `+` adds numbers or joins two strings,
//! relational operators compare numbers only, `==` compares numbers numerically and anything
//! else by text, `&&`/`||` need booleans. Inside a filter (`[?( )]`) the rules are Jayway's:
//! strings compare lexically, and an item for which the condition fails is simply skipped.

use std::cmp::Ordering;

use serde_json::Value;

use ferry_api::expr::ast::{BinaryOp, Node, ParamKind, PropertyScope, Root, Segment, UnaryOp};
use ferry_api::expr::{JsonEval, JsonEvalTarget};

use super::context::{self, ExprContext};
use super::number::{self, Num};
use super::{EvalError, functions, path, to_text};

/// Evaluates nodes against one message.
pub(crate) struct Evaluator<'c> {
    pub(crate) cx: &'c dyn ExprContext,
    /// Namespace prefixes for `xpath()` calls.
    pub(crate) namespaces: &'c [(String, String)],
}

impl<'c> Evaluator<'c> {
    pub(crate) fn new(cx: &'c dyn ExprContext, namespaces: &'c [(String, String)]) -> Self {
        Self { cx, namespaces }
    }

    /// Evaluates `node`; `current` is the item `@` stands for inside a filter.
    pub(crate) fn node(&self, node: &Node, current: Option<&Value>) -> Result<Value, EvalError> {
        match node {
            Node::Literal(v) => Ok(v.clone()),
            Node::Regex(p) => Ok(Value::String(p.0.as_str().to_owned())),
            Node::Array(items) => items
                .iter()
                .map(|n| self.node(n, current))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Node::Path { root, segments } => self.path(root, segments, current),
            Node::Call {
                function,
                args,
                segments,
            } => {
                let value = functions::call(self, *function, args, current)?;
                path::apply(self, &value, segments, current)
            }
            Node::Group { inner, segments } => {
                let value = self.node(inner, current)?;
                path::apply(self, &value, segments, current)
            }
            Node::Unary { op, operand } => {
                let v = self.node(operand, current)?;
                match op {
                    UnaryOp::Not => Ok(Value::Bool(!boolean(&v, "!")?)),
                    UnaryOp::Neg => match Num::of(&v) {
                        Some(Num::Int(i)) => match i.checked_neg() {
                            Some(n) => Ok(Value::from(n)),
                            None => Num::Float(-(i as f64)).into_value(),
                        },
                        Some(Num::Float(f)) => Num::Float(-f).into_value(),
                        None => Err(EvalError::Type(format!("cannot negate {}", describe(&v)))),
                    },
                }
            }
            Node::Binary { op, left, right } => self.binary(*op, left, right, current),
            Node::Conditional {
                condition,
                then,
                otherwise,
            } => {
                let c = self.node(condition, current)?;
                if boolean(&c, "the condition of ?:")? {
                    self.node(then, current)
                } else {
                    self.node(otherwise, current)
                }
            }
        }
    }

    /// `f` applied to the value of `node`. A path of names and fixed indices into the
    /// payload is not copied out of the parsed document (`length(payload.items)` needs a
    /// length, not a copy of the array); anything else is evaluated as by [`Self::node`].
    pub(crate) fn inspect<R>(
        &self,
        node: &Node,
        current: Option<&Value>,
        f: impl FnOnce(&Value) -> R,
    ) -> Result<R, EvalError> {
        if let Node::Path {
            root: Root::Payload,
            segments,
        } = node
            && segments
                .iter()
                .all(|s| matches!(s, Segment::Child(_) | Segment::Index(_)))
        {
            // As `path` does: a member scan when it applies, else the parsed document.
            if let Some(Segment::Child(first)) = segments.first()
                && let Some(member) = self.cx.payload_json_member(first)
            {
                let mut object = serde_json::Map::new();
                if let Some(value) = member {
                    object.insert(first.clone(), value);
                }
                let root = Value::Object(object);
                let found = path::select(self, &root, segments, current)?;
                return Ok(f(found.unwrap_or(&Value::Null)));
            }
            let payload = self
                .cx
                .payload_json()?
                .ok_or_else(|| EvalError::NotFound("the message has no payload".into()))?;
            let found = path::select(self, payload, segments, current)?;
            return Ok(f(found.unwrap_or(&Value::Null)));
        }
        let value = self.node(node, current)?;
        Ok(f(&value))
    }

    fn path(
        &self,
        root: &Root,
        segments: &[ferry_api::expr::Segment],
        current: Option<&Value>,
    ) -> Result<Value, EvalError> {
        let cx = self.cx;
        let owned = match root {
            Root::Payload => {
                // `payload.kind...`: only the first member matters to the path, so a
                // one-member object stands for the document and the body is not parsed.
                if let Some(Segment::Child(first)) = segments.first()
                    && let Some(member) = cx.payload_json_member(first)
                {
                    let mut object = serde_json::Map::new();
                    if let Some(value) = member {
                        object.insert(first.clone(), value);
                    }
                    return path::apply(self, &Value::Object(object), segments, current);
                }
                let payload = cx
                    .payload_json()?
                    .ok_or_else(|| EvalError::NotFound("the message has no payload".into()))?;
                return path::apply(self, payload, segments, current);
            }
            Root::Variable(name) => {
                let v = cx.variable(name).ok_or_else(|| {
                    EvalError::NotFound(format!("variable '{name}' is not defined"))
                })?;
                return self.apply_parsing_strings(v, segments, current);
            }
            Root::Current => {
                let item = current.ok_or_else(|| {
                    EvalError::Type("'@' is only meaningful inside a filter".into())
                })?;
                return path::apply(self, item, segments, current);
            }
            Root::Header(name) => cx.header(name).map(|s| Value::String(s.to_owned())),
            Root::Property { scope, name } => {
                let scope = match scope {
                    PropertyScope::Synapse => context::PropertyScope::Default,
                    PropertyScope::Axis2 => context::PropertyScope::Axis2,
                };
                cx.property(scope, name)
            }
            Root::Param {
                kind: ParamKind::Query,
                name,
            } => cx.query_param(name).map(|s| Value::String(s.to_owned())),
            Root::Param {
                kind: ParamKind::Uri,
                name,
            } => cx.uri_param(name).map(|s| Value::String(s.to_owned())),
            Root::Param {
                kind: ParamKind::Function,
                name,
            } => cx.function_param(name).cloned(),
            Root::Config(key) => cx.config(key).map(|s| Value::String(s.to_owned())),
        };
        // Headers, properties and parameters that are absent read as null (MI does the same).
        match owned {
            Some(v) => self.apply_parsing_strings(&v, segments, current),
            None if segments.is_empty() => Ok(Value::Null),
            None => Err(EvalError::NotFound(format!(
                "{} is not set",
                describe_root(root)
            ))),
        }
    }

    /// Applies a path to a value; a string is first parsed as JSON when a path follows, as
    /// MI does for variables and properties holding JSON text.
    fn apply_parsing_strings(
        &self,
        value: &Value,
        segments: &[ferry_api::expr::Segment],
        current: Option<&Value>,
    ) -> Result<Value, EvalError> {
        if let (Value::String(s), false) = (value, segments.is_empty())
            && let Ok(parsed) = serde_json::from_str::<Value>(s)
        {
            return path::apply(self, &parsed, segments, current);
        }
        path::apply(self, value, segments, current)
    }

    fn binary(
        &self,
        op: BinaryOp,
        left: &Node,
        right: &Node,
        current: Option<&Value>,
    ) -> Result<Value, EvalError> {
        let in_filter = current.is_some();
        // `&&` and `||` short-circuit, so `exists(var.x) && var.x > 1` is safe.
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = boolean(&self.node(left, current)?, op.symbol())?;
            if (op == BinaryOp::And) != l {
                return Ok(Value::Bool(l));
            }
            let r = boolean(&self.node(right, current)?, op.symbol())?;
            return Ok(Value::Bool(r));
        }
        let l = self.node(left, current)?;
        if op == BinaryOp::Matches {
            let Node::Regex(p) = right else {
                return Err(EvalError::Type("=~ needs a regular expression".into()));
            };
            return Ok(Value::Bool(
                matches!(&l, Value::String(s) if p.0.is_match(s)),
            ));
        }
        let r = self.node(right, current)?;
        match op {
            BinaryOp::Add => match (&l, &r) {
                (Value::String(a), Value::String(b)) => Ok(Value::String(format!("{a}{b}"))),
                _ => arithmetic(op, &l, &r),
            },
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => arithmetic(op, &l, &r),
            BinaryOp::Eq => Ok(Value::Bool(equals(&l, &r, in_filter))),
            BinaryOp::Ne => Ok(Value::Bool(!equals(&l, &r, in_filter))),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ord = order(&l, &r, in_filter)?;
                Ok(Value::Bool(match op {
                    BinaryOp::Lt => ord == Ordering::Less,
                    BinaryOp::Le => ord != Ordering::Greater,
                    BinaryOp::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                }))
            }
            _ => filter_operator(op, &l, &r),
        }
    }
}

/// The boolean an operator needs; anything else is a type error.
pub(crate) fn boolean(v: &Value, what: &str) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError::Type(format!(
            "{what} needs a boolean, found {}",
            describe(other)
        ))),
    }
}

fn arithmetic(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, EvalError> {
    match (Num::of(l), Num::of(r)) {
        (Some(a), Some(b)) => number::arithmetic(op, a, b)?.into_value(),
        _ => Err(EvalError::Type(format!(
            "cannot apply '{op}' to {} and {}",
            describe(l),
            describe(r)
        ))),
    }
}

/// `==`: numbers by value, nulls only with nulls; otherwise by JSON value in filters and by
/// text outside them (MI compares the string forms, so `"1" == 1` holds there).
fn equals(l: &Value, r: &Value, in_filter: bool) -> bool {
    match (l, r) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => {
            if let (Some(a), Some(b)) = (Num::of(l), Num::of(r)) {
                return number::compare(a, b) == Some(Ordering::Equal);
            }
            if in_filter {
                l == r
            } else {
                to_text(l) == to_text(r)
            }
        }
    }
}

fn order(l: &Value, r: &Value, in_filter: bool) -> Result<Ordering, EvalError> {
    if let (Some(a), Some(b)) = (Num::of(l), Num::of(r)) {
        return number::compare(a, b).ok_or_else(|| EvalError::Type("cannot compare NaN".into()));
    }
    match (l, r) {
        (Value::String(a), Value::String(b)) if in_filter => Ok(a.cmp(b)),
        _ => Err(EvalError::Type(format!(
            "cannot compare {} with {} (comparisons need numbers)",
            describe(l),
            describe(r)
        ))),
    }
}

/// Jayway's filter-only operators.
fn filter_operator(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, EvalError> {
    let contains = |list: &Value, item: &Value| match list {
        Value::Array(items) => items.iter().any(|x| equals(x, item, true)),
        _ => false,
    };
    let items = |v: &Value| match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let len = |v: &Value| match v {
        Value::Array(a) => Some(a.len()),
        Value::String(s) => Some(s.chars().count()),
        _ => None,
    };
    Ok(Value::Bool(match op {
        BinaryOp::In => contains(r, l),
        BinaryOp::NotIn => !contains(r, l),
        BinaryOp::SubsetOf => items(l).iter().all(|x| contains(r, x)),
        BinaryOp::AnyOf => items(l).iter().any(|x| contains(r, x)),
        BinaryOp::NoneOf => !items(l).iter().any(|x| contains(r, x)),
        BinaryOp::Size => match (len(l), Num::of(r)) {
            (Some(n), Some(Num::Int(want))) => i64::try_from(n).ok() == Some(want),
            _ => false,
        },
        BinaryOp::Empty => match (len(l), r) {
            (Some(n), Value::Bool(want)) => (n == 0) == *want,
            _ => false,
        },
        other => {
            return Err(EvalError::Type(format!(
                "operator '{other}' is not supported here"
            )));
        }
    }))
}

/// A short description of a value for error messages.
pub(crate) fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut text = v.to_string();
    if text.chars().count() > 40 {
        text = text.chars().take(40).collect::<String>() + "…";
    }
    format!("{kind} {text}")
}

fn describe_root(root: &Root) -> String {
    match root {
        Root::Header(n) => format!("header '{n}'"),
        Root::Property { name, .. } => format!("property '{name}'"),
        Root::Param { name, .. } => format!("parameter '{name}'"),
        Root::Config(k) => format!("configuration key '{k}'"),
        Root::Variable(n) => format!("variable '{n}'"),
        Root::Payload => "the payload".into(),
        Root::Current => "'@'".into(),
    }
}

/// Evaluates a legacy `json-eval(...)` expression.
pub(crate) fn json_eval(e: &JsonEval, cx: &dyn ExprContext) -> Result<Value, EvalError> {
    let ev = Evaluator::new(cx, &[]);
    let property = |scope, name: &str| {
        cx.property(scope, name)
            .ok_or_else(|| EvalError::NotFound(format!("property '{name}' is not set")))
    };
    match &e.target {
        JsonEvalTarget::Payload => {
            let payload = cx
                .payload_json()?
                .ok_or_else(|| EvalError::NotFound("the message has no payload".into()))?;
            path::apply(&ev, payload, &e.segments, None)
        }
        JsonEvalTarget::Property(name) => {
            let v = property(context::PropertyScope::Default, name)?;
            ev.apply_parsing_strings(&v, &e.segments, None)
        }
        JsonEvalTarget::Axis2Property(name) => {
            let v = property(context::PropertyScope::Axis2, name)?;
            ev.apply_parsing_strings(&v, &e.segments, None)
        }
    }
}
