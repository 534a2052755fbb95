use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};

use super::*;
use crate::transports::http::body;

const SHORT: std::time::Duration = std::time::Duration::from_millis(50);

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
