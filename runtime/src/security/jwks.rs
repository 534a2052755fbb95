//! A JSON Web Key Set fetched from a URL and cached.
//!
//! Keys are fetched on first use and again once they are older than the refresh period; a
//! token naming a `kid` the set does not have triggers one refetch, at most once per
//! `min_refetch` (so a stream of tokens with made-up kids cannot hammer the issuer). When the
//! key server is down the cached keys keep working; with no cached key that matches, the
//! token is refused with a reason that says so. One fetch at a time: concurrent requests
//! wait for the fetch in flight instead of starting their own.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::time::Instant;

use crate::endpoints::client::EndpointClient;

/// Largest key set read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Key families: which algorithms a key can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RSA (RS*, PS*).
    Rsa,
    /// Elliptic curve (ES*).
    Ec,
    /// Edwards curve (EdDSA).
    Ed,
    /// A shared secret (HS*).
    Hmac,
}

/// The family of an algorithm.
pub fn family(alg: Algorithm) -> Family {
    match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Family::Rsa,
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        Algorithm::EdDSA => Family::Ed,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
    }
}

/// One usable key of the set.
pub struct JwksKey {
    /// Its `kid`.
    pub kid: Option<String>,
    /// The verification key.
    pub key: DecodingKey,
    /// What it can verify.
    pub family: Family,
    /// The one algorithm it is for, when the set says (`alg`).
    pub algorithm: Option<Algorithm>,
}

#[derive(Default)]
struct State {
    keys: Vec<Arc<JwksKey>>,
    /// When the keys were last fetched successfully.
    fetched: Option<Instant>,
    /// When a fetch was last tried.
    tried: Option<Instant>,
}

/// A cached key set.
pub struct Jwks {
    url: http::Uri,
    client: EndpointClient,
    refresh: Duration,
    min_refetch: Duration,
    state: RwLock<State>,
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    /// A key set at `url`, fetched on first use.
    pub fn new(
        url: String,
        client: EndpointClient,
        refresh: Duration,
        min_refetch: Duration,
    ) -> Result<Self, String> {
        let url = url
            .parse::<http::Uri>()
            .map_err(|e| format!("the JWKS URL is not valid: {e}"))?;
        Ok(Jwks {
            url,
            client,
            refresh,
            min_refetch,
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key a token with this `kid` is verified with.
    pub async fn key(&self, kid: Option<&str>) -> Result<Arc<JwksKey>, String> {
        let now = Instant::now();
        let (found, stale, may_refetch) = {
            let state = self.read();
            let stale = state.fetched.is_none_or(|at| now >= at + self.refresh);
            let may_refetch = state.tried.is_none_or(|at| now >= at + self.min_refetch);
            (pick(&state.keys, kid), stale, may_refetch)
        };
        match found {
            Ok(key) if !stale => return Ok(key),
            // A known key in a stale set: refresh when allowed, and keep the key if the
            // refresh fails (the key server being down does not lock callers out).
            Ok(key) => {
                if may_refetch {
                    self.refetch(now).await;
                }
                return pick(&self.read().keys, kid).or(Ok(key));
            }
            Err(_) if may_refetch => self.refetch(now).await,
            Err(_) => {}
        }
        let state = self.read();
        pick(&state.keys, kid).map_err(|reason| match state.fetched {
            None => "the signing keys cannot be fetched".to_string(),
            Some(_) => reason,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetches the set unless another caller did since `asked`.
    async fn refetch(&self, asked: Instant) {
        let _one = self.fetching.lock().await;
        if self.read().tried.is_some_and(|at| at >= asked) {
            return;
        }
        let result = self.fetch().await;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.tried = Some(Instant::now());
        match result {
            Ok(keys) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS fetched");
                state.keys = keys;
                state.fetched = Some(Instant::now());
            }
            Err(error) => tracing::warn!(
                url = %self.url,
                %error,
                cached = state.keys.len(),
                "the JWKS could not be fetched; the cached keys stay in use"
            ),
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<JwksKey>>, String> {
        let req = http::Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|e| e.to_string())?;
        let resp = self
            .client
            .send_buffered(req, Some(FETCH_TIMEOUT), MAX_JWKS_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("the key server answered {}", resp.status()));
        }
        parse(resp.body())
    }
}

/// The usable keys of a JWKS document: symmetric (`oct`) keys, keys for encryption only,
/// and keys jsonwebtoken cannot read are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Arc<JwksKey>>, String> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let Some(items) = doc.get("keys").and_then(Value::as_array) else {
        return Err("the JWKS has no keys array".into());
    };
    let mut out = Vec::new();
    for item in items {
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        if item
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(_) => Family::Ec,
            AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
            // A shared secret published in a key set is a misconfiguration; never use it.
            AlgorithmParameters::OctetKey(_) => continue,
        };
        let algorithm = item
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Algorithm>().ok());
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.push(Arc::new(JwksKey {
            kid: jwk.common.key_id.clone(),
            key,
            family,
            algorithm,
        }));
    }
    Ok(out)
}

/// The key for `kid`; a token without one may use a set of exactly one key.
fn pick(keys: &[Arc<JwksKey>], kid: Option<&str>) -> Result<Arc<JwksKey>, String> {
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .cloned()
            .ok_or_else(|| format!("no signing key has the kid {kid:?}")),
        None => match keys {
            [one] => Ok(one.clone()),
            _ => Err("the token has no kid and the key set has several keys".into()),
        },
    }
}
