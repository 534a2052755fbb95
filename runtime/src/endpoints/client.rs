//! The pooled HTTP client every endpoint calls backends through.
//!
//! One [`EndpointClient`] is built at startup and shared (it is a cheap clone) by every
//! compiled configuration, so reloads keep warm connections. It keeps connections alive per
//! host, speaks HTTP/1.1 (through [`super::pool`], which runs each call in the caller's
//! task) or HTTP/2 with prior knowledge (through hyper's pooled client, which multiplexes
//! calls over one connection), and reports each failure as a [`CallError`] carrying
//! Synapse's error code. Retries, suspension and failover live above it, in the endpoint
//! layer.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

pub use super::error::{CallError, CallErrorKind};
use super::error::{classify_body, classify_send};
use super::pool::{Pool, PoolOptions};
use crate::tls::client::TlsProfile;
use crate::transports::http::body::{self, Body, BodyError, CallTimer, read_body_limited};

/// Connection settings shared by all endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long establishing a TCP connection may take (101508 past it); `None` leaves it
    /// to the operating system.
    pub connect_timeout: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// How many idle connections are kept per backend host; 0 disables reuse.
    pub max_idle_per_host: usize,
    /// Speak HTTP/2 without negotiation (h2c prior knowledge) instead of HTTP/1.1.
    pub http2_prior_knowledge: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Some(Duration::from_secs(30)),
            pool_idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 128,
            http2_prior_knowledge: false,
        }
    }
}

/// A pooled keep-alive HTTP client. Clones share the pool.
#[derive(Clone)]
pub struct EndpointClient {
    transport: Transport,
    /// The TLS profile of `https://` calls made through this clone (an endpoint's `tls`
    /// block); `None`: the default one (system roots).
    tls: Option<Arc<TlsProfile>>,
}

#[derive(Clone)]
enum Transport {
    Http1(Arc<Pool>),
    H2c(Box<Client<HttpConnector, Body>>),
}

impl std::fmt::Debug for EndpointClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let protocol = match self.transport {
            Transport::Http1(_) => "http/1.1",
            Transport::H2c(_) => "h2c",
        };
        f.debug_struct("EndpointClient")
            .field("protocol", &protocol)
            .finish()
    }
}

impl Default for EndpointClient {
    fn default() -> Self {
        Self::new(ClientOptions::default())
    }
}

impl EndpointClient {
    /// Builds the client and its (initially empty) connection pool.
    pub fn new(opts: ClientOptions) -> Self {
        if !opts.http2_prior_knowledge {
            return Self {
                tls: None,
                transport: Transport::Http1(Pool::new(PoolOptions {
                    connect_timeout: opts.connect_timeout,
                    idle_timeout: opts.pool_idle_timeout,
                    max_idle_per_host: opts.max_idle_per_host,
                    // Pooled connections keep their read buffer: bound it as the server does.
                    max_buf_size: crate::transports::http::server::READ_BUFFER_MAX,
                })),
            };
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(opts.connect_timeout);
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(opts.pool_idle_timeout)
            .pool_max_idle_per_host(opts.max_idle_per_host)
            .http2_only(true)
            .build(connector);
        Self {
            transport: Transport::H2c(Box::new(inner)),
            tls: None,
        }
    }

    /// The same client (the same pool) calling `https://` URLs with `profile`.
    pub fn with_tls(&self, profile: Arc<TlsProfile>) -> Self {
        Self {
            transport: self.transport.clone(),
            tls: Some(profile),
        }
    }

    /// Sends `req` and returns the response as soon as its head has arrived; the body
    /// streams from the backend. `timeout` bounds the wait for the head (101504 past it).
    pub async fn send(
        &self,
        req: Request<Body>,
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, CallError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.send_until(req, deadline, timeout).await
    }

    /// Sends a buffered request and reads the whole response body, at most `limit` bytes,
    /// all within `timeout`. A buffered request can be cloned for retries.
    pub async fn send_buffered(
        &self,
        req: Request<Bytes>,
        timeout: Option<Duration>,
        limit: usize,
    ) -> Result<Response<Bytes>, CallError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let response = self
            .send_until(req.map(body::full), deadline, timeout)
            .await?;
        let (parts, incoming) = response.into_parts();
        let read = read_body_limited(incoming, limit);
        let bytes = match deadline {
            Some(at) => match crate::timeouts::timeout_at(at.into_std(), read).await {
                Ok(read) => read,
                Err(_) => return Err(timed_out(timeout, "no complete response body")),
            },
            None => read.await,
        };
        match bytes {
            Ok(bytes) => Ok(Response::from_parts(parts, bytes)),
            Err(BodyError::TooLarge { limit }) => Err(CallError::new(
                CallErrorKind::ResponseProcessing,
                format!("the response body exceeds {limit} bytes"),
            )),
            Err(BodyError::Io(e)) => Err(classify_body(e)),
        }
    }

    /// Sends `req` and returns the response once its head has arrived, unless `timer`
    /// (the call's `timeout`) fires first; the timer comes back with the response, so the
    /// caller bounds the body with the same deadline.
    pub async fn send_timed(
        &self,
        req: Request<Body>,
        mut timer: CallTimer,
        timeout: Duration,
    ) -> Result<(Response<Body>, CallTimer), CallError> {
        let mut pending = std::pin::pin!(self.dispatch(req));
        let head = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = pending.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            std::pin::Pin::new(&mut timer).poll(cx).map(|()| None)
        })
        .await;
        match head {
            Some(Ok(response)) => Ok((response, timer)),
            Some(Err(err)) => Err(err),
            None => Err(timed_out(Some(timeout), "no response")),
        }
    }

    async fn dispatch(&self, req: Request<Body>) -> Result<Response<Body>, CallError> {
        match &self.transport {
            Transport::Http1(pool) => pool
                .send(req, self.tls.as_ref())
                .await
                .map(|r| r.map(body::boxed)),
            Transport::H2c(_) if req.uri().scheme_str() == Some("https") => Err(CallError::new(
                CallErrorKind::SendFailed,
                "https is not spoken by the HTTP/2 prior-knowledge client; call it over HTTP/1.1",
            )),
            Transport::H2c(client) => client
                .request(req)
                .await
                .map(|r| r.map(body::boxed))
                .map_err(classify_send),
        }
    }

    async fn send_until(
        &self,
        req: Request<Body>,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, CallError> {
        let pending = self.dispatch(req);
        match deadline {
            Some(at) => match crate::timeouts::timeout_at(at.into_std(), pending).await {
                Ok(result) => result,
                Err(_) => Err(timed_out(timeout, "no response")),
            },
            None => pending.await,
        }
    }
}

fn timed_out(timeout: Option<Duration>, what: &str) -> CallError {
    let after = timeout.map_or_else(String::new, |t| format!(" within {} ms", t.as_millis()));
    CallError::new(CallErrorKind::ResponseTimeout, format!("{what}{after}"))
}

#[cfg(test)]
mod tests;
