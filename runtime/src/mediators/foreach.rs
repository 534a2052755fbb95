//! `foreach`: runs a sequence on each item of a JSON array and gathers the results, without
//! splitting the flow (MI 4.4's `<foreach collection>`, and the legacy `<foreach
//! expression>`). Each iteration works on a copy of the message whose payload is the item;
//! what its payload is when the sequence ends is its result. The results, in item order,
//! replace the collection (in the payload or a variable) or go to a result variable; the
//! flow then goes on with the original message. Variables and properties set inside an
//! iteration stay there.
//!
//! The items are moved out of the collection, not copied, when the results replace it.
//! The legacy form's XPath works the same on XML: each selected element is taken out of
//! the payload into its iteration, and its result goes back where it was.

use std::sync::Arc;

use ferry_api::check::mediator::{self as checked, CollectionPlace, ForeachResult};
use ferry_api::expr::Expression;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;

use super::BuildCx;
use super::Mediator;
use super::iterate::{find_mut, kind, parse_fault};
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::expr::{self, EvalError, Leave, Taken};
use crate::fault::{Fault, codes};
use crate::message::{Message, soap};
use crate::sequence::{self, Env, Flow};
use crate::xml::Element;

/// A `foreach` mediator.
pub struct Foreach {
    collection: Expression,
    parallel: bool,
    result: ForeachResult,
    counter_variable: Option<String>,
    counter_property: Option<String>,
    /// Shared with the iterations of a `continueWithoutAggregation` loop, which outlive
    /// the flow that started them.
    sequence: Arc<[Mediator]>,
    detached: bool,
}

impl Foreach {
    /// Builds the sequence.
    pub fn build(c: &checked::Foreach, cx: &mut BuildCx<'_>) -> Self {
        Foreach {
            collection: c.collection.clone(),
            parallel: c.parallel,
            result: c.result.clone(),
            counter_variable: c.counter_variable.clone(),
            counter_property: c.counter_property.clone(),
            sequence: super::build_list(&c.sequence, cx).into(),
            detached: c.detached,
        }
    }

    /// The sequence, for load-time analysis.
    pub fn sequence(&self) -> &[Mediator] {
        &self.sequence
    }

