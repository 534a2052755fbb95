//! The Endpoint kind (a named backend) and [`EndpointRef`], the way mediators and group
//! endpoints point at one: by name, by expression, or with an inline definition.
//!
//! The body of an endpoint (its type and leaf settings) is written once in the
//! `endpoint_types!` macro, which emits both [`EndpointSpec`] (the kind, with `runtime`)
//! and [`EndpointRef`] (with `key`/`keyExpression`). That keeps `endpoint: {http: {...}}`
//! and `endpoint: {key: X}` one flat YAML mapping without `#[serde(flatten)]`, which would
//! defeat `deny_unknown_fields`, and without an untagged enum, which is not structural.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, NamedValue, SecretSource, default_runtime, default_true};

/// Lets the macro ask "is this body field set?" for each field type it holds.
trait IsUnset {
    fn is_unset(&self) -> bool;
}

impl<T> IsUnset for Option<T> {
    fn is_unset(&self) -> bool {
        self.is_none()
    }
}

impl<T> IsUnset for Vec<T> {
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
}

impl IsUnset for bool {
    fn is_unset(&self) -> bool {
        !*self
    }
}

macro_rules! endpoint_types {
    ($( $(#[$attr:meta])* $field:ident : $ty:ty, )*) => {
        /// A named backend the runtime calls: exactly one of `http`, `address`, `wsdl`,
        /// `failover`, `loadbalance` and `recipientList`, plus the leaf settings (timeout,
        /// retries, suspension, auth, TLS) for `http`, `address` and `wsdl`.
        // kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
        #[allow(clippy::duplicated_attributes)]
        #[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[kube(
            group = "ferry.dev",
            version = "v1alpha1",
            kind = "Endpoint",
            namespaced,
            derive = "PartialEq",
            shortname = "ep",
            category = "ferry",
            status = "EndpointStatus",
            doc = "A named backend (Synapse endpoint): HTTP, address, WSDL, or a failover, load-balance or recipient-list group, with timeouts, retries and suspension on failure.",
            printcolumn(name = "Runtime", type_ = "string", json_path = ".spec.runtime"),
            printcolumn(name = "Accepted", type_ = "string", json_path = ".status.conditions[?(@.type==\"Accepted\")].status"),
            printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
        )]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct EndpointSpec {
            /// The runtime group that hosts this endpoint (an IntegrationRuntime's name).
            /// Default `default`.
            #[serde(default = "default_runtime")]
            pub runtime: String,
            $( $(#[$attr])* pub $field: $ty, )*
        }

        /// A reference to an endpoint: exactly one of `key` (a named Endpoint),
        /// `keyExpression` (its name computed per message) or an inline endpoint body
        /// (`http: {...}`, `failover: {...}`, ... with the same fields as an Endpoint's
        /// spec, `runtime` excepted).
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct EndpointRef {
            /// The name of an Endpoint in the same runtime group.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key: Option<String>,
            /// An expression computing the Endpoint's name per message (Synapse
            /// `key-expression`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key_expression: Option<String>,
            $( $(#[$attr])* pub $field: $ty, )*
        }

        impl EndpointRef {
            /// The inline definition as an [`EndpointSpec`] (in the default runtime, which
            /// the caller replaces with the enclosing resource's), or `None` when no body
            /// field is set (a `key` or `keyExpression` reference).
            pub fn inline(&self) -> Option<EndpointSpec> {
                let empty = true $( && self.$field.is_unset() )*;
                if empty {
                    return None;
                }
                Some(EndpointSpec {
                    runtime: default_runtime(),
                    $( $field: self.$field.clone(), )*
                })
            }
        }

        impl EndpointSpec {
            /// An inline reference with this spec's body (`runtime` dropped).
            pub fn to_ref(&self) -> EndpointRef {
                EndpointRef {
                    key: None,
                    key_expression: None,
                    $( $field: self.$field.clone(), )*
                }
            }
        }
    };
}

endpoint_types! {
    /// An HTTP endpoint with a URI template (Synapse `<http>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpEndpoint>,
    /// A fixed address (Synapse `<address>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<AddressEndpoint>,
    /// A service and port of a WSDL document (Synapse `<wsdl>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wsdl: Option<WsdlEndpoint>,
    /// A failover group: children tried in order, a failed child skipped until it
    /// recovers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failover: Option<FailoverEndpoint>,
    /// A load-balance group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loadbalance: Option<LoadbalanceEndpoint>,
    /// A recipient list: a copy of the message to every child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipient_list: Option<RecipientListEndpoint>,
    /// An SMTP server a `call` sends the message through as an email (Micro Integrator's
    /// email connector: `email.init` is the connection, `email.send` the message fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    smtp: Option<SmtpEndpoint>,
    /// A local directory a `call` writes the message's payload into, as a file (Micro
    /// Integrator's VFS sender, `vfs:file://...` addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<FileEndpoint>,
    /// How long a call may take and what happens when it takes longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<Timeout>,
    /// Errors that count towards suspending the endpoint (its Timeout state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mark_for_suspension: Option<MarkForSuspension>,
    /// Errors that suspend the endpoint at once, and for how long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suspend_on_failure: Option<SuspendOnFailure>,
    /// Immediate retries of one call (Ferry addition; Synapse retries only through groups
    /// and processors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<Retry>,
    /// Headers added to every request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<NamedValue>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    basic_auth: Option<BasicAuth>,
    /// OAuth 2.0: a token is fetched, cached and sent as `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oauth: Option<OAuth>,
    /// TLS settings for `https` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<Tls>,
    /// Speak HTTP/2 (negotiated by ALPN over TLS, prior knowledge over plain TCP).
    /// Default false (HTTP/1.1).
    #[serde(default)]
    http2: bool,
    /// WS-Addressing headers (`wsa:To`, `wsa:Action`, `wsa:MessageID`, `wsa:ReplyTo`, ...)
    /// in the SOAP envelopes this endpoint sends (Synapse `<enableAddressing>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enable_addressing: Option<EnableAddressing>,
}

impl EndpointSpec {
    /// The endpoint types that are set (`http`, `address`, ...): a valid spec has exactly
    /// one, which the validator checks.
    pub fn types(&self) -> Vec<&'static str> {
        let mut types = Vec::new();
        if self.http.is_some() {
            types.push("http");
        }
        if self.address.is_some() {
            types.push("address");
        }
        if self.wsdl.is_some() {
            types.push("wsdl");
        }
        if self.failover.is_some() {
            types.push("failover");
        }
        if self.loadbalance.is_some() {
            types.push("loadbalance");
        }
        if self.recipient_list.is_some() {
            types.push("recipientList");
        }
        if self.smtp.is_some() {
            types.push("smtp");
        }
        if self.file.is_some() {
            types.push("file");
        }
        types
    }

    /// The child endpoints of a group endpoint with their field paths relative to the
    /// spec (`failover.endpoints[0]`), for the validator to walk; empty for leaves.
    pub fn children(&self) -> Vec<(String, &EndpointRef)> {
        let mut out = Vec::new();
        let groups = [
            ("failover", self.failover.as_ref().map(|g| &g.endpoints)),
            (
                "loadbalance",
                self.loadbalance.as_ref().map(|g| &g.endpoints),
            ),
            (
                "recipientList",
                self.recipient_list.as_ref().map(|g| &g.endpoints),
            ),
        ];
        for (name, endpoints) in groups {
            for (i, child) in endpoints.into_iter().flatten().enumerate() {
                out.push((format!("{name}.endpoints[{i}]"), child));
            }
        }
        out
    }
}

/// Status of an Endpoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

// === endpoint types ===

/// An HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpEndpoint {
    /// The URL, with `{uri.var.name}` variables (from the API's URI template or
    /// `uri.var.*` properties) and `${...}` expressions, e.g.
    /// `http://hospital:9090/{uri.var.category}/reserve`.
    pub uri_template: String,
    /// The HTTP method. Default: the incoming request's method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// How the message is written: `soap11`, `soap12`, `pox` or `rest` (Synapse
    /// `format`; `get` is `method: get` here). Default: as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AddressFormat>,
    /// Insert variable values without percent-encoding them again (Synapse's
    /// `legacy-encoding:` prefix). Default false.
    #[serde(default)]
    pub legacy_encoding: bool,
}

/// HTTP methods, spelled as in Synapse's `<http method>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum HttpMethod {
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

/// A fixed-address endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressEndpoint {
    /// The URL. With format `rest`, `REST_URL_POSTFIX` (the path after the API context) is
    /// appended.
    pub uri: String,
    /// How the message is written: `soap11`, `soap12`, `pox`, `rest` or `get`. Default: as
    /// received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AddressFormat>,
}

/// Message formats of an address endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum AddressFormat {
    /// SOAP 1.1.
    Soap11,
    /// SOAP 1.2.
    Soap12,
    /// Plain old XML.
    Pox,
    /// REST: the payload as is.
    Rest,
    /// An HTTP GET.
    Get,
}

