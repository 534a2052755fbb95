//! Expression evaluation: runs the expressions and templates that `ferry_api::expr` parsed
//! at load time against one message, through the [`context::ExprContext`] seam.
//!
//! Mediators call [`evaluate`] (a JSON value), [`evaluate_string`] (text for headers, logs
//! and properties), [`evaluate_bool`] (filters) or [`render`] (templates).
//!
//! # Errors and Synapse's "empty result"
//!
//! Micro Integrator turns any runtime failure of an expression (a missing path, a type
//! mismatch, a bad argument) into an empty result. Every function here returns a `Result`
//! instead, so a caller chooses: propagate the [`EvalError`] into a fault, or take
//! Synapse's behaviour with [`or_empty`] (which logs the error at debug level and returns
//! the type's default: `null`, `""` or `false`).

pub mod context;
mod datetime;
mod eval;
mod functions;
mod number;
mod path;
pub mod value;
mod xpath;

#[cfg(test)]
mod tests;

use serde_json::Value;

use ferry_api::expr::{Expression, Part, Template};

use self::context::{ExprContext, PayloadError};

pub use self::xpath::XPathValue;
pub(crate) use self::xpath::{Leave, Taken, take_selected};

/// Why an expression could not be evaluated for this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The payload could not be read as the expression needs it.
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    /// A path, variable or member is not there.
    #[error("{0}")]
    NotFound(String),
    /// An operand or argument has the wrong type.
    #[error("{0}")]
    Type(String),
    /// A value is out of range or malformed (index, date, base64, ...).
    #[error("{0}")]
    Invalid(String),
    /// The XPath evaluation failed.
    #[error("xpath: {0}")]
    XPath(String),
}

/// Evaluates an expression to a JSON value.
///
/// Synapse expressions yield their natural type; `json-eval` yields the selected value (an
/// array for paths with wildcards, filters or slices); XPath yields a string for node-sets
/// (the first node's string value, as Synapse's `stringValueOf`), a number or a boolean.
pub fn evaluate(expr: &Expression, cx: &dyn ExprContext) -> Result<Value, EvalError> {
    match expr {
        Expression::Synapse(e) => eval::Evaluator::new(cx, &e.namespaces).node(&e.root, None),
        Expression::JsonEval(e) => eval::json_eval(e, cx),
        Expression::XPath(x) => Ok(xpath::evaluate(x, cx)?.into_json()),
    }
}

/// Evaluates an expression to text: strings raw, numbers in canonical form, objects and
/// arrays as compact JSON, `null` as the empty string.
pub fn evaluate_string(expr: &Expression, cx: &dyn ExprContext) -> Result<String, EvalError> {
    match expr {
        Expression::XPath(x) => Ok(xpath::evaluate(x, cx)?.into_string()),
        _ => evaluate(expr, cx).map(|v| to_text(&v)),
    }
}

/// Evaluates an expression as a condition.
///
/// XPath uses XPath's `boolean()` (a non-empty node-set, a non-zero number, a non-empty
/// string); the other languages hold when the value's text is `true`, ignoring case, as
/// Synapse's `Boolean.parseBoolean(stringValueOf(...))` does.
pub fn evaluate_bool(expr: &Expression, cx: &dyn ExprContext) -> Result<bool, EvalError> {
    match expr {
        Expression::XPath(x) => Ok(xpath::evaluate(x, cx)?.truthy()),
        _ => evaluate(expr, cx).map(|v| match v {
            Value::Bool(b) => b,
            other => to_text(&other).eq_ignore_ascii_case("true"),
        }),
    }
}

/// Evaluates an XPath expression (or a Synapse `xpath()` call's target) keeping node-sets
/// as XML, for callers that copy nodes (enrich, iterate). Other languages yield their
/// value as a string.
pub fn evaluate_xml(expr: &Expression, cx: &dyn ExprContext) -> Result<XPathValue, EvalError> {
    match expr {
        Expression::XPath(x) => xpath::evaluate(x, cx),
        other => evaluate_string(other, cx).map(XPathValue::String),
    }
}

/// The XML payload without the nodes an XPath selects (enrich's `remove`); `None` when
/// nothing is left. Other expression languages cannot select nodes: an error.
pub fn remove_selected(
    expr: &Expression,
    cx: &dyn ExprContext,
) -> Result<Option<crate::xml::Element>, EvalError> {
    match expr {
        Expression::XPath(x) => xpath::remove_selected(x, cx),
        _ => Err(EvalError::Type(
            "only an XPath selects the nodes to remove".into(),
        )),
    }
}

/// The XML payload with the first element an XPath selects replaced (the xslt mediator's
/// `source`). Other expression languages cannot select nodes: an error.
pub fn replace_selected(
    expr: &Expression,
    cx: &dyn ExprContext,
    replacement: &crate::xml::Element,
) -> Result<crate::xml::Element, EvalError> {
    match expr {
        Expression::XPath(x) => xpath::replace_selected(x, cx, replacement),
        _ => Err(EvalError::Type(
            "only an XPath selects the element to transform".into(),
        )),
    }
}

/// Renders a template, replacing each inline expression by its text
/// ([`evaluate_string`]). A placeholder `$n` renders as an empty string; use
/// [`render_with_args`] for payloadFactory formats.
pub fn render(template: &Template, cx: &dyn ExprContext) -> Result<String, EvalError> {
    render_with_args(template, &[], cx)
}

/// Renders a payloadFactory format: `$n` takes `args[n - 1]`.
pub fn render_with_args(
    template: &Template,
    args: &[String],
    cx: &dyn ExprContext,
) -> Result<String, EvalError> {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            Part::Literal(s) => out.push_str(s),
            Part::Expr(e) => out.push_str(&evaluate_string(e, cx)?),
            Part::Arg(n) => {
                let arg = n.checked_sub(1).and_then(|i| args.get(i));
                match arg {
                    Some(a) => out.push_str(a),
                    None => {
                        return Err(EvalError::NotFound(format!(
                            "placeholder ${n} has no argument ({} given)",
                            args.len()
                        )));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Synapse's policy for runtime failures: log the error at debug level and use the empty
/// result (`null`, `""`, `false`).
pub fn or_empty<T: Default>(result: Result<T, EvalError>) -> T {
    result.unwrap_or_else(|error| {
        tracing::debug!(%error, "expression evaluated to an empty result");
        T::default()
    })
}

/// The text of a value: strings raw, `null` empty, everything else as compact JSON.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
