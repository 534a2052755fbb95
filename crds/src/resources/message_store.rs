//! The MessageStore kind: where messages wait between a `store` mediator and a
//! MessageProcessor. One `type` plus the matching settings block.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, SecretSource, default_runtime, default_true};

/// A message store.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "MessageStore",
    namespaced,
    derive = "PartialEq",
    shortname = "mstore",
    category = "ferry",
    status = "MessageStoreStatus",
    doc = "Where messages wait for a message processor (Synapse message store): in memory, SQLite, RabbitMQ or PostgreSQL, with an optional failover store.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Runtime", type_ = "string", json_path = ".spec.runtime"),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageStoreSpec {
    /// The runtime group that hosts this store. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The store's type: `memory` (lost on restart), `sqlite` (embedded and durable; the
    /// default), `rabbitmq` or `postgres`. Only the block of that type may be set.
    #[serde(default, rename = "type")]
    pub type_: StoreType,
    /// Settings of a `memory` store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStore>,
    /// Settings of a `sqlite` store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<SqliteStore>,
    /// Settings of a `rabbitmq` store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<RabbitMqStore>,
    /// Settings of a `postgres` store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresStore>,
    /// The MessageStore that takes messages when this one cannot (Synapse
    /// `store.failover.message.store.name`); pair it with a `failoverForwarding` processor
    /// that moves them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_store: Option<String>,
}

/// Message store types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum StoreType {
    /// In process memory.
    Memory,
    /// An embedded SQLite database.
    #[default]
    Sqlite,
    /// A RabbitMQ queue.
    Rabbitmq,
    /// A PostgreSQL table.
    Postgres,
}

/// Settings of an in-memory store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemoryStore {
    /// Messages held at most; a `store` into a full store fails. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

/// Settings of a SQLite store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqliteStore {
    /// The database file. Default `<data dir>/stores/<store name>.db`, the data dir being
    /// the runtime's `--data-dir` (a volume in Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The table. Default `ferry_messages`.
    #[serde(default = "default_table")]
    pub table: String,
    /// Messages held at most. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// Wait for the disk on every write (`synchronous=FULL`) rather than only at
    /// checkpoints (`NORMAL`). Default true: a stored message survives power loss.
    #[serde(default = "default_true")]
    pub sync: bool,
}

fn default_table() -> String {
    "ferry_messages".to_string()
}

/// Settings of a RabbitMQ store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqStore {
    /// The broker's host (Synapse `store.rabbitmq.host.name`).
    pub host: String,
    /// The broker's port. Default 5672 (5671 with `tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The virtual host. Default `/`.
    #[serde(default = "default_vhost")]
    pub virtual_host: String,
    /// The queue messages are stored in (declared durable if missing). Default: the
    /// store's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The exchange messages are published to. Default: the default exchange, routing
    /// straight to `queue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// The routing key. Default: the queue's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// The user name. Default `guest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// Connect with TLS (`amqps`): the broker's certificate verified against the system
    /// roots plus `caFrom`, a client certificate for RabbitMQ's mutual TLS (`certFrom`,
    /// `keyFrom`), `serverName` and `minVersion` as for an endpoint. `tls: {}` turns TLS on
    /// with the defaults. Default: plain AMQP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::endpoint::Tls>,
    /// Wait for the broker's confirm before a `store` succeeds. Default true.
    #[serde(default = "default_true")]
    pub publisher_confirms: bool,
    /// The dead-letter exchange set on the queue (`x-dead-letter-exchange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    /// The dead-letter routing key set on the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
    /// Messages the consumer may hold unacknowledged. Default 1.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// How reconnecting backs off.
    #[serde(default)]
    pub connection_retry: ConnectionRetry,
}

fn default_vhost() -> String {
    "/".to_string()
}

fn default_prefetch() -> u16 {
    1
}

/// Exponential backoff of reconnection attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionRetry {
    /// Milliseconds before the first reconnection attempt. Default 1000.
    #[serde(default = "default_initial_delay")]
    pub initial_delay: u64,
    /// Milliseconds the delay doubles up to. Default 30000.
    #[serde(default = "default_max_delay")]
    pub max_delay: u64,
}

impl Default for ConnectionRetry {
    fn default() -> Self {
        Self {
            initial_delay: default_initial_delay(),
            max_delay: default_max_delay(),
        }
    }
}

fn default_initial_delay() -> u64 {
    1000
}

fn default_max_delay() -> u64 {
    30_000
}

/// Settings of a PostgreSQL store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresStore {
    /// The connection URL (`postgres://user@host:5432/db`), when it holds no password.
    /// Exactly one of `url` and `urlFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The connection URL, from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretSource>,
    /// The password, when `url` has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// The table (created if missing). Default `ferry_messages`.
    #[serde(default = "default_table")]
    pub table: String,
    /// Connections kept open. Default 4.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// TLS to the server, as a DataSource's `tls`: `mode` (`verifyFull` by default,
    /// `verifyCa`, `disable`) and `caFile`. Without it the URL's `sslmode` decides (plain
    /// when it names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::data_source::DataSourceTls>,
}

fn default_pool_size() -> u32 {
    4
}

/// Status of a MessageStore.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageStoreStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
