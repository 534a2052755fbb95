//! Message properties: the stored scopes of Synapse's property model.
//!
//! `Properties` holds the scopes that live with the message (`default`, `axis2`,
//! `axis2-client`, `operation`). The other scopes are views owned by `Message`:
//! `transport` is the message's headers, `env` the process environment (read-only) and
//! `system` the runtime configuration properties (read-only).
//!
//! Well-known properties Ferry honours (through `Message`):
//!
//! | scope | name | effect |
//! |---|---|---|
//! | axis2 | `HTTP_SC` | status of the response (`Message::status`, default 200) |
//! | axis2 | `HTTP_SC_DESC` | reason phrase of the response, stored for the transport |
//! | axis2 | `messageType` | output format: `application/json` on an XML body sends JSON |
//! | axis2 | `ContentType` | `Content-Type` written, when of the same kind as the format |
//! | axis2 | `REST_URL_POSTFIX` | path appended to an address endpoint, read by `call`/`send` |
//! | axis2 | `NO_ENTITY_BODY` | `true`: the message goes out without a body |
//! | axis2 | `HTTP_METHOD` | reads and sets the message's method |
//! | default | `MessageID` | the message id (`urn:uuid:…`) unless set |
//! | default | `To` | the request URI unless set |
//! | default | `ERROR_CODE`, `ERROR_MESSAGE`, `ERROR_DETAIL`, `ERROR_EXCEPTION` | set by fault handling, read by fault sequences |
//!
//! The axis2 scope belongs to one direction: `Message::set_response` starts it afresh.

use std::collections::HashMap;

use serde_json::Value;

use crate::expr::context::PropertyScope;
use crate::xml::Element;

/// `axis2`: the client's IP address, as Synapse sets it for HTTP requests.
pub const REMOTE_ADDR: &str = "REMOTE_ADDR";
/// `axis2`: response status code.
pub const HTTP_SC: &str = "HTTP_SC";
/// `axis2`: response reason phrase.
pub const HTTP_SC_DESC: &str = "HTTP_SC_DESC";
/// `axis2`: output format (picks JSON or XML serialisation).
pub const MESSAGE_TYPE: &str = "messageType";
/// `axis2`: the `Content-Type` to write.
pub const CONTENT_TYPE: &str = "ContentType";
/// `axis2`: path suffix appended to address endpoints.
pub const REST_URL_POSTFIX: &str = "REST_URL_POSTFIX";
/// `axis2`: send without a body.
pub const NO_ENTITY_BODY: &str = "NO_ENTITY_BODY";
/// `axis2`: the HTTP method.
pub const HTTP_METHOD: &str = "HTTP_METHOD";
/// `axis2`: answer the client 202 Accepted, with no body, when the in-flow ends.
pub const FORCE_SC_ACCEPTED: &str = "FORCE_SC_ACCEPTED";
/// `default`: no response is expected: `call` and `send` deliver without waiting.
pub const OUT_ONLY: &str = "OUT_ONLY";
/// `default`: on a stored message, the Endpoint a forwarding processor delivers it to.
pub const TARGET_ENDPOINT: &str = "target.endpoint";
/// `default`: the message id.
pub const MESSAGE_ID: &str = "MessageID";
/// `default`: the destination address.
pub const TO: &str = "To";
/// `default`: the Synapse error code of the last fault.
pub const ERROR_CODE: &str = "ERROR_CODE";
/// `default`: the message of the last fault.
pub const ERROR_MESSAGE: &str = "ERROR_MESSAGE";
/// `default`: details of the last fault.
pub const ERROR_DETAIL: &str = "ERROR_DETAIL";
/// `default`: the error behind the last fault.
pub const ERROR_EXCEPTION: &str = "ERROR_EXCEPTION";

/// One scope's properties. Names come from the configuration, not from requests, so a fast
/// hash is safe here (every request sets and reads a few of them).
type Scope = HashMap<String, Value, foldhash::fast::RandomState>;

/// The stored property scopes. Each map allocates only when first written.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    default: Scope,
    axis2: Scope,
    axis2_client: Scope,
    operation: Scope,
    /// `SYNAPSE_REST_API` and `REST_URL_POSTFIX`, which every REST request gets, kept out of
    /// the maps so that a request pays for no map unless its flow sets properties. They
    /// behave as any other property of their scope.
    rest_api: Option<Value>,
    url_postfix: Option<Value>,
}

