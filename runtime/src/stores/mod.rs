//! Message stores: where a message waits between the `store` mediator and a message
//! processor. One trait, one implementation per backend (`memory`, `sqlite`, `rabbitmq`,
//! `postgres`), and `failover` wrapping any of them.
//!
//! The contract every implementation keeps, and the tests check:
//! - [`MessageStore::store`] returns `Ok` only once the message is durably accepted (fsync,
//!   commit, publisher confirm); after `Ok` the message survives a crash of this process.
//! - [`MessageStore::next`] hands out the oldest message not yet handed out, as a
//!   [`Lease`]; the message stays in the store until [`MessageStore::ack`]. A lease that is
//!   neither acked nor released (the process died) comes back after a restart: at least
//!   once, never lost.
//! - [`MessageStore::release`] puts a leased message back at the head (a failed delivery
//!   that will be retried keeps its place: order holds).
//! - Errors are [`StoreError`]s that say whether trying again may help.

pub mod convert;
pub mod factory;
pub mod failover;
pub mod management;
pub mod memory;
pub mod postgres;
pub mod rabbitmq;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod contract;

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::cause::{self, Cause};

/// A message as stored: what a processor needs to rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// The message id (`MessageID`): unique, kept across stores, used to count duplicates.
    pub id: String,
    /// The HTTP method the message arrived with.
    pub method: String,
    /// The request URI (path and query) it arrived with.
    pub uri: String,
    /// Transport headers, in order (a name may repeat).
    pub headers: Vec<(String, String)>,
    /// Properties that travel with the message: scope name (`default`, `axis2`) to a map.
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// The body's content type, when it has one.
    pub content_type: Option<String>,
    /// The body, exactly as it would be sent.
    #[serde(with = "body_base64")]
    pub body: Bytes,
    /// When it was first stored, in milliseconds since the Unix epoch.
    pub stored_at_ms: u64,
}

/// A message handed out by [`MessageStore::next`], to be acked or released.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The message.
    pub message: StoredMessage,
    /// How many times it was handed out before this one (0 on the first delivery; counts
    /// survive restarts where the backend can keep them, e.g. RabbitMQ's redelivered flag
    /// gives at least 1).
    pub previous_deliveries: u32,
    /// The store's own handle for ack/release (a row id, a delivery tag).
    pub token: u64,
}

/// Why a store operation failed.
///
/// No `PartialEq`: the cause is a `dyn Error`; compare `message` and `retryable`.
#[derive(Debug, Clone)]
pub struct StoreError {
    /// The store's name.
    pub store: String,
    /// What went wrong, with the backend's own words.
    pub message: String,
    /// Whether the same operation may succeed later (broker down, pool exhausted) as
    /// opposed to never (message too large, store full is retryable too).
    pub retryable: bool,
    /// The backend's own error (broker, database, serialisation), when there is one: the
    /// source, so its causes (the socket error under a broker error, say) reach the logs.
    cause: Option<Cause>,
}

impl StoreError {
    /// An error that may go away.
    pub fn transient(store: &str, message: impl fmt::Display) -> Self {
        Self {
            store: store.to_string(),
            message: message.to_string(),
            retryable: true,
            cause: None,
        }
    }

    /// An error that will not go away by trying again.
    pub fn permanent(store: &str, message: impl fmt::Display) -> Self {
        Self {
            store: store.to_string(),
            message: message.to_string(),
            retryable: false,
            cause: None,
        }
    }

    /// An error that may go away, from the backend's error: its words and itself as the
    /// source.
    pub fn transient_from(store: &str, err: impl Error + Send + Sync + 'static) -> Self {
        Self::transient(store, &err).with_cause(err)
    }

    /// An error that will not go away, from the backend's error: its words and itself as
    /// the source.
    pub fn permanent_from(store: &str, err: impl Error + Send + Sync + 'static) -> Self {
        Self::permanent(store, &err).with_cause(err)
    }

    /// Keeps `err`, the backend's error, as the source.
    pub fn with_cause(mut self, err: impl Error + Send + Sync + 'static) -> Self {
        self.cause = Some(cause::cause(err));
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message store {}: {}", self.store, self.message)
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        cause::as_source(&self.cause)
    }
}

/// A message store. Shared by `Arc<dyn MessageStore>` between the `store` mediator and the
/// processors; every method may be called concurrently.
pub trait MessageStore: Send + Sync {
    /// The store's name (its resource name).
    fn name(&self) -> &str;

    /// Stores a message; `Ok` only once it is durably accepted.
    fn store(&self, message: StoredMessage) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The oldest message not currently leased, or `None` when there is none now.
    fn next(&self) -> BoxFuture<'_, Result<Option<Lease>, StoreError>>;

    /// Removes a leased message for good (it was delivered, or dropped on purpose).
    fn ack(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Returns a leased message to the head of the store, to be handed out again.
    fn release(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>>;

    /// How many messages the store holds (leased ones included), for status and metrics.
    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// For a store with a failover store: the primary alone. A `failoverForwarding`
    /// processor moving messages back must write to the primary only, or a message would
    /// go round into the failover store again while the primary is still down.
    fn primary_only(&self) -> Option<Arc<dyn MessageStore>> {
        None
    }

    /// Whether its messages live in this process or on its disk (memory, SQLite), out of
    /// reach of the group's other replicas: with several replicas, what a standby replica
    /// stores there waits until that replica leads.
    fn is_local(&self) -> bool {
        false
    }

    /// Closes its connections at shutdown, so a broker or database sees a clean goodbye
    /// instead of a dropped socket. Nothing to do for embedded stores.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

mod body_base64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(body))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_message_round_trips_through_json_with_a_binary_body() {
        let m = StoredMessage {
            id: "urn:uuid:1".into(),
            method: "POST".into(),
            uri: "/pay?x=1".into(),
            headers: vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())],
            properties: serde_json::Map::new(),
            content_type: Some("application/octet-stream".into()),
            body: Bytes::from_static(&[0, 159, 146, 150]),
            stored_at_ms: 1,
        };
        let text = serde_json::to_string(&m).unwrap();
        let back: StoredMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
