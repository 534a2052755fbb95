//! XSLT 1.0 stylesheets for the `xslt` mediator, run by Ferry's own processor on the
//! `sxd-document` tree and `sxd-xpath`'s XPath 1.0 (with the XSLT functions added).
//!
//! The checker compiles each stylesheet when the configuration loads ([`Stylesheet::compile`]):
//! a stylesheet that does not parse or compile is a located error there. Compiled XPath
//! expressions are single-threaded (`sxd-xpath` keeps them as plain boxed trait objects),
//! so each worker thread keeps its own compiled copy, made from the checked text the first
//! time that thread runs the stylesheet, then reused for every message
//! ([`Stylesheet::transform`]); a reload's new stylesheets get new ids and the copies of
//! dropped ones are pruned.

mod compile;
mod exec;
mod functions;
mod pattern;
mod serialize;
mod source;
mod text;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use compile::Compiled;

const XSL_NS: &str = "http://www.w3.org/1999/XSL/Transform";

/// What a transformation produced, by the stylesheet's `xsl:output method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// XML (method `xml`, the default, or `html`), serialized.
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
        let compiled = Compiled::new(text, supplied)?;
        let sheet = Arc::new(Stylesheet {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            key: key.to_string(),
            text: text.to_string(),
            supplied: supplied.to_vec(),
            text_output: compiled.output.text,
        });
        remember(&sheet, Rc::new(compiled));
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
                let c = Rc::new(Compiled::new(&self.text, &self.supplied)?);
                remember(self, c.clone());
                c
            }
        };
        exec::transform(&compiled, input, params)
    }
}

fn remember(sheet: &Arc<Stylesheet>, compiled: Rc<Compiled>) {
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|_, (weak, _)| weak.strong_count() > 0);
        c.insert(sheet.id, (Arc::downgrade(sheet), compiled));
    });
}

#[cfg(test)]
mod tests;
