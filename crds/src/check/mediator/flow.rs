//! Checks of the mediators that steer the flow: `filter`, `switch`, `sequence`, `store`.

use super::{Mediator, check_list};
use crate::check::cx::Cx;
use crate::expr::{Expression, Template};
use crate::mediator::{FilterSpec, SequenceRefSpec, StoreSpec, SwitchSpec};

/// A checked `filter`.
#[derive(Debug, Clone)]
pub struct Filter {
    /// When `then` runs.
    pub condition: FilterCondition,
    /// Runs when the condition holds.
    pub then: Vec<Mediator>,
    /// Runs otherwise.
    pub otherwise: Vec<Mediator>,
}

/// The filter's condition.
#[derive(Debug, Clone)]
pub enum FilterCondition {
    /// `source` fully matches the regex.
    Matches(Expression, regex::Regex),
    /// A boolean expression (`expression` or `xpath`).
    Holds(Expression),
}

/// A regex that must match the whole value (`Matcher.matches()` in Synapse).
fn whole_match_regex(cx: &mut Cx<'_>, field: &str, src: &str) -> Option<regex::Regex> {
    // Parse the pattern as written first, so an error names what the user wrote.
    cx.regex(field, src)?;
    cx.regex(field, &format!("^(?:{src})$"))
}

/// Exactly one of `source`+`regex`, `xpath` or `expression`; both branches are checked
/// whatever the condition's fate, so every error is reported.
pub(super) fn filter(cx: &mut Cx<'_>, field: &str, spec: &FilterSpec) -> Option<Filter> {
    let condition = match (&spec.source, &spec.regex, &spec.xpath, &spec.expression) {
        (Some(source), Some(regex), None, None) => {
            let source = cx.expression(&format!("{field}.source"), source);
            let regex = whole_match_regex(cx, &format!("{field}.regex"), regex);
            source
                .zip(regex)
                .map(|(s, r)| FilterCondition::Matches(s, r))
        }
        (None, None, Some(x), None) => cx
            .expression(&format!("{field}.xpath"), x)
            .map(FilterCondition::Holds),
        (None, None, None, Some(e)) => cx
            .expression(&format!("{field}.expression"), e)
            .map(FilterCondition::Holds),
        _ => {
            cx.error(
                field,
                "set either source and regex, or xpath, or expression (exactly one form)",
            );
            None
        }
    };
    let then = check_list(cx, &format!("{field}.then"), &spec.then);
    let otherwise = check_list(cx, &format!("{field}.else"), &spec.else_);
    Some(Filter {
        condition: condition?,
        then: then?,
        otherwise: otherwise?,
    })
}

/// A checked `switch`.
#[derive(Debug, Clone)]
pub struct Switch {
    /// Evaluated once per message.
    pub source: Expression,
    /// Whole-value regexes with their sequences, in order.
    pub cases: Vec<(regex::Regex, Vec<Mediator>)>,
    /// Runs when no case matches.
    pub default: Vec<Mediator>,
}

pub(super) fn switch(cx: &mut Cx<'_>, field: &str, spec: &SwitchSpec) -> Option<Switch> {
    let source = cx.expression(&format!("{field}.source"), &spec.source);
    let mut cases = Vec::with_capacity(spec.cases.len());
    let mut ok = true;
    for (i, case) in spec.cases.iter().enumerate() {
        let f = format!("{field}.cases[{i}]");
        let re = whole_match_regex(cx, &format!("{f}.regex"), &case.regex);
        let body = check_list(cx, &format!("{f}.sequence"), &case.sequence);
        match re.zip(body) {
            Some(case) => cases.push(case),
            None => ok = false,
        }
    }
    let default = check_list(cx, &format!("{field}.default"), &spec.default);
    ok.then_some(())?;
    Some(Switch {
        source: source?,
        cases,
        default: default?,
    })
}

/// A checked `sequence` mediator.
#[derive(Debug, Clone)]
pub enum SequenceRef {
    /// A named Sequence that exists.
    Named(String),
    /// A sequence named by an expression, resolved per message.
    Dynamic(Expression),
}

/// Exactly one of `key` and `keyExpression`.
pub(super) fn sequence(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &SequenceRefSpec,
) -> Option<SequenceRef> {
    match (&spec.key, &spec.key_expression) {
        (Some(key), None) => cx
            .sequence_ref(&format!("{field}.key"), key)
            .map(SequenceRef::Named),
        (None, Some(e)) => cx
            .expression(&format!("{field}.keyExpression"), e)
            .map(SequenceRef::Dynamic),
        _ => {
            cx.error(field, "set either key or keyExpression");
            None
        }
    }
}

/// A checked `store`.
#[derive(Debug, Clone)]
pub struct Store {
    /// Which store.
    pub target: StoreTarget,
    /// A named Sequence run on the message before it is stored.
    pub sequence: Option<String>,
}

/// Which store a `store` mediator puts messages into.
#[derive(Debug, Clone)]
pub enum StoreTarget {
    /// A MessageStore that exists.
    Named(String),
    /// `{${expr}}`: a store name computed per message.
    Expr(Template),
}

pub(super) fn store(cx: &mut Cx<'_>, field: &str, spec: &StoreSpec) -> Option<Store> {
    let src = spec.message_store.trim();
    let sf = format!("{field}.messageStore");
    let target = match src.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(inner) if inner.starts_with("${") => cx.template(&sf, inner).map(StoreTarget::Expr),
        _ if src.is_empty() => {
            cx.error(&sf, "must name a message store");
            None
        }
        _ => cx
            .reference(&sf, "MessageStore", src)
            .then(|| StoreTarget::Named(src.to_string())),
    };
    let sequence = match &spec.sequence {
        Some(name) => cx
            .sequence_ref(&format!("{field}.sequence"), name)
            .map(Some),
        None => Some(None),
    };
    Some(Store {
        target: target?,
        sequence: sequence?,
    })
}
