//! What `clone` and `iterate` share: running copies of a message, each through its target
//! and then on through the rest of the flow (Micro Integrator 4.x's continuation), and the
//! scope an `aggregate` further on collects them in.
//!
//! Copies run inside the request's own task, concurrently (or one after the other with
//! `sequential`), polled together with the original message when `continueParent` is set.
//! They borrow the running configuration like any mediator, they end with their request (a
//! deadline or a dropped connection cancels them too), and a copy waiting at an
//! `aggregate` costs a parked future, not a thread.
//!
//! How the copies come out decides the flow:
//! - the first copy (or continuing original) to finish with an answer — a `respond`, a
//!   `send`, or the end of the flow ([`Flow::End`]: the end of a `foreach` iteration or a
//!   `scatterGather` sequence too) — answers the client; the flow is over then, and copies
//!   still running are cancelled (a message they would bring to an `aggregate` would come
//!   late, and a late message is dropped, as in Micro Integrator);
//! - a copy that faults is logged and goes no further; when no copy answers, the first
//!   fault is the flow's fault (the fault sequences run on that copy);
//! - when nothing answers and nothing faults (every copy dropped, or was collected by an
//!   `aggregate` that did not answer), the flow ends as `drop` does (202, no body).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use ferry_api::check::mediator as checked;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tokio::sync::{Notify, watch};

use super::BuildCx;
use super::Mediator;
use super::send::Send;
use crate::endpoints::endpoint::Endpoint;
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// Synapse's property naming the original message of a copy (`AGGREGATE_CORRELATION`,
/// `.id` appended when the split has an id).
pub const AGGREGATE_CORRELATION: &str = "AGGREGATE_CORRELATION";
/// Synapse's property `index/total` of a copy (`MESSAGE_SEQUENCE`, `.id` appended when the
/// split has an id).
pub const MESSAGE_SEQUENCE: &str = "MESSAGE_SEQUENCE";

// === impl Target ===

/// Where a copy goes: a sequence, then an endpoint (as `send`), or on with the flow.
pub struct Target {
    sequence: Vec<Mediator>,
    endpoint: Option<Send>,
    soap_action: Option<String>,
}

impl Target {
    /// Builds the target's sequence and resolves its endpoint.
    pub fn build(t: &checked::Target, cx: &mut BuildCx<'_>) -> Option<Self> {
        let sequence = super::build_list(&t.sequence, cx);
        let endpoint = match &t.endpoint {
            Some(reference) => Some(Send::to(Endpoint::build_ref(reference, cx)?)),
            None => None,
        };
        Some(Target {
            sequence,
            endpoint,
            soap_action: t.soap_action.clone(),
        })
    }

    /// The target's sequence.
    pub fn sequence(&self) -> &[Mediator] {
        &self.sequence
    }

    /// Runs a copy through the target and then on through the flow after the split.
    async fn run(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        if let Some(action) = &self.soap_action {
            msg.set_header(SOAP_ACTION, action)
                .map_err(|e| Fault::internal(codes::CUSTOM, format!("target soapAction: {e}")))?;
        }
        match sequence::run(&self.sequence, msg, env).await? {
            Flow::Continue => {}
            done => return Ok(done),
        }
        if let Some(send) = &self.endpoint {
            return send.mediate(msg, env).await;
        }
        sequence::run_continuation(env.cont, msg, env).await
    }
}

/// The header a SOAP 1.1 message names its action in (SOAP 1.2's `action` parameter is
/// made from it when the message is sent).
const SOAP_ACTION: &str = "SOAPAction";

// === impl SplitTag, Scope ===

/// Marks a message as a copy made by one split: an `aggregate` with the same `id` (or none,
/// for a split without one) collects it into this split's scope.
///
/// The scope is held weakly: messages waiting in an aggregation are held by the scope, and
/// a strong reference back would keep both alive after the request (only the split's runner
/// owns the scope; when it ends, the scope and whatever waits in it go).
#[derive(Clone)]
pub struct SplitTag {
    /// The split's `id`.
    pub id: Option<Arc<str>>,
    /// The split's shared state, while the split runs.
    pub scope: Weak<Scope>,
}

impl fmt::Debug for SplitTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitTag")
            .field("id", &self.id)
            .field("running", &(self.scope.strong_count() > 0))
            .finish_non_exhaustive()
    }
}