/// A WSDL endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsdlEndpoint {
    /// The WSDL document's URL.
    pub uri: String,
    /// The service's name in the WSDL.
    pub service: String,
    /// The port's name in the service.
    pub port: String,
}

/// A failover group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailoverEndpoint {
    /// The children, in order of preference.
    #[schemars(schema_with = "nested_endpoints")]
    pub endpoints: Vec<EndpointRef>,
    /// Go back to the first child as soon as it recovers (true, the default) or stay on
    /// the current one (false, Synapse `dynamic="false"`).
    #[serde(default = "default_true")]
    pub dynamic: bool,
    /// Buffer the payload before the first try so it can be resent. Default false.
    #[serde(default)]
    pub build_message: bool,
}

/// A load-balance group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadbalanceEndpoint {
    /// The children.
    #[schemars(schema_with = "nested_endpoints")]
    pub endpoints: Vec<EndpointRef>,
    /// `roundRobin` (default) or `weightedRoundRobin` (with `weights`).
    #[serde(default)]
    pub algorithm: LoadbalanceAlgorithm,
    /// Weights of the children, in order, for `weightedRoundRobin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<u32>,
    /// Try the next child when one fails. Default true.
    #[serde(default = "default_true")]
    pub failover: bool,
    /// Buffer the payload before the first try so it can be resent. Default false.
    #[serde(default)]
    pub build_message: bool,
    /// Session affinity: messages of one session go to the same child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

