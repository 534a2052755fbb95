//! `throwError`: raises an error with a code (`type`) and a message (a template), which the
//! nearest fault sequence handles with `ERROR_CODE` = type and `ERROR_MESSAGE` = message.

use ferry_api::check::mediator as checked;

use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A `throwError` mediator, built from its checked form.
pub struct ThrowError(pub checked::ThrowError);

impl ThrowError {
    /// Raises the error.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let message = crate::expr::value::render(&self.0.message, msg)?;
        Err(Fault::raised(self.0.code.clone(), message))
    }
}
