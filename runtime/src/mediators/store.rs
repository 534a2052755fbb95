//! `store`: puts the message into a MessageStore, named or picked per message by an
//! expression, after running the optional `sequence` on it. The flow goes on only once the
//! store has durably accepted the message; when it cannot, a `STORE_FAILED` fault goes to
//! the fault sequence, so a client is never told "accepted" for a message that is not.

use std::sync::Arc;

use ferry_api::expr::Template;
use ferry_api::mediator::StoreSpec;

use super::value::render;
use crate::compile::CompileCx;
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

/// A compiled `store` mediator.
pub struct Store {
    target: Target,
    sequence: Option<SeqId>,
}

impl Store {
    /// Compiles the spec.
    pub fn compile(spec: &StoreSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let src = spec.message_store.trim();
        let target = match src.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) if inner.starts_with("${") => {
                Target::Expr(cx.template(&format!("{field}.messageStore"), inner)?)
            }
            _ => match cx.stores.get(src) {
                Some(s) => Target::Named(s.clone()),
                None => {
                    // An undefined name was reported by validation; a store that failed
                    // to open was reported by the registry.
                    cx.error(
                        &format!("{field}.messageStore"),
                        format!("message store \"{src}\" is not available"),
                    );
                    return None;
                }
            },
        };
        let sequence = match &spec.sequence {
            Some(name) => Some(cx.sequence_id(&format!("{field}.sequence"), name)?),
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
                sequence::run_named(id, &mut stored_msg, env).await?;
                &stored_msg
            }
            None => &*msg,
        };
        let stored = convert::to_stored(to_store, now_ms()).map_err(|e| {
            Fault::internal(
                codes::STORE_FAILED,
                format!(
                    "cannot store the message: its payload is unreadable: {}",
                    e.0
                ),
            )
        })?;
        store
            .store(stored)
            .await
            .map_err(|e| Fault::internal(codes::STORE_FAILED, e.to_string()))?;
        Ok(Flow::Continue)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
