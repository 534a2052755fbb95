//! Authentication of API callers: the runtime form of an API's `authentication` (JWT bearer
//! tokens, basic auth, API keys), run on each request after routing and before any mediator.
//!
//! The credentials the request carries pick the scheme: `Authorization: Bearer` a JWT,
//! `Authorization: Basic` basic auth, the API key header or query parameter an API key. A
//! refusal is a [`Denial`]: 401 or 403 with the `WWW-Authenticate` challenge RFC 6750 and
//! RFC 7617 describe, and the error code fault sequences see (API Manager's codes, which MI
//! users know: 900901 invalid credentials, 900902 missing credentials, 900910 scope).
//!
//! What a caller proved is set on the message as properties (`AUTH_SCHEME`, `AUTH_USER`,
//! `AUTH_CLAIMS`) that expressions read: `${props.synapse.AUTH_CLAIMS.sub}`.

pub mod credentials;
pub mod jwks;
pub mod jwt;

use base64::Engine;
use ferry_api::check::security::{self as checked, Requirement};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use crate::endpoints::BuildCx;
use credentials::{ApiKeys, Users};
use jwt::{JwtError, JwtValidator};

/// `ERROR_CODE` of a request with wrong or expired credentials.
pub const INVALID_CREDENTIALS: u32 = 900901;
/// `ERROR_CODE` of a request without credentials.
pub const MISSING_CREDENTIALS: u32 = 900902;
/// `ERROR_CODE` of a token without the scopes a resource needs.
pub const INSUFFICIENT_SCOPE: u32 = 900910;

/// Property naming the scheme a caller used: `jwt`, `basic` or `apiKey`.
pub const AUTH_SCHEME: &str = "AUTH_SCHEME";
/// Property holding the caller: a JWT's `sub`, the basic user, the API key's name.
pub const AUTH_USER: &str = "AUTH_USER";
/// Property holding a JWT's claims (an object).
pub const AUTH_CLAIMS: &str = "AUTH_CLAIMS";

/// An API's authentication, ready to run.
pub struct Authenticator {
    realm: String,
    jwt: Option<JwtValidator>,
    basic: Option<Users>,
    api_key: Option<ApiKeyScheme>,
}

struct ApiKeyScheme {
    header: Option<http::HeaderName>,
    query_parameter: Option<String>,
    keys: ApiKeys,
}

/// Who a request's credentials proved the caller to be.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// `jwt`, `basic` or `apiKey`.
    pub scheme: &'static str,
    /// The caller's name.
    pub user: Option<String>,
    /// A JWT's claims.
    pub claims: Option<Value>,
}

impl Identity {
    /// Sets the identity's properties on a message.
    pub fn apply(self, msg: &mut crate::message::Message) {
        use crate::expr::context::PropertyScope;
        let scope = PropertyScope::Default;
        msg.set_property(scope, AUTH_SCHEME, Value::String(self.scheme.to_string()));
        if let Some(user) = self.user {
            msg.set_property(scope, AUTH_USER, Value::String(user));
        }
        if let Some(claims) = self.claims {
            msg.set_property(scope, AUTH_CLAIMS, claims);
        }
    }
}

/// Why a request is refused, and how to say it.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// 401 or 403.
    pub status: StatusCode,
    /// The `ERROR_CODE` fault sequences see.
    pub code: u32,
    /// What is wrong (safe to show: never a credential).
    pub message: String,
    /// The `WWW-Authenticate` values, one challenge each.
    pub challenges: Vec<String>,
}

impl Denial {
    /// The challenges as header values.
    pub fn header_values(&self) -> Vec<HeaderValue> {
        self.challenges
            .iter()
            .filter_map(|c| HeaderValue::from_str(c).ok())
            .collect()
    }
}

