//! `drop`: ends the flow without an answer; the HTTP client gets `202 Accepted` and no body.

use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// The `drop` mediator.
pub struct Drop;

impl Drop {
    /// Ends the flow.
    pub fn mediate(&self, _: &mut Message) -> Result<Flow, Fault> {
        Ok(Flow::Drop)
    }
}
