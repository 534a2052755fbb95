//! What the management API and the metrics show of an inbound endpoint: whether it runs
//! here, whether it is connected, and its message counts (received, succeeded, failed, in
//! flight). The state outlives the endpoint's runs: it is kept across leadership changes
//! and across reloads that leave the endpoint unchanged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

use super::CompiledInbound;
use crate::admin::metrics::InboundMetrics;

/// The state of one installed inbound endpoint.
pub struct InboundState {
    name: Arc<str>,
    protocol: &'static str,
    sequence: String,
    once_per_group: bool,
    suspended: bool,
    running: AtomicBool,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
    metrics: InboundMetrics,
}

impl InboundState {
    /// The state of `inbound`, counting into `metrics`.
    pub fn new(inbound: &CompiledInbound, metrics: InboundMetrics) -> Self {
        Self {
            name: inbound.name.clone(),
            protocol: inbound.protocol.as_str(),
            sequence: inbound.sequence_name.clone(),
            once_per_group: inbound.once_per_group(),
            suspended: inbound.suspend,
            running: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            last_error: Mutex::new(None),
            metrics,
        }
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Started (true) or stopped (false) in this process.
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
        if !running {
            self.connected.store(false, Ordering::Relaxed);
        }
    }

    /// Connected to its source (or, for a poller, polling).
    pub fn set_connected(&self) {
        self.connected.store(true, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Lost its source: why.
    pub fn set_error(&self, error: String) {
        self.connected.store(false, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// A message was taken: counted received and in flight until [`Taken`] is settled.
    pub fn received(self: &Arc<Self>) -> Taken {
        self.metrics.received.inc();
        self.metrics.in_flight.inc();
        Taken {
            state: self.clone(),
        }
    }

    /// The state as the management API shows it.
    pub fn to_json(&self) -> Value {
        let status = if self.suspended {
            "suspended"
        } else if self.running.load(Ordering::Relaxed) {
            "running"
        } else {
            "standby"
        };
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        json!({
            "name": &*self.name,
            "protocol": self.protocol,
            "sequence": self.sequence,
            "runsOn": if self.once_per_group { "leader" } else { "everyReplica" },
            "status": status,
            "connected": self.connected.load(Ordering::Relaxed),
            "received": self.metrics.received.get(),
            "succeeded": self.metrics.succeeded.get(),
            "failed": self.metrics.failed.get(),
            "inFlight": self.metrics.in_flight.get(),
            "lastError": last_error,
        })
    }
}

/// A message in flight: settle it as succeeded or failed; dropped unsettled (its task
/// ended), it only leaves the in-flight count, and its source delivers it again.
pub struct Taken {
    state: Arc<InboundState>,
}

impl Taken {
    /// The message was processed and settled with its source.
    pub fn succeeded(self) {
        self.state.metrics.succeeded.inc();
    }

    /// The message failed.
    pub fn failed(self) {
        self.state.metrics.failed.inc();
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.state.metrics.in_flight.dec();
    }
}
