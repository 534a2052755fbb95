//! The supervisor: starts the processors of an installed configuration while this process
//! leads its group, stops them when the configuration is replaced, the lead is lost, or
//! Ferry shuts down, and keeps their live state for the admin port. Also the waiting helpers
//! every processor loop shares (sleep unless stopped, poll the store with its own retry
//! budget).
//!
//! Losing the lead stops the processors exactly as shutdown does: each finishes its
//! in-flight delivery or releases the message unacknowledged, so it stays in its store for
//! the new leader. Their states stay (with `leader: false`), and they start again, with the
//! same activation, when the lead comes back.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::state::ProcessorState;
use super::{CompiledProcessor, Target, forwarding, sampling};
use crate::admin::metrics::Metrics;
use crate::compiled::Compiled;
use crate::leadership::Leadership;
use crate::stores::Lease;

/// Runs the processors of the installed configuration while this process leads.
pub struct Processors {
    metrics: Arc<Metrics>,
    leadership: Leadership,
    running: Mutex<Running>,
    states: RwLock<Vec<Arc<ProcessorState>>>,
}

#[derive(Default)]
struct Running {
    /// The installed configuration: what runs while leading.
    compiled: Option<Arc<Compiled>>,
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    /// Stopped for good (shutdown): a regained lead starts nothing.
    closed: bool,
}

impl Processors {
    /// No processors installed yet; they run while `leadership` says so, and their state
    /// goes to `metrics` too. Follows the leadership from a task of its own, so it must be
    /// called within a Tokio runtime.
    pub fn new(metrics: Arc<Metrics>, leadership: Leadership) -> Arc<Self> {
        let this = Arc::new(Self {
            metrics,
            leadership,
            running: Mutex::default(),
            states: RwLock::default(),
        });
        this.leadership.follow(&this, |this| async move {
            let mut running = this.running.lock().await;
            this.follow_leadership(&mut running).await;
        });
        this
    }

    /// Stops the running processors (each finishes its in-flight delivery), then installs
    /// those of `compiled`, starting them if this process leads.
    pub async fn install(&self, compiled: Arc<Compiled>) {
        let mut running = self.running.lock().await;
        self.stop_running(&mut running).await;
        let states = compiled
            .processors
            .iter()
            .map(|p| {
                let kind = match p.target {
                    Target::Endpoint(_) => "forwarding",
                    Target::Store(_) => "failoverForwarding",
                    Target::Sequence(_) => "sampling",
                };
                Arc::new(ProcessorState::new(
                    &p.name,
                    kind,
                    p.store.name(),
                    p.active,
                    self.metrics.clone(),
                ))
            })
            .collect();
        *self.states.write().unwrap_or_else(|p| p.into_inner()) = states;
        running.compiled = Some(compiled);
        self.follow_leadership(&mut running).await;
    }

    /// Starts or stops the installed processors to match the current leadership.
    async fn follow_leadership(&self, running: &mut Running) {
        let lead = self.leadership.is_leader() && !running.closed;
        self.metrics.set_leader(lead);
        match (lead, running.stop.is_some()) {
            (true, false) => self.start(running),
            (false, true) => {
                tracing::info!("standing by: stopping the message processors");
                self.stop_running(running).await;
            }
            _ => {}
        }
    }

    fn start(&self, running: &mut Running) {
        let Some(compiled) = running.compiled.clone() else {
            return;
        };
        let (tx, rx) = watch::channel(false);
        for (p, state) in compiled.processors.iter().zip(self.states()) {
            state.set_leader(true);
            let cx = RunCx {
                processor: p.clone(),
                compiled: compiled.clone(),
                state,
                stop: Stop(rx.clone()),
                cron_window_open: false,
            };
            running.tasks.push(tokio::spawn(async move {
                match cx.processor.target {
                    Target::Sequence(_) => sampling::run(cx).await,
                    _ => forwarding::run(cx).await,
                }
            }));
        }
        running.stop = Some(tx);
    }

    /// Stops every processor, waiting for in-flight deliveries; a regained lead does not
    /// start them again.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        running.closed = true;
        self.stop_running(&mut running).await;
    }

    async fn stop_running(&self, running: &mut Running) {
        if let Some(tx) = running.stop.take() {
            let _ = tx.send(true);
        }
        for state in self.states() {
            state.set_leader(false);
            state.wake.notify_one();
        }
        for task in running.tasks.drain(..) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a message processor task failed");
            }
        }
    }

    /// The live state of each installed processor (running, or on standby).
    pub fn states(&self) -> Vec<Arc<ProcessorState>> {
        self.states
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The live state of processor `name`.
    pub fn state(&self, name: &str) -> Option<Arc<ProcessorState>> {
        self.states().into_iter().find(|s| &*s.name == name)
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

/// The stop signal of one installation.
#[derive(Clone)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps `d`; false when stopped meanwhile.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        let completed = tokio::select! {
            () = tokio::time::sleep(d) => true,
            _ = self.0.wait_for(|s| *s) => false,
        };
        completed && !self.is_stopped()
    }
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
                _ = self.stop.0.wait_for(|s| *s) => return false,
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
                        self.state.set_active(false);
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
