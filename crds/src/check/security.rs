//! Check of an API's `authentication` and its resources' requirements: the settings the
//! runtime needs, with where each credential comes from. The credentials themselves (user
//! lists, keys) are read by the runtime when it builds the API, never here: `ferry validate`
//! runs where the Secrets are not.

use std::time::Duration;

use super::cx::Cx;
use crate::resources::{
    ApiAuthentication, ApiKeyAuth, BasicUsers, JwtAlgorithm, JwtAuth, ResourceAuthentication,
    SecretSource,
};

/// A checked `authentication` of an API.
#[derive(Debug, Clone, PartialEq)]
pub struct Authentication {
    /// The realm of challenges; `None`: the API's name.
    pub realm: Option<String>,
    /// JWT bearer tokens.
    pub jwt: Option<Jwt>,
    /// Basic auth users (`name:bcrypt-hash` lines).
    pub basic: Option<Credentials>,
    /// API keys.
    pub api_key: Option<ApiKey>,
}

/// Where a credential list or key is read from by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An environment variable (a Secret the operator injected, or one named directly).
    Env(String),
    /// A file (a mounted Secret).
    File(String),
}

/// Checked JWT settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    /// Where the verification keys come from.
    pub keys: JwtKeys,
    /// Accepted algorithms, all of one family.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Accepted `aud` values (empty: not checked).
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Scheduled JWKS refresh period.
    pub jwks_refresh: Duration,
    /// Least time between two refetches for an unknown `kid`.
    pub jwks_min_refetch: Duration,
}

/// Where JWT verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKeys {
    /// A JWKS URL.
    Jwks(String),
    /// One static key (PEM public key, or an HS256 secret).
    Static(Credentials),
}

/// Checked API key settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The header carrying the key (lower case).
    pub header: Option<String>,
    /// The query parameter carrying the key.
    pub query_parameter: Option<String>,
    /// The `name:sha256-hex` list.
    pub keys: Credentials,
}

/// What a resource requires beyond the API's authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirement {
    /// Callers without credentials are served.
    pub anonymous: bool,
    /// Scopes a JWT must grant.
    pub scopes: Vec<String>,
}

/// Checks `spec.authentication`.
pub fn authentication(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &ApiAuthentication,
) -> Option<Authentication> {
    let before = cx.error_count();
    if spec.jwt.is_none() && spec.basic.is_none() && spec.api_key.is_none() {
        cx.error(field, "set at least one of jwt, basic and apiKey");
    }
    if let Some(realm) = &spec.realm
        && (realm.contains('"') || realm.contains('\\') || realm.chars().any(char::is_control))
    {
        cx.error(
            &format!("{field}.realm"),
            "a realm may not contain quotes, backslashes or control characters",
        );
    }
    let jwt = spec
        .jwt
        .as_ref()
        .and_then(|j| jwt(cx, &format!("{field}.jwt"), j));
    let basic = spec
        .basic
        .as_ref()
        .and_then(|b| basic(cx, &format!("{field}.basic"), b));
    let api_key = spec
        .api_key
        .as_ref()
        .and_then(|k| api_key(cx, &format!("{field}.apiKey"), k));
    (cx.error_count() == before).then(|| Authentication {
        realm: spec.realm.clone(),
        jwt,
        basic,
        api_key,
    })
}

/// Checks a resource's `authentication` against its API's.
pub fn requirement(
    cx: &mut Cx<'_>,
    field: &str,
    spec: Option<&ResourceAuthentication>,
    api: Option<&ApiAuthentication>,
) -> Requirement {
    let Some(spec) = spec else {
        return Requirement::default();
    };
    match api {
        None => cx.error(
            field,
            "the API has no spec.authentication: set it, or drop the resource's authentication",
        ),
        Some(api) if !spec.scopes.is_empty() && api.jwt.is_none() => cx.error(
            &format!("{field}.scopes"),
            "scopes are granted by JWTs only: set spec.authentication.jwt",
        ),
        Some(_) => {}
    }
    for (i, scope) in spec.scopes.iter().enumerate() {
        if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c == '"') {
            cx.error(
                &format!("{field}.scopes[{i}]"),
                format!("{scope:?} is not a scope (no spaces or quotes; RFC 6749 section 3.3)"),
            );
        }
    }
    Requirement {
        anonymous: spec.anonymous,
        scopes: spec.scopes.clone(),
    }
}

