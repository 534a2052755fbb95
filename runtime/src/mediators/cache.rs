//! `cache`: Micro Integrator 4.x's response cache.
//!
//! A *finder* (`collector: false`) in the request flow hashes the request as MI's
//! `HttpRequestHashGenerator` does — the method, the request URI, the selected transport
//! headers (never `Date`, `User-Agent`, the correlation id or the trace context) and, unless the method is GET, DELETE or HEAD,
//! the payload — and looks it up. On a hit the cached response (status, headers, body)
//! becomes the message and is answered, or handed to `onCacheHit`, after which the flow
//! ends. On a miss the message remembers the lookup, and the *collector* (`collector:
//! true`) placed after the backend call stores the response under it when its status
//! matches `responseCodes`, its body fits `maxMessageSize`, and (with
//! `enableCacheControl`) it is not `no-store`.
//!
//! Each finder has its own [`store::Store`], in memory, per replica, bounded in entries
//! and bytes; a reload starts the new configuration with empty caches.

pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_api::check::mediator::{self as checked, HashedHeaders};
use http::header::{
    AGE, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};

use super::{BuildCx, Mediator};
use crate::admin::metrics::CacheMetrics;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow, SeqId};
use store::{Entry, Key, Store};

/// A `cache` mediator.
pub enum Cache {
    /// Looks requests up.
    Finder(Arc<Finder>),
    /// Stores responses for the lookups that missed.
    Collector,
}

/// A finder and the cache it owns.
pub struct Finder {
    settings: checked::Finder,
    on_hit: OnHit,
    store: Store,
    metrics: CacheMetrics,
}

enum OnHit {
    Respond,
    Mediators(Vec<Mediator>),
    Sequence(SeqId),
}

/// A lookup that missed: where a collector stores the response.
#[derive(Clone)]
pub struct Lookup {
    finder: Arc<Finder>,
    key: Key,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cache lookup")
    }
}

impl Cache {
    /// Builds the mediator; a finder gets its own empty cache.
    pub fn build(c: &checked::Cache, cx: &mut BuildCx<'_>) -> Option<Self> {
        let finder = match c {
            checked::Cache::Collector => return Some(Cache::Collector),
            checked::Cache::Finder(f) => f,
        };
        let on_hit = match &finder.on_hit {
            checked::OnHit::Respond => OnHit::Respond,
            checked::OnHit::Mediators(list) => OnHit::Mediators(super::build_list(list, cx)),
            checked::OnHit::Sequence(name) => OnHit::Sequence(cx.sequence_id(name)?),
        };
        let metrics = cx.env.metrics.cache();
        Some(Cache::Finder(Arc::new(Finder {
            store: Store::new(finder.max_size, finder.max_total_size, metrics.clone()),
            settings: (**finder).clone(),
            on_hit,
            metrics,
        })))
    }

    /// Looks up (finder) or stores (collector).
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        match self {
            Cache::Finder(f) => f.find(msg, env).await,
            Cache::Collector => {
                collect(msg)?;
                Ok(Flow::Continue)
            }
        }
    }
}

impl Finder {
    async fn find(self: &Arc<Self>, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let s = &self.settings;
        // Responses to other methods are never stored: no need to look them up.
        if let Some(methods) = &s.methods
            && !methods.iter().any(|m| m == msg.method.as_str())
        {
            return Ok(Flow::Continue);
        }
        let key = request_key(msg, &s.headers)?;
        let now = Instant::now();
        let hit = self.store.get(&key, now).filter(|e| {
            // With Cache-Control honoured, `no-cache` and an exceeded `max-age` send the
            // request on to the backend (the collector then stores the new response).
            !s.enable_cache_control
                || !(e.no_cache
                    || e.max_age
                        .is_some_and(|age| now.saturating_duration_since(e.stored) >= age))
        });
        let Some(entry) = hit else {
            self.metrics.misses.inc();
            msg.cache_lookup = Some(Lookup {
                finder: Arc::clone(self),
                key,
            });
            return Ok(Flow::Continue);
        };
        self.metrics.hits.inc();
        let status = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
        msg.set_response(status, entry.headers, entry.body);
        if s.include_age_header {
            let age = now.saturating_duration_since(entry.stored).as_secs();
            msg.headers.insert(AGE, HeaderValue::from(age));
        }
        msg.cache_lookup = None;
        // After onCacheHit the flow ends, as in Micro Integrator: it answers only if
        // onCacheHit responds.
        let after = |flow| match flow {
            Flow::Continue => Flow::Drop,
            done => done,
        };
        Ok(match &self.on_hit {
            OnHit::Respond => Flow::Respond,
            OnHit::Mediators(list) => after(sequence::run(list, msg, env).await?),
            OnHit::Sequence(id) => after(sequence::run_named(*id, msg, env).await?),
        })
    }
}

