//! The HTTPS listener's TLS: certificate and key from PEM files, client certificates
//! verified against a CA bundle (mutual TLS, optional or required), HTTP/2 or HTTP/1.1 by
//! ALPN, and a reload when the files change.
//!
//! The files are read again every `--tls-reload-interval` seconds and compared with what
//! is in use; a change builds a new configuration beside the current one and swaps it in
//! for new connections (open ones keep theirs). Polling rather than file events: a
//! Kubernetes Secret volume changes by swapping a `..data` symlink, which inotify reports
//! on the directory, not on the `tls.crt` path being watched. A change that does not load
//! (a key that does not fit the certificate, a half-written file) is logged and the
//! current certificate stays.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_api::resources::{ClientAuth, TlsVersion};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

/// Where the listener's certificate comes from and what it asks of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    /// The certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// CA certificates (PEM) client certificates are verified against.
    pub client_ca: Option<PathBuf>,
    /// Whether client certificates are asked for, and required.
    pub client_auth: ClientAuth,
    /// The oldest version accepted.
    pub min_version: TlsVersion,
}

/// The listener's current TLS configuration, swapped when the files change.
pub struct ServerTls {
    settings: ServerTlsSettings,
    current: ArcSwap<ServerConfig>,
    /// The files' bytes behind `current`, to tell a change.
    loaded: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads the files; fails with what is wrong with them.
    pub fn load(settings: ServerTlsSettings) -> Result<Arc<Self>, String> {
        if settings.client_auth != ClientAuth::None && settings.client_ca.is_none() {
            return Err(
                "verifying client certificates (--tls-client-auth) needs --tls-client-ca".into(),
            );
        }
        let files = read_files(&settings)?;
        let config = build(&settings, &files)?;
        Ok(Arc::new(Self {
            settings,
            current: ArcSwap::from_pointee(config),
            loaded: Mutex::new(files.concat()),
        }))
    }

    /// The configuration for the next connection.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Reads the files again and swaps in a new configuration when they changed: `Ok(true)`
    /// when it did, `Err` (the current one stays) when the new files do not load.
    pub fn reload(&self) -> Result<bool, String> {
        let files = read_files(&self.settings)?;
        let joined = files.concat();
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if *loaded == joined {
            return Ok(false);
        }
        let config = build(&self.settings, &files)?;
        self.current.store(Arc::new(config));
        *loaded = joined;
        Ok(true)
    }

    /// Reloads every `every` until `stop` resolves.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            let this = Arc::clone(&self);
            // File reads are blocking calls: off the async workers.
            match tokio::task::spawn_blocking(move || this.reload()).await {
                Ok(Ok(true)) => tracing::info!(
                    cert = %self.settings.cert.display(),
                    "HTTPS certificate reloaded; new connections use it"
                ),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::error!(
                    error = %e,
                    "the changed HTTPS certificate files do not load; the previous certificate stays in use"
                ),
                Err(e) => tracing::warn!(error = %e, "the certificate reload task failed"),
            }
        }
    }
}

/// The files' contents: certificate, key, then the client CA when there is one.
fn read_files(settings: &ServerTlsSettings) -> Result<Vec<Vec<u8>>, String> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
    };
    let mut files = vec![
        read(&settings.cert, "the certificate")?,
        read(&settings.key, "the private key")?,
    ];
    if let Some(ca) = &settings.client_ca {
        files.push(read(ca, "the client CA")?);
    }
    Ok(files)
}

fn build(settings: &ServerTlsSettings, files: &[Vec<u8>]) -> Result<ServerConfig, String> {
    let cert_name = settings.cert.display().to_string();
    let key_name = settings.key.display().to_string();
    let chain = super::certificates(&files[0], &cert_name)?;
    let key = super::private_key(&files[1], &key_name)?;
    let builder = ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(super::versions(settings.min_version))
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match (settings.client_auth, files.get(2)) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca)) => {
            let ca_name = settings
                .client_ca
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string());
            let roots = super::root_store(ca, &ca_name)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), super::provider());
            let verifier = if mode == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("client CA {ca_name}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{key_name} does not fit {cert_name}: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests;