/// WS-Addressing on an endpoint's requests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnableAddressing {
    /// `final` (WS-Addressing 1.0, `http://www.w3.org/2005/08/addressing`; the default) or
    /// `submission` (the 2004/08 member submission).
    #[serde(default)]
    pub version: AddressingVersion,
    /// Ask the backend to answer on a separate connection (`wsa:ReplyTo` naming a listener
    /// of Ferry's). Only `false` is supported: answers come back on the request's
    /// connection.
    #[serde(default)]
    pub separate_listener: bool,
}

/// WS-Addressing versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum AddressingVersion {
    /// WS-Addressing 1.0 (W3C recommendation).
    #[default]
    Final,
    /// The 2004/08 member submission.
    Submission,
}

/// Load-balancing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum LoadbalanceAlgorithm {
    /// Each child in turn.
    #[default]
    RoundRobin,
    /// In turn, proportionally to the weights.
    WeightedRoundRobin,
}

/// Session affinity of a load-balance group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Session {
    /// How a session is recognised: `http` (cookie), `simpleClientSession` (a
    /// `ClientID` header) or `soap` (WS-Addressing).
    #[serde(rename = "type")]
    pub type_: SessionType,
    /// Milliseconds of inactivity after which a session ends. Default 120000.
    #[serde(default = "default_session_timeout")]
    pub timeout: u64,
}

