//! A small XML tree of a Synapse artifact for `ferry import`: elements with their
//! attributes, text, source line and the byte span of their content, so a mapper can
//! report where an element is and copy inline XML (a payloadFactory format, an inline
//! local entry) exactly as it was written.

use ferry_api::xml_reference::resolve_reference;
use quick_xml::events::Event;

/// One element of a Synapse file.
#[derive(Debug, Clone)]
pub struct Element {
    /// The local name (`log`, `payloadFactory`), without prefix.
    pub name: String,
    /// Attributes in document order, namespace declarations excluded.
    pub attrs: Vec<(String, String)>,
    /// Namespace declarations on this element: `(prefix, uri)`, `""` for the default.
    pub namespaces: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The concatenated text and CDATA directly inside the element.
    pub text: String,
    /// 1-based line of the start tag.
    pub line: u32,
    /// The byte range of the element's content (between its tags) in the source.
    pub inner: std::ops::Range<usize>,
}

/// A parse failure with its line.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// 1-based line where the parser stopped.
    pub line: u32,
    /// What went wrong.
    pub message: String,
}

impl Element {
    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element's trimmed text.
    pub fn text_trimmed(&self) -> &str {
        self.text.trim()
    }
}

/// Maps byte offsets to 1-based lines.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(starts)
    }

    fn line(&self, offset: usize) -> u32 {
        let index = self.0.partition_point(|start| *start <= offset);
        u32::try_from(index).unwrap_or(u32::MAX)
    }
}

/// Parses `text` into its document element.
pub fn parse(text: &str) -> Result<Element, ParseError> {
    let lines = Lines::new(text);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let position = |reader: &quick_xml::Reader<&[u8]>| -> usize {
        usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
    };
    loop {
        let before = position(&reader);
        let event = reader.read_event().map_err(|e| ParseError {
            line: lines.line(usize::try_from(reader.error_position()).unwrap_or(before)),
            message: e.to_string(),
        })?;
        let error = |message: String| ParseError {
            line: lines.line(before),
            message,
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(event, Event::Empty(_));
                let mut element = open(start, lines.line(before)).map_err(error)?;
                let after = position(&reader);
                element.inner = after..after;
                if root.is_some() {
                    return Err(error("content after the document element".into()));
                }
                if empty {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let Some(mut element) = stack.pop() else {
                    return Err(error("an end tag without a start tag".into()));
                };
                element.inner.end = before;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&content);
                } else if !content.trim().is_empty() {
                    return Err(error("text outside the document element".into()));
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner().into_owned();
                let c = resolve_reference(&name)
                    .ok_or_else(|| error(format!("unknown entity &{name};")))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::DocType(d) => {
                if d.into_inner().contains("<!ENTITY") {
                    return Err(error("entity declarations are not read".into()));
                }
            }
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(ParseError {
            line: open.line,
            message: format!("<{}> is never closed", open.name),
        });
    }
    root.ok_or_else(|| ParseError {
        line: 1,
        message: "no document element".into(),
    })
}

fn open(start: &quick_xml::events::BytesStart<'_>, line: u32) -> Result<Element, String> {
    let qname = start.name().0.to_string();
    let name = qname
        .split_once(':')
        .map_or(qname.as_str(), |(_, local)| local)
        .to_string();
    let mut attrs = Vec::new();
    let mut namespaces = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("<{qname}>: {e}"))?;
        let key = attr.key.0.to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("<{qname}> attribute {key}: {e}"))?
            .into_owned();
        if key == "xmlns" {
            namespaces.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            namespaces.push((prefix.to_string(), value));
        } else {
            attrs.push((key, value));
        }
    }
    Ok(Element {
        name,
        attrs,
        namespaces,
        children: Vec::new(),
        text: String::new(),
        line,
        inner: 0..0,
    })
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_carry_their_lines_attributes_and_inner_span() {
        let text = "<api name=\"A\" xmlns=\"http://ws.apache.org/ns/synapse\">\n  <resource methods=\"GET\">\n    <inSequence><log level=\"full\"/></inSequence>\n  </resource>\n</api>\n";
        let root = parse(text).expect("parses");
        assert_eq!(root.name, "api");
        assert_eq!(root.attr("name"), Some("A"));
        let resource = &root.children[0];
        assert_eq!(resource.line, 2);
        let in_seq = &resource.children[0];
        assert_eq!(in_seq.line, 3);
        assert_eq!(&text[in_seq.inner.clone()], "<log level=\"full\"/>");
        assert_eq!(in_seq.children[0].attr("level"), Some("full"));
    }

    #[test]
    fn malformed_xml_is_an_error_with_a_line() {
        let err = parse("<a>\n<b>\n</a>").expect_err("mismatched");
        assert!(err.line >= 2, "{err:?}");
        let err = parse("<a>\n<b>").expect_err("unclosed");
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn text_and_entities_are_decoded() {
        let root = parse("<a>x &lt; y<![CDATA[ & z]]></a>").expect("parses");
        assert_eq!(root.text, "x < y & z");
    }
}