/// `default`: the name of the REST API the message came through.
pub const SYNAPSE_REST_API: &str = "SYNAPSE_REST_API";

impl Properties {
    /// Sets the two properties every REST request starts with.
    pub fn set_rest(&mut self, api: &str, url_postfix: String) {
        self.rest_api = Some(Value::from(api));
        self.url_postfix = Some(Value::String(url_postfix));
    }

    fn slot(&self, scope: PropertyScope, name: &str) -> Option<&Option<Value>> {
        match scope {
            PropertyScope::Default if name == SYNAPSE_REST_API => Some(&self.rest_api),
            PropertyScope::Axis2 if name == REST_URL_POSTFIX => Some(&self.url_postfix),
            _ => None,
        }
    }

    fn slot_mut(&mut self, scope: PropertyScope, name: &str) -> Option<&mut Option<Value>> {
        match scope {
            PropertyScope::Default if name == SYNAPSE_REST_API => Some(&mut self.rest_api),
            PropertyScope::Axis2 if name == REST_URL_POSTFIX => Some(&mut self.url_postfix),
            _ => None,
        }
    }

    fn scope(&self, scope: PropertyScope) -> Option<&Scope> {
        match scope {
            PropertyScope::Default => Some(&self.default),
            PropertyScope::Axis2 => Some(&self.axis2),
            PropertyScope::Axis2Client => Some(&self.axis2_client),
            PropertyScope::Operation => Some(&self.operation),
            PropertyScope::Transport | PropertyScope::Env | PropertyScope::System => None,
        }
    }

    fn scope_mut(&mut self, scope: PropertyScope) -> Option<&mut Scope> {
        match scope {
            PropertyScope::Default => Some(&mut self.default),
            PropertyScope::Axis2 => Some(&mut self.axis2),
            PropertyScope::Axis2Client => Some(&mut self.axis2_client),
            PropertyScope::Operation => Some(&mut self.operation),
            PropertyScope::Transport | PropertyScope::Env | PropertyScope::System => None,
        }
    }

    /// A stored property; `None` for unset names and for the view scopes.
    pub fn get(&self, scope: PropertyScope, name: &str) -> Option<&Value> {
        if let Some(slot) = self.slot(scope, name) {
            return slot.as_ref();
        }
        self.scope(scope)?.get(name)
    }

    /// Stores a property; returns `false` (and stores nothing) for the view scopes.
    pub fn set(&mut self, scope: PropertyScope, name: &str, value: Value) -> bool {
        if let Some(slot) = self.slot_mut(scope, name) {
            *slot = Some(value);
            return true;
        }
        match self.scope_mut(scope) {
            Some(map) => {
                map.insert(name.to_owned(), value);
                true
            }
            None => false,
        }
    }

    /// Removes a stored property, returning it.
    pub fn remove(&mut self, scope: PropertyScope, name: &str) -> Option<Value> {
        if let Some(slot) = self.slot_mut(scope, name) {
            return slot.take();
        }
        self.scope_mut(scope)?.remove(name)
    }

    /// The stored properties of a scope, in no particular order.
    pub fn iter(&self, scope: PropertyScope) -> impl Iterator<Item = (&str, &Value)> {
        let (name, slot) = match scope {
            PropertyScope::Default => (SYNAPSE_REST_API, &self.rest_api),
            PropertyScope::Axis2 => (REST_URL_POSTFIX, &self.url_postfix),
            _ => ("", &None),
        };
        self.scope(scope)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
            .chain(slot.iter().map(move |v| (name, v)))
    }

    /// Forgets the whole axis2 scope (a new direction starts).
    pub fn clear_axis2(&mut self) {
        self.axis2.clear();
        self.url_postfix = None;
    }
}

/// The `type` of a property or variable (Synapse's `STRING`, `INTEGER`, ... `OM`, `JSON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// A string (the default).
    String,
    /// A 32-bit integer.
    Integer,
    /// A 64-bit integer.
    Long,
    /// A 16-bit integer.
    Short,
    /// A 64-bit float.
    Double,
    /// A 32-bit float.
    Float,
    /// `true` or `false` (case-insensitive; anything else is `false`, as in Java).
    Boolean,
    /// XML, stored as its serialised string.
    Om,
    /// JSON, stored as the parsed value.
    Json,
}

