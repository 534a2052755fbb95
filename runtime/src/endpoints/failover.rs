//! A `failover` group: children tried in order, skipping suspended ones; the first
//! answer wins.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::endpoint::{Delivery, Endpoint};
use crate::fault::{Fault, codes};
use crate::message::Message;

pub(super) struct Failover {
    pub(super) children: Vec<Arc<Endpoint>>,
    pub(super) dynamic: bool,
    pub(super) current: AtomicUsize,
}

impl Failover {
    /// Tries the children in order (from the first with `dynamic`, else from the one that
    /// last worked), skipping suspended ones; the first answer wins.
    pub(super) async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let n = self.children.len();
        let start = if self.dynamic {
            0
        } else {
            self.current.load(Ordering::Relaxed) % n
        };
        let mut last = None;
        for i in 0..n {
            let index = (start + i) % n;
            let child = &self.children[index];
            if !child.is_ready() {
                continue;
            }
            let mut attempt = msg.clone();
            match child.call(&mut attempt).await {
                Ok(delivery) => {
                    self.current.store(index, Ordering::Relaxed);
                    *msg = attempt;
                    return Ok(delivery);
                }
                Err(fault) if fault.side == crate::fault::FaultSide::Upstream => {
                    tracing::debug!(group = %name, child = %child.name(), error = %fault.message, "failing over");
                    if let Some(trace) = msg.trace() {
                        trace.event(
                            "failover",
                            vec![
                                opentelemetry::KeyValue::new(
                                    "ferry.endpoint",
                                    child.name().to_string(),
                                ),
                                opentelemetry::KeyValue::new("error.type", fault.code.to_string()),
                            ],
                        );
                    }
                    last = Some(fault);
                }
                Err(fault) => return Err(fault),
            }
        }
        Err(last.unwrap_or_else(|| no_child_ready(name)))
    }
}

/// The fault of a group whose children are all suspended.
pub(super) fn no_child_ready(name: &str) -> Fault {
    Fault::upstream(
        codes::NO_CHILD_READY,
        format!("endpoint {name}: no child endpoint is ready (all are suspended)"),
        false,
    )
}
