//! Data integration checks: DataSources, DataServices (served as APIs at
//! `/services/<name>`, each resource's flow one [`Mediator::DataCall`]) and the `dbLookup` /
//! `dbReport` mediators. SQL is cut into text and parameter slots here ([`sql`]), parameter
//! defaults are converted and patterns compiled ([`param`]), so the runtime only binds.

pub mod param;
pub mod sql;

use std::collections::HashMap;

use super::cx::Cx;
use super::mediator::Mediator;
use super::value::ValueSource;
use super::{Api, ApiResource};
use crate::mediator::{DbConnection, DbLookupSpec, DbReportSpec, DbStatement};
use crate::resources::{
    DataQuery, DataServiceSpec, DataSourceSpec, DataSourceTls, DatabaseType, OutputType, ParamType,
    QueryResult, TlsMode,
};
pub use param::{Param, SqlValue};
pub use sql::{ParamStyle, SqlPiece};

/// The methods a data service resource may take.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A checked query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Its name.
    pub name: String,
    /// The SQL, cut into text and `:name` slots.
    pub sql: Vec<SqlPiece>,
    /// The declared parameters, by name.
    pub params: Vec<Param>,
    /// How rows are answered; `None` for a write.
    pub result: Option<QueryResult>,
    /// Rows answered at most.
    pub max_rows: Option<u64>,
}

/// What one resource of a data service runs: the flow of its API resource.
#[derive(Debug, Clone)]
pub struct DataCall {
    /// The service's name (logs, errors).
    pub service: String,
    /// The DataSource's name.
    pub data_source: String,
    /// The queries run, in order (one, or a request box run in one transaction).
    pub queries: Vec<Query>,
    /// The body is an array, the query runs per element in one transaction.
    pub batch: bool,
    /// 404 when nothing is found or changed.
    pub not_found: bool,
    /// The status of a successful answer.
    pub status: u16,
    /// The format when `Accept` does not choose.
    pub output: OutputType,
}

/// A checked `dbLookup` or `dbReport`.
#[derive(Debug, Clone)]
pub struct DbMediator {
    /// The DataSource's name.
    pub data_source: String,
    /// The statements, in order.
    pub statements: Vec<DbStatementChecked>,
    /// Run all statements in one transaction (dbReport `useTransaction`).
    pub use_transaction: bool,
}

/// One checked statement of a database mediator.
#[derive(Debug, Clone)]
pub struct DbStatementChecked {
    /// The SQL, cut at its `?` placeholders.
    pub sql: Vec<SqlPiece>,
    /// The value of each placeholder, with its type.
    pub parameters: Vec<(ValueSource, ParamType)>,
    /// dbLookup: `(property, column)` pairs set from the first row; a column given as a
    /// number is a 1-based index.
    pub results: Vec<(String, String)>,
}

/// Checks a DataSource; true when it may be opened.
pub fn check_source(cx: &mut Cx<'_>, spec: &DataSourceSpec) -> bool {
    let before = cx.error_count();
    match (&spec.url, &spec.url_from) {
        (Some(_), Some(_)) => cx.error("spec.url", "set exactly one of url and urlFrom"),
        (None, None) => cx.error("spec", "set url or urlFrom"),
        (Some(url), None) => {
            if let Err(e) = check_url_scheme(spec.type_, url) {
                cx.error("spec.url", e);
            }
        }
        (None, Some(from)) => {
            if from.env_var().is_none() || (from.env.is_some() && from.secret_key_ref.is_some()) {
                cx.error("spec.urlFrom", "set exactly one of env and secretKeyRef");
            }
        }
    }
    if let Some(from) = &spec.password_from
        && (from.env_var().is_none() || (from.env.is_some() && from.secret_key_ref.is_some()))
    {
        cx.error(
            "spec.passwordFrom",
            "set exactly one of env and secretKeyRef",
        );
    }
    if spec.type_ == DatabaseType::Sqlite
        && (spec.username.is_some() || spec.password_from.is_some())
    {
        cx.error("spec.username", "a SQLite database has no user or password");
    }
    let pool = &spec.pool;
    if pool.max_connections == 0 {
        cx.error("spec.pool.maxConnections", "must be at least 1");
    }
    if pool.min_connections > pool.max_connections {
        cx.error("spec.pool.minConnections", "must not exceed maxConnections");
    }
    if pool.acquire_timeout_ms == 0 {
        cx.error("spec.pool.acquireTimeoutMs", "must be at least 1");
    }
    if let Some(tls) = &spec.tls {
        if spec.type_ == DatabaseType::Sqlite {
            cx.error(
                "spec.tls",
                "a SQLite database is a file: it has no connection to secure",
            );
        } else {
            check_tls(cx, "spec.tls", tls);
        }
    }
    if let (Some(url), None) = (&spec.url, &spec.tls)
        && let Err(e) = url_tls(spec.type_, url)
    {
        cx.error("spec.url", e);
    }
    for (i, sql) in spec.init_sql.iter().enumerate() {
        if sql.trim().is_empty() {
            cx.error(&format!("spec.initSql[{i}]"), "an empty statement");
        }
    }
    cx.error_count() == before
}

