//! The client side of TLS: the rustls configuration an `https://` endpoint connects with,
//! the stream a pooled connection runs over, and the words a failed handshake is reported
//! in.
//!
//! Verification is always on: the operating system's CA store (`rustls-native-certs`:
//! `/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`), plus the endpoint's own CA
//! certificates when it names some (`tls.caFrom`). A certificate problem fails the call
//! with fault 101500 and a message that names it; it is never downgraded to plain text or
//! to an unverified connection.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use ferry_api::check::tls::ClientTls;
use ferry_api::resources::TlsVersion;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TLS client configuration and its identity in the connection pool: connections made
/// with one profile are never handed to calls of another (a different CA or client
/// certificate must not reuse a connection verified or authenticated with another).
#[derive(Debug)]
pub struct TlsProfile {
    /// Distinguishes profiles in the pool's keys.
    pub id: u64,
    /// The rustls configuration.
    pub config: Arc<ClientConfig>,
    /// The name sent as SNI and verified, when not the URL's host.
    pub server_name: Option<ServerName<'static>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TlsProfile {
    /// The profile of an endpoint's `tls` block, reading its PEM from the environment.
    pub fn build(tls: &ClientTls) -> Result<Self, String> {
        let mut roots = system_roots().clone();
        if let Some(var) = &tls.ca_env {
            let pem = read_env(var, "the CA certificates")?;
            for cert in super::certificates(pem.as_bytes(), &format!("caFrom ({var})"))? {
                roots
                    .add(cert)
                    .map_err(|e| format!("caFrom ({var}): not a usable CA certificate: {e}"))?;
            }
        }
        let builder = ClientConfig::builder_with_provider(super::provider())
            .with_protocol_versions(super::versions(tls.min_version))
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_root_certificates(roots);
        let mut config = match &tls.identity_env {
            None => builder.with_no_client_auth(),
            Some((cert_var, key_var)) => {
                let cert = read_env(cert_var, "the client certificate")?;
                let key = read_env(key_var, "the client key")?;
                let chain =
                    super::certificates(cert.as_bytes(), &format!("certFrom ({cert_var})"))?;
                let key = super::private_key(key.as_bytes(), &format!("keyFrom ({key_var})"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("certFrom/keyFrom: the key does not fit: {e}"))?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match &tls.server_name {
            None => None,
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|e| format!("serverName {name:?}: {e}"))?,
            ),
        };
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config: Arc::new(config),
            server_name,
        })
    }

    /// The configuration for a protocol other than HTTP (AMQP, Redis, PostgreSQL): the
    /// same trust and identity, without offering `http/1.1` by ALPN.
    pub fn config_without_alpn(&self) -> Arc<ClientConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = Vec::new();
        Arc::new(config)
    }

    /// The profile of an `https://` endpoint without a `tls` block: system roots, TLS 1.2+,
    /// no client certificate. Built once, on the first such call.
    pub fn default_profile() -> Result<Arc<Self>, String> {
        static DEFAULT: OnceLock<Result<Arc<TlsProfile>, String>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Self::build(&ClientTls {
                    ca_env: None,
                    identity_env: None,
                    server_name: None,
                    min_version: TlsVersion::Tls12,
                })
                .map(Arc::new)
            })
            .clone()
    }
}

fn read_env(var: &str, what: &str) -> Result<String, String> {
    std::env::var(var)
        .map_err(|_| format!("the environment variable {var} holding {what} is not set"))
}

/// The operating system's trusted CAs, read once. Unreadable entries are skipped (and
/// logged): one broken file in `/etc/ssl/certs` must not stop every `https` call.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system CA certificate could not be read");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!(
                ignored,
                "no system CA certificates found: https endpoints verify only against their own tls.caFrom"
            );
        }
        roots
    })
}

/// The name to send and verify for a URL host `host` (an IP address or a DNS name).
pub fn server_name(profile: &TlsProfile, host: &str) -> Result<ServerName<'static>, String> {
    if let Some(name) = &profile.server_name {
        return Ok(name.clone());
    }
    // A bracketed IPv6 host (`[::1]`) is an address.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|e| format!("{host} cannot be a TLS server name: {e}"))
}

/// Why a handshake failed, in words an operator acts on; `None` when `err` is not a TLS
/// error (a reset connection is a connection problem).
pub fn handshake_failure(err: &io::Error) -> Option<String> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(describe(tls))
}

/// A rustls error in an operator's words.
pub fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the backend's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the backend's certificate is not valid yet".into()
            }
            CertificateError::UnknownIssuer => {
                "the backend's certificate is not signed by a trusted CA (unknown issuer; self-signed or a private CA: add it with tls.caFrom)".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the backend's certificate is not valid for the host name it was called by (wrong host; tls.serverName sets the name checked): {err}"
                )
            }
            CertificateError::Revoked => "the backend's certificate is revoked".into(),
            other => format!("the backend's certificate is not acceptable: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the backend refused the handshake ({alert:?}): it may require a client certificate (tls.certFrom) or refuse the one sent")
        }
        rustls::Error::PeerIncompatible(why) => {
            format!("the backend speaks no TLS version or cipher Ferry accepts (1.2 or newer, tls.minVersion): {why:?}")
        }
        other => format!("TLS failed: {other}"),
    }
}

// === impl BackendStream ===

/// A backend connection: plain TCP or TLS over it.
pub enum BackendStream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`. Boxed: the TLS state is large and most connections are plain.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            BackendStream::Plain(s) => s.is_write_vectored(),
            BackendStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
