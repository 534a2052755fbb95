//! AMQP 0-9-1 connections to RabbitMQ, shared by everything that talks to a broker: the
//! `rabbitmq` message store, the RabbitMQ inbound endpoint and RabbitMQ endpoints. It holds
//! what they must do alike: the broker's [`Address`] from typed settings (the password and
//! the TLS material read from the environment), connecting on Ferry's own Tokio runtime —
//! over TLS (`amqps`) with the runtime's one rustls client configuration when asked —, the
//! backoff between reconnection attempts, and [`Link`], a connection made on first use and
//! re-made after a failure (no sooner than the backoff allows), whose outages are logged
//! once each.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferry_api::check::tls::ClientTls;
use ferry_api::resources::{ConnectionRetry, SecretSource};
use http::{HeaderMap, HeaderName, HeaderValue};
use lapin::tcp::{RustlsConnector, TcpStream};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::time::Instant;

use crate::tls::client::TlsProfile;

/// Where a broker is and who connects, as the resources write it.
pub struct Broker<'a> {
    /// The host.
    pub host: &'a str,
    /// The port; default 5672.
    pub port: Option<u16>,
    /// The virtual host.
    pub virtual_host: &'a str,
    /// The user; default `guest` (with the password `guest`).
    pub username: Option<&'a str>,
    /// Where the password is.
    pub password_from: Option<&'a SecretSource>,
    /// Connect with TLS, so configured; the port then defaults to 5671.
    pub tls: Option<&'a ClientTls>,
}

/// Where to connect and how: the broker's URI and, for `amqps`, the TLS client side.
/// Its URI holds the password: it is never logged.
#[derive(Clone)]
pub struct Address {
    uri: String,
    tls: Option<Arc<BrokerTls>>,
}

struct BrokerTls {
    connector: RustlsConnector,
    /// The name sent as SNI and verified: `serverName`, else the host.
    server_name: String,
}

impl Broker<'_> {
    /// The broker's address; the password and the TLS material (CA, client certificate
    /// and key) are read from their environment variables now.
    pub fn address(&self) -> Result<Address, String> {
        let uri = self.uri()?;
        let tls = match self.tls {
            None => None,
            Some(settings) => {
                let profile = TlsProfile::build(settings).map_err(|e| format!("tls: {e}"))?;
                let name = crate::tls::client::server_name(&profile, self.host.trim())
                    .map_err(|e| format!("tls: {e}"))?;
                Some(Arc::new(BrokerTls {
                    connector: RustlsConnector::from(profile.config_without_alpn()),
                    server_name: name.to_str().into_owned(),
                }))
            }
        };
        Ok(Address { uri, tls })
    }

    /// The `amqp://` URI, the password read from its environment variable now. With TLS
    /// the scheme stays `amqp`: [`connect`] wraps the socket itself, with Ferry's rustls
    /// configuration rather than lapin's own.
    fn uri(&self) -> Result<String, String> {
        let user = self.username.unwrap_or("guest");
        let password = match self.password_from {
            Some(from) => {
                let var = from
                    .env_var()
                    .ok_or("passwordFrom: set env or secretKeyRef")?;
                std::env::var(&var).map_err(|_| {
                    format!("passwordFrom: the environment variable {var} is not set")
                })?
            }
            None if self.username.is_none() => "guest".into(),
            None => return Err("passwordFrom is required with username".into()),
        };
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        Ok(format!(
            "amqp://{}:{}@{}:{}/{}",
            enc(user),
            enc(&password),
            self.host.trim(),
            self.port
                .unwrap_or(if self.tls.is_some() { 5671 } else { 5672 }),
            enc(self.virtual_host)
        ))
    }
}

/// Opens a connection to `address`, driven by the current Tokio runtime (lapin's own
/// executor would add threads of its own). A TLS handshake that fails is an error (see
/// [`describe`]); nothing falls back to plain AMQP.
// The handshake closure's error type is lapin's (tcp-stream's HandshakeError), not ours.
#[allow(clippy::result_large_err)]
pub async fn connect(address: &Address) -> Result<Connection, lapin::Error> {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let Some(tls) = &address.tls else {
        return Connection::connect(&address.uri, props).await;
    };
    let uri = address
        .uri
        .parse::<AMQPUri>()
        .map_err(|e| lapin::Error::from(std::io::Error::other(e)))?;
    let tls = Arc::clone(tls);
    Connection::connector(
        uri,
        // As lapin does for its own `amqps`: the handshake on the blocking socket (on lapin's
        // I/O thread), then non-blocking for the AMQP session.
        Box::new(move |uri: &AMQPUri| {
            let plain = TcpStream::connect((uri.authority.host.as_str(), uri.authority.port))?;
            let stream = plain.into_rustls(&tls.connector, &tls.server_name)?;
            stream.set_nonblocking(true)?;
            Ok(stream)
        }),
        props,
    )
    .await
    .map_err(closed_after_handshake)
}

