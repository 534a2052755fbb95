//! The connection against scripted backends on 127.0.0.1: each writes raw bytes, so the
//! framings, interim answers and broken answers hyper's servers would never send are tried.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::endpoints::error::{CallErrorKind, classify_body, classify_http1};
use crate::transports::http::body;

/// A backend that reads each request (head and, by its framing, body) and answers with the
/// next of `answers`, all on one connection; it sends each request it read, raw, to the
/// returned receiver. After the last answer it keeps the connection open.
async fn backend(
    answers: Vec<&'static str>,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    scripted(answers, false).await
}

/// As [`backend`], closing the connection after the last answer when `close` says so.
async fn scripted(
    answers: Vec<&'static str>,
    close: bool,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut pending = Vec::new();
        for answer in answers {
            let request = read_request(&mut stream, &mut pending).await;
            let _ = tx.send(request);
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
        if close {
            return;
        }
        // Keep the connection open until the client is done with it.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    });
    (addr, rx)
}

/// Reads one request: its head, then a content-length body or a chunked one.
async fn read_request(stream: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    let mut chunk = [0u8; 4096];
    let complete = |data: &[u8]| -> Option<usize> {
        let text = String::from_utf8_lossy(data);
        let head_end = text.find("\r\n\r\n")? + 4;
        let head = text[..head_end].to_ascii_lowercase();
        if let Some(at) = head.find("content-length: ") {
            let n: usize = head[at + 16..].split("\r\n").next()?.parse().ok()?;
            return (data.len() >= head_end + n).then_some(head_end + n);
        }
        if head.contains("transfer-encoding: chunked") {
            let end = text[head_end..].find("0\r\n\r\n")?;
            return Some(head_end + end + 5);
        }
        Some(head_end)
    };
    loop {
        if let Some(len) = complete(pending) {
            let request: Vec<u8> = pending.drain(..len).collect();
            return String::from_utf8_lossy(&request).into_owned();
        }
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            return String::from_utf8_lossy(pending).into_owned();
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

async fn connect(addr: SocketAddr) -> Conn {
    let tcp = TcpStream::connect(addr).await.unwrap();
    Conn::new(BackendStream::Plain(tcp), 16 * 1024)
}

fn request(method: Method, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri("/r?q=1")
        .header("host", "backend")
        .body(body)
        .unwrap()
}

/// A body of unknown length that sends what is sent into the returned sender, and ends
/// when the sender is dropped.
fn channel_body() -> (futures::channel::mpsc::UnboundedSender<Bytes>, Body) {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
    let stream = StreamBody::new(rx.map(|b| Ok::<_, BoxError>(Frame::data(b))));
    (tx, body::boxed(stream))
}

fn get() -> Request<Body> {
    request(Method::GET, body::empty())
}

/// Sends `req` and reads the whole answer: (status, body, the connection if reusable).
async fn call(conn: Conn, req: Request<Body>) -> (u16, String, Option<Conn>) {
    let response = match conn.exchange(req).await {
        Ok(response) => response,
        Err(Failed::Sent(e)) => panic!("the call failed: {e}"),
        Err(Failed::Unsent(u)) => panic!("the request was not sent: {}", u.error),
    };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            text.extend_from_slice(&data);
        }
    }
    let reusable = body.take_reusable();
    (status, String::from_utf8(text).unwrap(), reusable)
}

/// The error an exchange fails with, as the endpoint classifies it.
async fn failure(conn: Conn, req: Request<Body>) -> CallErrorKind {
    match conn.exchange(req).await {
        Ok(response) => {
            let mut body = response.into_body();
            loop {
                match body.frame().await {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return classify_body(Box::new(e)).kind,
                    None => panic!("the answer was read without an error"),
                }
            }
        }
        Err(Failed::Sent(e)) => classify_http1(e).kind,
        Err(Failed::Unsent(u)) => classify_http1(u.error).kind,
    }
}

#[tokio::test]
async fn a_request_goes_out_as_given_with_the_length_of_its_body() {
    let (addr, mut seen) = backend(vec!["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]).await;
    let (status, text, reusable) = call(
        connect(addr).await,
        request(Method::POST, body::full("hello")),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "ok"));
    assert!(reusable.is_some());
    let sent = seen.recv().await.unwrap();
    assert_eq!(
        sent,
        "POST /r?q=1 HTTP/1.1\r\nhost: backend\r\ncontent-length: 5\r\n\r\nhello"
    );
}

#[tokio::test]
async fn a_get_has_no_framing_and_an_empty_post_says_it_is_empty() {
    let ok = "HTTP/1.1 204 No Content\r\n\r\n";
    let (addr, mut seen) = backend(vec![ok, ok]).await;
    let (status, _, conn) = call(connect(addr).await, get()).await;
    assert_eq!(status, 204);
    assert_eq!(
        seen.recv().await.unwrap(),
        "GET /r?q=1 HTTP/1.1\r\nhost: backend\r\n\r\n"
    );
    let (_, _, conn) = call(conn.unwrap(), request(Method::POST, body::empty())).await;
    assert!(conn.is_some());
    assert_eq!(
        seen.recv().await.unwrap(),
        "POST /r?q=1 HTTP/1.1\r\nhost: backend\r\ncontent-length: 0\r\n\r\n"
    );
}

#[tokio::test]
async fn a_body_of_unknown_length_goes_chunked_as_it_comes() {
    let (addr, mut seen) = backend(vec!["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]).await;
    let (tx, streamed) = channel_body();
    let req = request(Method::PUT, streamed);
    tx.unbounded_send(Bytes::from_static(b"abc")).unwrap();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.unbounded_send(Bytes::from_static(b"0123456789abcdefg"))
            .unwrap();
        drop(tx);
    });
    let (status, _, conn) = call(connect(addr).await, req).await;
    sender.await.unwrap();
    assert_eq!(status, 200);
    assert!(conn.is_some());
    assert_eq!(
        seen.recv().await.unwrap(),
        "PUT /r?q=1 HTTP/1.1\r\nhost: backend\r\ntransfer-encoding: chunked\r\n\r\n\
         3\r\nabc\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n"
    );
}

#[tokio::test]
async fn a_chunked_answer_is_decoded_and_the_connection_used_again() {
    let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                   5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n";
    let (addr, _seen) = backend(vec![
        chunked,
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbye",
    ])
    .await;
    let (status, text, conn) = call(connect(addr).await, get()).await;
    assert_eq!((status, text.as_str()), (200, "hello, world"));
    let (_, text, _) = call(conn.expect("reusable after a chunked answer"), get()).await;
    assert_eq!(text, "bye");
}

#[tokio::test]
async fn an_answer_without_a_length_is_read_to_the_close_and_not_reused() {
    let (addr, _seen) = scripted(vec!["HTTP/1.1 200 OK\r\n\r\nall of it"], true).await;
    let (status, text, conn) = call(connect(addr).await, get()).await;
    assert_eq!((status, text.as_str()), (200, "all of it"));
    assert!(conn.is_none());
}

#[tokio::test]
async fn interim_answers_are_skipped() {
    let (addr, _seen) = backend(vec![
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
         HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx",
    ])
    .await;
    let (status, text, conn) = call(connect(addr).await, get()).await;
    assert_eq!((status, text.as_str()), (201, "x"));
    assert!(conn.is_some());
}

#[tokio::test]
async fn a_head_answer_has_no_body_whatever_its_length_says() {
    let (addr, _seen) = backend(vec![
        "HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ])
    .await;
    let (status, text, conn) =
        call(connect(addr).await, request(Method::HEAD, body::empty())).await;
    assert_eq!((status, text.as_str()), (200, ""));
    let (_, text, _) = call(conn.expect("reusable after HEAD"), get()).await;
    assert_eq!(text, "ok");
}

#[tokio::test]
async fn connection_close_and_http_1_0_answers_end_the_connection() {
    let (addr, _seen) = backend(vec![
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na",
    ])
    .await;
    let (_, text, conn) = call(connect(addr).await, get()).await;
    assert_eq!(text, "a");
    assert!(conn.is_none());

    let (addr, _seen) = backend(vec!["HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb"]).await;
    let (_, _, conn) = call(connect(addr).await, get()).await;
    assert!(conn.is_none(), "HTTP/1.0 without keep-alive");

    let (addr, _seen) = backend(vec![
        "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\nc",
    ])
    .await;
    let (_, _, conn) = call(connect(addr).await, get()).await;
    assert!(conn.is_some(), "HTTP/1.0 with keep-alive");
}

#[tokio::test]
async fn bytes_after_the_answer_keep_the_connection_out_of_the_pool() {
    // Written in one go, so they arrive with the answer.
    let (addr, _seen) = backend(vec![
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\naHTTP/1.1 200 OK\r\n",
    ])
    .await;
    let (_, text, conn) = call(connect(addr).await, get()).await;
    assert_eq!(text, "a");
    assert!(conn.is_none());
}

#[tokio::test]
async fn malformed_answers_are_protocol_violations() {
    for answer in [
        "HTTP/1.1 2000 Huge\r\n\r\n",
        "NOT HTTP AT ALL\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
    ] {
        let (addr, _seen) = backend(vec![answer]).await;
        assert_eq!(
            failure(connect(addr).await, get()).await,
            CallErrorKind::ProtocolViolation,
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn a_head_larger_than_the_limit_is_a_protocol_violation() {
    let big: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n",
            "a".repeat(20 * 1024)
        )
        .into_boxed_str(),
    );
    let (addr, _seen) = backend(vec![big]).await;
    assert_eq!(
        failure(connect(addr).await, get()).await,
        CallErrorKind::ProtocolViolation
    );
}

#[tokio::test]
async fn an_answer_cut_short_is_a_closed_connection() {
    for answer in [
        "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
        "HTTP/1.1 200 OK\r\ncontent-le",
    ] {
        let (addr, _seen) = scripted(vec![answer], true).await;
        assert_eq!(
            failure(connect(addr).await, get()).await,
            CallErrorKind::ConnectionClosed,
            "{answer:?}"
        );
    }
    // No answer at all.
    let (addr, _seen) = scripted(vec![""], true).await;
    assert_eq!(
        failure(connect(addr).await, get()).await,
        CallErrorKind::ConnectionClosed
    );
}

#[tokio::test]
async fn an_answer_before_the_body_is_all_sent_is_returned() {
    // The backend refuses the upload after its head, without reading the body.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        stream
            .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbig!")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    // A body that never ends: only the early answer can end the call.
    let (tx, streamed) = channel_body();
    tx.unbounded_send(Bytes::from_static(b"part")).unwrap();
    let req = request(Method::POST, streamed);
    let (status, text, conn) =
        tokio::time::timeout(Duration::from_secs(5), call(connect(addr).await, req))
            .await
            .expect("the early answer ends the call");
    assert_eq!((status, text.as_str()), (413, "big!"));
    assert!(conn.is_none());
    drop(tx);
}

#[tokio::test]
async fn an_idle_connection_closed_or_talking_unasked_is_not_usable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let first = listener.accept().await.unwrap().0;
        let second = listener.accept().await.unwrap().0;
        (first, second)
    });
    let mut closed = connect(addr).await;
    let mut talking = connect(addr).await;
    let (first, mut second) = accept.await.unwrap();
    assert!(closed.is_usable());
    assert!(talking.is_usable());
    drop(first);
    second
        .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!closed.is_usable());
    assert!(!talking.is_usable());
}

#[tokio::test]
async fn a_request_that_could_not_be_written_comes_back_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let conn = connect(addr).await;
    let server_side = accept.await.unwrap();
    // Shut our own writing side: the first write fails with nothing written.
    let Conn { io, .. } = conn;
    let BackendStream::Plain(tcp) = io else {
        unreachable!()
    };
    let std_tcp = tcp.into_std().unwrap();
    std_tcp.shutdown(std::net::Shutdown::Write).unwrap();
    let conn = Conn::new(
        BackendStream::Plain(TcpStream::from_std(std_tcp).unwrap()),
        1024,
    );
    match conn
        .exchange(request(Method::POST, body::full("payload")))
        .await
    {
        Err(Failed::Unsent(unsent)) => {
            let (parts, body) = unsent.request.into_parts();
            assert_eq!(parts.method, Method::POST);
            let bytes = body.collect().await.unwrap().to_bytes();
            assert_eq!(&bytes[..], b"payload");
        }
        Err(Failed::Sent(e)) => panic!("reported as sent: {e}"),
        Ok(_) => panic!("a write on a shut socket succeeded"),
    }
    drop(server_side);
}

#[tokio::test]
async fn an_endless_head_while_the_body_is_sent_is_bounded_too() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = format!("HTTP/1.1 200 OK\r\nx-big: {}", "a".repeat(64 * 1024));
        let _ = stream.write_all(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    // A body that never ends: the call waits on it and on the answer at once.
    let (tx, streamed) = channel_body();
    tx.unbounded_send(Bytes::from_static(b"part")).unwrap();
    let req = request(Method::POST, streamed);
    let kind = tokio::time::timeout(Duration::from_secs(5), failure(connect(addr).await, req))
        .await
        .expect("the head limit ends the call");
    assert_eq!(kind, CallErrorKind::ProtocolViolation);
    drop(tx);
}
