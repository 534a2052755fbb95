//! Injecting one message into an inbound endpoint's sequence: the message gets the
//! configuration it runs on, the sequence runs, and a fault goes to the endpoint's
//! `onError` sequence (else the sequence's own). The caller settles the message with its
//! source from the result: a fault is a failure even when a fault sequence handled it, so
//! the source's `onFault` / `actionAfterFailure` applies.
//!
//! With tracing on, each message is a consumer span (`process <queue|topic|directory>`,
//! OpenTelemetry's messaging conventions), the child of the trace context the message
//! carries (a `traceparent` AMQP header or MQTT 5 user property), so the producer's trace
//! goes on through the flow's endpoint calls.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use opentelemetry::KeyValue;

use super::{CompiledInbound, Source};
use crate::compiled::Compiled;
use crate::expr::context::PropertyScope;
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
    let trace = crate::telemetry::tracer().and_then(|_| consumer_trace(inbound, msg));
    if let Some(trace) = &trace {
        msg.set_trace(Some(trace.clone()));
    }
    let result = run_sequence(inbound, compiled, msg).await;
    if let Some(trace) = trace {
        if let Err(fault) = &result {
            trace.error(fault.to_string());
        }
        trace.end();
    }
    result
}

/// The consumer span of one message, continuing the trace its headers carry.
fn consumer_trace(inbound: &CompiledInbound, msg: &Message) -> Option<crate::telemetry::Trace> {
    let destination = match &inbound.source {
        Source::Rabbitmq(settings) => settings.queue().to_string(),
        Source::Mqtt(_) => match msg.property(PropertyScope::Default, "mqtt.topic") {
            Some(serde_json::Value::String(topic)) => topic,
            _ => String::new(),
        },
        Source::File(f) => f.spec.directory.clone(),
    };
    let name = format!("process {destination}");
    crate::telemetry::Trace::start_from_headers(
        &msg.headers,
        crate::telemetry::Kind::Consumer,
        name,
        || {
            vec![
                KeyValue::new("messaging.system", inbound.protocol.as_str()),
                KeyValue::new("messaging.operation.type", "process"),
                KeyValue::new("messaging.operation.name", "process"),
                KeyValue::new("messaging.destination.name", destination),
                KeyValue::new("ferry.inbound_endpoint", inbound.name.to_string()),
                KeyValue::new("ferry.sequence", inbound.sequence_name.clone()),
            ]
        },
    )
}

/// The endpoint's sequence, then its fault handling.
async fn run_sequence(
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
