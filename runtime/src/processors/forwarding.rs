//! `forwarding` and `failoverForwarding`: deliver each message — to an endpoint, or into
//! another store — in store order, one at a time, and acknowledge it only after the
//! delivery succeeded. A failed attempt is retried after `clientRetryInterval`, up to
//! `maxDeliveryAttempts`; then the message is parked in `failMessagesStore`, dropped, or
//! (the default) kept at the head while the processor deactivates, as Synapse does.
//!
//! A response counts as delivered when its status is below 400. A status listed in
//! `nonRetryStatusCodes` fails the message at once, without retrying (a poison message).

use std::sync::Arc;

use serde_json::Value;

use crate::cause::Chain;
use crate::endpoints::endpoint::{Delivery, Endpoint};
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, SeqId};
use crate::stores::{Lease, convert};

use super::runner::RunCx;
use super::{OnExhausted, Target};

/// How one attempt ended.
enum Outcome {
    /// Delivered; for an endpoint, its response.
    Delivered(Option<Box<Message>>),
    /// Failed; worth another attempt.
    Retry(Fault),
    /// Failed in a way retrying does not mend.
    GiveUp(Fault),
}

/// The processor loop: until stopped.
pub(crate) async fn run(mut cx: RunCx) {
    while !cx.stop.is_stopped() {
        let Some(lease) = cx.next_lease().await else {
            continue;
        };
        deliver(&mut cx, lease).await;
        if let Some(pace) = cx.processor.throttle {
            cx.stop.sleep(pace).await;
        }
    }
}

/// Delivers one leased message, with retries, and settles it (ack, park, drop or keep).
async fn deliver(cx: &mut RunCx, lease: Lease) {
    let p = cx.processor.clone();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        cx.state.set_attempts(attempts);
        let fault = match attempt(cx, &lease).await {
            Outcome::Delivered(response) => {
                if let Err(e) = p.store.ack(&lease).await {
                    // The message was delivered but stays in the store: it will be
                    // delivered again (at least once), which is the lesser harm.
                    tracing::error!(processor = %p.name, id = %lease.message.id, error = %Chain(&e), "delivered, but cannot remove the message from the store; it will be delivered again");
                }
                cx.state.record_delivered();
                cx.state.set_attempts(0);
                if let (Some(id), Some(mut response)) = (p.reply_sequence, response) {
                    run_sequence(cx, id, &mut response, None).await;
                }
                return;
            }
            Outcome::Retry(f) => (f, false),
            Outcome::GiveUp(f) => (f, true),
        };
        let (fault, give_up) = fault;
        cx.state.record_failed_attempt();
        tracing::warn!(processor = %p.name, id = %lease.message.id, attempt = attempts, error = %fault.chain(), "delivery failed");
        if let Some(id) = p.fault_sequence {
            let mut msg = convert::from_stored(&lease.message);
            run_sequence(cx, id, &mut msg, Some(&fault)).await;
        }
        if give_up || p.max_attempts.is_some_and(|max| attempts >= max) {
            exhausted(cx, lease, &fault).await;
            return;
        }
        if !cx.stop.sleep(p.retry_interval).await || !cx.state.is_active() {
            // Stopping or deactivated mid-retry: the message keeps its place.
            release(cx, &lease).await;
            return;
        }
    }
}

/// One delivery attempt.
async fn attempt(cx: &RunCx, lease: &Lease) -> Outcome {
    let p = &cx.processor;
    match &p.target {
        Target::Endpoint(default) => {
            let mut msg = convert::from_stored(&lease.message);
            msg.set_config(cx.compiled.config.clone());
            msg.set_local_entries(cx.compiled.local_entries.clone());
            let endpoint = match target_endpoint(cx, &msg, default.as_ref()) {
                Ok(endpoint) => endpoint,
                Err(fault) => return Outcome::GiveUp(fault),
            };
            match endpoint.call(&mut msg).await {
                Ok(Delivery::Answered) => {
                    let status = msg.status().as_u16();
                    if status < 400 {
                        Outcome::Delivered(Some(Box::new(msg)))
                    } else {
                        let f = Fault::upstream(
                            codes::SENDING_FAILED,
                            format!("the endpoint answered {status}"),
                            true,
                        );
                        if p.non_retry_status_codes.contains(&status) {
                            Outcome::GiveUp(f)
                        } else {
                            Outcome::Retry(f)
                        }
                    }
                }
                Ok(Delivery::Discarded) => Outcome::Retry(Fault::upstream(
                    codes::TIMEOUT,
                    "the endpoint did not answer in time",
                    true,
                )),
                Err(f) => Outcome::Retry(f),
            }
        }
        Target::Store(target) => match target.store(lease.message.clone()).await {
            Ok(()) => Outcome::Delivered(None),
            Err(e) => {
                Outcome::Retry(Fault::internal(codes::STORE_FAILED, e.to_string()).with_cause(e))
            }
        },
        // Sampling processors run their own loop.
        Target::Sequence(_) => Outcome::GiveUp(Fault::internal(
            codes::CUSTOM,
            "a sampling processor does not forward",
        )),
    }
}

