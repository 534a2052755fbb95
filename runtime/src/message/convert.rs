//! JSON ⇄ XML conversion by the Synapse / Micro Integrator rules.
//!
//! A JSON payload is turned into XML only when something needs the XML view (XPath,
//! an XML-only mediator, `messageType=application/xml` on the way out), and an XML
//! payload into JSON only when the JSON view is needed (`${payload...}` on XML, output as
//! `application/json`). `Payload` calls these functions and caches the result. Every rule
//! is written down, with an example, in `docs/json-xml.md`.

use regex::Regex;
use serde_json::{Map, Number, Value};

use crate::xml::{Attribute, Element, NamespaceDecl, Node, QName, is_name_char, is_name_start};

pub(crate) mod json_cursor;
pub(crate) mod json_out;
pub(crate) mod xml_out;

/// The root element of a JSON object converted to XML.
pub const JSON_OBJECT: &str = "jsonObject";
/// The root element of a top-level JSON array converted to XML.
pub const JSON_ARRAY: &str = "jsonArray";
/// The element of each item of an anonymous (top-level or nested) array.
pub const JSON_ELEMENT: &str = "jsonElement";
/// The processing instruction that marks the elements following it as a JSON array.
pub const XML_MULTIPLE: &str = "xml-multiple";
/// Prefix given to keys that start with a digit (`32X32` → `_JsonReader_PD_32X32`).
pub const PRECEDING_DIGIT: &str = "_JsonReader_PD_";
/// Replacement for a leading `$` (`$key` → `_JsonReader_PS_key`).
pub const PRECEDING_DOLLAR: &str = "_JsonReader_PS_";
/// The XML Schema instance namespace (`xsi:nil`).
pub const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// How JSON and XML are converted into each other. `Default` gives Micro Integrator's
/// defaults; each field names the MI setting it mirrors.
#[derive(Debug, Clone)]
pub struct ConversionOptions {
    /// XML → JSON: text that looks like a number, `true`, `false` or `null` becomes that
    /// JSON primitive (`synapse.commons.json.output.autoPrimitive`, default on).
    pub auto_primitive: bool,
    /// XML → JSON: text matching this regex stays a string even with `auto_primitive`
    /// (`synapse.commons.json.output.disableAutoPrimitive.regex`, default none).
    pub disable_auto_primitive_regex: Option<Regex>,
    /// XML → JSON: keep namespace prefixes in keys, as `prefix{separator}local`
    /// (`synapse.commons.json.preserve.namespace`, default off: prefixes are dropped).
    pub preserve_namespace: bool,
    /// XML → JSON: the separator between prefix and local name when prefixes are kept
    /// (`synapse.commons.json.output.namespaceSepChar`, default `_`).
    pub namespace_separator: char,
    /// XML → JSON: write namespace declarations as `@xmlns` / `@xmlns{separator}p` keys
    /// (`synapse.commons.json.output.enableNSDeclarations`, default off).
    pub namespace_declarations: bool,
    /// XML → JSON: an empty element becomes `null` (on) or `""` (off)
    /// (`synapse.commons.enableXmlNullForEmptyElement`, default on).
    pub empty_element_as_null: bool,
    /// Both ways: JSON `null` ⇄ an element with `xsi:nil="true"`; with it on, an empty
    /// element becomes `""` (`synapse.commons.enableXmlNilReadWrite`, default off).
    pub xml_nil: bool,
    /// JSON → XML: characters not allowed in XML names are written as `_JsonReader_<code>_`
    /// instead of failing the conversion (`synapse.commons.json.buildValidNCNames`,
    /// default off).
    pub build_valid_nc_names: bool,
    /// XML → JSON: repeated sibling elements become one array
    /// (`synapse.commons.json.output.jsonoutAutoArray`, default on).
    pub auto_array: bool,
    /// JSON → XML: write `<?xml-multiple name?>` before array items so that one-element
    /// and empty arrays survive the way back (what MI's `JsonBuilder` does; default on).
    pub xml_multiple_pi: bool,
}

