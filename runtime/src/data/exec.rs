//! Running statements: SQL rendered once per dialect, values bound by the driver (never
//! spliced into the text), rows decoded into JSON values. One generic body serves the
//! three drivers through [`Driver`]; [`on_pool!`] picks the driver of a pool.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use ferry_api::check::data::{SqlPiece, SqlValue};
use ferry_api::resources::{DatabaseType, ParamType};
use futures::TryStreamExt as _;
use serde_json::Value;
use sqlx::query::Query;
use sqlx::types::Decimal;
use sqlx::{Column as _, Database, Row as _, TypeInfo as _, ValueRef as _};

use super::error::DataError;

/// A statement rendered for one dialect: its text, and for each placeholder in order the
/// slot it takes its value from (a parameter's index, or a `?`'s position).
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The SQL with the driver's placeholders.
    pub sql: Arc<str>,
    /// Per placeholder, the index of the value bound to it.
    pub slots: Vec<usize>,
}

/// Renders `pieces` for `dialect`; `index` gives a named parameter's value index (`None`:
/// not declared, which the checker refused).
pub fn render(
    pieces: &[SqlPiece],
    dialect: DatabaseType,
    index: impl Fn(&str) -> Option<usize>,
) -> Option<Rendered> {
    let mut sql = String::new();
    let mut slots = Vec::new();
    for p in pieces {
        let slot = match p {
            SqlPiece::Text(t) => {
                sql.push_str(t);
                continue;
            }
            SqlPiece::Named(n) => index(n)?,
            SqlPiece::Positional(i) => *i,
        };
        slots.push(slot);
        match dialect {
            DatabaseType::Postgres => {
                sql.push('$');
                sql.push_str(&slots.len().to_string());
            }
            DatabaseType::Mysql | DatabaseType::Sqlite => sql.push('?'),
        }
    }
    Some(Rendered {
        sql: Arc::from(sql),
        slots,
    })
}

/// What a statement gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Rows (a query with a result).
    Rows {
        /// The column names.
        columns: Arc<[String]>,
        /// The rows' values, in column order.
        rows: Vec<Vec<Value>>,
    },
    /// The number of rows a write changed.
    Changed(u64),
}

impl Outcome {
    /// Whether nothing was found or changed.
    pub fn is_empty(&self) -> bool {
        match self {
            Outcome::Rows { rows, .. } => rows.is_empty(),
            Outcome::Changed(n) => *n == 0,
        }
    }
}

/// A driver's binding and decoding.
pub trait Driver: Database + Sized {
    /// Binds one value.
    fn bind_value<'q>(
        q: Query<'q, Self, <Self as Database>::Arguments<'q>>,
        v: &SqlValue,
    ) -> Result<Query<'q, Self, <Self as Database>::Arguments<'q>>, DataError>;

    /// Decodes column `i` of `row`.
    fn cell(row: &Self::Row, i: usize) -> Result<Value, DataError>;

    /// The rows a write changed.
    fn changed(done: &Self::QueryResult) -> u64;
}

/// Runs `sql` with `binds` on `exec`: rows (at most `max_rows`) when `rows` is set, else the
/// count of changed rows.
pub async fn run<'e, D, E>(
    exec: E,
    sql: &'e str,
    binds: Vec<SqlValue>,
    rows: bool,
    max_rows: Option<u64>,
) -> Result<Outcome, DataError>
where
    D: Driver,
    E: sqlx::Executor<'e, Database = D> + 'e,
    for<'q> <D as Database>::Arguments<'q>: sqlx::IntoArguments<'q, D>,
{
    let mut q = sqlx::query::<D>(sql);
    for v in &binds {
        q = D::bind_value(q, v)?;
    }
    if !rows {
        let done = q.execute(exec).await.map_err(DataError::from_sqlx)?;
        return Ok(Outcome::Changed(D::changed(&done)));
    }
    let mut stream = q.fetch(exec);
    let mut columns: Option<Arc<[String]>> = None;
    let mut out = Vec::new();
    let limit = max_rows.unwrap_or(u64::MAX);
    while (out.len() as u64) < limit {
        let Some(row) = stream.try_next().await.map_err(DataError::from_sqlx)? else {
            break;
        };
        if columns.is_none() {
            columns = Some(column_names::<D>(&row));
        }
        out.push(decode_row::<D>(&row)?);
    }
    Ok(Outcome::Rows {
        columns: columns.unwrap_or_else(|| Arc::from(Vec::new())),
        rows: out,
    })
}

