//! Synapse's `<throttle>` to Ferry's `throttle`: the WS-Policy (inline, or from a local
//! entry of the import) read into rules and a concurrency limit, `onAccept`/`onReject` as
//! inline mediators or sequence keys. Policy parts Ferry does not count (DOMAIN callers,
//! address ranges, prohibit periods) are reported where they are written.

use serde_json::{Value, json};

use super::flow;
use crate::import::cx::{Cx, Obj, segment};
use crate::import::dom::Element;

/// The attribute `local` of `el` whatever its prefix (`throttle:type`).
fn attr_local<'e>(el: &'e Element, local: &str) -> Option<&'e str> {
    el.attrs
        .iter()
        .find(|(k, _)| k.rsplit(':').next() == Some(local))
        .map(|(_, v)| v.as_str())
}

/// What one `<throttle:ID>` policy became.
struct Rule {
    other: bool,
    value: Value,
}

/// The limits read from a policy.
#[derive(Default)]
struct Limits {
    max_concurrent: Option<u32>,
    rules: Vec<Rule>,
}

pub(super) fn throttle(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["id", "onAccept", "onReject"]);
    cx.check_children(el, &["policy", "onAccept", "onReject"]);
    let Some(id) = el.attr("id").filter(|i| !i.trim().is_empty()) else {
        cx.not_imported(el, "a throttle without id; left out");
        return None;
    };
    let Some(policy) = el.child("policy") else {
        cx.not_imported(el, "a throttle without a policy limits nothing; left out");
        return None;
    };
    let limits = cx.within("policy", |cx| policy_of(cx, policy))?;
    let on_accept = flow(cx, el, "onAccept");
    let on_reject = flow(cx, el, "onReject");
    let mut max_concurrent = limits.max_concurrent;
    if max_concurrent.is_some() && on_accept.is_empty() {
        cx.not_imported(
            policy,
            "MaximumConcurrentAccess without onAccept: Ferry holds a message's place while onAccept runs; move the mediators after the throttle into its onAccept; limit left out",
        );
        max_concurrent = None;
    }
    if limits.rules.is_empty() && max_concurrent.is_none() {
        cx.not_imported(
            el,
            "no limit of this throttle's policy can be imported; throttle left out",
        );
        return None;
    }
    if on_reject.is_empty() {
        cx.adjusted(
            el,
            "without onReject MI stops the flow; Ferry answers a rejected message with 429 Too Many Requests and Retry-After",
        );
    }
    // Synapse tries the named callers before `other` whatever their order; Ferry takes the
    // first rule that matches, so `other` goes last.
    let (named, other): (Vec<Rule>, Vec<Rule>) = limits.rules.into_iter().partition(|r| !r.other);
    let rules: Vec<Value> = named.into_iter().chain(other).map(|r| r.value).collect();
    let mut policy_out = Obj::new().v("maxConcurrentAccess", max_concurrent.map(|n| json!(n)));
    policy_out = policy_out.list("rules", rules);
    Some(
        Obj::new()
            .s("id", Some(id))
            .v("policy", Some(policy_out.build()))
            .list("onAccept", on_accept)
            .list("onReject", on_reject)
            .build(),
    )
}

