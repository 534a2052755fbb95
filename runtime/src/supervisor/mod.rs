//! The supervisor of what runs beside the request path: a set of named units (message
//! processors, scheduled tasks) that run only while this process leads its group
//! ([`crate::leadership`]). `ferry run` and each reload hand it the units of the installed
//! configuration; it starts them while leading, stops them when the lead goes or Ferry shuts
//! down, and on a reload restarts only the units whose definition changed.
//!
//! A unit is a [`Kind`]'s definition, compiled, plus a state of its own that outlives its
//! runs: it is kept across leadership changes and across reloads that leave the unit
//! unchanged (a processor's activation and counters, read by the admin port). A unit whose
//! definition is unchanged keeps running untouched through a reload, in the same task: a
//! delivery being retried keeps its attempt count, a task its count of runs and its
//! schedule. A changed unit is stopped and started afresh from its new definition (with a
//! new state), a removed one stopped, a new one started. Every unit that stops does so
//! before any unit starts, and a stop waits for the unit to finish what it was doing (a
//! processor its delivery in flight), so two processors never read one store at once.
//!
//! Losing the lead stops every unit exactly as shutdown does; their states stay, and they
//! start again, from their latest definition, when the lead comes back.

pub mod fingerprint;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::leadership::Leadership;

/// A kind of unit: how to name, compare, set up and run one.
pub trait Kind: Send + Sync + 'static {
    /// One unit's definition, ready to run (with whatever it runs in).
    type Unit: Send + Sync + 'static;
    /// What a unit keeps across its runs while its definition stays.
    type State: Send + Sync + 'static;

    /// What the units are, for logs: "message processors".
    const WHAT: &'static str;

    /// The unit's name: units of two configurations are matched by it.
    fn name(unit: &Self::Unit) -> &str;

    /// Whether `new` was built from exactly what `old` was: then a reload keeps `old`
    /// running.
    fn unchanged(old: &Self::Unit, new: &Self::Unit) -> bool;

    /// The state of a unit just installed (new, or changed).
    fn new_state(&self, unit: &Self::Unit) -> Self::State;

    /// Told when the unit starts (true) or stops (false) running in this process.
    fn set_running(&self, _state: &Self::State, _running: bool) {}

    /// Told the leadership of the moment (whether units run here) at each change and install.
    fn on_leadership(&self, _lead: bool) {}

    /// Runs the unit until it is done or `stop` says so.
    fn run(
        &self,
        unit: Arc<Self::Unit>,
        state: Arc<Self::State>,
        stop: Stop,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// What one install changed, by unit name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Unchanged: left running as they were.
    pub kept: Vec<String>,
    /// Changed: stopped, then started from the new definition.
    pub restarted: Vec<String>,
    /// Gone from the configuration: stopped.
    pub stopped: Vec<String>,
    /// New: started.
    pub started: Vec<String>,
}

/// Runs the installed units of one kind while this process leads.
pub struct Supervisor<K: Kind> {
    kind: K,
    leadership: Leadership,
    inner: Mutex<Inner<K>>,
    /// The installed units' names and states, in install order, for readers that must not
    /// wait on an install (the admin port).
    states: RwLock<Vec<(String, Arc<K::State>)>>,
}

struct Inner<K: Kind> {
    slots: Vec<Slot<K>>,
    /// The units run: this process leads and has not shut down.
    running: bool,
    /// Stopped for good (shutdown): a regained lead starts nothing.
    closed: bool,
}

/// An installed unit.
struct Slot<K: Kind> {
    /// Its latest definition: what a (re)start runs.
    unit: Arc<K::Unit>,
    state: Arc<K::State>,
    /// Its task, while started (it may have finished by itself since).
    task: Option<Running>,
}

struct Running {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl<K: Kind> Supervisor<K> {
    /// Nothing installed yet; units run while `leadership` says so. Follows the leadership
    /// from a task of its own, so it must be called within a Tokio runtime.
    pub fn new(kind: K, leadership: Leadership) -> Arc<Self> {
        let this = Arc::new(Self {
            kind,
            leadership,
            inner: Mutex::new(Inner {
                slots: Vec::new(),
                running: false,
                closed: false,
            }),
            states: RwLock::default(),
        });
        this.leadership.follow(&this, |this| async move {
            let mut inner = this.inner.lock().await;
            this.follow_leadership(&mut inner).await;
        });
        this
    }

