//! Legacy XPath 1.0 (and Synapse's `xpath()` function) over the message's XML payload.
//!
//! Per evaluation, the payload's [`Element`] tree is copied into an `sxd_document` wrapped in
//! a SOAP 1.1 envelope (as Synapse sees every message), Synapse's variables (`$ctx:`,
//! `$axis2:`, `$trp:`, `$url:`, `$func:`, `$body`, `$header`) are bound, and Synapse's
//! functions (`get-property`, `base64Encode`, `base64Decode`, `url-encode`) are registered.
//! Compiled XPaths are cached per thread by their text; nothing is cached across messages.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::LazyLock;

use base64::Engine as _;
use serde_json::Value;
use sxd_document::Package;
use sxd_document::dom::{self, ChildOfElement, ChildOfRoot, Document};
use sxd_xpath::function::{self, Args};
use sxd_xpath::nodeset::{Node as XNode, Nodeset};
use sxd_xpath::{Context, Factory, XPath};

use ferry_api::expr::{XPathExpression, XPathVariable};

use super::context::{ExprContext, PropertyScope};
use super::{EvalError, to_text};
use crate::xml::{Attribute, Element, NamespaceDecl, Node, QName};

mod take;
pub(crate) use take::{Leave, Taken, take_selected};

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The namespace each Synapse variable prefix is bound to inside the XPath context.
const VAR_NS: &str = "urn:ferry:xpath-variable:";

/// What an XPath evaluation produced.
#[derive(Debug, Clone, PartialEq)]
pub enum XPathValue {
    /// A node-set: the nodes (elements as XML, other nodes as their text) in document order,
    /// and the string value of the first one.
    Nodes {
        /// The nodes selected.
        nodes: Vec<Node>,
        /// The string value of the first node (empty when none), as Synapse reports it.
        text: String,
    },
    /// A string.
    String(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Boolean(bool),
}

impl XPathValue {
    /// The value as Synapse's `stringValueOf` gives it; integral numbers have no fraction.
    pub fn into_string(self) -> String {
        match self {
            XPathValue::Nodes { text, .. } => text,
            XPathValue::String(s) => s,
            XPathValue::Number(n) => number_text(n),
            XPathValue::Boolean(b) => b.to_string(),
        }
    }

    /// The value as JSON: node-sets as their string value, numbers integral when they are.
    pub fn into_json(self) -> Value {
        match self {
            XPathValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Value::from(n as i64),
            XPathValue::Number(n) => serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(number_text(n))),
            XPathValue::Boolean(b) => Value::Bool(b),
            other => Value::String(other.into_string()),
        }
    }

    /// XPath's `boolean()`.
    pub fn truthy(&self) -> bool {
        match self {
            XPathValue::Nodes { nodes, .. } => !nodes.is_empty(),
            XPathValue::String(s) => !s.is_empty(),
            XPathValue::Number(n) => *n != 0.0 && !n.is_nan(),
            XPathValue::Boolean(b) => *b,
        }
    }
}

fn number_text(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.fract() == 0.0 && n.abs() < 9.0e15 {
        (n as i64).to_string()
    } else {
        n.to_string()
    }
}

/// Evaluates a legacy XPath expression against the message.
pub(crate) fn evaluate(x: &XPathExpression, cx: &dyn ExprContext) -> Result<XPathValue, EvalError> {
    let compiled = compiled(&x.source)?;
    run(&compiled, x, cx)
}

/// Evaluates the text of a Synapse `xpath(expr[, variableName])` call.
pub(crate) fn evaluate_source(
    src: &str,
    variable: Option<&str>,
    namespaces: &[(String, String)],
    cx: &dyn ExprContext,
) -> Result<XPathValue, EvalError> {
    // MI evaluates `xpath(e, 'v')` as `$var:v` followed by `e`.
    let full = match variable {
        Some("") => {
            return Err(EvalError::Invalid("xpath(): empty variable name".into()));
        }
        Some(v) => format!("$var:{v}{src}"),
        None => src.to_owned(),
    };
    let parsed =
        XPathExpression::parse(&full, namespaces).map_err(|e| EvalError::XPath(e.message))?;
    evaluate(&parsed, cx)
}

thread_local! {
    static COMPILED: RefCell<HashMap<String, Rc<XPath>>> = RefCell::new(HashMap::new());
}

