//! `call`: sends the message (or a part of it) to an endpoint and continues in the same
//! sequence with the answer (in the body, or in a property or variable).
//!
//! Ferry never blocks a thread on a backend, so `blocking: true` and `false` behave the same:
//! the flow waits for the answer either way, which is what both mean to a sequence.

use std::sync::Arc;

use ferry_api::expr::Expression;
use ferry_api::mediator::{CallSourceType, CallSpec, CallTargetType};
use http::HeaderValue;
use serde_json::Value;

use super::value::eval;
use crate::compile::CompileCx;
use crate::endpoints::endpoint::{Delivery, Endpoint};
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{Env, Flow};

/// What is sent.
enum Source {
    Body,
    Expr(Expression),
    Property(String),
    Variable(String),
    Inline(Value),
}

/// Where the answer goes.
enum Target {
    Body,
    Property(String),
    Variable(String),
}

/// A compiled `call` mediator.
pub struct Call {
    endpoint: Arc<Endpoint>,
    source: Source,
    content_type: Option<HeaderValue>,
    target: Target,
    /// Nothing reads the answer before it goes to the client: leave its body streaming.
    stream_answer: bool,
}

impl Call {
    /// Compiles the spec.
    pub fn compile(spec: &CallSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let Some(reference) = &spec.endpoint else {
            cx.error(&format!("{field}.endpoint"), "endpoint is required");
            return None;
        };
        let endpoint = Endpoint::resolve(reference, cx, &format!("{field}.endpoint"))?;
        let (source, content_type) = match &spec.source {
            None => (Source::Body, None),
            Some(s) => {
                let sf = format!("{field}.source");
                let source = match s.type_ {
                    CallSourceType::Body => Source::Body,
                    CallSourceType::Custom => Source::Expr(cx.expression(
                        &format!("{sf}.expression"),
                        s.expression.as_deref().unwrap_or_default(),
                    )?),
                    CallSourceType::Property => {
                        Source::Property(required(cx, &sf, "property", &s.property)?)
                    }
                    CallSourceType::Variable => {
                        Source::Variable(required(cx, &sf, "variable", &s.variable)?)
                    }
                    CallSourceType::Inline => match &s.inline {
                        Some(v) => Source::Inline(v.clone()),
                        None => {
                            cx.error(&sf, "inline is required for type inline");
                            return None;
                        }
                    },
                };
                let content_type = match &s.content_type {
                    Some(ct) => match HeaderValue::from_str(ct) {
                        Ok(v) => Some(v),
                        Err(_) => {
                            cx.error(&format!("{sf}.contentType"), "not a valid content type");
                            return None;
                        }
                    },
                    None => None,
                };
                (source, content_type)
            }
        };
        let target = match &spec.target {
            None => Target::Body,
            Some(t) => {
                let tf = format!("{field}.target");
                match t.type_ {
                    CallTargetType::Body => Target::Body,
                    CallTargetType::Property => {
                        Target::Property(required(cx, &tf, "name", &t.name)?)
                    }
                    CallTargetType::Variable => {
                        Target::Variable(required(cx, &tf, "name", &t.name)?)
                    }
                }
            }
        };
        Some(Call {
            endpoint,
            source,
            content_type,
            target,
            stream_answer: false,
        })
    }

    /// The endpoint, when this call sends the message's own body and headers and makes the
    /// answer the message: the shape a streaming passthrough can replace.
    pub fn forwards_as_is(&self) -> Option<&Arc<Endpoint>> {
        (matches!(self.source, Source::Body)
            && self.content_type.is_none()
            && matches!(self.target, Target::Body))
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
        if self.stream_answer {
            return Ok(match self.endpoint.call_streaming_answer(msg).await? {
                Delivery::Answered => Flow::Continue,
                Delivery::Discarded => Flow::Drop,
            });
        }
        if matches!(self.source, Source::Body)
            && self.content_type.is_none()
            && let Target::Body = self.target
        {
            return Ok(match self.endpoint.call(msg).await? {
                Delivery::Answered => Flow::Continue,
                Delivery::Discarded => Flow::Drop,
            });
        }
        // A part of the message goes out, or the answer goes aside: work on a copy so the
        // message keeps its payload.
        let mut work = msg.clone();
        let content = match &self.source {
            Source::Body => None,
            Source::Expr(e) => Some(eval(e, msg)?),
            Source::Property(p) => Some(
                msg.property(PropertyScope::Default, p)
                    .unwrap_or(Value::Null),
            ),
            Source::Variable(v) => Some(msg.variable(v).cloned().unwrap_or(Value::Null)),
            Source::Inline(v) => Some(v.clone()),
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
        if self.endpoint.call(&mut work).await? == Delivery::Discarded {
            return Ok(Flow::Drop);
        }
        match &self.target {
            Target::Body => *msg = work,
            Target::Property(name) => {
                msg.set_property(PropertyScope::Default, name, answer(&work)?)
            }
            Target::Variable(name) => msg.set_variable(name, answer(&work)?),
        }
        Ok(Flow::Continue)
    }
}

fn required(
    cx: &mut CompileCx<'_>,
    field: &str,
    what: &str,
    value: &Option<String>,
) -> Option<String> {
    match value {
        Some(v) if !v.is_empty() => Some(v.clone()),
        _ => {
            cx.error(field, format!("{what} is required for this type"));
            None
        }
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
        )),
    }
}
