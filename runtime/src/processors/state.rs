//! A running processor's state, shared with the admin port: whether it is active, the
//! attempts made on the message at the head, the backlog, delivery counts, and whether it
//! runs here (this process leads its group) or stands by.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::report::{ProcessorReport, Reporter, reasons};
use crate::admin::metrics::Metrics;

/// A changed backlog is reported (to Kubernetes) at most this often: the admin port and
/// the metric have it at once, the resource's status needs no more.
const BACKLOG_REPORT_EVERY: Duration = Duration::from_secs(10);

/// The live state of one processor.
pub struct ProcessorState {
    /// The processor's name.
    pub name: Arc<str>,
    metrics: Arc<Metrics>,
    /// Its type, as written in the spec.
    pub kind: &'static str,
    /// The store it reads.
    pub store: String,
    active: AtomicBool,
    leader: AtomicBool,
    attempts: AtomicI64,
    backlog: AtomicI64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
    /// Wakes the processor when it is activated (or asked to stop).
    pub(crate) wake: Notify,
    reporter: Option<Reporter>,
    /// The backlog last reported, and when.
    reported_backlog: Mutex<(i64, Option<Instant>)>,
}

impl ProcessorState {
    /// A state, active or not.
    pub fn new(
        name: &Arc<str>,
        kind: &'static str,
        store: &str,
        active: bool,
        metrics: Arc<Metrics>,
        reporter: Option<Reporter>,
    ) -> Self {
        metrics.set_processor_active(name, active);
        Self {
            name: name.clone(),
            metrics,
            kind,
            store: store.to_string(),
            active: AtomicBool::new(active),
            leader: AtomicBool::new(false),
            attempts: AtomicI64::new(0),
            backlog: AtomicI64::new(0),
            delivered: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            wake: Notify::new(),
            reporter,
            reported_backlog: Mutex::new((-1, None)),
        }
    }

    /// Whether it takes messages.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Activates (true) or deactivates it on request (the admin port); an active processor
    /// resumes at once.
    pub fn set_active(&self, active: bool) {
        let (reason, message) = if active {
            (reasons::ACTIVATED, "activated on the admin port")
        } else {
            (reasons::DEACTIVATED, "deactivated on the admin port")
        };
        self.switch(active, reason, message.to_string(), None);
    }

    /// Deactivates it because of `reason`, over the message `head` when there is one.
    pub(crate) fn deactivate(&self, reason: &'static str, message: String, head: Option<&str>) {
        self.switch(false, reason, message, head.map(str::to_owned));
    }

    fn switch(&self, active: bool, reason: &'static str, message: String, head: Option<String>) {
        let was = self.active.swap(active, Ordering::SeqCst);
        self.metrics.set_processor_active(&self.name, active);
        self.wake.notify_one();
        if was != active {
            self.report(Some((reason, message)), head);
        }
    }

    fn report(&self, change: Option<(&'static str, String)>, head_message_id: Option<String>) {
        if let Some(report) = &self.reporter {
            let backlog = self.backlog.load(Ordering::Relaxed);
            report(ProcessorReport {
                processor: self.name.clone(),
                active: self.is_active(),
                backlog,
                change,
                head_message_id,
            });
        }
    }

    /// Whether it runs in this process (which leads its group) rather than standing by.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        let was = self.leader.swap(leader, Ordering::SeqCst);
        if leader && !was {
            // The new runner's view replaces whatever the last one reported.
            self.report(None, None);
        }
    }

    pub(crate) fn set_attempts(&self, n: u32) {
        self.attempts.store(i64::from(n), Ordering::Relaxed);
    }

    pub(crate) fn set_backlog(&self, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.backlog.store(n, Ordering::Relaxed);
        self.metrics.set_processor_backlog(&self.name, n);
        if self.reporter.is_some() {
            let due = {
                let mut last = self
                    .reported_backlog
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let due =
                    last.0 != n && last.1.is_none_or(|at| at.elapsed() >= BACKLOG_REPORT_EVERY);
                if due {
                    *last = (n, Some(Instant::now()));
                }
                due
            };
            if due {
                self.report(None, None);
            }
        }
    }

    pub(crate) fn record_delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .count_processor_message(&self.name, "delivered");
    }

    pub(crate) fn record_failed_attempt(&self) {
        self.failed_attempts.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .count_processor_message(&self.name, "failed_attempt");
    }

    /// Records the time of one delivery attempt.
    pub(crate) fn record_attempt_time(&self, elapsed: std::time::Duration) {
        self.metrics.observe_processor_delivery(&self.name, elapsed);
    }

    pub(crate) fn record_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.metrics.count_processor_message(&self.name, "dropped");
    }

    pub(crate) fn record_parked(&self) {
        self.metrics.count_processor_message(&self.name, "parked");
    }

    /// The state as the admin API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": &*self.name,
            "type": self.kind,
            "messageStore": self.store,
            "state": if self.is_active() { "Active" } else { "Inactive" },
            // false: another replica of the group runs it; this one stands by.
            "leader": self.is_leader(),
            "attempts": self.attempts.load(Ordering::Relaxed),
            "backlog": self.backlog.load(Ordering::Relaxed),
            "delivered": self.delivered.load(Ordering::Relaxed),
            "failedAttempts": self.failed_attempts.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
        })
    }

    /// (active, backlog, delivered, failed attempts, dropped) for metrics.
    pub fn snapshot(&self) -> (bool, i64, u64, u64, u64) {
        (
            self.is_active(),
            self.backlog.load(Ordering::Relaxed),
            self.delivered.load(Ordering::Relaxed),
            self.failed_attempts.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}