/// The compiled XPath for `src`, from this thread's cache. `sxd_xpath::XPath` is neither
/// `Send` nor `Sync`, so it cannot live in the shared compiled configuration.
fn compiled(src: &str) -> Result<Rc<XPath>, EvalError> {
    const MAX_CACHED: usize = 1024;
    if let Some(hit) = COMPILED.with(|c| c.borrow().get(src).cloned()) {
        return Ok(hit);
    }
    let xpath = Factory::new()
        .build(src)
        .map_err(|e| EvalError::XPath(e.to_string()))?
        .ok_or_else(|| EvalError::XPath("empty expression".into()))?;
    let xpath = Rc::new(xpath);
    COMPILED.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(src.to_owned(), Rc::clone(&xpath));
    });
    Ok(xpath)
}

fn run(xpath: &XPath, x: &XPathExpression, cx: &dyn ExprContext) -> Result<XPathValue, EvalError> {
    run_with(xpath, x, cx, |value, _scope| {
        Ok(match value {
            sxd_xpath::Value::Boolean(b) => XPathValue::Boolean(b),
            sxd_xpath::Value::Number(n) => XPathValue::Number(n),
            sxd_xpath::Value::String(s) => XPathValue::String(s),
            sxd_xpath::Value::Nodeset(set) => {
                let ordered = set.document_order();
                let text = ordered
                    .first()
                    .map(|n| n.string_value())
                    .unwrap_or_default();
                XPathValue::Nodes {
                    nodes: ordered.iter().filter_map(to_node).collect(),
                    text,
                }
            }
        })
    })
}

/// The payload with every node the expression selects taken out (enrich's `remove`):
/// elements, attributes, text, comments and processing instructions. `None` when nothing
/// of the payload is left. An expression that gives no node-set is an error.
pub(crate) fn remove_selected(
    x: &XPathExpression,
    cx: &dyn ExprContext,
) -> Result<Option<Element>, EvalError> {
    let compiled = compiled(&x.source)?;
    let payload_was_envelope = cx
        .payload_xml()?
        .is_some_and(|p| p.name.local == "Envelope" && is_soap(p.name.namespace.as_deref()));
    run_with(&compiled, x, cx, |value, scope| {
        let body = scope.body;
        let sxd_xpath::Value::Nodeset(set) = value else {
            return Err(EvalError::Type(format!(
                "{}: a removal needs an expression that selects nodes",
                x.source
            )));
        };
        let envelope = body.parent().and_then(|p| match p {
            dom::ParentOfChild::Element(e) => Some(e),
            dom::ParentOfChild::Root(_) => None,
        });
        for node in set.document_order() {
            match node {
                XNode::Element(e) => e.remove_from_parent(),
                XNode::Attribute(a) => a.remove_from_parent(),
                XNode::Text(t) => t.remove_from_parent(),
                XNode::Comment(c) => c.remove_from_parent(),
                XNode::ProcessingInstruction(p) => p.remove_from_parent(),
                // The root or a namespace node: nothing a removal can take.
                XNode::Root(_) | XNode::Namespace(_) => {}
            }
        }
        // What is left: the envelope when the payload was one, else the body's element;
        // nothing when the expression selected the envelope, the body or that element.
        let attached = |e: dom::Element<'_>| e.parent().is_some();
        let Some(envelope) = envelope.filter(|e| attached(*e)) else {
            return Ok(None);
        };
        if payload_was_envelope {
            return Ok(Some(from_element(envelope)));
        }
        if !attached(body) {
            return Ok(None);
        }
        Ok(body.children().into_iter().find_map(|c| match c {
            ChildOfElement::Element(e) => Some(from_element(e)),
            _ => None,
        }))
    })
}