fn default_session_timeout() -> u64 {
    120_000
}

/// Session types of a load-balance group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum SessionType {
    /// An HTTP cookie.
    #[default]
    Http,
    /// A client id header.
    SimpleClientSession,
    /// WS-Addressing.
    Soap,
}

/// A recipient list: every child gets a copy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientListEndpoint {
    /// The children (static list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested_endpoints")]
    pub endpoints: Vec<EndpointRef>,
    /// An expression yielding a comma-separated list of URLs, per message (Synapse
    /// `<endpoints value>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints_expression: Option<String>,
    /// How many dynamic endpoints are kept ready. Default 20.
    #[serde(default = "default_max_cache")]
    pub max_cache: u32,
}

fn default_max_cache() -> u32 {
    20
}

/// Schema of a group's children: cut in CRDs (the type is recursive), full in the editor
/// schema.
fn nested_endpoints(generator: &mut SchemaGenerator) -> Schema {
    if generator.settings().inline_subschemas {
        json_schema!({
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        })
    } else {
        generator.subschema_for::<Vec<EndpointRef>>()
    }
}

// === leaf settings ===

/// An SMTP endpoint: the connection (once per endpoint) and the email each call sends.
/// The message fields are templates: text with `${...}` expressions evaluated per message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmtpEndpoint {
    /// The SMTP server's host (`email.init` `host`).
    pub host: String,
    /// Its port (`port`). Default 587 with `starttls`, 465 with `tls`, 25 with `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Transport security: `starttls` (the default: the connection must be upgraded;
    /// MI's `requireTLS`), `tls` (implicit TLS from the first byte; MI's `enableSSL`) or
    /// `none` (plain text; only for a relay on the same host or network).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// CA certificates (PEM) trusted for the server, besides the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_from: Option<SecretSource>,
    /// The user for SMTP AUTH (`username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password for SMTP AUTH (`password`), from a secret or an environment variable;
    /// requires `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// The sender (`from`), a template: `Orders <orders@example.com>`.
    pub from: String,
    /// The recipients (`to`), a template giving a comma-separated list of addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Copy recipients (`cc`), as `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<String>,
    /// Blind copy recipients (`bcc`), as `to`: in the envelope, not in the headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcc: Option<String>,
    /// Where replies go (`replyTo`), as `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The subject (`subject`), a template. Default empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The body (`content`), a template. Default: the message's payload as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The body's content type (`contentType`). Default `text/plain` for `content`, the
    /// message's Content-Type for the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Files attached (`attachments`), each with its content from a template (the payload,
    /// a property).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<EmailAttachment>,
    /// Extra headers of the email (`X-Order-Id: ${payload.id}`), templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A file endpoint: where and how the payload is written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileEndpoint {
    /// The directory files are written into; relative to the working directory when not
    /// absolute.
    pub directory: String,
    /// The file's name, a template (`order-${payload.id}.json`); it must render to a
    /// name, not a path.
    pub file_name: String,
    /// `overwrite` (the default: replace a file of that name), `create` (fail when the
    /// file exists) or `append` (MI's `transport.vfs.Append`: add to the end, creating the
    /// file when missing).
    #[serde(default)]
    pub mode: FileWriteMode,
    /// With `append`: a line break written after each payload. Default false.
    #[serde(default)]
    pub append_newline: bool,
    /// Create `directory` (and its parents) when missing (MI's
    /// `transport.vfs.CreateFolder`; the file connector's `createParentDirectories`).
    /// Default true.
    #[serde(default = "default_true")]
    pub create_directory: bool,
    /// With `move`: the directory the moved file is in (the file connector's
    /// `sourcePath`, less the file's name). On `server` when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_directory: Option<String>,
    /// With `move`: the moved file's name, a template rendered per message that must be a
    /// name, not a path. Default: `fileName` (the file keeps its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file_name: Option<String>,
    /// With `move`: replace a file of the destination's name (the file connector's
    /// `overwrite`). Default false: the move fails when the destination exists.
    #[serde(default)]
    pub replace_existing: bool,
    /// A remote server (SFTP, FTP or FTPS) the file is written on or moved on, instead of
    /// the local disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<FileServer>,
}

