//! `header`: sets or removes a transport header of the message in its current direction.

use ferry_api::mediator::{HeaderScope, HeaderSpec};
use ferry_api::resources::common::SetOrRemove;
use http::HeaderName;
use http::header::HeaderValue;

use super::value::ValueSource;
use crate::compile::CompileCx;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::Flow;

/// A compiled `header` mediator.
pub struct Header {
    name: HeaderName,
    /// `None` removes the header.
    value: Option<ValueSource>,
}

impl Header {
    /// Compiles the spec. SOAP headers (`scope: default`) need a SOAP envelope model Ferry
    /// does not have yet, so they are a validation error rather than silently ignored.
    pub fn compile(spec: &HeaderSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        if spec.scope == HeaderScope::Default {
            cx.error(
                &format!("{field}.scope"),
                "SOAP headers (scope default) are not supported yet; use scope transport",
            );
            return None;
        }
        let name = match HeaderName::from_bytes(spec.name.as_bytes()) {
            Ok(n) => n,
            Err(_) => {
                cx.error(
                    &format!("{field}.name"),
                    format!("{:?} is not a valid header name", spec.name),
                );
                return None;
            }
        };
        let value = match spec.action {
            SetOrRemove::Remove => None,
            SetOrRemove::Set => {
                let source = ValueSource::compile(
                    cx,
                    field,
                    spec.value.as_deref(),
                    spec.expression.as_deref(),
                )?;
                if let ValueSource::Literal(v) = &source
                    && HeaderValue::from_str(v).is_err()
                {
                    cx.error(&format!("{field}.value"), "not a valid header value");
                    return None;
                }
                Some(source)
            }
        };
        Some(Header { name, value })
    }

    /// Sets or removes the header.
    pub fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        match &self.value {
            None => {
                msg.headers.remove(&self.name);
            }
            Some(source) => {
                let text = source.eval_string(msg)?;
                let value = HeaderValue::from_str(&text).map_err(|_| {
                    Fault::internal(
                        codes::CUSTOM,
                        format!("header {}: {text:?} is not a valid header value", self.name),
                    )
                })?;
                msg.headers.insert(self.name.clone(), value);
            }
        }
        Ok(Flow::Continue)
    }
}
