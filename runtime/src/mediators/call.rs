//! `call`: sends the message (or a part of it) to an endpoint and continues in the same
//! sequence with the answer (in the body, or in a property or variable).
//!
//! Ferry never blocks a thread on a backend, so `blocking: true` and `false` behave the same:
//! the flow waits for the answer either way, which is what both mean to a sequence.

use std::sync::Arc;

use ferry_api::check::mediator::{self as checked, CallSource, CallTarget};
use http::HeaderValue;
use serde_json::Value;

use super::BuildCx;
use crate::endpoints::endpoint::{Delivery, Endpoint};
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::fault::{Fault, codes};
use crate::message::{Message, properties};
use crate::sequence::{Env, Flow};

/// A `call` mediator.
pub struct Call {
    endpoint: Arc<Endpoint>,
    source: CallSource,
    content_type: Option<HeaderValue>,
    target: CallTarget,
    /// Nothing reads the answer before it goes to the client: leave its body streaming.
    stream_answer: bool,
}

impl Call {
    /// Builds the mediator: its endpoint resolves (or, inline, is built) now.
    pub fn build(c: &checked::Call, cx: &mut BuildCx<'_>) -> Option<Self> {
        Some(Call {
            endpoint: Endpoint::build_ref(&c.endpoint, cx)?,
            source: c.source.clone(),
            content_type: c.content_type.clone(),
            target: c.target.clone(),
            stream_answer: false,
        })
    }

    /// The endpoint, when this call sends the message's own body and headers and makes the
    /// answer the message: the shape a streaming passthrough can replace.
    pub fn forwards_as_is(&self) -> Option<&Arc<Endpoint>> {
        (matches!(self.source, CallSource::Body)
            && self.content_type.is_none()
            && matches!(self.target, CallTarget::Body))
        .then_some(&self.endpoint)
    }

    /// Marks this call as the last thing before the answer goes out (see
    /// [`crate::passthrough::stream_final_answers`]); only a call that makes the answer the
    /// message can leave it streaming.
    pub fn stream_answer(&mut self) {
        self.stream_answer = self.forwards_as_is().is_some();
    }

    /// Whether this call leaves its answer's body streaming to the client.
    pub fn streams_answer(&self) -> bool {
        self.stream_answer
    }

    /// Calls the endpoint.
    pub async fn mediate(&self, msg: &mut Message, _env: Env<'_>) -> Result<Flow, Fault> {
        if msg.flag(PropertyScope::Default, properties::OUT_ONLY) {
            // No answer is expected: what goes out leaves on its own task and the flow
            // goes on with the message as it is.
            let outgoing = self.outgoing(msg)?;
            self.endpoint.deliver_detached(outgoing);
            return Ok(Flow::Continue);
        }
        // A streamed answer is never read, so it could not be judged a SOAP fault.
        if self.stream_answer && !msg.flag(PropertyScope::Default, "FORCE_ERROR_ON_SOAP_FAULT") {
            return Ok(match self.endpoint.call_streaming_answer(msg).await? {
                Delivery::Answered => Flow::Continue,
                Delivery::Discarded => Flow::Drop,
            });
        }
        if matches!(self.source, CallSource::Body)
            && self.content_type.is_none()
            && let CallTarget::Body = self.target
        {
            return Ok(match self.endpoint.call(msg).await? {
                Delivery::Answered => Flow::Continue,
                Delivery::Discarded => Flow::Drop,
            });
        }
        // A part of the message goes out, or the answer goes aside: work on a copy so the
        // message keeps its payload.
        let mut work = self.outgoing(msg)?;
        if self.endpoint.call(&mut work).await? == Delivery::Discarded {
            return Ok(Flow::Drop);
        }
        match &self.target {
            CallTarget::Body => *msg = work,
            CallTarget::Property(name) => {
                msg.set_property(PropertyScope::Default, name, answer(&work)?)
            }
            CallTarget::Variable(name) => msg.set_variable(name, answer(&work)?),
        }
        Ok(Flow::Continue)
    }

    /// The message that goes out: a copy of `msg` holding the source's content, with the
    /// content type asked for.
    fn outgoing(&self, msg: &Message) -> Result<Message, Fault> {
        let mut work = msg.clone();
        let content = match &self.source {
            CallSource::Body => None,
            CallSource::Expr(e) => Some(eval(e, msg)?),
            CallSource::Property(p) => Some(
                msg.property(PropertyScope::Default, p)
                    .unwrap_or(Value::Null),
            ),
            CallSource::Variable(v) => Some(msg.variable(v).cloned().unwrap_or(Value::Null)),
            CallSource::Inline(v) => Some(v.clone()),
        };
        if let Some(content) = content {
            match content {
                Value::String(s) => work.set_text(s),
                other => work.set_json(other),
            }
        }
        if let Some(ct) = &self.content_type {
            work.headers.insert(http::header::CONTENT_TYPE, ct.clone());
            if let Ok(ct) = ct.to_str() {
                work.set_property(PropertyScope::Axis2, "messageType", Value::from(ct));
            }
        }
        Ok(work)
    }
}

/// The answer's payload as a value: JSON as JSON, anything else as text.
fn answer(work: &Message) -> Result<Value, Fault> {
    match work.payload_json() {
        Ok(Some(v)) => Ok(v.clone()),
        Ok(None) => Ok(Value::Null),
        Err(e) => Err(Fault::upstream(
            codes::RESPONSE_PROCESSING_FAILURE,
            format!("cannot read the backend's answer: {e}"),
            false,
        )
        .with_cause(e)),
    }
}
