//! The ProxyService kind: Micro Integrator's proxy service, a SOAP or POX service served at
//! `/services/<name>` (`<name>` is the Synapse name when the resource carries one), whose
//! target mediates each request (in, out and fault sequences) and may send it on to an
//! endpoint; `?wsdl` answers with the published WSDL.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime};
use super::endpoint::{EndpointRef, endpoint_ref_schema};
use crate::mediator::{Mediator, Namespaces};

/// A proxy service.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "ProxyService",
    namespaced,
    derive = "PartialEq",
    shortname = "proxy",
    category = "ferry",
    status = "ProxyServiceStatus",
    doc = "A proxy service (Synapse proxy): a SOAP or POX service at /services/<name> whose target mediates each request and may send it to an endpoint.",
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
pub struct ProxyServiceSpec {
    /// The runtime group that serves this proxy. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The transports it is served on (Synapse `transports`): `http` (the HTTP port),
    /// `https` (the HTTPS port) or both. Default `[http]`.
    #[serde(default = "default_transports")]
    pub transports: Vec<ProxyTransport>,
    /// What each request goes through.
    pub target: ProxyTarget,
    /// The WSDL served at `/services/<name>?wsdl` (Synapse `publishWSDL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wsdl: Option<ProxyWsdl>,
    /// XML namespace prefixes the XPath expressions of its mediators use (`prefix: uri`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
    /// A trace span for each mediator of its flows, and of the sequences they call, when the
    /// runtime exports traces (`--otlp-endpoint`); Synapse `trace="enable"`. Default false.
    #[serde(default)]
    pub trace: bool,
    /// Collect statistics (Synapse `statistics="enable"`). Default false.
    #[serde(default)]
    pub statistics: bool,
}

fn default_transports() -> Vec<ProxyTransport> {
    vec![ProxyTransport::Http]
}

/// A transport a proxy is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ProxyTransport {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// The target of a proxy: its sequences and, optionally, the endpoint the request goes to
/// after the in-sequence (Synapse `<target>`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyTarget {
    /// Mediators run on each request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_sequence: Vec<Mediator>,
    /// Mediators run on the endpoint's answer before it goes to the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_sequence: Vec<Mediator>,
    /// Mediators run when mediating fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_sequence: Vec<Mediator>,
    /// The endpoint each request is sent to after the in-sequence, when the in-sequence
    /// does not answer or send it itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_ref_schema")]
    pub endpoint: Option<EndpointRef>,
}

/// Where a proxy's WSDL comes from: exactly one of `inline` and `key`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyWsdl {
    /// The WSDL document itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// The key of a LocalEntry holding it (its name or Synapse name), XML or text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Status of a ProxyService.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyServiceStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The URL the proxy is served at, once deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
