//! A small owned XML tree: what an XML payload is parsed into (at most once per message),
//! what JSON is converted to, and what XPath and payloadFactory work on.
//!
//! Parsing (`parse`) is the first step for an XML body; serialising (`Element::write_to`) the
//! last before bytes leave the runtime. Both are UTF-8 only.

pub mod skeleton;

/// A qualified name as written in the document, with the namespace it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QName {
    /// The prefix as written (`soapenv` in `soapenv:Body`), if any.
    pub prefix: Option<String>,
    /// The local part of the name.
    pub local: String,
    /// The namespace URI the prefix (or the default namespace) resolves to, if any.
    pub namespace: Option<String>,
}

/// An attribute of an element (namespace declarations are kept apart, in `Element::namespaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: QName,
    /// The unescaped value.
    pub value: String,
}

/// A namespace declared on an element: `xmlns="uri"` (prefix `None`) or `xmlns:p="uri"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDecl {
    /// The declared prefix; `None` for the default namespace.
    pub prefix: Option<String>,
    /// The namespace URI.
    pub uri: String,
}

/// An element with its attributes, namespace declarations and children in document order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The element's name.
    pub name: QName,
    /// Attributes in document order.
    pub attributes: Vec<Attribute>,
    /// Namespaces declared on this element.
    pub namespaces: Vec<NamespaceDecl>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

/// A node inside an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element, boxed: text nodes outnumber elements in most payloads, and an
    /// inline `Element` (144 bytes) made every node that large.
    Element(Box<Element>),
    /// Character data (unescaped).
    Text(String),
    /// A CDATA section's content.
    CData(String),
    /// A comment's content.
    Comment(String),
    /// A processing instruction (`<?xml-multiple name?>` marks JSON arrays).
    ProcessingInstruction {
        /// The PI target (`xml-multiple`).
        target: String,
        /// The PI data, trimmed.
        data: String,
    },
}

/// The deepest element nesting we accept: deeper documents are rejected so that recursive
/// walks (serialising, converting, dropping) cannot exhaust the stack.
pub const MAX_DEPTH: usize = 512;

/// The namespace bound to the `xml` prefix by the XML specification.
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Why a body could not be parsed as XML, with where it went wrong.
///
/// It is the client's fault: the transport answers it with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML at line {line}, column {column}: {message}")]
pub struct XmlError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the input.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl XmlError {
    fn at(input: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(input.len());
        // The offset may fall inside a multi-byte character when it comes from the parser.
        let mut cut = offset;
        while !input.is_char_boundary(cut) {
            cut -= 1;
        }
        let before = &input[..cut];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        XmlError {
            message: message.into(),
            offset,
            line,
            column,
        }
    }
}

// === impl QName ===

impl QName {
    /// A name without prefix or namespace.
    pub fn local(local: impl Into<String>) -> Self {
        QName {
            prefix: None,
            local: local.into(),
            namespace: None,
        }
    }

    /// A name in a namespace, written with the given prefix (`None`: the default namespace).
    pub fn namespaced(
        prefix: Option<&str>,
        local: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        QName {
            prefix: prefix.map(str::to_owned),
            local: local.into(),
            namespace: Some(namespace.into()),
        }
    }

