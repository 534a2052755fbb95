//! `aggregate` with `correlateOn`: messages of any flows — separate requests, messages
//! taken from a store — are joined by the value of an expression instead of by the split
//! that made them, as Micro Integrator does.
//!
//! A message whose correlation value opens a group waits in it; so do the ones after it.
//! The group completes when `min` or `max` messages arrived, or at `timeout` after its first
//! one. The flow of the message that completes it (or, at the timeout, of the first waiting
//! flow that wakes) carries the joined message through `onComplete` and on; the other
//! flows end as `drop` ends them (`202`, no body): their messages are in the joined one.
//! A waiting flow that is cancelled (its client went away, its deadline passed) takes its
//! message out of the group.
//!
//! Memory is bounded: at most [`MAX_GROUPS`] groups are open per mediator and
//! [`MAX_MESSAGES`] messages per group (a message beyond is a fault), every group ends at
//! its timeout or count (the checker requires one), and `ferry_open_aggregations` counts
//! the open groups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::fault::{Fault, codes};
use crate::mediators::split::OpenGuard;
use crate::message::Message;

/// Open groups per mediator before new correlation values are refused.
pub const MAX_GROUPS: usize = 10_000;
/// Messages per group before more are refused.
pub const MAX_MESSAGES: usize = 10_000;

/// The open groups of one `aggregate` with `correlateOn`.
#[derive(Default)]
pub struct Groups {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Group>,
    next_ticket: u64,
}

struct Group {
    /// The messages, each with the ticket of the flow that brought it.
    messages: Vec<(u64, Message)>,
    /// Flows waiting: told (sender dropped) when another flow carries the group on.
    waiting: Vec<(u64, oneshot::Sender<()>)>,
    deadline: Option<Instant>,
    _open: OpenGuard,
}

/// What became of an arriving message.
pub enum Arrival {
    /// It completes its group: these are the messages to join, in arrival order.
    Completes(Vec<Message>),
    /// It waits; the guard takes it out of the group if the flow is cancelled.
    Waits(Waiting),
}

/// A flow waiting in a group.
pub struct Waiting {
    groups: Arc<Groups>,
    key: String,
    ticket: u64,
    collected: oneshot::Receiver<()>,
    deadline: Option<Instant>,
}

/// Limits and completion rule of the mediator.
pub struct Rule {
    pub min: Option<usize>,
    pub max: Option<usize>,
    pub timeout: Option<Duration>,
}

impl Rule {
    fn complete(&self, arrived: usize) -> bool {
        self.min.is_some_and(|m| arrived >= m) || self.max.is_some_and(|m| arrived >= m)
    }
}

impl Groups {
    /// Puts `msg` (taken out of its flow) into the group of `key`.
    pub fn arrive(
        self: &Arc<Self>,
        key: String,
        msg: Message,
        rule: &Rule,
        open: &prometheus_client::metrics::gauge::Gauge,
    ) -> Result<Arrival, Fault> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.groups.contains_key(&key) && inner.groups.len() >= MAX_GROUPS {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!(
                    "aggregate: {MAX_GROUPS} correlation groups are open already; {key:?} is refused"
                ),
            ));
        }
        inner.next_ticket += 1;
        let ticket = inner.next_ticket;
        let group = inner.groups.entry(key.clone()).or_insert_with(|| Group {
            messages: Vec::new(),
            waiting: Vec::new(),
            deadline: rule.timeout.map(|t| Instant::now() + t),
            _open: OpenGuard::new(open),
        });
        if group.messages.len() >= MAX_MESSAGES {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!("aggregate: the group {key:?} holds {MAX_MESSAGES} messages already"),
            ));
        }
        group.messages.push((ticket, msg));
        if rule.complete(group.messages.len()) {
            let messages = finish(&mut inner, &key);
            return Ok(Arrival::Completes(messages));
        }
        let (tx, rx) = oneshot::channel();
        group.waiting.push((ticket, tx));
        Ok(Arrival::Waits(Waiting {
            groups: Arc::clone(self),
            key,
            ticket,
            collected: rx,
            deadline: group.deadline,
        }))
    }
}

/// Removes the group: its messages; the flows still waiting are told.
fn finish(inner: &mut Inner, key: &str) -> Vec<Message> {
    inner
        .groups
        .remove(key)
        .map(|g| g.messages.into_iter().map(|(_, m)| m).collect())
        .unwrap_or_default()
}

