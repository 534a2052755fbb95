//! A block-style YAML writer for JSON values. Strings that could be misread (numbers,
//! booleans, indicators, `: `, non-ASCII, ...) are written as JSON strings, which are valid
//! YAML double-quoted scalars, so every string reads back exactly.

use serde_json::{Map, Value};

/// How strings that are not plain are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// JSON strings: one form for every string, for generated files (CRDs, bundles).
    Json,
    /// As a person writes YAML: multi-line text as a literal block (`|`), text with `"` or
    /// `\` in single quotes, else JSON strings (`ferry import` output, read by people).
    People,
}

/// Appends `value` as a document body (no `---`), ending with a newline.
pub fn document(out: &mut String, value: &Value) {
    write_document(out, value, Style::Json);
}

/// Like [`document`], with multi-line strings as literal blocks (`|`) and strings holding
/// `"` or `\` in single quotes, as a person writes them; reads back identically.
pub fn document_for_people(out: &mut String, value: &Value) {
    write_document(out, value, Style::People);
}

fn write_document(out: &mut String, value: &Value, style: Style) {
    match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, 0, true, style),
        Value::Array(items) if !items.is_empty() => sequence(out, items, 0, true, style),
        other => scalar(out, other, 0, style),
    }
    out.push('\n');
}

fn indent(out: &mut String, width: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', width));
}

fn mapping(
    out: &mut String,
    map: &Map<String, Value>,
    width: usize,
    inline_first: bool,
    style: Style,
) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, width);
        }
        string(out, key);
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => mapping(out, m, width + 2, false, style),
            Value::Array(items) if !items.is_empty() => {
                sequence(out, items, width + 2, false, style)
            }
            other => {
                out.push(' ');
                scalar(out, other, width, style);
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], width: usize, inline_first: bool, style: Style) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, width);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => mapping(out, m, width + 2, true, style),
            // A list of lists (scatterGather's sequences) in block style for people.
            Value::Array(inner) if style == Style::People && !inner.is_empty() => {
                sequence(out, inner, width + 2, true, style)
            }
            // Nested sequences are rare in CRDs; JSON flow style is valid YAML.
            Value::Array(_) => out.push_str(&item.to_string()),
            other => scalar(out, other, width, style),
        }
    }
}

/// A scalar whose line is indented by `width` (block text is indented two more).
fn scalar(out: &mut String, value: &Value, width: usize, style: Style) {
    match value {
        Value::String(s) if style == Style::People => people_string(out, s, width),
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

fn people_string(out: &mut String, s: &str, width: usize) {
    if is_plain(s) {
        out.push_str(s);
    } else if let Some(chomp) = literal_block(s) {
        out.push('|');
        out.push_str(chomp);
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.extend(std::iter::repeat_n(' ', width + 2));
                out.push_str(line);
            }
        }
    } else if (s.contains('"') || s.contains('\\')) && !s.chars().any(char::is_control) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        string(out, s);
    }
}

/// The chomping indicator (`""` keeps one final line break, `-` none) when `s` can be a
/// literal block scalar that reads back exactly, else `None`.
fn literal_block(s: &str) -> Option<&'static str> {
    if !s.contains('\n')
        || s.starts_with([' ', '\n', '\t'])
        || s.ends_with("\n\n")
        || s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        || s.contains('\u{feff}')
    {
        return None;
    }
    // A line of only spaces before the end would be read as part of the indentation.
    let body = s.strip_suffix('\n').unwrap_or(s);
    if body
        .split('\n')
        .any(|l| !l.is_empty() && l.trim_start_matches(' ').is_empty())
    {
        return None;
    }
    if body.ends_with([' ', '\t']) {
        return None;
    }
    Some(if s.ends_with('\n') { "" } else { "-" })
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
    fn strings_for_people_read_back_exactly() {
        for s in [
            "{\"a\": \"$1\", \"b\": $2}",
            "it's \"quoted\"",
            "back\\slash",
            "line\nbreak",
            "two lines\n",
            "<a>\n  <b>$1</b>\n</a>",
            "a\n\n  indented after a blank\nend",
            " lead\nspace",
            "trail\n\n",
            "spaces only\n   \nline",
            "tab\tinside\nnext",
            "ends with space \nx",
            "x\ny ",
            "true",
            "",
            "${payload.id}",
        ] {
            let value = json!({ "k": s, "list": [s], "nested": {"m": [{"k": s}]} });
            let mut out = String::new();
            document_for_people(&mut out, &value);
            let doc = &YamlLoader::load_from_str(&out).unwrap()[0];
            assert_eq!(doc["k"].as_str(), Some(s), "value {s:?} in\n{out}");
            assert_eq!(doc["list"][0].as_str(), Some(s), "item {s:?} in\n{out}");
            assert_eq!(
                doc["nested"]["m"][0]["k"].as_str(),
                Some(s),
                "{s:?} in\n{out}"
            );
        }
        let mut out = String::new();
        document_for_people(
            &mut out,
            &json!({"format": "{\"a\": 1}", "xml": "<a>\n  <b/>\n</a>"}),
        );
        assert_eq!(
            out,
            "format: '{\"a\": 1}'\nxml: |-\n  <a>\n    <b/>\n  </a>\n"
        );
    }

    #[test]
    fn lists_of_lists_for_people_are_block_sequences() {
        let value =
            json!({"sequences": [[{"log": {}}, {"drop": {}}], [{"call": {"key": "a"}}], []]});
        let mut out = String::new();
        document_for_people(&mut out, &value);
        assert_eq!(
            out,
            "sequences:\n  - - log: {}\n    - drop: {}\n  - - call:\n        key: a\n  - []\n"
        );
        let doc = &YamlLoader::load_from_str(&out).unwrap()[0];
        assert_eq!(
            doc["sequences"][0][1]["drop"].as_hash().map(|h| h.len()),
            Some(0)
        );
        assert_eq!(doc["sequences"][1][0]["call"]["key"].as_str(), Some("a"));
        assert_eq!(doc["sequences"][2].as_vec().map(Vec::len), Some(0));
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
