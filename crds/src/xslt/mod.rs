//! XSLT stylesheets for the `xslt` mediator, on the pure-Rust `xrust` engine.
//!
//! The checker compiles each stylesheet when the configuration loads ([`Stylesheet::compile`]):
//! a stylesheet that does not parse or compile is a located error there. The engine's
//! compiled form is single-threaded (`Rc` trees), so each worker thread keeps its own copy,
//! compiled from the checked text the first time that thread runs the stylesheet, then
//! reused for every message ([`Stylesheet::transform`]); a reload's new stylesheets get
//! new ids and the copies of dropped ones are pruned.
//!
//! Stylesheet parameters: xrust does not bind top-level `xsl:param`s, so before compiling
//! a parameter the mediator supplies is taken out (its value is bound per message as a
//! variable of that name) and one it does not supply becomes an `xsl:variable` with the
//! same default.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use xrust::item::{Item, Node, NodeType, SequenceTrait};
use xrust::parser::ParseError;
use xrust::parser::xml::parse as parse_xml;
use xrust::transform::context::{Context, StaticContextBuilder};
use xrust::trees::smite::RNode;
use xrust::value::Value as XValue;
use xrust::xdmerror::{Error as XError, ErrorKind};
use xrust::xslt::from_document;

const XSL_NS: &str = "http://www.w3.org/1999/XSL/Transform";

/// What a transformation produced, by the stylesheet's `xsl:output method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// XML (method `xml`, the default), serialized.
    Xml(String),
    /// Text (method `text`).
    Text(String),
}

/// A checked stylesheet: its text, compiled per worker thread on first use.
#[derive(Debug)]
pub struct Stylesheet {
    id: u64,
    /// Where it came from (the LocalEntry key), for messages.
    pub key: String,
    text: String,
    supplied: Vec<String>,
    text_output: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Compiled = Context<RNode>;
/// A thread's compiled copies by stylesheet id, each with a handle that says whether the
/// stylesheet is still in use.
type Copies = HashMap<u64, (Weak<Stylesheet>, Rc<Compiled>)>;

thread_local! {
    /// This thread's compiled copies, by stylesheet id.
    static COMPILED: RefCell<Copies> = RefCell::new(HashMap::new());
}

impl Stylesheet {
    /// Compiles `text` (the stylesheet of LocalEntry `key`) with the parameters the mediator
    /// supplies; the error says why it does not compile.
    pub fn compile(key: &str, text: &str, supplied: &[String]) -> Result<Arc<Stylesheet>, String> {
        let compiled = compile(text, supplied)?;
        let sheet = Arc::new(Stylesheet {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            key: key.to_string(),
            text: text.to_string(),
            supplied: supplied.to_vec(),
            text_output: compiled.1,
        });
        remember(&sheet, Rc::new(compiled.0));
        Ok(sheet)
    }

    /// Whether the stylesheet writes text (`xsl:output method="text"`).
    pub fn text_output(&self) -> bool {
        self.text_output
    }

    /// Transforms the XML document `input` with `params` bound to the stylesheet's
    /// parameters.
    pub fn transform(
        self: &Arc<Self>,
        input: &str,
        params: &[(String, String)],
    ) -> Result<Output, String> {
        let compiled = match COMPILED.with(|c| c.borrow().get(&self.id).map(|e| e.1.clone())) {
            Some(c) => c,
            None => {
                let c = Rc::new(compile(&self.text, &self.supplied)?.0);
                remember(self, c.clone());
                c
            }
        };
        let source = document(input).map_err(|e| format!("the source is not XML: {e}"))?;
        let mut cx = (*compiled).clone();
        cx.context(vec![Item::Node(source)], 0);
        cx.result_document(RNode::new_document());
        for (name, value) in params {
            cx.var_push(
                name.clone(),
                vec![Item::Value(Rc::new(XValue::from(value.as_str())))],
            );
        }
        let mut static_cx = StaticContextBuilder::new()
            .message(|_| Ok(()))
            .fetcher(|_| Err(XError::new(ErrorKind::NotImplemented, "nothing is fetched")))
            .parser(|_| Err(XError::new(ErrorKind::NotImplemented, "nothing is parsed")))
            .build();
        let result = cx.evaluate(&mut static_cx).map_err(|e| e.to_string())?;
        Ok(if self.text_output {
            Output::Text(result.to_string())
        } else {
            Output::Xml(result.to_xml())
        })
    }
}

fn remember(sheet: &Arc<Stylesheet>, compiled: Rc<Compiled>) {
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|_, (weak, _)| weak.strong_count() > 0);
        c.insert(sheet.id, (Arc::downgrade(sheet), compiled));
    });
}

