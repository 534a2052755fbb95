//! FTP and FTPS sessions over suppaftp: passive mode, binary transfers, and for FTPS explicit
//! TLS (`AUTH TLS`, then `PBSZ 0` and `PROT P` so the data connections are protected too)
//! with the same rustls configuration and CAs as an endpoint's `tls` block. Directories are
//! listed with `MLSD`, or `LIST` where the server has no `MLSD`.

use std::sync::Arc;

use ferry_api::check::file_server::Server;
use ferry_api::resources::FileProtocol;
use suppaftp::list::{File, ListParser};
use suppaftp::tokio::{
    AsyncRustlsConnector, AsyncRustlsFtpStream, AsyncRustlsStream, TransferStream,
};
use suppaftp::types::FileType;

use super::{Entry, Reader, err};
use crate::tls::client::TlsProfile;

/// An FTP or FTPS session.
pub struct Session {
    pub(super) server: Server,
    ftp: AsyncRustlsFtpStream,
    /// Whether the server lists with MLSD (found out by the first listing).
    mlsd: Option<bool>,
}

impl Session {
    /// Connects, secures the control connection for FTPS, logs in and switches to binary.
    pub async fn connect(server: &Server) -> Result<Self, String> {
        let addr = tokio::net::lookup_host((server.host.as_str(), server.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", server.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", server.host))?;
        let mut ftp = AsyncRustlsFtpStream::connect_timeout(
            addr,
            std::time::Duration::from_millis(server.timeout),
        )
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
        if server.protocol == FileProtocol::Ftps {
            let Some(tls) = &server.tls else {
                return Err("ftps without TLS settings".into());
            };
            let profile = TlsProfile::build(tls)?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&profile.config));
            ftp = ftp
                .into_secure(AsyncRustlsConnector::from(connector), &server.host)
                .await
                .map_err(|e| format!("cannot secure the connection (AUTH TLS): {e}"))?;
        }
        let password = super::password(server)?.unwrap_or_default();
        ftp.login(&server.user, &password)
            .await
            .map_err(|e| format!("the server refused the login of {}: {e}", server.user))?;
        ftp.transfer_type(FileType::Binary).await.map_err(err)?;
        Ok(Session {
            server: server.clone(),
            ftp,
            mlsd: None,
        })
    }

    pub(super) async fn alive(&mut self) -> Result<(), String> {
        self.ftp.noop().await.map_err(err)
    }

    pub(super) async fn list(&mut self, dir: &str) -> Result<Vec<Entry>, String> {
        if self.mlsd != Some(false) {
            match self.ftp.mlsd(Some(dir)).await {
                Ok(lines) => {
                    self.mlsd = Some(true);
                    return Ok(lines
                        .iter()
                        .filter_map(|l| ListParser::parse_mlsd(l).ok())
                        .map(entry)
                        .collect());
                }
                // A server without MLSD says so with 500/502; anything else is an error.
                Err(suppaftp::FtpError::UnexpectedResponse(r))
                    if self.mlsd.is_none() && matches!(r.status.code(), 500 | 502) =>
                {
                    self.mlsd = Some(false);
                }
                Err(e) => return Err(err(e)),
            }
        }
        let lines = self.ftp.list(Some(dir)).await.map_err(err)?;
        Ok(lines
            .iter()
            .filter_map(|l| l.parse::<File>().ok())
            .map(entry)
            .collect())
    }

    pub(super) async fn open(&mut self, path: &str) -> Result<Reader, String> {
        let t = self.ftp.retr_as_stream(path).await.map_err(err)?;
        Ok(Reader::Ftp(Box::new(t)))
    }

    pub(super) async fn finish(
        &mut self,
        t: TransferStream<AsyncRustlsStream>,
    ) -> Result<(), String> {
        t.finish().await.map_err(err)
    }

    pub(super) async fn upload(
        &mut self,
        path: &str,
        body: &[u8],
        append: bool,
    ) -> Result<(), String> {
        let mut reader = body;
        if append {
            self.ftp.append_file(path, &mut reader).await.map_err(err)?;
        } else {
            self.ftp.put_file(path, &mut reader).await.map_err(err)?;
        }
        Ok(())
    }

    pub(super) async fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.ftp.rename(from, to).await.map_err(err)
    }

    pub(super) async fn remove(&mut self, path: &str) -> Result<(), String> {
        self.ftp.rm(path).await.map_err(err)
    }

    pub(super) async fn exists(&mut self, path: &str) -> Result<bool, String> {
        match self.ftp.size(path).await {
            Ok(_) => Ok(true),
            Err(suppaftp::FtpError::UnexpectedResponse(r)) if r.status.code() == 550 => {
                // Not a file: a directory of that name exists too.
                Ok(self.is_dir(path).await)
            }
            Err(e) => Err(err(e)),
        }
    }

    pub(super) async fn is_dir(&mut self, path: &str) -> bool {
        let Ok(here) = self.ftp.pwd().await else {
            return false;
        };
        let is_dir = self.ftp.cwd(path).await.is_ok();
        if is_dir {
            let _ = self.ftp.cwd(&here).await;
        }
        is_dir
    }

    pub(super) async fn mkdir(&mut self, path: &str) -> Result<(), String> {
        self.ftp.mkdir(path).await.map_err(err)
    }

    pub(super) async fn close(mut self) {
        let _ = self.ftp.quit().await;
    }
}

fn entry(f: File) -> Entry {
    Entry {
        name: f.name().to_string(),
        size: u64::try_from(f.size()).unwrap_or(u64::MAX),
        modified: Some(f.modified()),
        is_file: f.is_file(),
    }
}
