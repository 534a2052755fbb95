//! `sequence`: runs a named sequence (by `key`, or by a `keyExpression` evaluated per
//! message) and continues after it unless it ended the flow.

use ferry_api::expr::Expression;
use ferry_api::mediator::SequenceRefSpec;

use super::value::{eval, to_text};
use crate::compile::CompileCx;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow, SeqId};

/// A compiled `sequence` mediator.
pub enum SequenceRef {
    /// A sequence resolved at load time.
    Static(SeqId),
    /// A sequence named by an expression, resolved per message.
    Dynamic(Expression),
}

impl SequenceRef {
    /// Compiles the spec: exactly one of `key` and `keyExpression`.
    pub fn compile(spec: &SequenceRefSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        match (&spec.key, &spec.key_expression) {
            (Some(key), None) => Some(SequenceRef::Static(
                cx.sequence_id(&format!("{field}.key"), key)?,
            )),
            (None, Some(e)) => Some(SequenceRef::Dynamic(
                cx.expression(&format!("{field}.keyExpression"), e)?,
            )),
            _ => {
                cx.error(field, "set either key or keyExpression");
                None
            }
        }
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
