//! A lightweight skeleton of an XML document: what the direct XML → JSON conversion
//! (`message::convert::json_out`) reads instead of the `Element` tree.
//!
//! One 16-byte node per element, text run, reference, CDATA section, comment and
//! processing instruction, in document order, each element knowing where its subtree ends;
//! names, text and most attribute values stay in the received bytes and are pointed at. A
//! 9 MB body of small records takes a skeleton of about 1.4 times its size, where the tree
//! took tens of times it (an allocation per name, per text and per node).
//!
//! [`Skeleton::parse`] accepts exactly what [`super::parse`] accepts: the same reader and
//! configuration, the same checks in the same order (names, namespace prefixes, duplicate
//! attributes, nesting depth, entities, what may stand outside the document element). It
//! gives no error messages: on `None` the caller parses with [`super::parse`], which
//! reports the error, or builds the tree for what the skeleton does not hold (a name
//! longer than 64 KiB, a body past 4 GiB).

use std::borrow::Cow;

use super::{MAX_DEPTH, XML_NAMESPACE, is_ncname, resolve_reference};

/// A piece of the received text: byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

/// A string of the document: a span of the input, or one the parser had to build (an
/// attribute value with references or normalised blanks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Str {
    /// As written in the input.
    Span(Span),
    /// Index into the skeleton's built strings.
    Built(u32),
    /// The `xml` prefix's namespace.
    XmlNamespace,
}

/// One node, in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element {
        /// Where its qualified name starts in the input.
        name_start: u32,
        /// The qualified name's length.
        name_len: u16,
        /// The prefix's length (0: no prefix).
        prefix_len: u8,
        /// Bit 0: the name is in a namespace; bit 1: it has attributes or namespace
        /// declarations (in [`Skeleton::extras`]).
        flags: u8,
        /// The index after its last descendant.
        end: u32,
    },
    /// Character data as written (line ends not yet normalised).
    Text(Span),
    /// A character or predefined entity reference, resolved.
    Char(char),
    /// A CDATA section's content as written (line ends not yet normalised).
    CData(Span),
    /// A processing instruction: index into the skeleton's instructions (rare: kept apart
    /// so that every node fits 16 bytes).
    Pi(u32),
    /// A comment.
    Comment,
}

const IN_NAMESPACE: u8 = 1;
const HAS_EXTRAS: u8 = 2;

/// An attribute of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// The qualified name as written.
    pub name: Span,
    /// The prefix's length (0: no prefix).
    pub prefix_len: u32,
    /// The namespace the prefix resolves to.
    pub namespace: Option<Str>,
    /// The normalised value.
    pub value: Str,
}

/// A namespace declaration of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declaration {
    /// The declared prefix; `None` for the default namespace.
    pub prefix: Option<Span>,
    /// The namespace URI.
    pub uri: Str,
}

/// The attributes and declarations of one element that has any.
#[derive(Debug, Clone, Copy)]
struct Extras {
    node: u32,
    attributes: (u32, u32),
    declarations: (u32, u32),
}

/// A parsed document; see the module documentation.
#[derive(Debug)]
pub struct Skeleton<'i> {
    input: &'i str,
    nodes: Vec<Node>,
    /// Elements with attributes or declarations, by node index (ascending).
    extras: Vec<Extras>,
    attributes: Vec<Attribute>,
    declarations: Vec<Declaration>,
    /// Processing instructions: target and trimmed data.
    instructions: Vec<(Span, Span)>,
    built: Vec<String>,
}

