//! Values mediators compute: a literal or an expression (`value` / `expression` attributes),
//! evaluated against a message, and converted to a Synapse property type.

use ferry_api::expr::{Expression, Template};
use ferry_api::mediator::PropertyType;
use serde_json::Value;

use crate::compile::CompileCx;
use crate::expr::{self, EvalError};
use crate::fault::{Fault, codes};
use crate::message::Message;

/// A `value` (literal) or an `expression`, compiled.
#[derive(Debug)]
pub enum ValueSource {
    /// A literal string.
    Literal(String),
    /// An expression evaluated per message.
    Expr(Expression),
}

impl ValueSource {
    /// Exactly one of `value` and `expression`, else a located error.
    pub fn compile(
        cx: &mut CompileCx<'_>,
        field: &str,
        value: Option<&str>,
        expression: Option<&str>,
    ) -> Option<Self> {
        match (value, expression) {
            (Some(v), None) => Some(ValueSource::Literal(v.to_string())),
            (None, Some(e)) => {
                let expr = cx.expression(&format!("{field}.expression"), e)?;
                Some(ValueSource::Expr(expr))
            }
            (Some(_), Some(_)) => {
                cx.error(field, "set either value or expression, not both");
                None
            }
            (None, None) => {
                cx.error(field, "value or expression is required");
                None
            }
        }
    }

    /// The value for this message.
    pub fn eval(&self, msg: &Message) -> Result<Value, Fault> {
        match self {
            ValueSource::Literal(s) => Ok(Value::String(s.clone())),
            ValueSource::Expr(e) => eval(e, msg),
        }
    }

    /// The value for this message as text.
    pub fn eval_string(&self, msg: &Message) -> Result<String, Fault> {
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
        )),
        other => {
            tracing::debug!(error = %other, "expression gave no result");
            Ok(Value::Null)
        }
    }
}

/// A value as text: strings raw, null empty, anything else as compact JSON.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Converts a value to a Synapse property type (`type` attribute); a value that does not
/// fit the type is a fault naming both.
pub fn convert(value: Value, ty: PropertyType, name: &str) -> Result<Value, Fault> {
    let bad = |v: &Value| {
        Fault::internal(
            codes::CUSTOM,
            format!("property {name}: {} is not a valid {ty:?}", to_text(v)),
        )
    };
    let text = to_text(&value);
    Ok(match ty {
        PropertyType::String => Value::String(text),
        PropertyType::Integer | PropertyType::Long | PropertyType::Short => {
            match value.as_i64().or_else(|| text.trim().parse::<i64>().ok()) {
                Some(i) => {
                    let fits = match ty {
                        PropertyType::Integer => i32::try_from(i).is_ok(),
                        PropertyType::Short => i16::try_from(i).is_ok(),
                        _ => true,
                    };
                    if !fits {
                        return Err(bad(&value));
                    }
                    Value::from(i)
                }
                None => return Err(bad(&value)),
            }
        }
        PropertyType::Double | PropertyType::Float => {
            match value.as_f64().or_else(|| text.trim().parse::<f64>().ok()) {
                Some(f) => serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| bad(&value))?,
                None => return Err(bad(&value)),
            }
        }
        PropertyType::Boolean => match &value {
            Value::Bool(b) => Value::Bool(*b),
            _ => Value::Bool(text.trim().eq_ignore_ascii_case("true")),
        },
        PropertyType::Json => match value {
            Value::String(s) => serde_json::from_str(&s).map_err(|_| bad(&Value::String(s)))?,
            other => other,
        },
        PropertyType::Om => {
            crate::message::xml::Element::parse(text.as_bytes()).map_err(|_| bad(&value))?;
            Value::String(text)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_convert_to_the_declared_type() {
        assert_eq!(
            convert(json!("42"), PropertyType::Integer, "p").unwrap(),
            json!(42)
        );
        assert_eq!(
            convert(json!(" 7 "), PropertyType::Long, "p").unwrap(),
            json!(7)
        );
        assert_eq!(
            convert(json!("1.5"), PropertyType::Double, "p").unwrap(),
            json!(1.5)
        );
        assert_eq!(
            convert(json!("TRUE"), PropertyType::Boolean, "p").unwrap(),
            json!(true)
        );
        assert_eq!(
            convert(json!("no"), PropertyType::Boolean, "p").unwrap(),
            json!(false)
        );
        assert_eq!(
            convert(json!(12), PropertyType::String, "p").unwrap(),
            json!("12")
        );
        assert_eq!(
            convert(json!("{\"a\":1}"), PropertyType::Json, "p").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            convert(json!("<a>1</a>"), PropertyType::Om, "p").unwrap(),
            json!("<a>1</a>")
        );
    }

    #[test]
    fn values_that_do_not_fit_are_faults() {
        assert!(convert(json!("x"), PropertyType::Integer, "p").is_err());
        assert!(convert(json!(70000), PropertyType::Short, "p").is_err());
        assert!(convert(json!("{"), PropertyType::Json, "p").is_err());
        assert!(convert(json!("<a>"), PropertyType::Om, "p").is_err());
    }

    #[test]
    fn text_of_values_is_raw_for_strings_and_json_otherwise() {
        assert_eq!(to_text(&json!("a")), "a");
        assert_eq!(to_text(&json!(null)), "");
        assert_eq!(to_text(&json!({"a": [1]})), "{\"a\":[1]}");
    }
}
