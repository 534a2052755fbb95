//! HTTP/1.1 connections to backends, kept alive per host and driven by the task that uses
//! them.
//!
//! hyper's pooled client runs every connection in a task of its own, so each call crosses a
//! channel into that task and the answer crosses back (two task switches and a pool lookup
//! that hashes the host with SipHash, per call). Here the task that makes a call owns the
//! connection while the call lasts: it writes the request and reads the answer's head
//! itself (`conn`), and the answer's body reads from the connection as it is polled. A connection whose answer
//! was read to the end goes back to its host's idle list; a body dropped before its end
//! closes the connection (what is left of it would otherwise be read as the next answer).
//!
//! Nobody polls an idle connection, so a backend may close one unnoticed: taking it out of
//! the list polls it once (a closed socket shows at once), and a request that could not be
//! sent because the connection closed meanwhile is sent again on a new one — only when
//! nothing of it was written.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Authority;
use http::{HeaderValue, Request, Response, Uri, header};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::{CallError, CallErrorKind, classify_http1};
use crate::tls::client::{BackendStream, TlsProfile};
use crate::transports::http::body::Body;
use conn::{Conn, Failed, ResponseBody};
pub(crate) use conn::{Http1Error, Http1ErrorKind};

mod conn;

/// How connections are opened and kept.
#[derive(Debug, Clone)]
pub(crate) struct PoolOptions {
    pub connect_timeout: Option<Duration>,
    pub idle_timeout: Duration,
    pub max_idle_per_host: usize,
    pub max_buf_size: usize,
}

/// Keep-alive connections per backend host. Shared by every endpoint (reloads included).
pub(crate) struct Pool {
    opts: PoolOptions,
    hosts: Mutex<HashMap<Box<str>, Arc<Host>, foldhash::fast::RandomState>>,
    reaper_started: AtomicBool,
}

/// One backend `host:port` (and, over TLS, the profile it is called with) and its idle
/// connections, most recently used last.
struct Host {
    /// What to connect to: `host:port`.
    address: Box<str>,
    /// For `https://`: the client configuration and the name to send and verify.
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// The `Host` header for requests that carry none.
    host_header: HeaderValue,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(opts: PoolOptions) -> Arc<Self> {
        Arc::new(Self {
            opts,
            hosts: Mutex::new(HashMap::default()),
            reaper_started: AtomicBool::new(false),
        })
    }

    /// Sends `req` (an absolute `http://` or `https://` URI; `tls` is the endpoint's own
    /// TLS profile, else the default one) and returns the answer once its head has
    /// arrived; the body reads from the connection as it is polled.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: Request<Body>,
        tls: Option<&Arc<TlsProfile>>,
    ) -> Result<Response<PooledBody>, CallError> {
        let host = self.host(req.uri(), tls)?;
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut()
                .insert(header::HOST, host.host_header.clone());
        }
        // A reused connection may turn out closed before the request went out; then the
        // request comes back unsent and goes out once more on a new connection.
        loop {
            let (conn, reused) = match self.checkout(&host) {
                Some(conn) => (conn, true),
                None => (self.connect(&host).await?, false),
            };
            match conn.exchange(req).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = PooledBody {
                        body,
                        home: Arc::downgrade(&host),
                        pool: Arc::downgrade(self),
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(Failed::Unsent(unsent)) if reused => req = unsent.request,
                Err(Failed::Unsent(unsent)) => return Err(classify_http1(unsent.error)),
                Err(Failed::Sent(err)) => return Err(classify_http1(err)),
            }
        }
    }

    fn host(&self, uri: &Uri, tls: Option<&Arc<TlsProfile>>) -> Result<Arc<Host>, CallError> {
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return self.tls_host(uri, tls),
            Some(other) => {
                return Err(CallError::new(
                    CallErrorKind::SendFailed,
                    format!("the {other} scheme is not supported for backend calls"),
                ));
            }
            None => {
                return Err(CallError::new(
                    CallErrorKind::SendFailed,
                    format!("{uri} is not an absolute http:// URI"),
                ));
            }
        }
        let Some(authority) = uri.authority() else {
            return Err(CallError::new(
                CallErrorKind::SendFailed,
                format!("{uri} names no host"),
            ));
        };
        let mut hosts = lock(&self.hosts);
        if let Some(host) = hosts.get(authority.as_str()) {
            return Ok(Arc::clone(host));
        }
        let host = Arc::new(Host::new(authority, None)?);
        hosts.insert(authority.as_str().into(), Arc::clone(&host));
        Ok(host)
    }

    /// The host of an `https://` URI: keyed by the TLS profile too, so a connection made
    /// with one CA or client certificate never serves a call made with another.
    fn tls_host(&self, uri: &Uri, tls: Option<&Arc<TlsProfile>>) -> Result<Arc<Host>, CallError> {
        let Some(authority) = uri.authority() else {
            return Err(CallError::new(
                CallErrorKind::SendFailed,
                format!("{uri} names no host"),
            ));
        };
        let default;
        let profile = match tls {
            Some(profile) => profile,
            None => {
                default = TlsProfile::default_profile()
                    .map_err(|e| CallError::new(CallErrorKind::Tls, e))?;
                &default
            }
        };
        let key = format!("https://{}#{}", authority.as_str(), profile.id);
        let mut hosts = lock(&self.hosts);
        if let Some(host) = hosts.get(key.as_str()) {
            return Ok(Arc::clone(host));
        }
        let name = crate::tls::client::server_name(profile, authority.host())
            .map_err(|e| CallError::new(CallErrorKind::SendFailed, e))?;
        let host = Arc::new(Host::new(
            authority,
            Some((Arc::clone(&profile.config), name)),
        )?);
        hosts.insert(key.into(), Arc::clone(&host));
        Ok(host)
    }

    fn checkout(&self, host: &Host) -> Option<Conn> {
        let now = Instant::now();
        let mut idle = lock(&host.idle);
        while let Some(mut candidate) = idle.pop() {
            if now.duration_since(candidate.since) < self.opts.idle_timeout
                && candidate.conn.is_usable()
            {
                return Some(candidate.conn);
            }
        }
        None
    }

    fn checkin(self: &Arc<Self>, host: &Host, conn: Conn) {
        // Whether the connection can take another request is checked when it is taken out
        // (polling it here as well would cost a second read attempt per call).
        if self.opts.max_idle_per_host == 0 {
            return;
        }
        {
            let mut idle = lock(&host.idle);
            if idle.len() >= self.opts.max_idle_per_host {
                return;
            }
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
        self.start_reaper();
    }

    async fn connect(&self, host: &Host) -> Result<Conn, CallError> {
        let connecting = connect_stream(host);
        let stream = match self.opts.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, connecting).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(CallError::new(
                        CallErrorKind::ConnectTimeout,
                        format!(
                            "connecting to {} took longer than {} ms",
                            host.address,
                            limit.as_millis()
                        ),
                    ));
                }
            },
            None => connecting.await,
        }
        .map_err(|e| {
            if let Some(why) = crate::tls::client::handshake_failure(&e) {
                return CallError::new(
                    CallErrorKind::Tls,
                    format!("TLS handshake with {} failed: {why}", host.address),
                )
                .with_cause(e);
            }
            let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                CallErrorKind::ConnectTimeout
            } else {
                CallErrorKind::ConnectFailed
            };
            CallError::new(kind, format!("cannot connect to {}: {e}", host.address)).with_cause(e)
        })?;
        Ok(Conn::new(stream, self.opts.max_buf_size))
    }

    /// Closes connections idle past the timeout even when their host gets no more calls.
    fn start_reaper(self: &Arc<Self>) {
        if self.reaper_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.reaper_started.store(false, Ordering::Relaxed);
            return;
        };
        let pool = Arc::downgrade(self);
        let every = self
            .opts
            .idle_timeout
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        runtime.spawn(reap(pool, every));
    }
}