impl<'i> Skeleton<'i> {
    /// Parses a document (UTF-8, optional BOM and prolog); `None` when [`super::parse`]
    /// would refuse it, or the skeleton cannot hold it.
    pub fn parse(input: &'i [u8]) -> Option<Skeleton<'i>> {
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let input = std::str::from_utf8(input).ok()?;
        u32::try_from(input.len()).ok()?;
        // Every node but a text run starts with `<` or `&`, and every text run ends at
        // one (or at the end): reserving for that many is never exceeded, and capacity
        // never written is never touched.
        let marks = input.bytes().filter(|b| matches!(b, b'<' | b'&')).count();
        let builder = Builder {
            skeleton: Skeleton {
                input,
                nodes: Vec::with_capacity(2 * marks + 1),
                extras: Vec::new(),
                attributes: Vec::new(),
                declarations: Vec::new(),
                instructions: Vec::new(),
                built: Vec::new(),
            },
            stack: Vec::new(),
            bindings: Vec::new(),
            root: false,
        };
        builder.run()
    }

    /// The document element's index.
    pub fn root(&self) -> u32 {
        0
    }

    /// The node at `index`.
    pub fn node(&self, index: u32) -> Node {
        self.nodes[index as usize]
    }

    /// The text of a span.
    pub fn text(&self, span: Span) -> &'i str {
        let start = span.start as usize;
        &self.input[start..start + span.len as usize]
    }

    /// A processing instruction's target and trimmed data.
    pub fn instruction(&self, index: u32) -> (&'i str, &'i str) {
        let (target, data) = self.instructions[index as usize];
        (self.text(target), self.text(data))
    }

    /// The text of a string.
    pub fn str(&self, s: Str) -> &str {
        match s {
            Str::Span(span) => self.text(span),
            Str::Built(i) => &self.built[i as usize],
            Str::XmlNamespace => XML_NAMESPACE,
        }
    }

    /// The children of the element at `index`, in document order.
    pub fn children(&self, index: u32) -> impl Iterator<Item = u32> + '_ {
        let end = self.end(index);
        let mut next = index + 1;
        std::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let current = next;
            next = match self.nodes[current as usize] {
                Node::Element { end, .. } => end,
                _ => current + 1,
            };
            Some(current)
        })
    }

    /// Whether the element at `index` has any child node.
    pub fn has_children(&self, index: u32) -> bool {
        self.end(index) > index + 1
    }

    fn end(&self, index: u32) -> u32 {
        match self.nodes[index as usize] {
            Node::Element { end, .. } => end,
            _ => index + 1,
        }
    }

    /// The prefix and local name of the element at `index` (`None` for another node).
    pub fn name(&self, index: u32) -> Option<(Option<&'i str>, &'i str)> {
        match self.nodes[index as usize] {
            Node::Element {
                name_start,
                name_len,
                prefix_len,
                ..
            } => Some(split_name(
                self.text(Span {
                    start: name_start,
                    len: u32::from(name_len),
                }),
                usize::from(prefix_len),
            )),
            _ => None,
        }
    }

    /// Whether the element at `index` is in a namespace.
    pub fn in_namespace(&self, index: u32) -> bool {
        matches!(self.nodes[index as usize], Node::Element { flags, .. } if flags & IN_NAMESPACE != 0)
    }

    fn extras(&self, index: u32) -> Option<&Extras> {
        match self.nodes[index as usize] {
            Node::Element { flags, .. } if flags & HAS_EXTRAS != 0 => self
                .extras
                .binary_search_by_key(&index, |e| e.node)
                .ok()
                .map(|i| &self.extras[i]),
            _ => None,
        }
    }

    /// The attributes of the element at `index`, in document order.
    pub fn attributes(&self, index: u32) -> &[Attribute] {
        self.extras(index).map_or(&[], |e| {
            &self.attributes[e.attributes.0 as usize..e.attributes.1 as usize]
        })
    }

    /// The namespace declarations of the element at `index`, in document order.
    pub fn declarations(&self, index: u32) -> &[Declaration] {
        self.extras(index).map_or(&[], |e| {
            &self.declarations[e.declarations.0 as usize..e.declarations.1 as usize]
        })
    }

    /// An attribute's prefix and local name.
    pub fn attribute_name(&self, attribute: &Attribute) -> (Option<&'i str>, &'i str) {
        split_name(self.text(attribute.name), attribute.prefix_len as usize)
    }
}

fn split_name(qualified: &str, prefix_len: usize) -> (Option<&str>, &str) {
    if prefix_len == 0 {
        (None, qualified)
    } else {
        (Some(&qualified[..prefix_len]), &qualified[prefix_len + 1..])
    }
}