/// The payload with the first element the expression selects replaced by `replacement`
/// (the xslt mediator's `source`): the envelope when the payload was one, else the body's
/// element. An expression that selects no element is an error.
pub(crate) fn replace_selected(
    x: &XPathExpression,
    cx: &dyn ExprContext,
    replacement: &Element,
) -> Result<Element, EvalError> {
    let compiled = compiled(&x.source)?;
    let payload_was_envelope = cx
        .payload_xml()?
        .is_some_and(|p| p.name.local == "Envelope" && is_soap(p.name.namespace.as_deref()));
    run_with(&compiled, x, cx, |value, scope| {
        let body = scope.body;
        let no_element = || EvalError::NotFound(format!("{} selects no element", x.source));
        let sxd_xpath::Value::Nodeset(set) = value else {
            return Err(no_element());
        };
        let selected = set
            .document_order()
            .into_iter()
            .find_map(|n| match n {
                XNode::Element(e) => Some(e),
                _ => None,
            })
            .ok_or_else(no_element)?;
        let doc = selected.document();
        let built = build_element(doc, replacement);
        let Some(parent) = selected.parent() else {
            return Err(no_element());
        };
        let children: Vec<ChildOfElement<'_>> = match parent {
            dom::ParentOfChild::Element(p) => p.children(),
            // The envelope itself was selected: the result is the new payload.
            dom::ParentOfChild::Root(_) => return Ok(replacement.clone()),
        };
        let dom::ParentOfChild::Element(parent) = parent else {
            return Err(no_element());
        };
        let swapped: Vec<ChildOfElement<'_>> = children
            .into_iter()
            .map(|c| match c {
                ChildOfElement::Element(e) if e == selected => ChildOfElement::Element(built),
                other => other,
            })
            .collect();
        parent.replace_children(swapped);
        let envelope = body.parent().and_then(|p| match p {
            dom::ParentOfChild::Element(e) => Some(e),
            dom::ParentOfChild::Root(_) => None,
        });
        if payload_was_envelope && let Some(envelope) = envelope {
            return Ok(from_element(envelope));
        }
        body.children()
            .into_iter()
            .find_map(|c| match c {
                ChildOfElement::Element(e) => Some(from_element(e)),
                _ => None,
            })
            .ok_or_else(no_element)
    })
}

/// Evaluates `xpath` over the message wrapped in its envelope and hands the value and the
/// envelope's body to `finish`, while the document they live in still exists.
fn run_with<R>(
    xpath: &XPath,
    x: &XPathExpression,
    cx: &dyn ExprContext,
    finish: impl for<'d> FnOnce(sxd_xpath::Value<'d>, Scope<'_, 'd>) -> Result<R, EvalError>,
) -> Result<R, EvalError> {
    let package = Package::new();
    let doc = package.as_document();
    let payload = cx.payload_xml()?;
    let (body, header) = build_envelope(doc, payload);

    // Variables holding XML (`xpath(e, 'v')`) need documents that outlive the context.
    let var_packages: Vec<(String, Package)> = x
        .variables
        .iter()
        .filter_map(|v| match v {
            XPathVariable::Scoped { prefix, name } if prefix == "var" => Some(name),
            _ => None,
        })
        .map(|name| variable_document(cx, name).map(|p| (name.clone(), p)))
        .collect::<Result<_, _>>()?;

    let mut context = Context::new();
    let (soap_prefix, soap_uri) = ferry_api::expr::xpath::SOAPENV;
    context.set_namespace(soap_prefix, soap_uri);
    for (prefix, uri) in &x.namespaces {
        context.set_namespace(prefix, uri);
    }
    for prefix in ferry_api::expr::xpath::VARIABLE_PREFIXES {
        context.set_namespace(prefix, &format!("{VAR_NS}{prefix}"));
    }
    for var in &x.variables {
        match var {
            XPathVariable::Body => context.set_variable("body", nodeset(body.into())),
            XPathVariable::Header => context.set_variable("header", nodeset(header.into())),
            XPathVariable::Scoped { prefix, name } if prefix == "var" => {
                let root = var_packages
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, p)| p.as_document().root().children().into_iter().next());
                let set = match root {
                    Some(ChildOfRoot::Element(e)) => nodeset(e.into()),
                    _ => Nodeset::new(),
                };
                context.set_variable((format!("{VAR_NS}var").as_str(), name.as_str()), set);
            }
            XPathVariable::Scoped { prefix, name } => {
                let value = scoped_value(cx, prefix, name);
                let qname = format!("{VAR_NS}{prefix}");
                context.set_variable((qname.as_str(), name.as_str()), value);
            }
        }
    }
    context.set_function(
        "get-property",
        GetProperty {
            values: property_reads(&x.source, cx),
        },
    );
    context.set_function("base64Encode", Base64Encode);
    context.set_function("base64Decode", Base64Decode);
    context.set_function("url-encode", UrlEncode);

    let value = xpath
        .evaluate(&context, doc.root())
        .map_err(|e| EvalError::XPath(e.to_string()))?;
    finish(
        value,
        Scope {
            body,
            doc,
            context: &context,
        },
    )
}