/// The credentials a request carries.
enum Presented<'a> {
    Bearer(&'a str),
    Basic(&'a str),
    ApiKey(String),
    Nothing,
}

impl Authenticator {
    /// Builds the authenticator: reads the user and key lists and static keys (from the
    /// environment or files) now, so a missing Secret fails the load, not a request.
    pub fn build(api: &str, spec: &checked::Authentication, cx: &mut BuildCx<'_>) -> Option<Self> {
        let before = cx.diagnostics.len();
        let jwt = spec.jwt.as_ref().and_then(|j| {
            JwtValidator::build(j, cx.env.client.clone())
                .map_err(|e| cx.error("spec.authentication.jwt", e))
                .ok()
        });
        let basic = spec.basic.as_ref().and_then(|c| {
            credentials::read(c)
                .and_then(|text| Users::parse(&text))
                .map_err(|e| cx.error("spec.authentication.basic", e))
                .ok()
        });
        let api_key = spec.api_key.as_ref().and_then(|k| {
            let keys = credentials::read(&k.keys)
                .and_then(|text| ApiKeys::parse(&text))
                .map_err(|e| cx.error("spec.authentication.apiKey", e))
                .ok()?;
            Some(ApiKeyScheme {
                header: k
                    .header
                    .as_deref()
                    .and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok()),
                query_parameter: k.query_parameter.clone(),
                keys,
            })
        });
        (cx.diagnostics.len() == before).then(|| Authenticator {
            realm: spec.realm.clone().unwrap_or_else(|| api.to_string()),
            jwt,
            basic,
            api_key,
        })
    }

    /// Authenticates a request for a resource that requires `requirement`: the caller's
    /// identity, `None` for an anonymous caller the resource admits, or why not.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        requirement: &Requirement,
    ) -> Result<Option<Identity>, Denial> {
        match self.presented(headers, query) {
            Presented::Bearer(token) => match &self.jwt {
                Some(jwt) => self.bearer(jwt, token, requirement).await.map(Some),
                None => Err(self.invalid("bearer tokens are not accepted here".into())),
            },
            Presented::Basic(encoded) => match &self.basic {
                Some(users) => self.basic(users, encoded, requirement).map(Some),
                None => Err(self.invalid("basic credentials are not accepted here".into())),
            },
            Presented::ApiKey(key) => match &self.api_key {
                Some(scheme) => match scheme.keys.name_of(&key) {
                    Some(name) => self.no_scopes(requirement).map(|()| {
                        Some(Identity {
                            scheme: "apiKey",
                            user: Some(name.to_string()),
                            claims: None,
                        })
                    }),
                    None => Err(self.invalid("the API key is not valid".into())),
                },
                None => Err(self.invalid("API keys are not accepted here".into())),
            },
            Presented::Nothing if requirement.anonymous => Ok(None),
            Presented::Nothing => Err(Denial {
                status: StatusCode::UNAUTHORIZED,
                code: MISSING_CREDENTIALS,
                message: "credentials are missing".into(),
                challenges: self.challenges(None),
            }),
        }
    }

    fn presented<'a>(&self, headers: &'a HeaderMap, query: Option<&str>) -> Presented<'a> {
        if let Some(value) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let value = value.trim();
            if let Some((scheme, rest)) = value.split_once(' ') {
                if scheme.eq_ignore_ascii_case("bearer") {
                    return Presented::Bearer(rest.trim());
                }
                if scheme.eq_ignore_ascii_case("basic") {
                    return Presented::Basic(rest.trim());
                }
            }
        }
        if let Some(scheme) = &self.api_key {
            if let Some(key) = scheme
                .header
                .as_ref()
                .and_then(|h| headers.get(h))
                .and_then(|v| v.to_str().ok())
            {
                return Presented::ApiKey(key.trim().to_string());
            }
            if let (Some(param), Some(query)) = (&scheme.query_parameter, query) {
                let found = form_urlencoded_pairs(query).find(|(k, _)| k == param);
                if let Some((_, key)) = found {
                    return Presented::ApiKey(key);
                }
            }
        }
        Presented::Nothing
    }

    async fn bearer(
        &self,
        jwt: &JwtValidator,
        token: &str,
        requirement: &Requirement,
    ) -> Result<Identity, Denial> {
        let claims = jwt.validate(token).await.map_err(|e| match e {
            JwtError::Invalid(reason) => Denial {
                status: StatusCode::UNAUTHORIZED,
                code: INVALID_CREDENTIALS,
                challenges: self.challenges(Some(&bearer_error("invalid_token", &reason))),
                message: format!("the access token is not valid: {reason}"),
            },
        })?;
        let granted = granted_scopes(&claims);
        let missing: Vec<&str> = requirement
            .scopes
            .iter()
            .filter(|s| !granted.iter().any(|g| g == *s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let scope = requirement.scopes.join(" ");
            return Err(Denial {
                status: StatusCode::FORBIDDEN,
                code: INSUFFICIENT_SCOPE,
                message: format!("the access token lacks the scope {}", missing.join(" ")),
                challenges: vec![format!(
                    "Bearer realm=\"{}\", error=\"insufficient_scope\", error_description=\"the request requires higher privileges than provided by the access token\", scope=\"{scope}\"",
                    self.realm
                )],
            });
        }
        let user = claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Identity {
            scheme: "jwt",
            user,
            claims: Some(claims),
        })
    }

    fn basic(
        &self,
        users: &Users,
        encoded: &str,
        requirement: &Requirement,
    ) -> Result<Identity, Denial> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(self.invalid("the basic credentials are malformed".into()));
        };
        if !users.verify(user, password) {
            return Err(self.invalid("the user name or password is wrong".into()));
        }
        self.no_scopes(requirement)?;
        Ok(Identity {
            scheme: "basic",
            user: Some(user.to_string()),
            claims: None,
        })
    }

    /// Basic and API key callers have no scopes: a resource that needs some refuses them.
    fn no_scopes(&self, requirement: &Requirement) -> Result<(), Denial> {
        if requirement.scopes.is_empty() {
            return Ok(());
        }
        Err(Denial {
            status: StatusCode::FORBIDDEN,
            code: INSUFFICIENT_SCOPE,
            message: format!(
                "this resource needs a bearer token with the scope {}",
                requirement.scopes.join(" ")
            ),
            challenges: vec![format!(
                "Bearer realm=\"{}\", error=\"insufficient_scope\", scope=\"{}\"",
                self.realm,
                requirement.scopes.join(" ")
            )],
        })
    }

    fn invalid(&self, message: String) -> Denial {
        let bearer = self
            .jwt
            .is_some()
            .then(|| bearer_error("invalid_token", &message));
        Denial {
            status: StatusCode::UNAUTHORIZED,
            code: INVALID_CREDENTIALS,
            challenges: self.challenges(bearer.as_deref()),
            message,
        }
    }

    /// One challenge per scheme the API accepts; `bearer_error` adds RFC 6750's error
    /// attributes to the Bearer one.
    fn challenges(&self, bearer_error: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        if self.jwt.is_some() {
            out.push(match bearer_error {
                Some(e) => format!("Bearer realm=\"{}\", {e}", self.realm),
                None => format!("Bearer realm=\"{}\"", self.realm),
            });
        }
        if self.basic.is_some() {
            out.push(format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm));
        }
        if let Some(k) = &self.api_key {
            let mut c = format!("ApiKey realm=\"{}\"", self.realm);
            if let Some(h) = &k.header {
                c.push_str(&format!(", header=\"{h}\""));
            }
            if let Some(q) = &k.query_parameter {
                c.push_str(&format!(", query=\"{q}\""));
            }
            out.push(c);
        }
        out
    }
}

/// RFC 6750's `error` and `error_description` attributes (the description without quotes
/// or backslashes, which the grammar forbids unescaped).
fn bearer_error(error: &str, description: &str) -> String {
    let clean: String = description
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c))
        .collect();
    format!("error=\"{error}\", error_description=\"{clean}\"")
}

/// The scopes a token grants: `scope` (space separated, RFC 8693) or `scp` (a list or a
/// string, as Azure AD and Okta write it).
pub fn granted_scopes(claims: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace().map(str::to_string)),
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
            }
            _ => {}
        }
    }
    out
}

/// `application/x-www-form-urlencoded` pairs of a query string, decoded.
fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(k), decode(v))
    })
}

#[cfg(test)]
mod tests;
