//! Message processors: take messages from a store and deliver them — `forwarding` to an
//! endpoint, `failoverForwarding` to another store (both acknowledge only after the
//! delivery succeeded), `sampling` into a sequence.
//!
//! A processor is compiled with the rest of the configuration ([`CompiledProcessor`]) and
//! started by the [`runner::Processors`] supervisor when that configuration is installed.
//! A reload leaves a processor whose definition is unchanged running, and stops a changed
//! or removed one (it finishes its in-flight delivery) before any new one starts, so two
//! never read one store at the same time.

pub mod forwarding;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod management;
pub mod report;
pub mod runner;
pub mod sampling;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use ferry_api::check::processor::{self as checked, ProcessorTarget};

use crate::endpoints::BuildCx;
use crate::endpoints::endpoint::Endpoint;
use crate::sequence::SeqId;
use crate::stores::MessageStore;
use crate::supervisor::fingerprint::Fingerprint;
use ferry_api::schedule::CronSchedule;

/// Where a processor's messages go.
pub enum Target {
    /// `forwarding`: the processor's endpoint, used when a message does not name its own
    /// in `target.endpoint`.
    Endpoint(Option<Arc<Endpoint>>),
    /// `failoverForwarding`: another store.
    Store(Arc<dyn MessageStore>),
    /// `sampling`: a named sequence.
    Sequence(SeqId),
}

/// What happens to a message whose delivery failed for good.
#[derive(Clone)]
pub enum OnExhausted {
    /// Keep it at the head of the store and deactivate the processor (Synapse default).
    Deactivate,
    /// Drop it and go on (`max.delivery.drop`).
    Drop,
    /// Park it in another store and go on (`failMessagesStore`).
    Park(Arc<dyn MessageStore>),
}

/// A processor, ready to run.
pub struct CompiledProcessor {
    /// Its name (a metrics label and the admin API's key).
    pub name: Arc<str>,
    /// The store read from.
    pub store: Arc<dyn MessageStore>,
    /// Where messages go.
    pub target: Target,
    /// Pause between polls of an empty store.
    pub interval: Duration,
    /// With a cron schedule, the processor wakes at its fire times (instead of every
    /// `interval`) and works until the store is empty.
    pub cron: Option<Arc<CronSchedule>>,
    /// sampling: messages taken per poll.
    pub concurrency: u32,
    /// Pause between two attempts to deliver one message.
    pub retry_interval: Duration,
    /// Attempts per message; `None` retries forever.
    pub max_attempts: Option<u32>,
    /// After the last attempt.
    pub on_exhausted: OnExhausted,
    /// Response statuses that fail a delivery at once, without retrying.
    pub non_retry_status_codes: Vec<u16>,
    /// 4xx answers (but 408 and 429) are retried rather than failed at once.
    pub retry_client_errors: bool,
    /// Receives the endpoint's responses.
    pub reply_sequence: Option<SeqId>,
    /// Runs after each failed delivery attempt.
    pub fault_sequence: Option<SeqId>,
    /// Runs when the processor deactivates.
    pub deactivate_sequence: Option<SeqId>,
    /// At most one delivery per this long.
    pub throttle: Option<Duration>,
    /// Failed store reads in a row before deactivating; `None` never gives up.
    pub max_store_attempts: Option<u32>,
    /// Pause after a failed store read.
    pub store_retry_interval: Duration,
    /// Whether it starts active.
    pub active: bool,
    /// What it was built from: a reload keeps it running while this stays equal.
    pub fingerprint: Fingerprint,
}

impl CompiledProcessor {
    /// Builds a processor from its checked form: its store, target and sequences resolve
    /// now. `fingerprint` is what it was built from.
    pub fn build(
        name: &str,
        c: &checked::Processor,
        fingerprint: Fingerprint,
        cx: &mut BuildCx<'_>,
    ) -> Option<Self> {
        let store = cx.store(&c.message_store);
        let target = match &c.target {
            ProcessorTarget::Endpoint(Some(ep)) => {
                cx.endpoint(ep).map(|e| Target::Endpoint(Some(e)))
            }
            ProcessorTarget::Endpoint(None) => Some(Target::Endpoint(None)),
            // A failover store as the target is written to its primary: the target's own
            // failover would hide that the primary is down.
            ProcessorTarget::Store(s) => cx
                .store(s)
                .map(|store| store.primary_only().unwrap_or_else(|| store.clone()))
                .map(Target::Store),
            ProcessorTarget::Sequence(s) => cx.sequence_id(s).map(Target::Sequence),
        };
        let on_exhausted = match &c.on_exhausted {
            checked::OnExhausted::Deactivate => Some(OnExhausted::Deactivate),
            checked::OnExhausted::Drop => Some(OnExhausted::Drop),
            checked::OnExhausted::Park(s) => cx.store(s).map(OnExhausted::Park),
        };
        let mut seq = |name: &Option<String>| match name {
            Some(n) => cx.sequence_id(n).map(Some),
            None => Some(None),
        };
        let reply_sequence = seq(&c.reply_sequence)?;
        let fault_sequence = seq(&c.fault_sequence)?;
        let deactivate_sequence = seq(&c.deactivate_sequence)?;
        Some(Self {
            name: Arc::from(name),
            store: store?,
            target: target?,
            interval: c.interval,
            cron: c.cron.clone().map(Arc::new),
            concurrency: c.concurrency,
            retry_interval: c.retry_interval,
            max_attempts: c.max_attempts,
            on_exhausted: on_exhausted?,
            non_retry_status_codes: c.non_retry_status_codes.clone(),
            retry_client_errors: c.retry_client_errors,
            reply_sequence,
            fault_sequence,
            deactivate_sequence,
            throttle: c.throttle,
            max_store_attempts: c.max_store_attempts,
            store_retry_interval: c.store_retry_interval,
            active: c.active,
            fingerprint,
        })
    }
}
