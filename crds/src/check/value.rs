//! Values mediators compute: a literal or an expression (`value` / `expression`
//! attributes), and their conversion to a Synapse property type (`type`). The checker
//! converts literals once to refuse those that can never fit; the runtime converts what
//! expressions give, with the same function.

use serde_json::Value;

use crate::expr::Expression;
use crate::mediator::PropertyType;

/// A `value` (literal) or an `expression`, checked.
#[derive(Debug, Clone)]
pub enum ValueSource {
    /// A literal string.
    Literal(String),
    /// An expression evaluated per message.
    Expr(Expression),
}

impl ValueSource {
    /// The expression, when it is one.
    pub fn expression(&self) -> Option<&Expression> {
        match self {
            ValueSource::Literal(_) => None,
            ValueSource::Expr(e) => Some(e),
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

/// Converts a value to a Synapse property type; a value that does not fit is an error
/// naming the property, the value and the type.
pub fn convert(value: Value, ty: PropertyType, name: &str) -> Result<Value, String> {
    let bad = |v: &Value| format!("property {name}: {} is not a valid {ty:?}", to_text(v));
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
            if sxd_document::parser::parse(&text).is_err() {
                return Err(bad(&value));
            }
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
        let ok = |v: Value, ty| convert(v, ty, "p").unwrap();
        assert_eq!(ok(json!("42"), PropertyType::Integer), json!(42));
        assert_eq!(ok(json!(" 7 "), PropertyType::Long), json!(7));
        assert_eq!(ok(json!("1.5"), PropertyType::Double), json!(1.5));
        assert_eq!(ok(json!("TRUE"), PropertyType::Boolean), json!(true));
        assert_eq!(ok(json!("no"), PropertyType::Boolean), json!(false));
        assert_eq!(ok(json!(12), PropertyType::String), json!("12"));
        assert_eq!(ok(json!("{\"a\":1}"), PropertyType::Json), json!({"a": 1}));
        assert_eq!(ok(json!("<a>1</a>"), PropertyType::Om), json!("<a>1</a>"));
    }

    #[test]
    fn values_that_do_not_fit_are_errors_naming_the_property() {
        assert_eq!(
            convert(json!("x"), PropertyType::Integer, "p").unwrap_err(),
            "property p: x is not a valid Integer"
        );
        assert!(convert(json!(70000), PropertyType::Short, "p").is_err());
        assert!(convert(json!("{"), PropertyType::Json, "p").is_err());
        assert!(convert(json!("<a>"), PropertyType::Om, "p").is_err());
        assert!(convert(json!("text"), PropertyType::Om, "p").is_err());
    }

    #[test]
    fn text_of_values_is_raw_for_strings_and_json_otherwise() {
        assert_eq!(to_text(&json!("a")), "a");
        assert_eq!(to_text(&json!(null)), "");
        assert_eq!(to_text(&json!({"a": [1]})), "{\"a\":[1]}");
    }
}
