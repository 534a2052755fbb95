//! Opening DataSources: connection options resolved once at compile (secrets read from the
//! environment, so a missing variable fails the load like a store's), the pool itself made
//! on first use. A lazy pool connects nothing until a request needs it, so a database that
//! is down answers 503 per request instead of failing the runtime's start, and `ferry
//! validate` opens nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferry_api::bundle::Loaded;
use ferry_api::diagnostic::Diagnostic;
use ferry_api::resources::{DataSourceSpec, DatabaseType, PoolSettings, Resource, SecretSource};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::error::DataError;

/// A pool of one of the three databases.
#[derive(Clone)]
pub enum Pool {
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL or MariaDB.
    Mysql(MySqlPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

/// How to connect, resolved at compile.
#[derive(Clone)]
enum Options {
    Postgres(PgConnectOptions),
    Mysql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions, Option<PathBuf>),
}

/// An open (lazily connecting) data source.
pub struct DataSource {
    /// Its name (logs).
    pub name: String,
    /// The database type.
    pub type_: DatabaseType,
    options: Options,
    settings: PoolSettings,
    pool: OnceLock<Pool>,
    init_sql: Vec<String>,
    initialized: tokio::sync::OnceCell<()>,
    /// Whether `/readyz` depends on it.
    pub readiness_check: bool,
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSource")
            .field("name", &self.name)
            .field("type", &self.type_)
            .finish_non_exhaustive()
    }
}

