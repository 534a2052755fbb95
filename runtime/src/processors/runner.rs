//! The processors as units of the [supervisor](crate::supervisor): a processor runs while
//! this process leads its group, its [`ProcessorState`] (activation, attempts, counters, read
//! by the admin port) lasts as long as its definition, and a reload that leaves it unchanged
//! leaves it running. Also the waiting helpers every processor loop shares (sleep unless
//! stopped, poll the store with its own retry budget).
//!
//! Losing the lead stops the processors exactly as shutdown does: each finishes its
//! in-flight delivery or releases the message unacknowledged, so it stays in its store for
//! the new leader. Their states stay (with `leader: false`), and they start again, with the
//! same activation, when the lead comes back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::report::{Reporter, reasons};
use super::state::ProcessorState;
use super::{CompiledProcessor, Target, forwarding, sampling};
use crate::admin::metrics::Metrics;
use crate::compiled::Compiled;
use crate::leadership::Leadership;
use crate::stores::Lease;
use crate::supervisor::{Changes, Kind, Stop, Supervisor};

/// Runs the processors of the installed configuration while this process leads.
pub struct Processors {
    supervisor: Arc<Supervisor<ProcessorKind>>,
}

impl Processors {
    /// No processors installed yet; they run while `leadership` says so, and their state
    /// goes to `metrics` too. Follows the leadership from a task of its own, so it must be
    /// called within a Tokio runtime.
    pub fn new(metrics: Arc<Metrics>, leadership: Leadership) -> Arc<Self> {
        Self::reporting(metrics, leadership, None)
    }

    /// As [`Processors::new`], with each processor's state changes also going to
    /// `reporter` (Kubernetes status and Events).
    pub fn reporting(
        metrics: Arc<Metrics>,
        leadership: Leadership,
        reporter: Option<Reporter>,
    ) -> Arc<Self> {
        Arc::new(Self {
            supervisor: Supervisor::new(ProcessorKind { metrics, reporter }, leadership),
        })
    }

    /// Installs the processors of `compiled`: those whose definition is unchanged keep
    /// running, changed and removed ones stop (each finishing its in-flight delivery), and
    /// changed and new ones start if this process leads.
    pub async fn install(&self, compiled: Arc<Compiled>) -> Changes {
        let units = compiled
            .processors
            .iter()
            .map(|p| {
                Arc::new(ProcessorUnit {
                    processor: p.clone(),
                    compiled: compiled.clone(),
                })
            })
            .collect();
        self.supervisor.install(units).await
    }

    /// Stops every processor, waiting for in-flight deliveries; a regained lead does not
    /// start them again.
    pub async fn stop(&self) {
        self.supervisor.stop().await;
    }

    /// The live state of each installed processor (running, or on standby).
    pub fn states(&self) -> Vec<Arc<ProcessorState>> {
        self.supervisor.states()
    }

    /// The live state of processor `name`.
    pub fn state(&self, name: &str) -> Option<Arc<ProcessorState>> {
        self.supervisor.state(name)
    }
}

/// A processor and the configuration it was compiled in (its sequence ids index that
/// configuration's sequences).
pub struct ProcessorUnit {
    processor: Arc<CompiledProcessor>,
    compiled: Arc<Compiled>,
}

/// Message processors, as units of the supervisor.
pub struct ProcessorKind {
    metrics: Arc<Metrics>,
    reporter: Option<Reporter>,
}

impl Kind for ProcessorKind {
    type Unit = ProcessorUnit;
    type State = ProcessorState;

    const WHAT: &'static str = "message processors";

    fn name(unit: &ProcessorUnit) -> &str {
        &unit.processor.name
    }

    fn unchanged(old: &ProcessorUnit, new: &ProcessorUnit) -> bool {
        old.processor.fingerprint == new.processor.fingerprint
    }

    fn new_state(&self, unit: &ProcessorUnit) -> ProcessorState {
        let p = &unit.processor;
        let kind = match p.target {
            Target::Endpoint(_) => "forwarding",
            Target::Store(_) => "failoverForwarding",
            Target::Sequence(_) => "sampling",
        };
        ProcessorState::new(
            &p.name,
            kind,
            p.store.name(),
            p.active,
            self.metrics.clone(),
            self.reporter.clone(),
        )
    }

    fn set_running(&self, state: &ProcessorState, running: bool) {
        state.set_leader(running);
        if !running {
            // A processor waiting to be activated checks its stop signal on waking.
            state.wake.notify_one();
        }
    }

    fn on_leadership(&self, lead: bool) {
        self.metrics.set_leader(lead);
    }