/// What an evaluation's `finish` may use besides the value: the envelope's body, the
/// document, and the context (to evaluate a second XPath over the same document).
struct Scope<'c, 'd> {
    body: dom::Element<'d>,
    doc: Document<'d>,
    context: &'c Context<'d>,
}

fn nodeset(node: XNode<'_>) -> Nodeset<'_> {
    let mut set = Nodeset::new();
    set.add(node);
    set
}

/// The string a `$prefix:name` variable reads; Synapse gives "" for anything unset.
fn scoped_value(cx: &dyn ExprContext, prefix: &str, name: &str) -> String {
    let text = |v: Option<Value>| v.map(|v| to_text(&v)).unwrap_or_default();
    match prefix {
        "ctx" => text(cx.property(PropertyScope::Default, name)),
        "axis2" => text(cx.property(PropertyScope::Axis2, name)),
        "trp" => cx.header(name).unwrap_or_default().to_owned(),
        "url" => cx.query_param(name).unwrap_or_default().to_owned(),
        "func" => text(cx.function_param(name).cloned()),
        _ => String::new(),
    }
}

/// Parses an XML-valued variable into its own document.
fn variable_document(cx: &dyn ExprContext, name: &str) -> Result<Package, EvalError> {
    let value = cx
        .variable(name)
        .ok_or_else(|| EvalError::NotFound(format!("variable '{name}' is not defined")))?;
    let Value::String(xml) = value else {
        return Err(EvalError::Type(format!(
            "variable '{name}' does not hold XML"
        )));
    };
    sxd_document::parser::parse(xml)
        .map_err(|e| EvalError::XPath(format!("variable '{name}' is not XML: {e}")))
}

/// Copies the payload into `doc`, inside a SOAP envelope unless it is one; returns the Body
/// and Header elements.
fn is_soap(namespace: Option<&str>) -> bool {
    matches!(namespace, Some(SOAP11) | Some(SOAP12))
}

fn build_envelope<'d>(
    doc: Document<'d>,
    payload: Option<&Element>,
) -> (dom::Element<'d>, dom::Element<'d>) {
    let is_envelope =
        |e: &Element| e.name.local == "Envelope" && is_soap(e.name.namespace.as_deref());
    if let Some(env) = payload.filter(|e| is_envelope(e)) {
        let built = build_element(doc, env);
        doc.root().append_child(built);
        let find = |local: &str| {
            built.children().into_iter().find_map(|c| match c {
                ChildOfElement::Element(e) if e.name().local_part() == local => Some(e),
                _ => None,
            })
        };
        let body = find("Body").unwrap_or_else(|| soap_child(doc, built, "Body"));
        let header = find("Header").unwrap_or_else(|| soap_child(doc, built, "Header"));
        return (body, header);
    }
    let envelope = doc.create_element((SOAP11, "Envelope"));
    envelope.set_preferred_prefix(Some("soapenv"));
    envelope.register_prefix("soapenv", SOAP11);
    doc.root().append_child(envelope);
    let header = soap_child(doc, envelope, "Header");
    let body = soap_child(doc, envelope, "Body");
    if let Some(p) = payload {
        body.append_child(build_element(doc, p));
    }
    (body, header)
}

fn soap_child<'d>(doc: Document<'d>, parent: dom::Element<'d>, local: &str) -> dom::Element<'d> {
    let ns = parent.name().namespace_uri().unwrap_or(SOAP11);
    let e = doc.create_element((ns, local));
    e.set_preferred_prefix(parent.preferred_prefix());
    parent.append_child(e);
    e
}

