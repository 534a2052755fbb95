//! Token buckets in Redis, so every replica of a group draws from the same bucket.
//!
//! One Lua script takes a token atomically, on Redis's clock (`TIME`), so replicas with
//! skewed clocks agree; a bucket key expires once it would be full again, so Redis holds
//! only active callers. One multiplexed connection per Redis URL is shared by every
//! throttle. When Redis does not answer within the timeout the caller decides alone
//! ([`RedisBuckets::take`] returns `None`); after a failure Redis is left alone for
//! [`RETRY_AFTER`] so that an outage does not add a timeout to every message.
//!
//! A `rediss://` server is reached over TLS with the runtime's one rustls client
//! configuration ([`TlsProfile`]: the system roots plus `tls.caFrom`, a client certificate,
//! SNI, the minimum version), the connection made here and handed to the redis crate: its
//! own TLS would be a second configuration with other trust rules. A failed handshake is an
//! outage like any other (this replica counts alone), logged with its reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ferry_api::check::mediator::{RedisUrl, ThrottleRedis};
use ferry_api::check::tls::ClientTls;
use redis::aio::MultiplexedConnection;
use rustls::pki_types::ServerName;
use tokio::time::Instant;

use super::Decision;
use crate::tls::client::TlsProfile;

/// How long Redis is left alone after it failed.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Takes a token: KEYS[1] the bucket, ARGV[1] capacity, ARGV[2] unit in ms. Returns
/// `{admitted (1/0), ms until the next token}`.
const TAKE: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local capacity = tonumber(ARGV[1])
local unit = tonumber(ARGV[2])
local per_token = unit / capacity
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed / per_token)
local admitted = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  admitted = 1
else
  wait = math.ceil((1 - tokens) * per_token)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((capacity - tokens) * per_token)))
return {admitted, wait}
";

/// The Redis side of throttles using one server and key prefix.
pub struct RedisBuckets {
    client: redis::Client,
    /// For `rediss://`: how the TLS connection is made.
    tls: Option<RedisTls>,
    tls_settings: Option<ClientTls>,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    down_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
}

struct RedisTls {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    host: String,
    port: u16,
}

type Registry = Mutex<HashMap<(String, String), Arc<RedisBuckets>>>;
static REGISTRY: OnceLock<Registry> = OnceLock::new();

impl RedisBuckets {
    /// The shared client for these settings (one connection per URL and prefix, kept across
    /// reloads).
    pub fn shared(settings: &ThrottleRedis) -> Result<Arc<RedisBuckets>, String> {
        let url = match &settings.url {
            RedisUrl::Literal(url) => url.clone(),
            RedisUrl::Env(var) => std::env::var(var).map_err(|_| {
                format!("the environment variable {var} (the Redis URL) is not set")
            })?,
        };
        let registry = REGISTRY.get_or_init(Default::default);
        let mut map = registry.lock().unwrap_or_else(|e| e.into_inner());
        let id = (url.clone(), settings.key_prefix.clone());
        if let Some(found) = map.get(&id)
            && found.timeout == settings.timeout
            && found.tls_settings == settings.tls
        {
            return Ok(found.clone());
        }
        // The redis crate is built without TLS of its own: a `rediss://` URL is read as the
        // `redis://` one it carries (host, port, database, credentials) and the TLS
        // connection made in [`Self::connect`].
        let (plain_url, tls) = match url.strip_prefix("rediss://") {
            Some(rest) => (format!("redis://{rest}"), true),
            None if settings.tls.is_some() => {
                return Err("tls is set, but the Redis URL is not a rediss:// one".into());
            }
            None => (url.clone(), false),
        };
        // The URL may hold a password: the error says what is wrong, never the URL.
        let client = redis::Client::open(plain_url.as_str())
            .map_err(|e| format!("the Redis URL is not valid: {}", e.category()))?;
        let tls = if tls {
            Some(RedisTls::new(&client, settings.tls.as_ref())?)
        } else {
            None
        };
        let buckets = Arc::new(RedisBuckets {
            client,
            tls,
            tls_settings: settings.tls.clone(),
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout,
            script: redis::Script::new(TAKE),
            conn: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
        });
        map.insert(id, buckets.clone());
        Ok(buckets)
    }

