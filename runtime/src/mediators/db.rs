//! `dbLookup` and `dbReport`: SQL statements on a DataSource inside a flow (MI's
//! `<dblookup>` / `<dbreport>`). Parameters come from literals or expressions and are bound
//! by the driver at their `?` placeholders. dbLookup copies columns of the first row into
//! properties (none when there is no row, as in MI); dbReport writes, all statements in one
//! transaction with `useTransaction`. A failure is a fault (400 bad value, 409 constraint,
//! 503 database down) for the fault sequence, with Ferry's words, not the driver's.

use std::sync::Arc;

use ferry_api::check::data::{DbMediator, SqlValue, param};
use ferry_api::check::value::{ValueSource, to_text};
use ferry_api::resources::ParamType;
use serde_json::Value;

use super::BuildCx;
use crate::data::error::DataError;
use crate::data::exec::{self, Outcome, Rendered, on_pool};
use crate::data::source::DataSource;
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;

struct Statement {
    sql: Rendered,
    parameters: Vec<(ValueSource, ParamType)>,
    results: Vec<(String, String)>,
}

/// A `dbLookup` (`lookup`) or `dbReport`.
pub struct Db {
    what: &'static str,
    source: Arc<DataSource>,
    statements: Vec<Statement>,
    lookup: bool,
    use_transaction: bool,
}

impl Db {
    /// Builds the mediator on its data source.
    pub fn build(c: &DbMediator, lookup: bool, cx: &mut BuildCx<'_>) -> Option<Db> {
        let source = cx.data_source(&c.data_source)?;
        let statements = c
            .statements
            .iter()
            .map(|s| {
                Some(Statement {
                    sql: exec::render(&s.sql, source.type_, |_| None)?,
                    parameters: s.parameters.clone(),
                    results: s.results.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Db {
            what: if lookup { "dbLookup" } else { "dbReport" },
            source,
            statements,
            lookup,
            use_transaction: c.use_transaction,
        })
    }

    /// Runs the statements on `msg`.
    pub async fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let mut all = Vec::with_capacity(self.statements.len());
        for s in &self.statements {
            all.push(self.values(s, msg)?);
        }
        let pool = self
            .source
            .pool()
            .await
            .map_err(|e| e.into_fault(self.what))?;
        let lookup = self.lookup;
        let outcomes: Result<Vec<Outcome>, DataError> = async {
            on_pool!(&pool, |p, D| {
                if self.use_transaction {
                    let mut tx = p.begin().await.map_err(DataError::from_sqlx)?;
                    let mut out = Vec::with_capacity(all.len());
                    let mut failed = None;
                    for (s, values) in self.statements.iter().zip(all) {
                        match exec::run::<D, _>(&mut *tx, &s.sql.sql, values, lookup, Some(1)).await
                        {
                            Ok(o) => out.push(o),
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    match failed {
                        Some(e) => {
                            let _ = tx.rollback().await;
                            Err(e)
                        }
                        None => tx.commit().await.map(|_| out).map_err(DataError::from_sqlx),
                    }
                } else {
                    let mut out = Vec::with_capacity(all.len());
                    for (s, values) in self.statements.iter().zip(all) {
                        out.push(exec::run::<D, _>(p, &s.sql.sql, values, lookup, Some(1)).await?);
                    }
                    Ok(out)
                }
            })
        }
        .await;
        let outcomes = outcomes.map_err(|e| e.into_fault(self.what))?;
        if self.lookup {
            for (s, outcome) in self.statements.iter().zip(outcomes) {
                let Outcome::Rows { columns, rows } = outcome else {
                    continue;
                };
                let Some(row) = rows.first() else {
                    continue;
                };
                for (property, column) in &s.results {
                    let index = match column.parse::<usize>() {
                        Ok(n) if n >= 1 => Some(n - 1),
                        _ => columns.iter().position(|c| c.eq_ignore_ascii_case(column)),
                    };
                    match index.and_then(|i| row.get(i)) {
                        Some(Value::Null) | None => {}
                        Some(v) => msg.set_property(PropertyScope::Default, property, v.clone()),
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// The statement's parameter values for this message; an empty or null value binds
    /// NULL, one that is not of its type is a 400.
    fn values(&self, s: &Statement, msg: &Message) -> Result<Vec<SqlValue>, Fault> {
        let mut values = Vec::with_capacity(s.parameters.len());
        for (i, (source, type_)) in s.parameters.iter().enumerate() {
            let value = match source {
                ValueSource::Literal(text) => Value::String(text.clone()),
                ValueSource::Expr(e) => eval(e, msg)?,
            };
            // Null, or empty text for a type that is not text, binds NULL (MI binds what an
            // expression that found nothing gives the same way).
            let empty = matches!(&value, Value::Null)
                || (*type_ != ParamType::String && to_text(&value).is_empty());
            let bound = if empty {
                SqlValue::Null(*type_)
            } else {
                param::convert(&value, *type_).map_err(|expected| {
                    DataError::bad_parameter(format!("parameter {}: expected {expected}", i + 1))
                        .into_fault(self.what)
                })?
            };
            values.push(bound);
        }
        Ok(s.sql
            .slots
            .iter()
            .filter_map(|&i| values.get(i).cloned())
            .collect())
    }
}
