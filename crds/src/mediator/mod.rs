//! The mediator model: one externally tagged [`Mediator`] enum with one `*Spec` struct per
//! Synapse mediator, so `- log: {level: full}` in YAML is `Mediator::Log(LogSpec { .. })`.
//!
//! Sequences are always `Vec<Mediator>`. Loading fills these types; the validator walks
//! them (with [`Mediator::children`] for the nested lists) and the runtime compiles each
//! variant with one `match`. Expressions and templates stay plain strings here: their
//! syntax is the validator's job, not serde's.
//!
//! The enum is recursive (filter, switch, clone ... hold mediator lists). A CRD schema
//! cannot be recursive and may not use `$ref`, so nested lists are typed loosely in the CRD
//! (objects with unknown fields preserved) while top-level lists such as `inSequence` carry
//! the full schema; the editor schema, which may use `$ref`, keeps full recursion.

mod call;
mod core;
mod flow;
mod transform;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

pub use call::*;
pub use core::*;
pub use flow::*;
pub use transform::*;

/// One step of a sequence. The YAML tag is the Synapse mediator's name in camelCase.
///
/// Not modelled: the `class` mediator (custom Java code has no place in a native runtime),
/// `dataServiceCall` (Ferry has no data services), and the rarely used builder,
/// transaction, ejb, bean, ntlm, oauth, entitlement and smooks mediators.
// Variants differ in size, but mediators are built once per load and never moved on the
// request path; boxing every variant would only make matches and construction noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Mediator {
    /// Logs a message template and/or properties.
    Log(LogSpec),
    /// Sets or removes a message-context property.
    Property(PropertySpec),
    /// Several property operations at once.
    PropertyGroup(PropertyGroupSpec),
    /// Sets or removes a typed variable (`${var.name}`).
    Variable(VariableSpec),
    /// Sets or removes a transport or SOAP header.
    Header(HeaderSpec),
    /// If / else on a condition.
    Filter(FilterSpec),
    /// Picks the first case whose regular expression matches.
    Switch(SwitchSpec),
    /// Replaces the payload with a rendered template.
    PayloadFactory(PayloadFactorySpec),
    /// Copies or moves a fragment of the message.
    Enrich(EnrichSpec),
    /// Calls an endpoint and continues with the response.
    Call(CallSpec),
    /// Sends to an endpoint; the response goes to the out-flow.
    Send(SendSpec),
    /// Sends the current message back to the client and stops.
    Respond(RespondSpec),
    /// Stops the flow without responding.
    Drop(DropSpec),
    /// Jumps to the out-flow.
    Loopback(LoopbackSpec),
    /// Runs a named Sequence.
    Sequence(SequenceRefSpec),
    /// Runs a sequence template with parameters.
    CallTemplate(CallTemplateSpec),
    /// Puts the message into a MessageStore.
    Store(StoreSpec),
    /// Raises an error to the fault sequence.
    ThrowError(ThrowErrorSpec),
    /// Sends copies of the message to several targets.
    Clone(CloneSpec),
    /// Splits the message into one message per item.
    Iterate(IterateSpec),
    /// Merges the responses of a clone or iterate.
    Aggregate(AggregateSpec),
    /// Runs a sequence for each item of a collection.
    Foreach(ForeachSpec),
    /// Runs sequences on copies and gathers the results.
    ScatterGather(ScatterGatherSpec),
    /// Legacy blocking SOAP call.
    Callout(CalloutSpec),
    /// Rate and concurrency limits.
    Throttle(ThrottleSpec),
    /// Response cache.
    Cache(CacheSpec),
    /// Schema validation.
    Validate(ValidateSpec),
    /// XSLT transformation.
    Xslt(XsltSpec),
    /// XQuery transformation.
    Xquery(XquerySpec),
    /// Runs a script.
    Script(ScriptSpec),
    /// Schema-to-schema mapping.
    Datamapper(DatamapperSpec),
    /// Conversion to JSON with per-flow settings.
    JsonTransform(JsonTransformSpec),
    /// SQL lookup into properties.
    DbLookup(DbLookupSpec),
    /// SQL writes.
    DbReport(DbReportSpec),
    /// Builds a SOAP or POX fault.
    Makefault(MakefaultSpec),
    /// Rewrites the target URL.
    Rewrite(RewriteSpec),
}

/// Every mediator's YAML tag, in declaration order.
pub const MEDIATOR_NAMES: &[&str] = &[
    "log",
    "property",
    "propertyGroup",
    "variable",
    "header",
    "filter",
    "switch",
    "payloadFactory",
    "enrich",
    "call",
    "send",
    "respond",
    "drop",
    "loopback",
    "sequence",
    "callTemplate",
    "store",
    "throwError",
    "clone",
    "iterate",
    "aggregate",
    "foreach",
    "scatterGather",
    "callout",
    "throttle",
    "cache",
    "validate",
    "xslt",
    "xquery",
    "script",
    "datamapper",
    "jsonTransform",
    "dbLookup",
    "dbReport",
    "makefault",
    "rewrite",
];

// === impl Mediator ===

