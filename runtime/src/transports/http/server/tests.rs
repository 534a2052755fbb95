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
    /// What a body read after the answer (`/early`) came to: its length or its error.
    late_read: Arc<std::sync::Mutex<Option<Result<usize, String>>>>,
    calls: AtomicUsize,
    /// Requests whose handling was dropped before it answered.
    cancelled: Arc<AtomicUsize>,
}

/// Counts a handler's future dropped before it answered.
struct CancelGuard(Arc<AtomicUsize>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
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
            let _guard = CancelGuard(Arc::clone(&self.cancelled));
            std::future::pending::<()>().await;
        }
        if path == "/early" {
            // Answers at once and reads the body afterwards, elsewhere.
            let late = Arc::clone(&self.late_read);
            tokio::spawn(async move {
                let read = read_body_limited(req.into_body(), usize::MAX).await;
                *late.lock().unwrap() = Some(read.map(|b| b.len()).map_err(|e| e.to_string()));
            });
            return Response::new(body::full("early"));
        }
        if path == "/big" {
            return Response::new(body::full(vec![b'z'; 100 * 1024]));
        }
        if path == "/liar" {
            // Says two bytes, has four: two go out and the connection ends.
            let mut response = Response::new(body::full("abcd"));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("2"));
            return response;
        }
        if path == "/stream" {
            // A body of unknown length: chunked to HTTP/1.1, up to the close to HTTP/1.0.
            let frames =
                ["ab", "cd"].map(|s| Ok::<_, BoxError>(hyper::body::Frame::data(Bytes::from(s))));
            return Response::new(http_body_util::BodyExt::boxed(
                http_body_util::StreamBody::new(futures::stream::iter(frames)),
            ));
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

// === the HTTP/1.1 wire ===

/// Sends `bytes` on a new connection and reads everything until the server closes it.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .expect("the server should close the connection")
        .unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads from `stream` until `want` has arrived.
async fn read_until(stream: &mut tokio::net::TcpStream, want: &str) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&buf).contains(want) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("timed out waiting for the answer")
            .unwrap();
        assert!(
            n > 0,
            "closed before {want:?}: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let server = start(ServerOptions::default()).await;
    let got = raw(
        server.addr,
        b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let one = got.find("POST /one").expect(&got);
    let two = got.find("GET /two").expect(&got);
    assert!(one < two, "{got}");
    assert!(got.contains(" abc"), "{got}");
    assert_eq!(got.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{got}");
    assert!(got.to_ascii_lowercase().contains("\r\ndate: "), "{got}");
}

#[tokio::test]
async fn a_chunked_request_body_arrives_whole() {
    let server = start(ServerOptions::default()).await;
    let got = raw(
        server.addr,
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with(" abcde"), "{got}");
}

#[tokio::test]
async fn a_body_sent_in_pieces_is_streamed_to_the_handler() {
    let server = start(ServerOptions::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabc",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"def").await.unwrap();
    let got = read_to_close(&mut stream).await;
    assert!(got.ends_with(" abcdef"), "{got}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = start(ServerOptions::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let interim = read_until(&mut stream, "\r\n\r\n").await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"ok").await.unwrap();
    let got = read_to_close(&mut stream).await;
    assert!(
        got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with(" ok"),
        "{got}"
    );
}

#[tokio::test]
async fn a_head_request_gets_the_length_but_no_body_and_the_connection_goes_on() {
    let server = start(ServerOptions::default()).await;
    let got = raw(
        server.addr,
        b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, rest) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("content-length: "), "{got}");
    assert!(
        rest.starts_with("HTTP/1.1 200 OK\r\n"),
        "the HEAD answer had a body: {got}"
    );
    assert!(rest.contains("GET /after"), "{got}");
}

#[tokio::test]
async fn a_body_of_unknown_length_is_chunked_to_1_1_and_closed_for_1_0() {
    let server = start(ServerOptions::default()).await;
    let got = raw(
        server.addr,
        b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
    assert!(
        got.ends_with("\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"),
        "{got}"
    );
    let got = raw(
        server.addr,
        b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .await;
    assert!(got.contains("connection: close\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\nabcd"), "{got}");
}

#[tokio::test]
async fn http_1_0_closes_unless_kept_alive() {
    let server = start(ServerOptions::default()).await;
    let got = raw(server.addr, b"GET /old HTTP/1.0\r\n\r\n").await;
    assert!(
        got.contains("connection: close\r\n") && got.contains("GET /old"),
        "{got}"
    );

    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let first = read_until(&mut stream, "GET /a").await;
    assert!(first.contains("connection: keep-alive\r\n"), "{first}");
    stream.write_all(b"GET /b HTTP/1.0\r\n\r\n").await.unwrap();
    assert!(read_to_close(&mut stream).await.contains("GET /b"));
}

#[tokio::test]
async fn requests_that_are_not_valid_http_are_refused_and_the_connection_closed() {
    let server = start(ServerOptions::default()).await;
    for (request, status) in [
        (&b"NOT HTTP\r\n\r\n"[..], "400"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3x\r\n\r\n",
            "400",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "400",
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "400"),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400",
        ),
        (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "400"),
    ] {
        let got = raw(server.addr, request).await;
        assert!(
            got.starts_with(&format!("HTTP/1.1 {status} ")),
            "{:?}: {got}",
            String::from_utf8_lossy(request)
        );
        assert!(got.contains("connection: close\r\n"), "{got}");
    }
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_head_over_the_limit_is_refused_with_431() {
    let server = start(ServerOptions {
        max_header_bytes: 8192,
        ..ServerOptions::default()
    })
    .await;
    let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 9000));
    request.extend_from_slice(b"\r\n\r\n");
    let got = raw(server.addr, &request).await;
    assert!(got.starts_with("HTTP/1.1 431 "), "{got}");
    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_length_beside_chunked_is_read_as_chunked_and_the_connection_closed_after() {
    let server = start(ServerOptions::default()).await;
    let got = raw(
        server.addr,
        b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(got.ends_with(" hi"), "{got}");
    assert!(got.contains("connection: close\r\n"), "{got}");
    assert!(!got.contains("smuggled"), "{got}");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_its_request() {
    let server = start(ServerOptions::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    while server.handler.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(stream);
    let cancelled = Arc::clone(&server.handler.cancelled);
    tokio::time::timeout(Duration::from_secs(5), async move {
        while cancelled.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the request should be cancelled when its client goes away");
}

#[tokio::test]
async fn an_unread_body_ends_the_connection_after_the_answer() {
    let server = start(ServerOptions::default()).await;
    // /hang never reads; /slow/0 reads. Here: a body the handler cannot have read yet
    // because it has not arrived; the answer comes first, and the connection closes.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc")
        .await
        .unwrap();
    let got = read_to_close(&mut stream).await;
    assert!(got.starts_with("HTTP/1.1 413 "), "{got}");
}

#[tokio::test]
async fn a_large_answer_goes_out_whole_and_one_longer_than_it_says_is_cut() {
    let server = start(ServerOptions::default()).await;
    let got = raw(
        server.addr,
        b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("content-length: 102400"), "{head}");
    assert_eq!(body.len(), 100 * 1024);
    assert!(body.bytes().all(|b| b == b'z'));

    // Kept alive by the client, but the answer overran its length: the connection ends.
    let got = raw(server.addr, b"GET /liar HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(got.ends_with("\r\n\r\nab"), "{got}");
}

#[tokio::test]
async fn a_body_still_read_after_its_connection_closed_fails_instead_of_ending_early() {
    let server = start(ServerOptions::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let got = read_to_close(&mut stream).await;
    assert!(got.ends_with("early"), "{got}");
    drop(stream);
    let late = Arc::clone(&server.handler.late_read);
    let read = tokio::time::timeout(Duration::from_secs(5), async move {
        loop {
            if let Some(read) = late.lock().unwrap().clone() {
                return read;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the late read should end");
    assert!(
        read.is_err(),
        "3 of 10 bytes read as a whole body: {read:?}"
    );
}
