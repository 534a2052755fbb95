//! Coverage for `ferry test --coverage`: which API resources, named sequences, mediator
//! branches (switch cases, filter branches) and fault sequences ran.
//!
//! Compiling registers a [`Point`] for each of them (the inventory) when coverage is on, and
//! the flow calls [`Point::hit`] where it takes one. Off (always, in `ferry run`), no point
//! is registered: a `Point` is `None` and `hit` a test of it, nothing more. Points are keyed
//! by what they cover (`IntegrationAPI/healthcare`, `switch #1 case "x"`), not by compile,
//! so the many compiles of one configuration `ferry test` makes (one per case) count into
//! the same counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// What a point covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An API (or proxy) resource.
    Resource,
    /// A named Sequence.
    Sequence,
    /// A branch of a `switch` or `filter`.
    Branch,
    /// A fault sequence (an API's or a resource's).
    Fault,
}

impl Kind {
    /// The plural heading of the report.
    pub fn heading(self) -> &'static str {
        match self {
            Kind::Resource => "resources",
            Kind::Sequence => "sequences",
            Kind::Branch => "branches",
            Kind::Fault => "fault sequences",
        }
    }
}

type Key = (Kind, String, String);

/// The registered points; set once, by [`enable`].
static REGISTRY: OnceLock<Mutex<BTreeMap<Key, Arc<AtomicU64>>>> = OnceLock::new();

/// Turns coverage on for this process: compiles from now on register their points.
pub fn enable() {
    let _ = REGISTRY.set(Mutex::new(BTreeMap::new()));
}

/// Whether coverage is on.
pub fn enabled() -> bool {
    REGISTRY.get().is_some()
}

/// A place the flow may pass; counts the passes when coverage is on.
#[derive(Debug, Clone, Default)]
pub struct Point(Option<Arc<AtomicU64>>);

impl Point {
    /// A point that counts nothing (coverage off, or nothing to cover).
    pub const fn off() -> Self {
        Point(None)
    }

    /// Counts one pass.
    #[inline]
    pub fn hit(&self) {
        if let Some(count) = &self.0 {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The point for `what` of `owner` (`IntegrationAPI/x`, `Sequence/y`); `what` is only
/// formatted when coverage is on.
pub fn point(kind: Kind, owner: &str, what: impl FnOnce() -> String) -> Point {
    let Some(registry) = REGISTRY.get() else {
        return Point::off();
    };
    let Ok(mut points) = registry.lock() else {
        return Point::off();
    };
    let counter = points
        .entry((kind, owner.to_string(), what()))
        .or_default()
        .clone();
    Point(Some(counter))
}

/// One registered point and how often it was passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it covers.
    pub kind: Kind,
    /// The resource it belongs to.
    pub owner: String,
    /// Which part of it (empty for the resource itself).
    pub what: String,
    /// How often the flow passed it.
    pub hits: u64,
}

/// Every registered point, ordered by kind, owner and part.
pub fn snapshot() -> Vec<Entry> {
    let Some(Ok(points)) = REGISTRY.get().map(Mutex::lock) else {
        return Vec::new();
    };
    points
        .iter()
        .map(|((kind, owner, what), hits)| Entry {
            kind: *kind,
            owner: owner.clone(),
            what: what.clone(),
            hits: hits.load(Ordering::Relaxed),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_made_while_coverage_is_off_counts_nothing_and_costs_no_registration() {
        // The registry of this process may already be on (another test enabled it): an
        // off point is off either way.
        let p = Point::off();
        p.hit();
        assert!(p.0.is_none());
    }

    #[test]
    fn points_of_the_same_key_share_one_counter() {
        enable();
        let a = point(Kind::Branch, "Sequence/t", || "filter #1 then".into());
        let b = point(Kind::Branch, "Sequence/t", || "filter #1 then".into());
        a.hit();
        b.hit();
        let entry = snapshot()
            .into_iter()
            .find(|e| e.owner == "Sequence/t")
            .expect("registered");
        assert_eq!(entry.hits, 2);
    }
}
