//! Runs a compiled stylesheet over one document: template rules, instructions, variables,
//! sorting, keys and numbering, building the result in an `sxd-document` tree that is then
//! serialized.

use std::collections::HashMap;

use sxd_document::dom::{ChildOfElement, Document, Element};
use sxd_document::{Package, QName};
use sxd_xpath::context::Evaluation;
use sxd_xpath::nodeset::{Node, Nodeset};
use sxd_xpath::{Context, Value, XPath};

use super::Output;
use super::compile::{
    Avt, Compiled, Instr, Level, NumberSpec, Select, Sort, Template, VarValue, WithParam,
};
use super::functions::{self, format_numbers, key_var};
use super::pattern::{NodeTest, test_matches};
use super::serialize;
use super::text::{
    AvtPart, CURRENT_VAR, POSITION_VAR, SIZE_VAR, STYLESHEET_VAR, is_qname, is_xml_space,
    number_string,
};

/// The namespace of the elements that hold result tree fragments (and the result).
pub(super) const FRAGMENT_NS: &str = "urn:ferry:xslt:fragment";
/// The target of the processing instructions that carry text written without escaping.
pub(super) const RAW_TEXT: &str = "ferry-raw-text";

/// How deep templates may call templates: a runaway recursion is an error, not a stack
/// overflow.
const MAX_DEPTH: usize = 3000;
/// Stack left below which a template call moves to a new stack segment, and its size.
const RED_ZONE: usize = 128 << 10;
const STACK_SEGMENT: usize = 2 << 20;
/// Instructions one transformation may run.
const MAX_STEPS: u64 = 50_000_000;
/// Characters one transformation may write.
const MAX_OUTPUT: usize = 64 << 20;

/// Nodes hash and compare by identity (their place in the tree's arena), not by content,
/// so the interior mutability of the tree does not change a key (hence the
/// `mutable_key_type` allowances where it is used).
type NodeOrder<'d> = HashMap<Node<'d>, usize>;

/// The current node, its position and the size of the current node list.
#[derive(Clone, Copy)]
struct Focus<'d> {
    node: Node<'d>,
    position: usize,
    size: usize,
}

pub(super) fn transform(
    sheet: &Compiled,
    input: &str,
    params: &[(String, String)],
) -> Result<Output, String> {
    let source = Package::new();
    let doc = source.as_document();
    super::source::parse(input, doc).map_err(|e| format!("the source is not XML: {e}"))?;
    if !sheet.space.is_empty() {
        strip_space(
            sheet,
            doc.root()
                .children()
                .into_iter()
                .filter_map(|c| c.element())
                .collect(),
        );
    }
    let scratch = Package::new();
    let out = scratch.as_document();
    // The stylesheet as a document, for document('').
    let stylesheet = sheet.text.as_ref().map(|_| Package::new());
    if let (Some(text), Some(package)) = (&sheet.text, &stylesheet) {
        super::source::parse(text, package.as_document())
            .map_err(|e| format!("the stylesheet is not XML: {e}"))?;
    }
    let mut cx = Context::new();
    functions::register(&mut cx, sheet.formats.clone());
    for (prefix, uri) in &sheet.namespaces {
        cx.set_namespace(prefix, uri);
    }
    let root: Node<'_> = doc.root().into();
    let mut ex = Exec {
        sheet,
        cx,
        out,
        root,
        depth: 0,
        steps: 0,
        written: 0,
        order: None,
        copied_namespaces: false,
        source: doc,
        source_declares_namespaces: input.contains("xmlns"),
    };
    let focus = Focus {
        node: root,
        position: 1,
        size: 1,
    };
    ex.set_focus(focus);
    if let Some(package) = &stylesheet {
        let mut set = Nodeset::new();
        set.add(package.as_document().root());
        ex.cx.set_variable(STYLESHEET_VAR, set);
    }
    for g in &sheet.globals {
        let supplied = g
            .param
            .as_ref()
            .and_then(|name| params.iter().find(|(n, _)| n == name));
        let value = match supplied {
            Some((_, v)) => Value::String(v.clone()),
            None => ex.value(&g.value, focus)?,
        };
        ex.cx.set_variable(g.var.as_str(), value);
    }
    ex.build_keys()?;
    let result = ex.fragment();
    ex.apply_one(focus, "", &[], result)?;
    Ok(if sheet.output.text {
        Output::Text(serialize::text(result))
    } else {
        Output::Xml(serialize::xml(result, &sheet.output, ex.copied_namespaces))
    })
}

