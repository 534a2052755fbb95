//! Mediator checks: each spec the runtime runs becomes its checked form (expressions,
//! templates and regexes parsed, exactly-one-of rules applied, references resolved to
//! names that exist); each one it does not run is a located error.
//!
//! The `match` in [`check`] is exhaustive over `ferry_api::mediator::Mediator`, and the
//! runtime's over [`Mediator`]: a mediator added to the registry fails to compile until
//! both say what to do with it.

mod cache;
mod call;
mod core;
mod fault;
mod flow;
mod json_transform;
mod script;
mod split;
mod throttle;
mod transform;
mod validate;
mod xslt;

pub use cache::{Cache, Finder, HTTP_REQUEST_HASH_GENERATOR, HashedHeaders, OnHit};
pub use call::{Call, CallSource, CallTarget, Send};
pub use core::{
    AddressingHeader, AddressingOp, Header, HeaderOp, Log, Property, PropertyAction, SoapHeader,
    ThrowError, Variable,
};
pub use fault::{FaultCode, Makefault, SOAP11_ENV, SOAP12_ENV};
pub use flow::{Filter, FilterCondition, SequenceRef, Store, StoreTarget, Switch};
pub use json_transform::{JsonSetting, JsonTransform};
pub use script::Script;
pub use split::{
    Aggregate, Attach, Clone, CollectionPlace, Foreach, ForeachResult, GatherTarget, Iterate,
    ScatterGather, Target,
};
pub use throttle::{
    DEFAULT_THROTTLE_PREFIX, DEFAULT_THROTTLE_REDIS, RedisUrl, RuleAction, Throttle, ThrottleRedis,
    ThrottleRule,
};
pub use transform::{
    Enrich, EnrichCopy, EnrichRemove, EnrichSource, EnrichTarget, PayloadArg, PayloadFactory,
    Piece, Removal, RemoveStep, Step, json_path_steps, remove_paths,
};
pub use validate::{CompiledSchema, Validate};
pub use xslt::Xslt;

use serde_json::Value;

use super::cx::Cx;
use crate::expr::Expression;
use crate::mediator::{Mediator as Spec, Support};

/// A piece of the message a mediator reads: what `call` sends, what `enrich` copies.
#[derive(Debug, Clone)]
pub enum MessagePart {
    /// The body.
    Body,
    /// An expression's value.
    Expr(Expression),
    /// A property's value.
    Property(String),
    /// A variable's value.
    Variable(String),
    /// A value given inline (for `enrich`, text that is JSON is JSON).
    Inline(Value),
}

/// A mediator that passed every check, in the form the runtime builds from.
#[derive(Debug, Clone)]
pub enum Mediator {
    /// `log`
    Log(Log),
    /// `property`
    Property(Property),
    /// `propertyGroup`: its properties, in order.
    PropertyGroup(Vec<Property>),
    /// `variable`
    Variable(Variable),
    /// `header`
    Header(HeaderOp),
    /// `filter`
    Filter(Filter),
    /// `switch`
    Switch(Switch),
    /// `payloadFactory`
    PayloadFactory(PayloadFactory),
    /// `enrich`
    Enrich(Enrich),
    /// `call`
    Call(Call),
    /// `send`
    Send(Send),
    /// `respond`
    Respond,
    /// `drop`
    Drop,
    /// `loopback`
    Loopback,
    /// `sequence`
    Sequence(SequenceRef),
    /// `store`
    Store(Store),
    /// `throwError`
    ThrowError(ThrowError),
    /// `makefault`
    Makefault(Makefault),
    /// `clone`
    Clone(Clone),
    /// `iterate`
    Iterate(Iterate),
    /// `aggregate`
    Aggregate(Aggregate),
    /// `foreach`
    Foreach(Foreach),
    /// `scatterGather`
    ScatterGather(ScatterGather),
    /// `validate`
    Validate(Validate),
    /// `callTemplate`
    CallTemplate(crate::check::template::CallTemplate),
    /// `cache`
    Cache(Cache),
    /// `jsonTransform`
    JsonTransform(JsonTransform),
    /// `xslt`
    Xslt(Xslt),
    /// `script`
    Script(Script),
    /// `throttle`
    Throttle(Box<Throttle>),
    /// `dbLookup`
    DbLookup(crate::check::data::DbMediator),
    /// `dbReport`
    DbReport(crate::check::data::DbMediator),
    /// One resource of a DataService (no YAML tag: the flow a data service resource runs).
    DataCall(Box<crate::check::data::DataCall>),
}

