//! The RabbitMQ inbound endpoint: consumers of one queue, on every replica.
//!
//! - Each consumer is a channel with `basic.qos(prefetch)` and a `basic.consume` with
//!   manual acknowledgement. A message is acknowledged only after its sequence completed;
//!   a failed one is requeued (after `requeueDelay`) or rejected (dead-lettered by the
//!   broker when the queue has a dead-letter exchange), as `onFault` says.
//! - `sequential` takes one message at a time per consumer; otherwise up to `prefetch` run
//!   at once.
//! - A message carrying `reply_to` whose sequence ends with `respond` gets the message as
//!   it then is published to that queue, with its `correlation_id`, before it is
//!   acknowledged (request-reply, as MI's RabbitMQ inbound answers).
//! - The queue, and an exchange it is bound to, are declared only when asked.
//! - A lost connection is re-made with backoff. Messages in flight on it cannot be
//!   acknowledged any more; the broker redelivers them, so nothing that was not processed
//!   is ever acknowledged (at least once; a redelivery after a completed sequence is a
//!   duplicate, counted by whoever needs exactly once).
//! - Stopping (reload, lost lead, shutdown) stops taking messages, lets those in flight
//!   finish and be settled, and closes the channel: prefetched messages go back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_api::resources::{ExchangeType, FaultAction, RabbitMqInbound};
use futures::StreamExt;
use http::{HeaderValue, header};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, Consumer, ExchangeKind};
use serde_json::Value;
use tokio::task::JoinSet;

use super::inject;
use super::runner::InboundUnit;
use super::state::InboundState;
use crate::amqp::{Backoff, Broker};
use crate::expr::context::PropertyScope;
use crate::sequence::Flow;
use crate::supervisor::Stop;

/// What a RabbitMQ endpoint connects with.
pub struct Settings {
    address: crate::amqp::Address,
    spec: RabbitMqInbound,
}

impl Settings {
    /// The queue consumed.
    pub fn queue(&self) -> &str {
        &self.spec.queue
    }

    /// The settings of `spec`, the password read from the environment now.
    pub fn new(spec: &RabbitMqInbound) -> Result<Self, String> {
        let tls = spec.tls.as_ref().map(ferry_api::check::tls::settings);
        let address = Broker {
            host: &spec.host,
            port: spec.port,
            virtual_host: &spec.virtual_host,
            username: spec.username.as_deref(),
            password_from: spec.password_from.as_ref(),
            tls: tls.as_ref(),
        }
        .address()?;
        Ok(Self {
            address,
            spec: spec.clone(),
        })
    }
}

/// Consumes until stopped, reconnecting with backoff whenever the connection is lost.
pub async fn run(unit: Arc<InboundUnit>, state: Arc<InboundState>, mut stop: Stop) {
    let super::Source::Rabbitmq(settings) = &unit.inbound.source else {
        return;
    };
    let mut backoff = Backoff::new(&settings.spec.connection_retry);
    let mut down = false;
    loop {
        if stop.is_stopped() {
            return;
        }
        match session(&unit, settings, &state, &stop, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                let wait = backoff.next_delay();
                if !down {
                    tracing::warn!(inbound = %unit.inbound.name, queue = %settings.spec.queue, error = %e, retry_ms = wait.as_millis() as u64, "RabbitMQ consumer lost its connection; reconnecting");
                    down = true;
                }
                state.set_error(e.to_string());
                if !stop.sleep(wait).await {
                    return;
                }
            }
        }
    }
}

/// One connection's life: connect, start the consumers, run them until stopped (`Ok`) or
/// until the connection or a channel fails (`Err`).
async fn session(
    unit: &Arc<InboundUnit>,
    settings: &Settings,
    state: &Arc<InboundState>,
    stop: &Stop,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let spec = &settings.spec;
    let connection = crate::amqp::connect(&settings.address)
        .await
        .map_err(|e| crate::amqp::describe(&e))?;
    let started = start_consumers(unit, spec, state, stop, &connection).await;
    let mut consumers = match started {
        Ok(c) => c,
        Err(e) => {
            let _ = connection.close(200, "ferry: consumer setup failed").await;
            return Err(e.to_string());
        }
    };
    backoff.reset();
    state.set_connected();
    tracing::info!(inbound = %unit.inbound.name, queue = %spec.queue, consumers = spec.consumers, "consuming from RabbitMQ");
    let mut result = Ok(());
    while let Some(done) = consumers.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if result.is_ok() {
                    result = Err(e);
                }
                // One consumer failing means the connection (or its channel) is gone: the
                // others end as their deliveries stop; closing makes sure they do.
                let _ = connection.close(200, "ferry: a consumer failed").await;
            }
            Err(e) => {
                tracing::error!(inbound = %unit.inbound.name, error = %e, "a RabbitMQ consumer task failed")
            }
        }
    }
    let _ = connection
        .close(200, "ferry: inbound endpoint stopped")
        .await;
    result
}