    fn run(
        &self,
        unit: Arc<ProcessorUnit>,
        state: Arc<ProcessorState>,
        stop: Stop,
    ) -> impl Future<Output = ()> + Send + 'static {
        let cx = RunCx {
            processor: unit.processor.clone(),
            compiled: unit.compiled.clone(),
            state,
            stop,
            cron_window_open: false,
        };
        let backlog = refresh_backlog(cx.processor.clone(), cx.state.clone(), cx.stop.clone());
        async move {
            let work = async move {
                match cx.processor.target {
                    Target::Sequence(_) => sampling::run(cx).await,
                    _ => forwarding::run(cx).await,
                }
            };
            futures::future::join(work, backlog).await;
        }
    }
}

/// How often a running processor's backlog is read from its store, whatever the processor
/// is doing (retrying, deactivated, idle): the gauge autoscaling and operators read.
const BACKLOG_REFRESH: Duration = Duration::from_secs(2);

/// Keeps the processor's backlog current until it stops: taking a message reads it too,
/// but a processor retrying the message at its head, or deactivated, takes none.
async fn refresh_backlog(
    processor: Arc<CompiledProcessor>,
    state: Arc<ProcessorState>,
    mut stop: Stop,
) {
    loop {
        // A store that hangs (a broker going away) must not hold up the processor's stop.
        let count = tokio::select! {
            count = processor.store.count() => count,
            () = stop.stopped() => return,
        };
        if let Ok(n) = count {
            state.set_backlog(n);
        }
        if !stop.sleep(BACKLOG_REFRESH).await {
            return;
        }
    }
}

/// What a processor loop runs with.
pub(crate) struct RunCx {
    pub processor: Arc<CompiledProcessor>,
    pub compiled: Arc<Compiled>,
    pub state: Arc<ProcessorState>,
    pub stop: Stop,
    /// With a cron schedule: a fire time came and the store is not drained yet.
    pub cron_window_open: bool,
}

impl RunCx {
    /// Waits until the processor is active; false when stopped first.
    pub async fn wait_active(&mut self) -> bool {
        while !self.state.is_active() {
            if self.stop.is_stopped() {
                return false;
            }
            tokio::select! {
                () = self.state.wake.notified() => {}
                () = self.stop.stopped() => return false,
            }
        }
        !self.stop.is_stopped()
    }

    /// The next message, waiting out an empty store (the poll interval) and a failing one
    /// (`storeConnectionRetryInterval`, deactivating after `maxStoreConnectionAttempts`).
    /// `None` when stopped or deactivated.
    pub async fn next_lease(&mut self) -> Option<Lease> {
        let p = self.processor.clone();
        let mut failures = 0u32;
        loop {
            if !self.wait_active().await {
                return None;
            }
            if let Some(cron) = &p.cron
                && !self.cron_window_open
            {
                let Some(wait) = cron.until_next() else {
                    tracing::info!(processor = %p.name, cron = cron.source(), "the cron schedule has no more fire times");
                    return None;
                };
                if !self.stop.sleep(wait).await {
                    return None;
                }
                self.cron_window_open = true;
                // Deactivated while waiting: check again before working.
                continue;
            }
            if let Ok(n) = p.store.count().await {
                self.state.set_backlog(n);
            }
            match p.store.next().await {
                Ok(Some(lease)) => {
                    if failures > 0 {
                        tracing::info!(processor = %p.name, "the message store is reachable again");
                    }
                    return Some(lease);
                }
                Ok(None) => {
                    if failures > 0 {
                        tracing::info!(processor = %p.name, "the message store is reachable again");
                    }
                    failures = 0;
                    if p.cron.is_some() {
                        // Drained: wait for the next fire time.
                        self.cron_window_open = false;
                        continue;
                    }
                    if !self.stop.sleep(p.interval).await {
                        return None;
                    }
                }
                Err(e) => {
                    failures += 1;
                    // The first failure and every tenth are warnings: a store that stays
                    // down (no broker on a developer's machine) must not flood the log.
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(processor = %p.name, error = %e, attempt = failures, "cannot read the message store");
                    } else {
                        tracing::debug!(processor = %p.name, error = %e, attempt = failures, "cannot read the message store");
                    }
                    if p.max_store_attempts.is_some_and(|max| failures >= max) {
                        tracing::error!(processor = %p.name, "the message store stays unreachable; deactivating the processor");
                        self.state.deactivate(
                            reasons::STORE_UNREACHABLE,
                            format!("the message store {} stayed unreachable after {failures} attempts: {e}", p.store.name()),
                            None,
                        );
                        return None;
                    }
                    if !self.stop.sleep(p.store_retry_interval).await {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
