//! The `sqlite` store: an embedded SQLite database file, the durable default that needs
//! nothing else running.
//!
//! Every `store` is one committed transaction in WAL mode; with `sync` (the default) the
//! commit waits for the disk (`synchronous=FULL`), so an acknowledged message survives a
//! SIGKILL and a power cut. Leases live in memory only: a process that dies holding one
//! simply forgets it, and after a restart the message is handed out again (at least once).
//! The delivery count is written when a message is handed out, so it survives restarts.
//!
//! rusqlite is synchronous; each call runs on the blocking pool so it never stalls the
//! threads serving requests.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Lease, MessageStore, StoreError, StoredMessage};

/// A message store in a SQLite file.
pub struct SqliteStore {
    name: String,
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    table: String,
    capacity: Option<u64>,
    state: Mutex<State>,
}

struct State {
    conn: Connection,
    /// Rows handed out and not yet acked or released, by this process.
    leased: HashSet<i64>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store's database at `path`.
    pub fn open(
        name: &str,
        path: &Path,
        table: &str,
        capacity: Option<u64>,
        sync: bool,
    ) -> Result<Self, StoreError> {
        if !ferry_api::check::store::valid_table_name(table) {
            return Err(StoreError::permanent(
                name,
                format!("table {table:?} is not a plain SQL name (letters, digits, _)"),
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(name, path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(name, path, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| open_err(name, path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(name, path, e))?;
        conn.pragma_update(None, "synchronous", if sync { "FULL" } else { "NORMAL" })
            .map_err(|e| open_err(name, path, e))?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                message_id TEXT NOT NULL,
                message TEXT NOT NULL,
                deliveries INTEGER NOT NULL DEFAULT 0
            )"
        ))
        .map_err(|e| open_err(name, path, e))?;
        Ok(Self {
            name: name.to_string(),
            inner: Arc::new(Inner {
                name: name.to_string(),
                table: table.to_string(),
                capacity,
                state: Mutex::new(State {
                    conn,
                    leased: HashSet::new(),
                }),
            }),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    fn with<T, F>(&self, f: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &mut State) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            let name = inner.name.clone();
            tokio::task::spawn_blocking(move || {
                // A panic while holding the lock left no half-done transaction behind
                // (rusqlite rolls back on drop), so the state is still usable.
                let mut state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
                f(&inner, &mut state)
            })
            .await
            .map_err(|e| {
                StoreError::transient(&name, format!("store task failed: {e}")).with_cause(e)
            })?
        })
    }
}

/// A failure opening the database at `path`, with the file system's or SQLite's error.
fn open_err(
    name: &str,
    path: &Path,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::permanent(name, format!("cannot open {}: {e}", path.display())).with_cause(e)
}

fn sql_err(store: &str, e: rusqlite::Error) -> StoreError {
    // Busy, locked, I/O and full disk may pass; anything else is a bug or a broken file,
    // which retrying does not mend but a processor still retries a store error, so say so.
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::DiskFull
        )
    );
    if retryable {
        StoreError::transient_from(store, e)
    } else {
        StoreError::permanent_from(store, e)
    }
}

