//! Writes the result tree: XML with the namespace declarations its names need (and those
//! copied elements carried), or the text of the text output method.

use sxd_document::dom::{ChildOfElement, Element};

use super::compile::OutputSpec;
use super::exec::RAW_TEXT;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The text output method: the result's text, in document order.
pub(super) fn text(result: Element<'_>) -> String {
    let mut out = String::new();
    fn walk(el: Element<'_>, out: &mut String) {
        for c in el.children() {
            match c {
                ChildOfElement::Text(t) => out.push_str(t.text()),
                ChildOfElement::Element(e) => walk(e, out),
                ChildOfElement::ProcessingInstruction(p) if p.target() == RAW_TEXT => {
                    out.push_str(p.value().unwrap_or_default());
                }
                _ => {}
            }
        }
    }
    walk(result, &mut out);
    out
}

/// The XML output method (and `html`, written as XML).
pub(super) fn xml(result: Element<'_>, spec: &OutputSpec, copied_namespaces: bool) -> String {
    let mut w = Writer {
        out: String::with_capacity(1024),
        scope: vec![
            ("xml".into(), XML_NS.into()),
            (String::new(), String::new()),
        ],
        spec,
        copied_namespaces,
        generated: 0,
    };
    if spec.xml_declaration {
        w.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"");
        if let Some(s) = &spec.standalone {
            w.out.push_str(&format!(" standalone=\"{s}\""));
        }
        w.out.push_str("?>");
        if spec.indent {
            w.out.push('\n');
        }
    }
    if let Some(system) = &spec.doctype_system {
        let root = result.children().into_iter().find_map(|c| c.element());
        if let Some(root) = root {
            let name = match root.preferred_prefix() {
                Some(p) if !p.is_empty() => format!("{p}:{}", root.name().local_part()),
                _ => root.name().local_part().to_string(),
            };
            match &spec.doctype_public {
                Some(public) => w.out.push_str(&format!(
                    "<!DOCTYPE {name} PUBLIC \"{public}\" \"{system}\">"
                )),
                None => w
                    .out
                    .push_str(&format!("<!DOCTYPE {name} SYSTEM \"{system}\">")),
            }
            if spec.indent {
                w.out.push('\n');
            }
        }
    }
    w.children(result, 0, false);
    w.out
}

struct Writer<'s> {
    out: String,
    /// Namespace bindings in scope, innermost last (`""`: the default namespace).
    scope: Vec<(String, String)>,
    spec: &'s OutputSpec,
    copied_namespaces: bool,
    generated: usize,
}

