//! Credential lists: basic auth users (`name:bcrypt-hash`) and API keys (`name:sha256-hex`),
//! read from an environment variable (a Secret the operator injected) or a file (a mounted
//! Secret). Only hashes are held; a presented secret is hashed and compared in constant
//! time, and no error message ever quotes a credential.

use std::collections::HashMap;

use ferry_api::check::security::Credentials;
use sha2::{Digest, Sha256};

/// The text of a credential list or key.
pub fn read(source: &Credentials) -> Result<String, String> {
    match source {
        Credentials::Env(var) => std::env::var(var).map_err(|_| {
            format!("the environment variable {var} is not set (or not UTF-8): export it, or let the operator inject its Secret")
        }),
        Credentials::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {e}")),
    }
}

/// Lines that are not blank or `#` comments, numbered from 1.
fn entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Basic auth users with bcrypt hashes.
pub struct Users {
    hashes: HashMap<String, String>,
    /// Verified against when the user is unknown, so an unknown name costs as long as a
    /// wrong password (no user enumeration by timing).
    decoy: String,
}

impl Users {
    /// Parses `name:hash` lines; every hash must be bcrypt.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut hashes = HashMap::new();
        let mut cost = 10;
        for (n, line) in entries(text) {
            let Some((name, hash)) = line.split_once(':') else {
                return Err(format!("users line {n}: expected name:hash"));
            };
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                return Err(format!(
                    "users line {n} ({name}): the hash is not bcrypt ($2a$/$2b$/$2y$; `htpasswd -nbB` or `ferry hash-password` make one)"
                ));
            }
            if bcrypt::verify("", hash).is_err() {
                return Err(format!(
                    "users line {n} ({name}): the bcrypt hash is malformed"
                ));
            }
            cost = hash
                .get(4..6)
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(cost);
            hashes.insert(name.to_string(), hash.to_string());
        }
        if hashes.is_empty() {
            return Err("the users list is empty".into());
        }
        let decoy = bcrypt::hash("ferry-decoy", cost)
            .map_err(|e| format!("cannot make the decoy hash: {e}"))?;
        Ok(Users { hashes, decoy })
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        match self.hashes.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, &self.decoy);
                false
            }
        }
    }
}

/// API keys by their SHA-256.
pub struct ApiKeys {
    keys: Vec<([u8; 32], String)>,
}

impl ApiKeys {
    /// Parses `name:sha256-hex` lines.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (n, line) in entries(text) {
            let Some((name, hex)) = line.split_once(':') else {
                return Err(format!("API keys line {n}: expected name:sha256-hex"));
            };
            let digest = decode_hex32(hex.trim()).ok_or_else(|| {
                format!("API keys line {n} ({name}): expected the key's SHA-256 as 64 hex digits (`ferry hash-password --api-key` makes one)")
            })?;
            keys.push((digest, name.to_string()));
        }
        if keys.is_empty() {
            return Err("the API key list is empty".into());
        }
        Ok(ApiKeys { keys })
    }

    /// The name of the key `presented`, if it is one. Every key is compared, each in
    /// constant time.
    pub fn name_of(&self, presented: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (key, name) in &self.keys {
            if constant_time_eq(key, &digest) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// The SHA-256 of an API key, as the key list holds it.
pub fn api_key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bcrypt_user_is_verified_and_a_wrong_password_or_user_is_not() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Users::parse(&format!("# users\nalice:{hash}\n")).unwrap();
        assert!(users.verify("alice", "s3cret"));
        assert!(!users.verify("alice", "wrong"));
        assert!(!users.verify("bob", "s3cret"));
    }

    #[test]
    fn a_hash_that_is_not_bcrypt_is_refused_without_quoting_it() {
        let err = Users::parse("alice:plaintext").err().unwrap();
        assert!(err.contains("not bcrypt"), "{err}");
        assert!(!err.contains("plaintext"), "{err}");
    }

    #[test]
    fn api_keys_are_found_by_their_hash() {
        let keys = ApiKeys::parse(&format!("partner:{}\n", api_key_hash("k-123"))).unwrap();
        assert_eq!(keys.name_of("k-123"), Some("partner"));
        assert_eq!(keys.name_of("k-124"), None);
        assert!(ApiKeys::parse("partner:abc").is_err());
    }
}
