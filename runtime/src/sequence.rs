//! Running sequences: mediators one after another, and the fault chain around them.
//!
//! A mediator answers [`Flow::Continue`] (go on), or ends the flow (`respond`, `drop`,
//! `send`). A failure is a [`Fault`]: it travels outward through the enclosing sequences until
//! one has a fault handler (a named sequence's `onError`, then the resource's and the API's
//! `faultSequence`), which runs with `ERROR_CODE`/`ERROR_MESSAGE`/`ERROR_DETAIL` set. When a
//! fault sequence finishes without answering, the flow ends with the message as it is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::compiled::Compiled;
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::mediators::Mediator;
use crate::message::Message;

pub use crate::compile::cx::SeqId;

/// How a mediator (or a sequence) left the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next mediator.
    Continue,
    /// The flow is over: answer the client with the message as it is now.
    Respond,
    /// The flow is over without an answer (`drop`): the client gets 202 and no body.
    Drop,
    /// A copy made by `clone` or `iterate` went on to the end of the flow it continued in:
    /// nothing more runs. For a request's flow it answers as the end of the in-sequence
    /// does; inside a `foreach` iteration or a `scatterGather` sequence it is the end of
    /// that sequence.
    End,
}

/// A compiled list of mediators with its fault handler.
pub struct Sequence {
    /// The name, for named sequences (logs).
    pub name: Option<Arc<str>>,
    /// The mediators, in order.
    pub mediators: Vec<Mediator>,
    /// The named sequence that handles faults raised inside this one.
    pub on_error: Option<SeqId>,
    /// Counts its runs for `ferry test --coverage` (off otherwise).
    pub coverage: crate::coverage::Point,
    /// `trace: true`: a span per mediator while it runs (when tracing is on).
    pub trace: bool,
}

impl Sequence {
    /// An inline sequence (an API resource's in/out/fault sequence).
    pub fn anonymous(mediators: Vec<Mediator>) -> Self {
        Self {
            name: None,
            mediators,
            on_error: None,
            coverage: crate::coverage::Point::off(),
            trace: false,
        }
    }
}

/// Named sequences may call each other (even themselves); this bounds the depth so a
/// configuration loop ends in a fault instead of a stack overflow.
pub const MAX_DEPTH: u32 = 64;

/// What a running flow can see besides the message: the configuration it runs on, and the
/// out-sequence that `send` and `loopback` continue in.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The configuration this message runs on (a reload does not change it mid-flight).
    /// Shared, so work that outlives the flow (a foreach that does not wait) keeps it.
    pub compiled: &'a Arc<Compiled>,
    /// The current resource's out-sequence.
    pub out_sequence: Option<&'a Sequence>,
    /// How deep named-sequence calls are nested.
    pub depth: u32,
    /// What follows the running mediator, innermost list first: where a copy made by
    /// `clone` or `iterate` goes on once its target is done (Micro Integrator's
    /// continuation). `None` at the start of a flow.
    pub cont: Option<&'a Cont<'a>>,
    /// The message is the answer on its way to the client (an out-sequence or a `receive`
    /// sequence): a `send` with no endpoint returns it to the client, as Synapse does.
    pub out_flow: bool,
    /// A traced artifact (`trace: true`) runs here: each mediator gets a span when the
    /// message is in a trace. Nested lists and called sequences inherit it.
    pub trace_mediators: bool,
}

/// One frame of a flow's continuation: the rest of a mediator list, and the frame of the
/// list around it. [`run`] pushes one per mediator it runs (on the stack, no allocation).
pub struct Cont<'a> {
    /// The mediators after the running one in its list.
    pub rest: &'a [Mediator],
    /// The frame of the enclosing list.
    pub next: Option<&'a Cont<'a>>,
}

impl<'a> Env<'a> {
    /// The environment at the start of a flow: no out-sequence, no continuation.
    pub fn new(compiled: &'a Arc<Compiled>) -> Self {
        Env {
            compiled,
            out_sequence: None,
            depth: 0,
            cont: None,
            out_flow: false,
            trace_mediators: false,
        }
    }
}

/// The boxed future of a sequence run (sequences nest, so the recursion must be boxed).
pub type FlowFuture<'a> = Pin<Box<dyn Future<Output = Result<Flow, Fault>> + Send + 'a>>;

/// Runs mediators in order until one ends the flow or fails.
pub fn run<'a>(mediators: &'a [Mediator], msg: &'a mut Message, env: Env<'a>) -> FlowFuture<'a> {
    if env.trace_mediators && msg.trace().is_some() {
        return run_traced(mediators, msg, env);
    }
    Box::pin(async move {
        for (i, mediator) in mediators.iter().enumerate() {
            let frame = Cont {
                rest: mediators.get(i + 1..).unwrap_or_default(),
                next: env.cont,
            };
            let inner = Env {
                cont: Some(&frame),
                ..env
            };
            match mediator.mediate(msg, inner).await? {
                Flow::Continue => {}
                done => return Ok(done),
            }
        }
        Ok(Flow::Continue)
    })
}

