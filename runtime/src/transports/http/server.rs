//! The HTTP listener: accepts connections, speaks HTTP/1.1 (keep-alive) and h2c, or both
//! over TLS, and hands each request to a [`Handler`].
//!
//! `ferry run` binds the API port and calls [`serve`] with the handler that routes into the
//! compiled configuration, and the HTTPS port with [`serve_tls`] and the same handler; the
//! admin port uses [`serve`] with its own handler. The server owns the transport concerns
//! only: body and header size limits, header read timeout, the TLS handshake (a request
//! over TLS comes with a [`TlsConnection`] naming the verified client), a panic
//! in a handler becoming a 500 (every build unwinds; see `crate::panics`), and graceful
//! shutdown with a deadline.
//!
//! A connection's first bytes say which protocol it speaks: HTTP/1.x is served by
//! `h1`, in the connection's own task; HTTP/2 (its preface, whether over TLS by ALPN or
//! in the clear with prior knowledge) by hyper.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use super::body::{self, Body, BoxError};
use super::drain::Drain;
use super::error;
use crate::tls::peer::ClientIdentity;
pub use crate::tls::peer::TlsConnection;
use crate::tls::server::ServerTls;

/// The most a connection's read buffer grows to (hyper's default is about 400 KiB). Each
/// keep-alive connection keeps its buffer between requests, so with large bodies and many
/// connections this bounds the resident memory; it also caps a request head at 64 KiB
/// (nginx allows 32 KiB by default).
pub const READ_BUFFER_MAX: usize = 64 * 1024;

/// What answers requests. Implemented by the runtime's dispatcher and by the admin port.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`. Errors are the handler's to turn into responses;
    /// the server only adds a 500 when the handler panics.
    ///
    /// The peer is an argument rather than a request extension: the first extension
    /// allocates a map, on every request.
    fn handle(&self, req: Request<Body>, peer: Peer)
    -> impl Future<Output = Response<Body>> + Send;
}

/// Who sent a request: its address and, over TLS, what the handshake established.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The TLS connection the request came on; `None` over plain HTTP.
    pub tls: Option<Arc<TlsConnection>>,
}

impl Peer {
    /// A peer over plain HTTP.
    pub fn plain(remote: SocketAddr) -> Self {
        Self { remote, tls: None }
    }
}

/// Transport settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Largest request head (request line and headers) accepted; a larger one is answered
    /// 431. It is also the most a connection's read buffer grows to. At least 8192 (hyper's
    /// floor).
    pub max_header_bytes: usize,
    /// Largest request body accepted. A larger declared Content-Length is answered 413
    /// before the handler runs; a larger chunked body fails the handler's read.
    pub max_body_bytes: usize,
    /// How long a client may take to send the request head (slowloris protection): on a
    /// new connection, the first bytes (HTTP/1 or HTTP/2) and then, over HTTP/1, each
    /// request head, an idle keep-alive connection's next one included. `None` waits
    /// forever.
    pub header_read_timeout: Option<Duration>,
    /// How long in-flight requests may run after shutdown starts before their connections
    /// are cut.
    pub graceful_timeout: Duration,
    /// Whether HTTP/1.1 connections are kept open between requests.
    pub keep_alive: bool,
    /// Requests the listener runs at once; one more is answered 503 with `Retry-After`
    /// at once, instead of queueing without bound (memory, latency). `None`: no limit.
    pub max_concurrent_requests: Option<usize>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_header_bytes: READ_BUFFER_MAX,
            max_body_bytes: 16 * 1024 * 1024,
            header_read_timeout: Some(Duration::from_secs(30)),
            graceful_timeout: Duration::from_secs(30),
            keep_alive: true,
            max_concurrent_requests: None,
        }
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every in-flight request finished before the deadline.
    Drained,
    /// The deadline passed; this many connections were cut.
    DeadlineExceeded {
        /// Connections still open at the deadline.
        aborted: usize,
    },
}

/// Serves `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish for up to [`ServerOptions::graceful_timeout`], and returns.
///
/// Accept and connection errors are logged, never fatal: a client that misbehaves or a
/// momentary lack of file descriptors does not stop the listener.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Shutdown {
    serve_with(listener, handler, opts, None, shutdown).await
}

/// [`serve`] over TLS: each connection's handshake (within the header read timeout) with
/// the configuration `tls` holds at that moment, so a reloaded certificate applies to the
/// next connection.
pub async fn serve_tls<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    opts: ServerOptions,
    tls: Arc<ServerTls>,
    shutdown: impl Future<Output = ()>,
) -> Shutdown {
    serve_with(listener, handler, opts, Some(tls), shutdown).await
}

/// Serves one connection that is already open, `io` from `peer`, as a listener serves
/// each it accepts (HTTP/1.x, or h2c by its preface), until it ends: the listener's
/// connection handling without a socket, for fuzzing and tests.
pub async fn serve_connection<H, I>(io: I, peer: Peer, handler: Arc<H>, opts: &ServerOptions)
where
    H: Handler,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Serving::new(handler, opts).connection(io, peer).await;
}

/// How long a TLS handshake may take when the header read timeout is off.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

