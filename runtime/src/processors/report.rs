//! What a processor's state tells beyond the admin port: where the runtime runs in
//! Kubernetes, the MessageProcessor's status (`state`, `backlog`, why it stopped) and an
//! Event when it deactivates or comes back, so `kubectl get mproc` and `kubectl describe`
//! show a stopped processor without anyone asking the pod.

use std::sync::Arc;

/// One thing to report about a processor.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorReport {
    /// The processor (its MessageProcessor's name).
    pub processor: Arc<str>,
    /// Whether it takes messages.
    pub active: bool,
    /// Messages in its store, as last read.
    pub backlog: i64,
    /// A change worth an Event — `(reason, message)` — or `None` for a refresh of the
    /// backlog or of a new leader's view.
    pub change: Option<(&'static str, String)>,
    /// The message at the head of the store when it deactivated over it.
    pub head_message_id: Option<String>,
}

/// Where reports go; called from the processor's own task, so it must not block.
pub type Reporter = Arc<dyn Fn(ProcessorReport) + Send + Sync>;

/// Reasons, as the status and Events give them.
pub mod reasons {
    /// A message failed for good and the processor kept it at the head.
    pub const DELIVERY_FAILED: &str = "DeliveryFailed";
    /// The store stayed unreachable past `maxStoreConnectionAttempts`.
    pub const STORE_UNREACHABLE: &str = "StoreUnreachable";
    /// Deactivated on the admin port (or a parked message could not be parked).
    pub const DEACTIVATED: &str = "Deactivated";
    /// Activated on the admin port.
    pub const ACTIVATED: &str = "Activated";
}
