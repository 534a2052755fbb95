//! `respond`: ends the flow and answers the client with the message as it is.

use ferry_api::mediator::RespondSpec;

use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `respond` mediator.
pub struct Respond;

impl Respond {
    /// Compiles the spec (it has no attributes).
    pub fn compile(_: &RespondSpec, _: &mut CompileCx<'_>, _: &str) -> Option<Self> {
        Some(Respond)
    }

    /// Ends the flow with an answer.
    pub fn mediate(&self, _: &mut Message) -> Result<Flow, Fault> {
        Ok(Flow::Respond)
    }
}
