//! `aggregate`: collects the copies made by a `clone` or `iterate` (the one with the same
//! `id`) into one message, as Micro Integrator's aggregate does.
//!
//! A copy arriving here waits (its future parks; its message goes into the split's
//! [`Scope`](super::split::Scope)). The aggregation completes when every copy of the split
//! arrived (message counts `-1`), or `min` or `max` of them (MI completes at either), or at
//! `timeout` after the first arrival, with what it holds; and when every copy of the split
//! has ended or waits somewhere, since nothing more can arrive then (MI would wait for its
//! timeout, or forever). The copy that completes it carries the aggregated message through
//! `onComplete` and then on after the aggregate; the other waiting copies end without an
//! answer. A copy arriving after completion is late and dropped, as in MI. A message that is
//! no copy of a matching split passes through unchanged (MI: "no aggregate for this
//! message").
//!
//! Memory is bounded by the request: open aggregations live in the split's scope, so they
//! go when the request ends (answer, deadline, dropped connection), completed or not;
//! `ferry_open_aggregations` counts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_api::check::mediator as checked;
use ferry_api::expr::Expression;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{Map, Value};

use super::BuildCx;
use super::Mediator;
use super::split::{Aggregation, OpenGuard, SplitTag};
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::expr::{self, EvalError, XPathValue};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow};
use crate::xml::{self, Element, Node};

mod correlated;

use correlated::{Groups, Rule};

/// Tells aggregate mediators apart inside a split's scope.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

/// An `aggregate` mediator.
pub struct Aggregate {
    key: u64,
    id: Option<String>,
    timeout: Option<Duration>,
    min: Option<usize>,
    max: Option<usize>,
    expression: Expression,
    enclosing: Option<String>,
    on_complete: Vec<Mediator>,
    open: Gauge,
    /// `correlateOn`: the expression and the open groups, shared by every flow.
    correlate: Option<(Expression, Arc<Groups>)>,
}

/// What became of a message arriving at the aggregate.
enum Arrival {
    /// The aggregation completed before: the message is late.
    Late,
    /// The message completes it: these are the messages to join.
    Completes(Vec<Message>),
    /// The message waits: told when collected, the timeout, and when the split settles.
    Waits(
        tokio::sync::oneshot::Receiver<()>,
        tokio::sync::watch::Receiver<u64>,
        Option<tokio::time::Instant>,
    ),
}

/// Why a waiting copy woke up.
enum Woke {
    /// Another copy completed the aggregation with this one's message in it.
    Collected,
    /// The timeout passed, or nothing more can arrive: complete with what is there.
    Complete,
}

impl Aggregate {
    /// Builds the `onComplete` sequence.
    pub fn build(c: &checked::Aggregate, cx: &mut BuildCx<'_>) -> Self {
        Aggregate {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            id: c.id.clone(),
            timeout: c.timeout,
            min: c.min,
            max: c.max,
            expression: c.expression.clone(),
            enclosing: c.enclosing_element_property.clone(),
            on_complete: super::build_list(&c.on_complete, cx),
            open: cx.env.metrics.open_aggregations(),
            correlate: c
                .correlate_on
                .clone()
                .map(|e| (e, Arc::new(Groups::default()))),
        }
    }

    /// The `onComplete` sequence, for load-time analysis.
    pub fn on_complete(&self) -> &[Mediator] {
        &self.on_complete
    }

    /// MI's completion rule: every copy, or `min`, or `max` of them.
    fn complete(&self, arrived: usize, total: usize) -> bool {
        arrived >= total
            || self.min.is_some_and(|min| arrived >= min)
            || self.max.is_some_and(|max| arrived >= max)
    }

