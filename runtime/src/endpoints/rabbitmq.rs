//! RabbitMQ endpoints: a `call` or `send` to an address `rabbitmq:/...?...` publishes the
//! message to an exchange with a routing key (the default exchange and a queue's name, as
//! MI writes it), as a persistent message unless asked otherwise.
//!
//! - With publisher confirms (the default), the call returns only once the broker confirmed
//!   the message; a nack, a lost connection or no confirm within the endpoint's timeout is a
//!   fault (101503 connection failed, 101504 timeout, 101500 sending failed), so the flow
//!   never goes on believing a message was published that was not.
//! - The message's Content-Type (or `rabbitmq.message.content.type`) becomes the AMQP
//!   content type, its transport headers AMQP headers (hop-by-hop and HTTP framing ones
//!   aside), the properties `rabbitmq.message.id` / `rabbitmq.correlation.id` (set by a
//!   RabbitMQ inbound endpoint, or by the flow) its message and correlation ids.
//! - With `rabbitmq.replyto.name=amq.rabbitmq.reply-to` the call is a request: it carries
//!   `reply_to` and a correlation id, and the reply published to it becomes the message (as
//!   an HTTP backend's answer does), or the timeout is a fault.
//! - The connection is a [`Link`]: made on first use, re-made with backoff after a failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use ferry_api::check::rabbitmq_address::{DIRECT_REPLY_TO, RabbitMqTarget};
use ferry_api::resources::{ConnectionRetry, ExchangeType};
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use serde_json::Value;
use tokio::sync::oneshot;

use super::endpoint::Delivery;
use crate::amqp::{Address, Broker, Link, LinkError, Usable};
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::message::Message;

/// A RabbitMQ endpoint.
pub struct RabbitMqEndpoint {
    target: RabbitMqTarget,
    address: Result<Address, String>,
    link: Link<Channels>,
    next_correlation: AtomicU64,
}

/// What is open on the connection.
#[derive(Clone)]
struct Channels {
    publish: Channel,
    /// With request-reply: the channel consuming the direct reply-to pseudo-queue (a
    /// request must be published on it) and the calls waiting for a reply.
    rpc: Option<(Channel, Waiting)>,
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<AmqpDelivery>>>>;

impl Usable for Channels {
    fn usable(&self) -> bool {
        self.publish.usable() && self.rpc.as_ref().is_none_or(|(c, _)| c.usable())
    }
}

impl RabbitMqEndpoint {
    /// The endpoint `name` publishing as `target` says. A password variable that is not
    /// set fails each call (with the reason), as a broker that is down does.
    pub fn new(name: &str, target: &RabbitMqTarget) -> Self {
        let secret = target
            .password_env
            .as_ref()
            .map(|var| ferry_api::resources::SecretSource {
                env: Some(var.clone()),
                secret_key_ref: None,
            });
        let address = Broker {
            host: &target.host,
            port: Some(target.port),
            virtual_host: &target.virtual_host,
            username: target.username.as_deref(),
            password_from: secret.as_ref(),
            tls: target.tls.as_ref(),
        }
        .address();
        let destination = if target.exchange.is_empty() {
            target.routing_key.clone()
        } else {
            format!("{}/{}", target.exchange, target.routing_key)
        };
        Self {
            target: target.clone(),
            address,
            link: Link::new(
                ("endpoint", name.to_string()),
                destination,
                &ConnectionRetry::default(),
            ),
            next_correlation: AtomicU64::new(1),
        }
    }