/// A remote file server: an SFTP, FTP or FTPS account (MI's `vfs:sftp://user:pass@host/`,
/// `vfs:ftp://`, `vfs:ftps://` addresses).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileServer {
    /// `sftp`, `ftp` or `ftps` (explicit FTPS: `AUTH TLS` on the control connection, and
    /// the data connections protected too).
    pub protocol: FileProtocol,
    /// The server's host name or address.
    pub host: String,
    /// Its port. Default 22 for `sftp`, 21 for `ftp` and `ftps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The user logged in as (`anonymous` for anonymous FTP).
    pub user: String,
    /// A file holding the password (its content less a final line break); it is read when
    /// connecting and never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// SFTP: a file holding the private key (OpenSSH PEM) logged in with (MI's
    /// `transport.vfs.SFTPIdentities`), unencrypted; read when connecting, never logged.
    /// With both a key and a password, the key is tried first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    /// SFTP: the server's host key fingerprint as `ssh-keygen -lf` prints it
    /// (`SHA256:...`). A server showing another key is refused. Default: any key is
    /// accepted, as Micro Integrator's VFS does, with a warning in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// FTP: passive mode, the server opening the data port (MI's `transport.vfs.Passive`).
    /// Default true; active mode is not supported.
    #[serde(default = "default_true")]
    pub passive: bool,
    /// FTPS: the CA certificates trusted for the server (beside the system's) and the
    /// oldest TLS version, as an endpoint's `tls` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Milliseconds to connect and log in, and for each operation. Default 30000.
    #[serde(default = "default_file_server_timeout")]
    pub timeout: u64,
}

fn default_file_server_timeout() -> u64 {
    30_000
}

/// The protocol of a remote file server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FileProtocol {
    /// SSH File Transfer Protocol.
    #[default]
    Sftp,
    /// Plain FTP, passive mode.
    Ftp,
    /// FTP with explicit TLS (`AUTH TLS`).
    Ftps,
}

/// How a file endpoint writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FileWriteMode {
    /// Replace the file, atomically (a temporary file renamed over it).
    #[default]
    Overwrite,
    /// Write a new file, atomically; fail when one of that name exists.
    Create,
    /// Add to the end of the file.
    Append,
    /// Move (rename) the file `sourceFileName` of `sourceDirectory` to `fileName` in
    /// `directory` (the file connector's `move`); the message's payload is not written.
    Move,
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which the server must offer.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS.
    None,
}

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailAttachment {
    /// The file name, a template.
    pub file_name: String,
    /// Its content, a template (`${payload}`, `${props.synapse.report}`). Default: the
    /// message's payload as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Its content type. Default `application/octet-stream`, or the message's
    /// Content-Type for the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// The timeout of a leaf endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeout {
    /// Milliseconds a call may take. Default: the runtime's global timeout (120000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// On timeout: `fault` (run the fault sequence with `ERROR_CODE` 101504; the default)
    /// or `discard` (drop the late response, no fault).
    #[serde(default)]
    pub response_action: ResponseAction,
}

/// What happens when a call times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ResponseAction {
    /// Raise a fault.
    #[default]
    Fault,
    /// Drop silently.
    Discard,
}

/// Errors that move an endpoint towards suspension (Synapse `markForSuspension`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkForSuspension {
    /// Synapse error codes (101504 timeout, 101505 connection closed, ...). Default:
    /// 101504 and 101505.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<i32>,
    /// Failures tolerated before the endpoint is suspended. Default 0.
    #[serde(default)]
    pub retries_before_suspension: u32,
    /// Milliseconds between those tries. Default 0.
    #[serde(default)]
    pub retry_delay: u64,
}