impl Mediator {
    /// The YAML tag of this mediator (`log`, `payloadFactory`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Mediator::Log(_) => "log",
            Mediator::Property(_) => "property",
            Mediator::PropertyGroup(_) => "propertyGroup",
            Mediator::Variable(_) => "variable",
            Mediator::Header(_) => "header",
            Mediator::Filter(_) => "filter",
            Mediator::Switch(_) => "switch",
            Mediator::PayloadFactory(_) => "payloadFactory",
            Mediator::Enrich(_) => "enrich",
            Mediator::Call(_) => "call",
            Mediator::Send(_) => "send",
            Mediator::Respond(_) => "respond",
            Mediator::Drop(_) => "drop",
            Mediator::Loopback(_) => "loopback",
            Mediator::Sequence(_) => "sequence",
            Mediator::CallTemplate(_) => "callTemplate",
            Mediator::Store(_) => "store",
            Mediator::ThrowError(_) => "throwError",
            Mediator::Clone(_) => "clone",
            Mediator::Iterate(_) => "iterate",
            Mediator::Aggregate(_) => "aggregate",
            Mediator::Foreach(_) => "foreach",
            Mediator::ScatterGather(_) => "scatterGather",
            Mediator::Callout(_) => "callout",
            Mediator::Throttle(_) => "throttle",
            Mediator::Cache(_) => "cache",
            Mediator::Validate(_) => "validate",
            Mediator::Xslt(_) => "xslt",
            Mediator::Xquery(_) => "xquery",
            Mediator::Script(_) => "script",
            Mediator::Datamapper(_) => "datamapper",
            Mediator::JsonTransform(_) => "jsonTransform",
            Mediator::DbLookup(_) => "dbLookup",
            Mediator::DbReport(_) => "dbReport",
            Mediator::Makefault(_) => "makefault",
            Mediator::Rewrite(_) => "rewrite",
        }
    }

    /// The mediator lists nested in this mediator, each with its field path relative to
    /// the mediator's body: for `- switch: {cases: [{sequence: [...]}]}` that is
    /// `cases[0].sequence`, so a validator at `inSequence[2]` reports
    /// `inSequence[2].switch.cases[0].sequence[1]`. Empty lists are included, in field
    /// order.
    pub fn children(&self) -> Vec<(String, &[Mediator])> {
        let mut out: Vec<(String, &[Mediator])> = Vec::new();
        match self {
            Mediator::Filter(f) => {
                out.push(("then".into(), &f.then));
                out.push(("else".into(), &f.else_));
            }
            Mediator::Switch(s) => {
                for (i, case) in s.cases.iter().enumerate() {
                    out.push((format!("cases[{i}].sequence"), &case.sequence));
                }
                out.push(("default".into(), &s.default));
            }
            Mediator::Clone(c) => {
                for (i, target) in c.targets.iter().enumerate() {
                    out.push((format!("targets[{i}].sequence"), &target.sequence));
                }
            }
            Mediator::Iterate(it) => out.push(("target.sequence".into(), &it.target.sequence)),
            Mediator::Aggregate(a) => {
                out.push(("onComplete.sequence".into(), &a.on_complete.sequence))
            }
            Mediator::Foreach(f) => out.push(("sequence".into(), &f.sequence)),
            Mediator::ScatterGather(s) => {
                for (i, seq) in s.sequences.iter().enumerate() {
                    out.push((format!("sequences[{i}]"), seq));
                }
            }
            Mediator::Throttle(t) => {
                out.push(("onAccept".into(), &t.on_accept));
                out.push(("onReject".into(), &t.on_reject));
            }
            Mediator::Cache(c) => out.push(("onCacheHit".into(), &c.on_cache_hit)),
            Mediator::Validate(v) => out.push(("onFail".into(), &v.on_fail)),
            Mediator::Log(_)
            | Mediator::Property(_)
            | Mediator::PropertyGroup(_)
            | Mediator::Variable(_)
            | Mediator::Header(_)
            | Mediator::PayloadFactory(_)
            | Mediator::Enrich(_)
            | Mediator::Call(_)
            | Mediator::Send(_)
            | Mediator::Respond(_)
            | Mediator::Drop(_)
            | Mediator::Loopback(_)
            | Mediator::Sequence(_)
            | Mediator::CallTemplate(_)
            | Mediator::Store(_)
            | Mediator::ThrowError(_)
            | Mediator::Callout(_)
            | Mediator::Xslt(_)
            | Mediator::Xquery(_)
            | Mediator::Script(_)
            | Mediator::Datamapper(_)
            | Mediator::JsonTransform(_)
            | Mediator::DbLookup(_)
            | Mediator::DbReport(_)
            | Mediator::Makefault(_)
            | Mediator::Rewrite(_) => {}
        }
        out
    }
}

// === schemas of nested lists ===

/// Schema of a mediator list inside a mediator. In a CRD (schemars inlines everything) the
/// recursion is cut: items are objects whose fields the API server keeps unchecked. In the
/// editor schema (`$defs` allowed) it is the full recursive list.
pub(crate) fn nested(generator: &mut SchemaGenerator) -> Schema {
    if generator.settings().inline_subschemas {
        json_schema!({
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        })
    } else {
        generator.subschema_for::<Vec<Mediator>>()
    }
}

/// Schema of a list of mediator lists (scatterGather's sequences); see [`nested`].
pub(crate) fn nested_lists(generator: &mut SchemaGenerator) -> Schema {
    if generator.settings().inline_subschemas {
        json_schema!({
            "type": "array",
            "items": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        })
    } else {
        generator.subschema_for::<Vec<Vec<Mediator>>>()
    }
}

#[cfg(test)]
mod tests;