/// The broker closed a TLS connection before the AMQP handshake ended. With TLS 1.3 that is
/// how a refused client certificate can show: the client's side of the TLS handshake is
/// complete before the broker has judged the certificate, so its alert may come only as a
/// closed socket under lapin's first write.
#[derive(Debug, thiserror::Error)]
#[error(
    "the broker closed the connection right after the TLS handshake ({0}): it may require a client certificate (tls.certFrom) or refuse the one sent"
)]
struct ClosedAfterHandshake(std::io::ErrorKind);

fn closed_after_handshake(err: lapin::Error) -> lapin::Error {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match err.kind() {
        lapin::ErrorKind::IOError(io)
            if matches!(
                io.kind(),
                BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
            ) && crate::tls::client::handshake_failure(io).is_none() =>
        {
            lapin::Error::from(std::io::Error::other(ClosedAfterHandshake(io.kind())))
        }
        _ => err,
    }
}

/// A connection error in an operator's words: a failed TLS handshake says why (an unknown
/// CA, a wrong host name, a refused client certificate) instead of lapin's I/O wording.
pub fn describe(err: &lapin::Error) -> String {
    if let lapin::ErrorKind::IOError(io) = err.kind()
        && let Some(why) = crate::tls::client::handshake_failure(io)
    {
        return format!("the TLS handshake with RabbitMQ failed: {why}");
    }
    if let lapin::ErrorKind::IOError(io) = err.kind()
        && let Some(closed) = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<ClosedAfterHandshake>())
    {
        return format!("the TLS handshake with RabbitMQ failed: {closed}");
    }
    err.to_string()
}

/// Exponential backoff between connection attempts: the first wait `initialDelay`, each
/// next one doubled up to `maxDelay`, back to the start after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(&ConnectionRetry::default())
    }
}

impl Backoff {
    /// The backoff a resource's `connectionRetry` describes.
    pub fn new(retry: &ConnectionRetry) -> Self {
        Self {
            initial: Duration::from_millis(retry.initial_delay),
            max: Duration::from_millis(retry.max_delay),
            current: Duration::ZERO,
        }
    }

    /// How long to wait before the next attempt, after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        self.current = if self.current.is_zero() {
            self.initial
        } else {
            (self.current * 2).min(self.max)
        };
        self.current
    }

    /// A connection succeeded: the next failure waits `initialDelay` again.
    pub fn reset(&mut self) {
        self.current = Duration::ZERO;
    }
}

// === headers ===

/// Transport headers that describe an HTTP exchange, not the message: never AMQP headers.
const NOT_FORWARDED: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "accept-encoding",
    "expect",
];

/// A message's transport headers as AMQP headers (text values), the HTTP framing ones
/// aside.
pub fn to_amqp_headers(headers: &HeaderMap) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in headers {
        if NOT_FORWARDED.contains(&name.as_str()) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            table.insert(
                ShortString::from(name.as_str()),
                AMQPValue::LongString(LongString::from(v)),
            );
        }
    }
    table
}