/// A value that does not fit the declared property type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert {value:?} to {ty}: {reason}")]
pub struct PropertyTypeError {
    /// The declared type.
    pub ty: &'static str,
    /// The value as given.
    pub value: String,
    /// Why it does not fit.
    pub reason: String,
}

impl PropertyType {
    /// Parses a Synapse type name (case-insensitive); `None` for unknown names.
    pub fn parse(name: &str) -> Option<PropertyType> {
        Some(match name.to_ascii_uppercase().as_str() {
            "STRING" => PropertyType::String,
            "INTEGER" | "INT" => PropertyType::Integer,
            "LONG" => PropertyType::Long,
            "SHORT" => PropertyType::Short,
            "DOUBLE" => PropertyType::Double,
            "FLOAT" => PropertyType::Float,
            "BOOLEAN" => PropertyType::Boolean,
            "OM" | "XML" => PropertyType::Om,
            "JSON" => PropertyType::Json,
            _ => return None,
        })
    }

    /// The Synapse name of the type.
    pub fn name(self) -> &'static str {
        match self {
            PropertyType::String => "STRING",
            PropertyType::Integer => "INTEGER",
            PropertyType::Long => "LONG",
            PropertyType::Short => "SHORT",
            PropertyType::Double => "DOUBLE",
            PropertyType::Float => "FLOAT",
            PropertyType::Boolean => "BOOLEAN",
            PropertyType::Om => "OM",
            PropertyType::Json => "JSON",
        }
    }

    /// Converts a string value into the JSON value stored for this type.
    pub fn convert(self, raw: &str) -> Result<Value, PropertyTypeError> {
        let fail = |reason: String| PropertyTypeError {
            ty: self.name(),
            value: raw.to_owned(),
            reason,
        };
        let trimmed = raw.trim();
        Ok(match self {
            PropertyType::String => Value::String(raw.to_owned()),
            PropertyType::Integer => trimmed
                .parse::<i32>()
                .map_err(|e| fail(e.to_string()))?
                .into(),
            PropertyType::Long => trimmed
                .parse::<i64>()
                .map_err(|e| fail(e.to_string()))?
                .into(),
            PropertyType::Short => trimmed
                .parse::<i16>()
                .map_err(|e| fail(e.to_string()))?
                .into(),
            PropertyType::Double | PropertyType::Float => {
                let f = trimmed.parse::<f64>().map_err(|e| fail(e.to_string()))?;
                let f = if self == PropertyType::Float {
                    f64::from(f as f32)
                } else {
                    f
                };
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| fail("not a finite number".into()))?
            }
            PropertyType::Boolean => Value::Bool(trimmed.eq_ignore_ascii_case("true")),
            PropertyType::Om => {
                let element = Element::parse(raw.as_bytes()).map_err(|e| fail(e.to_string()))?;
                Value::String(element.to_xml_string())
            }
            PropertyType::Json => serde_json::from_str(raw).map_err(|e| fail(e.to_string()))?,
        })
    }
}

