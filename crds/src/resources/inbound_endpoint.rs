//! The InboundEndpoint kind (Micro Integrator's inbound endpoints): a listener or poller
//! outside HTTP that injects each message it takes into a Sequence, with `onError` and the
//! settings of its `protocol`.
//!
//! Where it runs is part of the protocol: a queue consumer (`rabbitmq`) runs on every
//! replica of its runtime group, the replicas competing for the queue's messages; a poller
//! that must not run twice (a directory) runs on the one replica that holds the group's
//! Lease, and moves to another when that one dies.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, SecretSource, default_runtime, default_true};
use super::message_store::ConnectionRetry;

/// An inbound endpoint.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "InboundEndpoint",
    namespaced,
    derive = "PartialEq",
    shortname = "inbound",
    category = "ferry",
    status = "InboundEndpointStatus",
    doc = "Takes messages from a broker queue, an MQTT topic or a directory and injects each into a sequence (Synapse inbound endpoint): queue consumers run on every replica, pollers on the one replica holding the group's Lease.",
    printcolumn(name = "Protocol", type_ = "string", json_path = ".spec.protocol"),
    printcolumn(name = "Sequence", type_ = "string", json_path = ".spec.sequence"),
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
pub struct InboundEndpointSpec {
    /// The runtime group that runs this endpoint. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// Where messages come from: `rabbitmq` (a queue, consumed on every replica), `mqtt`
    /// (topic filters, on one replica unless shared) or `file` (a directory, polled on one
    /// replica). Only the block of that protocol may be set
    /// (Synapse `protocol`).
    pub protocol: InboundProtocol,
    /// The Sequence each message is injected into (Synapse `sequence`).
    pub sequence: String,
    /// The Sequence run when `sequence` fails (Synapse `onError`). Default: the failed
    /// sequence's own `onError`, if it has one. Either way the message counts as failed
    /// and is settled as the protocol's `onFault` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// Deployed but not started (Synapse `suspend`). Default false.
    #[serde(default)]
    pub suspend: bool,
    /// One message at a time (Synapse `sequential`, default true). When false, a consumer
    /// processes up to its `prefetch` messages at once.
    #[serde(default = "default_true")]
    pub sequential: bool,
    /// Settings of a `rabbitmq` endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<RabbitMqInbound>,
    /// Settings of a `file` endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInbound>,
    /// Settings of an `mqtt` endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttInbound>,
}

impl InboundEndpointSpec {
    /// Whether the endpoint must run on one replica of its group only (through the group's
    /// Lease): a poller, or an MQTT subscription that is not shared (each replica would get
    /// every message). An MQTT 5 shared subscription (`$share/GROUP/filter`) runs on every
    /// replica, the broker handing each message to one of them.
    pub fn once_per_group(&self) -> bool {
        match self.protocol {
            InboundProtocol::Mqtt => !self.mqtt.as_ref().is_some_and(MqttInbound::is_shared),
            p => p.once_per_group(),
        }
    }
}

/// The protocols of inbound endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum InboundProtocol {
    /// An AMQP 0-9-1 queue on RabbitMQ: consumed on every replica.
    Rabbitmq,
    /// A local directory, polled on the replica that leads the group.
    File,
    /// An MQTT topic subscription: on the replica that leads the group, or on every replica
    /// with an MQTT 5 shared subscription.
    Mqtt,
}

impl InboundProtocol {
    /// Whether the endpoint must run on one replica of its group only (through the group's
    /// Lease), rather than on each.
    pub fn once_per_group(self) -> bool {
        match self {
            InboundProtocol::Rabbitmq => false,
            InboundProtocol::File => true,
            // A plain subscription on every replica would process each message once per
            // replica; see [`InboundEndpointSpec::once_per_group`] for shared ones.
            InboundProtocol::Mqtt => true,
        }
    }

    /// The name as written in `protocol:`.
    pub fn as_str(self) -> &'static str {
        match self {
            InboundProtocol::Rabbitmq => "rabbitmq",
            InboundProtocol::File => "file",
            InboundProtocol::Mqtt => "mqtt",
        }
    }
}

