//! Who may call an API: the `authentication` of an IntegrationAPI (JWT bearer tokens, HTTP
//! basic auth, API keys) and the per-resource requirements (scopes, anonymous access).
//!
//! Credentials never appear in a resource: user lists, API keys and static JWT keys come from
//! a [`SecretSource`] (a Kubernetes Secret the operator passes to the pods as an environment
//! variable, or a variable named directly) or from a file the runtime reads (a mounted
//! Secret volume). Passwords and API keys are stored hashed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::SecretSource;

/// How callers of an API prove who they are. Each scheme set is accepted; the request's
/// credentials pick the scheme (`Authorization: Bearer` a JWT, `Authorization: Basic` basic
/// auth, the API key header or query parameter an API key). A request with none is refused
/// with 401 unless its resource allows anonymous access.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiAuthentication {
    /// The realm named in `WWW-Authenticate` challenges. Default: the API's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// JWT bearer tokens (RFC 6750 / RFC 7519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtAuth>,
    /// HTTP basic authentication against a list of users with hashed passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicUsers>,
    /// API keys in a header or a query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKeyAuth>,
}

/// JWT bearer token validation. Exactly one of `jwksUrl`, `keyFrom` and `keyFile`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtAuth {
    /// A JSON Web Key Set URL (`http://` or `https://`): keys are fetched at start, cached,
    /// refreshed every `jwksRefreshSeconds`, and refetched (at most once per
    /// `jwksMinRefetchSeconds`) when a token names an unknown `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// A static key: a PEM public key (RS256, ES256, EdDSA) or, for HS256, the shared
    /// secret's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_from: Option<SecretSource>,
    /// A file holding the static key (a mounted Secret), read at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// The signature algorithms accepted: `RS256`, `ES256`, `EdDSA`, `HS256`. Default
    /// `[RS256]`. `none` is never accepted, and one family only (an HMAC secret is never
    /// tried as a public key, nor the reverse).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<JwtAlgorithm>,
    /// The `iss` claim tokens must carry. Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Tokens must name one of these in `aud`. Default: not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`. Default 60.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Seconds between scheduled JWKS refreshes. Default 300.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
    /// At most one refetch for an unknown `kid` per this many seconds. Default 10.
    #[serde(default = "default_jwks_min_refetch")]
    pub jwks_min_refetch_seconds: u64,
}

fn default_algorithms() -> Vec<JwtAlgorithm> {
    vec![JwtAlgorithm::Rs256]
}

fn default_leeway() -> u64 {
    60
}

fn default_jwks_refresh() -> u64 {
    300
}

fn default_jwks_min_refetch() -> u64 {
    10
}

/// JWT signature algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// HMAC with SHA-256 (a shared secret).
    #[serde(rename = "HS256")]
    Hs256,
}

/// Basic auth users: lines `name:hash` (htpasswd's form) with bcrypt hashes (`$2a$`, `$2b$`,
/// `$2y$`, as `htpasswd -B` or `ferry hash-password` write them). Exactly one of `usersFrom`
/// and `usersFile`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicUsers {
    /// The users list from a Secret or an environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_from: Option<SecretSource>,
    /// The users list from a file (a mounted Secret), read at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_file: Option<String>,
}

/// API keys: lines `name:sha256-hex` (the hex SHA-256 of the key, as `ferry hash-password
/// --api-key` writes it); the name is the caller's identity. Exactly one of `keysFrom` and
/// `keysFile`, and at least one of `header` and `queryParameter`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyAuth {
    /// The request header carrying the key, e.g. `X-API-Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The query parameter carrying the key, e.g. `apikey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_parameter: Option<String>,
    /// The key list from a Secret or an environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_from: Option<SecretSource>,
    /// The key list from a file (a mounted Secret), read at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<String>,
}

/// What one resource requires of its callers, beyond the API's `authentication`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceAuthentication {
    /// Serve callers without credentials too (credentials that are sent are still checked).
    /// Default false.
    #[serde(default)]
    pub anonymous: bool,
    /// Scopes a JWT must grant (its `scope` claim, space separated, or `scp` list), all of
    /// them; a token without them is answered 403 `insufficient_scope`. Callers by basic auth
    /// or API key have no scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}
