//! Check of the `jsonTransform` mediator: its `properties` are Synapse's XML → JSON
//! conversion settings (`synapse.commons.json.*`), each parsed here into a typed setting
//! of Ferry's converter; a name Ferry's converter has no counterpart for is a located
//! error. The `schema` (a JSON Schema in a LocalEntry) is read here too.

use serde_json::Value;

use crate::check::cx::Cx;
use crate::check::local_entry::Content;
use crate::mediator::JsonTransformSpec;

/// A checked `jsonTransform`.
#[derive(Debug, Clone)]
pub struct JsonTransform {
    /// Conversion settings that differ from the runtime's, in the order written.
    pub settings: Vec<JsonSetting>,
    /// The JSON Schema the result is shaped by (types, arrays), when given.
    pub schema: Option<Value>,
}

/// One XML → JSON conversion setting.
#[derive(Debug, Clone)]
pub enum JsonSetting {
    /// `synapse.commons.json.output.autoPrimitive`
    AutoPrimitive(bool),
    /// `synapse.commons.json.output.disableAutoPrimitive.regex`
    DisableAutoPrimitiveRegex(regex::Regex),
    /// `synapse.commons.json.preserve.namespace`
    PreserveNamespace(bool),
    /// `synapse.commons.json.output.namespaceSepChar`
    NamespaceSeparator(char),
    /// `synapse.commons.json.output.enableNSDeclarations`
    NamespaceDeclarations(bool),
    /// `synapse.commons.enableXmlNullForEmptyElement`
    EmptyElementAsNull(bool),
    /// `synapse.commons.enableXmlNilReadWrite`
    XmlNil(bool),
    /// `synapse.commons.json.output.jsonoutAutoArray`
    AutoArray(bool),
}

/// The property names Ferry's converter honours.
pub const SUPPORTED: [&str; 8] = [
    "synapse.commons.json.output.autoPrimitive",
    "synapse.commons.json.output.disableAutoPrimitive.regex",
    "synapse.commons.json.preserve.namespace",
    "synapse.commons.json.output.namespaceSepChar",
    "synapse.commons.json.output.enableNSDeclarations",
    "synapse.commons.enableXmlNullForEmptyElement",
    "synapse.commons.enableXmlNilReadWrite",
    "synapse.commons.json.output.jsonoutAutoArray",
];

pub(super) fn json_transform(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &JsonTransformSpec,
) -> Option<JsonTransform> {
    let before = cx.error_count();
    let mut settings = Vec::with_capacity(spec.properties.len());
    for (i, p) in spec.properties.iter().enumerate() {
        let pf = format!("{field}.properties[{i}]");
        let Some(value) = p.value.as_deref() else {
            cx.error(
                &pf,
                "give the setting as a literal value (settings are fixed when the configuration loads)",
            );
            continue;
        };
        if p.expression.is_some() {
            cx.error(&pf, "set value, not expression");
            continue;
        }
        if let Some(s) = setting(cx, &pf, &p.name, value.trim()) {
            settings.push(s);
        }
    }
    let schema = match &spec.schema {
        None => None,
        Some(key) => {
            let sf = format!("{field}.schema");
            match cx.local_entry(&sf, key) {
                Some(Content::Json(v)) if v.is_object() => Some(v),
                Some(Content::Text(t)) => match serde_json::from_str::<Value>(&t) {
                    Ok(v) if v.is_object() => Some(v),
                    _ => {
                        cx.error(
                            &sf,
                            format!("local entry \"{key}\" is not a JSON Schema object"),
                        );
                        None
                    }
                },
                Some(_) => {
                    cx.error(
                        &sf,
                        format!("local entry \"{key}\" is not a JSON Schema object"),
                    );
                    None
                }
                None => None,
            }
        }
    };
    if cx.error_count() > before || (spec.schema.is_some() && schema.is_none()) {
        return None;
    }
    Some(JsonTransform { settings, schema })
}

