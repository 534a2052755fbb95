//! The pool's own cases; calls through it are also covered by the client's tests.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::transports::http::body::{self, read_body_limited};

fn pool(max_idle: usize) -> Arc<Pool> {
    Pool::new(PoolOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        idle_timeout: Duration::from_secs(60),
        max_idle_per_host: max_idle,
        max_buf_size: 64 * 1024,
    })
}

fn get(addr: SocketAddr) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri(format!("http://{addr}/x?y=1"))
        .body(body::empty())
        .unwrap()
}

/// Reads one request head from `stream`; returns it as text ("" when the peer closed).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return String::new(),
        }
    }
    String::from_utf8(head).unwrap()
}

/// A backend answering `answers[i]` to the i-th request it gets (on any connection), closing
/// each connection after `per_connection` requests, and reporting each connection it
/// accepts and each request head it reads.
async fn scripted(
    answers: &'static [&'static str],
    per_connection: usize,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tx.send("connect".to_owned()).unwrap();
            let tx = tx.clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                for _ in 0..per_connection {
                    let head = read_head(&mut stream).await;
                    if head.is_empty() {
                        return;
                    }
                    tx.send(head).unwrap();
                    let Some(answer) = answers.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    stream.write_all(answer.as_bytes()).await.unwrap();
                }
                // Stay open (idle) until the client closes, unless this was the last request.
                if per_connection > answers.len() {
                    let _ = read_head(&mut stream).await;
                }
            });
        }
    });
    (addr, rx)
}

/// Asserts how many connections the scripted backend has accepted so far.
fn assert_connections(seen: &mut tokio::sync::mpsc::UnboundedReceiver<String>, expected: usize) {
    let events: Vec<String> = std::iter::from_fn(|| seen.try_recv().ok()).collect();
    let connects = events.iter().filter(|e| *e == "connect").count();
    assert_eq!(connects, expected, "{events:?}");
}

async fn text(pool: &Arc<Pool>, addr: SocketAddr) -> String {
    let response = pool.send(get(addr), None).await.unwrap();
    let bytes = read_body_limited(response.into_body(), 1024).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test]
async fn requests_go_out_in_origin_form_with_a_host_header_and_reuse_the_connection() {
    let (addr, mut seen) = scripted(&[OK, OK], 3).await;
    let pool = pool(8);
    assert_eq!(text(&pool, addr).await, "ok");
    assert_eq!(text(&pool, addr).await, "ok");
    assert_eq!(seen.recv().await.unwrap(), "connect");
    let first = seen.recv().await.unwrap();
    assert!(first.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{first}");
    assert!(first.contains(&format!("host: {addr}\r\n")), "{first}");
    // The second request came on the same connection: no second "connect".
    assert!(seen.recv().await.unwrap().starts_with("GET /x?y=1"));
}

#[tokio::test]
async fn a_connection_the_backend_closed_while_idle_is_replaced_without_an_error() {
    // The backend answers once per connection, then closes it.
    let (addr, mut seen) = scripted(&[OK, OK], 1).await;
    let pool = pool(8);
    assert_eq!(text(&pool, addr).await, "ok");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(text(&pool, addr).await, "ok");
    assert_connections(&mut seen, 2);
}

#[tokio::test]
async fn an_answer_marked_connection_close_is_not_reused() {
    const CLOSE: &str = "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
    let (addr, mut seen) = scripted(&[CLOSE, OK], 3).await;
    let pool = pool(8);
    assert_eq!(text(&pool, addr).await, "ok");
    assert_eq!(text(&pool, addr).await, "ok");
    assert_connections(&mut seen, 2);
}

#[tokio::test]
async fn a_body_dropped_before_its_end_does_not_return_the_connection() {
    const LONG: &str = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial";
    let (addr, mut seen) = scripted(&[LONG, OK], 3).await;
    let pool = pool(8);
    let response = pool.send(get(addr), None).await.unwrap();
    drop(response);
    assert_eq!(text(&pool, addr).await, "ok");
    assert_connections(&mut seen, 2);
}

#[tokio::test]
async fn idle_connections_beyond_the_limit_are_closed() {
    let (addr, _seen) = scripted(&[OK, OK, OK], 4).await;
    let pool = pool(1);
    let a = pool.send(get(addr), None).await.unwrap();
    let b = pool.send(get(addr), None).await.unwrap();
    read_body_limited(a.into_body(), 10).await.unwrap();
    read_body_limited(b.into_body(), 10).await.unwrap();
    let host = pool
        .host(&format!("http://{addr}/").parse().unwrap(), None)
        .unwrap();
    assert_eq!(lock(&host.idle).len(), 1);
}

#[tokio::test]
async fn the_reaper_closes_connections_idle_past_the_timeout() {
    let (addr, _seen) = scripted(&[OK], 2).await;
    let pool = Pool::new(PoolOptions {
        connect_timeout: None,
        idle_timeout: Duration::from_millis(200),
        max_idle_per_host: 8,
        max_buf_size: 64 * 1024,
    });
    assert_eq!(text(&pool, addr).await, "ok");
    let host = pool
        .host(&format!("http://{addr}/").parse().unwrap(), None)
        .unwrap();
    assert_eq!(lock(&host.idle).len(), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(lock(&host.idle).len(), 0);
}

#[tokio::test]
async fn a_streamed_request_body_reaches_the_backend_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.contains("content-length: 11\r\n"), "{head}");
        let mut body = [0u8; 11];
        stream.read_exact(&mut body).await.unwrap();
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{}",
            String::from_utf8_lossy(&body)
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
    });
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/echo"))
        .body(body::full("hello world"))
        .unwrap();
    let response = pool(8).send(req, None).await.unwrap();
    let bytes = read_body_limited(response.into_body(), 100).await.unwrap();
    assert_eq!(&bytes[..], b"hello world");
}