fn build_element<'d>(doc: Document<'d>, el: &Element) -> dom::Element<'d> {
    let e = match &el.name.namespace {
        Some(ns) => doc.create_element((ns.as_str(), el.name.local.as_str())),
        None => doc.create_element(el.name.local.as_str()),
    };
    e.set_preferred_prefix(el.name.prefix.as_deref());
    for NamespaceDecl { prefix, uri } in &el.namespaces {
        match prefix {
            Some(p) => e.register_prefix(p, uri),
            None => e.set_default_namespace_uri(Some(uri)),
        }
    }
    for Attribute { name, value } in &el.attributes {
        let a = match &name.namespace {
            Some(ns) => e.set_attribute_value((ns.as_str(), name.local.as_str()), value),
            None => e.set_attribute_value(name.local.as_str(), value),
        };
        a.set_preferred_prefix(name.prefix.as_deref());
    }
    for child in &el.children {
        match child {
            Node::Element(c) => e.append_child(build_element(doc, c)),
            Node::Text(t) | Node::CData(t) => e.append_child(doc.create_text(t)),
            Node::Comment(t) => e.append_child(doc.create_comment(t)),
            Node::ProcessingInstruction { target, data } => {
                e.append_child(doc.create_processing_instruction(target, Some(data)));
            }
        }
    }
    e
}

/// Copies a selected node back into our tree: elements whole, other nodes as their text.
fn to_node(node: &XNode<'_>) -> Option<Node> {
    match node {
        XNode::Element(e) => Some(Node::Element(Box::new(from_element(*e)))),
        XNode::Root(r) => r.children().into_iter().find_map(|c| match c {
            ChildOfRoot::Element(e) => Some(Node::Element(Box::new(from_element(e)))),
            _ => None,
        }),
        XNode::Comment(c) => Some(Node::Comment(c.text().to_owned())),
        XNode::ProcessingInstruction(p) => Some(Node::ProcessingInstruction {
            target: p.target().to_owned(),
            data: p.value().unwrap_or_default().to_owned(),
        }),
        other => Some(Node::Text(other.string_value())),
    }
}

fn from_element(e: dom::Element<'_>) -> Element {
    let name = e.name();
    Element {
        name: QName {
            prefix: e.preferred_prefix().map(str::to_owned),
            local: name.local_part().to_owned(),
            namespace: name.namespace_uri().map(str::to_owned),
        },
        attributes: e
            .attributes()
            .into_iter()
            .map(|a| Attribute {
                name: QName {
                    prefix: a.preferred_prefix().map(str::to_owned),
                    local: a.name().local_part().to_owned(),
                    namespace: a.name().namespace_uri().map(str::to_owned),
                },
                value: a.value().to_owned(),
            })
            .collect(),
        namespaces: Vec::new(),
        children: e
            .children()
            .into_iter()
            .map(|c| match c {
                ChildOfElement::Element(c) => Node::Element(Box::new(from_element(c))),
                ChildOfElement::Text(t) => Node::Text(t.text().to_owned()),
                ChildOfElement::Comment(c) => Node::Comment(c.text().to_owned()),
                ChildOfElement::ProcessingInstruction(p) => Node::ProcessingInstruction {
                    target: p.target().to_owned(),
                    data: p.value().unwrap_or_default().to_owned(),
                },
            })
            .collect(),
    }
}

// === Synapse's XPath functions ===

static GET_PROPERTY: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r#"get-property\(\s*(?:'([^']*)'|"([^"]*)")\s*(?:,\s*(?:'([^']*)'|"([^"]*)")\s*)?\)"#,
    )
    .ok()
});

/// Resolves, before evaluation, every `get-property` call whose arguments are literals:
/// sxd-xpath functions must be `'static`, so they cannot borrow the message.
fn property_reads(src: &str, cx: &dyn ExprContext) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    let Some(re) = GET_PROPERTY.as_ref() else {
        return out;
    };
    for caps in re.captures_iter(src) {
        let first = caps
            .get(1)
            .or(caps.get(2))
            .map(|m| m.as_str())
            .unwrap_or_default();
        let second = caps.get(3).or(caps.get(4)).map(|m| m.as_str());
        let (scope, name) = match second {
            Some(name) => (first, name),
            None => ("default", first),
        };
        out.insert(
            (scope.to_owned(), name.to_owned()),
            property_value(cx, scope, name),
        );
    }
    out
}

