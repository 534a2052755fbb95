//! The `postgres` store: messages as rows of a table in any reachable PostgreSQL.
//!
//! - `store` is one committed INSERT: once it returns, the row is on the database's disk.
//! - `next` leases the oldest unleased row with `FOR UPDATE SKIP LOCKED`, so concurrent
//!   consumers never take the same message, and marks it with this store instance's owner
//!   id. `ack` deletes the row, `release` clears the mark (the row keeps its place).
//! - Leases die with the instance that took them: when a store instance first reaches the
//!   database it returns every lease held by earlier instances of the same store. One
//!   processor consumes a store at a time (the runtime stops the old processors before a
//!   reload's new ones, and under Kubernetes one replica runs them), so those leases
//!   belong to a process that is gone.
//! - Several stores may share one table: rows carry the store's name.
//!
//! The pool connects lazily, so Ferry starts while the database is down; operations fail
//! with a transient [`StoreError`] until it is back, and the `store` mediator's fault
//! sequence (or a failover store) takes over meanwhile.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_api::resources::PostgresStore as PostgresSpec;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::OnceCell;

use super::{Lease, MessageStore, StoreError, StoredMessage};

/// Where the store connects when neither `url` nor `urlFrom` is given.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long an operation waits for a pooled connection before it fails (transiently).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL message store.
pub struct PostgresStore {
    name: String,
    table: String,
    sql: Statements,
    pool: PgPool,
    owner: String,
    ready: OnceCell<()>,
}