/// [`run`] with a span per mediator under the message's span; the mediator runs in its
/// span (a call's client span is its child).
fn run_traced<'a>(mediators: &'a [Mediator], msg: &'a mut Message, env: Env<'a>) -> FlowFuture<'a> {
    Box::pin(async move {
        for (i, mediator) in mediators.iter().enumerate() {
            let frame = Cont {
                rest: mediators.get(i + 1..).unwrap_or_default(),
                next: env.cont,
            };
            let inner = Env {
                cont: Some(&frame),
                ..env
            };
            let span = msg.trace().map(|parent| {
                parent.child(crate::telemetry::Kind::Internal, mediator.name(), || {
                    vec![
                        opentelemetry::KeyValue::new("ferry.mediator", mediator.name()),
                        opentelemetry::KeyValue::new(
                            "ferry.mediator.index",
                            i64::try_from(i).unwrap_or(i64::MAX),
                        ),
                    ]
                })
            });
            let parent = match &span {
                Some(span) => msg.trace.replace(span.clone()),
                None => msg.trace.take(),
            };
            let result = mediator.mediate(msg, inner).await;
            msg.trace = parent;
            if let Some(span) = span {
                if let Err(fault) = &result {
                    span.error(fault.message.clone());
                }
                span.end();
            }
            match result? {
                Flow::Continue => {}
                done => return Ok(done),
            }
        }
        Ok(Flow::Continue)
    })
}

/// Runs a continuation: the rest of each enclosing list, innermost first, until one ends
/// the flow. A copy made by `clone` or `iterate` goes on this way after its target.
pub fn run_continuation<'a>(
    cont: Option<&'a Cont<'a>>,
    msg: &'a mut Message,
    env: Env<'a>,
) -> FlowFuture<'a> {
    Box::pin(async move {
        let mut next = cont;
        while let Some(frame) = next {
            let outer = Env {
                cont: frame.next,
                ..env
            };
            match run(frame.rest, msg, outer).await? {
                Flow::Continue => next = frame.next,
                done => return Ok(done),
            }
        }
        Ok(Flow::Continue)
    })
}

/// Runs a named sequence, handing a fault to its `onError` sequence when it has one.
pub fn run_named<'a>(
    id: crate::sequence::SeqId,
    msg: &'a mut Message,
    env: Env<'a>,
) -> FlowFuture<'a> {
    Box::pin(async move {
        if env.depth >= MAX_DEPTH {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!("sequences nested deeper than {MAX_DEPTH}: is there a loop?"),
            ));
        }
        let seq = env.compiled.sequence(id);
        seq.coverage.hit();
        let inner = Env {
            depth: env.depth + 1,
            trace_mediators: env.trace_mediators || seq.trace,
            ..env
        };
        match run(&seq.mediators, msg, inner).await {
            Ok(flow) => Ok(flow),
            Err(fault) => match seq.on_error {
                Some(handler) => {
                    let handler = env.compiled.sequence(handler);
                    handler.coverage.hit();
                    run_fault_sequence(&handler.mediators, &fault, msg, inner).await
                }
                None => Err(fault),
            },
        }
    })
}

/// Runs a fault sequence for `fault`. The flow ends afterwards: a fault sequence that
/// finishes without answering answers with the message as it is.
pub async fn run_fault_sequence(
    mediators: &[Mediator],
    fault: &Fault,
    msg: &mut Message,
    env: Env<'_>,
) -> Result<Flow, Fault> {
    // The fault sequence sees the message only, not the causes: the chain goes to the log,
    // at DEBUG since the configuration handles the fault (an unhandled one is a WARN).
    tracing::debug!(error = %fault.chain(), "a fault sequence handles the fault");
    record_fault(msg, fault);
    // A fault sequence ends the flow: nothing after the failed mediator runs, not even
    // for a copy made inside the fault sequence.
    let env = Env { cont: None, ..env };
    // The fault's status, unless the fault sequence sets its own: a status left over from
    // an earlier backend response (a 200, say) must not dress up the error as success.
    msg.set_property(
        PropertyScope::Axis2,
        "HTTP_SC",
        Value::from(fault.http_status().as_u16()),
    );
    match run(mediators, msg, env).await? {
        Flow::Continue => Ok(Flow::Respond),
        done => Ok(done),
    }
}

/// Sets the properties fault sequences read.
pub fn record_fault(msg: &mut Message, fault: &Fault) {
    msg.set_property(PropertyScope::Default, "ERROR_CODE", fault.code.to_value());
    msg.set_property(
        PropertyScope::Default,
        "ERROR_MESSAGE",
        Value::String(fault.message.clone()),
    );
    match &fault.detail {
        Some(detail) => msg.set_property(
            PropertyScope::Default,
            "ERROR_DETAIL",
            Value::String(detail.clone()),
        ),
        None => {
            msg.remove_property(PropertyScope::Default, "ERROR_DETAIL");
        }
    }
}