    /// The name as written: `prefix:local` or `local`.
    pub fn qualified(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

// === impl Element ===

impl Element {
    /// An empty element with a local name and no namespace.
    pub fn new(local: impl Into<String>) -> Self {
        Element {
            name: QName::local(local),
            ..Element::default()
        }
    }

    /// An empty element with the given name.
    pub fn with_name(name: QName) -> Self {
        Element {
            name,
            ..Element::default()
        }
    }

    /// Parses a document (UTF-8, optional BOM and prolog) into its document element.
    pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
        parse(input)
    }

    /// Adds a child element (builder style).
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(Box::new(child)));
        self
    }

    /// Adds a text node (builder style).
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.push_text(text);
        self
    }

    /// Adds or replaces an attribute without namespace (builder style).
    pub fn with_attribute(mut self, local: &str, value: impl Into<String>) -> Self {
        self.set_attribute(local, value);
        self
    }

    /// Appends text, merging with a preceding text node.
    pub fn push_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        if let Some(Node::Text(last)) = self.children.last_mut() {
            last.push_str(&text);
        } else {
            self.children.push(Node::Text(text));
        }
    }

    /// Appends a child element.
    pub fn push_child(&mut self, child: Element) {
        self.children.push(Node::Element(Box::new(child)));
    }

    /// The concatenated text and CDATA content of this element and its descendants
    /// (what XPath's `string()` returns).
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(t) | Node::CData(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
                Node::Comment(_) | Node::ProcessingInstruction { .. } => {}
            }
        }
    }

    /// Child elements in document order.
    pub fn child_elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(&**e),
            _ => None,
        })
    }

    /// Child elements, mutably, in document order.
    pub fn child_elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(&mut **e),
            _ => None,
        })
    }

    /// The first child element with this local name (any namespace).
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.child_elements().find(|e| e.name.local == local)
    }

    /// The first child element with this local name (any namespace), mutably.
    pub fn child_mut(&mut self, local: &str) -> Option<&mut Element> {
        self.child_elements_mut().find(|e| e.name.local == local)
    }

    /// The first child element with this local name in this namespace (`None`: no namespace).
    pub fn child_ns(&self, namespace: Option<&str>, local: &str) -> Option<&Element> {
        self.child_elements()
            .find(|e| e.name.local == local && e.name.namespace.as_deref() == namespace)
    }

    /// All child elements with this local name (any namespace).
    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> {
        self.child_elements().filter(move |e| e.name.local == local)
    }

    /// The value of the attribute with this local name (any namespace).
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.local == local)
            .map(|a| a.value.as_str())
    }

    /// Sets an attribute without namespace, replacing one with the same local name.
    pub fn set_attribute(&mut self, local: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .attributes
            .iter_mut()
            .find(|a| a.name.local == local && a.name.namespace.is_none())
        {
            Some(a) => a.value = value,
            None => self.attributes.push(Attribute {
                name: QName::local(local),
                value,
            }),
        }
    }

    /// Whether the element has element children (as opposed to only text or nothing).
    pub fn has_child_elements(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Element(_)))
    }

    /// Serialises the element (without XML declaration) into a string.
    pub fn to_xml_string(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out);
        // The writer only ever emits the UTF-8 of `String`s and ASCII markup.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Serialises the element (without XML declaration), appending to `out`.
    ///
    /// Namespace declarations are written as recorded on each element; a declaration is
    /// added only where a name's prefix would otherwise not resolve to its namespace
    /// (elements built in code, or moved out of the document that declared them).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut scopes: Vec<(Option<String>, String)> = Vec::new();
        write_element(self, out, &mut scopes);
    }
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml_string())
    }
}

// === parsing ===

/// Parses a document (UTF-8, optional BOM and prolog) into its document element.
///
/// Comments and processing instructions inside the document element are kept; those in
/// the prolog and epilog are dropped. A DOCTYPE that declares entities is refused
/// (no external entities, no entity expansion bombs); a plain DOCTYPE is skipped.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => {
            let valid = std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default();
            return Err(XmlError::at(
                valid,
                e.valid_up_to(),
                "the document is not valid UTF-8",
            ));
        }
    };
    Parser {
        input: text,
        stack: Vec::new(),
        bindings: Vec::new(),
        root: None,
    }
    .run()
}

struct Parser<'i> {
    input: &'i str,
    /// Open elements, innermost last, with how many bindings each pushed.
    stack: Vec<(Element, usize)>,
    /// In-scope namespace bindings, innermost last (`None` prefix: default namespace).
    bindings: Vec<(Option<String>, String)>,
    root: Option<Element>,
}

