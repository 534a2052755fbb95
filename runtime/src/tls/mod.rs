//! TLS in both directions, on rustls (ring): the HTTPS listener's certificate, reloaded
//! when its files change, and its verification of client certificates ([`server`]); the
//! client side every `https://` endpoint calls through ([`client`]); and what a verified
//! client certificate says about its holder, for expressions ([`peer`]); a development
//! certificate for a listener with none of its own ([`self_signed`]); and the TLS of
//! database connections, which sqlx makes itself ([`database`]).
//!
//! Versions are TLS 1.2 and 1.3 only; verification is never turned off.

pub mod client;
pub mod database;
pub mod peer;
pub mod self_signed;
pub mod server;

use std::sync::Arc;

use ferry_api::resources::TlsVersion;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The one crypto provider: ring, the one kube's client already builds.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions from `min` up.
pub fn versions(min: TlsVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static BOTH: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY_13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        TlsVersion::Tls12 => &BOTH,
        TlsVersion::Tls13 => &ONLY_13,
    }
}

/// The certificates in PEM text; `what` names them in the error.
pub fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The private key in PEM text (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("{what} holds no usable private key: {e}"))
}

/// A root store of the certificates in `pem`.
pub fn root_store(pem: &[u8], what: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(pem, what)? {
        roots
            .add(cert)
            .map_err(|e| format!("{what}: a certificate cannot be a trust anchor: {e}"))?;
    }
    Ok(roots)
}
