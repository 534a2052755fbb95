//! The IntegrationAPI kind: an HTTP API (Synapse REST API) with a context, an optional
//! version, and resources that match method and path and run their in/out/fault sequences.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime};
use super::security::{ApiAuthentication, ResourceAuthentication};
use crate::mediator::{Mediator, Namespaces};

/// An HTTP API served by the runtime group `runtime` under `context`.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "IntegrationAPI",
    namespaced,
    derive = "PartialEq",
    shortname = "iapi",
    category = "ferry",
    status = "IntegrationApiStatus",
    doc = "An HTTP API (Synapse REST API): a context and resources matched by method and URI template or URL mapping, each running mediator sequences.",
    printcolumn(name = "Context", type_ = "string", json_path = ".spec.context"),
    printcolumn(name = "Runtime", type_ = "string", json_path = ".spec.runtime"),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        json_path = ".status.url",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntegrationApiSpec {
    /// The runtime group that serves this API (an IntegrationRuntime's name). Default
    /// `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The path prefix of every resource, starting with `/` (e.g. `/healthcare`).
    pub context: String,
    /// The API's version, e.g. `1.0.0`. Absent: the API is unversioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the version appears: `context` (`/healthcare/1.0.0/...`; the default) or
    /// `url` (the context itself contains a `{version}` segment).
    #[serde(default)]
    pub version_type: VersionType,
    /// Serve only requests whose Host header matches this name. Default: any host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Serve only requests arriving on this port. Default: any HTTP listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// XML namespace prefixes the XPath expressions of every mediator of every resource may use, `prefix: uri`
    /// (Synapse's `xmlns:prefix` attributes). A mediator's own `namespaces` add to these.
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
    /// Mediators run when a resource fails and has no fault sequence of its own. Default:
    /// the runtime's `fault` behaviour (a 500 response with the error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_sequence: Vec<Mediator>,
    /// The resources, matched in order.
    pub resources: Vec<ApiResource>,
    /// Who may call the API: JWT bearer tokens, basic auth, API keys (docs/security.md).
    /// Default: anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ApiAuthentication>,
    /// Cross-origin resource sharing: preflights answered, `Access-Control-*` headers
    /// on answers to allowed origins. Default: none (no CORS headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<super::transport_security::Cors>,
    /// `required`: only requests over HTTPS with a client certificate the listener verified
    /// are served (401 without one, 403 over plain HTTP). Default `none`.
    #[serde(default)]
    pub client_certificate: super::transport_security::ClientCertificate,
    /// Requests with a larger body are refused with 413, in bytes. Default: the runtime's
    /// `maxRequestBodyBytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_size: Option<u64>,
    /// A trace span for each mediator of its flows, and of the sequences they call, when the
    /// runtime exports traces (`--otlp-endpoint`); Synapse `trace="enable"`. Default false.
    #[serde(default)]
    pub trace: bool,
    /// Collect statistics for this API (Synapse `statistics="enable"`). Default false.
    #[serde(default)]
    pub statistics: bool,
}

/// How an API's version appears in its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum VersionType {
    /// Appended to the context.
    #[default]
    Context,
    /// Placed where the context has `{version}`.
    Url,
}

/// One resource of an API: which requests it takes and what it does with them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiResource {
    /// The HTTP methods served. Default: all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<ApiMethod>,
    /// A URI template after the context, e.g. `/categories/{category}/reserve?date={d}`;
    /// variables are read as `${params.uriParams.category}` (and `uri.var.category`).
    /// At most one of `uriTemplate` and `urlMapping`; with neither, the resource takes
    /// every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_template: Option<String>,
    /// A URL mapping after the context: exact (`/orders`), prefix (`/orders/*`) or
    /// extension (`*.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_mapping: Option<String>,
    /// Serve only requests with this Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Serve only requests whose User-Agent matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Serve only `http` or `https` requests. Default: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Mediators run on the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_sequence: Vec<Mediator>,
    /// Mediators run on the response of a `send`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_sequence: Vec<Mediator>,
    /// Mediators run when this resource fails. Default: the API's `faultSequence`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_sequence: Vec<Mediator>,
    /// What this resource requires of callers beyond the API's `authentication`: scopes,
    /// or anonymous access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ResourceAuthentication>,
}

/// HTTP methods an API resource serves (upper case, as in Synapse's `methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ApiMethod {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
    /// HEAD.
    Head,
}

/// Transport protocols of an API resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum Protocol {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// Status of an IntegrationAPI.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationApiStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted` (the spec is valid) and `Ready` (the runtime group serves it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Where the API is reachable inside the cluster, e.g.
    /// `http://ferry-default.ns.svc:8290/healthcare`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
