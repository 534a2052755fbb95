//! Typed parameters: a checked [`Param`] turns a request's value (JSON or text) into the
//! [`SqlValue`] the driver binds, or says in one sentence why it cannot. The checker runs
//! the same conversion on defaults, so a default that could never bind is refused at load.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use crate::resources::ParamType;

/// A value ready to bind, typed as the parameter declares.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL, typed so the database knows the parameter's type.
    Null(ParamType),
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Number(f64),
    /// An exact decimal, as validated text (`-12.50`).
    Decimal(String),
    /// A boolean.
    Boolean(bool),
    /// A date.
    Date(NaiveDate),
    /// A date and time.
    Timestamp(NaiveDateTime),
}

/// A checked parameter: its name, type, default and validation.
#[derive(Debug, Clone)]
pub struct Param {
    /// The name (`:name`).
    pub name: String,
    /// The type.
    pub type_: ParamType,
    /// The default, already converted.
    pub default: Option<SqlValue>,
    /// NULL when missing (and no default).
    pub optional: bool,
    /// Numeric lower bound.
    pub minimum: Option<f64>,
    /// Numeric upper bound.
    pub maximum: Option<f64>,
    /// Longest string, in characters.
    pub max_length: Option<u64>,
    /// The full-match pattern of a string.
    pub pattern: Option<regex::Regex>,
    /// The values a string may take (empty: any).
    pub allowed: Vec<String>,
}

impl Param {
    /// A parameter of `type_` without validation (the database mediators' parameters).
    pub fn plain(name: impl Into<String>, type_: ParamType) -> Self {
        Self {
            name: name.into(),
            type_,
            default: None,
            optional: true,
            minimum: None,
            maximum: None,
            max_length: None,
            pattern: None,
            allowed: Vec::new(),
        }
    }

    /// The value to bind for what the request gave (`None`: nothing); the error names the
    /// parameter and says what was expected, never echoing more than the value's kind.
    pub fn bind_value(&self, given: Option<&Value>) -> Result<SqlValue, String> {
        let given = match given {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        };
        let Some(value) = given else {
            if let Some(d) = &self.default {
                return Ok(d.clone());
            }
            if self.optional {
                return Ok(SqlValue::Null(self.type_));
            }
            return Err(format!("parameter \"{}\" is required", self.name));
        };
        let typed = convert(value, self.type_)
            .map_err(|expected| format!("parameter \"{}\": expected {expected}", self.name))?;
        self.validate(&typed)?;
        Ok(typed)
    }