/// The `<policy>` element: inline, or `key` naming a local entry of this import.
fn policy_of(cx: &mut Cx<'_>, policy: &Element) -> Option<Limits> {
    cx.check_attrs(policy, &["key"]);
    let entries = cx.local_entries;
    let (root, from) = match policy.attr("key") {
        Some(key) => {
            let Some(entry) = entries.get(key) else {
                cx.not_imported(
                    policy,
                    format!("the policy {key} is not a local entry of this import (a registry resource?); write its limits in the throttle's policy (docs/mediators.md#throttle); throttle left out"),
                );
                return None;
            };
            let Some(root) = entry.child("Policy") else {
                cx.not_imported(
                    policy,
                    format!("the local entry {key} holds no <wsp:Policy>; throttle left out"),
                );
                return None;
            };
            cx.adjusted(
                policy,
                format!("the policy of local entry {key} is written inline: a Ferry throttle carries its limits"),
            );
            (root, Some(key))
        }
        None => {
            let Some(root) = policy.child("Policy") else {
                cx.not_imported(policy, "a policy without <wsp:Policy>; throttle left out");
                return None;
            };
            (root, None)
        }
    };
    let in_entry = from.is_some();
    let at = |e| place(policy, e, in_entry);
    let mut limits = Limits::default();
    let assertions: Vec<&Element> = root
        .children
        .iter()
        .filter(|c| {
            matches!(
                c.name.as_str(),
                "MediatorThrottleAssertion" | "ThrottleAssertion"
            )
        })
        .collect();
    if assertions.is_empty() {
        cx.not_imported(
            at(root),
            "the policy holds no throttle:MediatorThrottleAssertion; throttle left out",
        );
        return None;
    }
    for assertion in assertions {
        for (i, c) in assertion.children.iter().enumerate() {
            let seg = segment(assertion, i);
            cx.within(seg, |cx| match c.name.as_str() {
                "MaximumConcurrentAccess" => {
                    let n = cx.number(at(c), "MaximumConcurrentAccess", c.text_trimmed());
                    match n.map(u32::try_from) {
                        // MI's 0 means no concurrency limit.
                        Some(Ok(0)) | None => {}
                        Some(Ok(n)) => limits.max_concurrent = Some(n),
                        Some(Err(_)) => cx.not_imported(
                            at(c),
                            "MaximumConcurrentAccess is out of range; left out",
                        ),
                    }
                }
                "Policy" => {
                    if let Some(rule) = rule(cx, c, at(c)) {
                        limits.rules.push(rule);
                    }
                }
                other => cx.not_imported(
                    at(c),
                    format!("throttle assertion <{other}> is not imported"),
                ),
            });
        }
    }
    Some(limits)
}

/// Where to report `e`: lines inside a local entry are lines of another file, so those
/// are reported at the `<policy key>` that brought them in.
fn place<'e>(policy: &'e Element, e: &'e Element, in_entry: bool) -> &'e Element {
    if in_entry { policy } else { e }
}

/// One `<wsp:Policy>` of an assertion: `<throttle:ID>` and what applies to it.
fn rule(cx: &mut Cx<'_>, el: &Element, at: &Element) -> Option<Rule> {
    let Some(id) = el.child("ID") else {
        cx.not_imported(at, "a throttle policy without throttle:ID; rule left out");
        return None;
    };
    let range = id.text_trimmed().to_string();
    if attr_local(id, "type").is_some_and(|t| t.eq_ignore_ascii_case("DOMAIN")) {
        cx.not_imported(
            at,
            format!("the DOMAIN rule {range}: Ferry does no reverse DNS (use IP addresses or a key expression); rule left out"),
        );
        return None;
    }
    let other = range == "other";
    if !other && range.contains('-') {
        cx.not_imported(
            at,
            format!(
                "the address range {range}: name each address in a rule of its own; rule left out"
            ),
        );
        return None;
    }
    let Some(inner) = el.child("Policy") else {
        cx.not_imported(at, format!("no access rule for {range}; rule left out"));
        return None;
    };
    let mut out = Obj::new().s("range", Some(range.clone()));
    if inner.child("Deny").is_some() || inner.child("IsDenied").is_some() {
        out = out.s("access", Some("deny"));
    } else if inner.child("Allow").is_some() || inner.child("IsAllowed").is_some() {
        out = out.s("access", Some("allow"));
    } else if let Some(control) = inner.child("Control") {
        let limits = control.child("Policy").unwrap_or(control);
        let count = limits
            .child("MaximumCount")
            .and_then(|c| cx.number(at, "MaximumCount", c.text_trimmed()))
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0);
        let unit = limits
            .child("UnitTime")
            .and_then(|c| cx.number(at, "UnitTime", c.text_trimmed()))
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0);
        let (Some(count), Some(unit)) = (count, unit) else {
            cx.not_imported(
                at,
                format!("the control rule for {range} needs MaximumCount and UnitTime above 0; rule left out"),
            );
            return None;
        };
        if let Some(p) = limits.child("ProhibitTimePeriod") {
            cx.not_imported(
                at,
                format!("ProhibitTimePeriod {} ms of {range}: Ferry admits a caller again as its bucket refills; left out", p.text_trimmed()),
            );
        }
        out = out
            .v("maxCount", Some(json!(count)))
            .v("unitTime", Some(json!(unit)));
    } else {
        cx.not_imported(
            at,
            format!("no Control, Allow or Deny for {range}; rule left out"),
        );
        return None;
    }
    Some(Rule {
        other,
        value: out.build(),
    })
}