/// Errors that suspend an endpoint at once (Synapse `suspendOnFailure`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuspendOnFailure {
    /// Synapse error codes. Default: every error not listed in `markForSuspension`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<i32>,
    /// Milliseconds of the first suspension. Default 30000.
    #[serde(default = "default_initial_duration")]
    pub initial_duration: u64,
    /// Each next suspension lasts the previous one times this. Default 1.
    #[serde(default = "default_progression_factor")]
    pub progression_factor: f64,
    /// Milliseconds a suspension never exceeds. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_duration: Option<u64>,
}

fn default_initial_duration() -> u64 {
    30_000
}

fn default_progression_factor() -> f64 {
    1.0
}

/// Immediate retries of a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    /// Retries after the first try. Default 0.
    #[serde(default)]
    pub count: u32,
    /// Milliseconds between tries. Default 0.
    #[serde(default)]
    pub delay: u64,
    /// Synapse error codes that are retried. Default: connection failures and timeouts
    /// (101503, 101504, 101505, 101508).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<i32>,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password_from: SecretSource,
}

/// OAuth 2.0 client settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuth {
    /// `clientCredentials` (default), `passwordCredentials` or `authorizationCode` (with a
    /// refresh token).
    #[serde(default)]
    pub grant_type: OAuthGrant,
    /// The token endpoint's URL.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret_from: SecretSource,
    /// For `passwordCredentials`: the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// For `passwordCredentials`: the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// For `authorizationCode`: the refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_from: Option<SecretSource>,
    /// Scopes requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The `audience` parameter of the token request (Auth0, Okta and others use it to
    /// pick the API the token is for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Extra form parameters of the token request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_parameters: BTreeMap<String, String>,
    /// How client credentials are sent: `header` (basic auth; the default) or `payload`
    /// (form fields).
    #[serde(default)]
    pub auth_mode: OAuthAuthMode,
}

/// OAuth 2.0 grant types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum OAuthGrant {
    /// Client credentials.
    #[default]
    ClientCredentials,
    /// Resource owner password.
    PasswordCredentials,
    /// Authorization code, refreshed with a refresh token.
    AuthorizationCode,
}

/// Where OAuth client credentials go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum OAuthAuthMode {
    /// An Authorization header.
    #[default]
    Header,
    /// Form fields of the token request.
    Payload,
}

/// TLS settings of an endpoint (PEM material from secrets).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    /// CA certificates (PEM) trusted for the server, besides the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_from: Option<SecretSource>,
    /// A client certificate chain (PEM) for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_from: Option<SecretSource>,
    /// The client certificate's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_from: Option<SecretSource>,
    /// The name sent as SNI and checked against the server's certificate. Default: the
    /// URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The oldest TLS version accepted: `1.2` (default) or `1.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<super::transport_security::TlsVersion>,
    /// Accept any server certificate. Refused by the validator: Ferry never turns
    /// verification off; give the backend's CA in `caFrom` instead.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Schema of an [`EndpointRef`] held by a mediator. In CRDs only `key` and `keyExpression`
/// are typed and an inline body is kept unchecked by the API server (Ferry's validator
/// checks it): inlining the whole endpoint schema into every call, send, clone and iterate
/// would push the IntegrationAPI CRD past the API server's size limits. The editor schema
/// gets the full type.
pub(crate) fn endpoint_ref_schema(generator: &mut SchemaGenerator) -> Schema {
    if generator.settings().inline_subschemas {
        json_schema!({
            "type": "object",
            "description": "An endpoint: `key` (a named Endpoint), `keyExpression`, or an inline endpoint body (`http: {...}`, `failover: {...}`, ... as in an Endpoint's spec).",
            "properties": {
                "key": {"type": "string", "description": "The name of an Endpoint in the same runtime group."},
                "keyExpression": {"type": "string", "description": "An expression computing the Endpoint's name per message."},
            },
            "x-kubernetes-preserve-unknown-fields": true,
        })
    } else {
        generator.subschema_for::<EndpointRef>()
    }
}
