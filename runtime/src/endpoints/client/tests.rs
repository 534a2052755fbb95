//! Every classification is checked against a real socket on 127.0.0.1 that the test starts.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::*;
use crate::transports::http::server::{self, Handler, Peer, ServerOptions};

fn get(addr: SocketAddr, path: &str) -> Request<Bytes> {
    Request::builder()
        .uri(format!("http://{addr}{path}"))
        .body(Bytes::new())
        .unwrap()
}

fn post(addr: SocketAddr, body: &'static str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/echo"))
        .body(body::full(body))
        .unwrap()
}

fn client() -> EndpointClient {
    EndpointClient::new(ClientOptions {
        connect_timeout: Some(Duration::from_millis(300)),
        ..ClientOptions::default()
    })
}

/// A backend that accepts one connection, reads the request head, then does `then`.
async fn raw_backend<F, Fut>(then: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            head.extend_from_slice(&buf[..n]);
        }
        then(stream).await;
    });
    addr
}

/// Answers with the peer's port, so tests can tell whether a connection was reused.
struct PeerPort;

impl Handler for PeerPort {
    async fn handle(&self, req: http::Request<Body>, peer: Peer) -> http::Response<Body> {
        let port = peer.remote.port();
        let body = read_body_limited(req.into_body(), 1024)
            .await
            .unwrap_or_default();
        let text = format!("{port} {}", String::from_utf8_lossy(&body));
        http::Response::new(body::full(text))
    }
}

async fn ferry_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = server::serve(
        listener,
        Arc::new(PeerPort),
        ServerOptions::default(),
        std::future::pending(),
    );
    tokio::spawn(serve);
    addr
}

async fn peer_port(client: &EndpointClient, addr: SocketAddr) -> String {
    let response = client
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap();
    String::from_utf8(response.into_body().to_vec())
        .unwrap()
        .trim()
        .to_owned()
}

// === success ===

#[tokio::test]
async fn a_buffered_call_returns_status_headers_and_body() {
    let addr = ferry_backend().await;
    let response = client()
        .send_buffered(get(addr, "/x"), Some(Duration::from_secs(5)), 1024)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_11);
    let text = String::from_utf8(response.into_body().to_vec()).unwrap();
    let port: u16 = text.trim().parse().unwrap();
    assert!(port > 0, "the backend saw a real peer port: {text}");
}

#[tokio::test]
async fn a_streaming_call_sends_the_body_and_streams_the_answer_back() {
    let addr = ferry_backend().await;
    let response = client()
        .send(post(addr, "ping"), Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let bytes = read_body_limited(response.into_body(), 1024).await.unwrap();
    assert!(String::from_utf8_lossy(&bytes).ends_with(" ping"));
}

#[tokio::test]
async fn sequential_calls_reuse_a_pooled_connection() {
    let addr = ferry_backend().await;
    let client = client();
    let first = peer_port(&client, addr).await;
    let second = peer_port(&client, addr).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn without_idle_connections_each_call_opens_a_new_one() {
    let addr = ferry_backend().await;
    let client = EndpointClient::new(ClientOptions {
        max_idle_per_host: 0,
        ..Default::default()
    });
    let first = peer_port(&client, addr).await;
    let second = peer_port(&client, addr).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn an_idle_connection_past_the_idle_timeout_is_not_reused() {
    let addr = ferry_backend().await;
    let client = EndpointClient::new(ClientOptions {
        pool_idle_timeout: Duration::from_millis(50),
        ..Default::default()
    });
    let first = peer_port(&client, addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = peer_port(&client, addr).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn http2_prior_knowledge_talks_h2c_to_the_backend() {
    let addr = ferry_backend().await;
    let client = EndpointClient::new(ClientOptions {
        http2_prior_knowledge: true,
        ..Default::default()
    });
    let response = client
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
}

// === failures ===

#[tokio::test]
async fn a_refused_connection_is_101503_and_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client()
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.kind, CallErrorKind::ConnectFailed, "{err}");
    assert_eq!(err.synapse_code, 101503);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_refused_connection_keeps_the_socket_error_as_its_source_on_both_protocols() {
    use std::error::Error;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    for h2c in [false, true] {
        let client = EndpointClient::new(ClientOptions {
            http2_prior_knowledge: h2c,
            ..ClientOptions::default()
        });
        let err = client
            .send_buffered(get(addr, "/"), None, 1024)
            .await
            .unwrap_err();
        let mut next = err.source();
        let mut refused = None;
        while let Some(e) = next {
            refused = refused.or(e.downcast_ref::<std::io::Error>().map(std::io::Error::kind));
            next = e.source();
        }
        assert_eq!(
            refused,
            Some(std::io::ErrorKind::ConnectionRefused),
            "h2c {h2c}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_backend_that_never_answers_is_101504_after_the_timeout() {
    let addr = raw_backend(|stream| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(stream);
    })
    .await;
    let started = Instant::now();
    let err = client()
        .send_buffered(get(addr, "/"), Some(Duration::from_millis(200)), 1024)
        .await
        .unwrap_err();
    assert_eq!(err.synapse_code, 101504, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_garbage_answer_is_a_101506_protocol_violation() {
    let addr = raw_backend(|mut stream| async move {
        stream
            .write_all(b"SPEAKING NONSENSE\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
    let err = client()
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.synapse_code, 101506, "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_connection_closed_before_the_response_is_101505() {
    let addr = raw_backend(|stream| async move { drop(stream) }).await;
    let err = client()
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.synapse_code, 101505, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_101505() {
    let addr = raw_backend(|mut stream| async move {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial";
        stream.write_all(head).await.unwrap();
        stream.flush().await.unwrap();
    })
    .await;
    let err = client()
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.synapse_code, 101505, "{err}");
}

#[tokio::test]
async fn a_body_that_stalls_past_the_timeout_is_101504() {
    let addr = raw_backend(|mut stream| async move {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial";
        stream.write_all(head).await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let err = client()
        .send_buffered(get(addr, "/"), Some(Duration::from_millis(200)), 1024)
        .await
        .unwrap_err();
    assert_eq!(err.synapse_code, 101504, "{err}");
}

#[tokio::test]
async fn a_response_body_over_the_limit_is_a_101510_processing_failure() {
    let addr = raw_backend(|mut stream| async move {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
    let err = client()
        .send_buffered(get(addr, "/"), None, 5)
        .await
        .unwrap_err();
    assert_eq!(err.synapse_code, 101510, "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unsupported_uri_is_a_101500_send_failure() {
    let req = Request::builder()
        .uri("/relative-only")
        .body(Bytes::new())
        .unwrap();
    let err = client().send_buffered(req, None, 1024).await.unwrap_err();
    assert_eq!(err.synapse_code, 101500, "{err}");
}

#[tokio::test]
async fn a_connect_that_hangs_is_a_101508_connect_timeout() {
    // A listener with a zero backlog that never accepts: once its queue holds a connection,
    // the kernel drops further SYNs and connecting hangs, all on loopback.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => queued.push(stream),
            Ok(Err(e)) => panic!("filling the backlog failed: {e}"),
            Err(_) => break,
        }
        assert!(
            queued.len() < 64,
            "the kernel never stopped accepting into the backlog"
        );
    }

    let err = client()
        .send_buffered(get(addr, "/"), None, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.kind, CallErrorKind::ConnectTimeout, "{err}");
    assert_eq!(err.synapse_code, 101508);
    assert!(err.is_retryable());
    drop(listener);
}
