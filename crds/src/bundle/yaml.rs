//! Multi-document YAML to JSON values, remembering the line of every node.
//!
//! Kubernetes itself reads YAML by converting it to JSON; we do the same (so a resource
//! means the same thing to `ferry run` and to the API server) and keep, beside each value,
//! a map from field path to line so later checks can point at the exact line.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Lines of the nodes of one document, keyed by field path (`spec.resources[0].methods`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans {
    lines: HashMap<String, u32>,
}

impl Spans {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<u32> {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    fn insert(&mut self, path: String, line: u32) {
        self.lines.entry(path).or_insert(line);
    }
}

/// One YAML document: its value as JSON, the line it starts on, and the lines of its nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDocument {
    /// The document converted to JSON.
    pub value: Value,
    /// The 1-based line of the document's first node.
    pub line: u32,
    /// Lines of the document's nodes.
    pub spans: Spans,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What the parser said.
    pub message: String,
}

/// Parses every document of `text`. Empty documents (comments only, a stray `---`) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<YamlDocument>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: to_u32(e.marker().line()),
        column: to_u32(e.marker().col() + 1),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.documents)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A container being filled, with the path it sits at.
enum Frame {
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        path: String,
        anchor: usize,
        /// The key read, waiting for its value.
        key: Option<String>,
    },
}

#[derive(Default)]
struct Builder {
    documents: Vec<YamlDocument>,
    stack: Vec<Frame>,
    anchors: BTreeMap<usize, Value>,
    spans: Spans,
    doc_line: Option<u32>,
    root: Option<Value>,
    error: Option<YamlError>,
}

impl Builder {
    /// The path the next node will have, or `None` when the next scalar is a mapping key.
    fn next_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Seq { items, path, .. }) => Some(format!("{path}[{}]", items.len())),
            Some(Frame::Map { key: None, .. }) => None,
            Some(Frame::Map {
                key: Some(key),
                path,
                ..
            }) => Some(join(path, key)),
        }
    }

    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: to_u32(mark.line()),
                column: to_u32(mark.col() + 1),
                message: message.into(),
            });
        }
    }

    /// Places a finished node into its parent (or as the document root).
    fn push_value(&mut self, value: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                if let Some(key) = key.take() {
                    map.insert(key, value);
                }
            }
        }
    }

    fn on_scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        anchor: usize,
        tag: Option<Tag>,
        mark: Marker,
    ) {
        let line = to_u32(mark.line());
        let Some(path) = self.next_path() else {
            // A mapping key: keys are strings in JSON.
            if let Some(Frame::Map { map, path, key, .. }) = self.stack.last_mut() {
                if map.contains_key(&text) {
                    let message = format!("duplicate key \"{text}\" in {}", display_path(path));
                    self.fail(mark, message);
                    return;
                }
                self.spans.insert(join(path, &text), line);
                *key = Some(text);
            }
            return;
        };
        self.spans.insert(path, line);
        let value = scalar_value(text, style, tag.as_ref());
        self.push_value(value, anchor);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "the document"
    } else {
        path
    }
}

/// Resolves a scalar as the YAML 1.2 core schema does (what Kubernetes tools accept):
/// quoted scalars and `!!str` are strings; plain ones may be null, bool, int or float.
fn scalar_value(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            match tag.suffix.as_str() {
                "str" => return Value::String(text),
                "int" => {
                    if let Ok(i) = text.parse::<i64>() {
                        return Value::Number(i.into());
                    }
                }
                "float" => {
                    if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                        return Value::Number(n);
                    }
                }
                "bool" => match text.as_str() {
                    "true" => return Value::Bool(true),
                    "false" => return Value::Bool(false),
                    _ => {}
                },
                "null" => return Value::Null,
                _ => {}
            }
        }
        return Value::String(text);
    }
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(&text) {
        return Value::Number(n.into());
    }
    if looks_like_float(&text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text)
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

