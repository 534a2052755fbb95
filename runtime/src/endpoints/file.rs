//! File endpoints: a `call` or `send` to an endpoint with a `file` block (or an address
//! `vfs:file:///...`, as Micro Integrator's VFS sender writes it) writes the message's
//! payload to a file in a local directory.
//!
//! - `overwrite` and `create` are atomic: the payload goes to a hidden temporary file in the
//!   same directory (`.NAME.PID.N.tmp`, which a file inbound endpoint never takes), is
//!   flushed to disk, and then renamed over the target (`overwrite`) or linked to it only
//!   if no file of that name exists (`create`). A reader never sees half a file, and a
//!   crash leaves at most a temporary file behind, never a truncated target.
//! - `append` adds the payload (and a line break with `appendNewline`) to the end of the
//!   file, creating it when missing, and flushes it; a crash during the write can leave a
//!   partial last record.
//! - The file name is rendered per message and must be a name, not a path: a message can
//!   never write outside the endpoint's directory.
//! - The call returns once the data is on disk; the message goes on unchanged. A failure
//!   (permissions, a full disk, `create` on an existing file) is a fault 101500 naming the
//!   file and the reason.

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

/// The message property naming the file when a `vfs:` address names a directory (MI's).
pub const REPLY_FILE_NAME: &str = "transport.vfs.ReplyFileName";

static NEXT_TEMP: AtomicU64 = AtomicU64::new(1);

/// A file endpoint.
pub struct FileEndpoint {
    target: FileTarget,
}

impl FileEndpoint {
    /// The endpoint writing as `target` says.
    pub fn new(target: &FileTarget) -> Self {
        Self {
            target: target.clone(),
        }
    }

    /// Writes `msg`'s payload.
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
        let (body, _) = msg.body_bytes().map_err(Fault::unreadable_payload)?;
        let directory = PathBuf::from(&t.directory);
        let (mode, newline, create_directory) = (t.mode, t.append_newline, t.create_directory);
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
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
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
    fn a_missing_directory_is_an_error_unless_created() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().join("missing");
        let body = Bytes::from_static(b"x");
        assert!(write(&d, "a", &body, FileWriteMode::Overwrite, false, false).is_err());
        assert!(write(&d, "a", &body, FileWriteMode::Overwrite, false, true).is_ok());
    }
}