/// The column names of `row`.
pub fn column_names<D: Database>(row: &D::Row) -> Arc<[String]> {
    row.columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect::<Vec<_>>()
        .into()
}

/// Every value of `row`.
pub fn decode_row<D: Driver>(row: &D::Row) -> Result<Vec<Value>, DataError> {
    (0..row.len()).map(|i| D::cell(row, i)).collect()
}

/// Dispatches on a pool's driver: `$body` is compiled once per driver with `$p` its pool
/// and `$D` its `Database` type.
#[macro_export]
#[doc(hidden)]
macro_rules! on_pool {
    ($pool:expr, |$p:ident, $D:ident| $body:expr) => {
        match $pool {
            $crate::data::source::Pool::Postgres($p) => {
                #[allow(dead_code)]
                type $D = sqlx::Postgres;
                $body
            }
            $crate::data::source::Pool::Mysql($p) => {
                #[allow(dead_code)]
                type $D = sqlx::MySql;
                $body
            }
            $crate::data::source::Pool::Sqlite($p) => {
                #[allow(dead_code)]
                type $D = sqlx::Sqlite;
                $body
            }
        }
    };
}
pub use on_pool;

fn bad_decimal() -> DataError {
    DataError::bad_parameter("a decimal has more digits than the database driver takes (28)")
}

/// Binding shared by PostgreSQL and MySQL, which take every type natively.
macro_rules! bind_native {
    ($q:expr, $v:expr) => {
        Ok(match $v {
            SqlValue::Null(t) => match t {
                ParamType::String => $q.bind(None::<String>),
                ParamType::Integer => $q.bind(None::<i64>),
                ParamType::Number => $q.bind(None::<f64>),
                ParamType::Decimal => $q.bind(None::<Decimal>),
                ParamType::Boolean => $q.bind(None::<bool>),
                ParamType::Date => $q.bind(None::<NaiveDate>),
                ParamType::Timestamp => $q.bind(None::<NaiveDateTime>),
            },
            SqlValue::Text(s) => $q.bind(s.clone()),
            SqlValue::Integer(i) => $q.bind(*i),
            SqlValue::Number(f) => $q.bind(*f),
            SqlValue::Decimal(d) => $q.bind(d.parse::<Decimal>().map_err(|_| bad_decimal())?),
            SqlValue::Boolean(b) => $q.bind(*b),
            SqlValue::Date(d) => $q.bind(*d),
            SqlValue::Timestamp(t) => $q.bind(*t),
        })
    };
}

/// A column whose type Ferry does not answer: the client learns the column, not the SQL.
fn unsupported(row_column: &str, type_name: &str) -> DataError {
    DataError::failed(format!(
        "column \"{row_column}\" has type {type_name}, which Ferry does not answer; cast it to text in the query"
    ))
}

fn decode_failed(column: &str) -> DataError {
    DataError::failed(format!("column \"{column}\" could not be read"))
}

/// A decimal as a JSON number when it reads back exactly, else as text.
fn decimal_value(d: Decimal) -> Value {
    let text = d.to_string();
    match serde_json::from_str::<serde_json::Number>(&text) {
        Ok(n) if n.to_string() == text => Value::Number(n),
        _ => Value::String(text),
    }
}

fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn timestamp_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

