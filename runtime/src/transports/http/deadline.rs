//! Deadlines on what a client sends, so a slow or silent client cannot hold a connection
//! and a task forever.
//!
//! Three bounds, from the connection's first byte to the request's last:
//! - [`FirstBytes`] wraps each accepted connection in the listener ([`super::server`]): the
//!   bytes that tell HTTP/1 from HTTP/2 must arrive within the header read timeout. Hyper's
//!   own header read timeout starts only once that is decided, so without this a client
//!   that connects and sends nothing (or one byte of `PRI * HTTP/2.0`) is held forever.
//! - The request head: hyper's `header_read_timeout` (HTTP/1), set by the listener.
//! - The request body and the whole request: the dispatcher runs each request under one
//!   timer (`dispatch::within`) and answers `408` when the body had not arrived in full by
//!   its deadline ([`BodyProgress`], reported by [`Tracked`] when the body streams to a
//!   backend), `504` when the answer was not ready by the request's.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::body::BoxError;
use crate::timeouts::Timeout;

// === impl FirstBytes ===

/// The HTTP/2 connection preface: hyper's auto-detection reads until these bytes stop
/// matching (HTTP/1) or are complete (HTTP/2).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An accepted connection whose first bytes must arrive before a deadline; see the module
/// documentation. Once the protocol is decided it is the stream itself (the timer is
/// dropped), so it costs one timer per connection, none per request.
pub struct FirstBytes<S> {
    inner: S,
    /// Until the protocol is decided.
    deadline: Option<Timeout>,
    /// Bytes of the HTTP/2 preface seen so far.
    matched: usize,
}

impl<S> FirstBytes<S> {
    /// `inner`, failing its reads with `TimedOut` if the protocol is not decided within
    /// `timeout`; `None` waits forever.
    pub fn new(inner: S, timeout: Option<Duration>) -> Self {
        Self {
            inner,
            deadline: timeout.map(Timeout::after),
            matched: 0,
        }
    }

    /// Notes `bytes`, read after the ones seen so far; stops the timer once they are not
    /// the preface (HTTP/1: hyper's header timer takes over), the preface is complete
    /// (HTTP/2), or the stream ended.
    fn saw(&mut self, bytes: &[u8]) {
        let rest = &H2_PREFACE[self.matched..];
        let n = bytes.len().min(rest.len());
        if bytes.is_empty() || bytes[..n] != rest[..n] || self.matched + n == H2_PREFACE.len() {
            self.deadline = None;
        } else {
            self.matched += n;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.deadline.is_none() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.deadline.as_mut().map(|d| Pin::new(d).poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the header read timeout",
                ))),
                _ => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

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
