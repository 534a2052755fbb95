//! `filter`: runs `then` when the condition holds and `else` otherwise. The condition is
//! either `source` matched against `regex` (the whole value must match, as in Synapse) or a
//! boolean `expression` / `xpath`.

use ferry_api::expr::Expression;
use ferry_api::mediator::FilterSpec;
use regex::Regex;

use super::Mediator;
use super::value::{eval, eval_bool, to_text};
use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// The filter's condition.
pub enum Condition {
    /// `source` fully matches `regex`.
    Matches(Expression, Regex),
    /// A boolean expression.
    Holds(Expression),
}

impl Condition {
    /// Evaluates the condition for a message.
    pub fn test(&self, msg: &Message) -> Result<bool, Fault> {
        match self {
            Condition::Matches(source, re) => Ok(re.is_match(&to_text(&eval(source, msg)?))),
            Condition::Holds(expr) => eval_bool(expr, msg),
        }
    }
}

/// Builds a regex that must match the whole value (`Matcher.matches()` in Synapse).
pub fn whole_match_regex(cx: &mut CompileCx<'_>, field: &str, src: &str) -> Option<Regex> {
    cx.regex(field, &format!("^(?:{src})$"))
}

/// A compiled `filter` mediator.
pub struct Filter {
    condition: Condition,
    then: Vec<Mediator>,
    otherwise: Vec<Mediator>,
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

    /// Compiles the spec: exactly one of `source`+`regex`, `xpath` or `expression`.
    pub fn compile(spec: &FilterSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let condition = match (&spec.source, &spec.regex, &spec.xpath, &spec.expression) {
            (Some(source), Some(regex), None, None) => Condition::Matches(
                cx.expression(&format!("{field}.source"), source)?,
                whole_match_regex(cx, &format!("{field}.regex"), regex)?,
            ),
            (None, None, Some(x), None) => {
                Condition::Holds(cx.expression(&format!("{field}.xpath"), x)?)
            }
            (None, None, None, Some(e)) => {
                Condition::Holds(cx.expression(&format!("{field}.expression"), e)?)
            }
            _ => {
                cx.error(
                    field,
                    "set either source and regex, or xpath, or expression (exactly one form)",
                );
                return None;
            }
        };
        let then = cx.sequence(&format!("{field}.then"), &spec.then);
        let otherwise = cx.sequence(&format!("{field}.else"), &spec.else_);
        Some(Filter {
            condition,
            then,
            otherwise,
        })
    }

    /// Runs the branch the condition picks.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let branch = if self.condition.test(msg)? {
            &self.then
        } else {
            &self.otherwise
        };
        sequence::run(branch, msg, env).await
    }
}