/// Parses XML into an xrust document.
fn document(text: &str) -> Result<RNode, XError> {
    let doc = RNode::new_document();
    parse_xml(
        doc.clone(),
        text,
        Some(|_: &_| {
            Err(ParseError::MissingNameSpace {
                prefix: None,
                nsuri: None,
                message: Some("an undeclared namespace prefix".into()),
            })
        }),
    )?;
    Ok(doc)
}

/// Compiles a stylesheet; also says whether its output method is text.
fn compile(text: &str, supplied: &[String]) -> Result<(Compiled, bool), String> {
    let style = document(text).map_err(|e| format!("the stylesheet is not XML: {e}"))?;
    let root = style
        .child_iter()
        .find(|n| n.node_type() == NodeType::Element)
        .ok_or("the stylesheet has no root element")?;
    if !is_xsl(&root, "stylesheet") && !is_xsl(&root, "transform") {
        return Err(
            "the root element is not xsl:stylesheet or xsl:transform (simplified stylesheets \
             are not supported)"
                .into(),
        );
    }
    let mut text_output = false;
    for child in root.child_iter().filter(|n| n.is_element()) {
        if is_xsl(&child, "include") || is_xsl(&child, "import") {
            return Err(
                "xsl:include and xsl:import are not supported: put the templates in \
                 one stylesheet"
                    .into(),
            );
        }
        if is_xsl(&child, "output") {
            text_output = attribute(&child, "method").as_deref() == Some("text");
        }
        if is_xsl(&child, "param") {
            let name = attribute(&child, "name").unwrap_or_default();
            rewrite_param(child, supplied.contains(&name))?;
        }
    }
    let compiled = from_document(style, None, document, |_| {
        Err(XError::new(ErrorKind::NotImplemented, "nothing is fetched"))
    })
    .map_err(|e| e.to_string())?;
    Ok((compiled, text_output))
}

/// Takes out a supplied top-level parameter (its value is bound per message) or turns one
/// not supplied into a variable holding its default.
fn rewrite_param(mut param: RNode, supplied: bool) -> Result<(), String> {
    let err = |e: XError| format!("xsl:param: {e}");
    if !supplied {
        let prefixed = param.to_prefixed_name();
        let name = match prefixed.rsplit_once(':') {
            Some((prefix, _)) => format!("{prefix}:variable"),
            None => "variable".to_string(),
        };
        let qname = param.to_qname(name).map_err(err)?;
        let variable = param.new_element(qname).map_err(err)?;
        for a in param.attribute_iter() {
            if let Some(n) = a.name() {
                variable
                    .add_attribute(param.new_attribute(n, a.value()).map_err(err)?)
                    .map_err(err)?;
            }
        }
        let mut target = variable.clone();
        for c in param.child_iter() {
            target.push(c.deep_copy().map_err(err)?).map_err(err)?;
        }
        param.insert_before(variable).map_err(err)?;
    }
    param.pop().map_err(err)
}

fn is_xsl(node: &RNode, local: &str) -> bool {
    node.name().is_some_and(|q| {
        q.local_name().to_string() == local
            && q.namespace_uri().is_some_and(|ns| ns.to_string() == XSL_NS)
    })
}

fn attribute(node: &RNode, local: &str) -> Option<String> {
    node.attribute_iter()
        .find(|a| {
            a.name()
                .is_some_and(|q| q.local_name().to_string() == local && q.namespace_uri().is_none())
        })
        .map(|a| a.value().to_string())
}

#[cfg(test)]
mod tests;
