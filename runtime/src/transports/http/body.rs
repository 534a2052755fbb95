//! The one body type that requests and responses carry through Ferry, and the bounded reader.
//!
//! The server hands every handler a [`Body`], mediators that need the payload buffer it with
//! [`read_body_limited`], and the endpoint client sends the same type to backends. A message
//! nobody reads streams through untouched, because the type is a boxed stream, not bytes.

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError};
use hyper::body::Body as HttpBody;

/// Any error a body stream can yield.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The streaming body of every request and response inside Ferry.
///
/// `Send + Sync`, so a message holding one can be borrowed across an `.await` in a `Send`
/// future (mediators take `&Message` while they wait on endpoints).
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body with no content.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// Boxes any body whose errors convert into [`BoxError`] (hyper's `Incoming`, for one).
pub fn boxed<B>(body: B) -> Body
where
    B: HttpBody<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A call's deadline as a timer, made once and shared by the wait for the answer's head
/// and its body (one timer per call instead of two).
pub type CallTimer = crate::timeouts::Timeout;

/// `body`, failing with a timeout error if it has not ended when `sleep` fires: a streamed
/// backend answer keeps the endpoint's timeout for its whole body, as a buffered one does.
/// The size hint passes through, so a known length is still sent as `Content-Length`.
pub fn with_timer(body: Body, sleep: CallTimer) -> Body {
    Deadline { inner: body, sleep }.boxed()
}

struct Deadline {
    inner: Body,
    sleep: CallTimer,
}

/// The deadline passed before a streamed body ended.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within the endpoint timeout")]
pub struct BodyTimeout;

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        if let std::task::Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return std::task::Poll::Ready(frame);
        }
        match std::pin::Pin::new(&mut self.sleep).poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Why a body could not be read in full.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit (the server answers 413).
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The stream failed (peer closed the connection mid-body, timeout, protocol error).
    #[error("reading the body failed: {0}")]
    Io(#[source] BoxError),
}

impl BodyError {
    /// Whether a limit set further up (the server's [`http_body_util::Limited`] wrapper)
    /// tripped, which also means the body was too large.
    fn from_stream(err: BoxError, limit: usize) -> Self {
        if is_length_limit(&*err) {
            BodyError::TooLarge { limit }
        } else {
            BodyError::Io(err)
        }
    }
}

/// Whether `err`, or anything it wraps, is `http_body_util`'s length-limit error.
pub(crate) fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Reads the whole body into one buffer, failing once it passes `limit` bytes.
///
/// A body that declares its length (Content-Length) fails before a byte is read, so an
/// oversized upload is refused without being received.
pub async fn read_body_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: HttpBody,
    B::Error: Into<BoxError>,
{
    let hint = body.size_hint();
    if hint.lower() > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = std::pin::pin!(body);
    // The exact size is known for most requests, which saves the re-allocations.
    let capacity = hint.exact().map_or(0, |n| n as usize);
    let mut buf = BytesMut::with_capacity(capacity.min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::from_stream(e.into(), limit))?;
        if let Ok(mut data) = frame.into_data() {
            if buf.len() + data.remaining() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                data.advance(n);
            }
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Limited, StreamBody};
    use hyper::body::Frame;

    fn chunked(parts: Vec<Result<&'static [u8], &'static str>>) -> Body {
        let frames = parts.into_iter().map(|p| match p {
            Ok(bytes) => Ok(Frame::data(Bytes::from_static(bytes))),
            Err(msg) => Err(BoxError::from(msg)),
        });
        StreamBody::new(futures::stream::iter(frames)).boxed()
    }

    #[tokio::test]
    async fn a_full_body_is_read_back_unchanged() {
        let bytes = read_body_limited(full("hello"), 10).await.unwrap();
        assert_eq!(bytes, "hello");
    }

    #[tokio::test]
    async fn an_empty_body_reads_as_no_bytes() {
        let bytes = read_body_limited(empty(), 0).await.unwrap();
        assert!(bytes.is_empty());
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_accepted() {
        let bytes = read_body_limited(full("12345"), 5).await.unwrap();
        assert_eq!(bytes.len(), 5);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_fails_before_reading() {
        let err = read_body_limited(full("123456"), 5).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 5 }));
    }

    #[tokio::test]
    async fn a_chunked_body_growing_past_the_limit_fails_as_too_large() {
        let body = chunked(vec![Ok(b"abc"), Ok(b"def"), Ok(b"ghi")]);
        let err = read_body_limited(body, 7).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 7 }));
    }

    #[tokio::test]
    async fn chunks_are_concatenated_in_order() {
        let body = chunked(vec![Ok(b"abc"), Ok(b"def")]);
        assert_eq!(read_body_limited(body, 100).await.unwrap(), "abcdef");
    }

    #[tokio::test]
    async fn a_stream_error_is_reported_as_io() {
        let body = chunked(vec![Ok(b"abc"), Err("connection reset")]);
        let err = read_body_limited(body, 100).await.unwrap_err();
        assert!(matches!(err, BodyError::Io(e) if e.to_string() == "connection reset"));
    }

    #[tokio::test]
    async fn a_limit_enforced_by_an_outer_wrapper_is_reported_as_too_large() {
        let body = boxed(Limited::new(chunked(vec![Ok(b"abcdef")]), 3));
        let err = read_body_limited(body, 100).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }));
    }
}
