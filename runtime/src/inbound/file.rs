//! The file inbound endpoint: polls a local directory, or a remote one over SFTP, FTP or
//! FTPS (`crate::vfs`), on the replica that leads the group.
//!
//! Each poll lists the directory, keeps the files whose name matches the pattern, is not a
//! part file (`partSuffix`) and has not been modified for `stableFor` (a file still being
//! written is left for a later poll), sorts them and processes them one at a time. A file
//! becomes one message (`json`, `xml`, `text`, `binary`: read whole) or one message per
//! line or CSV record (`lines`, `csv`: read as a stream, so a large file is never held in
//! memory). Once every message of a file completed, the file is deleted or moved
//! (`actionAfterProcess`); at the first failed message it is moved (or deleted) as
//! `actionAfterFailure` says, and the rest of it is not processed.
//!
//! A file leaves the directory only after its messages were processed: a crash (or a lost
//! lead) in the middle leaves it where it was, and it is processed again, from its start,
//! by the next leader (at least once).
//!
//! A remote directory is polled over one session per poll (made at the poll's start, so a
//! lost connection costs one poll). The server's clock is not trusted: a remote file is
//! taken once a poll at least `stableFor` after the one that first saw it finds the same
//! size and modification time. Its content is read as a stream too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use ferry_api::check::inbound::File;
use ferry_api::resources::{FileAction, FileContent, FileSort};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use super::inject;
use super::runner::InboundUnit;
use super::state::InboundState;
use crate::supervisor::Stop;
use crate::vfs;

/// A file found by a poll.
struct Found {
    path: String,
    name: String,
    size: u64,
    modified: SystemTime,
}

/// Polls until stopped.
pub async fn run(unit: Arc<InboundUnit>, state: Arc<InboundState>, mut stop: Stop) {
    let super::Source::File(f) = &unit.inbound.source else {
        return;
    };
    let interval = Duration::from_millis(f.spec.interval);
    // A missing directory is made, as a sample's folder under the working directory needs;
    // one that cannot be made is reported by the first poll.
    if f.server.is_none() {
        let _ = tokio::fs::create_dir_all(&f.directory).await;
    }
    let mut failing = false;
    let mut seen = HashMap::new();
    loop {
        let polled = match &f.server {
            None => poll(&unit, f, &state, &stop).await,
            Some(_) => poll_remote(&unit, f, &state, &stop, &mut seen).await,
        };
        match polled {
            Ok(()) => {
                if failing {
                    tracing::info!(inbound = %unit.inbound.name, directory = %f.directory, "polling the directory again");
                }
                failing = false;
                state.set_connected();
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(inbound = %unit.inbound.name, directory = %f.directory, error = %e, "cannot poll the directory");
                }
                failing = true;
                state.set_error(e);
            }
        }
        if !stop.sleep(interval).await {
            return;
        }
    }
}

/// One poll: every file ready now, in order, until stopped.
async fn poll(
    unit: &InboundUnit,
    f: &File,
    state: &Arc<InboundState>,
    stop: &Stop,
) -> Result<(), String> {
    let mut files = list(f).await?;
    sort(&mut files, f.spec.sort_by, f.spec.sort_descending);
    if let Some(max) = f.spec.max_files_per_poll {
        files.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    }
    for file in files {
        if stop.is_stopped() {
            break;
        }
        let outcome = match tokio::fs::File::open(&file.path).await {
            Ok(mut reader) => process(unit, f, state, &file, &mut reader).await,
            Err(e) => Err(format!("cannot open the file: {e}")),
        };
        let (action, dir) = match &outcome {
            Ok(()) => (f.spec.action_after_process, &f.spec.move_after_process),
            Err(e) => {
                tracing::warn!(inbound = %unit.inbound.name, file = %file.path, error = %e, "a file failed");
                (f.spec.action_after_failure, &f.spec.move_after_failure)
            }
        };
        if let Err(e) = settle(&file, action, dir.as_deref()).await {
            // It stays in the directory and is processed again: at least once.
            return Err(format!("cannot move or delete {}: {e}", file.path));
        }
    }
    Ok(())
}

/// What a poll saw of a remote file: its size and modification time, and when a poll
/// first saw them.
type Seen = HashMap<String, (u64, Option<SystemTime>, Instant)>;

/// One poll of a remote directory, over one session.
async fn poll_remote(
    unit: &InboundUnit,
    f: &File,
    state: &Arc<InboundState>,
    stop: &Stop,
    seen: &mut Seen,
) -> Result<(), String> {
    let Some(server) = &f.server else {
        return Ok(());
    };
    let mut session = vfs::Session::connect(server).await?;
    let result = poll_session(unit, f, state, stop, seen, &mut session).await;
    session.close().await;
    result
}

