//! Assertions of `ferry test`: whole bodies compared as JSON, XML or text (with a line diff
//! when they differ), and values read from a message by JSONPath, XPath or a Synapse
//! expression, compared with `equals`, `contains`, `matches` or `exists`.

use bytes::Bytes;
use ferry_api::expr::Expression;
use ferry_api::resources::test_suite::{Body as BodySpec, ValueAssertion};
use serde_json::Value;

use crate::expr::value::{eval, to_text};
use crate::message::Message;

/// A failed assertion: what failed, and the diff or detail that shows why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line: what was expected and what came.
    pub message: String,
    /// More lines (a diff), if any.
    pub detail: Option<String>,
}

impl Failure {
    /// A failure with no detail.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            detail: None,
        }
    }

    fn with_detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// JSON equality where numbers compare by value (`7000` equals `7000.0`) and object keys
/// in any order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Pretty JSON with keys sorted, so two documents diff line by line.
fn pretty_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(value)).unwrap_or_default()
}

/// Compares a whole body with the expected one.
pub fn check_body(what: &str, expected: &BodySpec, actual: &Bytes) -> Option<Failure> {
    if let Some(want) = &expected.json {
        let got: Value = match serde_json::from_slice(actual) {
            Ok(v) => v,
            Err(e) => {
                return Some(
                    Failure::new(format!(
                        "{what}: expected JSON, got a body that is not: {e}"
                    ))
                    .with_detail(indent(&String::from_utf8_lossy(actual))),
                );
            }
        };
        if json_equal(want, &got) {
            return None;
        }
        return Some(
            Failure::new(format!("{what}: the JSON differs (- expected, + actual)"))
                .with_detail(diff(&pretty_json(want), &pretty_json(&got))),
        );
    }
    if let Some(want) = &expected.xml {
        let want_tree = match crate::xml::parse(want.as_bytes()) {
            Ok(t) => t,
            Err(e) => return Some(Failure::new(format!("{what}: the expected XML: {e}"))),
        };
        let got_tree = match crate::xml::parse(actual) {
            Ok(t) => t,
            Err(e) => {
                return Some(
                    Failure::new(format!("{what}: expected XML, got a body that is not: {e}"))
                        .with_detail(indent(&String::from_utf8_lossy(actual))),
                );
            }
        };
        let (want, got) = (pretty_xml(&want_tree), pretty_xml(&got_tree));
        if want == got {
            return None;
        }
        return Some(
            Failure::new(format!("{what}: the XML differs (- expected, + actual)"))
                .with_detail(diff(&want, &got)),
        );
    }
    let want = expected.text.as_deref().unwrap_or_default();
    let got = String::from_utf8_lossy(actual);
    if want == got {
        return None;
    }
    Some(
        Failure::new(format!("{what}: the text differs (- expected, + actual)"))
            .with_detail(diff(want, &got)),
    )
}

/// XML as indented lines: elements with sorted attributes, whitespace-only text and
/// comments left out, so formatting does not count.
pub fn pretty_xml(element: &crate::xml::Element) -> String {
    fn name(q: &crate::xml::QName) -> String {
        match (&q.namespace, &q.prefix) {
            (Some(ns), _) => format!("{{{ns}}}{}", q.local),
            (None, Some(p)) => format!("{p}:{}", q.local),
            (None, None) => q.local.clone(),
        }
    }
    fn walk(e: &crate::xml::Element, depth: usize, out: &mut String) {
        use crate::xml::Node;
        let pad = "  ".repeat(depth);
        let mut attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|a| format!(" {}={:?}", name(&a.name), a.value))
            .collect();
        attrs.sort();
        out.push_str(&format!("{pad}<{}{}>\n", name(&e.name), attrs.concat()));
        for child in &e.children {
            match child {
                Node::Element(c) => walk(c, depth + 1, out),
                Node::Text(t) | Node::CData(t) if !t.trim().is_empty() => {
                    out.push_str(&format!("{pad}  {:?}\n", t.trim()));
                }
                _ => {}
            }
        }
        out.push_str(&format!("{pad}</{}>\n", name(&e.name)));
    }
    let mut out = String::new();
    walk(element, 0, &mut out);
    out
}

/// What a value assertion shows in a message (`$.doctor.name`).
pub fn describe(a: &ValueAssertion) -> &str {
    a.path
        .as_deref()
        .or(a.xpath.as_deref())
        .or(a.expression.as_deref())
        .unwrap_or("?")
}

