//! File endpoints: a `call` or `send` to an endpoint with a `file` block (or an address
//! `vfs:file:///...`, `vfs:sftp://...`, `vfs:ftp://...`, `vfs:ftps://...`, as Micro
//! Integrator's VFS sender writes it) writes the message's payload to a file in a local or
//! remote directory, or moves a file there.
//!
//! - `overwrite` and `create` are atomic: the payload goes to a hidden temporary file in the
//!   same directory (`.NAME.PID.N.tmp`, which a file inbound endpoint never takes), is
//!   flushed to disk, and then renamed over the target (`overwrite`) or linked to it only
//!   if no file of that name exists (`create`). A reader never sees half a file, and a
//!   crash leaves at most a temporary file behind, never a truncated target.
//! - `append` adds the payload (and a line break with `appendNewline`) to the end of the
//!   file, creating it when missing, and flushes it; a crash during the write can leave a
//!   partial last record.
//! - `move` renames `sourceDirectory/sourceFileName` to `directory/fileName` (MI's file
//!   connector `move`); the payload is not written. Without `replaceExisting` the move
//!   fails when the destination exists. Across file systems the file is copied to a
//!   temporary file beside the destination, flushed, renamed (or linked) into place, and
//!   only then deleted at its source: a crash leaves it at both places, never at none.
//! - The file names are rendered per message and must be names, not paths: a message can
//!   never write or move outside the endpoint's directories.
//! - On a remote `server` the endpoint keeps one logged-in session, checked with a cheap
//!   round trip before each call and made again when it was lost; calls to one endpoint
//!   run one at a time on it (see `vfs` for how each protocol writes).
//! - The call returns once the data is on disk (or the server acknowledged it); the message
//!   goes on unchanged. A failure (permissions, a full disk, `create` on an existing file,
//!   a server that cannot be reached) is a fault 101500 naming the file and the reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use ferry_api::check::file_target::{self, FileName, FileTarget};
use ferry_api::resources::FileWriteMode;
use serde_json::Value;

use super::endpoint::Delivery;
use crate::expr::context::PropertyScope;
use crate::expr::value::render;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::vfs;

/// The message property naming the file when a `vfs:` address names a directory (MI's).
pub const REPLY_FILE_NAME: &str = "transport.vfs.ReplyFileName";

static NEXT_TEMP: AtomicU64 = AtomicU64::new(1);

/// A file endpoint.
pub struct FileEndpoint {
    target: FileTarget,
    /// The session to the remote server, kept between calls.
    remote: tokio::sync::Mutex<Option<vfs::Session>>,
}

impl FileEndpoint {
    /// The endpoint writing as `target` says.
    pub fn new(target: &FileTarget) -> Self {
        Self {
            target: target.clone(),
            remote: tokio::sync::Mutex::new(None),
        }
    }

