//! `drop`: ends the flow without an answer; the HTTP client gets `202 Accepted` and no body.

use ferry_api::mediator::DropSpec;

use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `drop` mediator.
pub struct Drop;

impl Drop {
    /// Compiles the spec (it has no attributes).
    pub fn compile(_: &DropSpec, _: &mut CompileCx<'_>, _: &str) -> Option<Self> {
        Some(Drop)
    }

    /// Ends the flow.
    pub fn mediate(&self, _: &mut Message) -> Result<Flow, Fault> {
        Ok(Flow::Drop)
    }
}
