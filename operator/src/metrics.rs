//! The operator's Prometheus metrics: how often it reconciles, how long that takes, what
//! fails (by category), how many groups it manages and whether this replica leads.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    errors: Family<Labels, Counter>,
    duration: Histogram,
    groups: Gauge,
    leader: Gauge<f64, AtomicU64>,
    watch_errors: Family<Labels, Counter>,
    admissions: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under `ferry_operator_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry_operator");
        let reconciles = Counter::default();
        registry.register(
            "reconciles",
            "Reconciles of a runtime group",
            reconciles.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by category (apply, delete, status, conflict)",
            errors.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register_with_unit(
            "reconcile_duration",
            "How long one reconcile of a group takes",
            Unit::Seconds,
            duration.clone(),
        );
        let groups = Gauge::default();
        registry.register("groups", "Runtime groups with objects", groups.clone());
        let leader = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        let watch_errors = Family::<Labels, Counter>::default();
        registry.register(
            "watch_errors",
            "Watch stream errors (retried with backoff), by kind",
            watch_errors.clone(),
        );
        let admissions = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_admissions",
            "Pods the sidecar webhook answered for, by result (injected, unchanged, unavailable, invalid, error)",
            admissions.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            duration,
            groups,
            leader,
            watch_errors,
            admissions,
        }
    }

    /// Counts one answer of the sidecar webhook.
    pub fn admission(&self, result: &'static str) {
        self.admissions
            .get_or_create(&vec![("result", result.to_string())])
            .inc();
    }

    /// Counts one reconcile and how long it took; `error` is the failure's category.
    pub fn reconciled(&self, took: Duration, error: Option<&'static str>) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
        if let Some(category) = error {
            self.errors
                .get_or_create(&vec![("category", category.to_string())])
                .inc();
        }
    }

    /// Sets the number of known groups.
    pub fn set_groups(&self, groups: usize) {
        self.groups.set(i64::try_from(groups).unwrap_or(i64::MAX));
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(if leader { 1.0 } else { 0.0 });
    }

    /// Counts an error of the watch of `kind`.
    pub fn watch_error(&self, kind: &str) {
        self.watch_errors
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc();
    }

    /// The metrics in OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_errors_and_durations_are_exported_under_their_documented_names() {
        let m = Metrics::new();
        m.reconciled(Duration::from_millis(20), None);
        m.reconciled(Duration::from_millis(30), Some("conflict"));
        m.set_groups(3);
        m.set_leader(true);
        m.watch_error("Sequence");
        m.admission("injected");
        let text = m.encode();
        for line in [
            "ferry_operator_reconciles_total 2",
            "ferry_operator_reconcile_errors_total{category=\"conflict\"} 1",
            "ferry_operator_reconcile_duration_seconds_count 2",
            "ferry_operator_groups 3",
            "ferry_operator_leader 1.0",
            "ferry_operator_watch_errors_total{kind=\"Sequence\"} 1",
            "ferry_operator_webhook_admissions_total{result=\"injected\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
