//! The ScheduledTask kind: injects a message into a sequence or an API on an interval, a
//! count or a cron schedule, once per runtime group (not once per replica).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime};
use super::integration_api::ApiMethod;

/// A scheduled message injector.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "ScheduledTask",
    namespaced,
    derive = "PartialEq",
    shortname = "stask",
    category = "ferry",
    status = "ScheduledTaskStatus",
    doc = "Injects a message into a sequence or an API on a schedule (Synapse scheduled task with the message injector), once per runtime group.",
    printcolumn(
        name = "Interval",
        type_ = "integer",
        json_path = ".spec.trigger.interval"
    ),
    printcolumn(name = "Cron", type_ = "string", json_path = ".spec.trigger.cron"),
    printcolumn(
        name = "Last Run",
        type_ = "date",
        json_path = ".status.lastRunTime",
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
pub struct ScheduledTaskSpec {
    /// The runtime group that runs this task. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// When the task fires.
    pub trigger: Trigger,
    /// The message injected each time.
    #[serde(default)]
    pub message: TaskMessage,
    /// Where the message goes.
    pub inject: Inject,
}

/// When a task fires: `interval` (optionally limited by `count`), `cron`, or `once`.
/// Exactly one of `interval`, `cron` and `once` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    /// Milliseconds between runs, the first run at start. (Synapse's `interval` is in
    /// seconds; Ferry uses milliseconds for every duration, and the importer converts.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// With `interval`: how many runs in total. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// A Quartz-style cron expression with seconds (`0 30 1 * * ?`), in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Run once, at start. Default false.
    #[serde(default)]
    pub once: bool,
}

/// The message a task injects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskMessage {
    /// The payload, as text (JSON, XML or anything else). Default: empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The payload's Content-Type. Default `application/json`.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// Transport headers of the message.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn default_content_type() -> String {
    "application/json".to_string()
}

/// Where a task's message goes: a Sequence, or an IntegrationAPI resource (as if a client
/// had sent the request). Exactly one of `sequence` and `api`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inject {
    /// The Sequence's name (Synapse `injectTo=sequence`, `sequenceName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// The IntegrationAPI's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// With `api`: the request path after the API's context, with any query string, e.g.
    /// `/orders/pending?limit=10`. Default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// With `api`: the request method. Default POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ApiMethod>,
}

/// Status of a ScheduledTask.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledTaskStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the task last fired (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<String>,
    /// How many times it has fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<i64>,
    /// `Accepted` and `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
