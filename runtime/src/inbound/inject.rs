//! Injecting one message into an inbound endpoint's sequence: the message gets the
//! configuration it runs on, the sequence runs, and a fault goes to the endpoint's
//! `onError` sequence (else the sequence's own). The caller settles the message with its
//! source from the result: a fault is a failure even when a fault sequence handled it, so
//! the source's `onFault` / `actionAfterFailure` applies.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use super::CompiledInbound;
use crate::compiled::Compiled;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// A message as an inbound endpoint receives it: transport headers (Content-Type
/// included) and the payload, ready for `compiled`'s sequences.
pub fn message(compiled: &Compiled, headers: HeaderMap, body: Bytes) -> Message {
    let mut msg = Message::from_request(Method::POST, Uri::from_static("/"), headers, body);
    msg.set_config(compiled.config.clone());
    msg.set_local_entries(compiled.local_entries.clone());
    msg
}

/// Runs `msg` through the endpoint's sequence. `Err` when the sequence failed (after the
/// fault sequence, if any, ran).
pub async fn run(
    inbound: &CompiledInbound,
    compiled: &Arc<Compiled>,
    msg: &mut Message,
) -> Result<Flow, Fault> {
    let seq = compiled.sequence(inbound.sequence);
    // As a named sequence runs: one level deep, so nested calls are bounded alike.
    let env = Env {
        depth: 1,
        ..Env::new(compiled)
    };
    match sequence::run(&seq.mediators, msg, env).await {
        Ok(flow) => Ok(flow),
        Err(fault) => {
            match inbound.on_error.or(seq.on_error) {
                Some(handler) => {
                    let handler = compiled.sequence(handler);
                    if let Err(again) =
                        sequence::run_fault_sequence(&handler.mediators, &fault, msg, env).await
                    {
                        tracing::warn!(inbound = %inbound.name, error = %again.chain(), "the onError sequence failed too");
                    }
                }
                None => {
                    tracing::warn!(inbound = %inbound.name, error = %fault.chain(), "the inbound endpoint's sequence failed");
                }
            }
            Err(fault)
        }
    }
}