impl DataSource {
    /// Resolves `spec`'s connection settings; relative SQLite paths are under `data_dir`.
    pub fn new(
        name: &str,
        spec: &DataSourceSpec,
        data_dir: Option<&Path>,
    ) -> Result<DataSource, (String, String)> {
        let url = match (&spec.url, &spec.url_from) {
            (Some(url), _) => url.clone(),
            (None, Some(from)) => read_secret(from).map_err(|e| ("spec.urlFrom".into(), e))?,
            (None, None) => return Err(("spec".into(), "set url or urlFrom".into())),
        };
        let password = match &spec.password_from {
            Some(from) => Some(read_secret(from).map_err(|e| ("spec.passwordFrom".into(), e))?),
            None => None,
        };
        let cache = spec.pool.statement_cache_capacity;
        // The URL is never repeated in an error: it may hold a password.
        let bad_url = |field: &str| {
            (
                field.to_string(),
                "the connection URL does not parse".to_string(),
            )
        };
        let field = if spec.url.is_some() {
            "spec.url"
        } else {
            "spec.urlFrom"
        };
        let options = match spec.type_ {
            DatabaseType::Postgres => {
                let mut o = PgConnectOptions::from_str(&url).map_err(|_| bad_url(field))?;
                if let Some(user) = &spec.username {
                    o = o.username(user);
                }
                if let Some(p) = &password {
                    o = o.password(p);
                }
                let o = crate::tls::database::postgres(o, &url, spec.tls.as_ref())
                    .map_err(|e| ("spec.tls".to_string(), e))?;
                Options::Postgres(o.statement_cache_capacity(cache))
            }
            DatabaseType::Mysql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let mut o = MySqlConnectOptions::from_str(&url).map_err(|_| bad_url(field))?;
                if let Some(user) = &spec.username {
                    o = o.username(user);
                }
                if let Some(p) = &password {
                    o = o.password(p);
                }
                let o = crate::tls::database::mysql(o, &url, spec.tls.as_ref())
                    .map_err(|e| ("spec.tls".to_string(), e))?;
                Options::Mysql(o.statement_cache_capacity(cache))
            }
            DatabaseType::Sqlite => {
                let (url, dir) = sqlite_under(&url, data_dir);
                let o = SqliteConnectOptions::from_str(&url)
                    .map_err(|_| bad_url(field))?
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_millis(spec.pool.acquire_timeout_ms))
                    .statement_cache_capacity(cache);
                Options::Sqlite(o, dir)
            }
        };
        Ok(DataSource {
            name: name.to_string(),
            type_: spec.type_,
            options,
            settings: spec.pool.clone(),
            pool: OnceLock::new(),
            init_sql: spec.init_sql.clone(),
            initialized: tokio::sync::OnceCell::new(),
            readiness_check: spec.readiness_check,
        })
    }

    /// The pool, made on first use (inside the runtime: it starts a maintenance task).
    fn pool_now(&self) -> Pool {
        self.pool
            .get_or_init(|| {
                let s = &self.settings;
                macro_rules! options {
                    ($t:ty) => {
                        <$t>::new()
                            .max_connections(s.max_connections)
                            .min_connections(s.min_connections)
                            .acquire_timeout(Duration::from_millis(s.acquire_timeout_ms))
                            .idle_timeout(Some(Duration::from_millis(s.idle_timeout_ms)))
                            .max_lifetime(Some(Duration::from_millis(s.max_lifetime_ms)))
                            // A connection the database dropped (a restart) is found out
                            // before a request gets it, not by the request.
                            .test_before_acquire(true)
                    };
                }
                match &self.options {
                    Options::Postgres(o) => {
                        Pool::Postgres(options!(PgPoolOptions).connect_lazy_with(o.clone()))
                    }
                    Options::Mysql(o) => {
                        Pool::Mysql(options!(MySqlPoolOptions).connect_lazy_with(o.clone()))
                    }
                    Options::Sqlite(o, dir) => {
                        if let Some(dir) = dir {
                            // A failure shows when the first connection cannot open the file.
                            let _ = std::fs::create_dir_all(dir);
                        }
                        Pool::Sqlite(options!(SqlitePoolOptions).connect_lazy_with(o.clone()))
                    }
                }
            })
            .clone()
    }

    /// The pool, after `initSql` has run once.
    pub async fn pool(&self) -> Result<Pool, DataError> {
        let pool = self.pool_now();
        if !self.init_sql.is_empty() {
            self.initialized
                .get_or_try_init(|| async {
                    for sql in &self.init_sql {
                        let done = match &pool {
                            Pool::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
                            Pool::Mysql(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
                            Pool::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
                        };
                        if let Err(e) = done {
                            tracing::warn!(data_source = %self.name, error = %e, "initSql failed");
                            return Err(DataError::from_sqlx(e));
                        }
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(pool)
    }

    /// Whether the database answers now (`SELECT 1`), for `/readyz`.
    pub async fn healthy(&self) -> bool {
        let Ok(pool) = self.pool().await else {
            return false;
        };
        let probe = async {
            match &pool {
                Pool::Postgres(p) => sqlx::raw_sql("SELECT 1").execute(p).await.is_ok(),
                Pool::Mysql(p) => sqlx::raw_sql("SELECT 1").execute(p).await.is_ok(),
                Pool::Sqlite(p) => sqlx::raw_sql("SELECT 1").execute(p).await.is_ok(),
            }
        };
        tokio::time::timeout(Duration::from_secs(5), probe)
            .await
            .unwrap_or(false)
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        match self.pool.get() {
            Some(Pool::Postgres(p)) => p.close().await,
            Some(Pool::Mysql(p)) => p.close().await,
            Some(Pool::Sqlite(p)) => p.close().await,
            None => {}
        }
    }
}

/// A relative SQLite file is under `data_dir` (the runtime's volume); the directory to
/// create. `sqlite::memory:` and absolute paths are as written.
fn sqlite_under(url: &str, data_dir: Option<&Path>) -> (String, Option<PathBuf>) {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    let Some(rest) = rest else {
        return (url.to_string(), None);
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return (url.to_string(), None);
    }
    let full = match data_dir {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => PathBuf::from(path),
    };
    let dir = full.parent().map(Path::to_path_buf);
    let mut out = format!("sqlite://{}", full.display());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    (out, dir)
}

fn read_secret(from: &SecretSource) -> Result<String, String> {
    let var = from.env_var().ok_or("set env or secretKeyRef")?;
    std::env::var(&var).map_err(|_| format!("the environment variable {var} is not set"))
}

/// The data sources of a bundle by name (and Synapse name); one that cannot be resolved is
/// a located diagnostic.
pub fn open_all<'a>(
    resources: impl Iterator<Item = &'a Loaded>,
    data_dir: Option<&Path>,
    diagnostics: &mut Vec<Diagnostic>,
) -> HashMap<String, Arc<DataSource>> {
    let mut out = HashMap::new();
    for loaded in resources {
        let Resource::DataSource(ds) = &loaded.resource else {
            continue;
        };
        let name = loaded.resource.name();
        let spec = with_ca_beside(&ds.spec, &loaded.origin.file);
        match DataSource::new(loaded.resource.display_name(), &spec, data_dir) {
            Ok(source) => {
                let source = Arc::new(source);
                if let Some(alias) = loaded.resource.synapse_name() {
                    out.insert(alias.to_string(), source.clone());
                }
                out.insert(name.to_string(), source);
            }
            Err((field, message)) => diagnostics.push(loaded.error(&field, message)),
        }
    }
    out
}

/// `spec` with a relative `tls.caFile` made relative to the YAML file it came from.
fn with_ca_beside(spec: &DataSourceSpec, origin: &str) -> DataSourceSpec {
    let mut spec = spec.clone();
    if let Some(tls) = &mut spec.tls
        && let Some(file) = &mut tls.ca_file
    {
        *file = ferry_api::check::security::beside_origin(origin, file);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_files_live_under_the_data_dir() {
        let (url, dir) = sqlite_under("sqlite:clinic.db", Some(Path::new("/data")));
        assert_eq!(url, "sqlite:///data/clinic.db");
        assert_eq!(dir.as_deref(), Some(Path::new("/data")));
        let (url, _) = sqlite_under("sqlite:/abs/x.db?mode=rwc", Some(Path::new("/data")));
        assert_eq!(url, "sqlite:///abs/x.db?mode=rwc");
        let (url, dir) = sqlite_under("sqlite::memory:", Some(Path::new("/data")));
        assert_eq!((url.as_str(), dir), ("sqlite::memory:", None));
    }
}