/// Checks a database connection's `tls` block at `field`.
pub fn check_tls(cx: &mut Cx<'_>, field: &str, tls: &DataSourceTls) {
    if tls.mode == TlsMode::Require {
        cx.error(
            &format!("{field}.mode"),
            "require encrypts without verifying the server's certificate, and Ferry never connects unverified: use verifyFull (or verifyCa), with caFile for a private CA",
        );
    }
    match &tls.ca_file {
        Some(f) if f.trim().is_empty() => cx.error(&format!("{field}.caFile"), "an empty path"),
        Some(_) if tls.mode == TlsMode::Disable => cx.error(
            &format!("{field}.caFile"),
            "caFile goes with mode verifyFull or verifyCa",
        ),
        _ => {}
    }
}

/// What TLS a database URL asks for by itself (no `tls` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlTls {
    /// It names no mode: plain text (the drivers' own default, `prefer`, would encrypt
    /// without verifying).
    Unset,
    /// `sslmode=disable` / `ssl-mode=DISABLED`.
    Disabled,
    /// A verifying mode (`verify-ca`, `verify-full`; `VERIFY_CA`, `VERIFY_IDENTITY`), with
    /// the URL's own CA parameter.
    Verified,
}

/// The TLS mode of a `type_` URL: PostgreSQL's `sslmode`, MySQL's `ssl-mode`. A mode that
/// encrypts without verifying the server is an error (a sentence).
pub fn url_tls(type_: DatabaseType, url: &str) -> Result<UrlTls, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mode = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = key.to_ascii_lowercase();
        let named = match type_ {
            DatabaseType::Postgres => key == "sslmode",
            DatabaseType::Mysql => key == "ssl-mode" || key == "sslmode",
            DatabaseType::Sqlite => false,
        };
        named.then(|| value.to_ascii_lowercase())
    });
    let Some(mode) = mode else {
        return Ok(UrlTls::Unset);
    };
    match (type_, mode.as_str()) {
        (DatabaseType::Postgres, "disable") | (DatabaseType::Mysql, "disabled") => {
            Ok(UrlTls::Disabled)
        }
        (DatabaseType::Postgres, "verify-ca" | "verify-full")
        | (DatabaseType::Mysql, "verify_ca" | "verify_identity") => Ok(UrlTls::Verified),
        (DatabaseType::Postgres, "allow" | "prefer" | "require")
        | (DatabaseType::Mysql, "preferred" | "required") => Err(format!(
            "the URL's TLS mode {mode} encrypts without verifying the server's certificate, and Ferry never connects unverified: use {} (or the tls block)",
            if type_ == DatabaseType::Postgres {
                "sslmode=verify-full"
            } else {
                "ssl-mode=VERIFY_IDENTITY"
            }
        )),
        _ => Err(format!(
            "the URL's TLS mode {mode:?} is not one the driver knows"
        )),
    }
}