struct Exec<'a, 'd> {
    sheet: &'a Compiled,
    cx: Context<'d>,
    out: Document<'d>,
    root: Node<'d>,
    depth: usize,
    steps: u64,
    written: usize,
    /// Document order of the source's nodes, made when first needed.
    order: Option<NodeOrder<'d>>,
    /// Whether copied elements carry their namespace declarations.
    copied_namespaces: bool,
    source: Document<'d>,
    /// Whether the source declares any namespace (if not, copying its elements copies
    /// none).
    source_declares_namespaces: bool,
}

impl<'a, 'd> Exec<'a, 'd> {
    fn eval(&self, x: &XPath, node: Node<'d>) -> Result<Value<'d>, String> {
        x.evaluate(&self.cx, node).map_err(|e| e.to_string())
    }

    /// The nodes `select` selects from `node`, in document order.
    fn select(
        &mut self,
        select: &Select,
        node: Node<'d>,
        what: &str,
    ) -> Result<Vec<Node<'d>>, String> {
        let attributes = |test: &NodeTest| -> Vec<Node<'d>> {
            match node {
                Node::Element(e) => e
                    .attributes()
                    .into_iter()
                    .map(Node::Attribute)
                    .filter(|a| test_matches(test, *a))
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(match select {
            Select::Context => vec![node],
            Select::Children(NodeTest::Node) => node.children(),
            Select::Children(test) => node
                .children()
                .into_iter()
                .filter(|c| test_matches(test, *c))
                .collect(),
            Select::Attributes(test) => attributes(test),
            Select::AttributesAndChildren => {
                let mut nodes = attributes(&NodeTest::Node);
                nodes.extend(node.children());
                nodes
            }
            Select::XPath(x) => match self.eval(x, node)? {
                Value::Nodeset(set) => self.ordered(set),
                _ => return Err(format!("{what}: select is not a node-set")),
            },
        })
    }

    /// The string value of what `select` selects from `node`.
    fn select_string(&mut self, select: &Select, node: Node<'d>) -> Result<String, String> {
        match select {
            Select::Context => Ok(node.string_value()),
            Select::XPath(x) => self.eval_string(x, node),
            other => Ok(self
                .select(other, node, "")?
                .first()
                .map(|n| n.string_value())
                .unwrap_or_default()),
        }
    }

    fn eval_string(&self, x: &XPath, node: Node<'d>) -> Result<String, String> {
        Ok(string(self.eval(x, node)?))
    }

    fn avt(&self, avt: &Avt, node: Node<'d>) -> Result<String, String> {
        match avt.as_slice() {
            [AvtPart::Literal(l)] => Ok(l.clone()),
            parts => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        AvtPart::Literal(l) => s.push_str(l),
                        AvtPart::Expr(x) => s.push_str(&self.eval_string(x, node)?),
                    }
                }
                Ok(s)
            }
        }
    }

    fn set_focus(&mut self, focus: Focus<'d>) {
        let uses = self.sheet.uses;
        if uses.position {
            self.cx.set_variable(POSITION_VAR, focus.position as f64);
        }
        if uses.size {
            self.cx.set_variable(SIZE_VAR, focus.size as f64);
        }
        if uses.current {
            let mut set = Nodeset::new();
            set.add(focus.node);
            self.cx.set_variable(CURRENT_VAR, set);
        }
    }

    /// Binds variable `var`, giving back its previous value.
    fn bind(&mut self, var: &str, value: Value<'d>) -> Option<Value<'d>> {
        let old = Evaluation::new(&self.cx, self.root)
            .value_of(QName::new(var))
            .cloned();
        self.cx.set_variable(var, value);
        old
    }

    fn restore(&mut self, saved: Vec<(&'a str, Option<Value<'d>>)>) {
        for (var, old) in saved.into_iter().rev() {
            if let Some(old) = old {
                self.cx.set_variable(var, old);
            }
        }
    }

    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(format!(
                "the transformation ran more than {MAX_STEPS} instructions"
            ));
        }
        Ok(())
    }

    fn wrote(&mut self, n: usize) -> Result<(), String> {
        self.written += n + 1;
        if self.written > MAX_OUTPUT {
            return Err(format!(
                "the result is larger than {} MiB",
                MAX_OUTPUT >> 20
            ));
        }
        Ok(())
    }

    /// A new, detached element holding a result tree fragment.
    fn fragment(&self) -> Element<'d> {
        self.out
            .create_element(QName::with_namespace_uri(Some(FRAGMENT_NS), "fragment"))
    }

    fn value(&mut self, v: &'a VarValue, focus: Focus<'d>) -> Result<Value<'d>, String> {
        match v {
            VarValue::Select(x) => self.eval(x, focus.node),
            VarValue::Empty => Ok(Value::String(String::new())),
            VarValue::Tree(body) => {
                let frag = self.fragment();
                self.exec(body, focus, frag)?;
                let mut set = Nodeset::new();
                set.add(frag);
                Ok(Value::Nodeset(set))
            }
        }
    }

    /// Runs `body` and gives the string value of what it writes.
    fn content_string(&mut self, body: &'a [Instr], focus: Focus<'d>) -> Result<String, String> {
        match body {
            [] => Ok(String::new()),
            [Instr::Text { text, .. }] => Ok(text.clone()),
            [Instr::ValueOf { select, .. }] => self.select_string(select, focus.node),
            _ => {
                let frag = self.fragment();
                self.exec(body, focus, frag)?;
                Ok(Node::Element(frag).string_value())
            }
        }
    }

    fn text(&mut self, sink: Element<'d>, text: &str, raw: bool) -> Result<(), String> {
        if text.is_empty() {
            return Ok(());
        }
        self.wrote(text.len())?;
        if raw {
            sink.append_child(self.out.create_processing_instruction(RAW_TEXT, Some(text)));
        } else {
            sink.append_child(self.out.create_text(text));
        }
        Ok(())
    }

    fn exec(
        &mut self,
        body: &'a [Instr],
        focus: Focus<'d>,
        sink: Element<'d>,
    ) -> Result<(), String> {
        let mut saved = Vec::new();
        for instr in body {
            self.step()?;
            match instr {
                Instr::Variable { var, value } => {
                    let v = self.value(value, focus)?;
                    let old = self.bind(var, v);
                    saved.push((var.as_str(), old));
                }
                other => self.instruction(other, focus, sink)?,
            }
        }
        self.restore(saved);
        Ok(())
    }

    fn instruction(
        &mut self,
        instr: &'a Instr,
        focus: Focus<'d>,
        sink: Element<'d>,
    ) -> Result<(), String> {
        match instr {
            Instr::Text { text, raw } => self.text(sink, text, *raw)?,
            Instr::ValueOf { select, raw } => {
                let s = self.select_string(select, focus.node)?;
                self.text(sink, &s, *raw)?;
            }
            Instr::Literal {
                name,
                attributes,
                sets,
                body,
            } => {
                let el = self
                    .out
                    .create_element(QName::with_namespace_uri(name.ns.as_deref(), &name.local));
                el.set_preferred_prefix(name.prefix.as_deref());
                sink.append_child(el);
                self.wrote(name.local.len())?;
                self.attribute_sets(sets, focus, el, 0)?;
                for (an, value) in attributes {
                    let v = self.avt(value, focus.node)?;
                    self.wrote(v.len())?;
                    let a = el.set_attribute_value(
                        QName::with_namespace_uri(an.ns.as_deref(), &an.local),
                        &v,
                    );
                    a.set_preferred_prefix(an.prefix.as_deref());
                }
                self.exec(body, focus, el)?;
            }
            Instr::Element {
                name,
                namespace,
                in_scope,
                sets,
                body,
            } => {
                let qname = self.avt(name, focus.node)?;
                let (prefix, local, ns) =
                    self.result_name(&qname, namespace, in_scope, focus, false)?;
                let el = self
                    .out
                    .create_element(QName::with_namespace_uri(ns.as_deref(), &local));
                el.set_preferred_prefix(prefix.as_deref());
                sink.append_child(el);
                self.wrote(local.len())?;
                self.attribute_sets(sets, focus, el, 0)?;
                self.exec(body, focus, el)?;
            }
            Instr::Attribute {
                name,
                namespace,
                in_scope,
                body,
            } => {
                let qname = self.avt(name, focus.node)?;
                let (prefix, local, ns) =
                    self.result_name(&qname, namespace, in_scope, focus, true)?;
                let value = self.content_string(body, focus)?;
                self.add_attribute(sink, prefix.as_deref(), &local, ns.as_deref(), &value)?;
            }
            Instr::CopyOf(Select::XPath(select)) => match self.eval(select, focus.node)? {
                Value::Nodeset(set) => {
                    for node in self.ordered(set) {
                        self.copy(node, sink, true)?;
                    }
                }
                other => {
                    let s = string(other);
                    self.text(sink, &s, false)?;
                }
            },
            Instr::CopyOf(select) => {
                for node in self.select(select, focus.node, "xsl:copy-of")? {
                    self.copy(node, sink, true)?;
                }
            }
            Instr::Copy { sets, body } => match focus.node {
                Node::Element(e) => {
                    let el = self.copy_element(e, sink)?;
                    self.attribute_sets(sets, focus, el, 0)?;
                    self.exec(body, focus, el)?;
                }
                Node::Root(_) => self.exec(body, focus, sink)?,
                other => self.copy(other, sink, false)?,
            },
            Instr::ApplyTemplates {
                select,
                mode,
                sorts,
                params,
            } => {
                let nodes = match select {
                    Some(s) => self.select(s, focus.node, "xsl:apply-templates")?,
                    None => focus.node.children(),
                };
                let nodes = self.sort(nodes, sorts, focus)?;
                let args = self.args(params, focus)?;
                let size = nodes.len();
                for (i, node) in nodes.into_iter().enumerate() {
                    let f = Focus {
                        node,
                        position: i + 1,
                        size,
                    };
                    self.apply_one(f, mode.as_deref().unwrap_or(""), &args, sink)?;
                }
                self.set_focus(focus);
            }
            Instr::CallTemplate { name, params } => {
                let index = *self
                    .sheet
                    .named
                    .get(name)
                    .ok_or_else(|| format!("no template is named {name}"))?;
                let args = self.args(params, focus)?;
                self.call(&self.sheet.templates[index], focus, &args, sink)?;
            }
            Instr::ForEach {
                select,
                sorts,
                body,
            } => {
                let nodes = self.select(select, focus.node, "xsl:for-each")?;
                let nodes = self.sort(nodes, sorts, focus)?;
                let size = nodes.len();
                for (i, node) in nodes.into_iter().enumerate() {
                    let f = Focus {
                        node,
                        position: i + 1,
                        size,
                    };
                    self.set_focus(f);
                    self.exec(body, f, sink)?;
                }
                self.set_focus(focus);
            }
            Instr::If { test, body } => {
                if self.eval(test, focus.node)?.boolean() {
                    self.exec(body, focus, sink)?;
                }
            }
            Instr::Choose { whens, otherwise } => {
                let mut chosen = None;
                for (test, body) in whens {
                    if self.eval(test, focus.node)?.boolean() {
                        chosen = Some(body);
                        break;
                    }
                }
                self.exec(chosen.unwrap_or(otherwise), focus, sink)?;
            }
            Instr::Comment(body) => {
                let text = self.content_string(body, focus)?.replace("--", "- -");
                let text = if text.ends_with('-') {
                    format!("{text} ")
                } else {
                    text
                };
                self.wrote(text.len())?;
                sink.append_child(self.out.create_comment(&text));
            }
            Instr::Pi { name, body } => {
                let target = self.avt(name, focus.node)?;
                if !super::text::is_ncname(&target) || target.eq_ignore_ascii_case("xml") {
                    return Err(format!(
                        "xsl:processing-instruction: {target} is not a valid target"
                    ));
                }
                let value = self.content_string(body, focus)?.replace("?>", "? >");
                self.wrote(value.len())?;
                sink.append_child(
                    self.out
                        .create_processing_instruction(&target, Some(&value)),
                );
            }
            Instr::Number(spec) => {
                let s = self.number(spec, focus)?;
                self.text(sink, &s, false)?;
            }
            Instr::Message { body, terminate } => {
                let text = self.content_string(body, focus)?;
                if *terminate {
                    return Err(format!("xsl:message terminated the transformation: {text}"));
                }
            }
            Instr::Fail(what) => return Err(what.clone()),
            Instr::Variable { .. } => {}
        }
        Ok(())
    }

    /// A result element's or attribute's name from `xsl:element`/`xsl:attribute`: prefix,
    /// local name and namespace.
    fn result_name(
        &self,
        qname: &str,
        namespace: &Option<Avt>,
        in_scope: &[(String, String)],
        focus: Focus<'d>,
        attribute: bool,
    ) -> Result<(Option<String>, String, Option<String>), String> {
        let qname = qname.trim();
        if !is_qname(qname) || (attribute && qname == "xmlns") {
            return Err(format!("{qname} is not a valid result name"));
        }
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (Some(p.to_string()), l.to_string()),
            None => (None, qname.to_string()),
        };
        let ns = match namespace {
            Some(avt) => {
                let uri = self.avt(avt, focus.node)?;
                (!uri.is_empty()).then_some(uri)
            }
            None => {
                let lookup = prefix
                    .as_deref()
                    .unwrap_or(if attribute { "-" } else { "" });
                match in_scope.iter().rev().find(|(p, _)| p == lookup) {
                    Some((_, uri)) => Some(uri.clone()),
                    None if prefix.is_some() => {
                        return Err(format!("the namespace prefix of {qname} is not declared"));
                    }
                    None => None,
                }
            }
        };
        Ok((prefix, local, ns))
    }

    fn add_attribute(
        &mut self,
        sink: Element<'d>,
        prefix: Option<&str>,
        local: &str,
        ns: Option<&str>,
        value: &str,
    ) -> Result<(), String> {
        // An attribute after children, or outside any element, is ignored (the spec's
        // recovery).
        if sink.name().namespace_uri() == Some(FRAGMENT_NS) || !sink.children().is_empty() {
            return Ok(());
        }
        self.wrote(value.len() + local.len())?;
        let a = sink.set_attribute_value(QName::with_namespace_uri(ns, local), value);
        a.set_preferred_prefix(prefix);
        Ok(())
    }

    fn attribute_sets(
        &mut self,
        sets: &'a [String],
        focus: Focus<'d>,
        el: Element<'d>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 50 {
            return Err("attribute sets use each other in a cycle".into());
        }
        for name in sets {
            let set = self
                .sheet
                .attribute_sets
                .get(name)
                .ok_or_else(|| format!("no attribute set is named {name}"))?;
            self.attribute_sets(&set.uses, focus, el, depth + 1)?;
            for instr in &set.attributes {
                self.instruction(instr, focus, el)?;
            }
        }
        Ok(())
    }

    fn copy_element(&mut self, e: Element<'d>, sink: Element<'d>) -> Result<Element<'d>, String> {
        let el = self.out.create_element(e.name());
        el.set_preferred_prefix(e.preferred_prefix());
        if self.source_declares_namespaces || e.document() != self.source {
            for ns in e.namespaces_in_scope() {
                if ns.prefix() != "xml" {
                    el.register_prefix(ns.prefix(), ns.uri());
                    self.copied_namespaces = true;
                }
            }
        }
        if let Some(d) = e.default_namespace_uri() {
            el.set_default_namespace_uri(Some(d));
        }
        sink.append_child(el);
        self.wrote(e.name().local_part().len())?;
        Ok(el)
    }

    /// Copies `node` into `sink` (with its attributes and descendants when `deep`).
    fn copy(&mut self, node: Node<'d>, sink: Element<'d>, deep: bool) -> Result<(), String> {
        self.step()?;
        match node {
            Node::Root(r) => {
                for c in r.children() {
                    self.copy(c.into(), sink, deep)?;
                }
            }
            Node::Element(e) if e.name().namespace_uri() == Some(FRAGMENT_NS) => {
                for c in e.children() {
                    self.copy(c.into(), sink, deep)?;
                }
            }
            Node::Element(e) => {
                let el = self.copy_element(e, sink)?;
                if deep {
                    for a in e.attributes() {
                        self.copy(Node::Attribute(a), el, true)?;
                    }
                    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
                        for c in e.children() {
                            self.copy(c.into(), el, true)?;
                        }
                        Ok::<(), String>(())
                    })?;
                }
            }
            Node::Attribute(a) => {
                let name = a.name();
                self.add_attribute(
                    sink,
                    a.preferred_prefix(),
                    name.local_part(),
                    name.namespace_uri(),
                    a.value(),
                )?;
            }
            Node::Text(t) => self.text(sink, t.text(), false)?,
            Node::Comment(c) => {
                self.wrote(c.text().len())?;
                sink.append_child(self.out.create_comment(c.text()));
            }
            Node::ProcessingInstruction(p) => {
                self.wrote(p.target().len())?;
                sink.append_child(
                    self.out
                        .create_processing_instruction(p.target(), p.value()),
                );
            }
            Node::Namespace(_) => {}
        }
        Ok(())
    }

    fn args(
        &mut self,
        params: &'a [WithParam],
        focus: Focus<'d>,
    ) -> Result<Vec<(&'a str, Value<'d>)>, String> {
        let mut args = Vec::with_capacity(params.len());
        for p in params {
            args.push((p.name.as_str(), self.value(&p.value, focus)?));
        }
        Ok(args)
    }

    /// Applies the best template rule of `mode` (or the built-in one) to the focus node.
    fn apply_one(
        &mut self,
        focus: Focus<'d>,
        mode: &str,
        args: &[(&str, Value<'d>)],
        sink: Element<'d>,
    ) -> Result<(), String> {
        self.step()?;
        let sheet = self.sheet;
        let mut found = None;
        if let Some(rules) = sheet.rules.get(mode) {
            for rule in rules {
                if rule.pattern.matches(focus.node, &self.cx)? {
                    found = Some(rule.template);
                    break;
                }
            }
        }
        match found {
            Some(t) => self.call(&sheet.templates[t], focus, args, sink),
            None => match focus.node {
                Node::Root(_) | Node::Element(_) => {
                    let children = focus.node.children();
                    let size = children.len();
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(too_deep());
                    }
                    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
                        for (i, node) in children.into_iter().enumerate() {
                            let f = Focus {
                                node,
                                position: i + 1,
                                size,
                            };
                            self.apply_one(f, mode, &[], sink)?;
                        }
                        Ok::<(), String>(())
                    })?;
                    self.depth -= 1;
                    self.set_focus(focus);
                    Ok(())
                }
                Node::Text(t) => self.text(sink, t.text(), false),
                Node::Attribute(a) => self.text(sink, a.value(), false),
                _ => Ok(()),
            },
        }
    }

    fn call(
        &mut self,
        template: &'a Template,
        focus: Focus<'d>,
        args: &[(&str, Value<'d>)],
        sink: Element<'d>,
    ) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        // Deep recursion continues on heap-allocated stack segments, whatever the thread's
        // stack size.
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
            self.call_body(template, focus, args, sink)
        })
    }

    fn call_body(
        &mut self,
        template: &'a Template,
        focus: Focus<'d>,
        args: &[(&str, Value<'d>)],
        sink: Element<'d>,
    ) -> Result<(), String> {
        self.set_focus(focus);
        let mut saved = Vec::with_capacity(template.params.len());
        for p in &template.params {
            let value = match args.iter().find(|(n, _)| *n == p.name) {
                Some((_, v)) => v.clone(),
                None => self.value(&p.value, focus)?,
            };
            let old = self.bind(&p.var, value);
            saved.push((p.var.as_str(), old));
        }
        self.exec(&template.body, focus, sink)?;
        self.restore(saved);
        self.depth -= 1;
        Ok(())
    }

    /// The nodes of `set` in document order.
    #[allow(clippy::mutable_key_type)]
    fn ordered(&mut self, set: Nodeset<'d>) -> Vec<Node<'d>> {
        if set.size() <= 1 {
            return set.into_iter().collect();
        }
        if let Some(nodes) = siblings_in_order(&set) {
            return nodes;
        }
        let root = self.root;
        let order = self.order.get_or_insert_with(|| document_order(root));
        let mut keyed: Vec<(usize, Node<'d>)> = Vec::with_capacity(set.size());
        let mut foreign = false;
        for n in set {
            match order.get(&n) {
                Some(&i) => keyed.push((i, n)),
                None => {
                    foreign = true;
                    keyed.push((0, n));
                }
            }
        }
        if foreign {
            // Nodes of result tree fragments: ordered by their paths from the top.
            let mut paths: Vec<(Vec<usize>, Node<'d>)> =
                keyed.into_iter().map(|(_, n)| (path_key(n), n)).collect();
            paths.sort_by(|a, b| a.0.cmp(&b.0));
            return paths.into_iter().map(|p| p.1).collect();
        }
        keyed.sort_by_key(|k| k.0);
        keyed.into_iter().map(|k| k.1).collect()
    }

    fn sort(
        &mut self,
        nodes: Vec<Node<'d>>,
        sorts: &'a [Sort],
        focus: Focus<'d>,
    ) -> Result<Vec<Node<'d>>, String> {
        if sorts.is_empty() || nodes.len() < 2 {
            return Ok(nodes);
        }
        struct SortKey {
            descending: bool,
            numeric: bool,
            upper_first: bool,
        }
        let mut specs = Vec::with_capacity(sorts.len());
        for s in sorts {
            let order = self.avt(&s.order, focus.node)?;
            let data_type = self.avt(&s.data_type, focus.node)?;
            let case_order = self.avt(&s.case_order, focus.node)?;
            specs.push(SortKey {
                descending: match order.trim() {
                    "ascending" => false,
                    "descending" => true,
                    other => {
                        return Err(format!(
                            "xsl:sort: order {other} is not ascending or descending"
                        ));
                    }
                },
                numeric: match data_type.trim() {
                    "number" => true,
                    // A QName data type is processor-defined: sorted as text.
                    _ => false,
                },
                upper_first: case_order.trim() == "upper-first",
            });
        }
        enum K {
            Num(f64),
            Text(String),
        }
        let size = nodes.len();
        let mut keyed: Vec<(Vec<K>, Node<'d>)> = Vec::with_capacity(size);
        for (i, node) in nodes.into_iter().enumerate() {
            self.set_focus(Focus {
                node,
                position: i + 1,
                size,
            });
            let mut keys = Vec::with_capacity(sorts.len());
            for (s, spec) in sorts.iter().zip(&specs) {
                let v = self.eval(&s.select, node)?;
                keys.push(if spec.numeric {
                    K::Num(v.number())
                } else {
                    K::Text(string(v))
                });
            }
            keyed.push((keys, node));
        }
        self.set_focus(focus);
        keyed.sort_by(|a, b| {
            for ((ka, kb), spec) in a.0.iter().zip(&b.0).zip(&specs) {
                let ord = match (ka, kb) {
                    (K::Num(x), K::Num(y)) => match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Less,
                        (false, true) => std::cmp::Ordering::Greater,
                        _ => x.total_cmp(y),
                    },
                    (K::Text(x), K::Text(y)) => {
                        x.to_lowercase().cmp(&y.to_lowercase()).then_with(|| {
                            let o = x.cmp(y);
                            // Byte order puts upper case first.
                            if spec.upper_first { o } else { o.reverse() }
                        })
                    }
                    _ => std::cmp::Ordering::Equal,
                };
                let ord = if spec.descending { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        Ok(keyed.into_iter().map(|k| k.1).collect())
    }

    fn build_keys(&mut self) -> Result<(), String> {
        if self.sheet.keys.is_empty() {
            return Ok(());
        }
        let mut all = Vec::new();
        collect_nodes(self.root, &mut all);
        let mut index: HashMap<String, Nodeset<'d>> = HashMap::new();
        for key in &self.sheet.keys {
            for &node in &all {
                if !key.pattern.matches(node, &self.cx)? {
                    continue;
                }
                let values = match self.eval(&key.using, node)? {
                    Value::Nodeset(set) => set.iter().map(|n| n.string_value()).collect(),
                    other => vec![string(other)],
                };
                for v in values {
                    index.entry(key_var(&key.name, &v)).or_default().add(node);
                }
            }
        }
        for (var, set) in index {
            self.cx.set_variable(var.as_str(), set);
        }
        Ok(())
    }

    fn number(&mut self, spec: &'a NumberSpec, focus: Focus<'d>) -> Result<String, String> {
        let numbers: Vec<f64> = match &spec.value {
            Some(v) => {
                let n = self.eval(v, focus.node)?.number();
                vec![if n.is_finite() { (n + 0.5).floor() } else { n }]
            }
            None => {
                let node = focus.node;
                let count = |n: Node<'d>, cx: &Context<'d>| -> Result<bool, String> {
                    match &spec.count {
                        Some(p) => p.matches(n, cx),
                        None => Ok(same_kind(n, node)),
                    }
                };
                let from = |n: Node<'d>, cx: &Context<'d>| -> Result<bool, String> {
                    match &spec.from {
                        Some(p) => p.matches(n, cx),
                        None => Ok(false),
                    }
                };
                match spec.level {
                    Level::Single | Level::Multiple => {
                        let mut found = Vec::new();
                        let mut up = Some(node);
                        while let Some(n) = up {
                            if from(n, &self.cx)? && spec.from.is_some() {
                                break;
                            }
                            if count(n, &self.cx)? {
                                found.push(n);
                                if matches!(spec.level, Level::Single) {
                                    break;
                                }
                            }
                            up = n.parent();
                        }
                        let mut numbers = Vec::new();
                        for n in found.into_iter().rev() {
                            let mut k = 1.0;
                            for s in n.preceding_siblings() {
                                if count(s, &self.cx)? {
                                    k += 1.0;
                                }
                            }
                            numbers.push(k);
                        }
                        numbers
                    }
                    Level::Any => {
                        let mut k = 0.0;
                        let mut cur = Some(node);
                        while let Some(n) = cur {
                            if count(n, &self.cx)? {
                                k += 1.0;
                            }
                            if spec.from.is_some() && from(n, &self.cx)? {
                                break;
                            }
                            cur = previous_in_order(n);
                        }
                        if k > 0.0 { vec![k] } else { Vec::new() }
                    }
                }
            }
        };
        let format = self.avt(&spec.format, focus.node)?;
        let grouping = match (&spec.grouping_separator, &spec.grouping_size) {
            (Some(sep), Some(size)) => {
                let sep = self.avt(sep, focus.node)?.chars().next();
                let size = self.avt(size, focus.node)?.trim().parse::<usize>().ok();
                sep.zip(size)
            }
            _ => None,
        };
        Ok(format_numbers(&numbers, &format, grouping))
    }
}

fn too_deep() -> String {
    format!("templates nest more than {MAX_DEPTH} deep (a runaway recursion?)")
}

/// A value as `string()` gives it, numbers written as XPath 1.0 writes them.
pub(super) fn string(v: Value<'_>) -> String {
    match v {
        Value::Number(n) => number_string(n),
        other => other.into_string(),
    }
}

/// Whether `a` has the node type and expanded name of `b` (`xsl:number`'s default count).
fn same_kind(a: Node<'_>, b: Node<'_>) -> bool {
    match (a, b) {
        (Node::Element(x), Node::Element(y)) => x.name() == y.name(),
        (Node::Attribute(x), Node::Attribute(y)) => x.name() == y.name(),
        (Node::Text(_), Node::Text(_)) | (Node::Comment(_), Node::Comment(_)) => true,
        (Node::ProcessingInstruction(x), Node::ProcessingInstruction(y)) => {
            x.target() == y.target()
        }
        _ => false,
    }
}

/// The node before `n` in document order (the last descendant of the previous sibling, or
/// the parent).
fn previous_in_order(n: Node<'_>) -> Option<Node<'_>> {
    // sxd-xpath gives preceding siblings nearest first.
    match n.preceding_siblings().first() {
        Some(&s) => {
            let mut cur = s;
            while let Some(&last) = cur.children().last() {
                cur = last;
            }
            Some(cur)
        }
        None => n.parent(),
    }
}

/// The nodes of `set` in document order when they all have one parent (the attributes and
/// children of a node, the common case), without ordering the whole document.
fn siblings_in_order<'d>(set: &Nodeset<'d>) -> Option<Vec<Node<'d>>> {
    let mut nodes = set.iter();
    let parent = nodes.next()?.parent()?;
    if !nodes.all(|n| n.parent() == Some(parent)) {
        return None;
    }
    let mut out = Vec::with_capacity(set.size());
    if let Node::Element(e) = parent {
        out.extend(
            e.attributes()
                .into_iter()
                .map(Node::Attribute)
                .filter(|a| set.contains(*a)),
        );
    }
    out.extend(parent.children().into_iter().filter(|c| set.contains(*c)));
    Some(out)
}

fn collect_nodes<'d>(n: Node<'d>, out: &mut Vec<Node<'d>>) {
    out.push(n);
    if let Node::Element(e) = n {
        out.extend(e.attributes().into_iter().map(Node::Attribute));
    }
    for c in n.children() {
        collect_nodes(c, out);
    }
}

#[allow(clippy::mutable_key_type)]
fn document_order(root: Node<'_>) -> NodeOrder<'_> {
    let mut all = Vec::new();
    collect_nodes(root, &mut all);
    all.into_iter().enumerate().map(|(i, n)| (n, i)).collect()
}

/// A node's position as the child indexes from its top ancestor (attributes before
/// children).
fn path_key(n: Node<'_>) -> Vec<usize> {
    let mut key = Vec::new();
    let mut cur = n;
    while let Some(parent) = cur.parent() {
        let index = match cur {
            Node::Attribute(a) => match parent {
                Node::Element(e) => e.attributes().iter().position(|x| *x == a).unwrap_or(0),
                _ => 0,
            },
            _ => {
                let attrs = match parent {
                    Node::Element(e) => e.attributes().len(),
                    _ => 0,
                };
                attrs
                    + parent
                        .children()
                        .iter()
                        .position(|x| *x == cur)
                        .unwrap_or(0)
            }
        };
        key.push(index);
        cur = parent;
    }
    key.reverse();
    key
}

/// Removes the whitespace-only text children of the elements `xsl:strip-space` names (the
/// source builder has already merged adjacent text).
fn strip_space(sheet: &Compiled, elements: Vec<Element<'_>>) {
    for el in elements {
        let strip = strips(sheet, el);
        let mut children = Vec::new();
        for c in el.children() {
            match c {
                ChildOfElement::Text(t) if strip && is_xml_space(t.text()) => {
                    t.remove_from_parent();
                }
                ChildOfElement::Element(e) => children.push(e),
                _ => {}
            }
        }
        strip_space(sheet, children);
    }
}

/// Whether `xsl:strip-space` (and not a better `xsl:preserve-space`) names `el`.
fn strips(sheet: &Compiled, el: Element<'_>) -> bool {
    let node = Node::Element(el);
    let mut best: Option<(f64, bool)> = None;
    for (test, priority, strip) in &sheet.space {
        if test_matches(test, node) && best.is_none_or(|(p, _)| *priority >= p) {
            best = Some((*priority, *strip));
        }
    }
    best.is_some_and(|b| b.1)
        && el.attribute_value(QName::with_namespace_uri(
            Some("http://www.w3.org/XML/1998/namespace"),
            "space",
        )) != Some("preserve")
}