/// Checks a mediator list at `field`; every element is checked, so every error is
/// reported. `None` when any has errors.
pub fn check_list(cx: &mut Cx<'_>, field: &str, specs: &[Spec]) -> Option<Vec<Mediator>> {
    let mut out = Vec::with_capacity(specs.len());
    let mut ok = true;
    for (i, spec) in specs.iter().enumerate() {
        let path = format!("{field}[{i}].{}", spec.name());
        match check(cx, &path, spec) {
            Some(m) => out.push(m),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Checks one mediator at `field` (`...inSequence[2].call`).
pub fn check(cx: &mut Cx<'_>, field: &str, spec: &Spec) -> Option<Mediator> {
    match declared_namespaces(spec) {
        Some(declared) => cx.with_namespaces(field, declared, |cx| check_in_scope(cx, field, spec)),
        None => check_in_scope(cx, field, spec),
    }
}

/// The `namespaces` a mediator declares, for those whose expressions may be XPath.
fn declared_namespaces(spec: &Spec) -> Option<&crate::mediator::Namespaces> {
    Some(match spec {
        Spec::Log(s) => &s.namespaces,
        Spec::Property(s) => &s.namespaces,
        Spec::PropertyGroup(s) => &s.namespaces,
        Spec::Variable(s) => &s.namespaces,
        Spec::Header(s) => &s.namespaces,
        Spec::Filter(s) => &s.namespaces,
        Spec::Switch(s) => &s.namespaces,
        Spec::PayloadFactory(s) => &s.namespaces,
        Spec::Enrich(s) => &s.namespaces,
        Spec::Call(s) => &s.namespaces,
        Spec::Send(s) => &s.namespaces,
        Spec::Sequence(s) => &s.namespaces,
        Spec::Store(s) => &s.namespaces,
        Spec::ThrowError(s) => &s.namespaces,
        Spec::Makefault(s) => &s.namespaces,
        Spec::Validate(s) => &s.namespaces,
        Spec::CallTemplate(s) => &s.namespaces,
        _ => return None,
    })
}

fn check_in_scope(cx: &mut Cx<'_>, field: &str, spec: &Spec) -> Option<Mediator> {
    let before = cx.error_count();
    let unreadable_before = cx.unreadable_refs();
    let checked = match spec {
        Spec::Log(s) => core::log(cx, field, s).map(Mediator::Log),
        Spec::Property(s) => core::property(cx, field, s).map(Mediator::Property),
        Spec::PropertyGroup(g) => {
            let mut props = Vec::with_capacity(g.properties.len());
            for (i, s) in g.properties.iter().enumerate() {
                if let Some(p) = core::property(cx, &format!("{field}.properties[{i}]"), s) {
                    props.push(p);
                }
            }
            Some(Mediator::PropertyGroup(props))
        }
        Spec::Variable(s) => core::variable(cx, field, s).map(Mediator::Variable),
        Spec::Header(s) => core::header(cx, field, s).map(Mediator::Header),
        Spec::Filter(s) => flow::filter(cx, field, s).map(Mediator::Filter),
        Spec::Switch(s) => flow::switch(cx, field, s).map(Mediator::Switch),
        Spec::PayloadFactory(s) => {
            transform::payload_factory(cx, field, s).map(Mediator::PayloadFactory)
        }
        Spec::Enrich(s) => transform::enrich(cx, field, s).map(Mediator::Enrich),
        Spec::Call(s) => call::call(cx, field, s).map(Mediator::Call),
        Spec::Send(s) => call::send(cx, field, s).map(Mediator::Send),
        Spec::Respond(_) => Some(Mediator::Respond),
        Spec::Drop(_) => Some(Mediator::Drop),
        Spec::Loopback(_) => Some(Mediator::Loopback),
        Spec::Sequence(s) => flow::sequence(cx, field, s).map(Mediator::Sequence),
        Spec::Store(s) => flow::store(cx, field, s).map(Mediator::Store),
        Spec::ThrowError(s) => core::throw_error(cx, field, s).map(Mediator::ThrowError),
        Spec::Makefault(s) => fault::makefault(cx, field, s).map(Mediator::Makefault),
        Spec::Clone(s) => split::clone(cx, field, s).map(Mediator::Clone),
        Spec::Iterate(s) => split::iterate(cx, field, s).map(Mediator::Iterate),
        Spec::Aggregate(s) => split::aggregate(cx, field, s).map(Mediator::Aggregate),
        Spec::Foreach(s) => split::foreach(cx, field, s).map(Mediator::Foreach),
        Spec::ScatterGather(s) => split::scatter_gather(cx, field, s).map(Mediator::ScatterGather),
        Spec::Validate(s) => validate::validate(cx, field, s).map(Mediator::Validate),
        Spec::CallTemplate(s) => {
            crate::check::template::call_template(cx, field, s).map(Mediator::CallTemplate)
        }
        Spec::Cache(s) => cache::cache(cx, field, s).map(Mediator::Cache),
        Spec::JsonTransform(s) => {
            json_transform::json_transform(cx, field, s).map(Mediator::JsonTransform)
        }
        Spec::Xslt(s) => xslt::xslt(cx, field, s).map(Mediator::Xslt),
        Spec::Script(s) => script::script(cx, field, s).map(Mediator::Script),
        Spec::Throttle(s) => {
            throttle::throttle(cx, field, s).map(|t| Mediator::Throttle(Box::new(t)))
        }
        Spec::DbLookup(s) => crate::check::data::db_lookup(cx, field, s).map(Mediator::DbLookup),
        Spec::DbReport(s) => crate::check::data::db_report(cx, field, s).map(Mediator::DbReport),
        Spec::Callout(_) | Spec::Xquery(_) | Spec::Datamapper(_) | Spec::Rewrite(_) => {
            debug_assert_eq!(spec.support(), Support::NotYet);
            cx.error(
                field,
                format!(
                    "the {} mediator is not supported by this Ferry runtime yet",
                    spec.name()
                ),
            );
            None
        }
    };
    // A check that gave up without saying why would let a broken configuration through
    // `ferry validate`: never return nothing without an error.
    if checked.is_none() && cx.error_count() == before && cx.unreadable_refs() == unreadable_before
    {
        cx.error(
            field,
            "cannot be used (an internal check failed without a reason)",
        );
    }
    // One error somewhere inside (a property of a group, say) is the whole mediator's.
    if cx.error_count() > before {
        return None;
    }
    checked
}
