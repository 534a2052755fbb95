//! Reads the transformed document into an `sxd-document` tree with `quick-xml`, which is
//! several times faster than `sxd-document`'s own parser (the message is parsed on every
//! transformation; the stylesheet only when it is compiled). Adjacent character data comes
//! out as one text node, and attributes keep their document order.

use quick_xml::events::{BytesStart, Event};
use sxd_document::QName;
use sxd_document::dom::{Document, Element};

use crate::xml_reference::resolve_reference;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// How deep elements may nest (as the runtime's own XML parser allows).
const MAX_DEPTH: usize = 512;

/// Builds `input` into `doc` (an empty document); the error says where and why it is not
/// XML.
pub(super) fn parse<'d>(input: &str, doc: Document<'d>) -> Result<(), String> {
    let mut b = Builder {
        input,
        doc,
        stack: Vec::new(),
        bindings: Vec::new(),
        text: String::new(),
        has_root: false,
    };
    b.run()
}

struct Builder<'i, 'd> {
    input: &'i str,
    doc: Document<'d>,
    /// Open elements, with how many namespace bindings each pushed.
    stack: Vec<(Element<'d>, usize)>,
    /// Namespace bindings in scope, innermost last (`""`: the default namespace).
    bindings: Vec<(String, String)>,
    /// Character data not yet made a text node.
    text: String,
    has_root: bool,
}

impl<'d> Builder<'_, 'd> {
    fn run(&mut self) -> Result<(), String> {
        let mut reader = quick_xml::Reader::from_str(self.input);
        reader.config_mut().check_end_names = true;
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    let at = usize::try_from(reader.error_position()).unwrap_or(before);
                    return Err(self.err(at, &e.to_string()));
                }
            };
            match event {
                Event::Start(start) => {
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(self.err(before, "elements are nested too deeply"));
                    }
                    let opened = self.open(&start, before)?;
                    self.stack.push(opened);
                }
                Event::Empty(start) => {
                    let (_, pushed) = self.open(&start, before)?;
                    self.unbind(pushed);
                }
                Event::End(_) => {
                    self.flush(before)?;
                    let (_, pushed) = self
                        .stack
                        .pop()
                        .ok_or_else(|| self.err(before, "a closing tag without an opening tag"))?;
                    self.unbind(pushed);
                }
                Event::Text(t) => self.text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    let c = resolve_reference(&r)
                        .ok_or_else(|| self.err(before, &format!("unknown entity &{};", &*r)))?;
                    self.text.push(c);
                }
                Event::CData(c) => self.text.push_str(&c.xml10_content()),
                Event::Comment(c) => {
                    self.flush(before)?;
                    let comment = self.doc.create_comment(&c.xml10_content());
                    match self.stack.last() {
                        Some((parent, _)) => parent.append_child(comment),
                        None => self.doc.root().append_child(comment),
                    }
                }
                Event::PI(pi) => {
                    self.flush(before)?;
                    let content = pi.content().trim().to_string();
                    let value = (!content.is_empty()).then_some(content.as_str());
                    let node = self.doc.create_processing_instruction(pi.target(), value);
                    match self.stack.last() {
                        Some((parent, _)) => parent.append_child(node),
                        None => self.doc.root().append_child(node),
                    }
                }
                Event::Decl(_) => {}
                Event::DocType(d) => {
                    if d.contains("<!ENTITY") {
                        return Err(self.err(before, "DOCTYPE entity declarations are not allowed"));
                    }
                }
                Event::Eof => break,
            }
        }
        if !self.stack.is_empty() {
            return Err(self.err(self.input.len(), "unexpected end of document"));
        }
        if !self.has_root {
            return Err(self.err(self.input.len(), "no document element"));
        }
        Ok(())
    }

    fn err(&self, at: usize, why: &str) -> String {
        let before = self
            .input
            .get(..at.min(self.input.len()))
            .unwrap_or(self.input);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: {why}")
    }

    /// Makes the pending character data a text node of the open element.
    fn flush(&mut self, at: usize) -> Result<(), String> {
        if self.text.is_empty() {
            return Ok(());
        }
        match self.stack.last() {
            Some((parent, _)) => parent.append_child(self.doc.create_text(&self.text)),
            None if super::text::is_xml_space(&self.text) => {}
            None => return Err(self.err(at, "text outside the document element")),
        }
        self.text.clear();
        Ok(())
    }

    fn unbind(&mut self, pushed: usize) {
        let keep = self.bindings.len().saturating_sub(pushed);
        self.bindings.truncate(keep);
    }

    fn open(&mut self, start: &BytesStart<'_>, at: usize) -> Result<(Element<'d>, usize), String> {
        self.flush(at)?;
        if self.stack.is_empty() && self.has_root {
            return Err(self.err(at, "more than one document element"));
        }
        let mut attributes = Vec::new();
        let mut pushed = 0;
        let mut declared = Vec::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.err(at, &e.to_string()))?;
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| self.err(at, &e.to_string()))?
                .into_owned();
            let key = attr.key.0;
            if key == "xmlns" {
                declared.push((String::new(), value));
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                declared.push((prefix.to_string(), value));
            } else {
                attributes.push((key.to_string(), value));
            }
        }
        for (prefix, uri) in &declared {
            self.bindings.push((prefix.clone(), uri.clone()));
            pushed += 1;
        }
        let (prefix, local, ns) = self.resolve(start.name().0, true, at)?;
        let el = self
            .doc
            .create_element(QName::with_namespace_uri(ns.as_deref(), local));
        el.set_preferred_prefix(prefix);
        for (p, uri) in &declared {
            if p.is_empty() {
                el.set_default_namespace_uri((!uri.is_empty()).then_some(uri.as_str()));
            } else {
                el.register_prefix(p, uri);
            }
        }
        for (key, value) in &attributes {
            let (prefix, local, ns) = self.resolve(key, false, at)?;
            if el
                .attribute(QName::with_namespace_uri(ns.as_deref(), local))
                .is_some()
            {
                return Err(self.err(at, &format!("duplicate attribute {key}")));
            }
            let a = el.set_attribute_value(QName::with_namespace_uri(ns.as_deref(), local), value);
            a.set_preferred_prefix(prefix);
        }
        match self.stack.last() {
            Some((parent, _)) => parent.append_child(el),
            None => {
                self.doc.root().append_child(el);
                self.has_root = true;
            }
        }
        Ok((el, pushed))
    }

    /// The prefix, local name and namespace of a written name. Unprefixed attributes are in
    /// no namespace.
    fn resolve<'n>(
        &self,
        written: &'n str,
        element: bool,
        at: usize,
    ) -> Result<(Option<&'n str>, &'n str, Option<String>), String> {
        let (prefix, local) = match written.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, written),
        };
        if !super::text::is_ncname(local) || prefix.is_some_and(|p| !super::text::is_ncname(p)) {
            return Err(self.err(at, &format!("{written} is not a valid XML name")));
        }
        let lookup = |p: &str| {
            self.bindings
                .iter()
                .rev()
                .find(|(bp, _)| bp == p)
                .map(|(_, uri)| uri.clone())
        };
        let ns = match prefix {
            Some("xml") => Some(XML_NS.to_string()),
            Some(p) => Some(
                lookup(p)
                    .ok_or_else(|| self.err(at, &format!("undeclared namespace prefix {p}")))?,
            ),
            None if element => lookup("").filter(|uri| !uri.is_empty()),
            None => None,
        };
        Ok((prefix, local, ns))
    }
}
