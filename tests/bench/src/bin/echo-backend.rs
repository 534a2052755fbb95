//! The backend of `make bench`, `make soak` and `make bench-overload`: an HTTP/1.1 keep-alive
//! echo server on 127.0.0.1 with no delay.
//!
//! It answers every request 200 with the request's body and content type, so a proxy in front
//! of it moves the same bytes both ways. One thread (a current-thread runtime): the harness
//! pins it beside the load generator, leaving the other CPU to the proxy under test.
//!
//! A few paths do more, for the soak and overload benchmarks (`/echo` does none of it):
//! - `?delay_ms=N` on any path answers N ms late (a backend with a fixed service time);
//! - `/flaky` fails 3 requests in 10: the 4th of each ten answers only after 1 s (past the
//!   caller's timeout), the 8th answers 500, the 10th closes the connection unanswered;
//! - `/saf` remembers each request's `X-Seq` header, to count stored-and-forwarded messages
//!   delivered and delivered twice;
//! - `GET /stats` answers those counts as JSON.
//!
//! Usage: `echo-backend [PORT]` (default 0, a free port); prints `listening on ADDR` once bound.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What `/flaky` and `/saf` count.
#[derive(Default)]
struct Counts {
    flaky: AtomicU64,
    saf_requests: AtomicU64,
    saf_seen: Mutex<HashSet<u64>>,
}

async fn echo(
    req: Request<Incoming>,
    counts: Arc<Counts>,
) -> std::io::Result<Response<Full<Bytes>>> {
    let path = req.uri().path();
    if path == "/echo" {
        return Ok(echoed(req).await);
    }
    if let Some(ms) = req.uri().query().and_then(delay_ms) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/stats") => {
            let seen = counts
                .saf_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            let json = format!(
                "{{\"flaky\":{},\"saf_requests\":{},\"saf_unique\":{}}}\n",
                counts.flaky.load(Ordering::Relaxed),
                counts.saf_requests.load(Ordering::Relaxed),
                seen
            );
            Ok(Response::new(Full::new(Bytes::from(json))))
        }
        (_, "/flaky") => match counts.flaky.fetch_add(1, Ordering::Relaxed) % 10 {
            3 => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(echoed(req).await)
            }
            7 => {
                let mut resp = Response::new(Full::new(Bytes::from_static(b"flaky\n")));
                *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                Ok(resp)
            }
            // An error makes hyper close the connection without an answer.
            9 => Err(std::io::Error::other("flaky: dropping the connection")),
            _ => Ok(echoed(req).await),
        },
        (_, "/saf") => {
            counts.saf_requests.fetch_add(1, Ordering::Relaxed);
            let seq = req
                .headers()
                .get("x-seq")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(seq) = seq {
                counts
                    .saf_seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(seq);
            }
            Ok(echoed(req).await)
        }
        _ => Ok(echoed(req).await),
    }
}

fn delay_ms(query: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("delay_ms="))
        .and_then(|ms| ms.parse().ok())
}

/// 200 with the request's body and content type.
async fn echoed(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let mut resp = Response::new(Full::new(body));
    if let Some(ct) = content_type {
        resp.headers_mut().insert(CONTENT_TYPE, ct);
    }
    resp
}

fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|e| std::io::Error::other(format!("bad port {p:?}: {e}")))?,
        None => 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        out.flush()?;
        let counts = Arc::new(Counts::default());
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("echo-backend: accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let service = service_fn(move |req| echo(req, Arc::clone(&counts)));
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
