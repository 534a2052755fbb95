//! `respond`: ends the flow and answers the client with the message as it is.

use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// The `respond` mediator.
pub struct Respond;

impl Respond {
    /// Ends the flow with an answer.
    pub fn mediate(&self, _: &mut Message) -> Result<Flow, Fault> {
        Ok(Flow::Respond)
    }
}
