//! Check of the `script` mediator: JavaScript only (every JS `language`), inline or from a
//! LocalEntry with a function name; includes come from LocalEntries; the script is parsed
//! here, once, so a syntax error is a located error at load.

use std::sync::Arc;

use crate::check::cx::Cx;
use crate::check::local_entry::Content;
use crate::mediator::{ScriptLanguage, ScriptSpec};
use crate::script::Program;

/// A checked `script`.
#[derive(Debug, Clone)]
pub struct Script {
    /// The program the runtime runs.
    pub program: Arc<Program>,
}

pub(super) fn script(cx: &mut Cx<'_>, field: &str, spec: &ScriptSpec) -> Option<Script> {
    let before = cx.error_count();
    match spec.language {
        ScriptLanguage::Js
        | ScriptLanguage::GraalJs
        | ScriptLanguage::NashornJs
        | ScriptLanguage::RhinoJs => {}
        ScriptLanguage::Groovy | ScriptLanguage::Rb => cx.error(
            &format!("{field}.language"),
            "only JavaScript runs in Ferry (language js)",
        ),
    }
    let mut includes = Vec::with_capacity(spec.includes.len());
    for (i, key) in spec.includes.iter().enumerate() {
        if let Some(text) = script_text(cx, &format!("{field}.includes[{i}]"), key) {
            includes.push(format!("{text}\n;"));
        }
    }
    let built = match (&spec.inline, &spec.key) {
        (Some(source), None) => Some(("inline", Program::inline(source, &includes))),
        (None, Some(key)) => {
            let kf = format!("{field}.key");
            script_text(cx, &kf, key)
                .map(|text| ("key", Program::keyed(key, &text, &spec.function, &includes)))
        }
        (Some(_), Some(_)) => {
            cx.error(field, "set either inline or key, not both");
            None
        }
        (None, None) => {
            cx.error(field, "inline or key is required");
            None
        }
    };
    if cx.error_count() > before {
        return None;
    }
    let (at, program) = built?;
    match program {
        Ok(program) => Some(Script {
            program: Arc::new(program),
        }),
        Err(e) => {
            cx.error(&format!("{field}.{at}"), e);
            None
        }
    }
}

/// The script in LocalEntry `key` (text or a file read as text).
fn script_text(cx: &mut Cx<'_>, field: &str, key: &str) -> Option<String> {
    match cx.local_entry(field, key)? {
        Content::Text(text) => Some(text),
        Content::Xml(_) | Content::Json(_) => {
            cx.error(
                field,
                format!(
                    "local entry \"{key}\" is not a script: write it as `text:` (or a .js file)"
                ),
            );
            None
        }
    }
}
