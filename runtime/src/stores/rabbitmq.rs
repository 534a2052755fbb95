//! The `rabbitmq` store: messages as persistent messages in a durable RabbitMQ queue.
//!
//! - `store` publishes with delivery mode 2 (persistent) and, with `publisherConfirms`
//!   (the default), returns only after the broker confirmed it; the publish is `mandatory`,
//!   so a message no queue takes is an error, never silently dropped.
//! - `next` takes a message with `basic.get` and manual acknowledgement; it stays on the
//!   broker until `ack`. `release` requeues it (RabbitMQ puts it back in its place). A
//!   message handed out on a connection that is gone is redelivered by the broker, so a
//!   stale lease's ack or release does nothing: at least once, never lost.
//! - The queue is declared durable, with `x-dead-letter-exchange` / routing key when set,
//!   so messages the broker rejects go to the dead-letter target rather than away.
//! - The connection is made on first use and re-made after a failure, no sooner than the
//!   `connectionRetry` backoff allows; meanwhile operations fail with a transient error
//!   (the `store` mediator's fault sequence or a failover store takes over).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_api::resources::RabbitMqStore as RabbitMqSpec;
use futures::future::BoxFuture;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};

use super::{Lease, MessageStore, StoreError, StoredMessage};
use crate::amqp::{Link, LinkError};

/// A RabbitMQ message store.
pub struct RabbitMqStore {
    name: String,
    address: crate::amqp::Address,
    queue: String,
    exchange: Option<String>,
    routing_key: String,
    dead_letter_exchange: Option<String>,
    dead_letter_routing_key: Option<String>,
    confirms: bool,
    prefetch: usize,
    link: Link<Channel>,
    /// Token → (connection generation, delivery tag) of the messages handed out.
    leases: Mutex<HashMap<u64, (u64, u64)>>,
    next_token: AtomicU64,
}

impl RabbitMqStore {
    /// Prepares the store from checked settings, reading the password from the
    /// environment; nothing is connected yet.
    pub fn new(name: &str, spec: &RabbitMqSpec) -> Result<Self, String> {
        let tls = spec.tls.as_ref().map(ferry_api::check::tls::settings);
        let address = crate::amqp::Broker {
            host: &spec.host,
            port: spec.port,
            virtual_host: &spec.virtual_host,
            username: spec.username.as_deref(),
            password_from: spec.password_from.as_ref(),
            tls: tls.as_ref(),
        }
        .address()?;
        let queue = spec.queue.clone().unwrap_or_else(|| name.to_string());
        Ok(Self {
            name: name.to_string(),
            address,
            routing_key: spec.routing_key.clone().unwrap_or_else(|| queue.clone()),
            queue,
            exchange: spec.exchange.clone().filter(|e| !e.is_empty()),
            dead_letter_exchange: spec.dead_letter_exchange.clone(),
            dead_letter_routing_key: spec.dead_letter_routing_key.clone(),
            confirms: spec.publisher_confirms,
            prefetch: usize::from(spec.prefetch),
            link: Link::new(
                ("store", name.to_string()),
                spec.queue.clone().unwrap_or_else(|| name.to_string()),
                &spec.connection_retry,
            ),
            leases: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
        })
    }

    /// The open channel and its generation, connecting when allowed.
    async fn channel(&self) -> Result<(Channel, u64), StoreError> {
        self.link
            .get(|| self.connect(), |e: &StoreError| e.message.clone())
            .await
            .map_err(|e| match e {
                LinkError::Waiting {
                    last_error,
                    retry_in,
                } => StoreError::transient(
                    &self.name,
                    format!(
                        "the broker is unreachable ({last_error}); reconnecting in {} ms",
                        retry_in.as_millis()
                    ),
                ),
                LinkError::Failed(e) => e,
            })
    }