/// Whether `url`'s scheme is the one of `type_`.
pub fn check_url_scheme(type_: DatabaseType, url: &str) -> Result<(), String> {
    let ok = match type_ {
        DatabaseType::Postgres => {
            url.starts_with("postgres://") || url.starts_with("postgresql://")
        }
        DatabaseType::Mysql => url.starts_with("mysql://") || url.starts_with("mariadb://"),
        DatabaseType::Sqlite => url.starts_with("sqlite:"),
    };
    if ok {
        Ok(())
    } else {
        let expected = match type_ {
            DatabaseType::Postgres => "postgres://",
            DatabaseType::Mysql => "mysql://",
            DatabaseType::Sqlite => "sqlite:",
        };
        Err(format!("a {type_:?} URL starts with {expected}").to_lowercase())
    }
}

/// Checks a DataService; its checked form is an API served at `/services/<name>`.
pub fn check_service(cx: &mut Cx<'_>, name: &str, spec: &DataServiceSpec) -> Option<Api> {
    if let Err(e) = super::proxy::context(name) {
        cx.error("metadata.name", e);
    }
    cx.reference("spec.dataSource", "DataSource", &spec.data_source);
    let mut queries: HashMap<&str, Query> = HashMap::new();
    for (i, q) in spec.queries.iter().enumerate() {
        let field = format!("spec.queries[{i}]");
        if queries.contains_key(q.name.as_str()) {
            cx.error(
                &format!("{field}.name"),
                format!("duplicate query name \"{}\"", q.name),
            );
            continue;
        }
        if let Some(checked) = check_query(cx, &field, q) {
            queries.insert(&q.name, checked);
        }
    }
    if spec.resources.is_empty() {
        cx.error(
            "spec.resources",
            "a data service needs at least one resource",
        );
    }
    let mut routes: HashMap<(String, String), usize> = HashMap::new();
    let mut resources = Vec::with_capacity(spec.resources.len());
    for (i, r) in spec.resources.iter().enumerate() {
        let field = format!("spec.resources[{i}]");
        let method = r.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            cx.error(
                &format!("{field}.method"),
                format!("{:?} is not one of {}", r.method, METHODS.join(", ")),
            );
        }
        if !r.path.starts_with('/') {
            cx.error(&format!("{field}.path"), "must start with /");
        }
        let key = (method.clone(), super::normalize_template(&r.path));
        if let Some(first) = routes.insert(key, i) {
            cx.error(
                &field,
                format!(
                    "{method} {} is already served by spec.resources[{first}]",
                    r.path
                ),
            );
        }
        let names: Vec<(String, &String)> = match (&r.query, r.queries.is_empty()) {
            (Some(q), true) => vec![(format!("{field}.query"), q)],
            (None, false) => r
                .queries
                .iter()
                .enumerate()
                .map(|(j, q)| (format!("{field}.queries[{j}]"), q))
                .collect(),
            _ => {
                cx.error(&field, "set exactly one of query and queries");
                continue;
            }
        };
        if r.batch && names.len() > 1 {
            cx.error(
                &format!("{field}.batch"),
                "a batch runs one query per element; name it in query",
            );
        }
        if r.batch && method == "GET" {
            cx.error(
                &format!("{field}.batch"),
                "a batch request has a body: use POST, PUT or PATCH",
            );
        }
        if let Some(status) = r.status
            && !(200..300).contains(&status)
        {
            cx.error(
                &format!("{field}.status"),
                "a successful answer's status is 2xx",
            );
        }
        let mut run = Vec::with_capacity(names.len());
        for (at, q) in names {
            match queries.get(q.as_str()) {
                Some(query) => run.push(query.clone()),
                None => {
                    if !spec.queries.iter().any(|d| &d.name == q) {
                        cx.error(&at, format!("query \"{q}\" is not defined"));
                    }
                }
            }
        }
        resources.push(ApiResource {
            label: r.path.clone(),
            in_sequence: vec![Mediator::DataCall(Box::new(DataCall {
                service: name.to_string(),
                data_source: spec.data_source.clone(),
                queries: run,
                batch: r.batch,
                not_found: r.not_found,
                status: r.status.unwrap_or(200),
                output: spec.output_type,
            }))],
            out_sequence: None,
            fault_sequence: None,
            listeners: super::tls::Listeners::BOTH,
            authentication: Default::default(),
        });
    }
    Some(Api {
        resources,
        fault_sequence: None,
        cors: None,
        client_certificate: false,
        authentication: None,
        trace: false,
    })
}

