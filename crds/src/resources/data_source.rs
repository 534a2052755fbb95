//! The DataSource kind: a pooled connection to a PostgreSQL, MySQL/MariaDB or SQLite
//! database, named by DataServices and by the `dbLookup` / `dbReport` mediators
//! (`connection.dsName`), as Micro Integrator's data sources are.
//!
//! A kind of its own rather than a field of the runtime group: several services and
//! mediators share one pool, a group may run without an IntegrationRuntime (and `ferry run`
//! of a directory has none), and its own `Accepted` condition says which database setting is
//! wrong. Its password or URL comes from a Secret the operator injects as an environment
//! variable; the ConfigMap holds only the reference.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, SecretSource, default_runtime};

/// A database connection pool.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "DataSource",
    namespaced,
    derive = "PartialEq",
    shortname = "dsrc",
    category = "ferry",
    status = "DataSourceStatus",
    doc = "A pooled database connection (MI data source) for DataServices and the dbLookup/dbReport mediators: PostgreSQL, MySQL/MariaDB or SQLite.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Runtime", type_ = "string", json_path = ".spec.runtime"),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceSpec {
    /// The runtime group that hosts this data source. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The database: `postgres`, `mysql` (MySQL and MariaDB) or `sqlite`.
    #[serde(rename = "type")]
    pub type_: DatabaseType,
    /// The connection URL when it holds no secret (`postgres://app@db:5432/clinic`,
    /// `mysql://app@db:3306/clinic`, `sqlite:clinic.db`). Exactly one of `url` and
    /// `urlFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The connection URL, from a Secret (`secretKeyRef`) or an environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretSource>,
    /// The user name, when the URL has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, from a Secret or an environment variable, when the URL has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// Connection pool settings.
    #[serde(default)]
    pub pool: PoolSettings,
    /// TLS to the database server (PostgreSQL, MySQL/MariaDB). Without it the URL's
    /// `sslmode` (PostgreSQL: `disable`, `verify-ca`, `verify-full`, with `sslrootcert`)
    /// or `ssl-mode` (MySQL: `DISABLED`, `VERIFY_CA`, `VERIFY_IDENTITY`, with `ssl-ca`)
    /// decides, and a URL naming neither connects in plain text. Modes that encrypt
    /// without verifying (`prefer`, `require`, `PREFERRED`, `REQUIRED`) are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<DataSourceTls>,
    /// SQL statements run once, in order, when the runtime first uses the data source (after
    /// every start and reload): schema and seed data of an embedded SQLite database, say.
    /// Write them so running them twice is harmless (`CREATE TABLE IF NOT EXISTS`,
    /// `INSERT ... ON CONFLICT DO NOTHING`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_sql: Vec<String>,
    /// Whether `/readyz` fails while the database cannot be reached. Default false: a
    /// database outage then answers 503 per request instead of taking the pods out of the
    /// Service.
    #[serde(default)]
    pub readiness_check: bool,
}

/// The database behind a data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum DatabaseType {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite (a file on the runtime's volume, or `sqlite::memory:`).
    Sqlite,
}

/// How the pool holds connections (MI's `maxActive`, `minIdle`, `maxWait`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PoolSettings {
    /// Connections open at most (MI `maxActive`). Default 10.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Connections kept open while idle (MI `minIdle`). Default 0.
    #[serde(default)]
    pub min_connections: u32,
    /// Milliseconds a request waits for a free connection before it is answered 503 (MI
    /// `maxWait`). Default 5000.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// Milliseconds an idle connection stays open. Default 600000 (10 minutes).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Milliseconds a connection lives at most. Default 1800000 (30 minutes).
    #[serde(default = "default_max_lifetime_ms")]
    pub max_lifetime_ms: u64,
    /// Prepared statements kept per connection. Default 100; 0 prepares every statement
    /// anew.
    #[serde(default = "default_statement_cache")]
    pub statement_cache_capacity: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            min_connections: 0,
            acquire_timeout_ms: default_acquire_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            max_lifetime_ms: default_max_lifetime_ms(),
            statement_cache_capacity: default_statement_cache(),
        }
    }
}

fn default_max_connections() -> u32 {
    10
}
fn default_acquire_timeout_ms() -> u64 {
    5000
}
fn default_idle_timeout_ms() -> u64 {
    600_000
}
fn default_max_lifetime_ms() -> u64 {
    1_800_000
}
fn default_statement_cache() -> usize {
    100
}

/// TLS settings of a database connection (a data source, a PostgreSQL store).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceTls {
    /// `verifyFull` (the certificate and the host name checked; the default), `verifyCa`
    /// (the certificate checked, not the name) or `disable`. `require` (encrypted but not
    /// verified) is refused.
    #[serde(default)]
    pub mode: TlsMode,
    /// A PEM file of certificate authorities trusted besides the system roots (a private
    /// CA; in Kubernetes a mounted Secret or ConfigMap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// TLS modes, as libpq names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// Encrypted, the server's certificate not checked. Refused by the validator: Ferry
    /// never connects unverified.
    Require,
    /// Encrypted, the certificate checked against the CAs.
    VerifyCa,
    /// Encrypted, the certificate and host name checked.
    #[default]
    VerifyFull,
}

/// Status of a DataSource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