/// Settings of a RabbitMQ inbound endpoint (a consumer of one queue).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqInbound {
    /// The broker's host (Synapse `rabbitmq.server.host.name`).
    pub host: String,
    /// The broker's port (`rabbitmq.server.port`). Default 5672 (5671 with `tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The virtual host (`rabbitmq.server.virtual.host`). Default `/`.
    #[serde(default = "default_vhost")]
    pub virtual_host: String,
    /// The user name (`rabbitmq.server.user.name`). Default `guest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password (`rabbitmq.server.password`), from a secret or an environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// Connect with TLS (`amqps`, `rabbitmq.connection.ssl.enabled`): the broker's
    /// certificate verified against the system roots plus `caFrom`, a client certificate
    /// for RabbitMQ's mutual TLS (`certFrom`, `keyFrom`), `serverName` and `minVersion` as
    /// for an endpoint. `tls: {}` turns TLS on with the defaults. Default: plain AMQP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::endpoint::Tls>,
    /// The queue consumed (`rabbitmq.queue.name`).
    pub queue: String,
    /// Declare the queue before consuming (`rabbitmq.queue.autodeclare`). Default: the
    /// queue must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declare_queue: Option<QueueDeclaration>,
    /// Bind the queue to an exchange, declaring the exchange (`rabbitmq.exchange.name`,
    /// `rabbitmq.exchange.type`, `rabbitmq.queue.routing.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangeBinding>,
    /// Messages each consumer may hold unacknowledged (`rabbitmq.channel.consumer.qos`).
    /// Default 10.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Consumers (channels) per replica (`rabbitmq.concurrent.consumer.count`). Default 1.
    #[serde(default = "default_consumers")]
    pub consumers: u16,
    /// What happens to a message whose sequence failed: `requeue` (back to the queue, to
    /// be delivered again; the default) or `reject` (to the queue's dead-letter exchange
    /// when it has one, else discarded by the broker).
    #[serde(default)]
    pub on_fault: FaultAction,
    /// Milliseconds to wait before requeueing a failed message
    /// (`rabbitmq.message.requeue.delay`), so a message that always fails does not spin.
    /// Default 1000.
    #[serde(default = "default_requeue_delay")]
    pub requeue_delay: u64,
    /// The Content-Type of a message that carries none
    /// (`rabbitmq.message.content.type`). Default `application/octet-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// How reconnecting backs off (`rabbitmq.connection.retry.interval`).
    #[serde(default)]
    pub connection_retry: ConnectionRetry,
}

/// A queue's declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueDeclaration {
    /// Survives a broker restart (`rabbitmq.queue.durable`). Default true.
    #[serde(default = "default_true")]
    pub durable: bool,
    /// Deleted when its last consumer goes (`rabbitmq.queue.auto.delete`). Default false.
    #[serde(default)]
    pub auto_delete: bool,
    /// The dead-letter exchange (`x-dead-letter-exchange`): where rejected messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    /// The dead-letter routing key (`x-dead-letter-routing-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
}

/// An exchange the queue is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangeBinding {
    /// The exchange (`rabbitmq.exchange.name`).
    pub name: String,
    /// Its type (`rabbitmq.exchange.type`). Default `direct`.
    #[serde(default, rename = "type")]
    pub type_: ExchangeType,
    /// Survives a broker restart (`rabbitmq.exchange.durable`). Default true.
    #[serde(default = "default_true")]
    pub durable: bool,
    /// The binding key (`rabbitmq.queue.routing.key`). Default: the queue's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

/// AMQP exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ExchangeType {
    /// Routes on the exact routing key.
    #[default]
    Direct,
    /// Routes to every bound queue.
    Fanout,
    /// Routes on routing-key patterns (`orders.*`).
    Topic,
    /// Routes on header values.
    Headers,
}

/// What a consumer does with a message whose sequence failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FaultAction {
    /// Put it back in the queue, to be delivered again (after `requeueDelay`).
    #[default]
    Requeue,
    /// Reject it: the broker dead-letters it when the queue has a dead-letter exchange, and
    /// discards it otherwise.
    Reject,
}

