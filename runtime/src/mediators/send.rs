//! `send`: sends the message to an endpoint; the answer continues in the `receive` sequence
//! or the resource's `outSequence`, and then goes to the client. The in-flow ends here.

use std::sync::Arc;

use ferry_api::check::mediator as checked;

use super::BuildCx;
use crate::endpoints::endpoint::{Delivery, Endpoint};
use crate::expr::context::PropertyScope;
use crate::fault::Fault;
use crate::message::{Message, properties};
use crate::sequence::{self, Env, Flow, SeqId};

/// A `send` mediator.
pub struct Send {
    endpoint: Arc<Endpoint>,
    receive: Option<SeqId>,
    /// No endpoint was named: the message's `To` address, or in the out-flow the client.
    implicit: bool,
}

impl Send {
    /// Builds the mediator: its endpoint and `receive` sequence resolve now.
    pub fn build(c: &checked::Send, cx: &mut BuildCx<'_>) -> Option<Self> {
        let endpoint = Endpoint::build_ref(&c.endpoint, cx)?;
        let receive = match &c.receive {
            Some(name) => Some(cx.sequence_id(name)?),
            None => None,
        };
        Some(Send {
            endpoint,
            receive,
            implicit: c.implicit,
        })
    }

    /// Sends to `endpoint`, the answer going through the out-sequence (a clone or iterate
    /// target's endpoint).
    pub fn to(endpoint: Arc<Endpoint>) -> Self {
        Send {
            endpoint,
            receive: None,
            implicit: false,
        }
    }

    /// Sends, runs the out-flow on the answer, and ends the flow with it.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        if self.implicit && env.out_flow {
            return Ok(Flow::Respond);
        }
        if msg.flag(PropertyScope::Default, properties::OUT_ONLY) {
            // No answer is expected, so there is no out-flow: the in-flow ends here, as
            // with `drop` (202, unless FORCE_SC_ACCEPTED already says so).
            self.endpoint.deliver_detached(msg.clone());
            return Ok(Flow::Drop);
        }
        if self.endpoint.call(msg).await? == Delivery::Discarded {
            return Ok(Flow::Drop);
        }
        // The out-flow ends the flow: what followed `send` in the in-flow never runs.
        let out_env = Env {
            out_sequence: None,
            cont: None,
            out_flow: true,
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