fn check_query(cx: &mut Cx<'_>, field: &str, q: &DataQuery) -> Option<Query> {
    let before = cx.error_count();
    if q.name.trim().is_empty() {
        cx.error(&format!("{field}.name"), "must not be empty");
    }
    let pieces = match sql::parse(&q.sql, ParamStyle::Named) {
        Ok(p) => p,
        Err(e) => {
            cx.error(&format!("{field}.sql"), e);
            return None;
        }
    };
    let used = sql::names(&pieces);
    let mut params: Vec<Param> = Vec::with_capacity(q.params.len());
    for (i, p) in q.params.iter().enumerate() {
        let at = format!("{field}.params[{i}]");
        if params.iter().any(|d| d.name == p.name) {
            cx.error(
                &format!("{at}.name"),
                format!("duplicate parameter \"{}\"", p.name),
            );
            continue;
        }
        if !used.contains(&p.name.as_str()) {
            cx.warning(
                &format!("{at}.name"),
                format!(
                    "parameter \"{}\" is not used by the SQL (:{})",
                    p.name, p.name
                ),
            );
        }
        let numeric = matches!(
            p.type_,
            ParamType::Integer | ParamType::Number | ParamType::Decimal
        );
        if !numeric && (p.minimum.is_some() || p.maximum.is_some()) {
            cx.error(
                &at,
                "minimum and maximum apply to integer, number and decimal parameters",
            );
        }
        if p.type_ != ParamType::String
            && (p.max_length.is_some() || p.pattern.is_some() || !p.allowed.is_empty())
        {
            cx.error(
                &at,
                "maxLength, pattern and enum apply to string parameters",
            );
        }
        let pattern = match &p.pattern {
            Some(src) => cx.regex(&format!("{at}.pattern"), &format!("^(?:{src})$")),
            None => None,
        };
        let mut checked = Param {
            name: p.name.clone(),
            type_: p.type_,
            default: None,
            optional: p.optional,
            minimum: p.minimum,
            maximum: p.maximum,
            max_length: p.max_length,
            pattern,
            allowed: p.allowed.clone(),
        };
        if let Some(d) = &p.default {
            match checked.bind_value(Some(&serde_json::Value::String(d.clone()))) {
                Ok(v) => checked.default = Some(v),
                Err(e) => cx.error(&format!("{at}.default"), e),
            }
        }
        params.push(checked);
    }
    for name in &used {
        if !params.iter().any(|p| p.name == *name) && !q.params.iter().any(|p| p.name == *name) {
            cx.error(
                &format!("{field}.sql"),
                format!("parameter :{name} is not declared in params"),
            );
        }
    }
    if let Some(r) = &q.result {
        for (name, value) in [("element", &r.element), ("rowName", &r.row_name)] {
            if let Some(v) = value
                && !is_xml_name(v)
            {
                cx.error(
                    &format!("{field}.result.{name}"),
                    format!("{v:?} is not an XML element name"),
                );
            }
        }
        for (i, c) in r.columns.iter().enumerate() {
            let shown = c.name.as_deref().unwrap_or(&c.column);
            if !is_xml_name(shown) {
                cx.error(
                    &format!("{field}.result.columns[{i}]"),
                    format!("{shown:?} is not an XML element name; give it a name"),
                );
            }
        }
    }
    if q.max_rows == Some(0) {
        cx.error(&format!("{field}.maxRows"), "must be at least 1");
    }
    (cx.error_count() == before).then(|| Query {
        name: q.name.clone(),
        sql: pieces,
        params,
        result: q.result.clone(),
        max_rows: q.max_rows,
    })
}

