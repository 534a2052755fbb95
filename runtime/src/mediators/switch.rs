//! `switch`: evaluates `source` once and runs the first case whose regex matches the whole
//! value, or `default`.

use ferry_api::check::mediator as checked;
use ferry_api::expr::Expression;
use regex::Regex;

use super::BuildCx;
use super::Mediator;
use crate::coverage::{self, Point};
use crate::expr::value::{eval, to_text};
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// A `switch` mediator.
pub struct Switch {
    source: Expression,
    cases: Vec<(Regex, Vec<Mediator>)>,
    default: Vec<Mediator>,
    /// Coverage of each case, then of the default.
    hits: Vec<Point>,
}

impl Switch {
    /// The case sequences and the default.
    pub fn branches(&self) -> impl Iterator<Item = &Vec<Mediator>> {
        self.cases
            .iter()
            .map(|(_, mediators)| mediators)
            .chain(std::iter::once(&self.default))
    }

    /// The case sequences and the default, for load-time analysis.
    pub fn branches_mut(&mut self) -> impl Iterator<Item = &mut Vec<Mediator>> {
        self.cases
            .iter_mut()
            .map(|(_, mediators)| mediators)
            .chain(std::iter::once(&mut self.default))
    }

    /// Builds the mediator and its branches.
    pub fn build(c: &checked::Switch, cx: &mut BuildCx<'_>) -> Self {
        let number = cx.next_branching();
        let owner = cx.resource().to_string();
        let hits = c
            .cases
            .iter()
            .map(|(re, _)| {
                coverage::point(coverage::Kind::Branch, &owner, || {
                    // The checker anchors a case's regex: show it as written.
                    let written = re.as_str();
                    let written = written
                        .strip_prefix("^(?:")
                        .and_then(|r| r.strip_suffix(")$"))
                        .unwrap_or(written);
                    format!("switch #{number} case {written:?}")
                })
            })
            .chain(std::iter::once(coverage::point(
                coverage::Kind::Branch,
                &owner,
                || format!("switch #{number} default"),
            )))
            .collect();
        Switch {
            hits,
            source: c.source.clone(),
            cases: c
                .cases
                .iter()
                .map(|(re, body)| (re.clone(), super::build_list(body, cx)))
                .collect(),
            default: super::build_list(&c.default, cx),
        }
    }

    /// Runs the matching case.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let value = to_text(&eval(&self.source, msg)?);
        let found = self.cases.iter().position(|(re, _)| re.is_match(&value));
        let index = found.unwrap_or(self.cases.len());
        if let Some(point) = self.hits.get(index) {
            point.hit();
        }
        let branch = found
            .and_then(|i| self.cases.get(i))
            .map(|(_, body)| body)
            .unwrap_or(&self.default);
        sequence::run(branch, msg, env).await
    }
}
