//! `scatterGather` (MI 4.4): runs each sequence on a copy of the message — concurrently
//! unless `parallelExecution: false` — and gathers what each brings into one result: a JSON
//! array, or an XML element, in the payload or a variable. The flow then goes on with the
//! original message.
//!
//! A sequence that faults is logged and leaves a gap: the others' results are kept. Only
//! when no result is kept and some sequence failed is the first fault the mediator's.
//! Gathering completes when every sequence has ended, or `minMessages`/`maxMessages`
//! results are kept, or at `timeout` with what arrived; sequences still running then are
//! cancelled. The results keep the order of the sequences (MI gathers in arrival order;
//! a fixed order is what a client can rely on).

use std::time::Duration;

use ferry_api::check::mediator::{self as checked, GatherTarget};
use ferry_api::expr::Expression;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;

use super::BuildCx;
use super::Mediator;
use super::iterate::parse_fault;
use crate::expr::value::{eval, eval_bool};
use crate::expr::{self, EvalError, XPathValue};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow};
use crate::xml::{self, Element, Node, QName};

/// A `scatterGather` mediator.
pub struct ScatterGather {
    parallel: bool,
    target: GatherTarget,
    xml_root: Option<String>,
    expression: Expression,
    condition: Option<Expression>,
    timeout: Option<Duration>,
    min: Option<usize>,
    max: Option<usize>,
    sequences: Vec<Vec<Mediator>>,
}

/// What one sequence brought.
enum Part {
    Json(Value),
    Xml(Vec<Node>),
}

impl ScatterGather {
    /// Builds the sequences.
    pub fn build(c: &checked::ScatterGather, cx: &mut BuildCx<'_>) -> Self {
        ScatterGather {
            parallel: c.parallel,
            target: c.target.clone(),
            xml_root: c.xml_root.clone(),
            expression: c.expression.clone(),
            condition: c.condition.clone(),
            timeout: c.timeout,
            min: c.min,
            max: c.max,
            sequences: c
                .sequences
                .iter()
                .map(|s| super::build_list(s, cx))
                .collect(),
        }
    }

    /// The sequences, for load-time analysis.
    pub fn sequences(&self) -> impl Iterator<Item = &Vec<Mediator>> {
        self.sequences.iter()
    }

    fn complete(&self, kept: usize) -> bool {
        self.min.is_some_and(|min| kept >= min) || self.max.is_some_and(|max| kept >= max)
    }

    /// Scatters, gathers, and puts the result in place; the flow goes on.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        // A sequence runs on its copy only: nothing after the scatterGather.
        let env = Env { cont: None, ..env };
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let copies: Vec<Message> = self
            .sequences
            .iter()
            .map(|_| msg.copy_with(msg.payload().copy_light()))
            .collect();
        let mut parts: Vec<Option<Part>> = (0..copies.len()).map(|_| None).collect();
        let mut kept = 0;
        let mut first_fault: Option<Fault> = None;
        let mut runs = copies.into_iter().zip(&self.sequences).enumerate().map(
            |(i, (mut copy, seq))| async move {
                let result = sequence::run(seq, &mut copy, env).await;
                (i, result, copy)
            },
        );
        let mut running = FuturesUnordered::new();
        if self.parallel {
            running.extend(runs.by_ref());
        }
        loop {
            if running.is_empty() {
                match runs.next() {
                    Some(run) => running.push(run),
                    None => break,
                }
            }
            let finished = tokio::select! {
                done = running.next() => done,
                () = sleep_until(deadline) => {
                    tracing::debug!("scatterGather: the timeout passed; gathering what arrived");
                    break;
                }
            };
            let Some((i, result, copy)) = finished else {
                break;
            };
            match result.and_then(|_| self.part(&copy)) {
                Ok(Some(part)) => {
                    parts[i] = Some(part);
                    kept += 1;
                    if self.complete(kept) {
                        break;
                    }
                }
                Ok(None) => {}
                Err(fault) => {
                    tracing::warn!(sequence = i, error = %fault.chain(), "a scatterGather sequence failed");
                    first_fault.get_or_insert(fault);
                }
            }
        }
        drop(running);
        if kept == 0
            && let Some(fault) = first_fault
        {
            return Err(fault);
        }
        self.put(msg, parts.into_iter().flatten())?;
        Ok(Flow::Continue)
    }

    /// What a sequence's message contributes, or `None` when `condition` does not hold.
    fn part(&self, copy: &Message) -> Result<Option<Part>, Fault> {
        if let Some(condition) = &self.condition
            && !eval_bool(condition, copy)?
        {
            return Ok(None);
        }
        if self.xml_root.is_none() {
            return Ok(Some(Part::Json(eval(&self.expression, copy)?)));
        }
        let nodes = match expr::evaluate_xml(&self.expression, copy) {
            Ok(XPathValue::Nodes { nodes, .. }) => nodes,
            Ok(XPathValue::String(s)) => match xml::parse(s.as_bytes()) {
                Ok(element) => vec![Node::Element(Box::new(element))],
                Err(_) => vec![Node::Text(s)],
            },
            Ok(other) => vec![Node::Text(other.into_string())],
            Err(EvalError::Payload(e)) => return Err(parse_fault(e)),
            Err(e) => {
                return Err(Fault::internal(
                    codes::CUSTOM,
                    format!(
                        "scatterGather: cannot evaluate {}: {e}",
                        self.expression.source()
                    ),
                ));
            }
        };
        Ok(Some(Part::Xml(nodes)))
    }

    /// Builds the result from the kept parts (in sequence order) and puts it in place.
    fn put(&self, msg: &mut Message, parts: impl Iterator<Item = Part>) -> Result<(), Fault> {
        match &self.xml_root {
            None => {
                let values: Vec<Value> = parts
                    .filter_map(|p| match p {
                        Part::Json(v) => Some(v),
                        Part::Xml(_) => None,
                    })
                    .collect();
                match &self.target {
                    GatherTarget::Body => msg.set_json(Value::Array(values)),
                    GatherTarget::Variable(name) => {
                        msg.set_variable(name.clone(), Value::Array(values))
                    }
                }
            }
            Some(root) => {
                let mut element = Element {
                    name: QName {
                        prefix: None,
                        local: root.clone(),
                        namespace: None,
                    },
                    attributes: Vec::new(),
                    namespaces: Vec::new(),
                    children: Vec::new(),
                };
                for part in parts {
                    if let Part::Xml(nodes) = part {
                        element.children.extend(nodes);
                    }
                }
                match &self.target {
                    GatherTarget::Body => msg.set_xml(element),
                    GatherTarget::Variable(name) => {
                        msg.set_variable(name.clone(), Value::String(element.to_xml_string()))
                    }
                }
            }
        }
        Ok(())
    }
}

/// Sleeps until `deadline`; never wakes without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
