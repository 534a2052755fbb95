//! A DataService resource at run time: reads the parameters from the request (path, query,
//! then the JSON or XML body), binds them, runs the query (or the request box / batch in one
//! transaction), and answers JSON or XML.
//!
//! A single query with a result streams: a task reads rows from the database and hands the
//! answer over in chunks through a small channel, so memory stays bounded whatever the
//! row count. The status is decided before the first byte: the task reports the first row
//! (or the error, or that there is none) first.

use std::sync::Arc;

use bytes::Bytes;
use ferry_api::check::data::{DataCall as Checked, Param, SqlValue};
use ferry_api::resources::OutputType;
use futures::TryStreamExt as _;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http_body_util::StreamBody;
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::encode::{self, Encoder, Format};
use super::error::DataError;
use super::exec::{self, Driver, Outcome, Rendered, on_pool};
use super::source::{DataSource, Pool};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::Flow;
use crate::transports::http::body::{self, BoxError};

/// Bytes gathered before a chunk goes to the client.
const CHUNK: usize = 32 * 1024;
/// Chunks in flight between the database task and the client: the memory bound.
const CHUNKS_IN_FLIGHT: usize = 4;

/// One query, rendered for the data source's dialect.
struct Prepared {
    sql: Rendered,
    params: Vec<Param>,
    result: Option<ferry_api::resources::QueryResult>,
    max_rows: Option<u64>,
}

/// A data service resource, ready to run.
pub struct DataCall {
    what: String,
    source: Arc<DataSource>,
    queries: Vec<Prepared>,
    batch: bool,
    not_found: bool,
    status: StatusCode,
    output: Format,
}

impl DataCall {
    /// Builds the resource's call on its data source.
    pub fn build(checked: &Checked, source: Arc<DataSource>) -> Option<DataCall> {
        let mut queries = Vec::with_capacity(checked.queries.len());
        for q in &checked.queries {
            let sql = exec::render(&q.sql, source.type_, |name| {
                q.params.iter().position(|p| p.name == name)
            })?;
            queries.push(Prepared {
                sql,
                params: q.params.clone(),
                result: q.result.clone(),
                max_rows: q.max_rows,
            });
        }
        Some(DataCall {
            what: format!("data service {}", checked.service),
            source,
            queries,
            batch: checked.batch,
            not_found: checked.not_found,
            status: StatusCode::from_u16(checked.status).unwrap_or(StatusCode::OK),
            output: match checked.output {
                OutputType::Json => Format::Json,
                OutputType::Xml => Format::Xml,
            },
        })
    }

    /// Answers the request in `msg`.
    pub async fn mediate(&self, msg: &mut Message) -> Result<Flow, Fault> {
        let format = self.format(msg);
        let inputs = Inputs::read(msg, self.batch).map_err(|e| self.fault(e))?;
        let pool = self.source.pool().await.map_err(|e| self.fault(e))?;
        let streamable = !self.batch && self.queries.len() == 1 && self.queries[0].result.is_some();
        if streamable {
            let q = &self.queries[0];
            let binds = bind(msg, q, &inputs.sets[0]).map_err(|e| self.fault(e))?;
            return self.stream(msg, pool, q, binds, format).await;
        }
        let mut binds = Vec::new();
        for q in &self.queries {
            for set in &inputs.sets {
                binds.push(bind(msg, q, set).map_err(|e| self.fault(e))?);
            }
        }
        let outcome = self
            .transaction(&pool, binds, inputs.sets.len())
            .await
            .map_err(|e| self.fault(e))?;
        if self.not_found && outcome.is_empty() {
            return Err(self.fault(DataError::not_found("nothing was found")));
        }
        let last = self.queries.last();
        let body = match (&outcome, last.and_then(|q| q.result.as_ref())) {
            (Outcome::Rows { columns, rows }, Some(result)) => Encoder::new(result, format)
                .all(columns, rows)
                .map_err(|e| self.fault(e))?,
            (Outcome::Changed(n), _) => encode::changed(*n, format),
            (Outcome::Rows { rows, .. }, None) => encode::changed(rows.len() as u64, format),
        };
        answer(msg, self.status, format, Bytes::from(body));
        Ok(Flow::Respond)
    }

    /// JSON or XML: the request's `Accept` when it names one, else the service's default.
    fn format(&self, msg: &Message) -> Format {
        let accept = msg
            .header("accept")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match (accept.contains("json"), accept.contains("xml")) {
            (true, false) => Format::Json,
            (false, true) => Format::Xml,
            _ => self.output,
        }
    }

    fn fault(&self, e: DataError) -> Fault {
        e.into_fault(&self.what)
    }

