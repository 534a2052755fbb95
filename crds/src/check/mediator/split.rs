//! Checks of the mediators that split a message and join the pieces again: `clone`,
//! `iterate`, `aggregate`, `foreach`, `scatterGather`.

use super::{Mediator, check_list};
use crate::check::cx::Cx;
use crate::check::endpoint::{self, EndpointRef};
use crate::mediator::{CloneSpec, Target as TargetSpec};

/// Where a copy made by `clone` or `iterate` goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// Mediators run on the copy first (may be empty).
    pub sequence: Vec<Mediator>,
    /// The endpoint the copy is then sent to, as by `send`.
    pub endpoint: Option<EndpointRef>,
}

/// A checked `clone`.
#[derive(Debug, Clone)]
pub struct Clone {
    /// The id an `aggregate` names to collect these copies.
    pub id: Option<String>,
    /// Copies run one after the other.
    pub sequential: bool,
    /// The original message goes on too.
    pub continue_parent: bool,
    /// One copy each.
    pub targets: Vec<Target>,
}

/// A target needs a sequence or an endpoint; `soapAction` and `to` have nothing to act on
/// in Ferry and are refused rather than ignored.
pub(super) fn target(cx: &mut Cx<'_>, field: &str, spec: &TargetSpec) -> Option<Target> {
    let mut ok = true;
    if spec.soap_action.is_some() {
        cx.error(
            &format!("{field}.soapAction"),
            "soapAction is not supported yet (Ferry has no SOAP envelope)",
        );
        ok = false;
    }
    if spec.to.is_some() {
        cx.error(
            &format!("{field}.to"),
            "to is not supported yet; send the copy to an endpoint instead",
        );
        ok = false;
    }
    if spec.sequence.is_empty() && spec.endpoint.is_none() {
        cx.error(field, "a target needs a sequence, an endpoint, or both");
        ok = false;
    }
    let sequence = check_list(cx, &format!("{field}.sequence"), &spec.sequence);
    let endpoint = match &spec.endpoint {
        Some(reference) => {
            endpoint::check_ref(cx, &format!("{field}.endpoint"), reference).map(Some)
        }
        None => Some(None),
    };
    ok.then_some(())?;
    Some(Target {
        sequence: sequence?,
        endpoint: endpoint?,
    })
}

/// An `id`, when set, must not be empty: an aggregate names it.
fn split_id(cx: &mut Cx<'_>, field: &str, id: &Option<String>) -> Option<Option<String>> {
    match id {
        Some(id) if id.trim().is_empty() => {
            cx.error(&format!("{field}.id"), "must not be empty when set");
            None
        }
        other => Some(other.clone()),
    }
}

pub(super) fn clone(cx: &mut Cx<'_>, field: &str, spec: &CloneSpec) -> Option<Clone> {
    let id = split_id(cx, field, &spec.id);
    if spec.targets.is_empty() {
        cx.error(
            &format!("{field}.targets"),
            "at least one target is required",
        );
    }
    let mut targets = Vec::with_capacity(spec.targets.len());
    let mut ok = !spec.targets.is_empty();
    for (i, t) in spec.targets.iter().enumerate() {
        match target(cx, &format!("{field}.targets[{i}]"), t) {
            Some(t) => targets.push(t),
            None => ok = false,
        }
    }
    ok.then_some(())?;
    Some(Clone {
        id: id?,
        sequential: spec.sequential,
        continue_parent: spec.continue_parent,
        targets,
    })
}
