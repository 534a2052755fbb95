//! Remote file systems (Synapse's VFS transport over SFTP, FTP and FTPS): one session to a
//! server, with the few operations the file inbound endpoint and the file endpoints need —
//! list a directory, read a file as a stream, write (overwrite, create, append), rename,
//! delete and make directories.
//!
//! Every operation runs under the server's `timeout`. Errors are sentences naming the
//! server as `protocol://user@host:port` and the path; a password never appears in them
//! (it is read from its file only to log in).
//!
//! Writes are as safe as the protocol allows: `overwrite` and `create` upload to a hidden
//! temporary name (`.NAME.ferry-N.tmp`, which a file inbound never takes) and rename it to
//! the target, so a reader never sees half a file. OpenSSH's SFTP server refuses to rename
//! over an existing file; `overwrite` then removes the old file first (a reader may find no
//! file for that instant, never a partial one).

pub mod ftp;
pub mod sftp;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use ferry_api::check::file_server::{Password, Server};
use ferry_api::resources::FileProtocol;
use tokio::io::{AsyncRead, ReadBuf};

/// One entry of a remote directory.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last modified, as the server says.
    pub modified: Option<SystemTime>,
    /// Whether it is a regular file.
    pub is_file: bool,
}

/// How a remote file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Replace it.
    Overwrite,
    /// Fail when it exists.
    Create,
    /// Add to its end, creating it when missing.
    Append,
}

/// A logged-in session to a remote file server.
pub enum Session {
    /// SFTP.
    Sftp(Box<sftp::Session>),
    /// FTP or FTPS.
    Ftp(Box<ftp::Session>),
}

/// A remote file being read: an `AsyncRead`, to be handed back to
/// [`Session::finish_read`].
pub enum Reader {
    /// An SFTP file.
    Sftp(Box<russh_sftp::client::fs::File>),
    /// An FTP data transfer.
    Ftp(Box<suppaftp::tokio::TransferStream<suppaftp::tokio::AsyncRustlsStream>>),
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Reader::Sftp(f) => Pin::new(f.as_mut()).poll_read(cx, buf),
            Reader::Ftp(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

static NEXT_TEMP: AtomicU64 = AtomicU64::new(1);

/// `dir/name`, for remote paths (always `/`).
pub fn join(dir: &str, name: &str) -> String {
    match dir {
        "" | "." => name.to_string(),
        d if d.ends_with('/') => format!("{d}{name}"),
        d => format!("{d}/{name}"),
    }
}

/// Calls the same method of whichever session `$session` is (`s` in `$call`): the two
/// sessions offer the same operations, each over its own client library.
macro_rules! each {
    ($session:expr, $s:ident => $call:expr) => {
        match $session {
            Session::Sftp($s) => $call,
            Session::Ftp($s) => $call,
        }
    };
}

/// A client library's error as the sentence the operations return.
fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The password of `server`, read from its file (less a final line break).
pub(crate) fn password(server: &Server) -> Result<Option<String>, String> {
    match &server.password {
        None => Ok(None),
        Some(Password::Inline(p)) => Ok(Some(p.clone())),
        Some(Password::File(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the password file {path}: {e}"))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            Ok(Some(text.strip_suffix('\r').unwrap_or(text).to_string()))
        }
    }
}

/// Runs `op` under the server's timeout.
async fn timed<T>(
    server: &Server,
    what: &str,
    op: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(Duration::from_millis(server.timeout), op).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{}: {what}: no answer within {} ms",
            server.display(),
            server.timeout
        )),
    }
}

impl Session {
    /// Connects and logs in.
    pub async fn connect(server: &Server) -> Result<Self, String> {
        let at = server.display();
        timed(server, "connect", async {
            match server.protocol {
                FileProtocol::Sftp => sftp::Session::connect(server)
                    .await
                    .map(|s| Session::Sftp(Box::new(s))),
                FileProtocol::Ftp | FileProtocol::Ftps => ftp::Session::connect(server)
                    .await
                    .map(|s| Session::Ftp(Box::new(s))),
            }
        })
        .await
        .map_err(|e| {
            if e.starts_with(&at) {
                e
            } else {
                format!("{at}: {e}")
            }
        })
    }

    fn server(&self) -> &Server {
        each!(self, s => &s.server)
    }

    /// Whether the session still answers (a cheap round trip).
    pub async fn alive(&mut self) -> bool {
        let server = self.server().clone();
        timed(&server, "check", async {
            each!(self, s => s.alive().await)
        })
        .await
        .is_ok()
    }

    /// The entries of `dir`.
    pub async fn list(&mut self, dir: &str) -> Result<Vec<Entry>, String> {
        let server = self.server().clone();
        timed(&server, &format!("list {dir}"), async {
            each!(self, s => s.list(dir).await)
        })
        .await
        .map_err(|e| format!("{}: cannot list {dir}: {e}", server.display()))
    }

