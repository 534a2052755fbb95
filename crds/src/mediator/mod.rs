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

/// Whether this version of the runtime runs a mediator. The others are valid resources (the
/// types cover all of Synapse) but the checker refuses them, so a configuration never
/// half-runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// The runtime runs it.
    Runs,
    /// Modelled for validation and import, not run yet.
    NotYet,
}

/// Declares every mediator once: its enum variant, spec type, YAML tag, whether the runtime
/// runs it, and whether it holds nested mediator lists (`nested`: the spec has a
/// `children()` method) or not (`leaf`). The enum, [`MEDIATORS`], [`Mediator::name`] and
/// [`Mediator::children`] all come from this one list, so a new mediator is one line here
/// (plus its spec type); every `match` over the enum is exhaustive, so the compiler then
/// points at the checker and the runtime.
macro_rules! declare_mediators {
    ($( $(#[doc = $doc:literal])* $variant:ident($spec:ty) = $name:literal, $support:ident, $shape:ident; )*) => {
        /// One step of a sequence. The YAML tag is the Synapse mediator's name in camelCase.
        ///
        /// Not modelled: the `class` mediator (custom Java code has no place in a native runtime),
        /// `dataServiceCall` (call a DataService's resource over HTTP with `call`), and the rarely used builder,
        /// transaction, ejb, bean, ntlm, oauth, entitlement and smooks mediators.
        // Variants differ in size, but mediators are built once per load and never moved on
        // the request path; boxing every variant would only make matches and construction
        // noisier.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub enum Mediator {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name)]
                $variant($spec),
            )*
        }

        /// Every mediator's YAML tag and support, in declaration order.
        pub const MEDIATORS: &[(&str, Support)] = &[$(($name, Support::$support)),*];

        impl Mediator {
            /// The YAML tag of this mediator (`log`, `payloadFactory`, ...).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Mediator::$variant(_) => $name,)*
                }
            }

            /// Whether this version of the runtime runs this mediator.
            pub fn support(&self) -> Support {
                match self {
                    $(Mediator::$variant(_) => Support::$support,)*
                }
            }

            /// The mediator lists nested in this mediator, each with its field path relative
            /// to the mediator's body: for `- switch: {cases: [{sequence: [...]}]}` that is
            /// `cases[0].sequence`, so a validator at `inSequence[2]` reports
            /// `inSequence[2].switch.cases[0].sequence[1]`. Empty lists are included, in
            /// field order.
            pub fn children(&self) -> Vec<(String, &[Mediator])> {
                match self {
                    $(Mediator::$variant(_spec) => declare_mediators!(@children $shape _spec),)*
                }
            }
        }
    };
    (@children leaf $spec:ident) => { Vec::new() };
    (@children nested $spec:ident) => { $spec.children() };
}

