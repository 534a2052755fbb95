//! `sequence`: runs a named sequence (by `key`, or by a `keyExpression` evaluated per
//! message) and continues after it unless it ended the flow.

use ferry_api::check::mediator as checked;
use ferry_api::expr::Expression;

use super::BuildCx;
use crate::expr::value::{eval, to_text};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow, SeqId};

/// A `sequence` mediator.
pub enum SequenceRef {
    /// A sequence resolved at load time.
    Static(SeqId),
    /// A sequence named by an expression, resolved per message.
    Dynamic(Expression),
}

impl SequenceRef {
    /// Builds the mediator: a named sequence resolves to its id now.
    pub fn build(c: &checked::SequenceRef, cx: &mut BuildCx<'_>) -> Option<Self> {
        Some(match c {
            checked::SequenceRef::Named(name) => SequenceRef::Static(cx.sequence_id(name)?),
            checked::SequenceRef::Dynamic(e) => SequenceRef::Dynamic(e.clone()),
        })
    }

    /// Runs the sequence.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let id = match self {
            SequenceRef::Static(id) => *id,
            SequenceRef::Dynamic(expr) => {
                let name = to_text(&eval(expr, msg)?);
                env.compiled.sequence_id(&name).ok_or_else(|| {
                    Fault::internal(codes::CUSTOM, format!("sequence \"{name}\" is not defined"))
                })?
            }
        };
        sequence::run_named(id, msg, env).await
    }
}
