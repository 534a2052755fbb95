//! The MessageProcessor kind: takes messages from a MessageStore and samples them into a
//! sequence, forwards them to an endpoint, or moves them to another store.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime, default_true};

/// A message processor.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "MessageProcessor",
    namespaced,
    derive = "PartialEq",
    shortname = "mproc",
    category = "ferry",
    status = "MessageProcessorStatus",
    doc = "Takes messages from a message store (Synapse message processor): sampling into a sequence, forwarding to an endpoint with retries, or failover-forwarding to another store.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Store", type_ = "string", json_path = ".spec.messageStore"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(
        name = "Backlog",
        type_ = "integer",
        json_path = ".status.backlog",
        priority = 1
    ),
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
pub struct MessageProcessorSpec {
    /// The runtime group that runs this processor. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// `sampling` (into `sequence`, no delivery guarantee), `forwarding` (to
    /// `targetEndpoint`, acknowledged after success) or `failoverForwarding` (to
    /// `targetStore`).
    #[serde(rename = "type")]
    pub type_: ProcessorType,
    /// The MessageStore read from.
    pub message_store: String,
    /// forwarding: the Endpoint messages are delivered to (Synapse `target.endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_endpoint: Option<String>,
    /// failoverForwarding: the MessageStore messages are moved to (Synapse
    /// `message.target.store.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_store: Option<String>,
    /// sampling: the Sequence each message is injected into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// Milliseconds between polls of the store. Default 1000.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// A Quartz-style cron expression (`0 0/5 * * * ?`) for polling; wins over
    /// `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_expression: Option<String>,
    /// sampling: messages taken per poll. Default 1.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Milliseconds between delivery attempts of one message (Synapse
    /// `client.retry.interval`). Default 1000.
    #[serde(default = "default_interval")]
    pub client_retry_interval: u64,
    /// Delivery attempts per message; -1 means retry forever (Synapse
    /// `max.delivery.attempts`). Default 4.
    #[serde(default = "default_max_delivery_attempts")]
    pub max_delivery_attempts: i32,
    /// After the last attempt: drop the message and go on (true), or deactivate the
    /// processor, keeping the message (false, the default; Synapse `max.delivery.drop`).
    /// With `failMessagesStore` set, the message is parked there instead and processing
    /// goes on.
    #[serde(default)]
    pub drop_message_after_max_delivery_attempts: bool,
    /// A MessageStore that receives messages whose delivery failed for good (Synapse
    /// `message.processor.failMessagesStore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_messages_store: Option<String>,
    /// HTTP status codes that count as failures not worth retrying: the message is
    /// handled as after its last attempt (Synapse `non.retry.status.codes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retry_status_codes: Vec<u16>,
    /// Retry 4xx answers too. Default false: a 4xx other than 408 and 429 is the
    /// message's fault (a poison message), so it is handled at once as after its last
    /// attempt — parked in `failMessagesStore` when there is one — instead of holding up
    /// the messages behind it, even with unlimited attempts. Ferry's addition.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_client_errors: bool,
    /// A Sequence that receives the endpoint's responses (Synapse
    /// `message.processor.reply.sequence`). Default: responses are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_sequence: Option<String>,
    /// A Sequence run when a delivery fails (Synapse `message.processor.fault.sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_sequence: Option<String>,
    /// A Sequence run when the processor deactivates (Synapse
    /// `message.processor.deactivate.sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivate_sequence: Option<String>,
    /// Pace delivery to at most one message per `throttle.interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ProcessorThrottle>,
    /// Attempts to reach the store before the processor deactivates; -1 means forever.
    /// Default -1.
    #[serde(default = "default_store_attempts")]
    pub max_store_connection_attempts: i32,
    /// Milliseconds between attempts to reach the store. Default 1000.
    #[serde(default = "default_interval")]
    pub store_connection_retry_interval: u64,
    /// Start active (Synapse `is.active`). Default true.
    #[serde(default = "default_true")]
    pub active: bool,
}

fn default_interval() -> u64 {
    1000
}

fn default_concurrency() -> u32 {
    1
}

fn default_max_delivery_attempts() -> i32 {
    4
}

fn default_store_attempts() -> i32 {
    -1
}

/// Message processor types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ProcessorType {
    /// Inject into a sequence.
    Sampling,
    /// Deliver to an endpoint.
    Forwarding,
    /// Move to another store.
    FailoverForwarding,
}

/// Delivery pacing of a processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessorThrottle {
    /// Whether pacing is on. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Milliseconds between two deliveries. Default 1000.
    #[serde(default = "default_interval")]
    pub interval: u64,
}

/// Status of a MessageProcessor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageProcessorStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Active` or `Inactive` (deactivated after failed deliveries or by the management
    /// API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ProcessorState>,
    /// Delivery attempts made for the message at the head of the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    /// Messages waiting in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<i64>,
    /// Why the state last changed: `DeliveryFailed`, `StoreUnreachable`, `Deactivated`,
    /// `Activated`. `state`, `backlog` and these are written by the runtime replica that
    /// runs the processor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// What happened, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_message: Option<String>,
    /// The message kept at the head of the store when a delivery failed for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_message_id: Option<String>,
    /// `Accepted` and `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Whether a processor is processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ProcessorState {
    /// Taking messages.
    Active,
    /// Stopped; messages stay in the store.
    Inactive,
}