declare_mediators! {
    /// Logs a message template and/or properties.
    Log(LogSpec) = "log", Runs, leaf;
    /// Sets or removes a message-context property.
    Property(PropertySpec) = "property", Runs, leaf;
    /// Several property operations at once.
    PropertyGroup(PropertyGroupSpec) = "propertyGroup", Runs, leaf;
    /// Sets or removes a typed variable (`${var.name}`).
    Variable(VariableSpec) = "variable", Runs, leaf;
    /// Sets or removes a transport or SOAP header.
    Header(HeaderSpec) = "header", Runs, leaf;
    /// If / else on a condition.
    Filter(FilterSpec) = "filter", Runs, nested;
    /// Picks the first case whose regular expression matches.
    Switch(SwitchSpec) = "switch", Runs, nested;
    /// Replaces the payload with a rendered template.
    PayloadFactory(PayloadFactorySpec) = "payloadFactory", Runs, leaf;
    /// Copies or moves a fragment of the message.
    Enrich(EnrichSpec) = "enrich", Runs, leaf;
    /// Calls an endpoint and continues with the response.
    Call(CallSpec) = "call", Runs, leaf;
    /// Sends to an endpoint; the response goes to the out-flow.
    Send(SendSpec) = "send", Runs, leaf;
    /// Sends the current message back to the client and stops.
    Respond(RespondSpec) = "respond", Runs, leaf;
    /// Stops the flow without responding.
    Drop(DropSpec) = "drop", Runs, leaf;
    /// Jumps to the out-flow.
    Loopback(LoopbackSpec) = "loopback", Runs, leaf;
    /// Runs a named Sequence.
    Sequence(SequenceRefSpec) = "sequence", Runs, leaf;
    /// Runs a sequence template with parameters.
    CallTemplate(CallTemplateSpec) = "callTemplate", Runs, leaf;
    /// Puts the message into a MessageStore.
    Store(StoreSpec) = "store", Runs, leaf;
    /// Raises an error to the fault sequence.
    ThrowError(ThrowErrorSpec) = "throwError", Runs, leaf;
    /// Sends copies of the message to several targets.
    Clone(CloneSpec) = "clone", Runs, nested;
    /// Splits the message into one message per item.
    Iterate(IterateSpec) = "iterate", Runs, nested;
    /// Merges the responses of a clone or iterate.
    Aggregate(AggregateSpec) = "aggregate", Runs, nested;
    /// Runs a sequence for each item of a collection.
    Foreach(ForeachSpec) = "foreach", Runs, nested;
    /// Runs sequences on copies and gathers the results.
    ScatterGather(ScatterGatherSpec) = "scatterGather", Runs, nested;
    /// Legacy blocking SOAP call.
    Callout(CalloutSpec) = "callout", NotYet, leaf;
    /// Rate and concurrency limits.
    Throttle(ThrottleSpec) = "throttle", Runs, nested;
    /// Response cache.
    Cache(CacheSpec) = "cache", Runs, nested;
    /// Schema validation.
    Validate(ValidateSpec) = "validate", Runs, nested;
    /// XSLT transformation.
    Xslt(XsltSpec) = "xslt", Runs, leaf;
    /// XQuery transformation.
    Xquery(XquerySpec) = "xquery", NotYet, leaf;
    /// Runs a script.
    Script(ScriptSpec) = "script", Runs, leaf;
    /// Schema-to-schema mapping.
    Datamapper(DatamapperSpec) = "datamapper", NotYet, leaf;
    /// Conversion to JSON with per-flow settings.
    JsonTransform(JsonTransformSpec) = "jsonTransform", Runs, leaf;
    /// SQL lookup into properties.
    DbLookup(DbLookupSpec) = "dbLookup", Runs, leaf;
    /// SQL writes.
    DbReport(DbReportSpec) = "dbReport", Runs, leaf;
    /// Builds a SOAP or POX fault.
    Makefault(MakefaultSpec) = "makefault", Runs, leaf;
    /// Rewrites the target URL.
    Rewrite(RewriteSpec) = "rewrite", NotYet, leaf;
}

/// XML namespace prefixes that XPath expressions may use, `prefix: uri` — Synapse's
/// `xmlns:prefix="uri"` attributes. Declared on a resource (IntegrationAPI, Sequence) they
/// cover all its mediators; on a mediator they cover it and the mediators nested in it, and
/// a prefix declared closer wins, as in XML.
pub type Namespaces = std::collections::BTreeMap<String, String>;

/// Every mediator's YAML tag, in declaration order.
pub fn mediator_names() -> impl Iterator<Item = &'static str> {
    MEDIATORS.iter().map(|(name, _)| *name)
}

// === nested lists of each mediator ===

impl FilterSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![("then".into(), &self.then), ("else".into(), &self.else_)]
    }
}

impl SwitchSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        let mut out: Vec<(String, &[Mediator])> = Vec::new();
        for (i, case) in self.cases.iter().enumerate() {
            out.push((format!("cases[{i}].sequence"), &case.sequence));
        }
        out.push(("default".into(), &self.default));
        out
    }
}

impl CloneSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        let mut out: Vec<(String, &[Mediator])> = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            out.push((format!("targets[{i}].sequence"), &target.sequence));
        }
        out
    }
}

impl IterateSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![("target.sequence".into(), &self.target.sequence)]
    }
}

impl AggregateSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![("onComplete.sequence".into(), &self.on_complete.sequence)]
    }
}

impl ForeachSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![("sequence".into(), &self.sequence)]
    }
}

impl ScatterGatherSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        let mut out: Vec<(String, &[Mediator])> = Vec::new();
        for (i, seq) in self.sequences.iter().enumerate() {
            out.push((format!("sequences[{i}]"), seq));
        }
        out
    }
}

impl ThrottleSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![
            ("onAccept".into(), &self.on_accept),
            ("onReject".into(), &self.on_reject),
        ]
    }
}

impl CacheSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![("onCacheHit".into(), &self.on_cache_hit)]
    }
}

impl ValidateSpec {
    fn children(&self) -> Vec<(String, &[Mediator])> {
        vec![("onFail".into(), &self.on_fail)]
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
