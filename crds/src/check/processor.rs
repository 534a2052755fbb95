//! MessageProcessor checks: the fields each processor type needs (and only those), the
//! references it makes, counts in range and the cron expression parsed once.

use std::time::Duration;

use super::cx::Cx;
use crate::resources::message_processor::{MessageProcessorSpec, ProcessorType};
use crate::schedule::CronSchedule;

/// A checked MessageProcessor. Names refer to resources that exist in its runtime group.
#[derive(Debug, Clone)]
pub struct Processor {
    /// The store read from.
    pub message_store: String,
    /// Where messages go.
    pub target: ProcessorTarget,
    /// Pause between polls of an empty store.
    pub interval: Duration,
    /// Wakes at these times (instead of every `interval`) and works until the store is empty.
    pub cron: Option<CronSchedule>,
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
    pub reply_sequence: Option<String>,
    /// Runs after each failed delivery attempt.
    pub fault_sequence: Option<String>,
    /// Runs when the processor deactivates.
    pub deactivate_sequence: Option<String>,
    /// At most one delivery per this long.
    pub throttle: Option<Duration>,
    /// Failed store reads in a row before deactivating; `None` never gives up.
    pub max_store_attempts: Option<u32>,
    /// Pause after a failed store read.
    pub store_retry_interval: Duration,
    /// Whether it starts active.
    pub active: bool,
}

/// Where a processor's messages go.
#[derive(Debug, Clone)]
pub enum ProcessorTarget {
    /// `forwarding`: the named Endpoint, which a message's `target.endpoint` property
    /// overrides; without one, every message must name its own.
    Endpoint(Option<String>),
    /// `failoverForwarding`: another MessageStore.
    Store(String),
    /// `sampling`: a named Sequence.
    Sequence(String),
}

/// What happens to a message whose delivery failed for good.
#[derive(Debug, Clone)]
pub enum OnExhausted {
    /// Keep it at the head of the store and deactivate the processor (Synapse default).
    Deactivate,
    /// Drop it and go on (`dropMessageAfterMaxDeliveryAttempts`).
    Drop,
    /// Park it in the named store and go on (`failMessagesStore`).
    Park(String),
}

/// Checks a MessageProcessor spec; every problem is a located error.
pub fn check(cx: &mut Cx<'_>, spec: &MessageProcessorSpec) -> Option<Processor> {
    let mut ok = cx.reference("spec.messageStore", "MessageStore", &spec.message_store);
    // Store-and-forward exists so an accepted message outlives a dead backend, but a memory
    // store's messages die with the process (a kill, an OOM, an eviction, a deploy): easy to
    // get by copying a test configuration, so said at every load.
    if cx.is_memory_store(&spec.message_store) {
        cx.warning(
            "spec.messageStore",
            format!(
                "reads the memory store {:?}: its messages are lost when the process stops \
                 or is killed; use a sqlite (the default), postgres or rabbitmq store to keep \
                 them",
                spec.message_store
            ),
        );
    }
    let sampling = spec.type_ == ProcessorType::Sampling;
    let forwarding = spec.type_ == ProcessorType::Forwarding;
    let mut wrong_kind = |cx: &mut Cx<'_>, field: &str, set: bool, kinds: &str| {
        if set {
            cx.error(field, format!("only {kinds} processors use {field}"));
            ok = false;
        }
    };
    wrong_kind(
        cx,
        "spec.sequence",
        !sampling && spec.sequence.is_some(),
        "sampling",
    );
    let target_endpoint = !forwarding && spec.target_endpoint.is_some();
    wrong_kind(cx, "spec.targetEndpoint", target_endpoint, "forwarding");
    let reply = !forwarding && spec.reply_sequence.is_some();
    wrong_kind(cx, "spec.replySequence", reply, "forwarding");
    let non_retry = !forwarding && !spec.non_retry_status_codes.is_empty();
    wrong_kind(cx, "spec.nonRetryStatusCodes", non_retry, "forwarding");
    let retry_client = !forwarding && spec.retry_client_errors;
    wrong_kind(cx, "spec.retryClientErrors", retry_client, "forwarding");
    let target_store =
        spec.type_ != ProcessorType::FailoverForwarding && spec.target_store.is_some();
    wrong_kind(cx, "spec.targetStore", target_store, "failoverForwarding");

    let cron = match &spec.cron_expression {
        Some(expr) => match CronSchedule::parse(expr) {
            Ok(c) => Some(c),
            Err(e) => {
                cx.error("spec.cronExpression", e);
                ok = false;
                None
            }
        },
        None => None,
    };
    let mut seq = |cx: &mut Cx<'_>, field: &str, name: &Option<String>| match name {
        Some(n) => {
            let found = cx.sequence_ref(field, n);
            ok &= found.is_some();
            found
        }
        None => None,
    };
    let reply_sequence = seq(cx, "spec.replySequence", &spec.reply_sequence);
    let fault_sequence = seq(cx, "spec.faultSequence", &spec.fault_sequence);
    let deactivate_sequence = seq(cx, "spec.deactivateSequence", &spec.deactivate_sequence);
    let target = match spec.type_ {
        // Without targetEndpoint, each message names its endpoint (`target.endpoint`).
        ProcessorType::Forwarding => match &spec.target_endpoint {
            Some(ep) => cx
                .reference("spec.targetEndpoint", "Endpoint", ep)
                .then(|| ProcessorTarget::Endpoint(Some(ep.clone()))),
            None => Some(ProcessorTarget::Endpoint(None)),
        },
        ProcessorType::FailoverForwarding => match &spec.target_store {
            Some(s) => cx
                .reference("spec.targetStore", "MessageStore", s)
                .then(|| ProcessorTarget::Store(s.clone())),
            None => {
                cx.error(
                    "spec.targetStore",
                    "a failoverForwarding processor needs targetStore",
                );
                None
            }
        },
        ProcessorType::Sampling => match &spec.sequence {
            Some(s) => cx
                .sequence_ref("spec.sequence", s)
                .map(ProcessorTarget::Sequence),
            None => {
                cx.error("spec.sequence", "a sampling processor needs sequence");
                None
            }
        },
    };
    let on_exhausted = match &spec.fail_messages_store {
        Some(s) => {
            let found = cx.reference("spec.failMessagesStore", "MessageStore", s);
            ok &= found;
            OnExhausted::Park(s.clone())
        }
        None if spec.drop_message_after_max_delivery_attempts => OnExhausted::Drop,
        None => OnExhausted::Deactivate,
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
    for (i, code) in spec.non_retry_status_codes.iter().enumerate() {
        if !(100..=599).contains(code) {
            cx.error(
                &format!("spec.nonRetryStatusCodes[{i}]"),
                format!("{code} is not an HTTP status (100-599)"),
            );
            ok = false;
        }
    }
    let target = target?;
    ok.then_some(())?;
    let attempts = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
    Some(Processor {
        message_store: spec.message_store.clone(),
        target,
        interval: Duration::from_millis(spec.interval),
        cron,
        concurrency: spec.concurrency,
        retry_interval: Duration::from_millis(spec.client_retry_interval),
        max_attempts: attempts(spec.max_delivery_attempts),
        on_exhausted,
        non_retry_status_codes: spec.non_retry_status_codes.clone(),
        retry_client_errors: spec.retry_client_errors,
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
