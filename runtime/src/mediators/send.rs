//! `send`: sends the message to an endpoint; the answer continues in the `receive` sequence
//! or the resource's `outSequence`, and then goes to the client. The in-flow ends here.

use std::sync::Arc;

use ferry_api::mediator::SendSpec;

use crate::compile::CompileCx;
use crate::endpoints::endpoint::{Delivery, Endpoint};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow, SeqId};

/// A compiled `send` mediator.
pub struct Send {
    endpoint: Arc<Endpoint>,
    receive: Option<SeqId>,
}

impl Send {
    /// Compiles the spec. `buildMessage` asks Synapse to parse the body before sending; Ferry
    /// parses only what a mediator reads, so the flag changes nothing and is accepted.
    pub fn compile(spec: &SendSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let Some(reference) = &spec.endpoint else {
            cx.error(
                &format!("{field}.endpoint"),
                "endpoint is required (Ferry has no implicit To address)",
            );
            return None;
        };
        let endpoint = Endpoint::resolve(reference, cx, &format!("{field}.endpoint"))?;
        let receive = match &spec.receive {
            Some(name) => Some(cx.sequence_id(&format!("{field}.receive"), name)?),
            None => None,
        };
        Some(Send { endpoint, receive })
    }

    /// Sends, runs the out-flow on the answer, and ends the flow with it.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        if self.endpoint.call(msg).await? == Delivery::Discarded {
            return Ok(Flow::Drop);
        }
        let out_env = Env {
            out_sequence: None,
            ..env
        };
        let flow = match (self.receive, env.out_sequence) {
            (Some(id), _) => sequence::run_named(id, msg, out_env).await?,
            (None, Some(out)) => sequence::run(&out.mediators, msg, out_env).await?,
            (None, None) => Flow::Respond,
        };
        Ok(match flow {
            Flow::Continue => Flow::Respond,
            done => done,
        })
    }
}