    /// Publishes `msg`; with request-reply, replaces it with the reply.
    pub async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, self.publish(name, msg)).await {
            Ok(result) => result,
            Err(_) => Err(Fault::upstream(
                codes::TIMEOUT,
                format!(
                    "endpoint {name}: RabbitMQ did not confirm (or answer) within {} ms",
                    timeout.as_millis()
                ),
                true,
            )),
        }
    }

    async fn publish(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let (body, content_type) = msg.body_bytes().map_err(Fault::unreadable_payload)?;
        // Read before the first await: a message is not shared across threads.
        let (message_id, correlation) = {
            let text = |name: &str| match msg.property(PropertyScope::Default, name) {
                Some(Value::String(s)) => Some(s),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            };
            (
                text("rabbitmq.message.id").unwrap_or_else(|| msg.id()),
                text("rabbitmq.correlation.id"),
            )
        };
        let headers = crate::amqp::to_amqp_headers(&msg.headers);
        let request_id = msg.id();
        let (channels, generation) = self.channels(name).await?;
        let mut props = BasicProperties::default()
            .with_delivery_mode(self.target.delivery_mode)
            .with_content_type(
                self.target
                    .content_type
                    .clone()
                    .unwrap_or(content_type)
                    .as_str()
                    .into(),
            )
            .with_headers(headers)
            .with_message_id(message_id.into());
        let mut correlation = correlation;
        let mut reply = None;
        let channel = match &channels.rpc {
            Some((channel, waiting)) => {
                let id = correlation.take().unwrap_or_else(|| {
                    format!(
                        "{request_id}-{}",
                        self.next_correlation.fetch_add(1, Ordering::Relaxed)
                    )
                });
                let (tx, rx) = oneshot::channel();
                waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id.clone(), tx);
                reply = Some((rx, id.clone(), waiting.clone()));
                props = props
                    .with_reply_to(DIRECT_REPLY_TO.into())
                    .with_correlation_id(id.into());
                channel
            }
            None => &channels.publish,
        };
        if let Some(id) = correlation {
            props = props.with_correlation_id(id.into());
        }
        let options = BasicPublishOptions {
            // A message no queue takes comes back: an error, never silently dropped.
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let published = channel
            .basic_publish(
                self.target.exchange.as_str(),
                self.target.routing_key.as_str(),
                options,
                &body[..],
                props,
            )
            .await;
        let confirmed = match published {
            Ok(confirm) => confirm.await,
            Err(e) => Err(e),
        };
        let outcome = match confirmed {
            Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(Fault::upstream(
                codes::SENDING_FAILED,
                format!(
                    "endpoint {name}: no queue is bound to exchange {:?} with routing key {:?}; RabbitMQ returned the message",
                    self.target.exchange, self.target.routing_key
                ),
                false,
            )),
            Ok(Confirmation::Nack(_)) => Err(Fault::upstream(
                codes::SENDING_FAILED,
                format!("endpoint {name}: RabbitMQ refused the message (nack)"),
                true,
            )),
            Err(e) => {
                self.link.drop_generation(generation).await;
                Err(Fault::upstream(
                    codes::CONNECTION_CLOSED,
                    format!("endpoint {name}: publishing to RabbitMQ failed: {e}"),
                    true,
                ))
            }
        };
        if let Err(fault) = outcome {
            if let Some((_, id, waiting)) = reply {
                waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            }
            return Err(fault);
        }
        let Some((rx, _, _)) = reply else {
            return Ok(Delivery::Answered);
        };
        // The overall timeout of `call` bounds this wait.
        let answer = rx.await.map_err(|_| {
            Fault::upstream(
                codes::CONNECTION_CLOSED,
                format!("endpoint {name}: the connection to RabbitMQ closed before the reply came"),
                true,
            )
        })?;
        let mut headers = crate::amqp::to_http_headers(&answer.properties);
        let content_type = answer
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        if let Ok(ct) = HeaderValue::from_str(&content_type) {
            headers.insert(header::CONTENT_TYPE, ct);
        }
        msg.set_response(StatusCode::OK, headers, Bytes::from(answer.data));
        Ok(Delivery::Answered)
    }

    async fn channels(&self, name: &str) -> Result<(Channels, u64), Fault> {
        let address = self.address.as_ref().map_err(|e| {
            Fault::upstream(
                codes::CONNECTION_FAILED,
                format!("endpoint {name}: {e}"),
                false,
            )
        })?;
        self.link
            .get(|| self.connect(address), crate::amqp::describe)
            .await
            .map_err(|e| {
                let why = match e {
                    LinkError::Waiting {
                        last_error,
                        retry_in,
                    } => format!(
                        "RabbitMQ is unreachable ({last_error}); reconnecting in {} ms",
                        retry_in.as_millis()
                    ),
                    LinkError::Failed(e) => {
                        format!("cannot connect to RabbitMQ: {}", crate::amqp::describe(&e))
                    }
                };
                Fault::upstream(
                    codes::CONNECTION_FAILED,
                    format!("endpoint {name}: {why}"),
                    true,
                )
            })
    }

    async fn connect(&self, address: &Address) -> Result<(Connection, Channels), lapin::Error> {
        let t = &self.target;
        let connection = crate::amqp::connect(address).await?;
        let publish = connection.create_channel().await?;
        if t.confirms {
            publish
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
        }
        if t.declare_exchange {
            let kind = match t.exchange_type {
                ExchangeType::Direct => ExchangeKind::Direct,
                ExchangeType::Fanout => ExchangeKind::Fanout,
                ExchangeType::Topic => ExchangeKind::Topic,
                ExchangeType::Headers => ExchangeKind::Headers,
            };
            let options = ExchangeDeclareOptions {
                durable: t.exchange_durable,
                ..ExchangeDeclareOptions::default()
            };
            publish
                .exchange_declare(t.exchange.as_str(), kind, options, FieldTable::default())
                .await?;
        }
        if t.declare_queue
            && let Some(queue) = &t.queue
        {
            let options = QueueDeclareOptions {
                durable: t.queue_durable,
                ..QueueDeclareOptions::default()
            };
            publish
                .queue_declare(queue.as_str(), options, FieldTable::default())
                .await?;
            if !t.exchange.is_empty() {
                publish
                    .queue_bind(
                        queue.as_str(),
                        t.exchange.as_str(),
                        t.routing_key.as_str(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        let rpc = if t.request_reply {
            let channel = connection.create_channel().await?;
            if t.confirms {
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
            }
            let mut replies = channel
                .basic_consume(
                    DIRECT_REPLY_TO,
                    "ferry-replies",
                    BasicConsumeOptions {
                        no_ack: true,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let waiting: Waiting = Arc::default();
            let dispatch = waiting.clone();
            tokio::spawn(async move {
                while let Some(Ok(reply)) = replies.next().await {
                    let id = reply
                        .properties
                        .correlation_id()
                        .as_ref()
                        .map(|c| c.as_str().to_string());
                    let waiter = id.and_then(|id| {
                        dispatch
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&id)
                    });
                    match waiter {
                        // The caller may have timed out meanwhile: nobody to tell.
                        Some(tx) => {
                            let _ = tx.send(reply);
                        }
                        None => tracing::debug!(
                            "a RabbitMQ reply nobody waits for (late, or not ours); dropped"
                        ),
                    }
                }
                // The channel is gone: waiting calls fail now rather than at their timeout.
                dispatch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
            });
            Some((channel, waiting))
        } else {
            None
        };
        Ok((connection, Channels { publish, rpc }))
    }
}
