//! The inbound endpoints as units of the [supervisor](crate::supervisor), in two sets by
//! their Kubernetes semantics: queue consumers run on every replica (a supervisor that is
//! always leading), pollers that must not run twice on the replica holding the group's Lease
//! (a supervisor following the election), and move to another replica when it dies.
//!
//! A reload that leaves an endpoint's definition unchanged leaves it running, connection
//! and counters included; a changed one stops (its messages in flight finish and are
//! settled) before its new definition starts. A suspended endpoint is installed (the
//! management API shows it) but never started.

use std::future::Future;
use std::sync::Arc;

use super::state::InboundState;
use super::{CompiledInbound, Source};
use crate::admin::metrics::Metrics;
use crate::compiled::Compiled;
use crate::leadership::Leadership;
use crate::supervisor::{Changes, Kind, Stop, Supervisor};

/// Runs the inbound endpoints of the installed configuration.
pub struct Inbounds {
    everywhere: Arc<Supervisor<InboundKind>>,
    leader_only: Arc<Supervisor<InboundKind>>,
}

impl Inbounds {
    /// No endpoints installed yet; pollers run while `leadership` says so. Must be called
    /// within a Tokio runtime.
    pub fn new(metrics: Arc<Metrics>, leadership: Leadership) -> Arc<Self> {
        let kind = || InboundKind {
            metrics: metrics.clone(),
        };
        Arc::new(Self {
            everywhere: Supervisor::new(kind(), Leadership::standalone()),
            leader_only: Supervisor::new(kind(), leadership),
        })
    }

    /// Installs the endpoints of `compiled`: unchanged ones keep running, changed and
    /// removed ones stop (finishing their messages in flight), changed and new ones start
    /// where they run.
    pub async fn install(&self, compiled: Arc<Compiled>) -> Changes {
        let (leader_only, everywhere): (Vec<_>, Vec<_>) = compiled
            .inbound_endpoints
            .iter()
            .map(|i| {
                Arc::new(InboundUnit {
                    inbound: i.clone(),
                    compiled: compiled.clone(),
                })
            })
            .partition(|u| u.inbound.once_per_group());
        let mut changes = self.everywhere.install(everywhere).await;
        let more = self.leader_only.install(leader_only).await;
        changes.kept.extend(more.kept);
        changes.restarted.extend(more.restarted);
        changes.stopped.extend(more.stopped);
        changes.started.extend(more.started);
        changes
    }

    /// Stops every endpoint, each finishing its messages in flight.
    pub async fn stop(&self) {
        self.everywhere.stop().await;
        self.leader_only.stop().await;
    }

    /// The state of each installed endpoint.
    pub fn states(&self) -> Vec<Arc<InboundState>> {
        let mut all = self.everywhere.states();
        all.extend(self.leader_only.states());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// The state of the installed endpoint `name`.
    pub fn state(&self, name: &str) -> Option<Arc<InboundState>> {
        self.everywhere
            .state(name)
            .or_else(|| self.leader_only.state(name))
    }
}

/// An endpoint and the configuration it was compiled in (its sequence ids index that
/// configuration's sequences).
pub struct InboundUnit {
    /// The endpoint.
    pub inbound: Arc<CompiledInbound>,
    /// Its configuration.
    pub compiled: Arc<Compiled>,
}

/// Inbound endpoints, as units of the supervisor.
pub struct InboundKind {
    metrics: Arc<Metrics>,
}

impl Kind for InboundKind {
    type Unit = InboundUnit;
    type State = InboundState;

    const WHAT: &'static str = "inbound endpoints";

    fn name(unit: &InboundUnit) -> &str {
        &unit.inbound.name
    }

    fn unchanged(old: &InboundUnit, new: &InboundUnit) -> bool {
        old.inbound.fingerprint == new.inbound.fingerprint
    }

    fn new_state(&self, unit: &InboundUnit) -> InboundState {
        InboundState::new(&unit.inbound, self.metrics.inbound(&unit.inbound.name))
    }

    fn set_running(&self, state: &InboundState, running: bool) {
        state.set_running(running);
    }

    // Not an `async fn`: its future would borrow `self`, and the supervisor needs one that
    // is `'static`.
    #[allow(clippy::manual_async_fn)]
    fn run(
        &self,
        unit: Arc<InboundUnit>,
        state: Arc<InboundState>,
        stop: Stop,
    ) -> impl Future<Output = ()> + Send + 'static {
        async move {
            if unit.inbound.suspend {
                state.set_running(false);
                return;
            }
            match &unit.inbound.source {
                Source::Rabbitmq(_) => super::rabbitmq::run(unit.clone(), state, stop).await,
                Source::File(_) => super::file::run(unit.clone(), state, stop).await,
                Source::Mqtt(_) => super::mqtt::run(unit.clone(), state, stop).await,
            }
        }
    }
}
