//! Check of the `xslt` mediator: the stylesheet comes from a LocalEntry named when the
//! configuration loads and is compiled here, once; a stylesheet that does not compile, a
//! key chosen per message, transformer features and imported stylesheets are located
//! errors.

use std::sync::Arc;

use crate::check::cx::Cx;
use crate::check::local_entry::Content;
use crate::check::value::ValueSource;
use crate::expr::Expression;
use crate::mediator::XsltSpec;
use crate::xslt::Stylesheet;

/// A checked `xslt`.
#[derive(Debug, Clone)]
pub struct Xslt {
    /// The compiled stylesheet.
    pub stylesheet: Arc<Stylesheet>,
    /// What is transformed; `None`: the body (a SOAP body's content).
    pub source: Option<Expression>,
    /// Stylesheet parameters, evaluated per message.
    pub params: Vec<(String, ValueSource)>,
}

pub(super) fn xslt(cx: &mut Cx<'_>, field: &str, spec: &XsltSpec) -> Option<Xslt> {
    let before = cx.error_count();
    let source = match &spec.source {
        Some(s) => cx.expression(&format!("{field}.source"), s),
        None => None,
    };
    let mut params = Vec::with_capacity(spec.properties.len());
    for (i, p) in spec.properties.iter().enumerate() {
        let pf = format!("{field}.properties[{i}]");
        if p.name.trim().is_empty() {
            cx.error(&format!("{pf}.name"), "a stylesheet parameter needs a name");
        }
        if let Some(v) = cx.value_source(&pf, p.value.as_deref(), p.expression.as_deref()) {
            params.push((p.name.clone(), v));
        }
    }
    for (i, f) in spec.features.iter().enumerate() {
        cx.error(
            &format!("{field}.features[{i}]"),
            format!(
                "transformer feature {} cannot be set: Ferry's XSLT engine has no \
                 configurable features",
                f.name
            ),
        );
    }
    if !spec.resources.is_empty() {
        cx.error(
            &format!("{field}.resources"),
            "imported stylesheets (xsl:import, xsl:include) are not supported: put the \
             templates in one stylesheet",
        );
    }
    let text = stylesheet_text(cx, &format!("{field}.key"), &spec.key);
    if cx.error_count() > before {
        return None;
    }
    let supplied: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
    match Stylesheet::compile(&spec.key, &text?, &supplied) {
        Ok(stylesheet) => Some(Xslt {
            stylesheet,
            source,
            params,
        }),
        Err(e) => {
            cx.error(
                &format!("{field}.key"),
                format!("stylesheet \"{}\" does not compile: {e}", spec.key),
            );
            None
        }
    }
}

/// The stylesheet text of LocalEntry `key` (XML, or text read from a file).
fn stylesheet_text(cx: &mut Cx<'_>, field: &str, key: &str) -> Option<String> {
    if key.starts_with('{') && key.ends_with('}') {
        cx.error(
            field,
            "a stylesheet key chosen per message cannot be compiled when the configuration \
             loads: name the LocalEntry",
        );
        return None;
    }
    match cx.local_entry(field, key)? {
        Content::Xml(text) | Content::Text(text) => Some(text),
        Content::Json(_) => {
            cx.error(
                field,
                format!("local entry \"{key}\" holds JSON, but a stylesheet is XML"),
            );
            None
        }
    }
}