    /// Every query (per batch element) in one transaction; the last outcome (a batch's
    /// outcomes summed). Any failure rolls everything back.
    async fn transaction(
        &self,
        pool: &Pool,
        binds: Vec<Vec<SqlValue>>,
        per_query: usize,
    ) -> Result<Outcome, DataError> {
        on_pool!(pool, |p, D| {
            let mut tx = p.begin().await.map_err(DataError::from_sqlx)?;
            let mut last: Option<Outcome> = None;
            let mut binds = binds.into_iter();
            for q in &self.queries {
                let mut outcome: Option<Outcome> = None;
                for _ in 0..per_query {
                    let values = binds.next().unwrap_or_default();
                    let done = exec::run::<D, _>(
                        &mut *tx,
                        &q.sql.sql,
                        values,
                        q.result.is_some(),
                        q.max_rows,
                    )
                    .await;
                    let done = match done {
                        Ok(done) => done,
                        Err(e) => {
                            // The transaction is abandoned; rolling back explicitly frees
                            // the connection at once instead of on drop.
                            let _ = tx.rollback().await;
                            return Err(e);
                        }
                    };
                    outcome = Some(merge(outcome, done));
                }
                last = outcome;
            }
            tx.commit().await.map_err(DataError::from_sqlx)?;
            Ok(last.unwrap_or(Outcome::Changed(0)))
        })
    }

    /// Streams a single query's rows.
    async fn stream(
        &self,
        msg: &mut Message,
        pool: Pool,
        q: &Prepared,
        binds: Vec<SqlValue>,
        format: Format,
    ) -> Result<Flow, Fault> {
        let Some(result) = &q.result else {
            return Err(self.fault(DataError::failed("the query has no result")));
        };
        let mut encoder = Encoder::new(result, format);
        let limit = match (encoder.single(), q.max_rows) {
            (true, _) => 1,
            (false, Some(max)) => max,
            (false, None) => u64::MAX,
        };
        let (start_tx, start_rx) = oneshot::channel::<Result<Option<Vec<u8>>, DataError>>();
        let (chunk_tx, chunk_rx) = mpsc::channel::<Result<Bytes, BoxError>>(CHUNKS_IN_FLIGHT);
        let sql = q.sql.sql.clone();
        let what = self.what.clone();
        tokio::spawn(async move {
            let job = Job {
                encoder: &mut encoder,
                start: Some(start_tx),
                chunks: chunk_tx,
                limit,
                what: &what,
            };
            on_pool!(&pool, |p, D| job.run::<D, _>(p, &sql, binds).await);
        });
        let first = match start_rx.await {
            Ok(first) => first,
            Err(_) => Err(DataError::failed("the query stopped")),
        };
        let opening = match first {
            Ok(Some(opening)) => opening,
            Ok(None) if self.not_found => {
                return Err(self.fault(DataError::not_found("nothing was found")));
            }
            Ok(None) => {
                let mut empty = Encoder::new(result, format);
                let body = empty.all(&[], &[]).map_err(|e| self.fault(e))?;
                answer(msg, self.status, format, Bytes::from(body));
                return Ok(Flow::Respond);
            }
            Err(e) => return Err(self.fault(e)),
        };
        let rest = futures::stream::unfold(chunk_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item.map(Frame::data), rx))
        });
        let head = futures::stream::once(async move { Ok(Frame::data(Bytes::from(opening))) });
        let stream = futures::StreamExt::chain(head, rest);
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        msg.set_streamed_response(self.status, headers, body::boxed(StreamBody::new(stream)));
        Ok(Flow::Respond)
    }
}

/// Adds a batch element's outcome to those before it.
fn merge(before: Option<Outcome>, next: Outcome) -> Outcome {
    match (before, next) {
        (None, next) => next,
        (Some(Outcome::Changed(a)), Outcome::Changed(b)) => Outcome::Changed(a + b),
        (
            Some(Outcome::Rows { columns, mut rows }),
            Outcome::Rows {
                rows: more,
                columns: more_columns,
            },
        ) => {
            rows.extend(more);
            let columns = if columns.is_empty() {
                more_columns
            } else {
                columns
            };
            Outcome::Rows { columns, rows }
        }
        (Some(_), next) => next,
    }
}

/// The database side of a streamed answer.
struct Job<'a> {
    encoder: &'a mut Encoder,
    start: Option<oneshot::Sender<Result<Option<Vec<u8>>, DataError>>>,
    chunks: mpsc::Sender<Result<Bytes, BoxError>>,
    limit: u64,
    what: &'a str,
}