fn bytes_value(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::String(s),
        Err(e) => Value::String(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
    }
}

impl Driver for sqlx::Postgres {
    fn changed(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn bind_value<'q>(
        q: Query<'q, Self, <Self as Database>::Arguments<'q>>,
        v: &SqlValue,
    ) -> Result<Query<'q, Self, <Self as Database>::Arguments<'q>>, DataError> {
        bind_native!(q, v)
    }

    fn cell(row: &Self::Row, i: usize) -> Result<Value, DataError> {
        // Borrowed: only an error message needs it as a String.
        let column = row.columns()[i].name();
        let raw = row.try_get_raw(i).map_err(|_| decode_failed(column))?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let type_name = raw.type_info().name().to_string();
        let e = |_| decode_failed(column);
        Ok(match type_name.as_str() {
            "BOOL" => Value::Bool(row.try_get::<bool, _>(i).map_err(e)?),
            "INT2" => Value::from(row.try_get::<i16, _>(i).map_err(e)?),
            "INT4" => Value::from(row.try_get::<i32, _>(i).map_err(e)?),
            "INT8" => Value::from(row.try_get::<i64, _>(i).map_err(e)?),
            "FLOAT4" => float_value(f64::from(row.try_get::<f32, _>(i).map_err(e)?)),
            "FLOAT8" => float_value(row.try_get::<f64, _>(i).map_err(e)?),
            "NUMERIC" => decimal_value(row.try_get::<Decimal, _>(i).map_err(e)?),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" => {
                Value::String(row.try_get::<String, _>(i).map_err(e)?)
            }
            "DATE" => Value::String(row.try_get::<NaiveDate, _>(i).map_err(e)?.to_string()),
            "TIME" => Value::String(row.try_get::<NaiveTime, _>(i).map_err(e)?.to_string()),
            "TIMESTAMP" => Value::String(timestamp_text(
                row.try_get::<NaiveDateTime, _>(i).map_err(e)?,
            )),
            "TIMESTAMPTZ" => Value::String(
                row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)
                    .map_err(e)?
                    .to_rfc3339(),
            ),
            "JSON" | "JSONB" => row.try_get::<Value, _>(i).map_err(e)?,
            "BYTEA" => bytes_value(row.try_get::<Vec<u8>, _>(i).map_err(e)?),
            // An enum, a domain over text, citext: their binary form is their text.
            other => match row.try_get_unchecked::<String, _>(i) {
                Ok(s) => Value::String(s),
                Err(_) => return Err(unsupported(column, other)),
            },
        })
    }
}

impl Driver for sqlx::MySql {
    fn changed(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn bind_value<'q>(
        q: Query<'q, Self, <Self as Database>::Arguments<'q>>,
        v: &SqlValue,
    ) -> Result<Query<'q, Self, <Self as Database>::Arguments<'q>>, DataError> {
        bind_native!(q, v)
    }

    fn cell(row: &Self::Row, i: usize) -> Result<Value, DataError> {
        // Borrowed: only an error message needs it as a String.
        let column = row.columns()[i].name();
        let raw = row.try_get_raw(i).map_err(|_| decode_failed(column))?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        let type_name = raw.type_info().name().to_string();
        let e = |_| decode_failed(column);
        let unsigned = type_name.ends_with("UNSIGNED");
        Ok(match type_name.trim_end_matches(" UNSIGNED") {
            "BOOLEAN" => Value::Bool(row.try_get::<bool, _>(i).map_err(e)?),
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" if unsigned => {
                Value::from(row.try_get_unchecked::<u64, _>(i).map_err(e)?)
            }
            "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
                Value::from(row.try_get_unchecked::<i64, _>(i).map_err(e)?)
            }
            "FLOAT" => float_value(f64::from(row.try_get::<f32, _>(i).map_err(e)?)),
            "DOUBLE" => float_value(row.try_get::<f64, _>(i).map_err(e)?),
            "DECIMAL" => decimal_value(row.try_get::<Decimal, _>(i).map_err(e)?),
            "DATE" => Value::String(row.try_get::<NaiveDate, _>(i).map_err(e)?.to_string()),
            "DATETIME" | "TIMESTAMP" => Value::String(timestamp_text(
                row.try_get::<NaiveDateTime, _>(i).map_err(e)?,
            )),
            "JSON" => row.try_get::<Value, _>(i).map_err(e)?,
            "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" | "BIT" => {
                bytes_value(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?)
            }
            // Text of every kind, ENUM, SET, TIME (which may exceed a day).
            other => match row.try_get_unchecked::<String, _>(i) {
                Ok(s) => Value::String(s),
                Err(_) => return Err(unsupported(column, other)),
            },
        })
    }
}

