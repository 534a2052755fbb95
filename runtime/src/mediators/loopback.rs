//! `loopback`: moves the message to the out-flow without calling a backend: the resource's
//! `outSequence` runs on it (as Synapse does), then the client gets the answer.

use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// The `loopback` mediator.
pub struct Loopback;

impl Loopback {
    /// Runs the out-sequence, then ends the flow with an answer.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let Some(out) = env.out_sequence else {
            return Ok(Flow::Respond);
        };
        let out_env = Env {
            out_sequence: None,
            cont: None,
            out_flow: true,
            ..env
        };
        match sequence::run(&out.mediators, msg, out_env).await? {
            Flow::Continue => Ok(Flow::Respond),
            done => Ok(done),
        }
    }
}
