//! The memory of one response cache: stored responses by request hash, each valid until
//! its expiry, bounded by an entry count and a byte total. The oldest entry goes first
//! when room is needed; every entry of a cache lives as long (`timeout`), so the oldest is
//! also the first to expire. Expired entries are dropped when looked up or pushed out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;

use crate::admin::metrics::CacheMetrics;

/// A request hash (SHA-256).
pub type Key = [u8; 32];

/// A stored response.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The status code.
    pub status: u16,
    /// The response headers (content type included).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// When it was stored.
    pub stored: Instant,
    /// When it stops being valid.
    pub expires: Instant,
    /// `Cache-Control: no-cache` (only read when the cache honours Cache-Control).
    pub no_cache: bool,
    /// `Cache-Control: max-age` (idem).
    pub max_age: Option<Duration>,
}

impl Entry {
    /// Bytes it holds, roughly: body, headers and a fixed overhead.
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        self.body.len() + headers + 128
    }
}

/// One cache's entries.
pub struct Store {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
    metrics: CacheMetrics,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, (u64, usize, Entry)>,
    /// Keys in the order stored, with the generation stored; a generation that no longer
    /// matches the map's is a replaced entry, skipped.
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    generation: u64,
}

impl Store {
    /// An empty cache holding at most `max_entries` responses and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: u64, metrics: CacheMetrics) -> Self {
        Store {
            inner: Mutex::default(),
            max_entries: max_entries.max(1),
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent between statements: a panic elsewhere cannot leave it
        // half-updated, so a poisoned lock is still a usable cache.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `key` if it is still valid at `now` (an expired one is dropped).
    pub fn get(&self, key: &Key, now: Instant) -> Option<Entry> {
        let mut inner = self.lock();
        let (_, _, entry) = inner.map.get(key)?;
        if entry.expires > now {
            return Some(entry.clone());
        }
        if let Some((_, size, _)) = inner.map.remove(key) {
            inner.bytes -= size;
            self.metrics.entries.dec();
        }
        None
    }

    /// Stores `entry` under `key` (replacing what was there), then drops the oldest
    /// entries until the bounds hold. An entry larger than the whole byte bound is not
    /// stored.
    pub fn insert(&self, key: Key, entry: Entry) {
        let size = entry.size();
        if size > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        let generation = inner.generation;
        match inner.map.insert(key, (generation, size, entry)) {
            Some((_, old, _)) => inner.bytes -= old,
            None => {
                self.metrics.entries.inc();
            }
        }
        inner.bytes += size;
        inner.order.push_back((key, generation));
        while inner.map.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some((oldest, generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .map
                .get(&oldest)
                .is_some_and(|(g, _, _)| *g == generation)
                && let Some((_, size, _)) = inner.map.remove(&oldest)
            {
                inner.bytes -= size;
                self.metrics.entries.dec();
            }
        }
        // Replaced entries leave stale keys in `order`; keep it within a constant factor
        // of the map so a hot key stored again and again does not grow it.
        if inner.order.len() > 2 * inner.map.len() + 16 {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, g)| map.get(k).is_some_and(|(mg, _, _)| mg == g));
        }
    }

    /// How many entries it holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.lock().map.is_empty()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A reload drops the old configuration's caches: their entries leave the gauge.
        let held = self.lock().map.len();
        self.metrics
            .entries
            .dec_by(i64::try_from(held).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::metrics::Metrics;

    fn entry(body: &'static str, now: Instant, ttl_ms: u64) -> Entry {
        Entry {
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
            stored: now,
            expires: now + Duration::from_millis(ttl_ms),
            no_cache: false,
            max_age: None,
        }
    }

    #[test]
    fn an_entry_is_found_until_it_expires_then_dropped() {
        let metrics = Metrics::new();
        let store = Store::new(10, 1 << 20, metrics.cache());
        let now = Instant::now();
        store.insert([1; 32], entry("a", now, 100));
        assert!(
            store
                .get(&[1; 32], now + Duration::from_millis(99))
                .is_some()
        );
        assert!(
            store
                .get(&[1; 32], now + Duration::from_millis(100))
                .is_none()
        );
        assert_eq!(store.len(), 0);
        assert_eq!(metrics.cache().entries.get(), 0);
    }

    #[test]
    fn the_oldest_entry_goes_first_when_the_count_is_full() {
        let metrics = Metrics::new();
        let store = Store::new(2, 1 << 20, metrics.cache());
        let now = Instant::now();
        for k in 1..=3u8 {
            store.insert([k; 32], entry("x", now, 1000));
        }
        assert!(store.get(&[1; 32], now).is_none());
        assert!(store.get(&[2; 32], now).is_some() && store.get(&[3; 32], now).is_some());
        assert_eq!(metrics.cache().entries.get(), 2);
        drop(store);
        assert_eq!(metrics.cache().entries.get(), 0);
    }

    #[test]
    fn the_byte_bound_holds_and_a_replaced_key_counts_once() {
        let store = Store::new(100, 400, Metrics::new().cache());
        let now = Instant::now();
        for _ in 0..50 {
            store.insert([9; 32], entry("0123456789", now, 1000));
        }
        assert_eq!(store.len(), 1);
        assert!(store.lock().order.len() <= 18);
        store.insert([8; 32], entry("0123456789", now, 1000));
        store.insert([7; 32], entry("0123456789", now, 1000));
        store.insert([6; 32], entry("0123456789", now, 1000));
        let inner = store.lock();
        assert!(inner.bytes <= 400, "{}", inner.bytes);
        assert!(!inner.map.contains_key(&[9; 32]));
    }

    #[test]
    fn an_entry_larger_than_the_byte_bound_is_not_stored() {
        let store = Store::new(100, 100, Metrics::new().cache());
        store.insert([1; 32], entry("x", Instant::now(), 1000));
        assert_eq!(store.len(), 0);
    }
}