    /// Takes a token from the shared bucket of `key` in throttle `id`; `None` when Redis
    /// cannot decide now (the caller decides alone).
    pub async fn take(
        &self,
        id: &str,
        key: &str,
        capacity: u32,
        unit: Duration,
    ) -> Option<Decision> {
        if self
            .down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| Instant::now() < until)
        {
            return None;
        }
        let bucket = format!("{}{id}:{key}", self.prefix);
        let unit_ms = unit.as_millis().max(1) as u64;
        match tokio::time::timeout(self.timeout, self.run(&bucket, capacity.max(1), unit_ms)).await
        {
            Ok(Ok((admitted, wait_ms))) => {
                if self.warned.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis is reachable again: throttles count cluster-wide");
                }
                Some(if admitted == 1 {
                    Decision::Accept
                } else {
                    Decision::Reject {
                        retry_after: Some(Duration::from_millis(wait_ms)),
                    }
                })
            }
            Ok(Err(e)) => {
                self.failed(&e).await;
                None
            }
            Err(_) => {
                self.failed(&format!("no answer within {:?}", self.timeout))
                    .await;
                None
            }
        }
    }

    async fn run(&self, bucket: &str, capacity: u32, unit_ms: u64) -> Result<(i64, u64), String> {
        let mut conn = {
            let mut slot = self.conn.lock().await;
            match &*slot {
                Some(conn) => conn.clone(),
                None => {
                    let conn = self.connect().await?;
                    *slot = Some(conn.clone());
                    conn
                }
            }
        };
        self.script
            .key(bucket)
            .arg(capacity)
            .arg(unit_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let Some(tls) = &self.tls else {
            return self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| e.to_string());
        };
        let tcp = tokio::net::TcpStream::connect((tls.host.as_str(), tls.port))
            .await
            .map_err(|e| e.to_string())?;
        let stream = tls
            .connector
            .connect(tls.name.clone(), tcp)
            .await
            .map_err(|e| match crate::tls::client::handshake_failure(&e) {
                Some(why) => format!("the TLS handshake with Redis failed: {why}"),
                None => e.to_string(),
            })?;
        let (conn, driver) = MultiplexedConnection::new_with_config(
            self.client.get_connection_info().redis_settings(),
            stream,
            config,
        )
        .await
        .map_err(|e| e.to_string())?;
        // The connection's I/O runs here; it ends when the last handle is dropped.
        tokio::spawn(driver);
        Ok(conn)
    }

    async fn failed(&self, error: &str) {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + RETRY_AFTER);
        // A broken connection is dropped so the next try reconnects.
        *self.conn.lock().await = None;
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %error,
                "Redis is unreachable: throttles count per replica until it is back"
            );
        }
    }
}

// === impl RedisTls ===

impl RedisTls {
    /// The TLS side of `client`'s server, from the throttle's `tls` block (or the system
    /// roots alone); the PEM behind `caFrom`/`certFrom`/`keyFrom` is read now.
    fn new(client: &redis::Client, settings: Option<&ClientTls>) -> Result<Self, String> {
        let profile = match settings {
            Some(t) => Arc::new(TlsProfile::build(t).map_err(|e| format!("tls: {e}"))?),
            None => TlsProfile::default_profile().map_err(|e| format!("tls: {e}"))?,
        };
        let (host, port) = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            _ => return Err("a rediss:// URL names a host and port".into()),
        };
        let name = crate::tls::client::server_name(&profile, &host)?;
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(profile.config_without_alpn()),
            name,
            host,
            port,
        })
    }
}