fn jwt(cx: &mut Cx<'_>, field: &str, spec: &JwtAuth) -> Option<Jwt> {
    let before = cx.error_count();
    let keys = match (&spec.jwks_url, &spec.key_from, &spec.key_file) {
        (Some(url), None, None) => {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.parse::<http::Uri>().is_err()
            {
                cx.error(
                    &format!("{field}.jwksUrl"),
                    format!("{url:?} is not an http:// or https:// URL"),
                );
            }
            Some(JwtKeys::Jwks(url.clone()))
        }
        (None, from, file) if from.is_some() != file.is_some() => credentials(
            cx,
            field,
            ("keyFrom", from.as_ref()),
            ("keyFile", file.as_ref()),
        )
        .map(JwtKeys::Static),
        _ => {
            cx.error(field, "set exactly one of jwksUrl, keyFrom and keyFile");
            None
        }
    };
    if spec.algorithms.is_empty() {
        cx.error(
            &format!("{field}.algorithms"),
            "name at least one algorithm (RS256, ES256, EdDSA, HS256)",
        );
    }
    let hmac = spec.algorithms.contains(&JwtAlgorithm::Hs256);
    if hmac && spec.algorithms.len() > 1 {
        // A key that verifies HS256 is a shared secret: accepting a public-key algorithm
        // beside it is how algorithm-confusion attacks start.
        cx.error(
            &format!("{field}.algorithms"),
            "HS256 cannot be mixed with public-key algorithms (algorithm confusion): use one family",
        );
    }
    if hmac && spec.jwks_url.is_some() {
        cx.error(
            &format!("{field}.algorithms"),
            "HS256 takes a shared secret (keyFrom or keyFile), not a JWKS URL",
        );
    }
    let distinct_public = {
        let mut public: Vec<_> = spec
            .algorithms
            .iter()
            .filter(|a| **a != JwtAlgorithm::Hs256)
            .collect();
        public.sort_by_key(|a| format!("{a:?}"));
        public.dedup();
        public.len()
    };
    if distinct_public > 1 && spec.jwks_url.is_none() {
        cx.error(
            &format!("{field}.algorithms"),
            "a static key has one algorithm: name one (a JWKS URL may serve several)",
        );
    }
    if let Some(issuer) = &spec.issuer
        && issuer.is_empty()
    {
        cx.error(&format!("{field}.issuer"), "may not be empty");
    }
    if spec.jwks_refresh_seconds == 0 {
        cx.error(&format!("{field}.jwksRefreshSeconds"), "must be at least 1");
    }
    if cx.error_count() != before {
        return None;
    }
    Some(Jwt {
        keys: keys?,
        algorithms: spec.algorithms.clone(),
        issuer: spec.issuer.clone(),
        audiences: spec.audiences.clone(),
        leeway: Duration::from_secs(spec.leeway_seconds),
        jwks_refresh: Duration::from_secs(spec.jwks_refresh_seconds),
        jwks_min_refetch: Duration::from_secs(spec.jwks_min_refetch_seconds),
    })
}

fn basic(cx: &mut Cx<'_>, field: &str, spec: &BasicUsers) -> Option<Credentials> {
    credentials(
        cx,
        field,
        ("usersFrom", spec.users_from.as_ref()),
        ("usersFile", spec.users_file.as_ref()),
    )
}

fn api_key(cx: &mut Cx<'_>, field: &str, spec: &ApiKeyAuth) -> Option<ApiKey> {
    let before = cx.error_count();
    if spec.header.is_none() && spec.query_parameter.is_none() {
        cx.error(field, "set header, queryParameter or both");
    }
    if let Some(h) = &spec.header
        && http::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        cx.error(
            &format!("{field}.header"),
            format!("{h:?} is not a valid header name"),
        );
    }
    if let Some(h) = &spec.header
        && h.eq_ignore_ascii_case("authorization")
    {
        cx.error(
            &format!("{field}.header"),
            "Authorization carries bearer and basic credentials: name another header",
        );
    }
    if let Some(q) = &spec.query_parameter
        && q.is_empty()
    {
        cx.error(&format!("{field}.queryParameter"), "may not be empty");
    }
    let keys = credentials(
        cx,
        field,
        ("keysFrom", spec.keys_from.as_ref()),
        ("keysFile", spec.keys_file.as_ref()),
    );
    if cx.error_count() != before {
        return None;
    }
    Some(ApiKey {
        header: spec.header.as_ref().map(|h| h.to_ascii_lowercase()),
        query_parameter: spec.query_parameter.clone(),
        keys: keys?,
    })
}

/// Exactly one of a secret source and a file.
fn credentials(
    cx: &mut Cx<'_>,
    field: &str,
    (from_name, from): (&str, Option<&SecretSource>),
    (file_name, file): (&str, Option<&String>),
) -> Option<Credentials> {
    match (from, file) {
        (Some(from), None) if from.env.is_some() && from.secret_key_ref.is_some() => {
            cx.error(
                &format!("{field}.{from_name}"),
                "set exactly one of env and secretKeyRef",
            );
            None
        }
        (Some(from), None) => match from.env_var() {
            Some(var) => Some(Credentials::Env(var)),
            None => {
                cx.error(&format!("{field}.{from_name}"), "set env or secretKeyRef");
                None
            }
        },
        (None, Some(file)) if !file.is_empty() => Some(Credentials::File(beside(cx, file))),
        (None, Some(_)) => {
            cx.error(&format!("{field}.{file_name}"), "may not be empty");
            None
        }
        _ => {
            cx.error(
                field,
                format!("set exactly one of {from_name} and {file_name}"),
            );
            None
        }
    }
}

/// A relative file is read from the folder of the YAML file the resource came from (so a
/// sample's key sits beside it, whatever the current directory); an absolute one as is.
fn beside(cx: &Cx<'_>, file: &str) -> String {
    beside_origin(&cx.loaded().origin.file, file)
}

/// Where a `*File` path of a resource loaded from `origin` points: an absolute path as
/// written, a relative one in the folder of the YAML file the resource came from.
pub fn beside_origin(origin: &str, file: &str) -> String {
    let path = std::path::Path::new(file);
    if path.is_absolute() {
        return file.to_string();
    }
    match std::path::Path::new(origin).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(path).display().to_string(),
        _ => file.to_string(),
    }
}
