//! OAuth 2.0 client credentials (RFC 6749 section 4.4) for an endpoint's calls: a bearer
//! token fetched from the token URL, cached until shortly before it expires, and fetched
//! again at once when the backend answers 401 (once per call).
//!
//! Concurrent calls share one fetch: the first caller that finds no usable token fetches
//! while the others wait for it and take its token. The token request goes through the
//! endpoints' own HTTP client, so it gets the same TLS settings as every call. Neither the
//! client secret nor a token is ever logged or put in an error message.

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use ferry_api::check::endpoint::OAuthClient;
use http::{HeaderValue, Request, header};
use serde_json::Value;
use tokio::time::Instant;

use super::client::EndpointClient;
use crate::fault::{Fault, codes};

/// A token is renewed this long before it expires (at most half its lifetime).
const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// How long a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

#[derive(Clone)]
struct Token {
    authorization: HeaderValue,
    /// When to stop using it; `None`: until a backend refuses it.
    renew_at: Option<Instant>,
}

/// Where an endpoint gets its bearer tokens.
pub struct TokenSource {
    url: http::Uri,
    form: String,
    basic: Option<HeaderValue>,
    client: EndpointClient,
    current: RwLock<Option<Token>>,
    fetching: tokio::sync::Mutex<()>,
}

impl TokenSource {
    /// Builds the source; the client secret is read from its environment variable now.
    pub fn build(spec: &OAuthClient, client: EndpointClient) -> Result<Self, String> {
        let secret = std::env::var(&spec.client_secret_env).map_err(|_| {
            format!(
                "the environment variable {} holding the OAuth client secret is not set",
                spec.client_secret_env
            )
        })?;
        let url = spec
            .token_url
            .parse::<http::Uri>()
            .map_err(|e| format!("the token URL is not valid: {e}"))?;
        let mut form = form_urlencoded(&[("grant_type", "client_credentials")]);
        let mut add = |k: &str, v: &str| {
            form.push('&');
            form.push_str(&form_urlencoded(&[(k, v)]));
        };
        if !spec.scopes.is_empty() {
            add("scope", &spec.scopes.join(" "));
        }
        if let Some(audience) = &spec.audience {
            add("audience", audience);
        }
        for (k, v) in &spec.parameters {
            add(k, v);
        }
        let basic = if spec.credentials_in_header {
            // RFC 6749 section 2.3.1: each part form-encoded, then Basic.
            let pair = format!(
                "{}:{}",
                form_component(&spec.client_id),
                form_component(&secret)
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            Some(
                HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| "the client id cannot go in a header".to_string())?,
            )
        } else {
            add("client_id", &spec.client_id);
            add("client_secret", &secret);
            None
        };
        Ok(TokenSource {
            url,
            form,
            basic,
            client,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The `Authorization` value to send: the cached token while it is fresh, else a new
    /// one (fetched once for every caller waiting).
    pub async fn authorization(&self) -> Result<HeaderValue, Fault> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _one = self.fetching.lock().await;
        // Fetched by the caller we waited for.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let token = self.fetch().await?;
        let value = token.authorization.clone();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(value)
    }

    /// Forgets `refused` (the backend answered 401 to it), so the next
    /// [`TokenSource::authorization`] fetches a new token; a newer token another call
    /// already fetched is kept.
    pub fn refused(&self, refused: &HeaderValue) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|t| t.authorization == refused) {
            *current = None;
        }
    }

    fn fresh(&self) -> Option<HeaderValue> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        let token = current.as_ref()?;
        match token.renew_at {
            Some(at) if Instant::now() >= at => None,
            _ => Some(token.authorization.clone()),
        }
    }

    async fn fetch(&self) -> Result<Token, Fault> {
        let failed = |message: String| {
            Fault::upstream(
                codes::SENDING_FAILED,
                format!("no OAuth token from {}: {message}", self.url),
                true,
            )
        };
        let mut req = Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Bytes::from(self.form.clone()))
            .map_err(|e| failed(e.to_string()))?;
        if let Some(basic) = &self.basic {
            req.headers_mut()
                .insert(header::AUTHORIZATION, basic.clone());
        }
        let asked = Instant::now();
        let resp = self
            .client
            .send_buffered(req, Some(TOKEN_TIMEOUT), MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = resp.status();
        let body: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        if !status.is_success() {
            // RFC 6749 section 5.2: `error` names the problem (never echo the body whole).
            let error = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            return Err(failed(format!(
                "the token endpoint answered {status} ({error})"
            )));
        }
        let Some(access) = body.get("access_token").and_then(Value::as_str) else {
            return Err(failed("the answer has no access_token".into()));
        };
        if let Some(kind) = body.get("token_type").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(failed(format!("the token type {kind:?} is not Bearer")));
        }
        let authorization = HeaderValue::from_str(&format!("Bearer {access}"))
            .map_err(|_| failed("the access token cannot go in a header".into()))?;
        let lifetime = body
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(Duration::from_secs);
        let renew_at = lifetime.map(|life| asked + life - RENEW_BEFORE.min(life / 2));
        tracing::debug!(url = %self.url, expires_in = ?lifetime, "OAuth token fetched");
        Ok(Token {
            authorization,
            renew_at,
        })
    }
}

/// `k=v&...`, form-encoded.
fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_component(k), form_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One form-encoded component (`application/x-www-form-urlencoded`).
fn form_component(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const FORM: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'*')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_');
    utf8_percent_encode(s, FORM).to_string().replace("%20", "+")
}
