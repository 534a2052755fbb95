//! `foreach`: runs a sequence on each item of a JSON array and gathers the results, without
//! splitting the flow (MI 4.4's `<foreach collection>`, and the legacy `<foreach
//! expression>`). Each iteration works on a copy of the message whose payload is the item;
//! what its payload is when the sequence ends is its result. The results, in item order,
//! replace the collection (in the payload or a variable) or go to a result variable; the
//! flow then goes on with the original message. Variables and properties set inside an
//! iteration stay there.
//!
//! The items are moved out of the collection, not copied, when the results replace it.

use ferry_api::check::mediator::{self as checked, CollectionPlace, ForeachResult};
use ferry_api::expr::Expression;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;

use super::BuildCx;
use super::Mediator;
use super::iterate::{find_mut, kind, parse_fault};
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// A `foreach` mediator.
pub struct Foreach {
    collection: Expression,
    parallel: bool,
    result: ForeachResult,
    counter_variable: Option<String>,
    counter_property: Option<String>,
    sequence: Vec<Mediator>,
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
            sequence: super::build_list(&c.sequence, cx),
        }
    }

    /// The sequence, for load-time analysis.
    pub fn sequence(&self) -> &[Mediator] {
        &self.sequence
    }

    /// Runs the iterations and writes the results; the flow goes on.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let items = match &self.result {
            ForeachResult::InPlace(place) => self.take_collection(msg, place)?,
            ForeachResult::Variable(_) => match eval(&self.collection, msg)? {
                Value::Array(items) => items,
                other => return Err(self.not_an_array(&other)),
            },
        };
        let template = msg.copy_with(msg.payload().empty_like());
        // An iteration runs its sequence only: nothing after the foreach.
        let env = Env { cont: None, ..env };
        let total = items.len();
        let mut results = vec![Value::Null; total];
        // The copies are made before any runs (a message is not shared across an await);
        // each holds its item, moved out of the collection.
        let copies: Vec<Message> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut copy = template.copy_with(template.payload().empty_like());
                copy.set_json(item);
                if let Some(p) = &self.counter_property {
                    copy.set_property(PropertyScope::Default, p, Value::from(i));
                }
                if let Some(v) = &self.counter_variable {
                    copy.set_variable(v.clone(), Value::from(i));
                }
                copy
            })
            .collect();
        drop(template);
        let iterations = copies
            .into_iter()
            .enumerate()
            .map(|(i, copy)| self.iteration(i, copy, env));
        let outcome = if self.parallel {
            let mut running: FuturesUnordered<_> = iterations.collect();
            let mut outcome = Ok(());
            while let Some((i, result)) = running.next().await {
                match result {
                    Ok(value) => results[i] = value,
                    Err(fault) => {
                        outcome = Err(fault);
                        break;
                    }
                }
            }
            outcome
        } else {
            let mut outcome = Ok(());
            for iteration in iterations {
                let (i, result) = iteration.await;
                match result {
                    Ok(value) => results[i] = value,
                    Err(fault) => {
                        outcome = Err(fault);
                        break;
                    }
                }
            }
            outcome
        };
        outcome?;
        let results = Value::Array(results);
        match &self.result {
            ForeachResult::InPlace(place) => self.put_collection(msg, place, results)?,
            ForeachResult::Variable(name) => msg.set_variable(name.clone(), results),
        }
        Ok(Flow::Continue)
    }

    /// Runs one iteration: its index and its result (the payload the sequence leaves).
    async fn iteration(
        &self,
        i: usize,
        mut copy: Message,
        env: Env<'_>,
    ) -> (usize, Result<Value, Fault>) {
        let result = match sequence::run(&self.sequence, &mut copy, env).await {
            Ok(Flow::Continue | Flow::End) => match copy.payload_json() {
                Ok(Some(v)) => Ok(v.clone()),
                Ok(None) => Ok(Value::Null),
                Err(e) => Err(parse_fault(e)),
            },
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