impl Default for ConversionOptions {
    fn default() -> Self {
        ConversionOptions {
            auto_primitive: true,
            disable_auto_primitive_regex: None,
            preserve_namespace: false,
            namespace_separator: '_',
            namespace_declarations: false,
            empty_element_as_null: true,
            xml_nil: false,
            build_valid_nc_names: false,
            auto_array: true,
            xml_multiple_pi: true,
        }
    }
}

/// A JSON value that cannot be expressed as XML (a key that is no XML name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert JSON to XML: {0}")]
pub struct ConvertError(pub String);

// === JSON → XML ===

/// Converts a JSON value into its XML form: objects under `<jsonObject>`, top-level arrays
/// under `<jsonArray>` with one `<jsonElement>` per item, a bare scalar as the text of
/// `<jsonObject>`.
pub fn json_to_xml(value: &Value, options: &ConversionOptions) -> Result<Element, ConvertError> {
    match value {
        Value::Array(items) => anonymous_array(items, options),
        other => {
            let mut root = Element::new(JSON_OBJECT);
            fill(&mut root, other, options)?;
            Ok(root)
        }
    }
}

fn anonymous_array(items: &[Value], options: &ConversionOptions) -> Result<Element, ConvertError> {
    let mut array = Element::new(JSON_ARRAY);
    push_items(&mut array, JSON_ELEMENT, items, options)?;
    Ok(array)
}

fn push_items(
    parent: &mut Element,
    name: &str,
    items: &[Value],
    options: &ConversionOptions,
) -> Result<(), ConvertError> {
    if options.xml_multiple_pi {
        parent.children.push(Node::ProcessingInstruction {
            target: XML_MULTIPLE.to_owned(),
            data: name.to_owned(),
        });
    }
    for item in items {
        let mut element = Element::new(name);
        fill(&mut element, item, options)?;
        parent.push_child(element);
    }
    Ok(())
}