    /// Writes `msg`'s payload, or moves the file it names.
    pub async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let t = &self.target;
        let fail = |why: String| {
            Fault::upstream(
                codes::SENDING_FAILED,
                format!("endpoint {name}: {why}"),
                false,
            )
        };
        let file_name = match &t.file_name {
            FileName::Template(tpl) => render(tpl, msg)?,
            FileName::Vfs { file } => match msg.property(PropertyScope::Default, REPLY_FILE_NAME)
            {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => file.clone().ok_or_else(|| {
                    fail(format!(
                        "the address names a directory: set the property {REPLY_FILE_NAME} to the file's name"
                    ))
                })?,
                Some(other) => other.to_string(),
            },
        };
        file_target::plain_name(&file_name).map_err(fail)?;
        if t.mode == FileWriteMode::Move {
            let Some(source) = &t.source else {
                return Err(fail("mode move without a source directory".into()));
            };
            let source_name = match &source.file_name {
                Some(tpl) => render(tpl, msg)?,
                None => file_name.clone(),
            };
            file_target::plain_name(&source_name).map_err(fail)?;
            if t.server.is_some() {
                let from = vfs::join(&source.directory, &source_name);
                let to = vfs::join(&t.directory, &file_name);
                let (dir, replace, create) =
                    (t.directory.clone(), t.replace_existing, t.create_directory);
                self.remote(async |s: &mut vfs::Session| {
                    if create {
                        s.mkdir_all(&dir).await?;
                    }
                    s.rename(&from, &to, replace).await
                })
                .await
                .map_err(fail)?;
                return Ok(Delivery::Answered);
            }
            let from = Path::new(&source.directory).join(&source_name);
            let directory = PathBuf::from(&t.directory);
            let (replace, create) = (t.replace_existing, t.create_directory);
            let shown = (from.display().to_string(), directory.join(&file_name));
            let moved = tokio::task::spawn_blocking(move || {
                move_file(&from, &directory, &file_name, replace, create)
            })
            .await
            .map_err(|e| fail(format!("the move task failed: {e}")))?;
            moved.map_err(|e| {
                fail(format!(
                    "cannot move {} to {}: {e}",
                    shown.0,
                    shown.1.display()
                ))
            })?;
            return Ok(Delivery::Answered);
        }
        let (body, _) = msg.body_bytes().map_err(Fault::unreadable_payload)?;
        let (mode, newline, create_directory) = (t.mode, t.append_newline, t.create_directory);
        if t.server.is_some() {
            let how = match mode {
                FileWriteMode::Append => vfs::Write::Append,
                FileWriteMode::Create => vfs::Write::Create,
                _ => vfs::Write::Overwrite,
            };
            let body = if newline {
                let mut record = Vec::with_capacity(body.len() + 1);
                record.extend_from_slice(&body);
                record.push(b'\n');
                Bytes::from(record)
            } else {
                body
            };
            let dir = t.directory.clone();
            self.remote(async |s: &mut vfs::Session| {
                s.write(&dir, &file_name, &body, how, create_directory)
                    .await
            })
            .await
            .map_err(fail)?;
            return Ok(Delivery::Answered);
        }
        let directory = PathBuf::from(&t.directory);
        let path = directory.join(&file_name);
        let written = tokio::task::spawn_blocking(move || {
            write(
                &directory,
                &file_name,
                &body,
                mode,
                newline,
                create_directory,
            )
        })
        .await
        .map_err(|e| fail(format!("the write task failed: {e}")))?;
        written.map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        Ok(Delivery::Answered)
    }

    /// Runs `op` on the remote session: the kept one when it still answers, else a new
    /// one. A failed operation drops the session, so the next call starts afresh.
    async fn remote<T>(
        &self,
        op: impl AsyncFnOnce(&mut vfs::Session) -> Result<T, String>,
    ) -> Result<T, String> {
        let Some(server) = &self.target.server else {
            return Err("no server".into());
        };
        let mut kept = self.remote.lock().await;
        if let Some(s) = kept.as_mut()
            && !s.alive().await
        {
            *kept = None;
        }
        let mut session = match kept.take() {
            Some(s) => s,
            None => vfs::Session::connect(server).await?,
        };
        let result = op(&mut session).await;
        if result.is_ok() {
            *kept = Some(session);
        }
        result
    }
}