/// The state one split shares with its copies: how many there are, how many are still on
/// their way, and the aggregations collecting them.
pub struct Scope {
    /// How many copies the split makes (what an aggregate's `-1` message count means).
    pub total: usize,
    /// Copies running, not waiting at an aggregate.
    running: AtomicUsize,
    /// Wakes the split's runner when a copy parks.
    changed: Notify,
    /// Bumped when every copy has finished or waits at an aggregate: nothing more can
    /// arrive, so waiting aggregations complete with what they hold.
    settled: watch::Sender<u64>,
    /// The open aggregations of this split, by aggregate mediator.
    pub(crate) aggregations: Mutex<Vec<(u64, Aggregation)>>,
}

impl Scope {
    fn new(total: usize) -> Self {
        Scope {
            total,
            running: AtomicUsize::new(0),
            changed: Notify::new(),
            settled: watch::channel(0).0,
            aggregations: Mutex::new(Vec::new()),
        }
    }

    /// A receiver that changes when the split settles; take it before parking.
    pub(crate) fn settled(&self) -> watch::Receiver<u64> {
        self.settled.subscribe()
    }

    /// A copy of this split waits at an aggregate. Only a direct copy counts (a copy of a
    /// nested split stands for no copy of this one).
    pub(crate) fn park(self: &Arc<Self>, msg_splits: &[SplitTag]) {
        if self.is_innermost(msg_splits) {
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.changed.notify_one();
        }
    }