    /// Opens `path` for reading.
    pub async fn open(&mut self, path: &str) -> Result<Reader, String> {
        let server = self.server().clone();
        timed(&server, &format!("open {path}"), async {
            each!(self, s => s.open(path).await)
        })
        .await
        .map_err(|e| format!("{}: cannot open {path}: {e}", server.display()))
    }

    /// Ends a read (FTP reads the transfer's completion reply).
    pub async fn finish_read(&mut self, reader: Reader) -> Result<(), String> {
        let server = self.server().clone();
        timed(&server, "finish a read", async {
            match (self, reader) {
                (Session::Ftp(s), Reader::Ftp(t)) => s.finish(*t).await,
                _ => Ok(()),
            }
        })
        .await
    }

    /// Writes `body` as `dir/name`, creating `dir` first when `create_directory`.
    pub async fn write(
        &mut self,
        dir: &str,
        name: &str,
        body: &[u8],
        how: Write,
        create_directory: bool,
    ) -> Result<(), String> {
        let server = self.server().clone();
        let target = join(dir, name);
        timed(&server, &format!("write {target}"), async {
            if create_directory {
                self.mkdir_all(dir).await?;
            }
            match how {
                Write::Append => self.append(&target, body).await,
                Write::Overwrite | Write::Create => {
                    if how == Write::Create && self.exists(&target).await? {
                        return Err("the file exists (mode create)".into());
                    }
                    let temp = join(
                        dir,
                        &format!(
                            ".{name}.ferry-{}.tmp",
                            NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
                        ),
                    );
                    self.upload(&temp, body).await?;
                    let renamed = self
                        .rename_raw(&temp, &target, how == Write::Overwrite)
                        .await;
                    if renamed.is_err() {
                        let _ = self.remove_raw(&temp).await;
                    }
                    renamed
                }
            }
        })
        .await
        .map_err(|e| format!("{}: cannot write {target}: {e}", server.display()))
    }

    /// Renames `from` to `to`; with `replace` an existing `to` is replaced, otherwise the
    /// rename fails when it exists.
    pub async fn rename(&mut self, from: &str, to: &str, replace: bool) -> Result<(), String> {
        let server = self.server().clone();
        timed(&server, &format!("rename {from}"), async {
            if !replace && self.exists(to).await? {
                return Err(format!("{to} exists"));
            }
            self.rename_raw(from, to, replace).await
        })
        .await
        .map_err(|e| format!("{}: cannot move {from} to {to}: {e}", server.display()))
    }

    /// Deletes the file `path`.
    pub async fn remove(&mut self, path: &str) -> Result<(), String> {
        let server = self.server().clone();
        timed(&server, &format!("delete {path}"), self.remove_raw(path))
            .await
            .map_err(|e| format!("{}: cannot delete {path}: {e}", server.display()))
    }

    /// Whether `path` exists.
    pub async fn exists(&mut self, path: &str) -> Result<bool, String> {
        each!(self, s => s.exists(path).await)
    }

    /// Makes `dir` and its parents when missing.
    pub async fn mkdir_all(&mut self, dir: &str) -> Result<(), String> {
        if matches!(dir, "" | "." | "/") {
            return Ok(());
        }
        let mut at = String::new();
        if dir.starts_with('/') {
            at.push('/');
        }
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            if !at.is_empty() && !at.ends_with('/') {
                at.push('/');
            }
            at.push_str(part);
            // Made by someone else meanwhile is as good; only the last one must exist.
            let made = each!(self, s => s.mkdir(&at).await);
            if made.is_err() && i + 1 == parts.len() && !self.is_dir(&at).await {
                return made.map_err(|e| format!("cannot make the directory {at}: {e}"));
            }
        }
        Ok(())
    }

    async fn is_dir(&mut self, path: &str) -> bool {
        each!(self, s => s.is_dir(path).await)
    }

    async fn upload(&mut self, path: &str, body: &[u8]) -> Result<(), String> {
        each!(self, s => s.upload(path, body, false).await)
    }

    async fn append(&mut self, path: &str, body: &[u8]) -> Result<(), String> {
        each!(self, s => s.upload(path, body, true).await)
    }

    async fn rename_raw(&mut self, from: &str, to: &str, replace: bool) -> Result<(), String> {
        let first = each!(self, s => s.rename(from, to).await);
        match first {
            // A server that does not rename over a file (OpenSSH's): remove it first.
            Err(_) if replace && self.exists(to).await.unwrap_or(false) => {
                self.remove_raw(to).await?;
                each!(self, s => s.rename(from, to).await)
            }
            other => other,
        }
    }

    async fn remove_raw(&mut self, path: &str) -> Result<(), String> {
        each!(self, s => s.remove(path).await)
    }

    /// Logs out and closes the connection.
    pub async fn close(self) {
        each!(self, s => s.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_join_with_slashes() {
        assert_eq!(join("/in", "a.csv"), "/in/a.csv");
        assert_eq!(join("/in/", "a.csv"), "/in/a.csv");
        assert_eq!(join(".", "a.csv"), "a.csv");
        assert_eq!(join("out", "a.csv"), "out/a.csv");
    }
}