/// Moves `from` to `dir/name`.
fn move_file(
    from: &Path,
    dir: &Path,
    name: &str,
    replace: bool,
    create_directory: bool,
) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let meta = std::fs::metadata(from)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if create_directory {
        std::fs::create_dir_all(dir)?;
    }
    let target = dir.join(name);
    let exists = |e: Error| {
        if e.kind() == ErrorKind::AlreadyExists {
            Error::new(
                e.kind(),
                "the destination exists (replaceExisting is false)",
            )
        } else {
            e
        }
    };
    let same_fs = if replace {
        std::fs::rename(from, &target)
    } else {
        // A hard link fails when the target exists: no window in which another writer's
        // file could be replaced. Then the source name goes.
        std::fs::hard_link(from, &target)
            .map_err(exists)
            .and_then(|()| std::fs::remove_file(from))
    };
    match same_fs {
        Err(e) if e.kind() == ErrorKind::CrossesDevices => {}
        other => {
            other?;
            sync_dir(dir);
            if let Some(parent) = from.parent() {
                sync_dir(parent);
            }
            return Ok(());
        }
    }
    // Another file system: a copy beside the target, flushed, put in place, then the
    // source removed.
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let placed = (|| {
        std::fs::copy(from, &temp)?;
        std::fs::File::open(&temp)?.sync_all()?;
        if replace {
            std::fs::rename(&temp, &target)
        } else {
            std::fs::hard_link(&temp, &target).map_err(exists)
        }
    })();
    let _ = std::fs::remove_file(&temp);
    placed?;
    sync_dir(dir);
    std::fs::remove_file(from)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn write(
    dir: &Path,
    name: &str,
    body: &Bytes,
    mode: FileWriteMode,
    newline: bool,
    create_directory: bool,
) -> std::io::Result<()> {
    if create_directory {
        std::fs::create_dir_all(dir)?;
    }
    let target = dir.join(name);
    match mode {
        FileWriteMode::Append => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)?;
            if newline {
                // One write, so concurrent appends of whole records do not interleave.
                let mut record = Vec::with_capacity(body.len() + 1);
                record.extend_from_slice(body);
                record.push(b'\n');
                f.write_all(&record)?;
            } else {
                f.write_all(body)?;
            }
            f.sync_data()
        }
        FileWriteMode::Move => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "mode move writes nothing",
        )),
        FileWriteMode::Overwrite | FileWriteMode::Create => {
            let temp = dir.join(format!(
                ".{name}.{}.{}.tmp",
                std::process::id(),
                NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
            ));
            let result = (|| {
                let mut f = std::fs::File::create_new(&temp)?;
                f.write_all(body)?;
                f.sync_all()?;
                drop(f);
                match mode {
                    FileWriteMode::Overwrite => std::fs::rename(&temp, &target),
                    // A hard link fails when the target exists: no window in which a
                    // second writer could replace it.
                    _ => std::fs::hard_link(&temp, &target).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            std::io::Error::new(e.kind(), "the file exists (mode create)")
                        } else {
                            e
                        }
                    }),
                }
            })();
            if mode == FileWriteMode::Create || result.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            result?;
            // The rename or link itself reaches the disk with the directory.
            sync_dir(dir);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrite_replaces_create_refuses_and_append_adds() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().join("out");
        let body = |s: &str| Bytes::from(s.to_string());
        write(
            &d,
            "a.txt",
            &body("one"),
            FileWriteMode::Create,
            false,
            true,
        )
        .expect("create");
        let again = write(
            &d,
            "a.txt",
            &body("two"),
            FileWriteMode::Create,
            false,
            true,
        );
        assert_eq!(
            again.expect_err("exists").kind(),
            std::io::ErrorKind::AlreadyExists
        );
        write(
            &d,
            "a.txt",
            &body("three"),
            FileWriteMode::Overwrite,
            false,
            true,
        )
        .expect("overwrite");
        assert_eq!(
            std::fs::read_to_string(d.join("a.txt")).expect("read"),
            "three"
        );
        write(&d, "l.txt", &body("x"), FileWriteMode::Append, true, true).expect("append");
        write(&d, "l.txt", &body("y"), FileWriteMode::Append, true, true).expect("append");
        assert_eq!(
            std::fs::read_to_string(d.join("l.txt")).expect("read"),
            "x\ny\n"
        );
        let left: Vec<_> = std::fs::read_dir(&d)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    #[test]
    fn move_renames_refuses_an_existing_destination_unless_replacing() {
        let dir = tempfile::tempdir().expect("dir");
        let (src, dst) = (dir.path().join("in"), dir.path().join("done/2026"));
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(src.join("a.csv"), "one").expect("write");
        move_file(&src.join("a.csv"), &dst, "a.csv", false, true).expect("move");
        assert!(!src.join("a.csv").exists(), "gone from the source");
        assert_eq!(
            std::fs::read_to_string(dst.join("a.csv")).expect("read"),
            "one"
        );
        std::fs::write(src.join("a.csv"), "two").expect("write");
        let again = move_file(&src.join("a.csv"), &dst, "a.csv", false, true);
        assert_eq!(
            again.expect_err("exists").kind(),
            std::io::ErrorKind::AlreadyExists
        );
        assert!(
            src.join("a.csv").exists(),
            "a refused move leaves the source"
        );
        move_file(&src.join("a.csv"), &dst, "a.csv", true, true).expect("replace");
        assert_eq!(
            std::fs::read_to_string(dst.join("a.csv")).expect("read"),
            "two"
        );
        let missing = move_file(&src.join("nope"), &dst, "x", true, true);
        assert_eq!(
            missing.expect_err("missing").kind(),
            std::io::ErrorKind::NotFound
        );
        let no_dir = move_file(
            &dst.join("a.csv"),
            &dir.path().join("absent"),
            "a",
            true,
            false,
        );
        assert!(no_dir.is_err(), "no directory made without createDirectory");
    }

    #[test]
    fn a_missing_directory_is_an_error_unless_created() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().join("missing");
        let body = Bytes::from_static(b"x");
        assert!(write(&d, "a", &body, FileWriteMode::Overwrite, false, false).is_err());
        assert!(write(&d, "a", &body, FileWriteMode::Overwrite, false, true).is_ok());
    }
}