    /// A copy that waited at an aggregate goes on (with the aggregate, or to end).
    pub(crate) fn unpark(self: &Arc<Self>, msg_splits: &[SplitTag]) {
        if self.is_innermost(msg_splits) {
            self.running.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn is_innermost(self: &Arc<Self>, msg_splits: &[SplitTag]) -> bool {
        msg_splits
            .last()
            .is_some_and(|tag| std::ptr::eq(tag.scope.as_ptr(), Arc::as_ptr(self)))
    }

    /// The aggregations, locked (a poisoned lock only means another copy panicked).
    pub(crate) fn lock_aggregations(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Aggregation)>> {
        self.aggregations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Messages an `aggregate` collects for one split (kept in the split's [`Scope`], so they
/// go when the request does, whatever happens).
pub(crate) struct Aggregation {
    /// The messages collected so far, in arrival order.
    pub messages: Vec<Message>,
    /// Completed: a message arriving now is late and dropped.
    pub done: bool,
    /// The copies waiting here; told (by dropping the sender) when another one completes
    /// the aggregation.
    pub waiting: Vec<tokio::sync::oneshot::Sender<()>>,
    /// When the aggregation completes with what it holds (`completeCondition.timeout`).
    pub deadline: Option<tokio::time::Instant>,
    /// Counts the aggregation in `ferry_open_aggregations` until it completes or goes with
    /// its request.
    pub open: Option<OpenGuard>,
}

impl Aggregation {
    /// Completes the aggregation: the messages it holds; a copy arriving from now on is
    /// late, and the copies waiting here are told (their senders dropped).
    pub(crate) fn finish(&mut self) -> Vec<Message> {
        self.done = true;
        self.waiting.clear();
        self.open = None;
        std::mem::take(&mut self.messages)
    }
}

/// Holds one open aggregation in the gauge; dropping it (completion, or the request's
/// end) takes it out.
pub(crate) struct OpenGuard(pub prometheus_client::metrics::gauge::Gauge);

impl OpenGuard {
    pub(crate) fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        OpenGuard(gauge.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

// === the runner ===

/// One split, ready to run.
pub struct Split<'a, I> {
    /// The split's `id`.
    pub id: Option<&'a str>,
    /// The copies with their targets; produced one at a time (a sequential split makes the
    /// next copy only when the previous one is done).
    pub copies: I,
    /// How many copies `copies` yields.
    pub total: usize,
    /// One after the other rather than concurrently.
    pub sequential: bool,
    /// The original message goes on too.
    pub continue_parent: bool,
}

/// How many copies of one split run at once (copies waiting at an aggregate do not count):
/// a split of thousands of items calls its backends a hundred at a time, as MI's default
/// mediation worker pool (`synapse.max_threads`, 100) would.
pub const MAX_IN_FLIGHT: usize = 100;

type CopyFuture<'a> =
    Pin<Box<dyn Future<Output = (Result<Flow, Fault>, Message, bool)> + std::marker::Send + 'a>>;

impl<'a, I> Split<'a, I>
where
    I: Iterator<Item = (Message, &'a Target)>,
{
    /// Runs the copies (and the original, with `continueParent`) and leaves the answer, if
    /// any, in `msg`: see the module documentation. Always ends the flow.
    pub async fn run(self, msg: &mut Message, env: Env<'a>) -> Result<Flow, Fault> {
        let scope = Arc::new(Scope::new(self.total));
        let tag = SplitTag {
            id: self.id.map(Arc::from),
            scope: Arc::downgrade(&scope),
        };
        let (correlation, sequence) = match self.id {
            Some(id) => (
                format!("{AGGREGATE_CORRELATION}.{id}"),
                format!("{MESSAGE_SEQUENCE}.{id}"),
            ),
            None => (
                AGGREGATE_CORRELATION.to_string(),
                MESSAGE_SEQUENCE.to_string(),
            ),
        };
        let parent_id = Value::String(msg.id());
        let total = self.total;
        let mut copies = self.copies.enumerate().map(move |(i, (mut copy, target))| {
            copy.set_property(PropertyScope::Default, &correlation, parent_id.clone());
            copy.set_property(
                PropertyScope::Default,
                &sequence,
                Value::String(format!("{i}/{total}")),
            );
            copy.push_split(tag.clone());
            (copy, target)
        });
        let mut parent = self
            .continue_parent
            .then(|| std::mem::replace(msg, Message::new_empty()));
        let mut running: FuturesUnordered<CopyFuture<'a>> = FuturesUnordered::new();
        let start = |running: &mut FuturesUnordered<CopyFuture<'a>>,
                     (mut copy, target): (Message, &'a Target)| {
            scope.running.fetch_add(1, Ordering::SeqCst);
            running.push(Box::pin(async move {
                let result = target.run(&mut copy, env).await;
                (result, copy, true)
            }));
        };
        let go_on = |running: &mut FuturesUnordered<CopyFuture<'a>>, mut original: Message| {
            running.push(Box::pin(async move {
                let result = sequence::run_continuation(env.cont, &mut original, env).await;
                (result, original, false)
            }));
        };
        // Copies running at once (not counting those waiting at an aggregate): one when
        // sequential, else up to MAX_IN_FLIGHT, like MI's bounded mediation worker pool.
        let limit = if self.sequential { 1 } else { MAX_IN_FLIGHT };
        if !self.sequential
            && let Some(original) = parent.take()
        {
            go_on(&mut running, original);
        }
        let mut first_fault: Option<(Fault, Message)> = None;
        loop {
            if scope.running.load(Ordering::SeqCst) < limit
                && let Some(copy) = copies.next()
            {
                start(&mut running, copy);
                continue;
            }
            if scope.running.load(Ordering::SeqCst) == 0 {
                // Sequential: the original once the copies are done (or wait at an
                // aggregate).
                if let Some(original) = parent.take() {
                    go_on(&mut running, original);
                    continue;
                }
                if !running.is_empty() {
                    // Whatever still runs waits at an aggregate: nothing more can come.
                    scope.settled.send_modify(|generation| *generation += 1);
                }
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                done = running.next() => {
                    let Some((result, copy, is_copy)) = done else { break };
                    if is_copy {
                        scope.running.fetch_sub(1, Ordering::SeqCst);
                    }
                    match result {
                        Ok(Flow::Drop) => {}
                        Ok(Flow::Respond) => {
                            *msg = copy;
                            return Ok(Flow::Respond);
                        }
                        Ok(Flow::Continue | Flow::End) => {
                            *msg = copy;
                            return Ok(Flow::End);
                        }
                        Err(fault) => {
                            tracing::warn!(error = %fault.chain(), "a copy of the message failed");
                            if first_fault.is_none() {
                                first_fault = Some((fault, copy));
                            }
                        }
                    }
                }
                () = scope.changed.notified() => {}
            }
        }
        match first_fault {
            Some((fault, copy)) => {
                *msg = copy;
                Err(fault)
            }
            None => Ok(Flow::Drop),
        }
    }
}

#[cfg(test)]
mod tests;
