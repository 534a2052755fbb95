//! The supervisor: starts the processors of an installed configuration, stops them when it
//! is replaced or Ferry shuts down, and keeps their live state for the admin port. Also the
//! waiting helpers every processor loop shares (sleep unless stopped, poll the store with
//! its own retry budget).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::state::ProcessorState;
use super::{CompiledProcessor, Target, forwarding, sampling};
use crate::admin::metrics::Metrics;
use crate::compile::Compiled;
use crate::stores::Lease;

/// Runs the processors of the installed configuration.
pub struct Processors {
    metrics: Arc<Metrics>,
    running: Mutex<Running>,
    states: RwLock<Vec<Arc<ProcessorState>>>,
}

#[derive(Default)]
struct Running {
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Processors {
    /// No processors running; their state goes to `metrics` too.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            running: Mutex::default(),
            states: RwLock::default(),
        }
    }

    /// Stops the running processors (each finishes its in-flight delivery), then starts
    /// those of `compiled`.
    pub async fn install(&self, compiled: Arc<Compiled>) {
        let mut running = self.running.lock().await;
        self.stop_running(&mut running).await;
        let (tx, rx) = watch::channel(false);
        let mut states = Vec::new();
        for p in &compiled.processors {
            let kind = match p.target {
                Target::Endpoint(_) => "forwarding",
                Target::Store(_) => "failoverForwarding",
                Target::Sequence(_) => "sampling",
            };
            let state = Arc::new(ProcessorState::new(
                &p.name,
                kind,
                p.store.name(),
                p.active,
                self.metrics.clone(),
            ));
            states.push(state.clone());
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
        *self.states.write().unwrap_or_else(|p| p.into_inner()) = states;
    }

    /// Stops every processor, waiting for in-flight deliveries.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        self.stop_running(&mut running).await;
    }

    async fn stop_running(&self, running: &mut Running) {
        if let Some(tx) = running.stop.take() {
            let _ = tx.send(true);
        }
        for state in self.states() {
            state.wake.notify_one();
        }
        for task in running.tasks.drain(..) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a message processor task failed");
            }
        }
    }

    /// The live state of each running processor.
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
