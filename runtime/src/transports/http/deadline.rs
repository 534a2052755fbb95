//! Deadlines on what a client sends, so a slow or silent client cannot hold a connection
//! and a task forever.
//!
//! Two bounds, from the connection's first byte to the request's last:
//! - The request head: the listener ([`super::server`]) gives a client the header read
//!   timeout for the bytes that tell HTTP/1 from HTTP/2, and for each HTTP/1 request head
//!   (an idle keep-alive connection's next one too).
//! - The request body and the whole request: the dispatcher runs each request under one
//!   timer (`dispatch::within`) and answers `408` when the body had not arrived in full by
//!   its deadline ([`BodyProgress`], reported by [`Tracked`] when the body streams to a
//!   backend), `504` when the answer was not ready by the request's.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::body::BoxError;

// === impl Tracked ===

/// Whether a request body has arrived in full, shared between the body (read by someone
/// else, e.g. the client streaming it to a backend) and the dispatcher, whose one timer
/// per request tells a slow body (`408`) from a slow flow (`504`) by it.
#[derive(Debug, Default)]
pub struct BodyProgress(AtomicBool);

impl BodyProgress {
    /// Whether the body arrived in full.
    pub fn received(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Records that the body arrived in full.
    pub fn arrived(&self) {
        self.0.store(true, Ordering::Release);
    }
}

pin_project_lite::pin_project! {
    /// A request body that reports to a [`BodyProgress`] when it has ended.
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        progress: Arc<BodyProgress>,
    }
}

impl<B> Tracked<B> {
    /// `inner`, reporting to `progress`.
    pub fn new(inner: B, progress: Arc<BodyProgress>) -> Self {
        Self { inner, progress }
    }
}

impl<B> HttpBody for Tracked<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                this.progress.arrived();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                // Readers stop at the end of the stream without asking for `None`.
                if this.inner.is_end_stream() {
                    this.progress.arrived();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