/// Settings of a file inbound endpoint: polls a local or remote (SFTP, FTP, FTPS) directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileInbound {
    /// The directory polled (Synapse `transport.vfs.FileURI`, without `file://`); relative
    /// to the working directory when not absolute. On `server` when one is set; MI's
    /// remote URIs are accepted too (`sftp://user:pass@host:22/in`, `ftp://`, `ftps://`,
    /// with or without `vfs:`), and then name the server themselves.
    pub directory: String,
    /// The remote server polled (SFTP, FTP or FTPS) instead of a local directory; the
    /// move directories are on the same server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::resources::endpoint::FileServer>,
    /// Only files whose name matches this regular expression, whole
    /// (`transport.vfs.FileNamePattern`). Default: every file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name_pattern: Option<String>,
    /// Milliseconds between polls (Synapse `interval`). Default 1000.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// The order files of one poll are processed in (`transport.vfs.FileSortAttribute`,
    /// `transport.vfs.FileSortAscending`): `name` (the default), `size` or `lastModified`.
    #[serde(default)]
    pub sort_by: FileSort,
    /// Sort descending rather than ascending. Default false.
    #[serde(default)]
    pub sort_descending: bool,
    /// A file is taken only once its size and modification time stayed the same for this
    /// many milliseconds, so a file still being written is left for a later poll. Default
    /// 1000; 0 takes files at once (use with `partSuffix`).
    #[serde(default = "default_stable_for")]
    pub stable_for: u64,
    /// Files whose name ends with this suffix are being written and never taken (a writer
    /// renames `x.csv.part` to `x.csv` when done). Default `.part`.
    #[serde(default = "default_part_suffix")]
    pub part_suffix: String,
    /// How a file's content becomes messages (`transport.vfs.ContentType`).
    #[serde(default)]
    pub content: FileContent,
    /// The Content-Type messages carry: default `application/json` for `json`,
    /// `application/xml` for `xml`, `text/plain` for `text` and `lines`,
    /// `application/octet-stream` for `binary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// What happens to a file whose every message was processed
    /// (`transport.vfs.ActionAfterProcess`): `delete` (the default) or `move`.
    #[serde(default)]
    pub action_after_process: FileAction,
    /// The directory processed files are moved to (`transport.vfs.MoveAfterProcess`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_after_process: Option<String>,
    /// What happens to a file whose processing failed (`transport.vfs.ActionAfterFailure`):
    /// `move` (the default, to `moveAfterFailure`) or `delete`.
    #[serde(default = "default_failure_action")]
    pub action_after_failure: FileAction,
    /// The directory failed files are moved to (`transport.vfs.MoveAfterFailure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_after_failure: Option<String>,
    /// Files taken per poll at most (`transport.vfs.FileProcessCount`). Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files_per_poll: Option<u32>,
    /// Transport headers set on every message.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Settings of an MQTT inbound endpoint: one client subscribed to topic filters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MqttInbound {
    /// The broker's host (Synapse `mqtt.server.host.name`).
    pub host: String,
    /// The broker's port (`mqtt.server.port`). Default 1883, 8883 with `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The protocol version: `"3.1.1"` (the default) or `"5"`.
    #[serde(default)]
    pub version: MqttVersion,
    /// The client identifier (`mqtt.client.id`): a persistent session is found again by
    /// it. Default `ferry-<endpoint name>`; with a shared subscription the pod's host name
    /// is appended, so each replica has its own session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The topic filters subscribed to (`mqtt.topic.name`), wildcards `+` and `#` allowed.
    /// MQTT 5 shared subscriptions are written `$share/GROUP/filter`: then every filter must
    /// be shared, and the endpoint runs on every replica.
    pub topics: Vec<String>,
    /// The subscription's quality of service (`mqtt.subscription.qos`): 0, 1 (the default)
    /// or 2. Messages of QoS 1 and 2 are acknowledged only after their sequence completed.
    #[serde(default = "default_mqtt_qos")]
    pub qos: u8,
    /// Start a new session on each connection (`mqtt.session.clean`). Default false: the
    /// broker keeps the session (subscriptions and unacknowledged messages) while Ferry is
    /// away, so a message taken but not acknowledged before a crash comes again.
    #[serde(default)]
    pub clean_session: bool,
    /// MQTT 5 only: seconds the broker keeps a persistent session after the client went
    /// away. Default 86400 (a day) for a persistent session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry_interval: Option<u32>,
    /// Messages processed at once when the endpoint is not `sequential`. Default 10.
    #[serde(default = "default_mqtt_concurrency")]
    pub concurrency: u16,
    /// Seconds between keep-alive pings. Default 60.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: u16,
    /// The user name (`mqtt.subscription.username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password (`mqtt.subscription.password`), from a secret or an environment
    /// variable; requires `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// Connect with TLS (`mqtt.ssl.enable`): the system's CAs plus `caFrom`, an optional
    /// client certificate. `{}` for the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::endpoint::Tls>,
    /// The Content-Type of a message that carries none (`content.type`; an MQTT 5 message
    /// may carry its own). Default `application/octet-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// How reconnecting backs off (`mqtt.reconnection.interval`).
    #[serde(default)]
    pub connection_retry: ConnectionRetry,
}

impl MqttInbound {
    /// Whether the subscription is an MQTT 5 shared one (its first filter starts with
    /// `$share/`): the replicas compete for messages.
    pub fn is_shared(&self) -> bool {
        self.topics
            .first()
            .is_some_and(|t| t.starts_with("$share/"))
    }
}

/// MQTT protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum MqttVersion {
    /// MQTT 3.1.1.
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    V5,
}

/// The order of the files of one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FileSort {
    /// By file name.
    #[default]
    Name,
    /// By size.
    Size,
    /// By last modification time.
    LastModified,
}

/// How a file becomes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FileContent {
    /// The whole file, one JSON message.
    Json,
    /// The whole file, one XML message.
    Xml,
    /// The whole file, one text message.
    Text,
    /// The whole file, one binary message.
    #[default]
    Binary,
    /// One text message per line, read as a stream (large files never held whole); with
    /// `csv`, one JSON object per record.
    Lines,
    /// CSV read as a stream: the first line names the columns, and each further line
    /// becomes one JSON object message (`{"column": "value", ...}`).
    Csv,
}

/// What is done with a file after it was processed (or failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FileAction {
    /// Delete it.
    #[default]
    Delete,
    /// Move it to the matching `move...` directory.
    Move,
}

fn default_vhost() -> String {
    "/".to_string()
}

fn default_prefetch() -> u16 {
    10
}

fn default_consumers() -> u16 {
    1
}

fn default_requeue_delay() -> u64 {
    1000
}

fn default_mqtt_qos() -> u8 {
    1
}

fn default_mqtt_concurrency() -> u16 {
    10
}

fn default_keep_alive() -> u16 {
    60
}

fn default_interval() -> u64 {
    1000
}

fn default_stable_for() -> u64 {
    1000
}

fn default_part_suffix() -> String {
    ".part".to_string()
}

fn default_failure_action() -> FileAction {
    FileAction::Move
}

/// Status of an InboundEndpoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundEndpointStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