impl Job<'_> {
    async fn run<'e, D, E>(mut self, exec: E, sql: &'e str, binds: Vec<SqlValue>)
    where
        D: Driver,
        E: sqlx::Executor<'e, Database = D> + 'e,
        for<'q> <D as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, D>,
    {
        if let Err(e) = self.rows::<D, E>(exec, sql, binds).await {
            match self.start.take() {
                // Nothing answered yet: the client gets the error's status.
                Some(start) => {
                    let _ = start.send(Err(e));
                }
                // Mid-stream: the status is out; the answer is cut off, which the client
                // sees as an incomplete body, and the log says why.
                None => {
                    tracing::warn!(data = %self.what, error = %e, cause = ?e.cause, "a streamed result failed part way");
                    let _ = self.chunks.send(Err(Box::new(e_to_io(&e)))).await;
                }
            }
        }
    }

    async fn rows<'e, D, E>(
        &mut self,
        exec: E,
        sql: &'e str,
        binds: Vec<SqlValue>,
    ) -> Result<(), DataError>
    where
        D: Driver,
        E: sqlx::Executor<'e, Database = D> + 'e,
        for<'q> <D as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, D>,
    {
        let mut q = sqlx::query::<D>(sql);
        for v in &binds {
            q = D::bind_value(q, v)?;
        }
        let mut rows = q.fetch(exec);
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 1024);
        let mut count = 0u64;
        while count < self.limit {
            let Some(row) = rows.try_next().await.map_err(DataError::from_sqlx)? else {
                break;
            };
            let values = exec::decode_row::<D>(&row)?;
            if count == 0 {
                self.encoder.columns(&exec::column_names::<D>(&row))?;
                self.encoder.open(&mut buf);
            }
            self.encoder.row(&values, &mut buf);
            count += 1;
            if count == 1 {
                let Some(start) = self.start.take() else {
                    return Ok(());
                };
                if start.send(Ok(Some(std::mem::take(&mut buf)))).is_err() {
                    return Ok(());
                }
            } else if buf.len() >= CHUNK
                && self
                    .chunks
                    .send(Ok(Bytes::from(std::mem::take(&mut buf))))
                    .await
                    .is_err()
            {
                // The client went away: stop reading rows.
                return Ok(());
            }
        }
        if count == 0 {
            if let Some(start) = self.start.take() {
                let _ = start.send(Ok(None));
            }
            return Ok(());
        }
        self.encoder.close(&mut buf);
        let _ = self.chunks.send(Ok(Bytes::from(buf))).await;
        Ok(())
    }
}

fn e_to_io(e: &DataError) -> std::io::Error {
    std::io::Error::other(e.message.clone())
}

/// Sets the buffered answer.
fn answer(msg: &mut Message, status: StatusCode, format: Format, body: Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    msg.set_response(status, headers, body);
}

/// The values of one request (or of each batch element) by parameter name.
struct Inputs {
    /// One set per run of the queries: one, or one per batch element.
    sets: Vec<InputSet>,
}

/// The body's part of one run's values; path and query parameters come from the message.
struct InputSet {
    body: Option<Body>,
}

enum Body {
    Json(serde_json::Map<String, Value>),
    Xml(Vec<(String, String)>),
}

impl InputSet {
    /// A parameter's value, looked up in order in the path, the query and the body.
    fn get(&self, msg: &Message, name: &str) -> Option<Value> {
        if let Some(v) = msg.uri_param(name).or_else(|| msg.query_param(name)) {
            return Some(Value::String(v.to_string()));
        }
        match &self.body {
            Some(Body::Json(map)) => map.get(name).cloned(),
            Some(Body::Xml(fields)) => fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| Value::String(v.clone())),
            None => None,
        }
    }
}

impl Inputs {
    fn read(msg: &Message, batch: bool) -> Result<Inputs, DataError> {
        let content_type = msg
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = if msg.is_payload_empty() {
            None
        } else if content_type.contains("xml") {
            let xml = msg
                .payload_xml()
                .map_err(|_| DataError::bad_parameter("the body is not well-formed XML"))?;
            xml.map(|root| {
                root.child_elements()
                    .map(|c| (c.name.local.clone(), c.text()))
                    .collect::<Vec<_>>()
            })
            .map(Body::Xml)
        } else {
            let json = msg
                .payload_json()
                .map_err(|_| DataError::bad_parameter("the body is not valid JSON"))?;
            match json {
                None => None,
                Some(Value::Object(map)) if !batch => Some(Body::Json(map.clone())),
                Some(Value::Array(items)) if batch => {
                    let mut sets = Vec::with_capacity(items.len());
                    for item in items {
                        let Value::Object(map) = item else {
                            return Err(DataError::bad_parameter(
                                "each element of a batch is an object of parameters",
                            ));
                        };
                        sets.push(InputSet {
                            body: Some(Body::Json(map.clone())),
                        });
                    }
                    if sets.is_empty() {
                        return Err(DataError::bad_parameter("the batch is empty"));
                    }
                    return Ok(Inputs { sets });
                }
                Some(_) if batch => {
                    return Err(DataError::bad_parameter(
                        "a batch request's body is a JSON array of parameter objects",
                    ));
                }
                Some(_) => {
                    return Err(DataError::bad_parameter(
                        "the body is a JSON object of parameters",
                    ));
                }
            }
        };
        if batch {
            return Err(DataError::bad_parameter(
                "a batch request's body is a JSON array of parameter objects",
            ));
        }
        Ok(Inputs {
            sets: vec![InputSet { body }],
        })
    }
}

/// The values bound to `q`'s placeholders for one input set.
fn bind(msg: &Message, q: &Prepared, set: &InputSet) -> Result<Vec<SqlValue>, DataError> {
    let mut values = Vec::with_capacity(q.params.len());
    for p in &q.params {
        let value = p
            .bind_value(set.get(msg, &p.name).as_ref())
            .map_err(DataError::bad_parameter)?;
        values.push(value);
    }
    q.sql
        .slots
        .iter()
        .map(|&i| {
            values
                .get(i)
                .cloned()
                .ok_or_else(|| DataError::failed("a placeholder has no parameter"))
        })
        .collect()
}