impl MessageStore for SqliteStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_local(&self) -> bool {
        true
    }

    fn store(&self, message: StoredMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        self.with(move |inner, state| {
            let text = serde_json::to_string(&message)
                .map_err(|e| StoreError::permanent_from(&inner.name, e))?;
            let tx = state
                .conn
                .transaction()
                .map_err(|e| sql_err(&inner.name, e))?;
            if let Some(cap) = inner.capacity {
                let n: u64 = tx
                    .query_row(&format!("SELECT COUNT(*) FROM {}", inner.table), [], |r| {
                        r.get(0)
                    })
                    .map_err(|e| sql_err(&inner.name, e))?;
                if n >= cap {
                    return Err(StoreError::transient(
                        &inner.name,
                        format!("the store is full ({cap} messages, its capacity)"),
                    ));
                }
            }
            tx.execute(
                &format!(
                    "INSERT INTO {} (message_id, message) VALUES (?1, ?2)",
                    inner.table
                ),
                params![message.id, text],
            )
            .map_err(|e| sql_err(&inner.name, e))?;
            // The commit returns once the WAL is on disk (synchronous=FULL).
            tx.commit().map_err(|e| sql_err(&inner.name, e))
        })
    }

    fn next(&self) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        self.with(|inner, state| {
            // The oldest row this process does not hold: skip the held ones.
            let limit = state.leased.len() as i64 + 1;
            let row = {
                let mut stmt = state
                    .conn
                    .prepare_cached(&format!(
                        "SELECT seq, message, deliveries FROM {} ORDER BY seq LIMIT ?1",
                        inner.table
                    ))
                    .map_err(|e| sql_err(&inner.name, e))?;
                let mut rows = stmt
                    .query(params![limit])
                    .map_err(|e| sql_err(&inner.name, e))?;
                let mut found = None;
                while let Some(r) = rows.next().map_err(|e| sql_err(&inner.name, e))? {
                    let seq: i64 = r.get(0).map_err(|e| sql_err(&inner.name, e))?;
                    if !state.leased.contains(&seq) {
                        let text: String = r.get(1).map_err(|e| sql_err(&inner.name, e))?;
                        let deliveries: u32 = r.get(2).map_err(|e| sql_err(&inner.name, e))?;
                        found = Some((seq, text, deliveries));
                        break;
                    }
                }
                found
            };
            let Some((seq, text, deliveries)) = row else {
                return Ok(None);
            };
            let message: StoredMessage = serde_json::from_str(&text).map_err(|e| {
                StoreError::permanent(&inner.name, format!("row {seq} is not a message: {e}"))
                    .with_cause(e)
            })?;
            state
                .conn
                .execute(
                    &format!(
                        "UPDATE {} SET deliveries = deliveries + 1 WHERE seq = ?1",
                        inner.table
                    ),
                    params![seq],
                )
                .map_err(|e| sql_err(&inner.name, e))?;
            state.leased.insert(seq);
            Ok(Some(Lease {
                message,
                previous_deliveries: deliveries,
                token: seq as u64,
            }))
        })
    }

    fn ack(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        let seq = lease.token as i64;
        self.with(move |inner, state| {
            state
                .conn
                .execute(
                    &format!("DELETE FROM {} WHERE seq = ?1", inner.table),
                    params![seq],
                )
                .map_err(|e| sql_err(&inner.name, e))?;
            state.leased.remove(&seq);
            Ok(())
        })
    }

    fn release(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        let seq = lease.token as i64;
        self.with(move |_, state| {
            // The row never moved: unheld, it is again the oldest one available.
            state.leased.remove(&seq);
            Ok(())
        })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.with(|inner, state| {
            state
                .conn
                .query_row(&format!("SELECT COUNT(*) FROM {}", inner.table), [], |r| {
                    r.get(0)
                })
                .optional()
                .map(|n| n.unwrap_or(0))
                .map_err(|e| sql_err(&inner.name, e))
        })
    }
}

/// The default database file of store `name` under the data directory.
pub fn default_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("stores").join(format!("{name}.db"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::contract;

    fn open(path: &Path) -> SqliteStore {
        SqliteStore::open("s", path, "ferry_messages", None, true).unwrap()
    }

    #[tokio::test]
    async fn the_sqlite_store_keeps_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        contract::check_all(|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            open(&dir.path().join(format!("{i}.db")))
        })
        .await;
    }

    #[tokio::test]
    async fn an_unacked_sqlite_lease_comes_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/s.db");
        contract::unacked_lease_comes_back_after_reopen(|| open(&path)).await;
    }

    #[test]
    fn a_file_that_is_no_database_keeps_sqlites_error_as_the_cause() {
        use std::error::Error;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        std::fs::write(&path, [b'x'; 1024]).unwrap();
        let Err(err) = SqliteStore::open("s", &path, "t", None, false) else {
            panic!("a file of x's opened as a database");
        };
        assert!(!err.retryable);
        assert!(err.message.starts_with("cannot open "), "{err}");
        let cause = err
            .source()
            .and_then(|e| e.downcast_ref::<rusqlite::Error>());
        assert_eq!(
            cause.and_then(rusqlite::Error::sqlite_error_code),
            Some(rusqlite::ErrorCode::NotADatabase),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_full_sqlite_store_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open("s", &dir.path().join("s.db"), "t", Some(1), false).unwrap();
        s.store(contract::message("a")).await.unwrap();
        let err = s.store(contract::message("b")).await.unwrap_err();
        assert!(err.message.contains("full"), "{err}");
    }

    #[test]
    fn a_table_name_that_is_not_plain_sql_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open("s", &dir.path().join("s.db"), "t; DROP", None, true)
            .err()
            .unwrap();
        assert!(err.message.contains("plain SQL name"));
    }
}
