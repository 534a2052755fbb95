use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::transports::http::body;

const SHORT: Duration = Duration::from_millis(50);

/// Reads once from `conn`, giving up (as `None`) after `wait`.
async fn read_once(
    conn: &mut FirstBytes<tokio::io::DuplexStream>,
    wait: Duration,
) -> Option<io::Result<usize>> {
    let mut buf = [0u8; 64];
    tokio::time::timeout(wait, conn.read(&mut buf)).await.ok()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_times_out() {
    let (_client, server) = tokio::io::duplex(64);
    let mut conn = FirstBytes::new(server, Some(SHORT));
    let read = read_once(&mut conn, Duration::from_secs(5)).await;
    let err = read.expect("the deadline should end the read").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn a_connection_stuck_inside_the_http2_preface_times_out() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut conn = FirstBytes::new(server, Some(SHORT));
    client.write_all(b"PRI * HT").await.unwrap();
    assert_eq!(read_once(&mut conn, SHORT).await.unwrap().unwrap(), 8);
    let err = read_once(&mut conn, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn once_http1_is_clear_the_deadline_is_hypers_business() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut conn = FirstBytes::new(server, Some(SHORT));
    client.write_all(b"GET").await.unwrap();
    assert_eq!(read_once(&mut conn, SHORT).await.unwrap().unwrap(), 3);
    // Past the deadline, a read still just waits for the client.
    tokio::time::sleep(SHORT * 2).await;
    assert!(read_once(&mut conn, SHORT).await.is_none());
}

#[tokio::test]
async fn a_complete_http2_preface_stops_the_deadline() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut conn = FirstBytes::new(server, Some(SHORT));
    client.write_all(H2_PREFACE).await.unwrap();
    let mut buf = [0u8; 24];
    conn.read_exact(&mut buf).await.unwrap();
    tokio::time::sleep(SHORT * 2).await;
    assert!(read_once(&mut conn, SHORT).await.is_none());
}

#[tokio::test]
async fn without_a_timeout_a_silent_connection_just_waits() {
    let (_client, server) = tokio::io::duplex(64);
    let mut conn = FirstBytes::new(server, None);
    assert!(read_once(&mut conn, SHORT * 2).await.is_none());
}

#[tokio::test]
async fn a_tracked_body_reports_when_it_has_arrived_whole() {
    let progress = Arc::new(BodyProgress::default());
    let body = Tracked::new(body::full("hello"), progress.clone());
    assert_eq!(body.size_hint().exact(), Some(5));
    assert!(!progress.received());
    let bytes = body.collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "hello");
    assert!(progress.received());
}

#[tokio::test]
async fn a_tracked_body_that_stalls_has_not_arrived() {
    let first = futures::stream::iter([Ok::<_, BoxError>(Frame::data(Bytes::from("x")))]);
    let stalled = body::boxed(StreamBody::new(first.chain(futures::stream::pending())));
    let progress = Arc::new(BodyProgress::default());
    let body = Tracked::new(stalled, progress.clone());
    assert!(tokio::time::timeout(SHORT, body.collect()).await.is_err());
    assert!(!progress.received());
}
