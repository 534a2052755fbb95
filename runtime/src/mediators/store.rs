//! `store`: puts the message into a MessageStore, named or picked per message by an
//! expression, after running the optional `sequence` on it. The flow goes on only once the
//! store has durably accepted the message; when it cannot, a `STORE_FAILED` fault goes to
//! the fault sequence, so a client is never told "accepted" for a message that is not.

use std::sync::Arc;

use ferry_api::check::mediator::{self as checked, StoreTarget};
use ferry_api::expr::Template;

use super::BuildCx;
use crate::expr::value::render;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow, SeqId};
use crate::stores::{MessageStore, convert};

/// Which store.
enum Target {
    Named(Arc<dyn MessageStore>),
    /// `{${expr}}`: a store name computed per message.
    Expr(Template),
}

/// A `store` mediator.
pub struct Store {
    target: Target,
    sequence: Option<SeqId>,
}

impl Store {
    /// Builds the mediator: a named store and sequence resolve now.
    pub fn build(c: &checked::Store, cx: &mut BuildCx<'_>) -> Option<Self> {
        let target = match &c.target {
            StoreTarget::Named(name) => Target::Named(cx.store(name)?),
            StoreTarget::Expr(t) => Target::Expr(t.clone()),
        };
        let sequence = match &c.sequence {
            Some(name) => Some(cx.sequence_id(name)?),
            None => None,
        };
        Some(Store { target, sequence })
    }

    /// Stores the message.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let store = match &self.target {
            Target::Named(s) => s.clone(),
            Target::Expr(t) => {
                let name = render(t, msg)?;
                env.compiled.stores.get(&name).cloned().ok_or_else(|| {
                    Fault::internal(
                        codes::STORE_FAILED,
                        format!("message store \"{name}\" is not defined"),
                    )
                })?
            }
        };
        let mut stored_msg;
        let to_store = match self.sequence {
            // The on-store sequence changes what is stored, not the message flowing on.
            Some(id) => {
                stored_msg = msg.clone();
                // A side flow: what follows the store mediator is not its continuation.
                let side = Env { cont: None, ..env };
                sequence::run_named(id, &mut stored_msg, side).await?;
                &stored_msg
            }
            None => &*msg,
        };
        let mut stored = convert::to_stored(to_store, now_ms()).map_err(|e| {
            Fault::internal(
                codes::STORE_FAILED,
                format!("cannot store the message: its payload is unreadable: {e}"),
            )
            .with_cause(e)
        })?;
        // A producer span; its context travels in the stored message, so the processor's
        // delivery continues this trace (the message's own trace headers otherwise).
        let trace = msg.trace().map(|parent| {
            let span = parent.child(
                crate::telemetry::Kind::Producer,
                format!("send {}", store.name()),
                || messaging_attributes(store.name(), "send", &stored.id),
            );
            crate::telemetry::store_context(&span, &mut stored.headers);
            span
        });
        let result = store.store(stored).await;
        if let Some(trace) = &trace {
            if let Err(e) = &result {
                trace.error(e.to_string());
            }
            trace.end();
        }
        result.map_err(|e| Fault::internal(codes::STORE_FAILED, e.to_string()).with_cause(e))?;
        Ok(Flow::Continue)
    }
}

/// The messaging semantic conventions' attributes of an operation on a store.
pub(crate) fn messaging_attributes(
    store: &str,
    operation: &'static str,
    message_id: &str,
) -> Vec<opentelemetry::KeyValue> {
    use opentelemetry::KeyValue;
    vec![
        KeyValue::new("messaging.system", "ferry"),
        KeyValue::new("messaging.destination.name", store.to_string()),
        KeyValue::new("messaging.operation.type", operation),
        KeyValue::new("messaging.message.id", message_id.to_string()),
    ]
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
