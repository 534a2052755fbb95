//! Per-replica token buckets, one per caller key, shared by every throttle with the same id
//! and kept across reloads (a reload does not hand every caller a fresh burst).
//!
//! Memory is bounded: a bucket idle long enough to be full again is the same as no bucket
//! and is dropped (swept at most once a second), and at `max_keys` callers the least
//! recently seen one is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// A throttle's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Admitted.
    Accept,
    /// Rejected; `retry_after` is when the next token arrives, when known.
    Reject {
        /// How long until the caller would be admitted.
        retry_after: Option<Duration>,
    },
}

struct Bucket {
    tokens: f64,
    last: Instant,
    /// When the bucket is full again if nothing more is taken: past that, it may go.
    full_at: Instant,
}

struct Inner {
    buckets: HashMap<String, Bucket>,
    swept: Instant,
}

/// The buckets of one throttle id.
pub struct Buckets {
    max_keys: usize,
    inner: Mutex<Inner>,
}

static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<Buckets>>>> = OnceLock::new();

impl Buckets {
    /// New, empty buckets (tests; mediators use [`Buckets::shared`]).
    pub fn new(max_keys: usize) -> Self {
        Buckets {
            max_keys: max_keys.max(1),
            inner: Mutex::new(Inner {
                buckets: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// The process-wide buckets of throttle `id` (a changed `max_keys` applies from the
    /// next reload on: the old buckets are replaced).
    pub fn shared(id: &str, max_keys: usize) -> Arc<Buckets> {
        let registry = REGISTRY.get_or_init(Default::default);
        let mut map = registry.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(b) if b.max_keys == max_keys.max(1) => b.clone(),
            _ => {
                let b = Arc::new(Buckets::new(max_keys));
                map.insert(id.to_string(), b.clone());
                b
            }
        }
    }

    /// Takes a token from `key`'s bucket of `capacity` tokens refilled over `unit`.
    pub fn take(&self, key: &str, capacity: u32, unit: Duration) -> Decision {
        self.take_at(key, capacity, unit, Instant::now())
    }

    fn take_at(&self, key: &str, capacity: u32, unit: Duration, now: Instant) -> Decision {
        let capacity = f64::from(capacity.max(1));
        let per_token = unit.as_secs_f64() / capacity;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(inner.swept) >= Duration::from_secs(1) {
            inner.buckets.retain(|_, b| b.full_at > now);
            inner.swept = now;
        }
        if !inner.buckets.contains_key(key) && inner.buckets.len() >= self.max_keys {
            inner.buckets.retain(|_, b| b.full_at > now);
            if inner.buckets.len() >= self.max_keys {
                let oldest = inner
                    .buckets
                    .iter()
                    .min_by_key(|(_, b)| b.last)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    inner.buckets.remove(&oldest);
                }
            }
        }
        let bucket = inner.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            last: now,
            full_at: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        let refill = if per_token > 0.0 {
            elapsed / per_token
        } else {
            capacity
        };
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.last = now;
        let decision = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Accept
        } else {
            Decision::Reject {
                retry_after: Some(Duration::from_secs_f64((1.0 - bucket.tokens) * per_token)),
            }
        };
        bucket.full_at = now + Duration::from_secs_f64((capacity - bucket.tokens) * per_token);
        decision
    }

    /// Callers tracked now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }

    /// Whether no caller is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_bucket_admits_its_capacity_then_rejects_until_a_token_is_back() {
        let b = Buckets::new(10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take_at("a", 3, MINUTE, t0), Decision::Accept);
        }
        let Decision::Reject { retry_after } = b.take_at("a", 3, MINUTE, t0) else {
            panic!("the fourth is admitted");
        };
        assert_eq!(retry_after, Some(Duration::from_secs(20)));
        // Another caller has a bucket of its own.
        assert_eq!(b.take_at("b", 3, MINUTE, t0), Decision::Accept);
        // One token is back after a third of the unit.
        let later = t0 + Duration::from_secs(20);
        assert_eq!(b.take_at("a", 3, MINUTE, later), Decision::Accept);
        assert!(matches!(
            b.take_at("a", 3, MINUTE, later),
            Decision::Reject { .. }
        ));
    }

    #[test]
    fn idle_callers_are_forgotten_and_the_key_count_is_capped() {
        let b = Buckets::new(2);
        let t0 = Instant::now();
        b.take_at("a", 1, MINUTE, t0);
        b.take_at("b", 1, MINUTE, t0 + Duration::from_millis(1));
        b.take_at("c", 1, MINUTE, t0 + Duration::from_millis(2));
        assert_eq!(b.len(), 2, "the cap holds");
        // "a", the least recently seen, went: it starts with a full bucket again.
        assert_eq!(
            b.take_at("a", 1, MINUTE, t0 + Duration::from_millis(3)),
            Decision::Accept
        );
        // Past a full refill every bucket is idle and swept.
        b.take_at("d", 1, MINUTE, t0 + Duration::from_secs(120));
        assert_eq!(b.len(), 1);
    }
}