/// Stores the response for the lookup its finder made, when the finder's rules allow.
fn collect(msg: &mut Message) -> Result<(), Fault> {
    let Some(lookup) = msg.cache_lookup.take() else {
        tracing::debug!("cache collector: no lookup to store the response for");
        return Ok(());
    };
    let s = &lookup.finder.settings;
    let control = if s.enable_cache_control {
        CacheControl::of(&msg.headers)
    } else {
        CacheControl::default()
    };
    if control.no_store {
        return Ok(());
    }
    let status = msg.status().as_u16();
    if !s.response_codes.is_match(&status.to_string()) {
        return Ok(());
    }
    let (body, content_type) = msg.body_bytes().map_err(Fault::unreadable_payload)?;
    if s.max_message_size
        .is_some_and(|max| u64::try_from(body.len()).unwrap_or(u64::MAX) > max)
    {
        return Ok(());
    }
    let mut headers = msg.headers.clone();
    for hop in [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION] {
        headers.remove(hop);
    }
    match HeaderValue::from_str(&content_type) {
        Ok(ct) if !content_type.is_empty() => {
            headers.insert(CONTENT_TYPE, ct);
        }
        _ => {
            headers.remove(CONTENT_TYPE);
        }
    }
    let now = Instant::now();
    lookup.finder.store.insert(
        lookup.key,
        Entry {
            status,
            headers,
            body,
            stored: now,
            expires: now + s.timeout,
            no_cache: control.no_cache,
            max_age: control.max_age,
        },
    );
    Ok(())
}

/// Headers unique to each request, which would make every request a miss: the correlation
/// id (made for every request without one) and the W3C trace context.
fn per_request(name: &str) -> bool {
    name == "traceparent"
        || name == "tracestate"
        || crate::telemetry::correlation::header().is_some_and(|h| h.as_str() == name)
}

/// The request hash: method, request URI, the selected headers (sorted, so their order
/// does not matter), and the payload for methods that carry one. Lengths prefix each
/// piece, so two different requests never feed the hash the same bytes.
fn request_key(msg: &Message, selected: &HashedHeaders) -> Result<Key, Fault> {
    let mut h = Sha256::new();
    let mut piece = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    piece(msg.method.as_str().as_bytes());
    piece(msg.uri.to_string().as_bytes());
    let mut headers: Vec<(&str, &[u8])> = msg
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .filter(|(n, _)| *n != "date" && *n != "user-agent" && !per_request(n))
        .filter(|(n, _)| match selected {
            HashedHeaders::AllBut(excluded) => !excluded.iter().any(|e| e == n),
            HashedHeaders::Only(included) => included.iter().any(|i| i == n),
            HashedHeaders::None => false,
        })
        .collect();
    headers.sort_unstable();
    piece(&(headers.len() as u64).to_be_bytes());
    for (name, value) in headers {
        piece(name.as_bytes());
        piece(value);
    }
    if !matches!(msg.method, Method::GET | Method::DELETE | Method::HEAD) {
        let body = msg
            .payload()
            .native_bytes()
            .map_err(Fault::unreadable_payload)?;
        piece(&body);
    }
    Ok(h.finalize().into())
}

/// The `Cache-Control` directives the cache honours.
#[derive(Debug, Default, PartialEq)]
struct CacheControl {
    no_store: bool,
    no_cache: bool,
    max_age: Option<Duration>,
}

impl CacheControl {
    fn of(headers: &HeaderMap) -> Self {
        let mut out = CacheControl::default();
        let directives = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for d in directives {
            let d = d.trim().to_ascii_lowercase();
            match d.split_once('=') {
                Some(("max-age", secs)) => {
                    out.max_age = secs
                        .trim()
                        .trim_matches('"')
                        .parse()
                        .ok()
                        .map(Duration::from_secs);
                }
                _ if d == "no-store" => out.no_store = true,
                _ if d == "no-cache" => out.no_cache = true,
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
