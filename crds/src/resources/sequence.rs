//! The Sequence kind: a named, reusable list of mediators, called with the `sequence`
//! mediator (`- sequence: {key: Name}`) or used as a fault sequence, processor sequence or
//! task target.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime};
use crate::mediator::{Mediator, Namespaces};

/// A named list of mediators.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Sequence",
    namespaced,
    derive = "PartialEq",
    shortname = "seq",
    category = "ferry",
    status = "SequenceStatus",
    doc = "A named, reusable list of mediators (Synapse sequence) with its own fault sequence.",
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
pub struct SequenceSpec {
    /// The runtime group that hosts this sequence. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The mediators, run in order.
    pub mediators: Vec<Mediator>,
    /// XML namespace prefixes the XPath expressions of every mediator of the sequence may use, `prefix: uri`
    /// (Synapse's `xmlns:prefix` attributes). A mediator's own `namespaces` add to these.
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
    /// The name of the Sequence run when a mediator here fails (Synapse `onError`).
    /// Default: the caller's fault handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// A trace span for each mediator of its flows, and of the sequences they call, when the
    /// runtime exports traces (`--otlp-endpoint`); Synapse `trace="enable"`. Default false.
    #[serde(default)]
    pub trace: bool,
    /// Collect statistics (Synapse `statistics="enable"`). Default false.
    #[serde(default)]
    pub statistics: bool,
}

/// Status of a Sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