/// A property value as a string, the way Synapse prints it (strings unquoted).
pub fn value_to_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_scopes_are_independent() {
        let mut p = Properties::default();
        assert!(p.set(PropertyScope::Default, "x", json!(1)));
        assert!(p.set(PropertyScope::Axis2, "x", json!(2)));
        assert!(p.set(PropertyScope::Operation, "x", json!(3)));
        assert!(p.set(PropertyScope::Axis2Client, "x", json!(4)));
        assert_eq!(p.get(PropertyScope::Default, "x"), Some(&json!(1)));
        assert_eq!(p.get(PropertyScope::Axis2, "x"), Some(&json!(2)));
        assert_eq!(p.get(PropertyScope::Operation, "x"), Some(&json!(3)));
        assert_eq!(p.get(PropertyScope::Axis2Client, "x"), Some(&json!(4)));
        assert_eq!(p.remove(PropertyScope::Default, "x"), Some(json!(1)));
        assert_eq!(p.get(PropertyScope::Default, "x"), None);
        assert_eq!(p.iter(PropertyScope::Axis2).count(), 1);
        p.clear_axis2();
        assert_eq!(p.get(PropertyScope::Axis2, "x"), None);
        assert_eq!(p.get(PropertyScope::Operation, "x"), Some(&json!(3)));
    }

    #[test]
    fn view_scopes_are_not_stored() {
        let mut p = Properties::default();
        assert!(!p.set(PropertyScope::Transport, "x", json!(1)));
        assert!(!p.set(PropertyScope::Env, "x", json!(1)));
        assert!(!p.set(PropertyScope::System, "x", json!(1)));
        assert_eq!(p.get(PropertyScope::Transport, "x"), None);
    }

    #[test]
    fn typed_values_become_json_values() {
        assert_eq!(PropertyType::String.convert(" 42 ").unwrap(), json!(" 42 "));
        assert_eq!(PropertyType::Integer.convert(" 42 ").unwrap(), json!(42));
        assert_eq!(
            PropertyType::Long.convert("9000000000").unwrap(),
            json!(9_000_000_000_i64)
        );
        assert_eq!(PropertyType::Short.convert("-7").unwrap(), json!(-7));
        assert_eq!(PropertyType::Double.convert("1.25").unwrap(), json!(1.25));
        assert_eq!(PropertyType::Float.convert("0.5").unwrap(), json!(0.5));
        assert_eq!(PropertyType::Boolean.convert("TRUE").unwrap(), json!(true));
        assert_eq!(PropertyType::Boolean.convert("yes").unwrap(), json!(false));
        assert_eq!(
            PropertyType::Json.convert(r#"{"a":[1]}"#).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(
            PropertyType::Om.convert("<a  x='1'>t</a>").unwrap(),
            json!(r#"<a x="1">t</a>"#)
        );
    }

    #[test]
    fn values_that_do_not_fit_the_type_are_errors() {
        assert!(PropertyType::Integer.convert("3000000000").is_err());
        assert!(PropertyType::Short.convert("40000").is_err());
        assert!(PropertyType::Double.convert("abc").is_err());
        assert!(PropertyType::Om.convert("<a>").is_err());
        let err = PropertyType::Json.convert("{").unwrap_err();
        assert_eq!(err.ty, "JSON");
    }

    #[test]
    fn type_names_parse_case_insensitively() {
        assert_eq!(PropertyType::parse("integer"), Some(PropertyType::Integer));
        assert_eq!(PropertyType::parse("OM"), Some(PropertyType::Om));
        assert_eq!(PropertyType::parse("json"), Some(PropertyType::Json));
        assert_eq!(PropertyType::parse("nope"), None);
    }

    #[test]
    fn values_print_as_synapse_strings() {
        assert_eq!(value_to_string(&json!("a")), "a");
        assert_eq!(value_to_string(&json!(1)), "1");
        assert_eq!(value_to_string(&json!(null)), "");
        assert_eq!(value_to_string(&json!({"a": true})), r#"{"a":true}"#);
    }

    #[test]
    fn the_rest_properties_behave_as_stored_ones() {
        let mut p = Properties::default();
        p.set_rest("orders", "/7".to_owned());
        assert_eq!(
            p.get(PropertyScope::Default, SYNAPSE_REST_API),
            Some(&json!("orders"))
        );
        assert_eq!(
            p.get(PropertyScope::Axis2, REST_URL_POSTFIX),
            Some(&json!("/7"))
        );
        // Only in their own scope.
        assert_eq!(p.get(PropertyScope::Axis2, SYNAPSE_REST_API), None);
        assert_eq!(p.get(PropertyScope::Default, REST_URL_POSTFIX), None);
        let names: Vec<&str> = p.iter(PropertyScope::Default).map(|(k, _)| k).collect();
        assert_eq!(names, [SYNAPSE_REST_API]);

        assert!(p.set(PropertyScope::Axis2, REST_URL_POSTFIX, json!("/8")));
        assert_eq!(
            p.get(PropertyScope::Axis2, REST_URL_POSTFIX),
            Some(&json!("/8"))
        );
        assert_eq!(p.iter(PropertyScope::Axis2).count(), 1);

        assert_eq!(
            p.remove(PropertyScope::Default, SYNAPSE_REST_API),
            Some(json!("orders"))
        );
        assert_eq!(p.get(PropertyScope::Default, SYNAPSE_REST_API), None);
        assert_eq!(p.iter(PropertyScope::Default).count(), 0);

        p.clear_axis2();
        assert_eq!(p.get(PropertyScope::Axis2, REST_URL_POSTFIX), None);
    }
}