/// Where `part`, a slice of `input`, lies in it.
fn span_of(input: &str, part: &str) -> Option<Span> {
    if part.is_empty() {
        return Some(Span { start: 0, len: 0 });
    }
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    if start + part.len() > input.len() {
        return None;
    }
    Some(Span {
        start: u32::try_from(start).ok()?,
        len: u32::try_from(part.len()).ok()?,
    })
}

// === impl Builder ===

/// What [`super::Parser`] does, building the skeleton.
struct Builder<'i> {
    skeleton: Skeleton<'i>,
    /// Open elements, innermost last: node index and how many bindings each pushed.
    stack: Vec<(u32, usize)>,
    /// In-scope namespace bindings, innermost last (`None` prefix: default namespace).
    bindings: Vec<(Option<&'i str>, Str)>,
    root: bool,
}

impl<'i> Builder<'i> {
    fn run(mut self) -> Option<Skeleton<'i>> {
        use quick_xml::events::Event;
        let input = self.skeleton.input;
        let mut reader = quick_xml::Reader::from_str(input);
        reader.config_mut().check_end_names = true;
        loop {
            match reader.read_event().ok()? {
                Event::Start(start) => {
                    let (index, pushed) = self.open(&start)?;
                    if self.stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    self.stack.push((index, pushed));
                }
                Event::Empty(start) => {
                    let (index, pushed) = self.open(&start)?;
                    self.close(index, pushed)?;
                }
                Event::End(_) => {
                    let (index, pushed) = self.stack.pop()?;
                    self.close(index, pushed)?;
                }
                Event::Text(t) => {
                    if self.stack.is_empty() {
                        if !t.trim().is_empty() {
                            return None;
                        }
                    } else {
                        let span = span_of(input, &t)?;
                        self.skeleton.nodes.push(Node::Text(span));
                    }
                }
                Event::GeneralRef(r) => {
                    let c = resolve_reference(&r)?;
                    if self.stack.is_empty() {
                        // Text outside the document element, allowed only when blank.
                        if !c.to_string().trim().is_empty() {
                            return None;
                        }
                    } else {
                        self.skeleton.nodes.push(Node::Char(c));
                    }
                }
                Event::CData(c) => {
                    if self.stack.is_empty() {
                        return None;
                    }
                    let span = span_of(input, &c)?;
                    self.skeleton.nodes.push(Node::CData(span));
                }
                Event::Comment(_) => {
                    if !self.stack.is_empty() {
                        self.skeleton.nodes.push(Node::Comment);
                    }
                }
                Event::PI(pi) => {
                    if !self.stack.is_empty() {
                        let target = span_of(input, pi.target())?;
                        let data = span_of(input, pi.content().trim())?;
                        let index = u32::try_from(self.skeleton.instructions.len()).ok()?;
                        self.skeleton.instructions.push((target, data));
                        self.skeleton.nodes.push(Node::Pi(index));
                    }
                }
                Event::Decl(_) => {}
                Event::DocType(d) => {
                    if d.contains("<!ENTITY") {
                        return None;
                    }
                }
                Event::Eof => break,
            }
        }
        (self.stack.is_empty() && self.root).then_some(self.skeleton)
    }

    fn open(&mut self, start: &quick_xml::events::BytesStart<'_>) -> Option<(u32, usize)> {
        if self.root {
            return None;
        }
        let input = self.skeleton.input;
        let index = u32::try_from(self.skeleton.nodes.len()).ok()?;
        let first_attribute = self.skeleton.attributes.len();
        let first_declaration = self.skeleton.declarations.len();
        // Attribute names and values, resolved once the element's own declarations are
        // bound (as the tree parser does).
        let mut raw_attributes: Vec<(&str, Str)> = Vec::new();
        for attr in start.attributes() {
            let attr = attr.ok()?;
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()?;
            let value = self.string(value)?;
            let key = span_of(input, attr.key.0)?;
            let key = self.skeleton.text(key);
            if key == "xmlns" {
                self.skeleton.declarations.push(Declaration {
                    prefix: None,
                    uri: value,
                });
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                self.skeleton.declarations.push(Declaration {
                    prefix: Some(span_of(input, prefix)?),
                    uri: value,
                });
            } else {
                raw_attributes.push((key, value));
            }
        }
        let pushed = self.skeleton.declarations.len() - first_declaration;
        for decl in &self.skeleton.declarations[first_declaration..] {
            let prefix = decl.prefix.map(|p| self.skeleton.text(p));
            self.bindings.push((prefix, decl.uri));
        }
        let name = span_of(input, start.name().0)?;
        let (prefix, namespace) = self.resolve(self.skeleton.text(name), true)?;
        for (key, value) in raw_attributes {
            let (attr_prefix, attr_namespace) = self.resolve(key, false)?;
            let attribute = Attribute {
                name: span_of(input, key)?,
                prefix_len: u32::try_from(attr_prefix.map_or(0, str::len)).ok()?,
                namespace: attr_namespace,
                value,
            };
            // Duplicates as the tree judges them: the same prefix, local name and namespace.
            let skeleton = &self.skeleton;
            let same = |a: &Attribute| {
                skeleton.attribute_name(a) == skeleton.attribute_name(&attribute)
                    && a.namespace.map(|n| skeleton.str(n))
                        == attribute.namespace.map(|n| skeleton.str(n))
            };
            if self.skeleton.attributes[first_attribute..].iter().any(same) {
                return None;
            }
            self.skeleton.attributes.push(attribute);
        }
        let mut flags = 0;
        if namespace.is_some() {
            flags |= IN_NAMESPACE;
        }
        if self.skeleton.attributes.len() > first_attribute || pushed > 0 {
            flags |= HAS_EXTRAS;
            self.skeleton.extras.push(Extras {
                node: index,
                attributes: (
                    u32::try_from(first_attribute).ok()?,
                    u32::try_from(self.skeleton.attributes.len()).ok()?,
                ),
                declarations: (
                    u32::try_from(first_declaration).ok()?,
                    u32::try_from(self.skeleton.declarations.len()).ok()?,
                ),
            });
        }
        self.skeleton.nodes.push(Node::Element {
            name_start: name.start,
            name_len: u16::try_from(name.len).ok()?,
            prefix_len: u8::try_from(prefix.map_or(0, str::len)).ok()?,
            flags,
            end: index + 1,
        });
        Some((index, pushed))
    }

    fn close(&mut self, index: u32, pushed: usize) -> Option<()> {
        self.bindings
            .truncate(self.bindings.len().saturating_sub(pushed));
        let end = u32::try_from(self.skeleton.nodes.len()).ok()?;
        if let Some(Node::Element { end: e, .. }) = self.skeleton.nodes.get_mut(index as usize) {
            *e = end;
        }
        if self.stack.is_empty() {
            if self.root {
                return None;
            }
            self.root = true;
        }
        Some(())
    }

    /// A string of the document: pointed at when it is a piece of the input.
    fn string(&mut self, value: Cow<'_, str>) -> Option<Str> {
        if let Cow::Borrowed(s) = &value
            && let Some(span) = span_of(self.skeleton.input, s)
        {
            return Some(Str::Span(span));
        }
        let index = u32::try_from(self.skeleton.built.len()).ok()?;
        self.skeleton.built.push(value.into_owned());
        Some(Str::Built(index))
    }

    /// The prefix and namespace of a written name, as the tree parser resolves them.
    fn resolve(
        &self,
        written: &'i str,
        is_element: bool,
    ) -> Option<(Option<&'i str>, Option<Str>)> {
        let (prefix, local) = match written.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, written),
        };
        if !is_ncname(local) || prefix.is_some_and(|p| !is_ncname(p)) {
            return None;
        }
        let namespace = match prefix {
            Some("xml") => Some(Str::XmlNamespace),
            Some(p) => Some(
                self.bindings
                    .iter()
                    .rev()
                    .find(|(bp, _)| *bp == Some(p))
                    .map(|(_, uri)| *uri)?,
            ),
            None if is_element => self
                .bindings
                .iter()
                .rev()
                .find(|(bp, _)| bp.is_none())
                .map(|(_, uri)| *uri)
                .filter(|uri| !self.skeleton.str(*uri).is_empty()),
            None => None,
        };
        Some((prefix, namespace))
    }
}