    /// Runs the iterations and writes the results; the flow goes on.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let items = match &self.result {
            ForeachResult::InPlace(CollectionPlace::Elements) => {
                return self.mediate_elements(msg, env).await;
            }
            ForeachResult::InPlace(place) => self.take_collection(msg, place)?,
            ForeachResult::Variable(_)
            | ForeachResult::XmlVariable(_)
            | ForeachResult::Discarded => match eval(&self.collection, msg)? {
                Value::Array(items) => items,
                other => return Err(self.not_an_array(&other)),
            },
        };
        let copies = self.copies(msg, items, Message::set_json);
        if self.detached {
            self.run_detached(copies, env);
            return Ok(Flow::Continue);
        }
        let done = self.run_all(copies, env).await?;
        match &self.result {
            ForeachResult::XmlVariable(name) => {
                let value = xml_results(name, &done)?;
                msg.set_variable(name.clone(), value);
                return Ok(Flow::Continue);
            }
            ForeachResult::Discarded => return Ok(Flow::Continue),
            _ => {}
        }
        let mut results = Vec::with_capacity(done.len());
        for copy in done {
            results.push(match copy.payload_json() {
                Ok(Some(v)) => v.clone(),
                Ok(None) => Value::Null,
                Err(e) => return Err(parse_fault(e)),
            });
        }
        let results = Value::Array(results);
        match &self.result {
            ForeachResult::InPlace(place) => self.put_collection(msg, place, results)?,
            ForeachResult::Variable(name) => msg.set_variable(name.clone(), results),
            ForeachResult::XmlVariable(_) | ForeachResult::Discarded => {}
        }
        Ok(Flow::Continue)
    }

    /// `continueWithoutAggregation`: the iterations run in a task of their own (one after
    /// the other unless `parallel`), holding the configuration they started on; the flow
    /// does not wait for them. A fault or an early end of an iteration is logged.
    fn run_detached(&self, copies: Vec<Message>, env: Env<'_>) {
        let compiled = Arc::clone(env.compiled);
        let sequence = Arc::clone(&self.sequence);
        let parallel = self.parallel;
        let depth = env.depth;
        tokio::spawn(async move {
            let env = Env {
                depth,
                ..Env::new(&compiled)
            };
            let run = |i: usize, mut copy: Message| {
                let sequence = &sequence;
                async move {
                    if let Err(fault) = sequence::run(sequence, &mut copy, env).await {
                        tracing::warn!(
                            iteration = i,
                            error = %fault.chain(),
                            "foreach: an iteration that nothing waits for (continueWithoutAggregation) failed"
                        );
                    }
                }
            };
            if parallel {
                let mut running: FuturesUnordered<_> = copies
                    .into_iter()
                    .enumerate()
                    .map(|(i, copy)| run(i, copy))
                    .collect();
                while running.next().await.is_some() {}
            } else {
                for (i, copy) in copies.into_iter().enumerate() {
                    run(i, copy).await;
                }
            }
        });
    }

    /// The legacy form's XPath: each selected element goes through the sequence and its
    /// result (the copy's XML payload) takes its place.
    async fn mediate_elements(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let Expression::XPath(x) = &self.collection else {
            return Err(Fault::internal(
                codes::CUSTOM,
                "foreach: an element collection needs an XPath (the checker ensures it, so this is a bug)",
            ));
        };
        let Taken { mut rest, elements } =
            expr::take_selected(x, Leave::InPlace, msg).map_err(|e| match e {
                EvalError::Payload(e) => parse_fault(e),
                e => Fault::internal(
                    codes::CUSTOM,
                    format!("foreach: cannot iterate over {}: {e}", x.source),
                ),
            })?;
        let total = elements.len();
        let copies = self.copies(msg, elements, Message::set_xml);
        let mut results = Vec::with_capacity(total);
        for (i, copy) in self.run_all(copies, env).await?.into_iter().enumerate() {
            match copy.payload_xml() {
                Ok(Some(e)) => results.push(Some(e.clone())),
                Ok(None) => {
                    return Err(Fault::internal(
                        codes::CUSTOM,
                        format!("foreach: iteration {i} left no XML element to put back"),
                    ));
                }
                Err(e) => return Err(parse_fault(e)),
            }
        }
        let filled = Taken::fill(&mut rest, &mut |n| {
            results.get_mut(n).and_then(Option::take)
        });
        if filled != total {
            return Err(Fault::internal(
                codes::CUSTOM,
                format!(
                    "foreach: {} selects elements inside other selected elements, whose results would be lost",
                    x.source
                ),
            ));
        }
        msg.set_xml(rest);
        Ok(Flow::Continue)
    }

    /// One copy of the message per item, holding that item as its payload, with the
    /// counters set. The copies are made before any runs (a message is not shared across
    /// an await).
    fn copies<T>(&self, msg: &Message, items: Vec<T>, set: fn(&mut Message, T)) -> Vec<Message> {
        let template = msg.copy_with(msg.payload().empty_like());
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut copy = template.copy_with(template.payload().empty_like());
                set(&mut copy, item);
                if let Some(p) = &self.counter_property {
                    copy.set_property(PropertyScope::Default, p, Value::from(i));
                }
                if let Some(v) = &self.counter_variable {
                    copy.set_variable(v.clone(), Value::from(i));
                }
                copy
            })
            .collect()
    }

    /// Runs every copy through the sequence, concurrently when `parallel`; the copies as
    /// their sequences left them, in item order, or the first fault.
    async fn run_all(&self, copies: Vec<Message>, env: Env<'_>) -> Result<Vec<Message>, Fault> {
        // An iteration runs its sequence only: nothing after the foreach.
        let env = Env { cont: None, ..env };
        let total = copies.len();
        let iterations = copies
            .into_iter()
            .enumerate()
            .map(|(i, copy)| self.iteration(i, copy, env));
        let mut done: Vec<Option<Message>> = (0..total).map(|_| None).collect();
        if self.parallel {
            let mut running: FuturesUnordered<_> = iterations.collect();
            while let Some((i, result)) = running.next().await {
                done[i] = Some(result?);
            }
        } else {
            for iteration in iterations {
                let (i, result) = iteration.await;
                done[i] = Some(result?);
            }
        }
        Ok(done.into_iter().flatten().collect())
    }

    /// Runs one iteration: its index and its copy as the sequence left it.
    async fn iteration(
        &self,
        i: usize,
        mut copy: Message,
        env: Env<'_>,
    ) -> (usize, Result<Message, Fault>) {
        let result = match sequence::run(&self.sequence, &mut copy, env).await {
            Ok(Flow::Continue | Flow::End) => Ok(copy),
            Ok(Flow::Respond | Flow::Drop) => Err(Fault::internal(
                codes::CUSTOM,
                format!(
                    "foreach: iteration {i} ended the flow (respond, drop, send or loopback); an iteration must come back with its result"
                ),
            )),
            Err(fault) => Err(fault),
        };
        (i, result)
    }

    fn not_an_array(&self, found: &Value) -> Fault {
        Fault::internal(
            codes::CUSTOM,
            format!(
                "foreach: {} did not resolve to an array (found {})",
                self.collection.source(),
                kind(found)
            ),
        )
    }

    /// Moves the collection's items out of the payload or the variable.
    fn take_collection(
        &self,
        msg: &mut Message,
        place: &CollectionPlace,
    ) -> Result<Vec<Value>, Fault> {
        let slot = match place {
            CollectionPlace::Payload(steps) => {
                let body = msg.payload_mut().json_mut().map_err(parse_fault)?;
                body.and_then(|b| find_mut(b, steps))
            }
            CollectionPlace::Variable(name, steps) => {
                msg.variable_mut(name).and_then(|v| find_mut(v, steps))
            }
            CollectionPlace::Elements => None,
        };
        match slot {
            Some(Value::Array(items)) => Ok(std::mem::take(items)),
            Some(other) => Err(self.not_an_array(other)),
            None => Err(self.not_an_array(&Value::Null)),
        }
    }

    /// Puts the results where the collection was.
    fn put_collection(
        &self,
        msg: &mut Message,
        place: &CollectionPlace,
        results: Value,
    ) -> Result<(), Fault> {
        let slot = match place {
            CollectionPlace::Payload(steps) => {
                let body = msg.payload_mut().json_mut().map_err(parse_fault)?;
                body.and_then(|b| find_mut(b, steps))
            }
            CollectionPlace::Variable(name, steps) => {
                msg.variable_mut(name).and_then(|v| find_mut(v, steps))
            }
            CollectionPlace::Elements => None,
        };
        match slot {
            Some(slot) => {
                *slot = results;
                Ok(())
            }
            None => Err(Fault::internal(
                codes::CUSTOM,
                "foreach: the collection is gone (an iteration cannot remove it, so this is a bug)",
            )),
        }
    }
}

/// `resultType: XML`: an element named after the variable holding each iteration's result
/// element in order (a SOAP result's body content; a JSON result as Synapse converts it),
/// kept as XML text as XML variables are.
fn xml_results(name: &str, done: &[Message]) -> Result<Value, Fault> {
    let mut holder = Element::new(name);
    for (i, copy) in done.iter().enumerate() {
        let element = copy.payload_xml().map_err(parse_fault)?.map(|e| {
            if soap::envelope_version(e).is_some() {
                soap::body_content(e).cloned()
            } else {
                Some(e.clone())
            }
        });
        match element.flatten() {
            Some(e) => holder.push_child(e),
            None => tracing::debug!(iteration = i, "foreach: an iteration left no XML result"),
        }
    }
    Ok(Value::String(holder.to_xml_string()))
}