/// Checks one value assertion on `msg`, the expression parsed beforehand.
pub fn check_value(
    what: &str,
    a: &ValueAssertion,
    expr: &Expression,
    msg: &Message,
) -> Option<Failure> {
    let selector = describe(a);
    let value = match eval(expr, msg) {
        Ok(v) => v,
        Err(fault) => {
            return Some(Failure::new(format!(
                "{what} {selector}: cannot be read: {}",
                fault.message
            )));
        }
    };
    let shown = shown(&value);
    if let Some(exists) = a.exists {
        let there = !value.is_null();
        return (there != exists).then(|| {
            Failure::new(if exists {
                format!("{what} {selector}: expected a value, found none")
            } else {
                format!("{what} {selector}: expected no value, found {shown}")
            })
        });
    }
    if let Some(want) = &a.equals {
        // XPath gives text: a scalar expectation then compares as text.
        let equal = json_equal(want, &value)
            || (value.is_string() && !want.is_object() && !want.is_array())
                && to_text(want) == to_text(&value);
        return (!equal).then(|| {
            Failure::new(format!(
                "{what} {selector}: expected {}, got {shown}",
                shown_value(want)
            ))
        });
    }
    if let Some(part) = &a.contains {
        return (!to_text(&value).contains(part.as_str())).then(|| {
            Failure::new(format!(
                "{what} {selector}: expected it to contain {part:?}, got {shown}"
            ))
        });
    }
    if let Some(re) = &a.matches {
        let matched = regex::Regex::new(re).is_ok_and(|re| re.is_match(&to_text(&value)));
        return (!matched).then(|| {
            Failure::new(format!(
                "{what} {selector}: expected it to match /{re}/, got {shown}"
            ))
        });
    }
    None
}

fn shown(value: &Value) -> String {
    if value.is_null() {
        "nothing".to_string()
    } else {
        shown_value(value)
    }
}

fn shown_value(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 200 {
        format!("{}...", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// A line diff of `expected` and `actual`: `- ` lines only expected, `+ ` lines only
/// actual, `  ` lines both (longest common subsequence; large inputs are shown whole).
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        let mut out = String::from("    expected:\n");
        out.push_str(&indent(expected));
        out.push_str("    actual:\n");
        out.push_str(&indent(actual));
        return out;
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("      {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // What was expected first, then what came instead.
            out.push_str(&format!("    - {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("    + {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value_and_keys_in_any_order() {
        assert!(json_equal(
            &json!({"a": 7000, "b": [1, 2]}),
            &json!({"b": [1.0, 2], "a": 7000.0})
        ));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": "1"})));
    }

    #[test]
    fn the_diff_marks_changed_lines_only() {
        let d = diff("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(d, "      a\n    - b\n    + x\n      c\n");
    }

    #[test]
    fn a_json_body_that_differs_fails_with_a_diff_naming_the_field() {
        let want = BodySpec {
            json: Some(json!({"doctor": "Smith", "fee": 7000})),
            ..BodySpec::default()
        };
        let got = Bytes::from_static(br#"{"fee": 7000.0, "doctor": "Jones"}"#);
        let failure = check_body("body", &want, &got).expect("differs");
        let detail = failure.detail.unwrap_or_default();
        assert!(detail.contains("-   \"doctor\": \"Smith\""), "{detail}");
        assert!(detail.contains("+   \"doctor\": \"Jones\""), "{detail}");
        assert!(
            check_body(
                "body",
                &want,
                &Bytes::from_static(br#"{"fee":7000,"doctor":"Smith"}"#)
            )
            .is_none()
        );
    }

    #[test]
    fn xml_compares_without_formatting_or_attribute_order() {
        let want = BodySpec {
            xml: Some("<a x=\"1\" y=\"2\">\n  <b>t</b>\n</a>".into()),
            ..BodySpec::default()
        };
        assert!(
            check_body(
                "body",
                &want,
                &Bytes::from_static(b"<a y=\"2\" x=\"1\"><b>t</b></a>")
            )
            .is_none()
        );
        assert!(
            check_body(
                "body",
                &want,
                &Bytes::from_static(b"<a y=\"2\" x=\"1\"><b>u</b></a>")
            )
            .is_some()
        );
    }
}
