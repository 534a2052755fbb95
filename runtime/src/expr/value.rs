//! Values mediators and endpoints compute: a checked literal or expression (`value` /
//! `expression` attributes) evaluated against a message, and converted to a Synapse property
//! type.

pub use ferry_api::check::value::{ValueSource, to_text};
use ferry_api::expr::{Expression, Template};
use ferry_api::mediator::PropertyType;
use serde_json::Value;

use crate::expr::{self, EvalError};
use crate::fault::{Fault, codes};
use crate::message::Message;

/// Evaluating a checked `value` / `expression` against a message.
pub trait Evaluate {
    /// The value for this message.
    fn eval(&self, msg: &Message) -> Result<Value, Fault>;
    /// The value for this message as text.
    fn eval_string(&self, msg: &Message) -> Result<String, Fault>;
}

impl Evaluate for ValueSource {
    fn eval(&self, msg: &Message) -> Result<Value, Fault> {
        match self {
            ValueSource::Literal(s) => Ok(Value::String(s.clone())),
            ValueSource::Expr(e) => eval(e, msg),
        }
    }

    fn eval_string(&self, msg: &Message) -> Result<String, Fault> {
        match self {
            ValueSource::Literal(s) => Ok(s.clone()),
            ValueSource::Expr(e) => eval(e, msg).map(|v| to_text(&v)),
        }
    }
}

/// Evaluates an expression. A body that is not what its content type says is the client's
/// fault (601000, a 400 unless a fault sequence says otherwise); any other evaluation error
/// gives an empty result, as Synapse expressions do.
pub fn eval(expr: &Expression, msg: &Message) -> Result<Value, Fault> {
    match expr::evaluate(expr, msg) {
        Ok(v) => Ok(v),
        Err(e) => from_eval_error(e),
    }
}

/// Renders a template with inline expressions (same error rules as [`eval`]).
pub fn render(template: &Template, msg: &Message) -> Result<String, Fault> {
    match expr::render(template, msg) {
        Ok(s) => Ok(s),
        Err(e) => from_eval_error(e).map(|_| String::new()),
    }
}

/// Evaluates an expression as a condition (Synapse truthiness).
pub fn eval_bool(expr: &Expression, msg: &Message) -> Result<bool, Fault> {
    match expr::evaluate_bool(expr, msg) {
        Ok(b) => Ok(b),
        Err(e) => from_eval_error(e).map(|_| false),
    }
}

fn from_eval_error(e: EvalError) -> Result<Value, Fault> {
    match e {
        EvalError::Payload(p) => Err(Fault::bad_request(
            codes::PARSE_ERROR,
            format!("cannot read the payload: {p}"),
        )
        .with_cause(p)),
        other => {
            tracing::debug!(error = %other, "expression gave no result");
            Ok(Value::Null)
        }
    }
}

/// Converts a value to a Synapse property type (`type` attribute); a value that does not
/// fit the type is a fault naming both (the checker refused literals that never fit).
pub fn convert(value: Value, ty: PropertyType, name: &str) -> Result<Value, Fault> {
    ferry_api::check::value::convert(value, ty, name)
        .map_err(|message| Fault::internal(codes::CUSTOM, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_that_does_not_fit_its_type_is_a_fault_naming_it() {
        assert_eq!(
            convert(json!("42"), PropertyType::Integer, "p").ok(),
            Some(json!(42))
        );
        let fault = convert(json!("x"), PropertyType::Integer, "p").unwrap_err();
        assert_eq!(fault.message, "property p: x is not a valid Integer");
    }
}