async fn serve_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    opts: ServerOptions,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()>,
) -> Shutdown {
    let serving = Arc::new(Serving::new(handler, &opts));

    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning on the error.
                        warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if let Err(e) = stream.set_nodelay(true) {
                    debug!(%remote, error = %e, "setting TCP_NODELAY failed");
                }
                let serving = Arc::clone(&serving);
                let drain = Arc::clone(&serving.drain);
                if let Some(tls) = &tls {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
                    let handshake_timeout = opts.header_read_timeout.unwrap_or(HANDSHAKE_TIMEOUT);
                    connections.spawn(drain.guard(async move {
                        let stream = match tokio::time::timeout(
                            handshake_timeout,
                            acceptor.accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                debug!(%remote, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                debug!(%remote, "TLS handshake timed out");
                                return;
                            }
                        };
                        let connection = Arc::new(tls_connection(stream.get_ref().1));
                        let peer = Peer { remote, tls: Some(connection) };
                        serving.connection(stream, peer).await;
                    }));
                } else {
                    connections.spawn(drain.guard(async move {
                        serving.connection(stream, Peer::plain(remote)).await;
                    }));
                }
                // Reap finished connections so the set only holds live ones.
                while connections.try_join_next().is_some() {}
            }
        }
    }

    drop(listener);
    debug!(
        connections = connections.len(),
        "listener closed, draining connections"
    );
    serving.drain.start();
    let deadline = tokio::time::sleep(opts.graceful_timeout);
    let mut deadline = std::pin::pin!(deadline);
    loop {
        tokio::select! {
            joined = connections.join_next() => {
                if joined.is_none() {
                    return Shutdown::Drained;
                }
            }
            () = &mut deadline => {
                while connections.try_join_next().is_some() {}
                let aborted = connections.len();
                warn!(aborted, "graceful shutdown deadline passed, cutting connections");
                connections.abort_all();
                return Shutdown::DeadlineExceeded { aborted };
            }
        }
    }
}

/// What every connection of a listener shares.
struct Serving<H> {
    handler: Arc<H>,
    h2: http2::Builder<TokioExecutor>,
    settings: h1::Settings,
    max_body_bytes: usize,
    admission: Option<(Arc<Semaphore>, usize)>,
    drain: Arc<Drain>,
}

impl<H: Handler> Serving<H> {
    fn new(handler: Arc<H>, opts: &ServerOptions) -> Self {
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(opts.max_header_bytes).unwrap_or(u32::MAX));
        Self {
            handler,
            h2,
            settings: h1::Settings {
                max_head: opts.max_header_bytes.max(8192),
                header_timeout: opts.header_read_timeout,
                keep_alive: opts.keep_alive,
            },
            max_body_bytes: opts.max_body_bytes,
            admission: opts
                .max_concurrent_requests
                .map(|n| (Arc::new(Semaphore::new(n)), n)),
            drain: Drain::new(),
        }
    }

    /// Serves one connection (after its TLS handshake) to its end.
    async fn connection<I>(&self, io: I, peer: Peer)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let remote = peer.remote;
        let ended = match h1::detect(io, self.settings.header_timeout, &self.drain).await {
            h1::Protocol::Http1(io, buf) => h1::serve(io, buf, self.settings, &self.drain, |req| {
                respond(
                    Arc::clone(&self.handler),
                    req,
                    peer.clone(),
                    self.max_body_bytes,
                    self.admission.clone(),
                )
            })
            .await
            .map_err(BoxError::from),
            h1::Protocol::Http2(io) => {
                let service = service_fn(|req: Request<Incoming>| {
                    // Boxed: hyper moves each stream's future into a task of its own.
                    let answer = Box::pin(respond(
                        Arc::clone(&self.handler),
                        req,
                        peer.clone(),
                        self.max_body_bytes,
                        self.admission.clone(),
                    ));
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let mut conn = std::pin::pin!(self.h2.serve_connection(TokioIo::new(io), service));
                let mut told = false;
                poll_fn(|cx| {
                    if !told && self.drain.is_started() {
                        told = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    conn.as_mut().poll(cx)
                })
                .await
                .map_err(BoxError::from)
            }
            h1::Protocol::Gone => Ok(()),
        };
        if let Err(e) = ended {
            debug!(%remote, error = %e, "connection ended with an error");
        }
    }
}

/// What the requests of a TLS connection learn of it: the verified client certificate.
fn tls_connection(session: &rustls::ServerConnection) -> TlsConnection {
    let client = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| ClientIdentity::from_der(leaf.as_ref()));
    TlsConnection { client }
}

/// Runs the handler for one request, after the checks the transport owns.
async fn respond<H: Handler, B>(
    handler: Arc<H>,
    req: Request<B>,
    peer: Peer,
    limit: usize,
    admission: Option<(Arc<Semaphore>, usize)>,
) -> Response<Body>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    // Held until the handler has its answer's head (a streamed body goes on without it).
    let _permit = match &admission {
        None => None,
        Some((permits, max)) => match permits.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => return error::overloaded(*max),
        },
    };
    // Content-Length is what the size hint reports; refuse before reading a byte.
    if req.body().size_hint().lower() > limit as u64 {
        return error::too_large(limit);
    }
    let req = req.map(|incoming| body::boxed(Limited::new(incoming, limit)));
    let method = req.method().clone();
    // Cheap clones (shared bytes), kept only to name the request if the handler panics.
    let uri = req.uri().clone();
    // Not boxed: an HTTP/1 connection pins this future in place in its task, so the
    // handler's (kilobytes: routing, authentication, the call) is not moved on its way
    // there, and an allocation that size costs glibc more than the copy it saves; over
    // HTTP/2 the caller boxes the whole.
    match AssertUnwindSafe(handler.handle(req, peer))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(payload) => {
            // The panic hook (`crate::panics`) logged where it happened and counted it.
            error!(
                %method,
                path = uri.path(),
                panic = %crate::panics::message(payload.as_ref()),
                "request handler panicked; answered 500"
            );
            error::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

mod h1;

#[cfg(test)]
mod tests;