    /// Collects the message; see the module documentation.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        if let Some((expression, groups)) = &self.correlate {
            return self.mediate_correlated(expression, groups, msg, env).await;
        }
        let id = self.id.as_deref();
        let Some(pos) = msg.splits().iter().rposition(|t| t.id.as_deref() == id) else {
            tracing::debug!("aggregate: the message is no copy of a matching split; it passes");
            return Ok(Flow::Continue);
        };
        let tags: Vec<SplitTag> = msg.splits().to_vec();
        let Some(scope) = tags[pos].scope.upgrade() else {
            // The split is over (its answer went out): nothing collects for it any more.
            tracing::debug!("aggregate: the message's split has ended; it passes");
            return Ok(Flow::Continue);
        };
        let arrival = {
            let mut aggregations = scope.lock_aggregations();
            let index = match aggregations.iter().position(|(k, _)| *k == self.key) {
                Some(i) => i,
                None => {
                    aggregations.push((
                        self.key,
                        Aggregation {
                            messages: Vec::new(),
                            done: false,
                            waiting: Vec::new(),
                            deadline: self.timeout.map(|t| tokio::time::Instant::now() + t),
                            open: Some(OpenGuard::new(&self.open)),
                        },
                    ));
                    aggregations.len() - 1
                }
            };
            let aggregation = &mut aggregations[index].1;
            if aggregation.done {
                Arrival::Late
            } else {
                aggregation
                    .messages
                    .push(std::mem::replace(msg, Message::new_empty()));
                if self.complete(aggregation.messages.len(), scope.total) {
                    Arrival::Completes(aggregation.finish())
                } else {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    aggregation.waiting.push(tx);
                    Arrival::Waits(rx, scope.settled(), aggregation.deadline)
                }
            }
        };
        let (collected, mut settled, deadline) = match arrival {
            Arrival::Late => {
                tracing::debug!("aggregate: a message arrived after completion; it is dropped");
                return Ok(Flow::Drop);
            }
            Arrival::Completes(messages) => return self.carry(messages, pos, msg, env).await,
            Arrival::Waits(rx, settled, deadline) => (rx, settled, deadline),
        };
        scope.park(&tags);
        let woke = tokio::select! {
            _ = collected => Woke::Collected,
            _ = sleep_until(deadline) => Woke::Complete,
            _ = settled.changed() => Woke::Complete,
        };
        scope.unpark(&tags);
        let messages = match woke {
            Woke::Collected => None,
            Woke::Complete => scope
                .lock_aggregations()
                .iter_mut()
                .find(|(k, _)| *k == self.key)
                .filter(|(_, a)| !a.done)
                .map(|(_, a)| a.finish()),
        };
        match messages {
            Some(messages) => self.carry(messages, pos, msg, env).await,
            // Another copy carries the aggregate on; this one ends here.
            None => Ok(Flow::Drop),
        }
    }

    /// `correlateOn`: see [`correlated`].
    async fn mediate_correlated(
        &self,
        expression: &Expression,
        groups: &Arc<Groups>,
        msg: &mut Message,
        env: Env<'_>,
    ) -> Result<Flow, Fault> {
        let key = match expr::evaluate_string(expression, msg) {
            Ok(key) => key,
            Err(EvalError::Payload(e)) => {
                return Err(Fault::bad_request(
                    codes::PARSE_ERROR,
                    format!("cannot read the payload: {e}"),
                )
                .with_cause(e));
            }
            Err(e) => {
                return Err(Fault::internal(
                    codes::CUSTOM,
                    format!(
                        "aggregate: cannot evaluate correlateOn {}: {e}",
                        expression.source()
                    ),
                ));
            }
        };
        let rule = Rule {
            min: self.min,
            max: self.max,
            timeout: self.timeout,
        };
        let taken = std::mem::replace(msg, Message::new_empty());
        let messages = match groups.arrive(key, taken, &rule, &self.open)? {
            correlated::Arrival::Completes(messages) => messages,
            correlated::Arrival::Waits(waiting) => match waiting.wait().await {
                Some(messages) => messages,
                // Another flow carries the group, this message in it.
                None => return Ok(Flow::Drop),
            },
        };
        let splits = messages.first().map_or(0, |m| m.splits().len());
        self.carry(messages, splits, msg, env).await
    }

    /// Builds the aggregated message into `msg` and runs `onComplete` on it; the flow goes
    /// on after the aggregate.
    async fn carry(
        &self,
        messages: Vec<Message>,
        pos: usize,
        msg: &mut Message,
        env: Env<'_>,
    ) -> Result<Flow, Fault> {
        let mut messages = messages.into_iter();
        let Some(mut first) = messages.next() else {
            return Ok(Flow::Drop);
        };
        let rest: Vec<Message> = messages.collect();
        if let Expression::XPath(_) = self.expression {
            let mut root = self.enclosing_element(&first)?;
            for m in std::iter::once(&first).chain(rest.iter()) {
                root.children.extend(self.xml_part(m)?);
            }
            first.set_xml(root);
        } else {
            let mut values = Vec::with_capacity(rest.len() + 1);
            for m in std::iter::once(&first).chain(rest.iter()) {
                values.push(eval(&self.expression, m)?);
            }
            let array = Value::Array(values);
            let result = match &self.enclosing {
                Some(_) => {
                    let name = self.enclosing_element(&first)?.name.local;
                    Value::Object(Map::from_iter([(name, array)]))
                }
                None => array,
            };
            first.set_json(result);
        }
        drop(rest);
        // The joined message is no copy of this split (nor of splits inside it) any more.
        first.truncate_splits(pos);
        *msg = first;
        sequence::run(&self.on_complete, msg, env).await
    }

    /// The element named by `enclosingElementProperty` (an XML property, as MI requires).
    fn enclosing_element(&self, msg: &Message) -> Result<Element, Fault> {
        let Some(name) = &self.enclosing else {
            return Err(Fault::internal(
                codes::CUSTOM,
                "aggregate: an XPath aggregation needs enclosingElementProperty",
            ));
        };
        let text = match msg.property(PropertyScope::Default, name) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => {
                return Err(Fault::internal(
                    codes::CUSTOM,
                    format!("aggregate: the enclosing element property {name} is not set"),
                ));
            }
        };
        xml::parse(text.as_bytes()).map_err(|e| {
            Fault::internal(
                codes::CUSTOM,
                format!(
                    "aggregate: the enclosing element property {name} holds no XML element: {e}"
                ),
            )
        })
    }

    /// The elements a message contributes to an XML aggregation.
    fn xml_part(&self, msg: &Message) -> Result<Vec<Node>, Fault> {
        match expr::evaluate_xml(&self.expression, msg) {
            Ok(XPathValue::Nodes { nodes, .. }) => Ok(nodes),
            Ok(XPathValue::String(s)) => Ok(vec![Node::Text(s)]),
            Ok(other) => Ok(vec![Node::Text(other.into_string())]),
            Err(EvalError::Payload(e)) => Err(Fault::bad_request(
                codes::PARSE_ERROR,
                format!("cannot read the payload: {e}"),
            )
            .with_cause(e)),
            Err(e) => Err(Fault::internal(
                codes::CUSTOM,
                format!(
                    "aggregate: cannot evaluate {}: {e}",
                    self.expression.source()
                ),
            )),
        }
    }
}

/// Sleeps until `deadline`; never wakes without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
