//! `filter`: runs `then` when the condition holds and `else` otherwise. The condition is
//! either `source` matched against `regex` (the whole value must match, as in Synapse) or a
//! boolean `expression` / `xpath`.

use ferry_api::check::mediator::{self as checked, FilterCondition};

use super::BuildCx;
use super::Mediator;
use crate::coverage::{self, Point};
use crate::expr::value::{eval, eval_bool, to_text};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// Evaluates a filter's condition for a message.
pub fn test(condition: &FilterCondition, msg: &Message) -> Result<bool, Fault> {
    match condition {
        FilterCondition::Matches(source, re) => Ok(re.is_match(&to_text(&eval(source, msg)?))),
        FilterCondition::Holds(expr) => eval_bool(expr, msg),
    }
}

/// A `filter` mediator.
pub struct Filter {
    condition: FilterCondition,
    then: Vec<Mediator>,
    otherwise: Vec<Mediator>,
    /// Coverage of `then` and `else`.
    hits: [Point; 2],
}

impl Filter {
    /// The `then` and `else` sequences.
    pub fn branches(&self) -> impl Iterator<Item = &Vec<Mediator>> {
        [&self.then, &self.otherwise].into_iter()
    }

    /// The `then` and `else` sequences, for load-time analysis.
    pub fn branches_mut(&mut self) -> impl Iterator<Item = &mut Vec<Mediator>> {
        [&mut self.then, &mut self.otherwise].into_iter()
    }

    /// Builds the mediator and its branches.
    pub fn build(c: &checked::Filter, cx: &mut BuildCx<'_>) -> Self {
        let number = cx.next_branching();
        let owner = cx.resource().to_string();
        let hits = ["then", "else"].map(|branch| {
            coverage::point(coverage::Kind::Branch, &owner, || {
                format!("filter #{number} {branch}")
            })
        });
        Filter {
            hits,
            condition: c.condition.clone(),
            then: super::build_list(&c.then, cx),
            otherwise: super::build_list(&c.otherwise, cx),
        }
    }

    /// Runs the branch the condition picks.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let branch = if test(&self.condition, msg)? {
            self.hits[0].hit();
            &self.then
        } else {
            self.hits[1].hit();
            &self.otherwise
        };
        sequence::run(branch, msg, env).await
    }
}
