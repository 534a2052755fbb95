//! `header`: sets or removes a transport header of the message in its current direction,
//! or (`scope: default`, Synapse's default) a SOAP header block of its envelope. A payload
//! that is not a SOAP message yet is put in a SOAP 1.1 envelope for it, as Synapse keeps
//! every message in one; written as JSON or plain XML it is still its body's content.

use ferry_api::check::mediator::{self as checked, AddressingOp, HeaderOp, SoapHeader};
use serde_json::Value;

use crate::expr::context::PropertyScope;
use http::header::HeaderValue;

use crate::expr::value::Evaluate;
use crate::fault::{Fault, codes};
use crate::message::{Message, soap};
use crate::sequence::Flow;
use crate::xml::{Element, Node, QName};

/// A `header` mediator, built from its checked form.
pub struct Header(pub checked::HeaderOp);

impl Header {
    /// Sets or removes the header.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.0 {
            HeaderOp::Transport(h) => transport(h, msg)?,
            HeaderOp::Soap(h) => soap_header(h, msg)?,
            HeaderOp::Addressing(h) => addressing(h, msg)?,
        }
        Ok(Flow::Continue)
    }
}

fn transport(h: &checked::Header, msg: &mut Message) -> Result<(), Fault> {
    match &h.value {
        None => {
            msg.headers.remove(&h.name);
        }
        Some(source) => {
            let text = source.eval_string(msg)?;
            let value = HeaderValue::from_str(&text).map_err(|e| {
                Fault::internal(
                    codes::CUSTOM,
                    format!("header {}: {text:?} is not a valid header value", h.name),
                )
                .with_cause(e)
            })?;
            msg.headers.insert(h.name.clone(), value);
        }
    }
    Ok(())
}

/// A WS-Addressing header is its property (see `message::addressing`).
fn addressing(h: &AddressingOp, msg: &mut Message) -> Result<(), Fault> {
    let name = h.header.name();
    match &h.value {
        Some(source) => {
            let text = source.eval_string(msg)?;
            msg.set_property(PropertyScope::Default, name, Value::String(text));
        }
        None => {
            msg.remove_property(PropertyScope::Default, name);
        }
    }
    Ok(())
}

fn soap_header(h: &SoapHeader, msg: &mut Message) -> Result<(), Fault> {
    let value = match &h.value {
        Some(source) => Some(source.eval_string(msg)?),
        None => None,
    };
    let payload = msg.payload_xml().map_err(|e| {
        Fault::bad_request(codes::PARSE_ERROR, format!("cannot read the payload: {e}"))
            .with_cause(e)
    })?;
    let is_envelope = payload.is_some_and(|p| soap::envelope_version(p).is_some());
    if value.is_none() && !is_envelope {
        // Nothing to remove from a message that has no envelope.
        return Ok(());
    }
    let mut envelope = match payload {
        Some(p) if is_envelope => p.clone(),
        other => soap::wrap(other, soap::Version::Soap11),
    };
    let same = |e: &Element| {
        e.name.local == h.local && e.name.namespace.as_deref() == Some(h.namespace.as_str())
    };
    let header = soap::header_mut(&mut envelope);
    header
        .children
        .retain(|c| !matches!(c, Node::Element(e) if same(e)));
    if let Some(text) = value {
        let mut block = Element::with_name(QName {
            prefix: Some(h.prefix.clone()),
            local: h.local.clone(),
            namespace: Some(h.namespace.clone()),
        });
        block.children.push(Node::Text(text));
        header.children.push(Node::Element(Box::new(block)));
    }
    msg.set_xml(envelope);
    Ok(())
}