async fn start_consumers(
    unit: &Arc<InboundUnit>,
    spec: &RabbitMqInbound,
    state: &Arc<InboundState>,
    stop: &Stop,
    connection: &Connection,
) -> Result<JoinSet<Result<(), String>>, lapin::Error> {
    let mut consumers = JoinSet::new();
    for i in 0..spec.consumers {
        let channel = connection.create_channel().await?;
        if i == 0 {
            declare(&channel, spec).await?;
        }
        channel
            .basic_qos(spec.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("ferry-{}-{i}", unit.inbound.name);
        let consumer = channel
            .basic_consume(
                spec.queue.as_str(),
                &tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        consumers.spawn(consume(
            unit.clone(),
            state.clone(),
            channel,
            consumer,
            stop.clone(),
        ));
    }
    Ok(consumers)
}

/// Declares the queue and the exchange binding, when asked.
async fn declare(channel: &Channel, spec: &RabbitMqInbound) -> Result<(), lapin::Error> {
    if let Some(q) = &spec.declare_queue {
        let mut args = FieldTable::default();
        for (key, value) in [
            ("x-dead-letter-exchange", &q.dead_letter_exchange),
            ("x-dead-letter-routing-key", &q.dead_letter_routing_key),
        ] {
            if let Some(v) = value {
                args.insert(
                    ShortString::from(key),
                    AMQPValue::LongString(LongString::from(v.as_str())),
                );
            }
        }
        let options = QueueDeclareOptions {
            durable: q.durable,
            auto_delete: q.auto_delete,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(spec.queue.as_str(), options, args)
            .await?;
    }
    if let Some(x) = &spec.exchange {
        let kind = match x.type_ {
            ExchangeType::Direct => ExchangeKind::Direct,
            ExchangeType::Fanout => ExchangeKind::Fanout,
            ExchangeType::Topic => ExchangeKind::Topic,
            ExchangeType::Headers => ExchangeKind::Headers,
        };
        let options = ExchangeDeclareOptions {
            durable: x.durable,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(x.name.as_str(), kind, options, FieldTable::default())
            .await?;
        let key = x.routing_key.as_deref().unwrap_or(&spec.queue);
        channel
            .queue_bind(
                spec.queue.as_str(),
                x.name.as_str(),
                key,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// One consumer: takes deliveries (one at a time, or up to `prefetch` at once) until
/// stopped, then lets those in flight finish and closes its channel.
async fn consume(
    unit: Arc<InboundUnit>,
    state: Arc<InboundState>,
    channel: Channel,
    mut consumer: Consumer,
    mut stop: Stop,
) -> Result<(), String> {
    let Some(settings) = settings(&unit) else {
        return Ok(());
    };
    let limit = if unit.inbound.sequential {
        1
    } else {
        usize::from(settings.spec.prefetch)
    };
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let outcome = loop {
        tokio::select! {
            () = stop.stopped() => break Ok(()),
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            next = consumer.next(), if in_flight.len() < limit => match next {
                Some(Ok(delivery)) => {
                    let taken = (unit.clone(), state.clone(), channel.clone(), stop.clone());
                    in_flight.spawn(async move {
                        handle(&taken.0, &taken.1, &taken.2, delivery, taken.3).await;
                    });
                }
                Some(Err(e)) => break Err(e.to_string()),
                None => break Err("the broker cancelled the consumer".to_string()),
            },
        }
    };
    while in_flight.join_next().await.is_some() {}
    if outcome.is_ok() {
        // Prefetched messages not yet taken go back to the queue.
        let _ = channel.close(200, "ferry: inbound endpoint stopped").await;
    }
    outcome
}

fn settings(unit: &InboundUnit) -> Option<&Settings> {
    match &unit.inbound.source {
        super::Source::Rabbitmq(s) => Some(s),
        super::Source::File(_) | super::Source::Mqtt(_) => None,
    }
}

/// Runs one delivery through the sequence and settles it with the broker.
async fn handle(
    unit: &InboundUnit,
    state: &Arc<InboundState>,
    channel: &Channel,
    delivery: Delivery,
    mut stop: Stop,
) {
    let Some(settings) = settings(unit) else {
        return;
    };
    let spec = &settings.spec;
    let taken = state.received();
    let compiled = &unit.compiled;
    let mut msg = message(compiled, spec, &delivery);
    let result = inject::run(&unit.inbound, compiled, &mut msg).await;
    let settled = match result {
        Ok(flow) => {
            let answer = match (flow, delivery.properties.reply_to()) {
                (Flow::Respond, Some(reply_to)) => Some((reply_to.clone(), msg.body_bytes())),
                _ => None,
            };
            drop(msg);
            if let Some((reply_to, body)) = answer
                && let Err(e) = reply(channel, reply_to.as_str(), &delivery, body).await
            {
                // Not acknowledged: the request is delivered again and answered then.
                tracing::warn!(inbound = %unit.inbound.name, reply_to = reply_to.as_str(), error = %e, "could not publish the reply; requeueing the request");
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await;
                taken.failed();
                return;
            }
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| true)
        }
        Err(_) => {
            let outcome = match spec.on_fault {
                FaultAction::Requeue => {
                    // Stopping cuts the wait short: the message goes back at once.
                    stop.sleep(Duration::from_millis(spec.requeue_delay)).await;
                    delivery
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await
                }
                FaultAction::Reject => {
                    delivery
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await
                }
            };
            outcome.map(|_| false)
        }
    };
    match settled {
        Ok(true) => taken.succeeded(),
        Ok(false) => taken.failed(),
        // The channel is gone: the broker delivers the message again.
        Err(e) => {
            tracing::debug!(inbound = %unit.inbound.name, error = %e, "could not settle a message; the broker redelivers it");
        }
    }
}

/// The message a delivery becomes: its AMQP headers as transport headers (those that are
/// valid HTTP headers, text or numbers), its content type (else the endpoint's), and its
/// AMQP properties as message properties (`rabbitmq.message.id`,
/// `rabbitmq.correlation.id`, `rabbitmq.reply.to`, `rabbitmq.routing.key`,
/// `rabbitmq.exchange`, `rabbitmq.redelivered`).
fn message(
    compiled: &crate::compiled::Compiled,
    spec: &RabbitMqInbound,
    delivery: &Delivery,
) -> crate::message::Message {
    let props = &delivery.properties;
    let mut headers = crate::amqp::to_http_headers(props);
    let content_type = props
        .content_type()
        .as_ref()
        .map(|c| c.as_str().to_string())
        .or_else(|| spec.content_type.clone())
        .unwrap_or_else(|| "application/octet-stream".to_string());
    if let Ok(ct) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    let mut msg = inject::message(compiled, headers, Bytes::from(delivery.data.clone()));
    let mut set = |name: &str, value: Option<&ShortString>| {
        if let Some(v) = value {
            msg.set_property(
                PropertyScope::Default,
                name,
                Value::String(v.as_str().to_string()),
            );
        }
    };
    set("rabbitmq.message.id", props.message_id().as_ref());
    set("rabbitmq.correlation.id", props.correlation_id().as_ref());
    set("rabbitmq.reply.to", props.reply_to().as_ref());
    set("rabbitmq.routing.key", Some(&delivery.routing_key));
    set("rabbitmq.exchange", Some(&delivery.exchange));
    msg.set_property(
        PropertyScope::Default,
        "rabbitmq.redelivered",
        Value::Bool(delivery.redelivered),
    );
    msg
}

/// Publishes the reply to a request: the message's payload and Content-Type, the
/// request's correlation id (its message id when it has none).
async fn reply(
    channel: &Channel,
    reply_to: &str,
    request: &Delivery,
    body: Result<(Bytes, String), crate::expr::context::PayloadError>,
) -> Result<(), String> {
    let (body, content_type) = body.map_err(|e| e.to_string())?;
    let mut props = BasicProperties::default().with_content_type(content_type.as_str().into());
    let correlation = request
        .properties
        .correlation_id()
        .clone()
        .or_else(|| request.properties.message_id().clone());
    if let Some(id) = correlation {
        props = props.with_correlation_id(id);
    }
    channel
        .basic_publish(
            "",
            reply_to,
            BasicPublishOptions::default(),
            &body[..],
            props,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
