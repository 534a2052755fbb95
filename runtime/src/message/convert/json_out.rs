//! The direct XML → JSON conversion: the received XML read into a [`Skeleton`] (spans of
//! the input, no owned names or text) and written as JSON straight into the output buffer,
//! by the rules of [`super::xml_to_json`] and byte for byte what the tree path (`Element`,
//! then `Value`, then `serde_json::to_vec`) writes.
//!
//! `Payload::to_bytes` takes this path when a raw XML body leaves as JSON. Repeated sibling
//! names become one array wherever they stand, so an element's children are grouped before
//! it is written (indices into the skeleton, not values); each element is written once.

use std::collections::HashMap;

use serde_json::Value;

use super::{
    ConversionOptions, JSON_ARRAY, JSON_OBJECT, XML_MULTIPLE, XSI_NAMESPACE, json_key, leaf_value,
    primitive,
};
use crate::xml::skeleton::{Node, Skeleton, Str};

/// Converts an XML document to the JSON the tree path would write for it; `None` when
/// the tree path must answer (the document is malformed, and the parser names the error;
/// or the skeleton cannot hold it).
pub fn xml_to_json_bytes(input: &[u8], options: &ConversionOptions) -> Option<Vec<u8>> {
    let skeleton = Skeleton::parse(input)?;
    let mut writer = JsonWriter {
        // JSON is mostly shorter than the XML it comes from; capacity not written is never
        // touched.
        out: Vec::with_capacity(input.len()),
        skeleton: &skeleton,
        options,
    };
    writer.document()?;
    Some(writer.out)
}

/// A member of an object about to be written.
enum Entry {
    /// A string of the document (an attribute value, a namespace URI).
    Str(Str),
    /// A value built from text.
    Value(Value),
    /// One element's value.
    One(u32),
    /// The values of these elements, as an array.
    Array(Vec<u32>),
}

struct JsonWriter<'s, 'i> {
    out: Vec<u8>,
    skeleton: &'s Skeleton<'i>,
    options: &'s ConversionOptions,
}

impl JsonWriter<'_, '_> {
    /// `xml_to_json`: `<jsonObject>` and `<jsonArray>` roots are unwrapped, any other root
    /// becomes a one-key object named after it.
    fn document(&mut self) -> Option<()> {
        let sk = self.skeleton;
        let root = sk.root();
        let (prefix, local) = sk.name(root)?;
        if !sk.in_namespace(root) && sk.attributes(root).is_empty() {
            if local == JSON_ARRAY {
                return self.array_items(root);
            }
            if local == JSON_OBJECT {
                // `<jsonObject/>` is the empty object, not an empty value.
                if !sk.has_children(root)
                    && (sk.declarations(root).is_empty() || !self.options.namespace_declarations)
                {
                    self.out.extend_from_slice(b"{}");
                    return Some(());
                }
                return self.element_value(root);
            }
        }
        self.out.push(b'{');
        self.string(&self.key_of(prefix, local))?;
        self.out.push(b':');
        self.element_value(root)?;
        self.out.push(b'}');
        Some(())
    }

    fn array_items(&mut self, array: u32) -> Option<()> {
        let sk = self.skeleton;
        self.out.push(b'[');
        let mut first = true;
        for child in sk.children(array) {
            if matches!(sk.node(child), Node::Element { .. }) {
                if !first {
                    self.out.push(b',');
                }
                first = false;
                self.element_value(child)?;
            }
        }
        self.out.push(b']');
        Some(())
    }

    fn key_of(&self, prefix: Option<&str>, local: &str) -> String {
        let local = json_key(local);
        match (prefix, self.options.preserve_namespace) {
            (Some(p), true) => format!("{p}{}{local}", self.options.namespace_separator),
            _ => local,
        }
    }