async fn poll_session(
    unit: &InboundUnit,
    f: &File,
    state: &Arc<InboundState>,
    stop: &Stop,
    seen: &mut Seen,
    session: &mut vfs::Session,
) -> Result<(), String> {
    let entries = session.list(&f.directory).await?;
    let stable_for = Duration::from_millis(f.spec.stable_for);
    let now = Instant::now();
    let mut files = Vec::new();
    let mut still = Seen::new();
    for e in entries {
        if !e.is_file || !wanted(f, &e.name) {
            continue;
        }
        // Unchanged since a poll at least stableFor ago: no longer being written.
        let first = match seen.get(&e.name) {
            Some((size, modified, at)) if *size == e.size && *modified == e.modified => *at,
            _ => now,
        };
        still.insert(e.name.clone(), (e.size, e.modified, first));
        if f.spec.stable_for > 0 && (first == now || now.duration_since(first) < stable_for) {
            continue;
        }
        files.push(Found {
            path: vfs::join(&f.directory, &e.name),
            name: e.name,
            size: e.size,
            modified: e.modified.unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    *seen = still;
    sort(&mut files, f.spec.sort_by, f.spec.sort_descending);
    if let Some(max) = f.spec.max_files_per_poll {
        files.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    }
    for file in files {
        if stop.is_stopped() {
            break;
        }
        let outcome = match session.open(&file.path).await {
            Ok(mut reader) => {
                let processed = process(unit, f, state, &file, &mut reader).await;
                if processed.is_err() {
                    // The rest is read and dropped, so the transfer completes cleanly and
                    // the session can go on (an FTP server reports an abandoned one).
                    let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
                }
                // An unfinished read is an error of the poll, not of the file.
                session.finish_read(reader).await?;
                processed
            }
            Err(e) => return Err(e),
        };
        let (action, dir) = match &outcome {
            Ok(()) => (f.spec.action_after_process, &f.spec.move_after_process),
            Err(e) => {
                tracing::warn!(inbound = %unit.inbound.name, file = %file.path, error = %e, "a file failed");
                (f.spec.action_after_failure, &f.spec.move_after_failure)
            }
        };
        seen.remove(&file.name);
        match (action, dir.as_deref()) {
            (FileAction::Move, Some(dir)) => {
                session.mkdir_all(dir).await?;
                let mut target = vfs::join(dir, &file.name);
                let mut n = 1;
                while session.exists(&target).await? {
                    target = vfs::join(dir, &format!("{}.{n}", file.name));
                    n += 1;
                }
                session.rename(&file.path, &target, false).await?;
            }
            _ => session.remove(&file.path).await?,
        }
    }
    Ok(())
}

/// Whether a file of this name may be taken: not hidden, not a part file, matching the
/// pattern.
fn wanted(f: &File, name: &str) -> bool {
    !(name.starts_with('.')
        || (!f.spec.part_suffix.is_empty() && name.ends_with(&f.spec.part_suffix))
        || f.pattern.as_ref().is_some_and(|p| !p.is_match(name)))
}

/// The files of the directory that are ready to be taken.
async fn list(f: &File) -> Result<Vec<Found>, String> {
    let dir = Path::new(&f.directory);
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let stable_for = Duration::from_millis(f.spec.stable_for);
    let now = SystemTime::now();
    let mut found = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
    {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !wanted(f, &name) {
            continue;
        }
        // Gone since the listing, or not a regular file: not ours.
        let Ok(meta) = entry.metadata().await else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        // Modified in the future (clock skew) counts as just modified.
        let quiet = now.duration_since(modified).unwrap_or(Duration::ZERO);
        if quiet < stable_for {
            continue;
        }
        found.push(Found {
            path: entry.path().display().to_string(),
            name,
            size: meta.len(),
            modified,
        });
    }
    Ok(found)
}

fn sort(files: &mut [Found], by: FileSort, descending: bool) {
    match by {
        FileSort::Name => files.sort_by(|a, b| a.name.cmp(&b.name)),
        FileSort::Size => files.sort_by(|a, b| a.size.cmp(&b.size).then(a.name.cmp(&b.name))),
        FileSort::LastModified => {
            files.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.name.cmp(&b.name)))
        }
    }
    if descending {
        files.reverse();
    }
}

/// Runs every message of `file` (read from `reader`) through the sequence; `Err` at the
/// first that fails.
async fn process<R: AsyncRead + Unpin>(
    unit: &InboundUnit,
    f: &File,
    state: &Arc<InboundState>,
    file: &Found,
    reader: &mut R,
) -> Result<(), String> {
    let mut headers = f.headers.clone();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    // Micro Integrator's VFS transport headers.
    set("file_name", file.name.clone());
    set("file_path", file.path.clone());
    set("file_length", file.size.to_string());
    set(
        "last_modified",
        file.modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_default(),
    );
    match f.spec.content {
        FileContent::Json | FileContent::Xml | FileContent::Text | FileContent::Binary => {
            let mut body = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
            reader
                .read_to_end(&mut body)
                .await
                .map_err(|e| format!("cannot read the file: {e}"))?;
            one(unit, state, headers, Bytes::from(body)).await
        }
        FileContent::Lines | FileContent::Csv => {
            let mut lines = BufReader::new(reader).lines();
            let csv = f.spec.content == FileContent::Csv;
            let mut columns: Option<Vec<String>> = None;
            let mut number = 0u64;
            while let Some(line) = next_record(&mut lines, csv).await? {
                number += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let body = if csv {
                    let fields = csv_fields(&line);
                    let Some(names) = &columns else {
                        columns = Some(fields);
                        continue;
                    };
                    let mut record = Map::new();
                    for (i, name) in names.iter().enumerate() {
                        let value = fields.get(i).cloned().unwrap_or_default();
                        record.insert(name.clone(), Value::String(value));
                    }
                    Bytes::from(Value::Object(record).to_string())
                } else {
                    Bytes::from(line)
                };
                let mut headers = headers.clone();
                if let Ok(v) = HeaderValue::from_str(&number.to_string()) {
                    headers.insert(HeaderName::from_static("file_line"), v);
                }
                one(unit, state, headers, body)
                    .await
                    .map_err(|e| format!("line {number}: {e}"))?;
            }
            Ok(())
        }
    }
}

/// The next line, or for CSV the next record (a quoted field may hold line breaks).
async fn next_record<R: AsyncRead + Unpin>(
    lines: &mut tokio::io::Lines<BufReader<R>>,
    csv: bool,
) -> Result<Option<String>, String> {
    let read = |r: std::io::Result<Option<String>>| r.map_err(|e| format!("cannot read: {e}"));
    let Some(mut record) = read(lines.next_line().await)? else {
        return Ok(None);
    };
    while csv && record.chars().filter(|c| *c == '"').count() % 2 == 1 {
        match read(lines.next_line().await)? {
            Some(more) => {
                record.push('\n');
                record.push_str(&more);
            }
            None => break,
        }
    }
    Ok(Some(record))
}

/// The fields of one CSV record (RFC 4180: commas, fields in double quotes, `""` for a
/// quote inside one).
fn csv_fields(record: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = record.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            ('\r', false) if chars.peek().is_none() => {}
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Runs one message through the sequence, counted.
async fn one(
    unit: &InboundUnit,
    state: &Arc<InboundState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(), String> {
    let taken = state.received();
    let mut msg = inject::message(&unit.compiled, headers, body);
    match inject::run(&unit.inbound, &unit.compiled, &mut msg).await {
        Ok(_) => {
            taken.succeeded();
            Ok(())
        }
        Err(fault) => {
            taken.failed();
            Err(fault.message.clone())
        }
    }
}

/// Deletes the file, or moves it into `dir` (created if missing). A file of the same name
/// already there is kept: the new one gets a numbered name beside it.
async fn settle(file: &Found, action: FileAction, dir: Option<&str>) -> std::io::Result<()> {
    match (action, dir) {
        (FileAction::Move, Some(dir)) => {
            tokio::fs::create_dir_all(dir).await?;
            let mut target = Path::new(dir).join(&file.name);
            let mut n = 1;
            while tokio::fs::try_exists(&target).await? {
                target = Path::new(dir).join(format!("{}.{n}", file.name));
                n += 1;
            }
            tokio::fs::rename(&file.path, &target).await
        }
        _ => tokio::fs::remove_file(&file.path).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, size: u64, age_s: u64) -> Found {
        Found {
            path: name.to_string(),
            name: name.to_string(),
            size,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1000 - age_s),
        }
    }

    #[test]
    fn files_sort_by_name_size_or_age_either_way() {
        let names = |files: &[Found]| files.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        let mut files = vec![
            found("b.csv", 1, 5),
            found("a.csv", 3, 1),
            found("c.csv", 2, 9),
        ];
        sort(&mut files, FileSort::Name, false);
        assert_eq!(names(&files), ["a.csv", "b.csv", "c.csv"]);
        sort(&mut files, FileSort::Size, true);
        assert_eq!(names(&files), ["a.csv", "c.csv", "b.csv"]);
        sort(&mut files, FileSort::LastModified, false);
        assert_eq!(names(&files), ["c.csv", "b.csv", "a.csv"], "oldest first");
    }

    #[test]
    fn csv_fields_follow_rfc_4180_quoting() {
        assert_eq!(csv_fields("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(
            csv_fields(r#""x, y","say ""hi""",z"#),
            ["x, y", r#"say "hi""#, "z"]
        );
        assert_eq!(csv_fields("a,b\r"), ["a", "b"]);
        assert_eq!(csv_fields("\"two\nlines\",x"), ["two\nlines", "x"]);
    }
}