impl Driver for sqlx::Sqlite {
    fn changed(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn bind_value<'q>(
        q: Query<'q, Self, <Self as Database>::Arguments<'q>>,
        v: &SqlValue,
    ) -> Result<Query<'q, Self, <Self as Database>::Arguments<'q>>, DataError> {
        // SQLite has no decimal type: exact decimals go as text, which a NUMERIC column
        // stores as a number.
        Ok(match v {
            SqlValue::Null(_) => q.bind(None::<String>),
            SqlValue::Text(s) | SqlValue::Decimal(s) => q.bind(s.clone()),
            SqlValue::Integer(i) => q.bind(*i),
            SqlValue::Number(f) => q.bind(*f),
            SqlValue::Boolean(b) => q.bind(*b),
            SqlValue::Date(d) => q.bind(d.to_string()),
            SqlValue::Timestamp(t) => q.bind(timestamp_text(*t)),
        })
    }

    fn cell(row: &Self::Row, i: usize) -> Result<Value, DataError> {
        let col = &row.columns()[i];
        let column = col.name();
        let declared = col.type_info().name().to_ascii_uppercase();
        let raw = row.try_get_raw(i).map_err(|_| decode_failed(column))?;
        if raw.is_null() {
            return Ok(Value::Null);
        }
        // SQLite types values, not columns: decode what the value is.
        let stored = raw.type_info().name().to_string();
        let e = |_| decode_failed(column);
        Ok(match stored.as_str() {
            "INTEGER" if declared == "BOOLEAN" => {
                Value::Bool(row.try_get_unchecked::<i64, _>(i).map_err(e)? != 0)
            }
            "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(i).map_err(e)?),
            "REAL" => float_value(row.try_get_unchecked::<f64, _>(i).map_err(e)?),
            "BLOB" => bytes_value(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?),
            _ => Value::String(row.try_get_unchecked::<String, _>(i).map_err(e)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let pieces = vec![
            SqlPiece::Text("SELECT * FROM t WHERE a = ".into()),
            SqlPiece::Named("a".into()),
            SqlPiece::Text(" OR b = ".into()),
            SqlPiece::Named("a".into()),
        ];
        let pg = render(&pieces, DatabaseType::Postgres, |_| Some(0));
        assert_eq!(
            pg.map(|r| r.sql.to_string()).as_deref(),
            Some("SELECT * FROM t WHERE a = $1 OR b = $2")
        );
        let my = render(&pieces, DatabaseType::Mysql, |_| Some(0));
        assert_eq!(
            my.as_ref().map(|r| r.sql.to_string()).as_deref(),
            Some("SELECT * FROM t WHERE a = ? OR b = ?")
        );
        assert_eq!(my.map(|r| r.slots), Some(vec![0, 0]));
    }

    #[test]
    fn decimals_stay_exact() {
        assert_eq!(
            decimal_value("12.50".parse().unwrap_or_default()),
            Value::String("12.50".into())
        );
        assert_eq!(
            decimal_value("7000".parse().unwrap_or_default()),
            serde_json::json!(7000)
        );
    }
}