    async fn connect(&self) -> Result<(Connection, Channel), StoreError> {
        let connection = crate::amqp::connect(&self.address)
            .await
            .map_err(|e| StoreError::transient(&self.name, crate::amqp::describe(&e)))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| self.transient(e))?;
        if self.confirms {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| self.transient(e))?;
        }
        let mut args = FieldTable::default();
        if let Some(dlx) = &self.dead_letter_exchange {
            args.insert(
                ShortString::from("x-dead-letter-exchange"),
                AMQPValue::LongString(LongString::from(dlx.as_str())),
            );
        }
        if let Some(key) = &self.dead_letter_routing_key {
            args.insert(
                ShortString::from("x-dead-letter-routing-key"),
                AMQPValue::LongString(LongString::from(key.as_str())),
            );
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(self.queue.as_str(), durable, args)
            .await
            .map_err(|e| self.permanent(e))?;
        if let Some(exchange) = &self.exchange {
            let options = ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            };
            channel
                .exchange_declare(
                    exchange.as_str(),
                    ExchangeKind::Direct,
                    options,
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.permanent(e))?;
            channel
                .queue_bind(
                    self.queue.as_str(),
                    exchange.as_str(),
                    self.routing_key.as_str(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.permanent(e))?;
        }
        Ok((connection, channel))
    }

    /// Forgets the connection after a failure on it, so the next call reconnects.
    async fn drop_link(&self, generation: u64) {
        self.link.drop_generation(generation).await;
    }

    /// A transient error from the broker's (or serialiser's) own error, kept as the cause.
    fn transient(&self, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::transient_from(&self.name, e)
    }

    /// A permanent error from the broker's (or serialiser's) own error, kept as the cause.
    fn permanent(&self, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::permanent_from(&self.name, e)
    }

    fn outstanding(&self, generation: u64) -> usize {
        self.leases
            .lock()
            .map(|l| l.values().filter(|(g, _)| *g == generation).count())
            .unwrap_or(0)
    }

    fn take_lease(&self, lease: &Lease) -> Option<(u64, u64)> {
        self.leases.lock().ok()?.remove(&lease.token)
    }

    async fn settle(&self, lease: &Lease, requeue: Option<bool>) -> Result<(), StoreError> {
        let Some((generation, tag)) = self.take_lease(lease) else {
            return Ok(());
        };
        let (channel, current) = self.channel().await?;
        if generation != current {
            // The connection it came on is gone; the broker redelivers the message.
            tracing::info!(store = %self.name, id = %lease.message.id, "lease from a closed connection; the broker redelivers it");
            return Ok(());
        }
        let result = match requeue {
            None => channel.basic_ack(tag, BasicAckOptions::default()).await,
            Some(requeue) => {
                channel
                    .basic_nack(
                        tag,
                        BasicNackOptions {
                            requeue,
                            ..BasicNackOptions::default()
                        },
                    )
                    .await
            }
        };
        if let Err(e) = result {
            self.drop_link(generation).await;
            return Err(self.transient(e));
        }
        Ok(())
    }
}

impl MessageStore for RabbitMqStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        // Unacknowledged deliveries go back to the queue on close, as on a drop.
        Box::pin(self.link.close("ferry shutting down"))
    }

    fn store(&self, message: StoredMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&message).map_err(|e| self.permanent(e))?;
            let (channel, generation) = self.channel().await?;
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(message.id.as_str().into());
            let options = BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            };
            let exchange = self.exchange.as_deref().unwrap_or("");
            let published = channel
                .basic_publish(exchange, self.routing_key.as_str(), options, &body, props)
                .await;
            let confirm = match published {
                Ok(c) => c,
                Err(e) => {
                    self.drop_link(generation).await;
                    return Err(self.transient(e));
                }
            };
            match confirm.await {
                Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => Ok(()),
                Ok(Confirmation::Ack(Some(_))) => Err(StoreError::permanent(
                    &self.name,
                    format!(
                        "no queue is bound to exchange {exchange:?} with routing key {:?}; the message was returned",
                        self.routing_key
                    ),
                )),
                Ok(Confirmation::Nack(_)) => Err(StoreError::transient(
                    &self.name,
                    "the broker refused the message (nack)",
                )),
                Err(e) => {
                    self.drop_link(generation).await;
                    Err(self.transient(e))
                }
            }
        })
    }

    fn next(&self) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        Box::pin(async move {
            let (channel, generation) = self.channel().await?;
            loop {
                if self.outstanding(generation) >= self.prefetch {
                    return Ok(None);
                }
                let got = channel
                    .basic_get(self.queue.as_str(), BasicGetOptions { no_ack: false })
                    .await;
                let got = match got {
                    Ok(Some(m)) => m,
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        self.drop_link(generation).await;
                        return Err(self.transient(e));
                    }
                };
                let delivery = got.delivery;
                let tag = delivery.delivery_tag;
                match serde_json::from_slice::<StoredMessage>(&delivery.data) {
                    Ok(message) => {
                        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut l) = self.leases.lock() {
                            l.insert(token, (generation, tag));
                        }
                        return Ok(Some(Lease {
                            message,
                            previous_deliveries: u32::from(delivery.redelivered),
                            token,
                        }));
                    }
                    Err(e) => {
                        // Not a Ferry message: reject it without requeueing, which sends it
                        // to the dead-letter exchange when the queue has one.
                        tracing::error!(store = %self.name, queue = %self.queue, error = %e, "a message in the queue is not a stored Ferry message; rejecting it (dead-lettered when configured)");
                        let options = BasicNackOptions {
                            requeue: false,
                            ..BasicNackOptions::default()
                        };
                        if let Err(e) = channel.basic_nack(tag, options).await {
                            self.drop_link(generation).await;
                            return Err(self.transient(e));
                        }
                    }
                }
            }
        })
    }

    fn ack(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        let lease = lease.clone();
        Box::pin(async move { self.settle(&lease, None).await })
    }

    fn release(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        let lease = lease.clone();
        Box::pin(async move { self.settle(&lease, Some(true)).await })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let (channel, generation) = self.channel().await?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            match channel
                .queue_declare(self.queue.as_str(), passive, FieldTable::default())
                .await
            {
                Ok(q) => {
                    let leased = u64::try_from(self.outstanding(generation)).unwrap_or(0);
                    Ok(u64::from(q.message_count()) + leased)
                }
                Err(e) => {
                    self.drop_link(generation).await;
                    Err(self.transient(e))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
