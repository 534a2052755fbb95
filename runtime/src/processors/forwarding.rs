//! `forwarding` and `failoverForwarding`: deliver each message — to an endpoint, or into
//! another store — in store order, one at a time, and acknowledge it only after the
//! delivery succeeded. A failed attempt is retried after `clientRetryInterval`, up to
//! `maxDeliveryAttempts`; then the message is parked in `failMessagesStore`, dropped, or
//! (the default) kept at the head while the processor deactivates, as Synapse does.
//!
//! A response counts as delivered when its status is below 400. A status listed in
//! `nonRetryStatusCodes` fails the message at once, without retrying (a poison message),
//! and so does a 4xx other than 408 and 429 unless `retryClientErrors`: the backend says
//! the message itself is wrong, so retrying it would only hold up the messages behind it.
//! A `Retry-After` on a 429 or 503 answer stretches the wait before the next attempt.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cause::Chain;
use crate::endpoints::endpoint::{Delivery, Endpoint};
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, SeqId};
use crate::stores::{Lease, convert};

use super::report::reasons;
use super::runner::RunCx;
use super::{CompiledProcessor, OnExhausted, Target};

/// How one attempt ended.
enum Outcome {
    /// Delivered; for an endpoint, its response.
    Delivered(Option<Box<Message>>),
    /// Failed; worth another attempt, not before the backend's `Retry-After` when it
    /// gave one.
    Retry(Fault, Option<Duration>),
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
        let started = std::time::Instant::now();
        let outcome = traced_attempt(cx, &lease, attempts).await;
        cx.state.record_attempt_time(started.elapsed());
        let fault = match outcome {
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
            Outcome::Retry(f, after) => (f, false, after),
            Outcome::GiveUp(f) => (f, true, None),
        };
        let (fault, give_up, retry_after) = fault;
        cx.state.record_failed_attempt();
        let correlation_id = crate::telemetry::correlation::from_pairs(&lease.message.headers);
        tracing::warn!(processor = %p.name, id = %lease.message.id, correlation_id, attempt = attempts, error = %fault.chain(), "delivery failed");
        if let Some(id) = p.fault_sequence {
            let mut msg = convert::from_stored(&lease.message);
            run_sequence(cx, id, &mut msg, Some(&fault)).await;
        }
        if give_up || p.max_attempts.is_some_and(|max| attempts >= max) {
            exhausted(cx, lease, &fault).await;
            return;
        }
        let wait = retry_after.map_or(p.retry_interval, |after| after.max(p.retry_interval));
        if !cx.stop.sleep(wait).await || !cx.state.is_active() {
            // Stopping or deactivated mid-retry: the message keeps its place.
            release(cx, &lease).await;
            return;
        }
    }
}

/// One delivery attempt, in a consumer span continuing the stored message's trace when
/// tracing is on.
async fn traced_attempt(cx: &RunCx, lease: &Lease, attempt_no: u32) -> Outcome {
    let trace = match &cx.processor.target {
        Target::Endpoint(_) => {
            let store = cx.processor.store.name();
            crate::telemetry::Trace::start_from_pairs(
                &lease.message.headers,
                crate::telemetry::Kind::Consumer,
                format!("process {store}"),
                || {
                    let mut attributes = crate::mediators::store::messaging_attributes(
                        store,
                        "process",
                        &lease.message.id,
                    );
                    attributes.push(opentelemetry::KeyValue::new(
                        "ferry.processor",
                        cx.processor.name.to_string(),
                    ));
                    attributes.push(opentelemetry::KeyValue::new(
                        "ferry.delivery.attempt",
                        i64::from(attempt_no),
                    ));
                    attributes
                },
            )
        }
        _ => None,
    };
    let Some(trace) = trace else {
        return attempt(cx, lease, None).await;
    };
    let outcome = attempt(cx, lease, Some(&trace)).await;
    match &outcome {
        Outcome::Delivered(_) => {}
        Outcome::Retry(fault, _) | Outcome::GiveUp(fault) => trace.error(fault.message.clone()),
    }
    trace.end();
    outcome
}

/// One delivery attempt.
async fn attempt(cx: &RunCx, lease: &Lease, trace: Option<&crate::telemetry::Trace>) -> Outcome {
    let p = &cx.processor;
    match &p.target {
        Target::Endpoint(default) => {
            let mut msg = convert::from_stored(&lease.message);
            msg.set_config(cx.compiled.config.clone());
            msg.set_local_entries(cx.compiled.local_entries.clone());
            msg.set_trace(trace.cloned());
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
                        if gives_up_on(status, p) {
                            Outcome::GiveUp(f)
                        } else {
                            Outcome::Retry(f, retry_after(&msg, status))
                        }
                    }
                }
                Ok(Delivery::Discarded) => Outcome::Retry(
                    Fault::upstream(codes::TIMEOUT, "the endpoint did not answer in time", true),
                    None,
                ),
                Err(f) => Outcome::Retry(f, None),
            }
        }
        Target::Store(target) => match target.store(lease.message.clone()).await {
            Ok(()) => Outcome::Delivered(None),
            Err(e) => Outcome::Retry(
                Fault::internal(codes::STORE_FAILED, e.to_string()).with_cause(e),
                None,
            ),
        },
        // Sampling processors run their own loop.
        Target::Sequence(_) => Outcome::GiveUp(Fault::internal(
            codes::CUSTOM,
            "a sampling processor does not forward",
        )),
    }
}

/// Whether an answer with `status` fails the message at once: listed in
/// `nonRetryStatusCodes`, or a client error (4xx but 408 Request Timeout and 429 Too Many
/// Requests, which say "later", not "never") unless `retryClientErrors`.
fn gives_up_on(status: u16, p: &CompiledProcessor) -> bool {
    p.non_retry_status_codes.contains(&status)
        || (!p.retry_client_errors && (400..500).contains(&status) && !matches!(status, 408 | 429))
}

/// The longest a `Retry-After` may stretch one wait: a backend cannot park a processor
/// for days with one header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait a 429 or 503 answer asks for in its `Retry-After` (seconds, or an HTTP date).
fn retry_after(answer: &Message, status: u16) -> Option<Duration> {
    if !matches!(status, 429 | 503) {
        return None;
    }
    let value = answer.header("retry-after")?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
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
    cx.state.deactivate(
        reasons::DELIVERY_FAILED,
        format!(
            "message {} failed for good ({}); it is kept at the head of {} until the processor is activated again",
            lease.message.id,
            fault.message,
            p.store.name()
        ),
        Some(&lease.message.id),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(retry_after: &str) -> Message {
        let mut msg = Message::new_empty();
        msg.set_header("Retry-After", retry_after).unwrap();
        msg
    }

    #[test]
    fn retry_after_is_read_from_429_and_503_as_seconds_or_a_date_and_capped() {
        assert_eq!(retry_after(&answer("2"), 503), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&answer("2"), 429), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&answer("2"), 500), None, "only 429 and 503 ask");
        assert_eq!(retry_after(&answer("999999"), 503), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&answer("soon"), 503), None);
        let past = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(retry_after(&answer(past), 503), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let wait = retry_after(&answer(&later), 503).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }
}