    /// The declared bounds, length, pattern and allowed values.
    pub fn validate(&self, value: &SqlValue) -> Result<(), String> {
        let name = &self.name;
        let number = match value {
            SqlValue::Integer(i) => Some(*i as f64),
            SqlValue::Number(n) => Some(*n),
            SqlValue::Decimal(d) => d.parse::<f64>().ok(),
            _ => None,
        };
        if let Some(n) = number {
            if let Some(min) = self.minimum
                && n < min
            {
                return Err(format!("parameter \"{name}\" must be at least {min}"));
            }
            if let Some(max) = self.maximum
                && n > max
            {
                return Err(format!("parameter \"{name}\" must be at most {max}"));
            }
        }
        if let SqlValue::Text(s) = value {
            if let Some(max) = self.max_length
                && s.chars().count() as u64 > max
            {
                return Err(format!(
                    "parameter \"{name}\" must be at most {max} characters long"
                ));
            }
            if let Some(p) = &self.pattern
                && !p.is_match(s)
            {
                return Err(format!(
                    "parameter \"{name}\" does not match its pattern {}",
                    p.as_str()
                ));
            }
            if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a == s) {
                return Err(format!(
                    "parameter \"{name}\" must be one of {}",
                    self.allowed.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Converts a JSON value (text from a path or query parameter arrives as a string) to
/// `type_`; the error is what was expected.
pub fn convert(value: &Value, type_: ParamType) -> Result<SqlValue, &'static str> {
    let text = match value {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    match type_ {
        ParamType::String => match value {
            Value::String(s) => Ok(SqlValue::Text(s.clone())),
            Value::Number(n) => Ok(SqlValue::Text(n.to_string())),
            Value::Bool(b) => Ok(SqlValue::Text(b.to_string())),
            _ => Err("a string"),
        },
        ParamType::Integer => value
            .as_i64()
            .or_else(|| text.and_then(|t| t.trim().parse::<i64>().ok()))
            .map(SqlValue::Integer)
            .ok_or("an integer"),
        ParamType::Number => value
            .as_f64()
            .or_else(|| text.and_then(|t| t.trim().parse::<f64>().ok()))
            .filter(|f| f.is_finite())
            .map(SqlValue::Number)
            .ok_or("a number"),
        ParamType::Decimal => {
            let t = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err("a decimal number"),
            };
            if is_decimal(&t) {
                Ok(SqlValue::Decimal(t))
            } else {
                Err("a decimal number")
            }
        }
        ParamType::Boolean => match value {
            Value::Bool(b) => Ok(SqlValue::Boolean(*b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => {
                Ok(SqlValue::Boolean(true))
            }
            Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => {
                Ok(SqlValue::Boolean(false))
            }
            _ => Err("true or false"),
        },
        ParamType::Date => text
            .and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok())
            .map(SqlValue::Date)
            .ok_or("a date (YYYY-MM-DD)"),
        ParamType::Timestamp => text
            .and_then(|t| {
                let t = t.trim();
                NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
                    .ok()
            })
            .map(SqlValue::Timestamp)
            .ok_or("a timestamp (YYYY-MM-DDTHH:MM:SS)"),
    }
}

/// `-12`, `3.50`, `+0.1`: digits with at most one point, at most 38 digits.
fn is_decimal(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let mut points = 0;
    let mut count = 0;
    for c in digits.chars() {
        match c {
            '.' => points += 1,
            '0'..='9' => count += 1,
            _ => return false,
        }
    }
    points <= 1 && (1..=38).contains(&count)
}

/// Ferry's type for an SQL type name as MI and JDBC write it (`VARCHAR`, `INTEGER`,
/// `DOUBLE`, ...) or Ferry's own lower-case name; `None` for one Ferry cannot bind.
pub fn type_from_sql_name(name: &str) -> Option<ParamType> {
    Some(match name.trim().to_ascii_uppercase().as_str() {
        "STRING" | "VARCHAR" | "CHAR" | "NCHAR" | "NVARCHAR" | "LONGVARCHAR" | "TEXT" | "CLOB" => {
            ParamType::String
        }
        "INTEGER" | "INT" | "BIGINT" | "SMALLINT" | "TINYINT" | "LONG" | "SHORT" => {
            ParamType::Integer
        }
        "DOUBLE" | "FLOAT" | "REAL" | "NUMBER" => ParamType::Number,
        "NUMERIC" | "DECIMAL" => ParamType::Decimal,
        "BOOLEAN" | "BIT" => ParamType::Boolean,
        "DATE" => ParamType::Date,
        "TIMESTAMP" | "DATETIME" => ParamType::Timestamp,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(type_: ParamType) -> Param {
        Param {
            optional: false,
            ..Param::plain("p", type_)
        }
    }

    #[test]
    fn path_text_converts_to_the_declared_type() {
        let p = param(ParamType::Integer);
        assert_eq!(p.bind_value(Some(&json!("42"))), Ok(SqlValue::Integer(42)));
        assert_eq!(p.bind_value(Some(&json!(42))), Ok(SqlValue::Integer(42)));
        assert!(p.bind_value(Some(&json!("1 OR 1=1"))).is_err());
        assert!(p.bind_value(Some(&json!("1.5"))).is_err());
    }

    #[test]
    fn missing_values_take_the_default_else_fail_or_bind_null() {
        let mut p = param(ParamType::String);
        assert_eq!(
            p.bind_value(None),
            Err("parameter \"p\" is required".to_string())
        );
        p.optional = true;
        assert_eq!(p.bind_value(None), Ok(SqlValue::Null(ParamType::String)));
        p.default = Some(SqlValue::Text("x".into()));
        assert_eq!(p.bind_value(None), Ok(SqlValue::Text("x".into())));
    }

    #[test]
    fn validation_rules_are_applied() {
        let mut p = param(ParamType::Integer);
        p.minimum = Some(1.0);
        p.maximum = Some(100.0);
        assert!(p.bind_value(Some(&json!(0))).is_err());
        assert!(p.bind_value(Some(&json!(101))).is_err());
        let mut s = param(ParamType::String);
        s.max_length = Some(3);
        assert!(s.bind_value(Some(&json!("äöü"))).is_ok());
        assert!(s.bind_value(Some(&json!("abcd"))).is_err());
        s.allowed = vec!["a".into()];
        assert!(s.bind_value(Some(&json!("b"))).is_err());
    }

    #[test]
    fn dates_decimals_and_booleans_parse_strictly() {
        assert!(convert(&json!("2025-04-02"), ParamType::Date).is_ok());
        assert!(convert(&json!("2025-02-30"), ParamType::Date).is_err());
        assert!(convert(&json!("2025-04-02T09:30:00"), ParamType::Timestamp).is_ok());
        assert_eq!(
            convert(&json!("12.50"), ParamType::Decimal),
            Ok(SqlValue::Decimal("12.50".into()))
        );
        assert!(convert(&json!("1e5"), ParamType::Decimal).is_err());
        assert!(convert(&json!("yes"), ParamType::Boolean).is_err());
        assert!(convert(&json!({"a": 1}), ParamType::String).is_err());
    }

    #[test]
    fn sql_type_names_of_mi_map_to_ferry_types() {
        assert_eq!(type_from_sql_name("varchar"), Some(ParamType::String));
        assert_eq!(type_from_sql_name("BIGINT"), Some(ParamType::Integer));
        assert_eq!(type_from_sql_name("BLOB"), None);
    }
}
