//! `jsonTransform`: converts the payload to JSON by Ferry's XML → JSON rules with the
//! mediator's own settings (built once, at load), shapes the result with a JSON Schema
//! when one is given, and makes JSON the output format (`messageType`), as Micro
//! Integrator's JSON Transform mediator does. The settings stay with the message, so its
//! later conversions follow them too.

use std::sync::Arc;

use ferry_api::check::mediator::{JsonSetting, JsonTransform as Checked};
use serde_json::{Map, Value};

use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::message::convert::ConversionOptions;
use crate::message::properties::{CONTENT_TYPE, MESSAGE_TYPE};
use crate::sequence::Flow;

/// A `jsonTransform` mediator.
pub struct JsonTransform {
    options: Arc<ConversionOptions>,
    schema: Option<Value>,
}

impl JsonTransform {
    /// Builds the conversion settings from the checked ones.
    pub fn build(c: &Checked) -> Self {
        let mut o = ConversionOptions::default();
        for s in &c.settings {
            match s {
                JsonSetting::AutoPrimitive(b) => o.auto_primitive = *b,
                JsonSetting::DisableAutoPrimitiveRegex(r) => {
                    o.disable_auto_primitive_regex = Some(r.clone())
                }
                JsonSetting::PreserveNamespace(b) => o.preserve_namespace = *b,
                JsonSetting::NamespaceSeparator(c) => o.namespace_separator = *c,
                JsonSetting::NamespaceDeclarations(b) => o.namespace_declarations = *b,
                JsonSetting::EmptyElementAsNull(b) => o.empty_element_as_null = *b,
                JsonSetting::XmlNil(b) => o.xml_nil = *b,
                JsonSetting::AutoArray(b) => o.auto_array = *b,
            }
        }
        JsonTransform {
            options: Arc::new(o),
            schema: c.schema.clone(),
        }
    }

    /// Converts the payload.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        if msg.is_payload_empty() {
            return Ok(Flow::Continue);
        }
        msg.set_conversion_options(Arc::clone(&self.options));
        let Some(json) = msg.payload_json().map_err(Fault::unreadable_payload)? else {
            return Ok(Flow::Continue);
        };
        let mut json = json.clone();
        if let Some(schema) = &self.schema {
            shape(&mut json, schema, "$")
                .map_err(|e| Fault::internal(codes::CUSTOM, format!("jsonTransform: {e}")))?;
        }
        msg.set_json(json);
        let json_type = Value::String("application/json".into());
        msg.set_property(PropertyScope::Axis2, MESSAGE_TYPE, json_type.clone());
        msg.set_property(PropertyScope::Axis2, CONTENT_TYPE, json_type);
        Ok(Flow::Continue)
    }
}

/// Makes `value` follow `schema`'s `type`s, as Synapse's schema-driven JSON conversion
/// does: text becomes the number or boolean a schema asks for, a primitive becomes text, a
/// single value becomes a one-item array; objects and arrays are followed through
/// `properties` and `items`. A value that cannot take the type asked for is an error
/// naming its path.
fn shape(value: &mut Value, schema: &Value, path: &str) -> Result<(), String> {
    let Some(ty) = schema.get("type").and_then(Value::as_str) else {
        return Ok(());
    };
    match ty {
        "object" => {
            if let (Value::Object(map), Some(Value::Object(props))) =
                (&mut *value, schema.get("properties"))
            {
                shape_members(map, props, path)?;
            }
        }
        "array" => {
            if !value.is_array() {
                // A null is an absent list (an empty element): no items.
                *value = match value.take() {
                    Value::Null => Value::Array(Vec::new()),
                    one => Value::Array(vec![one]),
                };
            }
            if let (Value::Array(items), Some(item_schema)) = (&mut *value, schema.get("items")) {
                for (i, item) in items.iter_mut().enumerate() {
                    shape(item, item_schema, &format!("{path}[{i}]"))?;
                }
            }
        }
        "string" => {
            if let Value::Number(_) | Value::Bool(_) = value {
                *value = Value::String(value.to_string());
            }
        }
        "integer" | "number" => {
            if let Value::String(s) = value {
                let parsed = if ty == "integer" {
                    s.trim().parse::<i64>().ok().map(Value::from)
                } else {
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                };
                *value = parsed.ok_or_else(|| {
                    format!(
                        "{path}: {s:?} is not a{} {ty}",
                        if ty == "integer" { "n" } else { "" }
                    )
                })?;
            } else if ty == "integer" && value.as_f64().is_some_and(|f| f.fract() != 0.0) {
                return Err(format!("{path}: {value} is not an integer"));
            }
        }
        "boolean" => {
            if let Value::String(s) = value {
                *value = match s.trim() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(format!("{path}: {s:?} is not a boolean")),
                };
            }
        }
        _ => {}
    }
    Ok(())
}

fn shape_members(
    map: &mut Map<String, Value>,
    props: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    for (name, member_schema) in props {
        if let Some(member) = map.get_mut(name) {
            shape(member, member_schema, &format!("{path}.{name}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::shape;

    #[test]
    fn values_take_the_types_the_schema_declares() {
        let schema = json!({"type": "object", "properties": {
            "id": {"type": "integer"}, "price": {"type": "number"}, "ok": {"type": "boolean"},
            "code": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "none": {"type": "array"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}}
        }});
        let mut v = json!({"id": "12", "price": "1.5", "ok": "true", "code": 7, "tags": 5,
            "none": null, "lines": {"qty": "3"}, "other": "x"});
        shape(&mut v, &schema, "$").unwrap();
        assert_eq!(
            v,
            json!({"id": 12, "price": 1.5, "ok": true, "code": "7", "tags": ["5"],
                "none": [], "lines": [{"qty": 3}], "other": "x"})
        );
    }

    #[test]
    fn a_value_that_cannot_take_its_type_is_an_error_at_its_path() {
        let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}}});
        let mut v = json!({"id": "x1"});
        assert_eq!(
            shape(&mut v, &schema, "$").unwrap_err(),
            "$.id: \"x1\" is not an integer"
        );
    }
}
