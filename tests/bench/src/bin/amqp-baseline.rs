//! The raw-lapin baseline of `make bench-rabbitmq`: what a hand-written Rust program does with
//! the same client library Ferry uses, against the same broker and backend, so Ferry's
//! RabbitMQ figures have a reference in the same run.
//!
//! - `fill URI QUEUE N`: declares QUEUE (durable) and publishes N persistent 1 KiB JSON
//!   messages, with confirms, pipelined; prints nothing. The consume scenarios start from it.
//! - `consume URI QUEUE N PREFETCH BACKEND_PORT`: consumes with manual acks, PREFETCH at
//!   once; POSTs each message to `http://127.0.0.1:BACKEND_PORT/echo` over keep-alive
//!   connections and acknowledges it after the answer, as Ferry's inbound endpoint does;
//!   prints `{"messages": N, "seconds": S}` once N were acknowledged.
//! - `serve URI QUEUE`: the HTTP -> publish counterpart of Ferry's API, for the same wrk run:
//!   an HTTP/1.1 keep-alive server on 127.0.0.1 (prints `listening on ADDR` once bound) that
//!   publishes each POST's body as a persistent, mandatory message with its content type and
//!   a message id, on one confirm-mode channel, and answers 202 only after the broker
//!   confirmed it (502 on a nack, a returned message or an error), as Ferry's `call` to a
//!   RabbitMQ endpoint does. It does the same work per request as Ferry, so the ratio
//!   measures Ferry's overhead rather than the cost of HTTP.
//! - `publish URI QUEUE SECONDS CONCURRENCY`: CONCURRENCY tasks each publishing persistent
//!   1 KiB messages one after another, each waiting for its confirm, with no HTTP in front;
//!   prints `{"messages": N, "seconds": S}`. The report gives it as what the broker takes
//!   from lapin alone on this machine, not as the reference of a ratio.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn body() -> Vec<u8> {
    let mut text = String::from("{\"n\":0,\"pad\":\"");
    text.push_str(&"x".repeat(1000));
    text.push_str("\"}");
    text.into_bytes()
}

async fn channel(uri: &str) -> Result<(Connection, Channel), Error> {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let conn = Connection::connect(uri, props).await?;
    let channel = conn.create_channel().await?;
    Ok((conn, channel))
}

/// A channel in confirm mode to `uri`, with the durable `queue` declared.
async fn publishing_channel(uri: &str, queue: &str) -> Result<(Connection, Channel), Error> {
    let (conn, ch) = channel(uri).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue, durable, FieldTable::default())
        .await?;
    Ok((conn, ch))
}

fn persistent() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
}

async fn fill(uri: &str, queue: &str, n: u64) -> Result<(), Error> {
    let (_conn, ch) = publishing_channel(uri, queue).await?;
    let body = body();
    let mut pending = Vec::new();
    for _ in 0..n {
        let confirm = ch
            .basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                &body,
                persistent(),
            )
            .await?;
        pending.push(confirm);
        if pending.len() >= 500 {
            for c in pending.drain(..) {
                c.await?;
            }
        }
    }
    for c in pending {
        c.await?;
    }
    Ok(())
}

async fn consume(uri: &str, queue: &str, n: u64, prefetch: u16, port: u16) -> Result<(), Error> {
    let (_conn, ch) = channel(uri).await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            queue,
            "baseline",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<lapin::message::Delivery>(usize::from(prefetch));
    let rx_shared = Arc::new(tokio::sync::Mutex::new(rx));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..prefetch {
        let rx = rx_shared.clone();
        let done = done.clone();
        workers.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            loop {
                let Some(delivery) = rx.lock().await.recv().await else {
                    return Ok::<(), Error>(());
                };
                let req = Request::post("/echo")
                    .header("host", "127.0.0.1")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(delivery.data.clone())))?;
                let resp = sender.send_request(req).await?;
                resp.into_body().collect().await?;
                delivery.acker.ack(BasicAckOptions::default()).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut taken = 0;
    while taken < n {
        let Some(delivery) = consumer.next().await else {
            break;
        };
        tx.send(delivery?).await?;
        taken += 1;
    }
    while done.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(tx);
    println!("{{\"messages\": {n}, \"seconds\": {seconds:.3}}}");
    Ok(())
}

async fn publish(uri: &str, queue: &str, seconds: u64, concurrency: u64) -> Result<(), Error> {
    let (_conn, ch) = publishing_channel(uri, queue).await?;
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (ch, count, queue) = (ch.clone(), count.clone(), queue.to_string());
        tasks.push(tokio::spawn(async move {
            let body = body();
            while Instant::now() < deadline {
                ch.basic_publish(
                    "",
                    &queue,
                    BasicPublishOptions::default(),
                    &body,
                    persistent(),
                )
                .await?
                .await?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let n = count.load(Ordering::Relaxed);
    println!(
        "{{\"messages\": {n}, \"seconds\": {:.3}}}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn serve(uri: &str, queue: &str) -> Result<(), Error> {
    let (_conn, ch) = publishing_channel(uri, queue).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    out.flush()?;
    let queue: Arc<str> = queue.into();
    let next_id = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (ch, queue, next_id) = (ch.clone(), queue.clone(), next_id.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let (ch, queue, next_id) = (ch.clone(), queue.clone(), next_id.clone());
                async move {
                    let status = match publish_one(&ch, &queue, &next_id, req).await {
                        Ok(()) => StatusCode::ACCEPTED,
                        Err(_) => StatusCode::BAD_GATEWAY,
                    };
                    let mut resp = Response::new(Full::new(Bytes::new()));
                    *resp.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Publishes one request's body and waits for the broker's confirm.
async fn publish_one(
    ch: &Channel,
    queue: &str,
    next_id: &AtomicU64,
    req: Request<Incoming>,
) -> Result<(), Error> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let id = next_id.fetch_add(1, Ordering::Relaxed).to_string();
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(content_type.into())
        .with_message_id(id.into());
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    match ch
        .basic_publish("", queue, options, &body, props)
        .await?
        .await?
    {
        Confirmation::Ack(None) => Ok(()),
        other => Err(format!("not confirmed: {other:?}").into()),
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> Result<T, Error> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {i} is missing or malformed").into())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mode = args.get(1).map(String::as_str).unwrap_or_default();
    let uri: String = arg(&args, 2)?;
    let queue: String = arg(&args, 3)?;
    rt.block_on(async {
        match mode {
            "fill" => fill(&uri, &queue, arg(&args, 4)?).await,
            "consume" => {
                consume(&uri, &queue, arg(&args, 4)?, arg(&args, 5)?, arg(&args, 6)?).await
            }
            "serve" => serve(&uri, &queue).await,
            "publish" => publish(&uri, &queue, arg(&args, 4)?, arg(&args, 5)?).await,
            _ => Err("usage: amqp-baseline fill|consume|serve|publish URI QUEUE ...".into()),
        }
    })
}