fn setting(cx: &mut Cx<'_>, field: &str, name: &str, value: &str) -> Option<JsonSetting> {
    let flag = |cx: &mut Cx<'_>| match value.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            cx.error(
                &format!("{field}.value"),
                format!("{name} takes true or false, not {value:?}"),
            );
            None
        }
    };
    Some(match name {
        "synapse.commons.json.output.autoPrimitive" => JsonSetting::AutoPrimitive(flag(cx)?),
        "synapse.commons.json.output.disableAutoPrimitive.regex" => {
            JsonSetting::DisableAutoPrimitiveRegex(cx.regex(&format!("{field}.value"), value)?)
        }
        "synapse.commons.json.preserve.namespace" => JsonSetting::PreserveNamespace(flag(cx)?),
        "synapse.commons.json.output.namespaceSepChar" => {
            let mut chars = value.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => JsonSetting::NamespaceSeparator(c),
                _ => {
                    cx.error(
                        &format!("{field}.value"),
                        format!("{name} takes one character, not {value:?}"),
                    );
                    return None;
                }
            }
        }
        "synapse.commons.json.output.enableNSDeclarations" => {
            JsonSetting::NamespaceDeclarations(flag(cx)?)
        }
        "synapse.commons.enableXmlNullForEmptyElement" => {
            JsonSetting::EmptyElementAsNull(flag(cx)?)
        }
        "synapse.commons.enableXmlNilReadWrite" => JsonSetting::XmlNil(flag(cx)?),
        "synapse.commons.json.output.jsonoutAutoArray" => JsonSetting::AutoArray(flag(cx)?),
        other => {
            cx.error(
                &format!("{field}.name"),
                format!(
                    "{other:?} is not a conversion setting Ferry's XML to JSON converter has; it has {}",
                    SUPPORTED.join(", ")
                ),
            );
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::bundle::{Source, load};

    fn check(transform: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: ferry.dev/v1alpha1
kind: LocalEntry
metadata: {{name: shape}}
spec: {{json: {{type: object}}}}
---
apiVersion: ferry.dev/v1alpha1
kind: LocalEntry
metadata: {{name: xsd}}
spec: {{xml: '<a/>'}}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: s}}
spec:
  mediators:
    - jsonTransform: {transform}
"
        );
        let (bundle, mut diagnostics) = load(&[Source {
            name: "j.yaml".into(),
            text: yaml,
        }]);
        diagnostics.extend(crate::validate::validate(&bundle));
        diagnostics.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn settings_the_converter_has_and_a_schema_entry_are_valid() {
        let ok = "{schema: shape, properties: [{name: synapse.commons.json.output.autoPrimitive, value: 'false'}, {name: synapse.commons.json.output.namespaceSepChar, value: ':'}]}";
        assert_eq!(check(ok), Vec::<String>::new());
    }

    #[test]
    fn unknown_settings_bad_values_and_bad_schemas_are_located_errors() {
        let cases = [
            (
                "{properties: [{name: synapse.commons.json.json.output.emptyXmlElemToEmptyStr, value: 'true'}]}",
                "j.yaml:16: Sequence/s spec.mediators[0].jsonTransform.properties[0].name: \"synapse.commons.json.json.output.emptyXmlElemToEmptyStr\" is not a conversion setting",
            ),
            (
                "{properties: [{name: synapse.commons.json.output.autoPrimitive, value: maybe}]}",
                "jsonTransform.properties[0].value: synapse.commons.json.output.autoPrimitive takes true or false",
            ),
            (
                "{properties: [{name: synapse.commons.json.output.autoPrimitive, expression: '${true}'}]}",
                "jsonTransform.properties[0]: give the setting as a literal value",
            ),
            (
                "{schema: xsd}",
                "jsonTransform.schema: local entry \"xsd\" is not a JSON Schema object",
            ),
            (
                "{schema: none}",
                "jsonTransform.schema: local entry \"none\" is not defined",
            ),
        ];
        for (t, expected) in cases {
            let d = check(t);
            assert_eq!(d.len(), 1, "{t}: {d:?}");
            assert!(d[0].contains(expected), "{t}: {d:?}");
        }
    }
}