    /// `element_value`, written.
    fn element_value(&mut self, element: u32) -> Option<()> {
        let sk = self.skeleton;
        let options = self.options;
        let attributes = sk.attributes(element);
        if options.xml_nil
            && attributes.iter().any(|a| {
                sk.attribute_name(a).1 == "nil"
                    && sk.str(a.value) == "true"
                    && a.namespace.is_none_or(|n| sk.str(n) == XSI_NAMESPACE)
            })
        {
            self.out.extend_from_slice(b"null");
            return Some(());
        }
        let mut entries: Vec<(String, Entry)> = Vec::new();
        if options.namespace_declarations {
            for decl in sk.declarations(element) {
                let key = match decl.prefix {
                    Some(p) => format!("@xmlns{}{}", options.namespace_separator, sk.text(p)),
                    None => "@xmlns".to_owned(),
                };
                insert(&mut entries, key, Entry::Str(decl.uri));
            }
        }
        for attr in attributes {
            let (prefix, local) = sk.attribute_name(attr);
            let key = format!("@{}", self.key_of(prefix, local));
            insert(&mut entries, key, Entry::Str(attr.value));
        }

        let structured = sk.children(element).any(|c| match sk.node(c) {
            Node::Element { .. } => true,
            Node::Pi(pi) => sk.instruction(pi).0 == XML_MULTIPLE,
            _ => false,
        });
        if !structured {
            let mut text = String::new();
            for child in sk.children(element) {
                match sk.node(child) {
                    Node::Text(span) | Node::CData(span) => push_xml10(&mut text, sk.text(span)),
                    Node::Char(c) => text.push(c),
                    _ => {}
                }
            }
            if entries.is_empty() {
                return self.value(&leaf_value(&text, options));
            }
            if !text.is_empty() {
                insert(
                    &mut entries,
                    "$".to_owned(),
                    Entry::Value(primitive(&text, options)),
                );
            }
            return self.object(entries);
        }

        // An item holding a nested anonymous array: the array is the value.
        let mut elements = sk
            .children(element)
            .filter(|&c| matches!(sk.node(c), Node::Element { .. }));
        if let (Some(only), None) = (elements.next(), elements.next())
            && sk.name(only).is_some_and(|(_, local)| local == JSON_ARRAY)
            && !sk.in_namespace(only)
            && entries.is_empty()
            && self.mixed_text(element).is_empty()
        {
            return self.array_items(only);
        }

        // Group children by key, in first-seen order; `<?xml-multiple?>` forces an array.
        let mut groups = Groups::default();
        let mut pending_unnamed = false;
        for child in sk.children(element) {
            match sk.node(child) {
                Node::Pi(pi) if sk.instruction(pi).0 == XML_MULTIPLE => {
                    let data = sk.instruction(pi).1;
                    if data.is_empty() {
                        pending_unnamed = true;
                    } else {
                        groups.get(json_key(data)).2 = true;
                    }
                }
                Node::Element { .. } => {
                    let (prefix, local) = sk.name(child)?;
                    let group = groups.get(self.key_of(prefix, local));
                    group.1.push(child);
                    if std::mem::take(&mut pending_unnamed) {
                        group.2 = true;
                    }
                }
                _ => {}
            }
        }
        let before_groups = entries.len();
        for (key, mut children, multiple) in groups.list {
            let entry = if multiple || (options.auto_array && children.len() > 1) {
                Entry::Array(children)
            } else {
                // Without auto-array a repeated name keeps its last value, as object keys do.
                match children.pop() {
                    Some(last) => Entry::One(last),
                    None => Entry::Value(Value::Null),
                }
            };
            // Group keys differ from each other; only attributes' keys can be the same.
            match entries[..before_groups].iter().position(|(k, _)| *k == key) {
                Some(i) => entries[i].1 = entry,
                None => entries.push((key, entry)),
            }
        }
        // Mixed content is refused by Synapse; we keep its text under `$` instead.
        let text = self.mixed_text(element);
        if !text.is_empty() {
            insert(
                &mut entries,
                "$".to_owned(),
                Entry::Value(primitive(&text, options)),
            );
        }
        self.object(entries)
    }

    /// The text directly inside an element with element children, each text node trimmed
    /// and blank ones dropped (`mixed_text`). A text node is a run of character data and
    /// references (the tree merges them); a CDATA section is one of its own.
    fn mixed_text(&self, element: u32) -> String {
        let sk = self.skeleton;
        let mut out = String::new();
        let mut run = String::new();
        let flush = |run: &mut String, out: &mut String| {
            out.push_str(run.trim());
            run.clear();
        };
        for child in sk.children(element) {
            match sk.node(child) {
                Node::Text(span) => push_xml10(&mut run, sk.text(span)),
                Node::Char(c) => run.push(c),
                Node::CData(span) => {
                    flush(&mut run, &mut out);
                    push_xml10(&mut run, sk.text(span));
                    flush(&mut run, &mut out);
                }
                _ => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
        out
    }

    fn object(&mut self, entries: Vec<(String, Entry)>) -> Option<()> {
        self.out.push(b'{');
        for (i, (key, entry)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(&key)?;
            self.out.push(b':');
            match entry {
                Entry::Str(s) => self.string(self.skeleton.str(s))?,
                Entry::Value(v) => self.value(&v)?,
                Entry::One(element) => self.element_value(element)?,
                Entry::Array(elements) => {
                    self.out.push(b'[');
                    for (j, element) in elements.into_iter().enumerate() {
                        if j > 0 {
                            self.out.push(b',');
                        }
                        self.element_value(element)?;
                    }
                    self.out.push(b']');
                }
            }
        }
        self.out.push(b'}');
        Some(())
    }

    fn string(&mut self, s: &str) -> Option<()> {
        serde_json::to_writer(&mut self.out, s).ok()
    }

    fn value(&mut self, v: &Value) -> Option<()> {
        serde_json::to_writer(&mut self.out, v).ok()
    }
}

/// `Map::insert`: a key already there keeps its place and takes the new value.
fn insert(entries: &mut Vec<(String, Entry)>, key: String, entry: Entry) {
    match entries.iter().position(|(k, _)| *k == key) {
        Some(i) => entries[i].1 = entry,
        None => entries.push((key, entry)),
    }
}

/// Appends XML 1.0 text with its line ends normalised (`\r\n` and `\r` read as `\n`), as
/// the tree parser's `xml10_content` does.
fn push_xml10(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find('\r') {
        out.push_str(&rest[..i]);
        out.push('\n');
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('\n') {
            rest = after;
        }
    }
    out.push_str(rest);
}

/// Children grouped by key in first-seen order: the key, the elements, whether
/// `<?xml-multiple?>` made it an array. Looked up by a map once there are many keys.
#[derive(Default)]
struct Groups {
    list: Vec<(String, Vec<u32>, bool)>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
}

impl Groups {
    const LINEAR: usize = 16;

    fn get(&mut self, key: String) -> &mut (String, Vec<u32>, bool) {
        let found = if self.list.len() <= Self::LINEAR {
            self.list.iter().position(|g| g.0 == key)
        } else {
            if self.index.is_empty() {
                for (i, g) in self.list.iter().enumerate() {
                    self.index.insert(g.0.clone(), i);
                }
            }
            self.index.get(&key).copied()
        };
        let i = match found {
            Some(i) => i,
            None => {
                if self.list.len() > Self::LINEAR {
                    self.index.insert(key.clone(), self.list.len());
                }
                self.list.push((key, Vec::new(), false));
                self.list.len() - 1
            }
        };
        &mut self.list[i]
    }
}
