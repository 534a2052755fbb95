//! Transport security settings shared by several kinds: TLS protocol versions (endpoints
//! and the HTTPS listener), an API's CORS policy and its demand for a client certificate,
//! and a runtime group's HTTPS listener.
//!
//! Certificates and keys are never written into resources: an endpoint reads PEM from a
//! [`SecretSource`](super::SecretSource) (an environment variable the operator fills from a
//! Secret), a runtime group's listener from a `kubernetes.io/tls` Secret mounted as a
//! volume.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// TLS protocol versions (Ferry speaks 1.2 and 1.3; older ones are refused by design).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[serde(rename = "1.2", alias = "TLSv1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "1.3", alias = "TLSv1.3")]
    Tls13,
}

/// Cross-origin resource sharing for the browsers calling an API (Micro Integrator's
/// `[api_cors]` settings, per API here). Preflight `OPTIONS` requests are answered by Ferry;
/// actual requests get the `Access-Control-*` headers on their answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cors {
    /// Origins allowed to read answers (`https://app.example.com`), or `*` for any.
    /// MI `allow_origins`.
    pub allow_origins: Vec<String>,
    /// Methods a preflight allows. Default: the methods of the API's resources.
    /// MI `allow_methods`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Request headers a preflight allows (case-insensitive). Default: none besides the
    /// CORS-safelisted ones. MI `allow_headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Answer headers the browser lets scripts read (`Access-Control-Expose-Headers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Whether cookies and credentials may be sent (`Access-Control-Allow-Credentials`);
    /// not allowed with the origin `*`. Default false. MI `allow_credentials`.
    #[serde(default)]
    pub allow_credentials: bool,
    /// Seconds a browser may cache a preflight's answer (`Access-Control-Max-Age`).
    /// Default: not sent (the browser's own default, 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

/// What an API demands of the client's TLS certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ClientCertificate {
    /// No demand (the default): requests over HTTP and HTTPS are served.
    #[default]
    None,
    /// Only requests over HTTPS whose client presented a certificate the listener verified
    /// against its client CA: others get 401 (no certificate) or 403 (plain HTTP).
    Required,
}

/// How an HTTPS listener treats client certificates (mutual TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ClientAuth {
    /// Not asked for (the default).
    #[default]
    None,
    /// Asked for and verified against the client CA when presented; a client without
    /// one is served too (an API can still demand one).
    Optional,
    /// Every client must present a certificate the client CA verifies, or the handshake
    /// fails.
    Required,
}

/// The HTTPS listener of a runtime group (MI's 8253 port).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpsListener {
    /// The port. Default 8253.
    #[serde(default = "default_https_port")]
    pub port: u16,
    /// A Secret of type `kubernetes.io/tls` (keys `tls.crt`, `tls.key`) with the server's
    /// certificate chain and key. It is mounted as a volume; a renewed certificate is
    /// picked up without a restart.
    pub secret_name: String,
    /// A Secret whose key `ca.crt` holds the CA certificates (PEM) client certificates
    /// are verified against. Needed for `clientAuth` `optional` and `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_secret_name: Option<String>,
    /// `none` (default), `optional` or `required`.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// The oldest TLS version accepted: `1.2` (default) or `1.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    /// This listener's `maxRequestBodyBytes`. Default: the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_body_bytes: Option<u64>,
    /// This listener's `maxRequestHeaderBytes` (at least 8192). Default: the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_header_bytes: Option<u32>,
    /// This listener's `requestBodyTimeoutSeconds`. Default: the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_timeout_seconds: Option<u64>,
    /// This listener's `requestTimeoutSeconds`. Default: the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_seconds: Option<u64>,
    /// This listener's `maxConcurrentRequests` (each listener counts its own). Default:
    /// the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u64>,
}

/// The HTTPS port Micro Integrator uses.
pub fn default_https_port() -> u16 {
    8253
}