    /// Installs `units` (a configuration's), diffed by name against the installed ones:
    /// unchanged units keep running, changed and removed ones stop (each finishing what it
    /// was doing) before changed and new ones start, if this process leads.
    pub async fn install(&self, units: Vec<Arc<K::Unit>>) -> Changes {
        let mut inner = self.inner.lock().await;
        let mut old: HashMap<String, Slot<K>> = inner
            .slots
            .drain(..)
            .map(|slot| (K::name(&slot.unit).to_string(), slot))
            .collect();
        let mut changes = Changes::default();
        let mut outgoing = Vec::new();
        let mut slots = Vec::with_capacity(units.len());
        for unit in units {
            let name = K::name(&unit).to_string();
            let slot = match old.remove(&name) {
                Some(mut slot) if K::unchanged(&slot.unit, &unit) => {
                    // The running task keeps the definition it started with; a restart
                    // (the lead regained) takes this one, which is the same.
                    slot.unit = unit;
                    changes.kept.push(name);
                    slot
                }
                Some(slot) => {
                    outgoing.push(slot);
                    changes.restarted.push(name);
                    self.new_slot(unit)
                }
                None => {
                    changes.started.push(name);
                    self.new_slot(unit)
                }
            };
            slots.push(slot);
        }
        changes.stopped = old.keys().cloned().collect();
        changes.stopped.sort();
        outgoing.extend(old.into_values());
        self.stop_slots(&mut outgoing).await;

        *self.states.write().unwrap_or_else(|p| p.into_inner()) = slots
            .iter()
            .map(|s| (K::name(&s.unit).to_string(), s.state.clone()))
            .collect();
        inner.slots = slots;
        self.follow_leadership(&mut inner).await;
        if !changes.restarted.is_empty() || !changes.stopped.is_empty() {
            tracing::info!(
                kept = changes.kept.len(),
                restarted = ?changes.restarted,
                stopped = ?changes.stopped,
                started = ?changes.started,
                "installed the {}", K::WHAT
            );
        }
        changes
    }

    fn new_slot(&self, unit: Arc<K::Unit>) -> Slot<K> {
        let state = Arc::new(self.kind.new_state(&unit));
        Slot {
            unit,
            state,
            task: None,
        }
    }

    /// Starts or stops the installed units to match the current leadership.
    async fn follow_leadership(&self, inner: &mut Inner<K>) {
        let lead = self.leadership.is_leader() && !inner.closed;
        self.kind.on_leadership(lead);
        if lead {
            inner.running = true;
            for slot in inner.slots.iter_mut().filter(|s| s.task.is_none()) {
                self.start(slot);
            }
        } else if inner.running {
            tracing::info!("standing by: stopping the {}", K::WHAT);
            inner.running = false;
            self.stop_slots(&mut inner.slots).await;
        }
    }

    fn start(&self, slot: &mut Slot<K>) {
        let (tx, rx) = watch::channel(false);
        self.kind.set_running(&slot.state, true);
        let run = self
            .kind
            .run(slot.unit.clone(), slot.state.clone(), Stop(rx));
        slot.task = Some(Running {
            stop: tx,
            handle: tokio::spawn(run),
        });
    }

    /// Stops the units of `slots` together and waits for each to finish.
    async fn stop_slots(&self, slots: &mut [Slot<K>]) {
        let mut stopping = Vec::new();
        for slot in slots.iter_mut() {
            if let Some(running) = slot.task.take() {
                let _ = running.stop.send(true);
                stopping.push((K::name(&slot.unit).to_string(), running));
            }
            self.kind.set_running(&slot.state, false);
        }
        for (name, running) in stopping {
            if let Err(e) = running.handle.await {
                tracing::error!(unit = %name, error = %e, "one of the {} failed", K::WHAT);
            }
        }
    }

    /// Stops every unit, each finishing what it was doing; a regained lead does not start
    /// them again.
    pub async fn stop(&self) {
        let mut inner = self.inner.lock().await;
        inner.closed = true;
        inner.running = false;
        self.stop_slots(&mut inner.slots).await;
    }

    /// The state of each installed unit (running, or standing by), in install order.
    pub fn states(&self) -> Vec<Arc<K::State>> {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        states.iter().map(|(_, s)| s.clone()).collect()
    }

    /// The state of the installed unit `name`.
    pub fn state(&self, name: &str) -> Option<Arc<K::State>> {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        states
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }
}

// === impl Stop ===

/// A unit's stop signal.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Whether the unit was asked to stop.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the unit is asked to stop (or its supervisor is gone).
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }

    /// Sleeps `d`; false when stopped meanwhile.
    pub async fn sleep(&mut self, d: Duration) -> bool {
        let completed = tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.stopped() => false,
        };
        completed && !self.is_stopped()
    }
}

#[cfg(test)]
mod tests;
