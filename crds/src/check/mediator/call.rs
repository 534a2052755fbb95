//! Checks of the mediators that call endpoints: `call`, `send`.

use http::HeaderValue;

use crate::check::cx::Cx;
use crate::check::endpoint::{self, EndpointRef};
use crate::mediator::{CallSourceType, CallSpec, CallTargetType, SendSpec};

/// A checked `call`.
#[derive(Debug, Clone)]
pub struct Call {
    /// The endpoint called.
    pub endpoint: EndpointRef,
    /// What is sent.
    pub source: CallSource,
    /// The Content-Type of what is sent, when the source sets one.
    pub content_type: Option<HeaderValue>,
    /// Where the answer goes.
    pub target: CallTarget,
}

/// What a `call` sends.
pub type CallSource = super::MessagePart;

/// Where a `call`'s answer goes.
#[derive(Debug, Clone)]
pub enum CallTarget {
    /// Into the message (body, status, headers).
    Body,
    /// Into a property.
    Property(String),
    /// Into a variable.
    Variable(String),
}

pub(super) fn call(cx: &mut Cx<'_>, field: &str, spec: &CallSpec) -> Option<Call> {
    let ef = format!("{field}.endpoint");
    let endpoint = match &spec.endpoint {
        Some(reference) => endpoint::check_ref(cx, &ef, reference),
        None => Some(EndpointRef::implicit_to(field)),
    };
    let (source, content_type) = match &spec.source {
        None => (Some(CallSource::Body), None),
        Some(s) => {
            let sf = format!("{field}.source");
            let source = match s.type_ {
                CallSourceType::Body => Some(CallSource::Body),
                CallSourceType::Custom => match &s.expression {
                    Some(e) => cx
                        .expression(&format!("{sf}.expression"), e)
                        .map(CallSource::Expr),
                    None => {
                        cx.error(&sf, "expression is required for this type");
                        None
                    }
                },
                CallSourceType::Property => {
                    required(cx, &sf, "property", &s.property).map(CallSource::Property)
                }
                CallSourceType::Variable => {
                    required(cx, &sf, "variable", &s.variable).map(CallSource::Variable)
                }
                CallSourceType::Inline => match &s.inline {
                    Some(v) => Some(CallSource::Inline(v.clone())),
                    None => {
                        cx.error(&sf, "inline is required for type inline");
                        None
                    }
                },
            };
            let content_type = match &s.content_type {
                Some(ct) => match HeaderValue::from_str(ct) {
                    Ok(v) => Some(Some(v)),
                    Err(_) => {
                        cx.error(&format!("{sf}.contentType"), "not a valid content type");
                        None
                    }
                },
                None => Some(None),
            };
            (source, content_type?)
        }
    };
    let target = match &spec.target {
        None => Some(CallTarget::Body),
        Some(t) => {
            let tf = format!("{field}.target");
            match t.type_ {
                CallTargetType::Body => Some(CallTarget::Body),
                CallTargetType::Property => {
                    required(cx, &tf, "name", &t.name).map(CallTarget::Property)
                }
                CallTargetType::Variable => {
                    required(cx, &tf, "name", &t.name).map(CallTarget::Variable)
                }
            }
        }
    };
    Some(Call {
        endpoint: endpoint?,
        source: source?,
        content_type,
        target: target?,
    })
}

fn required(cx: &mut Cx<'_>, field: &str, what: &str, value: &Option<String>) -> Option<String> {
    match value {
        Some(v) if !v.is_empty() => Some(v.clone()),
        _ => {
            cx.error(field, format!("{what} is required for this type"));
            None
        }
    }
}

/// A checked `send`.
#[derive(Debug, Clone)]
pub struct Send {
    /// The endpoint sent to: without one, the message's `To` address in the in-flow (in
    /// the out-flow, the client: the answer).
    pub endpoint: EndpointRef,
    /// No endpoint was named: in the out-flow the message is the answer to the client.
    pub implicit: bool,
    /// A named Sequence the answer goes through (else the resource's outSequence).
    pub receive: Option<String>,
}

/// `buildMessage` asks Synapse to parse the body before sending; Ferry parses only what a
/// mediator reads, so the flag changes nothing and is accepted.
pub(super) fn send(cx: &mut Cx<'_>, field: &str, spec: &SendSpec) -> Option<Send> {
    let ef = format!("{field}.endpoint");
    let endpoint = match &spec.endpoint {
        Some(reference) => endpoint::check_ref(cx, &ef, reference),
        None => Some(EndpointRef::implicit_to(field)),
    };
    let receive = match &spec.receive {
        Some(name) => Some(cx.sequence_ref(&format!("{field}.receive"), name)?),
        None => None,
    };
    Some(Send {
        endpoint: endpoint?,
        implicit: spec.endpoint.is_none(),
        receive,
    })
}
