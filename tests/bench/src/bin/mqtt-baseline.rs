//! The raw-rumqttc baseline of `make bench-mqtt`: what a hand-written Rust program does with
//! the same MQTT client Ferry uses, against the same broker and backend, so Ferry's MQTT
//! figures have a reference in the same run.
//!
//! - `publish PORT TOPIC N`: publishes N 1 KiB JSON messages at QoS 1 to TOPIC on
//!   127.0.0.1:PORT, up to 100 unacknowledged at once, and exits once the broker
//!   acknowledged them all. Feeds the Ferry scenario.
//! - `consume PORT TOPIC N CONCURRENCY BACKEND_PORT`: subscribes to TOPIC at QoS 1 with
//!   manual acknowledgements, publishes N messages to it from a second client, POSTs each
//!   message to `http://127.0.0.1:BACKEND_PORT/echo` (CONCURRENCY at once, keep-alive
//!   connections) and acknowledges it after the answer, as Ferry's MQTT inbound endpoint
//!   does; prints `{"messages": N, "seconds": S}` once N were acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::Semaphore;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn body() -> Bytes {
    let mut text = String::from("{\"n\":0,\"pad\":\"");
    text.push_str(&"x".repeat(1000));
    text.push_str("\"}");
    Bytes::from(text)
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_keep_alive(Duration::from_secs(60));
    o
}

async fn publish(port: u16, topic: &str, n: u64) -> Result<(), Error> {
    let mut o = options(&format!("bench-pub-{}", std::process::id()), port);
    o.set_inflight(100);
    let (client, mut events) = AsyncClient::new(o, 200);
    let topic = topic.to_string();
    let publisher = tokio::spawn(async move {
        let body = body();
        for _ in 0..n {
            if client
                .publish_bytes(topic.as_str(), QoS::AtLeastOnce, false, body.clone())
                .await
                .is_err()
            {
                break;
            }
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        if let Event::Incoming(Packet::PubAck(_)) = events.poll().await? {
            acked += 1;
        }
    }
    let client = publisher.await?;
    client.disconnect().await?;
    Ok(())
}

/// One keep-alive HTTP/1.1 connection to the backend.
async fn backend(port: u16) -> Result<http1::SendRequest<Full<Bytes>>, Error> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn consume(
    port: u16,
    topic: &str,
    n: u64,
    concurrency: usize,
    backend_port: u16,
) -> Result<(), Error> {
    let mut o = options(&format!("bench-sub-{}", std::process::id()), port);
    o.set_manual_acks(true);
    let (client, mut events) = AsyncClient::new(o, 256);
    client.subscribe(topic, QoS::AtLeastOnce).await?;
    // Wait for the subscription before publishing, so nothing is missed.
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await? {
            break;
        }
    }
    let start = Instant::now();
    let (pub_port, pub_topic) = (port, topic.to_string());
    tokio::spawn(async move {
        if let Err(e) = publish(pub_port, &pub_topic, n).await {
            eprintln!("publisher: {e}");
        }
    });
    let permits = Arc::new(Semaphore::new(concurrency));
    let (conn_tx, conn_rx) = async_channel(concurrency);
    for _ in 0..concurrency {
        conn_tx.send(backend(backend_port).await?).await?;
    }
    let done = Arc::new(AtomicU64::new(0));
    while done.load(Ordering::Relaxed) < n {
        // Every acknowledgement queued by a task comes back as an event, so the count is
        // looked at again after the last one (poll is not cancelled: it is not cancel-safe).
        let Event::Incoming(Packet::Publish(p)) = events.poll().await? else {
            continue;
        };
        let (client, done, conn_tx, conn_rx, permits) = (
            client.clone(),
            done.clone(),
            conn_tx.clone(),
            conn_rx.clone(),
            permits.clone(),
        );
        // The event loop is never held up: a message waits for its turn in its own task.
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let Ok(mut sender) = conn_rx.recv().await else {
                return;
            };
            let req = Request::post("/echo")
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .body(Full::new(p.payload.clone()));
            if let Ok(req) = req
                && let Ok(resp) = sender.send_request(req).await
            {
                let _ = resp.into_body().collect().await;
                if client.ack(&p).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = conn_tx.send(sender).await;
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{{\"messages\": {n}, \"seconds\": {seconds}}}");
    Ok(())
}

/// A pool of backend connections: a bounded multi-consumer channel from tokio's mpsc behind
/// a mutex (no extra crate).
fn async_channel<T: Send + 'static>(
    capacity: usize,
) -> (tokio::sync::mpsc::Sender<T>, Arc<Pool<T>>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    (tx, Arc::new(Pool(tokio::sync::Mutex::new(rx))))
}

struct Pool<T>(tokio::sync::Mutex<tokio::sync::mpsc::Receiver<T>>);

impl<T> Pool<T> {
    async fn recv(&self) -> Result<T, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, Error> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {i}: {what}").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("publish") => {
            publish(
                arg(&args, 2, "PORT")?,
                &arg::<String>(&args, 3, "TOPIC")?,
                arg(&args, 4, "N")?,
            )
            .await
        }
        Some("consume") => {
            consume(
                arg(&args, 2, "PORT")?,
                &arg::<String>(&args, 3, "TOPIC")?,
                arg(&args, 4, "N")?,
                arg(&args, 5, "CONCURRENCY")?,
                arg(&args, 6, "BACKEND_PORT")?,
            )
            .await
        }
        _ => Err("usage: mqtt-baseline publish PORT TOPIC N | consume PORT TOPIC N CONCURRENCY BACKEND_PORT".into()),
    }
}
