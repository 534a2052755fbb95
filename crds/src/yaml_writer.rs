//! A block-style YAML writer for JSON values. Strings that could be misread (numbers,
//! booleans, indicators, `: `, non-ASCII, ...) are written as JSON strings, which are valid
//! YAML double-quoted scalars, so every string reads back exactly.

use serde_json::{Map, Value};

/// Appends `value` as a document body (no `---`), ending with a newline.
pub fn document(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, 0, true),
        Value::Array(items) if !items.is_empty() => sequence(out, items, 0, true),
        other => scalar(out, other),
    }
    out.push('\n');
}

fn indent(out: &mut String, width: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', width));
}

fn mapping(out: &mut String, map: &Map<String, Value>, width: usize, inline_first: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, width);
        }
        string(out, key);
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => mapping(out, m, width + 2, false),
            Value::Array(items) if !items.is_empty() => sequence(out, items, width + 2, false),
            other => {
                out.push(' ');
                scalar(out, other);
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], width: usize, inline_first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, width);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => mapping(out, m, width + 2, true),
            // Nested sequences are rare in CRDs; JSON flow style is valid YAML.
            Value::Array(_) => out.push_str(&item.to_string()),
            other => scalar(out, other),
        }
    }
}

fn scalar(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => string(out, s),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        other => out.push_str(&other.to_string()),
    }
}

fn string(out: &mut String, s: &str) {
    if is_plain(s) {
        out.push_str(s);
    } else {
        out.push_str(&Value::String(s.to_string()).to_string());
    }
}

/// Conservative: only strings no YAML 1.1 or 1.2 reader could take for anything else.
fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    const RESERVED: &[&str] = &[
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ];
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && !s.ends_with(' ')
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    ' ' | '_'
                        | '.'
                        | '-'
                        | '/'
                        | '('
                        | ')'
                        | ','
                        | ';'
                        | '+'
                        | '='
                        | '\''
                        | '<'
                        | '>'
                        | '*'
                        | '&'
                        | '!'
                        | '?'
                        | '%'
                        | '@'
                        | '$'
                        | '^'
                )
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use yaml_rust2::YamlLoader;

    use super::*;

    fn reread(value: &Value) -> yaml_rust2::Yaml {
        let mut out = String::new();
        document(&mut out, value);
        let docs = YamlLoader::load_from_str(&out).unwrap();
        docs.into_iter().next().unwrap()
    }

    #[test]
    fn strings_that_look_like_other_types_read_back_as_strings() {
        for s in [
            "true",
            "No",
            "null",
            "~",
            "1",
            "1.5",
            "0x1F",
            "0o17",
            "1e3",
            ".inf",
            "- a",
            "a: b",
            "a #b",
            "",
            " lead",
            "trail ",
            "{x}",
            "[x]",
            "*x",
            "&x",
            "!x",
            "|",
            ">",
            "%x",
            "@x",
            "`x`",
            "line\nbreak",
            "tab\there",
            "quote\"d",
            "back\\slash",
            "é",
            "ok text",
            "${payload.id}",
            "x-kubernetes-preserve-unknown-fields",
        ] {
            let doc = reread(&json!({ "k": s, s: 1 }));
            assert_eq!(doc["k"].as_str(), Some(s), "value {s:?}");
            assert_eq!(doc[s].as_i64(), Some(1), "key {s:?}");
        }
    }

    #[test]
    fn nested_maps_sequences_and_empties_keep_their_shape() {
        let value = json!({
            "a": {"b": [1, {"c": true, "d": [null, 2.5]}, [1, 2]], "e": {}, "f": []},
            "g": "h"
        });
        let mut out = String::new();
        document(&mut out, &value);
        let doc = &YamlLoader::load_from_str(&out).unwrap()[0];
        assert_eq!(doc["a"]["b"][0].as_i64(), Some(1));
        assert_eq!(doc["a"]["b"][1]["c"].as_bool(), Some(true));
        assert!(doc["a"]["b"][1]["d"][0].is_null());
        assert_eq!(doc["a"]["b"][1]["d"][1].as_f64(), Some(2.5));
        assert_eq!(doc["a"]["b"][2][1].as_i64(), Some(2));
        assert!(doc["a"]["e"].as_hash().unwrap().is_empty());
        assert!(doc["a"]["f"].as_vec().unwrap().is_empty());
        assert_eq!(doc["g"].as_str(), Some("h"));
    }
}