impl<'i> Parser<'i> {
    fn run(mut self) -> Result<Element, XmlError> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(self.input);
        reader.config_mut().check_end_names = true;
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let at = usize::try_from(reader.error_position()).unwrap_or(before);
                    return Err(XmlError::at(self.input, at, e.to_string()));
                }
            };
            match event {
                Event::Start(start) => {
                    let element = self.open(&start, before)?;
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(self.err(before, "elements are nested too deeply"));
                    }
                    self.stack.push(element);
                }
                Event::Empty(start) => {
                    let (element, pushed) = self.open(&start, before)?;
                    self.close(element, pushed, before)?;
                }
                Event::End(_) => {
                    // check_end_names guarantees a matching open element.
                    let Some((element, pushed)) = self.stack.pop() else {
                        return Err(self.err(before, "closing tag without an opening tag"));
                    };
                    self.close(element, pushed, before)?;
                }
                Event::Text(t) => {
                    let content = t.xml10_content();
                    self.text(&content, before)?;
                }
                Event::GeneralRef(r) => {
                    let resolved = resolve_reference(&r)
                        .ok_or_else(|| self.err(before, format!("unknown entity `&{};`", &*r)))?;
                    let mut buf = [0u8; 4];
                    self.text(resolved.encode_utf8(&mut buf), before)?;
                }
                Event::CData(c) => {
                    let content = c.xml10_content().into_owned();
                    self.node(
                        Node::CData(content),
                        before,
                        "CDATA outside the document element",
                    )?;
                }
                Event::Comment(c) => {
                    if let Some((parent, _)) = self.stack.last_mut() {
                        parent
                            .children
                            .push(Node::Comment(c.xml10_content().into_owned()));
                    }
                }
                Event::PI(pi) => {
                    if let Some((parent, _)) = self.stack.last_mut() {
                        parent.children.push(Node::ProcessingInstruction {
                            target: pi.target().to_owned(),
                            data: pi.content().trim().to_owned(),
                        });
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
        self.root
            .ok_or_else(|| XmlError::at(self.input, self.input.len(), "no document element"))
    }

    fn err(&self, offset: usize, message: impl Into<String>) -> XmlError {
        XmlError::at(self.input, offset, message)
    }

    fn text(&mut self, content: &str, at: usize) -> Result<(), XmlError> {
        match self.stack.last_mut() {
            Some((parent, _)) => {
                parent.push_text(content);
                Ok(())
            }
            None if content.trim().is_empty() => Ok(()),
            None => Err(self.err(at, "text outside the document element")),
        }
    }

    fn node(&mut self, node: Node, at: usize, outside: &str) -> Result<(), XmlError> {
        match self.stack.last_mut() {
            Some((parent, _)) => {
                parent.children.push(node);
                Ok(())
            }
            None => Err(self.err(at, outside)),
        }
    }

    fn open(
        &mut self,
        start: &quick_xml::events::BytesStart<'_>,
        at: usize,
    ) -> Result<(Element, usize), XmlError> {
        if self.root.is_some() {
            return Err(self.err(at, "more than one document element"));
        }
        let mut element = Element::default();
        let mut raw_attributes = Vec::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.err(at, e.to_string()))?;
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| self.err(at, e.to_string()))?
                .into_owned();
            let key = attr.key.0;
            if key == "xmlns" {
                element.namespaces.push(NamespaceDecl {
                    prefix: None,
                    uri: value,
                });
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                element.namespaces.push(NamespaceDecl {
                    prefix: Some(prefix.to_owned()),
                    uri: value,
                });
            } else {
                raw_attributes.push((key.to_owned(), value));
            }
        }
        let pushed = element.namespaces.len();
        for decl in &element.namespaces {
            self.bindings.push((decl.prefix.clone(), decl.uri.clone()));
        }
        element.name = self.resolve(start.name().0, true, at)?;
        for (key, value) in raw_attributes {
            let name = self.resolve(&key, false, at)?;
            if element.attributes.iter().any(|a| a.name == name) {
                return Err(self.err(at, format!("duplicate attribute `{key}`")));
            }
            element.attributes.push(Attribute { name, value });
        }
        Ok((element, pushed))
    }

    fn close(&mut self, element: Element, pushed: usize, at: usize) -> Result<(), XmlError> {
        self.bindings
            .truncate(self.bindings.len().saturating_sub(pushed));
        match self.stack.last_mut() {
            Some((parent, _)) => parent.push_child(element),
            None if self.root.is_none() => self.root = Some(element),
            None => return Err(self.err(at, "more than one document element")),
        }
        Ok(())
    }

    /// Resolves a written name against the bindings in scope. Unprefixed attributes are in
    /// no namespace (they do not take the default namespace).
    fn resolve(&self, written: &str, is_element: bool, at: usize) -> Result<QName, XmlError> {
        let (prefix, local) = match written.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, written),
        };
        // quick-xml takes whatever stands between `<` and the first blank for the name
        // (`<\r/>` gives an empty one); a tree with a name that is no QName would be
        // written out as XML that no parser reads back, ours included.
        if !is_ncname(local) || prefix.is_some_and(|p| !is_ncname(p)) {
            return Err(self.err(at, format!("`{written}` is not a valid XML name")));
        }
        let namespace = match prefix {
            Some("xml") => Some(XML_NAMESPACE.to_owned()),
            Some(p) => {
                let uri = self
                    .bindings
                    .iter()
                    .rev()
                    .find(|(bp, _)| bp.as_deref() == Some(p))
                    .map(|(_, uri)| uri.clone())
                    .ok_or_else(|| self.err(at, format!("undeclared namespace prefix `{p}`")))?;
                Some(uri)
            }
            None if is_element => self
                .bindings
                .iter()
                .rev()
                .find(|(bp, _)| bp.is_none())
                .map(|(_, uri)| uri.clone())
                .filter(|uri| !uri.is_empty()),
            None => None,
        };
        Ok(QName {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            namespace,
        })
    }
}

/// Whether `s` is an NCName (Namespaces in XML 1.0): a name without `:`.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// NCName start characters (XML 1.0 fifth edition, without `:`).
pub(crate) fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// NCName characters after the first.
pub(crate) fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