/// `get-property([scope,] name)` for one message.
fn property_value(cx: &dyn ExprContext, scope: &str, name: &str) -> String {
    let text = |v: Option<Value>| v.map(|v| to_text(&v)).unwrap_or_default();
    match scope {
        "default" | "synapse" => match name {
            // Synapse computes these on read rather than storing them.
            "SYSTEM_TIME" => chrono::Utc::now().timestamp_millis().to_string(),
            // As Synapse: a property of that name, else the local entry of that key.
            _ => match cx.property(PropertyScope::Default, name) {
                Some(v) => to_text(&v),
                None => cx.local_entry(name).unwrap_or_default().to_owned(),
            },
        },
        "axis2" => text(cx.property(PropertyScope::Axis2, name)),
        "axis2-client" => text(cx.property(PropertyScope::Axis2Client, name)),
        "transport" => cx
            .header(name)
            .map(str::to_owned)
            .unwrap_or_else(|| text(cx.property(PropertyScope::Transport, name))),
        "operation" => text(cx.property(PropertyScope::Operation, name)),
        "env" => text(cx.property(PropertyScope::Env, name)),
        "system" => text(cx.property(PropertyScope::System, name)),
        // A sequence-template parameter, as `$func:name`.
        "func" => text(cx.function_param(name).cloned()),
        _ => String::new(),
    }
}

struct GetProperty {
    values: HashMap<(String, String), String>,
}

impl function::Function for GetProperty {
    fn evaluate<'c, 'd>(
        &self,
        _: &sxd_xpath::context::Evaluation<'c, 'd>,
        args: Vec<sxd_xpath::Value<'d>>,
    ) -> Result<sxd_xpath::Value<'d>, function::Error> {
        let mut args = Args(args);
        args.at_least(1)?;
        args.at_most(2)?;
        let name = args.pop_string()?;
        let scope = if args.is_empty() {
            "default".to_owned()
        } else {
            args.pop_string()?
        };
        // Names computed inside the XPath were not resolved beforehand: they read as unset.
        let value = self.values.get(&(scope, name)).cloned().unwrap_or_default();
        Ok(sxd_xpath::Value::String(value))
    }
}

fn charset_bytes(s: &str, charset: Option<String>) -> Result<Vec<u8>, function::Error> {
    match charset.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("UTF-8") | Some("UTF8") => Ok(s.as_bytes().to_vec()),
        Some("ISO-8859-1") | Some("LATIN1") => s
            .chars()
            .map(|c| u8::try_from(u32::from(c)))
            .collect::<Result<_, _>>()
            .map_err(|_| function::Error::Other(format!("'{s}' is not ISO-8859-1"))),
        Some(other) => Err(function::Error::Other(format!(
            "unsupported charset '{other}'"
        ))),
    }
}

/// Pops `(text[, charset])`.
fn text_and_charset(
    args: Vec<sxd_xpath::Value<'_>>,
) -> Result<(String, Option<String>), function::Error> {
    let mut args = Args(args);
    args.at_least(1)?;
    args.at_most(2)?;
    let charset = if args.len() == 2 {
        Some(args.pop_string()?)
    } else {
        None
    };
    Ok((args.pop_string()?, charset))
}

struct Base64Encode;

impl function::Function for Base64Encode {
    fn evaluate<'c, 'd>(
        &self,
        _: &sxd_xpath::context::Evaluation<'c, 'd>,
        args: Vec<sxd_xpath::Value<'d>>,
    ) -> Result<sxd_xpath::Value<'d>, function::Error> {
        let (text, charset) = text_and_charset(args)?;
        let bytes = charset_bytes(&text, charset)?;
        Ok(sxd_xpath::Value::String(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    }
}

struct Base64Decode;

impl function::Function for Base64Decode {
    fn evaluate<'c, 'd>(
        &self,
        _: &sxd_xpath::context::Evaluation<'c, 'd>,
        args: Vec<sxd_xpath::Value<'d>>,
    ) -> Result<sxd_xpath::Value<'d>, function::Error> {
        let (text, _) = text_and_charset(args)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| function::Error::Other(format!("base64Decode: {e}")))?;
        Ok(sxd_xpath::Value::String(
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }
}

struct UrlEncode;

impl function::Function for UrlEncode {
    fn evaluate<'c, 'd>(
        &self,
        _: &sxd_xpath::context::Evaluation<'c, 'd>,
        args: Vec<sxd_xpath::Value<'d>>,
    ) -> Result<sxd_xpath::Value<'d>, function::Error> {
        let (text, charset) = text_and_charset(args)?;
        let bytes = charset_bytes(&text, charset)?;
        Ok(sxd_xpath::Value::String(super::functions::url_encode(
            &bytes,
        )))
    }
}