/// A delivery's AMQP headers as transport headers: text, booleans and numbers, under names
/// that are valid HTTP header names (others are left out).
pub fn to_http_headers(props: &BasicProperties) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(table) = props.headers() else {
        return headers;
    };
    for (k, v) in table.inner() {
        let text = match v {
            AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            AMQPValue::ShortString(s) => s.as_str().to_string(),
            AMQPValue::Boolean(b) => b.to_string(),
            AMQPValue::ShortShortInt(n) => n.to_string(),
            AMQPValue::ShortShortUInt(n) => n.to_string(),
            AMQPValue::ShortInt(n) => n.to_string(),
            AMQPValue::ShortUInt(n) => n.to_string(),
            AMQPValue::LongInt(n) => n.to_string(),
            AMQPValue::LongUInt(n) => n.to_string(),
            AMQPValue::LongLongInt(n) => n.to_string(),
            AMQPValue::Float(n) => n.to_string(),
            AMQPValue::Double(n) => n.to_string(),
            _ => continue,
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_str().as_bytes()),
            HeaderValue::from_str(&text),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

// === impl Link ===

/// What a [`Link`] opens on its connection (a channel, or several): it tells whether it
/// can still be used.
pub trait Usable: Clone {
    /// Whether calls on it can still succeed.
    fn usable(&self) -> bool;
}

impl Usable for Channel {
    fn usable(&self) -> bool {
        self.status().connected()
    }
}

/// A connection made on first use and re-made after a failure, no sooner than its backoff
/// allows; meanwhile callers get [`LinkError::Waiting`] at once rather than a connection
/// attempt each. An outage is logged once when it starts (WARN) and once when it ends
/// (INFO, with its length), whatever the number of calls that find the broker away.
pub struct Link<T> {
    /// Who this is, for logs (`store`, `endpoint`): the field name and its value.
    owner: (&'static str, String),
    /// The queue or exchange it serves, for logs.
    target: String,
    state: tokio::sync::Mutex<LinkState<T>>,
}

struct LinkState<T> {
    open: Option<(Connection, T)>,
    generation: u64,
    retry_at: Option<Instant>,
    backoff: Backoff,
    /// Why the last connection attempt failed, repeated while waiting to retry.
    last_error: String,
    down_since: Option<Instant>,
}

/// Why a [`Link`] has nothing to give.
#[derive(Debug)]
pub enum LinkError<E> {
    /// The last attempt failed (`last_error`); the next is allowed in `retry_in`.
    Waiting {
        /// Why the last attempt failed.
        last_error: String,
        /// When the next attempt is allowed.
        retry_in: Duration,
    },
    /// This attempt failed.
    Failed(E),
}

impl<T: Usable> Link<T> {
    /// A link of `owner` (`("store", name)`) to `target`, backing off as `retry` says.
    pub fn new(owner: (&'static str, String), target: String, retry: &ConnectionRetry) -> Self {
        Self {
            owner,
            target,
            state: tokio::sync::Mutex::new(LinkState {
                open: None,
                generation: 0,
                retry_at: None,
                backoff: Backoff::new(retry),
                last_error: String::new(),
                down_since: None,
            }),
        }
    }

    /// What is open and its generation (a number that changes with every new connection),
    /// connecting with `connect` (which also opens `T`) when nothing usable is open and the
    /// backoff allows; `describe` says why an attempt failed, for the next callers.
    pub async fn get<E, F, Fut>(
        &self,
        connect: F,
        describe: impl Fn(&E) -> String,
    ) -> Result<(T, u64), LinkError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Connection, T), E>>,
    {
        let mut state = self.state.lock().await;
        if let Some((_, open)) = &state.open
            && open.usable()
        {
            return Ok((open.clone(), state.generation));
        }
        if state.open.is_some() {
            self.lose(&mut state, "the channel is closed");
        }
        if let Some(at) = state.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(LinkError::Waiting {
                    last_error: state.last_error.clone(),
                    retry_in: at - now,
                });
            }
        }
        match connect().await {
            Ok((connection, open)) => {
                state.open = Some((connection, open.clone()));
                state.generation += 1;
                state.retry_at = None;
                state.backoff.reset();
                let (kind, owner) = (self.owner.0, &self.owner.1);
                match state.down_since.take() {
                    Some(since) => {
                        tracing::info!(owner = %owner, kind, target = %self.target, outage_ms = since.elapsed().as_millis() as u64, "reconnected to RabbitMQ")
                    }
                    None => {
                        tracing::info!(owner = %owner, kind, target = %self.target, "connected to RabbitMQ")
                    }
                }
                Ok((open, state.generation))
            }
            Err(e) => {
                let delay = state.backoff.next_delay();
                state.retry_at = Some(Instant::now() + delay);
                state.last_error = describe(&e);
                Err(LinkError::Failed(e))
            }
        }
    }

    /// Forgets the connection of `generation` after a call on it failed, so the next call
    /// reconnects (a newer connection is kept).
    pub async fn drop_generation(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.generation == generation {
            self.lose(&mut state, "a call on the connection failed");
        }
    }

    /// Closes the connection, if open; unacknowledged deliveries go back to their queues.
    pub async fn close(&self, reason: &str) {
        let open = self.state.lock().await.open.take();
        if let Some((connection, _)) = open {
            let _ = connection.close(200, reason).await;
        }
    }

    /// The current generation, open or not.
    pub async fn generation(&self) -> u64 {
        self.state.lock().await.generation
    }

    fn lose(&self, state: &mut LinkState<T>, why: &str) {
        if state.open.take().is_some() && state.down_since.is_none() {
            state.down_since = Some(Instant::now());
            tracing::warn!(
                owner = %self.owner.1,
                kind = self.owner.0,
                target = %self.target,
                error = why,
                "lost the connection to RabbitMQ; reconnecting in the background of the next calls"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_connection_closed_by_the_broker_reads_as_a_handshake_failure() {
        let closed = closed_after_handshake(lapin::Error::from(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        let text = describe(&closed);
        assert!(
            text.starts_with("the TLS handshake with RabbitMQ failed: the broker closed")
                && text.contains("client certificate"),
            "{text}"
        );
        // Other errors keep their words.
        let refused = closed_after_handshake(lapin::Error::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(
            !describe(&refused).contains("TLS"),
            "{}",
            describe(&refused)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_starts_over_after_a_success() {
        let mut b = Backoff::new(&ConnectionRetry {
            initial_delay: 100,
            max_delay: 350,
        });
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(b.next_delay()), 100);
        assert_eq!(ms(b.next_delay()), 200);
        assert_eq!(ms(b.next_delay()), 350);
        assert_eq!(ms(b.next_delay()), 350);
        b.reset();
        assert_eq!(ms(b.next_delay()), 100);
    }

    #[test]
    fn the_uri_escapes_credentials_and_the_virtual_host() {
        let broker = Broker {
            host: "127.0.0.1",
            port: None,
            virtual_host: "/",
            username: None,
            password_from: None,
            tls: None,
        };
        assert_eq!(
            broker.uri().as_deref(),
            Ok("amqp://guest:guest@127.0.0.1:5672/%2F")
        );
        let with_user = Broker {
            username: Some("app"),
            ..broker
        };
        assert!(with_user.uri().is_err(), "a user needs a password");
    }
}