async fn reap(pool: Weak<Pool>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else { return };
        let hosts: Vec<Arc<Host>> = lock(&pool.hosts).values().cloned().collect();
        let now = Instant::now();
        for host in hosts {
            // Dropped outside the lock: closing a socket is a system call.
            let expired: Vec<Idle> = {
                let mut idle = lock(&host.idle);
                let (keep, expired) = std::mem::take(&mut *idle)
                    .into_iter()
                    .partition(|i| now.duration_since(i.since) < pool.opts.idle_timeout);
                *idle = keep;
                expired
            };
            drop(expired);
        }
    }
}

impl Host {
    fn new(
        authority: &Authority,
        tls: Option<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
    ) -> Result<Self, CallError> {
        let default_port = if tls.is_some() { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let name = authority.host();
        let address = format!("{name}:{port}").into_boxed_str();
        let header = match authority.port() {
            Some(p) if p.as_u16() != default_port => format!("{name}:{p}"),
            _ => name.to_owned(),
        };
        let host_header = HeaderValue::from_str(&header).map_err(|_| {
            CallError::new(
                CallErrorKind::SendFailed,
                format!("{authority} is not a valid host"),
            )
        })?;
        Ok(Self {
            address,
            tls,
            host_header,
            idle: Mutex::new(Vec::new()),
        })
    }
}

/// A connection to `host`: TCP, then the TLS handshake for `https://`.
async fn connect_stream(host: &Host) -> std::io::Result<BackendStream> {
    let tcp = connect_tcp(&host.address).await?;
    match &host.tls {
        None => Ok(BackendStream::Plain(tcp)),
        Some((config, name)) => {
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name.clone(), tcp)
                .await?;
            Ok(BackendStream::Tls(Box::new(tls)))
        }
    }
}

async fn connect_tcp(address: &str) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{address} resolves to no address"),
        )
    }))
}

/// An answer's body, reading from its connection; puts the connection back into the pool
/// once the body has ended.
pub(crate) struct PooledBody {
    body: ResponseBody,
    home: Weak<Host>,
    pool: Weak<Pool>,
}

impl PooledBody {
    fn release(&mut self) {
        let Some(conn) = self.body.take_reusable() else {
            return;
        };
        if let (Some(pool), Some(host)) = (self.pool.upgrade(), self.home.upgrade()) {
            pool.checkin(&host, conn);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = Http1Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Http1Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if frame.is_ready() && self.body.is_end_stream() {
            self.release();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The lists stay consistent whatever panicked while holding them.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
