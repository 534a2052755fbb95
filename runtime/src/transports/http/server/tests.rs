use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, Version, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::*;
use crate::transports::http::body::{BodyError, BoxError, read_body_limited};

/// Echoes the request (method, path, peer port, body) and obeys a few test commands in the
/// path: `/slow/{ms}` sleeps first, `/panic` panics, `/hang` never answers.
#[derive(Default)]
struct Echo {
    calls: AtomicUsize,
}

impl Handler for Echo {
    async fn handle(&self, req: Request<Body>, peer: Peer) -> Response<Body> {
        let remote = peer.remote;
        self.calls.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_owned();
        if let Some(ms) = path.strip_prefix("/slow/") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        }
        if path == "/panic" {
            panic!("handler bug");
        }
        if path == "/hang" {
            std::future::pending::<()>().await;
        }
        let port = remote.port();
        let method = req.method().clone();
        match read_body_limited(req.into_body(), usize::MAX).await {
            Ok(bytes) => {
                let text = format!("{method} {path} {port} {}", String::from_utf8_lossy(&bytes));
                Response::new(body::full(text))
            }
            Err(BodyError::TooLarge { limit }) => error::too_large(limit),
            Err(BodyError::Io(e)) => error::error_response(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
}

struct Running {
    addr: SocketAddr,
    handler: Arc<Echo>,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Shutdown>,
}

async fn start(opts: ServerOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(Echo::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, Arc::clone(&handler), opts, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        handler,
        stop,
        done,
    }
}

fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn h2c_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

fn request(addr: SocketAddr, method: Method, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(body)
        .unwrap()
}

async fn text(response: Response<Incoming>) -> String {
    let bytes = read_body_limited(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn http1_requests_reach_the_handler_and_reuse_the_connection() {
    let server = start(ServerOptions::default()).await;
    let client = client();
    let first = client
        .request(request(server.addr, Method::POST, "/a", body::full("hi")))
        .await
        .unwrap();
    assert_eq!(first.version(), Version::HTTP_11);
    let first = text(first).await;
    let second = client
        .request(request(server.addr, Method::GET, "/b", body::empty()))
        .await
        .unwrap();
    let second = text(second).await;

    let port = |s: &str| s.split(' ').nth(2).unwrap().to_owned();
    assert!(first.starts_with("POST /a "), "{first}");
    assert!(first.ends_with(" hi"), "{first}");
    assert!(second.starts_with("GET /b "), "{second}");
    assert_eq!(
        port(&first),
        port(&second),
        "keep-alive should reuse the connection"
    );
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    let server = start(ServerOptions::default()).await;
    let response = h2c_client()
        .request(request(server.addr, Method::PUT, "/h2", body::full("x")))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert!(text(response).await.starts_with("PUT /h2 "));
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_the_handler_runs() {
    let server = start(ServerOptions {
        max_body_bytes: 4,
        ..ServerOptions::default()
    })
    .await;
    let response = client()
        .request(request(
            server.addr,
            Method::POST,
            "/up",
            body::full("12345"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
    // The same JSON error format as every other answer Ferry writes itself.
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        text(response).await,
        r#"{"error":{"code":413,"message":"the request body is larger than 4 bytes"}}"#
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_fails_the_handlers_read() {
    let server = start(ServerOptions {
        max_body_bytes: 4,
        ..ServerOptions::default()
    })
    .await;
    let chunks = futures::stream::iter(
        ["12", "34", "56"].map(|c| Ok::<_, BoxError>(hyper::body::Frame::data(Bytes::from(c)))),
    );
    let chunked = body::boxed(http_body_util::StreamBody::new(chunks));
    let response = client()
        .request(request(server.addr, Method::POST, "/up", chunked))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_panicking_handler_yields_500_and_the_server_keeps_serving() {
    let server = start(ServerOptions::default()).await;
    let client = client();
    let response = client
        .request(request(server.addr, Method::GET, "/panic", body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let response = client
        .request(request(server.addr, Method::GET, "/ok", body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_keep_alive_each_response_closes_the_connection() {
    let server = start(ServerOptions {
        keep_alive: false,
        ..ServerOptions::default()
    })
    .await;
    let response = client()
        .request(request(server.addr, Method::GET, "/x", body::empty()))
        .await
        .unwrap();
    assert_eq!(response.headers().get(header::CONNECTION).unwrap(), "close");
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_headers_is_disconnected() {
    let opts = ServerOptions {
        header_read_timeout: Some(Duration::from_millis(200)),
        ..ServerOptions::default()
    };
    let server = start(opts).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server should close the connection");
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_client_that_connects_and_sends_nothing_is_disconnected() {
    let opts = ServerOptions {
        header_read_timeout: Some(Duration::from_millis(200)),
        ..ServerOptions::default()
    };
    let server = start(opts).await;
    // Silent, and one byte that could start the HTTP/2 preface: both before hyper decides
    // which protocol it speaks, so before its own header timer runs.
    for first in [&b""[..], b"P"] {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(first).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "the server should close the connection ({first:?})"
        );
    }
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish_then_stops_accepting() {
    let server = start(ServerOptions::default()).await;
    let client = client();
    let slow = tokio::spawn(client.request(request(
        server.addr,
        Method::GET,
        "/slow/300",
        body::empty(),
    )));
    // Let the request reach the handler before shutting down.
    while server.handler.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.stop.send(()).unwrap();

    let response = slow.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.starts_with("GET /slow/300 "));
    assert_eq!(server.done.await.unwrap(), Shutdown::Drained);
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn graceful_shutdown_cuts_requests_still_running_at_the_deadline() {
    let opts = ServerOptions {
        graceful_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let server = start(opts).await;
    let hung =
        tokio::spawn(client().request(request(server.addr, Method::GET, "/hang", body::empty())));
    while server.handler.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.stop.send(()).unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .unwrap();
    assert_eq!(outcome.unwrap(), Shutdown::DeadlineExceeded { aborted: 1 });
    assert!(
        hung.await.unwrap().is_err(),
        "the cut request fails on the client"
    );
}

#[tokio::test]
async fn graceful_shutdown_closes_idle_keep_alive_connections_at_once() {
    let opts = ServerOptions {
        graceful_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let server = start(opts).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /idle HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    // Answered and idle (kept alive): shutting down must not wait for the 30 s deadline.
    server.stop.send(()).unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("an idle connection should not hold up the shutdown");
    assert_eq!(outcome.unwrap(), Shutdown::Drained);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server should close the idle connection");
}

#[tokio::test]
async fn past_the_concurrency_limit_a_request_gets_503_with_retry_after_at_once() {
    let server = start(ServerOptions {
        max_concurrent_requests: Some(2),
        ..ServerOptions::default()
    })
    .await;
    let slow = |_| {
        let c = client();
        let req = request(server.addr, Method::GET, "/slow/800", body::empty());
        tokio::spawn(async move { c.request(req).await.unwrap().status() })
    };
    let running: Vec<_> = (0..2).map(slow).collect();
    // Both slow requests are in the handler before the third arrives.
    for _ in 0..100 {
        if server.handler.calls.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let refused = client()
        .request(request(server.addr, Method::GET, "/x", body::empty()))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once, not queued"
    );
    assert_eq!(refused.headers().get(header::RETRY_AFTER).unwrap(), "1");
    let body = read_body_limited(refused.into_body(), 1 << 10)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("\"code\":503"));
    for r in running {
        assert_eq!(r.await.unwrap(), StatusCode::OK);
    }
    // Capacity comes back once the slow ones are done.
    let again = client()
        .request(request(server.addr, Method::GET, "/x", body::empty()))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 3);
}