impl Waiting {
    /// Waits until another flow carries the group on (`None`: this flow ends) or the
    /// timeout passes (`Some`: this flow carries what arrived).
    pub async fn wait(mut self) -> Option<Vec<Message>> {
        let timed_out = match self.deadline {
            Some(deadline) => tokio::select! {
                _ = &mut self.collected => false,
                () = tokio::time::sleep_until(deadline) => true,
            },
            None => {
                let _ = (&mut self.collected).await;
                false
            }
        };
        if !timed_out {
            return None;
        }
        let mut inner = self
            .groups
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Another flow woke first and took the group: this one's message is in it.
        let mine = inner
            .groups
            .get(&self.key)
            .is_some_and(|g| g.messages.iter().any(|(t, _)| *t == self.ticket));
        mine.then(|| finish(&mut inner, &self.key))
    }
}

impl Drop for Waiting {
    /// A cancelled flow takes its message out; a group left empty goes.
    fn drop(&mut self) {
        let mut inner = self
            .groups
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(group) = inner.groups.get_mut(&self.key) else {
            return;
        };
        group.messages.retain(|(t, _)| *t != self.ticket);
        group.waiting.retain(|(t, _)| *t != self.ticket);
        if group.messages.is_empty() {
            inner.groups.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::gauge::Gauge;

    use super::*;

    fn msg(n: i64) -> Message {
        let mut m = Message::new_empty();
        m.set_json(serde_json::json!(n));
        m
    }

    fn payload(m: &Message) -> serde_json::Value {
        m.payload_json().unwrap().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn a_group_completes_at_its_count_and_the_waiting_flows_end() {
        let groups = Arc::new(Groups::default());
        let open = Gauge::default();
        let rule = Rule {
            min: Some(2),
            max: None,
            timeout: None,
        };
        let Ok(Arrival::Waits(first)) = groups.arrive("a".into(), msg(1), &rule, &open) else {
            panic!("the first waits");
        };
        let Ok(Arrival::Waits(other)) = groups.arrive("b".into(), msg(9), &rule, &open) else {
            panic!("another key waits");
        };
        assert_eq!(open.get(), 2);
        let Ok(Arrival::Completes(joined)) = groups.arrive("a".into(), msg(2), &rule, &open) else {
            panic!("the second of a completes it");
        };
        assert_eq!(joined.iter().map(payload).collect::<Vec<_>>(), [1, 2]);
        assert!(first.wait().await.is_none(), "collected: its flow ends");
        assert_eq!(open.get(), 1);
        drop(other);
        assert_eq!(
            open.get(),
            0,
            "a cancelled flow takes its message and empty group out"
        );
    }

    #[tokio::test]
    async fn at_the_timeout_the_first_flow_to_wake_carries_what_arrived() {
        let groups = Arc::new(Groups::default());
        let open = Gauge::default();
        let rule = Rule {
            min: None,
            max: Some(10),
            timeout: Some(Duration::from_millis(100)),
        };
        let Ok(Arrival::Waits(a)) = groups.arrive("k".into(), msg(1), &rule, &open) else {
            panic!()
        };
        let Ok(Arrival::Waits(b)) = groups.arrive("k".into(), msg(2), &rule, &open) else {
            panic!()
        };
        let (a, b) = tokio::join!(a.wait(), b.wait());
        let carried: Vec<_> = [a, b].into_iter().flatten().collect();
        assert_eq!(carried.len(), 1, "exactly one flow carries the group");
        assert_eq!(carried[0].iter().map(payload).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(open.get(), 0);
    }

    #[test]
    fn open_groups_are_bounded() {
        let groups = Arc::new(Groups::default());
        let open = Gauge::default();
        let rule = Rule {
            min: Some(2),
            max: None,
            timeout: None,
        };
        let mut waiting = Vec::new();
        for i in 0..MAX_GROUPS {
            match groups.arrive(i.to_string(), Message::new_empty(), &rule, &open) {
                Ok(Arrival::Waits(w)) => waiting.push(w),
                _ => panic!("group {i} opens"),
            }
        }
        assert!(
            groups
                .arrive("one more".into(), Message::new_empty(), &rule, &open)
                .is_err()
        );
    }
}
