//! SFTP sessions over russh and russh-sftp: an SSH connection logged in with a private key
//! and/or a password, the server's host key checked against `hostKey` when one is set, and
//! the `sftp` subsystem on one channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use ferry_api::check::file_server::Server;
use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::OpenFlags;
use tokio::io::AsyncWriteExt;

use super::{Entry, Reader, err};

/// An SFTP session.
pub struct Session {
    pub(super) server: Server,
    ssh: client::Handle<HostKey>,
    sftp: SftpSession,
}

/// Checks the server's host key.
pub struct HostKey {
    expected: Option<String>,
    at: String,
}

/// Hosts whose key was accepted unchecked, warned about once per process.
static WARNED: AtomicBool = AtomicBool::new(false);

impl client::Handler for HostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(c) => {
                c.public_key().fingerprint(HashAlg::Sha256).to_string()
            }
        };
        match &self.expected {
            Some(expected) => {
                if *expected != fingerprint {
                    tracing::error!(server = %self.at, expected = %expected, presented = %fingerprint, "the SFTP server's host key is not the one configured (hostKey); not connecting");
                }
                Ok(*expected == fingerprint)
            }
            None => {
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(server = %self.at, host_key = %fingerprint, "accepting the SFTP server's host key unchecked; set server.hostKey to pin it");
                }
                Ok(true)
            }
        }
    }
}

impl Session {
    /// Connects, checks the host key, logs in and starts the `sftp` subsystem.
    pub async fn connect(server: &Server) -> Result<Self, String> {
        let config = Arc::new(client::Config {
            nodelay: true,
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        });
        let handler = HostKey {
            expected: server.host_key.clone(),
            at: server.display(),
        };
        let mut ssh = client::connect(config, (server.host.as_str(), server.port), handler)
            .await
            .map_err(|e| match e {
                russh::Error::UnknownKey => {
                    "the server's host key is not the one configured (hostKey)".to_string()
                }
                e => format!("cannot connect: {e}"),
            })?;
        let mut logged_in = false;
        let mut tried = Vec::new();
        if let Some(path) = &server.private_key_file {
            let key = russh::keys::load_secret_key(path, None)
                .map_err(|e| format!("cannot load the private key {path}: {e}"))?;
            let hash = ssh.best_supported_rsa_hash().await.map_err(err)?.flatten();
            let r = ssh
                .authenticate_publickey(
                    server.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(err)?;
            logged_in = r.success();
            tried.push("the private key");
        }
        if !logged_in && let Some(password) = super::password(server)? {
            let r = ssh
                .authenticate_password(server.user.clone(), password)
                .await
                .map_err(err)?;
            logged_in = r.success();
            tried.push("the password");
        }
        if !logged_in {
            return Err(format!(
                "the server refused the login of {} with {}",
                server.user,
                tried.join(" and ")
            ));
        }
        let channel = ssh.channel_open_session().await.map_err(err)?;
        channel.request_subsystem(true, "sftp").await.map_err(err)?;
        let sftp = SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| format!("cannot start sftp: {e}"))?;
        sftp.set_timeout(server.timeout.div_ceil(1000).max(1));
        Ok(Session {
            server: server.clone(),
            ssh,
            sftp,
        })
    }

    pub(super) async fn alive(&mut self) -> Result<(), String> {
        self.sftp.canonicalize(".").await.map(|_| ()).map_err(err)
    }

    pub(super) async fn list(&mut self, dir: &str) -> Result<Vec<Entry>, String> {
        let entries = self.sftp.read_dir(dir).await.map_err(err)?;
        Ok(entries
            .map(|e| {
                let meta = e.metadata();
                Entry {
                    name: e.file_name(),
                    size: meta.size.unwrap_or(0),
                    modified: meta
                        .mtime
                        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(s))),
                    is_file: meta.file_type().is_file(),
                }
            })
            .collect())
    }

    pub(super) async fn open(&mut self, path: &str) -> Result<Reader, String> {
        let f = self.sftp.open(path).await.map_err(err)?;
        Ok(Reader::Sftp(Box::new(f)))
    }

    pub(super) async fn upload(
        &mut self,
        path: &str,
        body: &[u8],
        append: bool,
    ) -> Result<(), String> {
        let flags = if append {
            OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::APPEND
        } else {
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE
        };
        let mut f = self.sftp.open_with_flags(path, flags).await.map_err(err)?;
        if append {
            // The server appends, but the client writes at its own offset: start at the end.
            let size = f.metadata().await.map_err(err)?.size.unwrap_or(0);
            tokio::io::AsyncSeekExt::seek(&mut f, std::io::SeekFrom::Start(size))
                .await
                .map_err(err)?;
        }
        f.write_all(body).await.map_err(err)?;
        f.flush().await.map_err(err)?;
        f.shutdown().await.map_err(err)?;
        Ok(())
    }

    pub(super) async fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.sftp.rename(from, to).await.map_err(err)
    }

    pub(super) async fn remove(&mut self, path: &str) -> Result<(), String> {
        self.sftp.remove_file(path).await.map_err(err)
    }

    pub(super) async fn exists(&mut self, path: &str) -> Result<bool, String> {
        self.sftp.try_exists(path).await.map_err(err)
    }

    pub(super) async fn is_dir(&mut self, path: &str) -> bool {
        self.sftp
            .metadata(path)
            .await
            .is_ok_and(|m| m.file_type().is_dir())
    }

    pub(super) async fn mkdir(&mut self, path: &str) -> Result<(), String> {
        self.sftp.create_dir(path).await.map_err(err)
    }

    pub(super) async fn close(self) {
        let _ = self.sftp.close().await;
        let _ = self
            .ssh
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}
