//! `header`: sets or removes a transport header of the message in its current direction.

use ferry_api::check::mediator as checked;
use http::header::HeaderValue;

use crate::expr::value::Evaluate;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::Flow;

/// A `header` mediator (transport scope), built from its checked form.
pub struct Header(pub checked::Header);

impl Header {
    /// Sets or removes the header.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.0.value {
            None => {
                msg.headers.remove(&self.0.name);
            }
            Some(source) => {
                let text = source.eval_string(msg)?;
                let value = HeaderValue::from_str(&text).map_err(|e| {
                    Fault::internal(
                        codes::CUSTOM,
                        format!(
                            "header {}: {text:?} is not a valid header value",
                            self.0.name
                        ),
                    )
                    .with_cause(e)
                })?;
                msg.headers.insert(self.0.name.clone(), value);
            }
        }
        Ok(Flow::Continue)
    }
}
