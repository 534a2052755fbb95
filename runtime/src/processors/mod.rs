//! Message processors: take messages from a store and deliver them — `forwarding` to an
//! endpoint, `failoverForwarding` to another store (both acknowledge only after the
//! delivery succeeded), `sampling` into a sequence.
//!
//! A processor is compiled with the rest of the configuration ([`CompiledProcessor`]) and
//! started by the [`runner::Processors`] supervisor when that configuration is installed;
//! a reload stops the running ones (each finishes its in-flight delivery) before the new
//! ones start, so two never read one store at the same time.

pub mod forwarding;
pub mod management;
pub mod runner;
pub mod sampling;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use ferry_api::resources::message_processor::{MessageProcessorSpec, ProcessorType};

use crate::compile::CompileCx;
use crate::endpoints::endpoint::Endpoint;
use crate::schedule::CronSchedule;
use crate::sequence::SeqId;
use crate::stores::MessageStore;

/// Where a processor's messages go.
pub enum Target {
    /// `forwarding`: an endpoint.
    Endpoint(Arc<Endpoint>),
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
}

impl CompiledProcessor {
    /// Compiles a MessageProcessor spec; every problem is a located error.
    pub fn compile(
        name: &str,
        spec: &MessageProcessorSpec,
        cx: &mut CompileCx<'_>,
    ) -> Option<Self> {
        let mut ok = true;
        let store = cx.stores.get(&spec.message_store).cloned();
        if store.is_none() {
            // An undefined name was reported by validation; this one failed to open.
            cx.error(
                "spec.messageStore",
                format!("message store \"{}\" is not available", spec.message_store),
            );
        }
        let cron = match &spec.cron_expression {
            Some(expr) => match CronSchedule::parse(expr) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    cx.error("spec.cronExpression", e);
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let seq = |cx: &mut CompileCx<'_>, field: &str, name: &Option<String>| match name {
            Some(n) => cx.sequence_id(field, n).map(Some).ok_or(()),
            None => Ok(None),
        };
        let target = match spec.type_ {
            ProcessorType::Forwarding => match &spec.target_endpoint {
                Some(ep) => match cx.endpoints.get(ep) {
                    Some(e) => Some(Target::Endpoint(e.clone())),
                    None => {
                        cx.error(
                            "spec.targetEndpoint",
                            format!("endpoint \"{ep}\" is not defined"),
                        );
                        None
                    }
                },
                None => {
                    cx.error(
                        "spec.targetEndpoint",
                        "a forwarding processor needs targetEndpoint",
                    );
                    None
                }
            },
            ProcessorType::FailoverForwarding => match &spec.target_store {
                Some(s) => cx
                    .stores
                    .get(s)
                    .map(|store| store.primary_only().unwrap_or_else(|| store.clone()))
                    .map(Target::Store),
                None => {
                    cx.error(
                        "spec.targetStore",
                        "a failoverForwarding processor needs targetStore",
                    );
                    None
                }
            },
            ProcessorType::Sampling => match &spec.sequence {
                Some(s) => cx.sequence_id("spec.sequence", s).map(Target::Sequence),
                None => {
                    cx.error("spec.sequence", "a sampling processor needs sequence");
                    None
                }
            },
        };
        let wrong_kind = |cx: &mut CompileCx<'_>, field: &str, set: bool, kinds: &str| {
            if set {
                cx.error(field, format!("only {kinds} processors use {field}"));
            }
            !set
        };
        let sampling = spec.type_ == ProcessorType::Sampling;
        let forwarding = spec.type_ == ProcessorType::Forwarding;
        ok &= wrong_kind(
            cx,
            "spec.sequence",
            !sampling && spec.sequence.is_some(),
            "sampling",
        );
        ok &= wrong_kind(
            cx,
            "spec.targetEndpoint",
            !forwarding && spec.target_endpoint.is_some(),
            "forwarding",
        );
        ok &= wrong_kind(
            cx,
            "spec.replySequence",
            !forwarding && spec.reply_sequence.is_some(),
            "forwarding",
        );
        ok &= wrong_kind(
            cx,
            "spec.nonRetryStatusCodes",
            !forwarding && !spec.non_retry_status_codes.is_empty(),
            "forwarding",
        );
        let reply_sequence = seq(cx, "spec.replySequence", &spec.reply_sequence);
        let fault_sequence = seq(cx, "spec.faultSequence", &spec.fault_sequence);
        let deactivate_sequence = seq(cx, "spec.deactivateSequence", &spec.deactivate_sequence);
        let on_exhausted = match &spec.fail_messages_store {
            Some(s) => cx
                .stores
                .get(s)
                .map(|store| OnExhausted::Park(store.clone())),
            None if spec.drop_message_after_max_delivery_attempts => Some(OnExhausted::Drop),
            None => Some(OnExhausted::Deactivate),
        };
        if spec.max_delivery_attempts == 0 || spec.max_delivery_attempts < -1 {
            cx.error(
                "spec.maxDeliveryAttempts",
                "must be at least 1, or -1 to retry forever",
            );
            ok = false;
        }
        if spec.max_store_connection_attempts == 0 || spec.max_store_connection_attempts < -1 {
            cx.error(
                "spec.maxStoreConnectionAttempts",
                "must be at least 1, or -1 to retry forever",
            );
            ok = false;
        }
        if spec.concurrency == 0 {
            cx.error("spec.concurrency", "must be at least 1");
            ok = false;
        }
        if spec.interval == 0 {
            cx.error("spec.interval", "must be at least 1 millisecond");
            ok = false;
        }
        let (Some(store), Some(target), Ok(reply_sequence), Ok(fault_sequence)) =
            (store, target, reply_sequence, fault_sequence)
        else {
            return None;
        };
        let (Ok(deactivate_sequence), Some(on_exhausted), true) =
            (deactivate_sequence, on_exhausted, ok)
        else {
            return None;
        };
        let attempts = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
        Some(Self {
            name: Arc::from(name),
            store,
            target,
            interval: Duration::from_millis(spec.interval),
            cron,
            concurrency: spec.concurrency,
            retry_interval: Duration::from_millis(spec.client_retry_interval),
            max_attempts: attempts(spec.max_delivery_attempts),
            on_exhausted,
            non_retry_status_codes: spec.non_retry_status_codes.clone(),
            reply_sequence,
            fault_sequence,
            deactivate_sequence,
            throttle: spec
                .throttle
                .as_ref()
                .filter(|t| t.enabled)
                .map(|t| Duration::from_millis(t.interval)),
            max_store_attempts: attempts(spec.max_store_connection_attempts),
            store_retry_interval: Duration::from_millis(spec.store_connection_retry_interval),
            active: spec.active,
        })
    }
}
