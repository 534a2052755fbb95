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

    /// Moves every line down by `lines`: for a document parsed from the middle of its text.
    fn shift(&mut self, lines: u32) {
        for line in self.lines.values_mut() {
            *line = line.saturating_add(lines);
        }
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

/// A document that is not valid YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenDocument {
    /// The first error in it.
    pub error: YamlError,
    /// What was read of the document before the error, its open mappings and lists closed
    /// where the error cut them off (`Null` if nothing was read): often enough to tell the
    /// document's kind and name.
    pub partial: Value,
}

/// Everything [`parse_all`] read from one text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The documents that parsed, in text order.
    pub documents: Vec<YamlDocument>,
    /// The documents that did not, in text order (a document the builder rejected and the
    /// parser then failed on appears twice, once per error).
    pub broken: Vec<BrokenDocument>,
}

/// Parses every document of `text`. Empty documents (comments only, a stray `---`) are
/// skipped. The first error fails the whole text; [`parse_all`] keeps the other documents.
pub fn parse_documents(text: &str) -> Result<Vec<YamlDocument>, YamlError> {
    let parsed = parse_all(text);
    match parsed.broken.into_iter().next() {
        Some(broken) => Err(broken.error),
        None => Ok(parsed.documents),
    }
}

/// Parses every document of `text`, reading on past a broken one: an error in one document
/// must not hide the others from `ferry validate`.
///
/// A document that breaks the builder's rules (a duplicate key) is skipped and the parser
/// carries on. The YAML parser itself cannot resume after a syntax error, so parsing starts
/// afresh at the next `---` line after the broken document's start: YAML forbids `---` at
/// the start of a line inside a node, so that line always begins a new document.
pub fn parse_all(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut rest = text;
    // Lines of `text` before `rest`.
    let mut skipped = 0u32;
    loop {
        let mut builder = Builder::default();
        let result = Parser::new_from_str(rest).load(&mut builder, true);
        // Line 1 at least, so the next round starts further on even when the parser failed
        // before it reported any document start.
        let broken_start = builder.document_start.max(1);
        let syntax = result.err().map(|e| BrokenDocument {
            error: YamlError {
                line: to_u32(e.marker().line()),
                column: to_u32(e.marker().col() + 1),
                message: e.info().to_string(),
            },
            partial: builder.partial(),
        });
        for mut doc in builder.documents {
            doc.line = doc.line.saturating_add(skipped);
            doc.spans.shift(skipped);
            parsed.documents.push(doc);
        }
        let failed = syntax.is_some();
        for mut broken in builder.broken.into_iter().chain(syntax) {
            broken.error.line = broken.error.line.saturating_add(skipped);
            parsed.broken.push(broken);
        }
        if !failed {
            return parsed;
        }
        let Some((offset, line)) = next_document_marker(rest, broken_start) else {
            return parsed;
        };
        rest = &rest[offset..];
        skipped = skipped.saturating_add(line - 1);
    }
}

/// The byte offset and 1-based line of the first `---` line of `text` after line `after`.
fn next_document_marker(text: &str, after: u32) -> Option<(usize, u32)> {
    let mut offset = 0;
    for (line, content) in (1u32..).zip(text.split_inclusive('\n')) {
        let marker = content
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        if line > after && marker {
            return Some((offset, line));
        }
        offset += content.len();
    }
    None
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
    /// The line of the last document start seen: where a broken document begins.
    document_start: u32,
    /// Documents that broke the builder's rules, in order.
    broken: Vec<BrokenDocument>,
    /// Set after such an error: the rest of the document is ignored.
    skipping: bool,
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

    /// Records an error in the current document and ignores the rest of it.
    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.skipping {
            return;
        }
        self.skipping = true;
        let error = YamlError {
            line: to_u32(mark.line()),
            column: to_u32(mark.col() + 1),
            message: message.into(),
        };
        let partial = self.partial();
        self.broken.push(BrokenDocument { error, partial });
    }

    /// Closes the open mappings and lists and returns what was read of the document.
    fn partial(&mut self) -> Value {
        while let Some(frame) = self.stack.pop() {
            let value = match frame {
                Frame::Seq { items, .. } => Value::Array(items),
                Frame::Map { map, .. } => Value::Object(map),
            };
            self.push_value(value, 0);
        }
        self.root.take().unwrap_or(Value::Null)
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
        if self.skipping && !matches!(ev, Event::DocumentStart) {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.skipping = false;
                self.document_start = to_u32(mark.line());
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
    fn parsing_goes_on_after_a_syntax_error_at_the_next_document() {
        let text = "a: 1\n---\nkind: K\nb: [1, 2\n---\n# c\nc: 3\nd:\n  e: 4\n";
        let parsed = parse_all(text);
        let lines: Vec<u32> = parsed.documents.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![1, 7]);
        assert_eq!(parsed.documents[1].value, json!({"c": 3, "d": {"e": 4}}));
        assert_eq!(parsed.documents[1].spans.line_of("d.e"), Some(9));
        assert_eq!(parsed.broken.len(), 1, "{:?}", parsed.broken);
        assert!(parsed.broken[0].error.line >= 4, "{:?}", parsed.broken);
        assert_eq!(parsed.broken[0].partial, json!({"kind": "K", "b": [1, 2]}));
        assert_eq!(parse_documents(text), Err(parsed.broken[0].error.clone()));
    }

    #[test]
    fn a_duplicate_key_breaks_only_its_document() {
        let parsed = parse_all("a: 1\n---\nb: 1\nb: 2\nc: 3\n---\nd: 4\n");
        let values: Vec<&Value> = parsed.documents.iter().map(|d| &d.value).collect();
        assert_eq!(values, [&json!({"a": 1}), &json!({"d": 4})]);
        assert_eq!(parsed.broken.len(), 1);
        assert_eq!(parsed.broken[0].error.line, 4);
        assert_eq!(parsed.broken[0].partial, json!({"b": 1}));
    }

    #[test]
    fn a_syntax_error_in_the_last_document_keeps_the_ones_before() {
        let parsed = parse_all("a: 1\n---\nb: \"x\n");
        assert_eq!(parsed.documents.len(), 1);
        assert_eq!(parsed.broken.len(), 1);
    }

    #[test]
    fn document_markers_are_whole_dashes_at_the_start_of_a_line() {
        let text = "a: ---\n----\n --- \n--- # c\n---\n";
        assert_eq!(next_document_marker(text, 1), Some((18, 4)));
        assert_eq!(next_document_marker(text, 4), Some((26, 5)));
        assert_eq!(next_document_marker(text, 5), None);
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
