//! `switch`: evaluates `source` once and runs the first case whose regex matches the whole
//! value, or `default`.

use ferry_api::expr::Expression;
use ferry_api::mediator::SwitchSpec;
use regex::Regex;

use super::Mediator;
use super::filter::whole_match_regex;
use super::value::{eval, to_text};
use crate::compile::CompileCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{self, Env, Flow};

/// A compiled `switch` mediator.
pub struct Switch {
    source: Expression,
    cases: Vec<(Regex, Vec<Mediator>)>,
    default: Vec<Mediator>,
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

    /// Compiles the spec.
    pub fn compile(spec: &SwitchSpec, cx: &mut CompileCx<'_>, field: &str) -> Option<Self> {
        let source = cx.expression(&format!("{field}.source"), &spec.source);
        let mut cases = Vec::with_capacity(spec.cases.len());
        let mut ok = true;
        for (i, case) in spec.cases.iter().enumerate() {
            let f = format!("{field}.cases[{i}]");
            let re = whole_match_regex(cx, &format!("{f}.regex"), &case.regex);
            let body = cx.sequence(&format!("{f}.sequence"), &case.sequence);
            match re {
                Some(re) => cases.push((re, body)),
                None => ok = false,
            }
        }
        let default = cx.sequence(&format!("{field}.default"), &spec.default);
        Some(Switch {
            source: source.filter(|_| ok)?,
            cases,
            default,
        })
    }

    /// Runs the matching case.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let value = to_text(&eval(&self.source, msg)?);
        let branch = self
            .cases
            .iter()
            .find(|(re, _)| re.is_match(&value))
            .map(|(_, body)| body)
            .unwrap_or(&self.default);
        sequence::run(branch, msg, env).await
    }
}