/// Writes `value` as the content of `element`.
fn fill(
    element: &mut Element,
    value: &Value,
    options: &ConversionOptions,
) -> Result<(), ConvertError> {
    match value {
        Value::Null if options.xml_nil => {
            element.namespaces.push(NamespaceDecl {
                prefix: Some("xsi".into()),
                uri: XSI_NAMESPACE.into(),
            });
            element.attributes.push(Attribute {
                name: QName::namespaced(Some("xsi"), "nil", XSI_NAMESPACE),
                value: "true".into(),
            });
        }
        Value::Null => {}
        Value::Bool(b) => element.push_text(b.to_string()),
        Value::Number(n) => element.push_text(n.to_string()),
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => element.push_text(s.as_str()),
        // An array directly inside an array item: wrap it, as Synapse does.
        Value::Array(items) => element.push_child(anonymous_array(items, options)?),
        Value::Object(map) => {
            for (key, item) in map {
                // The StAXON mapping convention: `@x` is an attribute, `$` the text.
                if let Some(attr) = key.strip_prefix('@').filter(|a| !a.is_empty()) {
                    let name = xml_name(attr, options)?;
                    element.attributes.push(Attribute {
                        name: QName::local(name),
                        value: scalar_text(item),
                    });
                } else if key == "$" {
                    element.push_text(scalar_text(item));
                } else {
                    let name = xml_name(key, options)?;
                    match item {
                        Value::Array(items) => push_items(element, &name, items, options)?,
                        other => {
                            let mut child = Element::new(name);
                            fill(&mut child, other, options)?;
                            element.push_child(child);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Turns a JSON key into an XML element name by the Synapse rules.
pub fn xml_name(key: &str, options: &ConversionOptions) -> Result<String, ConvertError> {
    let mut name = String::with_capacity(key.len() + PRECEDING_DIGIT.len());
    let rest = if key.starts_with(|c: char| c.is_ascii_digit()) {
        name.push_str(PRECEDING_DIGIT);
        key
    } else if let Some(rest) = key.strip_prefix('$') {
        name.push_str(PRECEDING_DOLLAR);
        rest
    } else {
        key
    };
    for c in rest.chars() {
        let valid = if name.is_empty() {
            is_name_start(c)
        } else {
            is_name_char(c)
        };
        if valid {
            name.push(c);
        } else if options.build_valid_nc_names {
            name.push_str(&format!("_JsonReader_{}_", u32::from(c)));
        } else {
            return Err(ConvertError(format!(
                "the key {key:?} is not a valid XML name"
            )));
        }
    }
    if name.is_empty() {
        return Err(ConvertError("an empty key is not a valid XML name".into()));
    }
    Ok(name)
}

/// Turns an XML local name back into the JSON key it came from.
pub fn json_key(local: &str) -> String {
    let (mut key, rest) = if let Some(rest) = local.strip_prefix(PRECEDING_DIGIT) {
        (String::new(), rest)
    } else if let Some(rest) = local.strip_prefix(PRECEDING_DOLLAR) {
        (String::from("$"), rest)
    } else {
        (String::new(), local)
    };
    decode_code_points(rest, &mut key);
    key
}

/// Replaces `_JsonReader_<code>_` (any letter case, as MI writes both) by the character.
fn decode_code_points(mut rest: &str, out: &mut String) {
    const MARK: &str = "_jsonreader_";
    while let Some(pos) = find_ascii_ci(rest, MARK) {
        let after = &rest[pos + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let decoded = (digits > 0 && after[digits..].starts_with('_'))
            .then(|| after[..digits].parse::<u32>().ok().and_then(char::from_u32))
            .flatten();
        match decoded {
            Some(c) => {
                out.push_str(&rest[..pos]);
                out.push(c);
                rest = &after[digits + 1..];
            }
            None => {
                out.push_str(&rest[..pos + MARK.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

// === XML → JSON ===

/// Converts an XML element into JSON: `<jsonObject>` and `<jsonArray>` roots are unwrapped,
/// any other root becomes a one-key object named after it.
pub fn xml_to_json(root: &Element, options: &ConversionOptions) -> Value {
    if root.name.namespace.is_none() && root.attributes.is_empty() {
        if root.name.local == JSON_ARRAY {
            return Value::Array(array_items(root, options));
        }
        if root.name.local == JSON_OBJECT {
            return match element_value(root, options) {
                // `<jsonObject/>` is the empty object, not an empty value.
                Value::Null if root.children.is_empty() => Value::Object(Map::new()),
                Value::String(s) if s.is_empty() && root.children.is_empty() => {
                    Value::Object(Map::new())
                }
                other => other,
            };
        }
    }
    let mut map = Map::new();
    map.insert(key_of(&root.name, options), element_value(root, options));
    Value::Object(map)
}

fn array_items(array: &Element, options: &ConversionOptions) -> Vec<Value> {
    array
        .child_elements()
        .map(|item| element_value(item, options))
        .collect()
}

fn key_of(name: &QName, options: &ConversionOptions) -> String {
    let local = json_key(&name.local);
    match (&name.prefix, options.preserve_namespace) {
        (Some(p), true) => format!("{p}{}{local}", options.namespace_separator),
        _ => local,
    }
}

fn element_value(element: &Element, options: &ConversionOptions) -> Value {
    if options.xml_nil
        && element.attributes.iter().any(|a| {
            a.name.local == "nil"
                && a.value == "true"
                && matches!(a.name.namespace.as_deref(), None | Some(XSI_NAMESPACE))
        })
    {
        return Value::Null;
    }
    let mut map = Map::new();
    if options.namespace_declarations {
        for decl in &element.namespaces {
            let key = match &decl.prefix {
                Some(p) => format!("@xmlns{}{p}", options.namespace_separator),
                None => "@xmlns".to_owned(),
            };
            map.insert(key, Value::String(decl.uri.clone()));
        }
    }
    for attr in &element.attributes {
        map.insert(
            format!("@{}", key_of(&attr.name, options)),
            Value::String(attr.value.clone()),
        );
    }

    let structured = element.children.iter().any(|n| match n {
        Node::Element(_) => true,
        Node::ProcessingInstruction { target, .. } => target == XML_MULTIPLE,
        _ => false,
    });
    if !structured {
        let text = element.text();
        if map.is_empty() {
            return leaf_value(&text, options);
        }
        if !text.is_empty() {
            map.insert("$".into(), primitive(&text, options));
        }
        return Value::Object(map);
    }

    // An item holding a nested anonymous array: the array is the value.
    let mut elements = element.child_elements();
    if let (Some(only), None) = (elements.next(), elements.next())
        && only.name.local == JSON_ARRAY
        && only.name.namespace.is_none()
        && map.is_empty()
        && mixed_text(element).is_empty()
    {
        return Value::Array(array_items(only, options));
    }

    // Group children by key, in first-seen order; `<?xml-multiple?>` forces an array.
    let mut groups: Vec<(String, Vec<Value>, bool)> = Vec::new();
    let mut pending_unnamed = false;
    for node in &element.children {
        match node {
            Node::ProcessingInstruction { target, data } if target == XML_MULTIPLE => {
                if data.is_empty() {
                    pending_unnamed = true;
                } else {
                    let key = json_key(data);
                    group_for(&mut groups, &key).2 = true;
                }
            }
            Node::Element(child) => {
                let key = key_of(&child.name, options);
                let group = group_for(&mut groups, &key);
                group.1.push(element_value(child, options));
                if std::mem::take(&mut pending_unnamed) {
                    group.2 = true;
                }
            }
            _ => {}
        }
    }
    for (key, mut values, multiple) in groups {
        let value = if multiple || (options.auto_array && values.len() > 1) {
            Value::Array(values)
        } else {
            // Without auto-array a repeated name keeps its last value, as object keys do.
            values.pop().unwrap_or(Value::Null)
        };
        map.insert(key, value);
    }
    // Mixed content is refused by Synapse; we keep its text under `$` instead.
    let text = mixed_text(element);
    if !text.is_empty() {
        map.insert("$".into(), primitive(&text, options));
    }
    Value::Object(map)
}

fn group_for<'a>(
    groups: &'a mut Vec<(String, Vec<Value>, bool)>,
    key: &str,
) -> &'a mut (String, Vec<Value>, bool) {
    let index = match groups.iter().position(|g| g.0 == key) {
        Some(i) => i,
        None => {
            groups.push((key.to_owned(), Vec::new(), false));
            groups.len() - 1
        }
    };
    &mut groups[index]
}

/// The text directly inside an element with element children, whitespace-only runs dropped.
fn mixed_text(element: &Element) -> String {
    let mut out = String::new();
    for node in &element.children {
        if let Node::Text(t) | Node::CData(t) = node
            && !t.trim().is_empty()
        {
            out.push_str(t.trim());
        }
    }
    out
}

fn leaf_value(text: &str, options: &ConversionOptions) -> Value {
    if text.is_empty() {
        if options.empty_element_as_null && !options.xml_nil {
            Value::Null
        } else {
            Value::String(String::new())
        }
    } else {
        primitive(text, options)
    }
}

/// Auto-primitive detection: `true`, `false`, `null` and JSON-style numbers.
pub fn primitive(text: &str, options: &ConversionOptions) -> Value {
    if !options.auto_primitive
        || options
            .disable_auto_primitive_regex
            .as_ref()
            .is_some_and(|re| re.is_match(text))
    {
        return Value::String(text.to_owned());
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => number(text).map_or_else(|| Value::String(text.to_owned()), Value::Number),
    }
}

/// Parses the JSON number grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
/// Integers that do not fit 64 bits stay strings rather than lose digits.
fn number(text: &str) -> Option<Number> {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (int_len > 1 && bytes[int_start] == b'0') {
        return None;
    }
    let mut integer = true;
    if i < bytes.len() && bytes[i] == b'.' {
        integer = false;
        i += 1;
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        integer = false;
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    if integer {
        if let Ok(n) = text.parse::<i64>() {
            return Some(n.into());
        }
        return text.parse::<u64>().ok().map(Number::from);
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod direct_tests;
#[cfg(test)]
mod tests;