/// The core schema's float pattern: digits with a dot and/or an exponent (not `inf`, `nan`
/// spelled as Rust accepts them, which YAML writes as `.inf`/`.nan` and JSON cannot hold).
fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut digits = 0;
    let mut dot_or_exp = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' => digits += 1,
            '.' => dot_or_exp = true,
            'e' | 'E' => {
                dot_or_exp = true;
                if matches!(chars.peek(), Some('-' | '+')) {
                    chars.next();
                }
            }
            _ => return false,
        }
    }
    digits > 0 && dot_or_exp
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.stack.clear();
                self.anchors.clear();
                self.spans = Spans::default();
                self.root = None;
                self.doc_line = None;
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take()
                    && !value.is_null()
                {
                    self.documents.push(YamlDocument {
                        value,
                        line: self.doc_line.unwrap_or(1),
                        spans: std::mem::take(&mut self.spans),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.doc_line.get_or_insert(to_u32(mark.line()));
                self.on_scalar(text, style, anchor, tag, mark);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.doc_line.get_or_insert(to_u32(mark.line()));
                let Some(path) = self.next_path() else {
                    self.fail(mark, "mapping keys must be plain strings, not collections");
                    return;
                };
                self.spans.insert(path.clone(), to_u32(mark.line()));
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        path,
                        anchor,
                    }
                } else {
                    Frame::Map {
                        map: Map::new(),
                        path,
                        anchor,
                        key: None,
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return,
                };
                self.push_value(value, anchor);
            }
            Event::Alias(id) => {
                let Some(value) = self.anchors.get(&id).cloned() else {
                    self.fail(mark, "alias refers to an unknown anchor");
                    return;
                };
                match self.next_path() {
                    Some(path) => {
                        self.spans.insert(path, to_u32(mark.line()));
                        self.push_value(value, 0);
                    }
                    None => match value {
                        Value::String(key) => {
                            self.on_scalar(key, TScalarStyle::SingleQuoted, 0, None, mark)
                        }
                        _ => self.fail(mark, "an alias used as a key must name a string"),
                    },
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_become_json_with_core_schema_scalars() {
        let docs = parse_documents(
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello world\ng: [x, 2]\nh: 0x1F\ni: 1e3\n",
        )
        .unwrap();
        assert_eq!(
            docs[0].value,
            json!({"a": 1, "b": 1.5, "c": true, "d": null, "e": "1", "f": "hello world",
                   "g": ["x", 2], "h": 31, "i": 1000.0})
        );
    }

    #[test]
    fn every_document_is_returned_with_its_first_line() {
        let docs = parse_documents("# c\na: 1\n---\n\n---\nb: 2\n---\nc: 3\n").unwrap();
        let lines: Vec<u32> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![2, 6, 8]);
    }

    #[test]
    fn nested_fields_know_their_lines() {
        let text = "spec:\n  resources:\n    - methods: [GET]\n      inSequence:\n        - log: {}\n        - respond: {}\n";
        let doc = &parse_documents(text).unwrap()[0];
        assert_eq!(doc.spans.line_of("spec.resources[0].methods"), Some(3));
        assert_eq!(
            doc.spans.line_of("spec.resources[0].inSequence[1]"),
            Some(6)
        );
        assert_eq!(
            doc.spans.line_of("spec.resources[0].inSequence[1].respond"),
            Some(6)
        );
        // an unknown path falls back to its nearest located ancestor
        assert_eq!(
            doc.spans
                .line_of("spec.resources[0].inSequence[1].respond.x.y"),
            Some(6)
        );
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let doc = &parse_documents("a: &x {k: v}\nb: *x\n").unwrap()[0];
        assert_eq!(doc.value, json!({"a": {"k": "v"}, "b": {"k": "v"}}));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = parse_documents("spec:\n  a: 1\n  a: 2\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            err.message.contains("duplicate key \"a\" in spec"),
            "{}",
            err.message
        );
    }

    #[test]
    fn block_scalars_keep_their_text() {
        let doc = &parse_documents("f: |\n  {\"a\": 1}\n  x\n").unwrap()[0];
        assert_eq!(doc.value, json!({"f": "{\"a\": 1}\nx\n"}));
    }

    #[test]
    fn explicit_tags_decide_the_type() {
        let doc = &parse_documents("a: !!str 10\nb: !!int '7'\n").unwrap()[0];
        assert_eq!(doc.value, json!({"a": "10", "b": 7}));
    }
}
