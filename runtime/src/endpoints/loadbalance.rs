//! A `loadbalance` group: children take turns (round robin, or weighted, unrolled once at
//! load time); with `failover`, a failed or suspended child passes the message on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::endpoint::{Delivery, Endpoint};
use super::failover::no_child_ready;
use crate::fault::Fault;
use crate::message::Message;

pub(super) struct Loadbalance {
    pub(super) children: Vec<Arc<Endpoint>>,
    /// Child indices in the order they take turns (weights expanded at load time).
    pub(super) schedule: Vec<usize>,
    pub(super) next: AtomicUsize,
    pub(super) failover: bool,
}

impl Loadbalance {
    /// Sends to the next child in turn; with `failover`, a failed or suspended child passes
    /// the message to the following ones.
    pub(super) async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let first = self.schedule[turn % self.schedule.len()];
        let n = self.children.len();
        let tries = if self.failover { n } else { 1 };
        let mut last = None;
        for i in 0..tries {
            let child = &self.children[(first + i) % n];
            if !child.is_ready() {
                continue;
            }
            if !self.failover {
                return child.call(msg).await;
            }
            let mut attempt = msg.clone();
            match child.call(&mut attempt).await {
                Ok(delivery) => {
                    *msg = attempt;
                    return Ok(delivery);
                }
                Err(fault) if fault.side == crate::fault::FaultSide::Upstream => {
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

/// Smooth weighted round robin, unrolled once at load time: over one cycle of
/// `sum(weights)` turns each child gets its weight's share, spread out rather than bunched.
pub(super) fn weighted_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
        else {
            break;
        };
        current[best] -= total;
        schedule.push(best);
    }
    schedule
}