/// The last attempt failed: park, drop, or keep the message and deactivate.
async fn exhausted(cx: &mut RunCx, lease: Lease, fault: &Fault) {
    let p = cx.processor.clone();
    match &p.on_exhausted {
        OnExhausted::Park(store) => match store.store(lease.message.clone()).await {
            Ok(()) => {
                if let Err(e) = p.store.ack(&lease).await {
                    tracing::error!(processor = %p.name, id = %lease.message.id, error = %Chain(&e), "parked the message, but cannot remove it from the store; it will be delivered again");
                }
                tracing::warn!(processor = %p.name, id = %lease.message.id, parked_in = store.name(), "delivery failed for good; the message was parked");
                cx.state.record_parked();
                cx.state.set_attempts(0);
            }
            Err(e) => {
                tracing::error!(processor = %p.name, id = %lease.message.id, error = %Chain(&e), "cannot park a message that failed for good; keeping it and deactivating");
                deactivate(cx, lease, fault).await;
            }
        },
        OnExhausted::Drop => {
            match p.store.ack(&lease).await {
                Ok(()) => {
                    tracing::error!(processor = %p.name, id = %lease.message.id, error = %fault.chain(), "delivery failed for good; the message was dropped")
                }
                Err(e) => {
                    tracing::error!(processor = %p.name, id = %lease.message.id, error = %Chain(&e), "cannot drop a message that failed for good; it stays in the store")
                }
            }
            cx.state.record_dropped();
            cx.state.set_attempts(0);
        }
        OnExhausted::Deactivate => deactivate(cx, lease, fault).await,
    }
}

async fn deactivate(cx: &mut RunCx, lease: Lease, fault: &Fault) {
    let p = cx.processor.clone();
    release(cx, &lease).await;
    cx.state.set_active(false);
    tracing::error!(processor = %p.name, id = %lease.message.id, error = %fault.chain(), "delivery failed for good; the processor is deactivated and the message kept (activate it on the admin port)");
    if let Some(id) = p.deactivate_sequence {
        let mut msg = convert::from_stored(&lease.message);
        run_sequence(cx, id, &mut msg, Some(fault)).await;
    }
}

async fn release(cx: &RunCx, lease: &Lease) {
    if let Err(e) = cx.processor.store.release(lease).await {
        // The lease stays held by this process until it restarts; the message is not
        // lost, only delayed.
        tracing::warn!(processor = %cx.processor.name, error = %Chain(&e), "cannot release a message");
    }
}

/// Runs a named sequence on `msg` (as a fault sequence when `fault` is given); its
/// failures are logged, they cannot change what happened to the delivery.
pub(crate) async fn run_sequence(cx: &RunCx, id: SeqId, msg: &mut Message, fault: Option<&Fault>) {
    msg.set_config(cx.compiled.config.clone());
    msg.set_local_entries(cx.compiled.local_entries.clone());
    let env = Env::new(&cx.compiled);
    let result = match fault {
        Some(f) => {
            let seq = cx.compiled.sequence(id);
            sequence::run_fault_sequence(&seq.mediators, f, msg, env).await
        }
        None => sequence::run_named(id, msg, env).await,
    };
    if let Err(e) = result {
        tracing::warn!(processor = %cx.processor.name, error = %e.chain(), "a processor sequence failed");
    }
}

/// The endpoint a message goes to: the one its `target.endpoint` property names (Synapse's
/// way to route stored messages one by one), else the processor's. A name that is not an
/// Endpoint of this runtime, or no endpoint at all, will not get better by retrying.
fn target_endpoint(
    cx: &RunCx,
    msg: &Message,
    default: Option<&Arc<Endpoint>>,
) -> Result<Arc<Endpoint>, Fault> {
    use crate::message::properties::TARGET_ENDPOINT;
    match msg.property(PropertyScope::Default, TARGET_ENDPOINT) {
        Some(Value::String(name)) if !name.trim().is_empty() => cx
            .compiled
            .endpoints
            .get(name.trim())
            .cloned()
            .ok_or_else(|| {
                Fault::internal(
                    codes::SENDING_FAILED,
                    format!(
                        "the message's target.endpoint {name:?} is not an Endpoint of this runtime"
                    ),
                )
            }),
        _ => default.cloned().ok_or_else(|| {
            Fault::internal(
                codes::SENDING_FAILED,
                "the processor has no targetEndpoint and the message no target.endpoint property",
            )
        }),
    }
}