/// Whether `s` can be an XML element name (and so a JSON key of the same answer).
fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Checks a `dbLookup`.
pub fn db_lookup(cx: &mut Cx<'_>, field: &str, spec: &DbLookupSpec) -> Option<DbMediator> {
    let data_source = connection(cx, field, &spec.connection);
    let statements = statements(cx, field, &spec.statements, true);
    Some(DbMediator {
        data_source: data_source?,
        statements: statements?,
        use_transaction: false,
    })
}

/// Checks a `dbReport`.
pub fn db_report(cx: &mut Cx<'_>, field: &str, spec: &DbReportSpec) -> Option<DbMediator> {
    let data_source = connection(cx, field, &spec.connection);
    let statements = statements(cx, field, &spec.statements, false);
    Some(DbMediator {
        data_source: data_source?,
        statements: statements?,
        use_transaction: spec.use_transaction,
    })
}

fn connection(cx: &mut Cx<'_>, field: &str, c: &DbConnection) -> Option<String> {
    let at = format!("{field}.connection");
    let inline = c.driver.is_some()
        || c.url.is_some()
        || c.url_from.is_some()
        || c.user.is_some()
        || c.password_from.is_some()
        || !c.pool.is_empty();
    if inline {
        cx.error(
            &at,
            "inline connections (driver, url, user, pool) are not supported: declare a DataSource and name it in dsName",
        );
        return None;
    }
    let Some(name) = &c.ds_name else {
        cx.error(
            &format!("{at}.dsName"),
            "name the DataSource the statements run on",
        );
        return None;
    };
    cx.reference(&format!("{at}.dsName"), "DataSource", name)
        .then(|| name.clone())
}

fn statements(
    cx: &mut Cx<'_>,
    field: &str,
    list: &[DbStatement],
    lookup: bool,
) -> Option<Vec<DbStatementChecked>> {
    let before = cx.error_count();
    if list.is_empty() {
        cx.error(
            &format!("{field}.statements"),
            "at least one statement is needed",
        );
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let at = format!("{field}.statements[{i}]");
        let pieces = match sql::parse(&s.sql, ParamStyle::Positional) {
            Ok(p) => p,
            Err(e) => {
                cx.error(&format!("{at}.sql"), e);
                continue;
            }
        };
        let count = sql::positional_count(&pieces);
        if count != s.parameters.len() {
            cx.error(
                &format!("{at}.parameters"),
                format!(
                    "the SQL has {count} ? placeholders but {} parameters are given",
                    s.parameters.len()
                ),
            );
        }
        let mut parameters = Vec::with_capacity(s.parameters.len());
        for (j, p) in s.parameters.iter().enumerate() {
            let pat = format!("{at}.parameters[{j}]");
            let Some(type_) = param::type_from_sql_name(&p.type_) else {
                cx.error(
                    &format!("{pat}.type"),
                    format!(
                        "{:?} is not a type Ferry binds (VARCHAR, CHAR, INTEGER, BIGINT, SMALLINT, DOUBLE, REAL, NUMERIC, DECIMAL, BOOLEAN, BIT, DATE, TIMESTAMP)",
                        p.type_
                    ),
                );
                continue;
            };
            let source = match (&p.value, &p.expression) {
                (Some(v), None) => {
                    if let Err(expected) =
                        param::convert(&serde_json::Value::String(v.clone()), type_)
                    {
                        cx.error(&format!("{pat}.value"), format!("expected {expected}"));
                        continue;
                    }
                    ValueSource::Literal(v.clone())
                }
                (None, Some(e)) => match cx.expression(&format!("{pat}.expression"), e) {
                    Some(e) => ValueSource::Expr(e),
                    None => continue,
                },
                _ => {
                    cx.error(&pat, "set exactly one of value and expression");
                    continue;
                }
            };
            parameters.push((source, type_));
        }
        if !lookup && !s.results.is_empty() {
            cx.error(
                &format!("{at}.results"),
                "dbReport writes; read columns into properties with dbLookup",
            );
        }
        let results = s
            .results
            .iter()
            .map(|r| (r.name.clone(), r.column.clone()))
            .collect();
        out.push(DbStatementChecked {
            sql: pieces,
            parameters,
            results,
        });
    }
    (cx.error_count() == before).then_some(out)
}