impl PostgresStore {
    /// Checks the settings and prepares a lazy pool; nothing is connected yet. Needs a
    /// Tokio runtime (the pool's upkeep runs on it).
    pub fn new(name: &str, spec: &PostgresSpec) -> Result<Self, String> {
        let options = Self::check(spec)?;
        let pool = PgPoolOptions::new()
            .max_connections(spec.pool_size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            name: name.to_string(),
            table: spec.table.clone(),
            sql: Statements::for_table(&spec.table),
            pool,
            owner: owner_id(),
            ready: OnceCell::new(),
        })
    }

    /// The connection options of checked settings, with the secrets read from the
    /// environment (what `ferry validate` checks beyond the resources).
    pub fn check(spec: &PostgresSpec) -> Result<PgConnectOptions, String> {
        // The checker refused such a name already; it goes into SQL text, so the store
        // does not take that on trust.
        if !ferry_api::check::store::valid_table_name(&spec.table) {
            return Err(format!("table {:?} is not a plain SQL name", spec.table));
        }
        let url = match (&spec.url, &spec.url_from) {
            (Some(url), _) => url.clone(),
            (None, Some(from)) => read_secret(from, "urlFrom")?,
            (None, None) => DEFAULT_URL.to_string(),
        };
        let mut options = PgConnectOptions::from_str(&url)
            .map_err(|e| format!("the connection URL is not valid: {e}"))?
            .application_name("ferry");
        if let Some(from) = &spec.password_from {
            options = options.password(&read_secret(from, "passwordFrom")?);
        }
        crate::tls::database::postgres(options, &url, spec.tls.as_ref())
    }

    /// Creates the table if needed and returns earlier instances' leases, once.
    async fn ensure(&self) -> Result<(), StoreError> {
        self.ready
            .get_or_try_init(|| async {
                let t = &self.table;
                let statements = [
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (
                            seq BIGSERIAL PRIMARY KEY,
                            store TEXT NOT NULL,
                            message JSONB NOT NULL,
                            deliveries INTEGER NOT NULL DEFAULT 0,
                            leased_by TEXT,
                            stored_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_store_seq ON {t} (store, seq)"),
                ];
                for sql in statements {
                    sqlx::query(&sql)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| self.error(e))?;
                }
                sqlx::query(&format!(
                    "UPDATE {t} SET leased_by = NULL
                     WHERE store = $1 AND leased_by IS NOT NULL AND leased_by <> $2"
                ))
                .bind(&self.name)
                .bind(&self.owner)
                .execute(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn error(&self, e: sqlx::Error) -> StoreError {
        match e {
            // The database refused the statement itself: trying again will not help. The
            // message keeps the database's own words; the whole sqlx error is the source.
            sqlx::Error::Database(db) => {
                StoreError::permanent(&self.name, &db).with_cause(sqlx::Error::Database(db))
            }
            other => StoreError::transient_from(&self.name, other),
        }
    }
}

fn read_secret(from: &ferry_api::resources::SecretSource, field: &str) -> Result<String, String> {
    let var = from
        .env_var()
        .ok_or_else(|| format!("{field}: set env or secretKeyRef"))?;
    std::env::var(&var).map_err(|_| format!("{field}: the environment variable {var} is not set"))
}

/// An id unique to this store instance: the process and the moment it was made.
fn owner_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl PostgresStore {
    /// Runs `sql` (ack or release) on a row this instance holds; a row it no longer holds
    /// is left alone.
    async fn settle(&self, sql: &str, token: u64) -> Result<(), StoreError> {
        let seq = i64::try_from(token).unwrap_or(i64::MAX);
        sqlx::query(sql)
            .bind(seq)
            .bind(&self.owner)
            .execute(&self.pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }
}

/// The statements of one table, written once when the store is made.
struct Statements {
    insert: String,
    lease: String,
    ack: String,
    release: String,
    count: String,
}

impl Statements {
    fn for_table(t: &str) -> Self {
        Self {
            insert: format!("INSERT INTO {t} (store, message) VALUES ($1, $2)"),
            lease: format!(
                "UPDATE {t} SET leased_by = $2, deliveries = deliveries + 1
                 WHERE seq = (
                     SELECT seq FROM {t} WHERE store = $1 AND leased_by IS NULL
                     ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING seq, message, deliveries - 1"
            ),
            ack: format!("DELETE FROM {t} WHERE seq = $1 AND leased_by = $2"),
            release: format!("UPDATE {t} SET leased_by = NULL WHERE seq = $1 AND leased_by = $2"),
            count: format!("SELECT count(*) FROM {t} WHERE store = $1"),
        }
    }
}

impl MessageStore for PostgresStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.pool.close().await })
    }

    fn store(&self, message: StoredMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.ensure().await?;
            let json = serde_json::to_value(&message)
                .map_err(|e| StoreError::permanent_from(&self.name, e))?;
            sqlx::query(&self.sql.insert)
                .bind(&self.name)
                .bind(json)
                .execute(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            Ok(())
        })
    }

    fn next(&self) -> BoxFuture<'_, Result<Option<Lease>, StoreError>> {
        Box::pin(async move {
            self.ensure().await?;
            let row: Option<(i64, serde_json::Value, i32)> = sqlx::query_as(&self.sql.lease)
                .bind(&self.name)
                .bind(&self.owner)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            let Some((seq, json, previous)) = row else {
                return Ok(None);
            };
            let message: StoredMessage = serde_json::from_value(json).map_err(|e| {
                StoreError::permanent(
                    &self.name,
                    format!("row {seq} is not a stored message: {e}"),
                )
                .with_cause(e)
            })?;
            Ok(Some(Lease {
                message,
                previous_deliveries: u32::try_from(previous).unwrap_or(0),
                token: u64::try_from(seq).unwrap_or(0),
            }))
        })
    }

    fn ack(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.settle(&self.sql.ack, lease.token))
    }

    fn release(&self, lease: &Lease) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.settle(&self.sql.release, lease.token))
    }

    fn count(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            self.ensure().await?;
            let (n,): (i64,) = sqlx::query_as(&self.sql.count)
                .bind(&self.name)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::contract;

    const TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    fn spec(table: &str) -> PostgresSpec {
        PostgresSpec {
            url: Some(TEST_URL.into()),
            url_from: None,
            password_from: None,
            table: table.into(),
            pool_size: 2,
            tls: None,
        }
    }

    /// Whether PostgreSQL answers on 127.0.0.1:5432; when not, the test says so and passes.
    async fn reachable() -> bool {
        let up = tokio::net::TcpStream::connect("127.0.0.1:5432")
            .await
            .is_ok();
        if !up {
            eprintln!("skipped: no PostgreSQL on 127.0.0.1:5432 (make services starts it)");
        }
        up
    }

    fn unique(prefix: &str) -> String {
        format!("{prefix}_{}", owner_id().replace('-', "_"))
    }

    #[tokio::test]
    async fn the_store_contract_holds() {
        if !reachable().await {
            return;
        }
        let table = unique("ferry_test");
        let n = AtomicU64::new(0);
        contract::check_all(|| {
            let name = format!("s{}", n.fetch_add(1, Ordering::Relaxed));
            PostgresStore::new(&name, &spec(&table)).unwrap()
        })
        .await;
        contract::unacked_lease_comes_back_after_reopen(|| {
            PostgresStore::new("reopened", &spec(&table)).unwrap()
        })
        .await;
        drop_table(&table).await;
    }

    #[tokio::test]
    async fn two_consumers_never_take_the_same_message() {
        if !reachable().await {
            return;
        }
        let table = unique("ferry_test");
        let a = PostgresStore::new("shared", &spec(&table)).unwrap();
        for id in 0..20 {
            a.store(contract::message(&id.to_string())).await.unwrap();
        }
        let b = PostgresStore::new("shared", &spec(&table)).unwrap();
        // b's first use returns a's leases (there are none yet): take turns from now on.
        b.count().await.unwrap();
        let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
        let (ra, rb) = tokio::join!(
            async {
                while let Some(l) = a.next().await.unwrap() {
                    from_a.push(l.message.id.clone());
                    a.ack(&l).await.unwrap();
                }
            },
            async {
                while let Some(l) = b.next().await.unwrap() {
                    from_b.push(l.message.id.clone());
                    b.ack(&l).await.unwrap();
                }
            }
        );
        let ((), ()) = (ra, rb);
        let mut all: Vec<u32> = from_a
            .iter()
            .chain(&from_b)
            .map(|s| s.parse().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..20).collect::<Vec<_>>(),
            "each message exactly once"
        );
        drop_table(&table).await;
    }

    #[tokio::test]
    async fn a_database_that_is_down_is_a_transient_error_not_a_hang() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let s = PostgresStore::new(
            "down",
            &PostgresSpec {
                url: Some(format!("postgres://postgres@127.0.0.1:{port}/test")),
                ..spec("ferry_messages")
            },
        )
        .unwrap();
        let err = s.store(contract::message("1")).await.unwrap_err();
        assert!(err.retryable, "{err}");
        assert_eq!(err.store, "down");
    }

    #[test]
    fn bad_settings_are_refused_before_connecting() {
        let bad_table = PostgresStore::check(&spec("drop table; --")).err().unwrap();
        assert!(bad_table.contains("plain SQL name"), "{bad_table}");
        let unset = PostgresStore::check(&PostgresSpec {
            url: None,
            url_from: Some(ferry_api::resources::SecretSource {
                env: Some("FERRY_TEST_UNSET_URL".into()),
                secret_key_ref: None,
            }),
            ..spec("t")
        })
        .err()
        .unwrap();
        assert!(unset.contains("FERRY_TEST_UNSET_URL"), "{unset}");
        let url = PostgresStore::check(&PostgresSpec {
            url: Some("postgres://127.0.0.1:notaport/db".into()),
            ..spec("t")
        })
        .err()
        .unwrap();
        assert!(url.contains("not valid"), "{url}");
    }

    async fn drop_table(table: &str) {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(TEST_URL)
            .await
            .unwrap();
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
}