impl Writer<'_> {
    fn lookup(&self, prefix: &str) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    fn children(&mut self, el: Element<'_>, depth: usize, cdata: bool) {
        let children = el.children();
        let indent = self.spec.indent
            && !children.iter().any(|c| match c {
                ChildOfElement::Text(t) => !super::text::is_xml_space(t.text()),
                ChildOfElement::ProcessingInstruction(p) => p.target() == RAW_TEXT,
                _ => false,
            });
        let mut any = false;
        for c in &children {
            if indent {
                if let ChildOfElement::Text(_) = c {
                    continue;
                }
                if depth > 0 || any {
                    self.out.push('\n');
                    for _ in 0..depth {
                        self.out.push_str("  ");
                    }
                }
            }
            any = true;
            match *c {
                // A result nested as deep as templates may nest continues on heap segments.
                ChildOfElement::Element(e) => {
                    stacker::maybe_grow(64 << 10, 1 << 20, || self.element(e, depth + 1))
                }
                ChildOfElement::Text(t) if cdata => {
                    // One section for a run of text nodes.
                    let open = self.out.ends_with("]]>");
                    if open {
                        self.out.truncate(self.out.len() - 3);
                    } else {
                        self.out.push_str("<![CDATA[");
                    }
                    self.out
                        .push_str(&t.text().replace("]]>", "]]]]><![CDATA[>"));
                    self.out.push_str("]]>");
                }
                ChildOfElement::Text(t) => escape(&mut self.out, t.text(), false),
                ChildOfElement::Comment(cm) => {
                    self.out.push_str("<!--");
                    self.out.push_str(cm.text());
                    self.out.push_str("-->");
                }
                ChildOfElement::ProcessingInstruction(p) if p.target() == RAW_TEXT => {
                    self.out.push_str(p.value().unwrap_or_default());
                }
                ChildOfElement::ProcessingInstruction(p) => {
                    self.out.push_str("<?");
                    self.out.push_str(p.target());
                    if let Some(v) = p.value().filter(|v| !v.is_empty()) {
                        self.out.push(' ');
                        self.out.push_str(v);
                    }
                    self.out.push_str("?>");
                }
            }
        }
        if indent && any && depth > 0 {
            self.out.push('\n');
            for _ in 0..depth - 1 {
                self.out.push_str("  ");
            }
        }
    }

    /// Declares `prefix` as `uri` on the element being written, unless already in scope.
    fn declare(&mut self, decls: &mut Vec<(String, String)>, prefix: &str, uri: &str) {
        if self.lookup(prefix) != Some(uri) {
            decls.push((prefix.to_string(), uri.to_string()));
            self.scope.push((prefix.to_string(), uri.to_string()));
        }
    }

    fn element(&mut self, el: Element<'_>, depth: usize) {
        let mark = self.scope.len();
        let mut decls = Vec::new();
        let name = el.name();
        let qname = match name.namespace_uri() {
            None | Some("") => {
                self.declare(&mut decls, "", "");
                name.local_part().to_string()
            }
            Some(uri) => {
                let mut prefix = el.preferred_prefix().unwrap_or_default().to_string();
                if self.lookup(&prefix) != Some(uri) && decls.iter().any(|(p, _)| *p == prefix) {
                    prefix = self.fresh_prefix();
                }
                self.declare(&mut decls, &prefix, uri);
                if prefix.is_empty() {
                    name.local_part().to_string()
                } else {
                    format!("{prefix}:{}", name.local_part())
                }
            }
        };
        let mut attributes = Vec::new();
        for a in el.attributes() {
            let an = a.name();
            let aq = match an.namespace_uri() {
                None | Some("") => an.local_part().to_string(),
                Some(uri) => {
                    let preferred = a.preferred_prefix().filter(|p| !p.is_empty());
                    let prefix = match preferred {
                        Some(p) if self.lookup(p) == Some(uri) => p.to_string(),
                        _ => match self
                            .scope
                            .iter()
                            .rev()
                            .find(|(p, u)| u == uri && !p.is_empty())
                            .map(|(p, _)| p.clone())
                            .filter(|p| self.lookup(p) == Some(uri))
                        {
                            Some(p) => p,
                            None => {
                                let p = match preferred {
                                    Some(p) if !decls.iter().any(|(d, _)| d == p) => p.to_string(),
                                    _ => self.fresh_prefix(),
                                };
                                self.declare(&mut decls, &p, uri);
                                p
                            }
                        },
                    };
                    format!("{prefix}:{}", an.local_part())
                }
            };
            attributes.push((aq, a.value()));
        }
        if self.copied_namespaces {
            for ns in el.namespaces_in_scope() {
                let (p, u) = (ns.prefix(), ns.uri());
                if p == "xml" || decls.iter().any(|(d, _)| d == p) {
                    continue;
                }
                self.declare(&mut decls, p, u);
            }
        }
        self.out.push('<');
        self.out.push_str(&qname);
        for (p, u) in &decls {
            if p.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(p);
                self.out.push_str("=\"");
            }
            escape(&mut self.out, u, true);
            self.out.push('"');
        }
        for (aq, v) in attributes {
            self.out.push(' ');
            self.out.push_str(&aq);
            self.out.push_str("=\"");
            escape(&mut self.out, v, true);
            self.out.push('"');
        }
        let has_children = !el.children().is_empty();
        if has_children {
            self.out.push('>');
            let cdata = self.spec.cdata.iter().any(|(ns, local)| {
                local == name.local_part() && ns.as_deref() == name.namespace_uri()
            });
            self.children(el, depth, cdata);
            self.out.push_str("</");
            self.out.push_str(&qname);
            self.out.push('>');
        } else {
            self.out.push_str("/>");
        }
        self.scope.truncate(mark);
    }

    fn fresh_prefix(&mut self) -> String {
        loop {
            let p = format!("ns{}", self.generated);
            self.generated += 1;
            if self.lookup(&p).is_none() {
                return p;
            }
        }
    }
}

fn escape(out: &mut String, s: &str, attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' if !attribute => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}
