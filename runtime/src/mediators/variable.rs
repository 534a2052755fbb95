//! `variable`: sets or removes a typed flow variable, read back as `${var.name}`.

use ferry_api::check::mediator as checked;

use crate::expr::value::{Evaluate, convert};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

/// A `variable` mediator, built from its checked form.
pub struct Variable(pub checked::Variable);

impl Variable {
    /// Sets or removes the variable.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.0.set {
            None => {
                msg.remove_variable(&self.0.name);
            }
            Some((source, ty)) => {
                let mut value = source.eval(msg)?;
                if let Some(ty) = ty {
                    value = convert(value, *ty, &self.0.name)?;
                }
                msg.set_variable(&self.0.name, value);
            }
        }
        Ok(Flow::Continue)
    }
}
