//! JWT bearer token validation: the signature with a static key or a key from a JWKS, then
//! `exp`/`nbf` (with leeway), `iss` and `aud`.
//!
//! Algorithm confusion is closed three ways: the token's `alg` must be one the API lists
//! (never `none`, which jsonwebtoken does not even parse), the key must be of that
//! algorithm's family (an RSA public key is never used as an HMAC secret), and a JWKS key
//! that names its own `alg` is used for that algorithm only.

use std::collections::HashMap;

use ferry_api::check::security::{Jwt, JwtKeys};
use ferry_api::resources::JwtAlgorithm;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::credentials;
use super::jwks::{Jwks, JwksKey};
use crate::endpoints::client::EndpointClient;

/// Why a token is refused (a description safe to send back: never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// `error="invalid_token"`, with the reason.
    Invalid(String),
}

/// Validates tokens for one API.
pub struct JwtValidator {
    keys: Keys,
    /// One validation per accepted algorithm.
    validations: HashMap<Algorithm, Validation>,
}

enum Keys {
    Static(DecodingKey),
    Jwks(Jwks),
}

/// The jsonwebtoken algorithm of a configured one.
pub fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::Es256 => Algorithm::ES256,
        JwtAlgorithm::EdDsa => Algorithm::EdDSA,
        JwtAlgorithm::Hs256 => Algorithm::HS256,
    }
}

impl JwtValidator {
    /// Builds the validator; a static key is read and parsed now.
    pub fn build(spec: &Jwt, client: EndpointClient) -> Result<Self, String> {
        let validations = spec
            .algorithms
            .iter()
            .map(|a| {
                let alg = algorithm(*a);
                let mut v = Validation::new(alg);
                v.leeway = spec.leeway.as_secs();
                v.validate_nbf = true;
                v.validate_exp = true;
                v.set_required_spec_claims(&["exp"]);
                match &spec.issuer {
                    Some(iss) => v.set_issuer(&[iss]),
                    None => v.iss = None,
                }
                if spec.audiences.is_empty() {
                    v.validate_aud = false;
                } else {
                    v.set_audience(&spec.audiences);
                }
                (alg, v)
            })
            .collect();
        let keys = match &spec.keys {
            JwtKeys::Static(source) => {
                let text = credentials::read(source)?;
                let alg = spec
                    .algorithms
                    .first()
                    .copied()
                    .unwrap_or(JwtAlgorithm::Rs256);
                Keys::Static(static_key(alg, text.as_bytes())?)
            }
            JwtKeys::Jwks(url) => Keys::Jwks(Jwks::new(
                url.clone(),
                client,
                spec.jwks_refresh,
                spec.jwks_min_refetch,
            )?),
        };
        Ok(JwtValidator { keys, validations })
    }

    /// The token's claims when it is valid.
    pub async fn validate(&self, token: &str) -> Result<Value, JwtError> {
        let invalid = |m: &str| JwtError::Invalid(m.to_string());
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the token is malformed or its algorithm is not supported"))?;
        let validation = self
            .validations
            .get(&header.alg)
            .ok_or_else(|| invalid(&format!("the algorithm {:?} is not accepted", header.alg)))?;
        let found;
        let key = match &self.keys {
            Keys::Static(key) => key,
            Keys::Jwks(jwks) => {
                found = jwks
                    .key(header.kid.as_deref())
                    .await
                    .map_err(JwtError::Invalid)?;
                usable(&found, header.alg)?;
                &found.key
            }
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map_err(|e| JwtError::Invalid(describe(&e)))?;
        Ok(Value::Object(data.claims))
    }
}

/// Whether a JWKS key may verify a token signed with `alg`.
fn usable(key: &JwksKey, alg: Algorithm) -> Result<(), JwtError> {
    if let Some(own) = key.algorithm
        && own != alg
    {
        return Err(JwtError::Invalid(format!(
            "the key is for {own:?}, the token says {alg:?}"
        )));
    }
    if key.family != super::jwks::family(alg) {
        return Err(JwtError::Invalid(format!(
            "the key cannot verify {alg:?} signatures"
        )));
    }
    Ok(())
}

/// A static key for `alg`: PEM for the public-key algorithms, the bytes themselves (trailing
/// newline dropped) for HS256.
fn static_key(alg: JwtAlgorithm, text: &[u8]) -> Result<DecodingKey, String> {
    let pem = |r: jsonwebtoken::errors::Result<DecodingKey>, what: &str| {
        r.map_err(|e| format!("the static key is not a PEM {what} public key: {e}"))
    };
    match alg {
        JwtAlgorithm::Rs256 => pem(DecodingKey::from_rsa_pem(text), "RSA"),
        JwtAlgorithm::Es256 => pem(DecodingKey::from_ec_pem(text), "EC P-256"),
        JwtAlgorithm::EdDsa => pem(DecodingKey::from_ed_pem(text), "Ed25519"),
        JwtAlgorithm::Hs256 => {
            let secret = text.strip_suffix(b"\n").unwrap_or(text);
            if secret.len() < 32 {
                return Err(
                    "an HS256 secret must be at least 32 bytes (RFC 7518 section 3.2)".into(),
                );
            }
            Ok(DecodingKey::from_secret(secret))
        }
    }
}

/// A reason for a refused token, without its content.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        K::InvalidSignature => "the signature does not verify".into(),
        K::InvalidIssuer => "the issuer is not accepted".into(),
        K::InvalidAudience => "the audience is not accepted".into(),
        K::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        K::InvalidAlgorithm => "the algorithm does not match the key".into(),
        _ => "the token is malformed".into(),
    }
}
