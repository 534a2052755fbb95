//! `throwError`: raises an error with a code (`type`) and a message (a template), which the
//! nearest fault sequence handles with `ERROR_CODE` = type and `ERROR_MESSAGE` = message.

use ferry_api::expr::Template;
use ferry_api::mediator::ThrowErrorSpec;

use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `throwError` mediator.
pub struct ThrowError {
    code: String,
    message: Template,
}

impl ThrowError {
    /// Compiles the spec. The message may hold `${...}` parts (MI writes them `{${...}}`;
    /// both forms are read).
    pub fn compile(spec: &ThrowErrorSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let src = spec.error_message.trim();
        let src = match src.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) if inner.starts_with("${") => inner,
            _ => src,
        };
        Some(ThrowError {
            code: spec.type_.clone(),
            message: cx.template(&format!("{field}.errorMessage"), src)?,
        })
    }

    /// Raises the error.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let message = super::value::render(&self.message, msg)?;
        Err(Fault::raised(self.code.clone(), message))
    }
}