pub(crate) use ferry_api::xml_reference::resolve_reference;

// === serialising ===

fn write_element(element: &Element, out: &mut Vec<u8>, scopes: &mut Vec<(Option<String>, String)>) {
    let mark = scopes.len();
    out.push(b'<');
    let name = element.name.qualified();
    out.extend_from_slice(name.as_bytes());
    for decl in &element.namespaces {
        write_ns_decl(out, decl.prefix.as_deref(), &decl.uri);
        scopes.push((decl.prefix.clone(), decl.uri.clone()));
    }
    // Declare the element's own namespace if it would not resolve as recorded.
    let wanted = element.name.namespace.as_deref().unwrap_or("");
    let prefix = element.name.prefix.as_deref();
    if prefix != Some("xml") && lookup(scopes, prefix).unwrap_or("") != wanted {
        write_ns_decl(out, prefix, wanted);
        scopes.push((prefix.map(str::to_owned), wanted.to_owned()));
    }
    for attr in &element.attributes {
        let written = match (&attr.name.prefix, &attr.name.namespace) {
            (Some(p), Some(ns)) if p != "xml" => {
                if lookup(scopes, Some(p)) != Some(ns.as_str()) {
                    write_ns_decl(out, Some(p), ns);
                    scopes.push((Some(p.clone()), ns.clone()));
                }
                attr.name.qualified()
            }
            (None, Some(ns)) => {
                // A namespaced attribute needs a prefix; pick a free one.
                let p = free_prefix(scopes);
                write_ns_decl(out, Some(&p), ns);
                scopes.push((Some(p.clone()), ns.clone()));
                format!("{p}:{}", attr.name.local)
            }
            _ => attr.name.qualified(),
        };
        out.push(b' ');
        out.extend_from_slice(written.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attribute(&attr.value, out);
        out.push(b'"');
    }
    if element.children.is_empty() {
        out.extend_from_slice(b"/>");
    } else {
        out.push(b'>');
        for child in &element.children {
            match child {
                Node::Element(e) => write_element(e, out, scopes),
                Node::Text(t) => escape_text(t, out),
                Node::CData(c) => {
                    out.extend_from_slice(b"<![CDATA[");
                    // `]]>` cannot appear inside a CDATA section: split it over two.
                    out.extend_from_slice(c.replace("]]>", "]]]]><![CDATA[>").as_bytes());
                    out.extend_from_slice(b"]]>");
                }
                Node::Comment(c) => {
                    out.extend_from_slice(b"<!--");
                    out.extend_from_slice(c.replace("--", "- -").as_bytes());
                    out.extend_from_slice(b"-->");
                }
                Node::ProcessingInstruction { target, data } => {
                    out.extend_from_slice(b"<?");
                    out.extend_from_slice(target.as_bytes());
                    if !data.is_empty() {
                        out.push(b' ');
                        out.extend_from_slice(data.replace("?>", "? >").as_bytes());
                    }
                    out.extend_from_slice(b"?>");
                }
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(name.as_bytes());
        out.push(b'>');
    }
    scopes.truncate(mark);
}

fn lookup<'a>(scopes: &'a [(Option<String>, String)], prefix: Option<&str>) -> Option<&'a str> {
    scopes
        .iter()
        .rev()
        .find(|(p, _)| p.as_deref() == prefix)
        .map(|(_, uri)| uri.as_str())
}

fn free_prefix(scopes: &[(Option<String>, String)]) -> String {
    (0..)
        .map(|i| format!("ns{i}"))
        .find(|p| lookup(scopes, Some(p)).is_none())
        .unwrap_or_else(|| "ns".to_owned())
}

fn write_ns_decl(out: &mut Vec<u8>, prefix: Option<&str>, uri: &str) {
    match prefix {
        Some(p) => {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(p.as_bytes());
        }
        None => out.extend_from_slice(b" xmlns"),
    }
    out.extend_from_slice(b"=\"");
    escape_attribute(uri, out);
    out.push(b'"');
}

pub(crate) fn escape_text(text: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            // A bare CR would be read back as LF: keep it as a reference.
            b'\r' => b"&#13;",
            _ => continue,
        };
        out.extend_from_slice(&text.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&text.as_bytes()[last..]);
}

pub(crate) fn escape_attribute(text: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' => b"&quot;",
            // Whitespace in attributes is normalised to spaces when read: keep it as references.
            b'\n' => b"&#10;",
            b'\r' => b"&#13;",
            b'\t' => b"&#9;",
            _ => continue,
        };
        out.extend_from_slice(&text.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&text.as_bytes()[last..]);
}

#[cfg(test)]
mod tests;
