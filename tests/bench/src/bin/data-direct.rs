//! The reference of `make bench-data`: the data service's two queries answered by a minimal
//! hand-written server, sqlx straight onto PostgreSQL, with no Ferry in between. What Ferry
//! adds (routing, parameter checks, mapping, streaming) is the difference.
//!
//! `GET /items/{id}` answers one row as a JSON object (404 when none); `GET /items` answers
//! every row as a JSON array (built in memory, as a minimal client would).
//!
//! Usage: `data-direct DATABASE_URL [PORT]`; prints `listening on ADDR` once bound.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use sqlx::Row as _;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use tokio::net::TcpListener;

const ONE: &str = "SELECT id, name, hospital, fee::float8 AS fee FROM bench_items WHERE id = $1";
const ALL: &str = "SELECT id, name, hospital, fee::float8 AS fee FROM bench_items ORDER BY id";

fn object(row: &PgRow) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(row.get::<i64, _>(0)));
    m.insert("name".into(), Value::from(row.get::<String, _>(1)));
    m.insert("hospital".into(), Value::from(row.get::<String, _>(2)));
    m.insert("fee".into(), Value::from(row.get::<f64, _>(3)));
    Value::Object(m)
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn handle(
    req: Request<Incoming>,
    pool: Arc<PgPool>,
) -> std::io::Result<Response<Full<Bytes>>> {
    let path = req.uri().path();
    if path == "/items" {
        return Ok(match sqlx::query(ALL).fetch_all(&*pool).await {
            Ok(rows) => {
                let list: Vec<Value> = rows.iter().map(object).collect();
                reply(
                    StatusCode::OK,
                    serde_json::to_vec(&list).unwrap_or_default(),
                )
            }
            Err(_) => reply(StatusCode::SERVICE_UNAVAILABLE, b"{}".to_vec()),
        });
    }
    let Some(id) = path
        .strip_prefix("/items/")
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return Ok(reply(StatusCode::BAD_REQUEST, b"{}".to_vec()));
    };
    Ok(
        match sqlx::query(ONE).bind(id).fetch_optional(&*pool).await {
            Ok(Some(row)) => reply(
                StatusCode::OK,
                serde_json::to_vec(&object(&row)).unwrap_or_default(),
            ),
            Ok(None) => reply(StatusCode::NOT_FOUND, b"{}".to_vec()),
            Err(_) => reply(StatusCode::SERVICE_UNAVAILABLE, b"{}".to_vec()),
        },
    )
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| std::io::Error::other("usage: data-direct DATABASE_URL [PORT]"))?;
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    // One thread, as Ferry gets one CPU in the benchmark.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&url)
            .await
            .map_err(std::io::Error::other)?;
        let pool = Arc::new(pool);
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = listener.accept().await?;
            let pool = pool.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, pool.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
