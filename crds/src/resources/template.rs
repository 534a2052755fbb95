//! The Template kind (Synapse sequence `<template>`): a sequence with declared parameters,
//! run by the `callTemplate` mediator with values for them. Inside, a parameter is read as
//! `${params.functionParams.name}` (or `$func:name` in XPath, as Synapse writes it).
//! Synapse's endpoint templates are not this kind.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime};
use crate::mediator::{Mediator, Namespaces};

/// A sequence template: parameters and the mediators that read them.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Template",
    namespaced,
    derive = "PartialEq",
    shortname = "tmpl",
    category = "ferry",
    status = "TemplateStatus",
    doc = "A sequence template (Synapse <template> with a <sequence>): declared parameters and the mediators that read them, run by the callTemplate mediator.",
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
pub struct TemplateSpec {
    /// The runtime group that hosts this template. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The parameters a `callTemplate` passes (Synapse `<parameter>`), read inside as
    /// `${params.functionParams.name}` or `$func:name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<TemplateParameter>,
    /// The template's sequence: mediators run in order (Synapse `<sequence>`).
    pub mediators: Vec<Mediator>,
    /// XML namespace prefixes the XPath expressions of every mediator may use, `prefix: uri`
    /// (Synapse's `xmlns:prefix` attributes). A mediator's own `namespaces` add to these.
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// A declared template parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateParameter {
    /// The parameter's name.
    pub name: String,
    /// Every `callTemplate` must pass it (checked when the configuration loads). Default
    /// false.
    #[serde(default)]
    pub is_mandatory: bool,
    /// The value when a call does not pass it (text). Default: unset, read as empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

/// Status of a Template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
