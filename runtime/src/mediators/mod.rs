//! Mediators: the runtime form of each checked mediator (`ferry_api::check::mediator`), and
//! the exhaustive `match`es that build and run them.
//!
//! Each mediator is a module (named as in Synapse) with a type built once from its checked
//! form, and a `mediate` that works on a message. The checker has judged the spec; building
//! only resolves names into runtime objects. docs/development.md walks through adding one.

pub mod aggregate;
pub mod cache;
pub mod call;
pub mod call_template;
pub mod clone;
pub mod db;
pub mod drop;
pub mod enrich;
pub mod filter;
pub mod foreach;
pub mod header;
pub mod iterate;
pub mod json_transform;
pub mod log;
pub mod loopback;
pub mod makefault;
pub mod payload_factory;
pub mod property;
pub mod respond;
pub mod scatter_gather;
pub mod script;
pub mod send;
pub mod sequence;
pub mod split;
pub mod store;
pub mod switch;
pub mod throttle;
pub mod throw_error;
pub mod validate;
pub mod variable;
pub mod xslt;

use ferry_api::check::mediator::Mediator as Checked;

pub use crate::endpoints::BuildCx;
use crate::fault::Fault;
use crate::message::Message;
use crate::sequence::{Env, Flow};

/// A compiled mediator.
pub enum Mediator {
    /// `log`
    Log(log::Log),
    /// `property` (and each entry of a `propertyGroup`)
    Property(property::Property),
    /// `variable`
    Variable(variable::Variable),
    /// `header`
    Header(header::Header),
    /// `filter`
    Filter(filter::Filter),
    /// `switch`
    Switch(switch::Switch),
    /// `payloadFactory`
    PayloadFactory(payload_factory::PayloadFactory),
    /// `enrich`
    Enrich(enrich::Enrich),
    /// `call`
    Call(call::Call),
    /// `send`
    Send(send::Send),
    /// `respond`
    Respond(respond::Respond),
    /// `drop`
    Drop(drop::Drop),
    /// `loopback`
    Loopback(loopback::Loopback),
    /// `sequence`
    Sequence(sequence::SequenceRef),
    /// `store`
    Store(store::Store),
    /// `throwError`
    ThrowError(throw_error::ThrowError),
    /// `propertyGroup`: its properties, in order.
    Group(Vec<Mediator>),
    /// `clone`
    Clone(clone::Clone),
    /// `iterate`
    Iterate(iterate::Iterate),
    /// `aggregate`
    Aggregate(aggregate::Aggregate),
    /// `foreach`
    Foreach(foreach::Foreach),
    /// `scatterGather`
    ScatterGather(scatter_gather::ScatterGather),
    /// `makefault`
    Makefault(makefault::Makefault),
    /// `validate`
    Validate(validate::Validate),
    /// `callTemplate`
    CallTemplate(call_template::CallTemplate),
    /// `cache`
    Cache(cache::Cache),
    /// `jsonTransform`
    JsonTransform(json_transform::JsonTransform),
    /// `xslt`
    Xslt(xslt::Xslt),
    /// `script`
    Script(script::Script),
    /// `throttle`
    Throttle(Box<throttle::Throttle>),
    /// `dbLookup` and `dbReport`
    Db(db::Db),
    /// A DataService resource
    DataCall(crate::data::service::DataCall),
}

/// Builds a mediator list; those that cannot be built are left out (and recorded in `cx`,
/// which fails the whole compile).
pub fn build_list(list: &[Checked], cx: &mut BuildCx<'_>) -> Vec<Mediator> {
    list.iter().filter_map(|m| Mediator::build(m, cx)).collect()
}

impl Mediator {
    /// The mediator's name as written in YAML (`payloadFactory`): the span name when its
    /// sequence is traced.
    pub fn name(&self) -> &'static str {
        match self {
            Mediator::Log(_) => "log",
            Mediator::Property(_) => "property",
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
            Mediator::Store(_) => "store",
            Mediator::ThrowError(_) => "throwError",
            Mediator::Group(_) => "propertyGroup",
            Mediator::Clone(_) => "clone",
            Mediator::Iterate(_) => "iterate",
            Mediator::Aggregate(_) => "aggregate",
            Mediator::Foreach(_) => "foreach",
            Mediator::ScatterGather(_) => "scatterGather",
            Mediator::Makefault(_) => "makefault",
            Mediator::Validate(_) => "validate",
            Mediator::CallTemplate(_) => "callTemplate",
            Mediator::Cache(_) => "cache",
            Mediator::JsonTransform(_) => "jsonTransform",
            Mediator::Xslt(_) => "xslt",
            Mediator::Script(_) => "script",
            Mediator::Throttle(_) => "throttle",
            Mediator::Db(_) => "db",
            Mediator::DataCall(_) => "dataService",
        }
    }

    /// Builds one mediator from its checked form; `None` when something it needs could not
    /// be had (recorded in `cx`).
    pub fn build(checked: &Checked, cx: &mut BuildCx<'_>) -> Option<Mediator> {
        Some(match checked {
            Checked::Log(m) => Mediator::Log(log::Log(m.clone())),
            Checked::Property(m) => Mediator::Property(property::Property::build(m)),
            Checked::PropertyGroup(props) => Mediator::Group(
                props
                    .iter()
                    .map(|p| Mediator::Property(property::Property::build(p)))
                    .collect(),
            ),
            Checked::Variable(m) => Mediator::Variable(variable::Variable(m.clone())),
            Checked::Header(m) => Mediator::Header(header::Header(m.clone())),
            Checked::Filter(m) => Mediator::Filter(filter::Filter::build(m, cx)),
            Checked::Switch(m) => Mediator::Switch(switch::Switch::build(m, cx)),
            Checked::PayloadFactory(m) => {
                Mediator::PayloadFactory(payload_factory::PayloadFactory::build(m))
            }
            Checked::Enrich(m) => Mediator::Enrich(enrich::Enrich(m.clone())),
            Checked::Call(m) => Mediator::Call(call::Call::build(m, cx)?),
            Checked::Send(m) => Mediator::Send(send::Send::build(m, cx)?),
            Checked::Respond => Mediator::Respond(respond::Respond),
            Checked::Drop => Mediator::Drop(drop::Drop),
            Checked::Loopback => Mediator::Loopback(loopback::Loopback),
            Checked::Sequence(m) => Mediator::Sequence(sequence::SequenceRef::build(m, cx)?),
            Checked::Store(m) => Mediator::Store(store::Store::build(m, cx)?),
            Checked::ThrowError(m) => Mediator::ThrowError(throw_error::ThrowError(m.clone())),
            Checked::Makefault(m) => Mediator::Makefault(makefault::Makefault(m.clone())),
            Checked::Clone(m) => Mediator::Clone(clone::Clone::build(m, cx)?),
            Checked::Iterate(m) => Mediator::Iterate(iterate::Iterate::build(m, cx)?),
            Checked::Aggregate(m) => Mediator::Aggregate(aggregate::Aggregate::build(m, cx)),
            Checked::Foreach(m) => Mediator::Foreach(foreach::Foreach::build(m, cx)),
            Checked::ScatterGather(m) => {
                Mediator::ScatterGather(scatter_gather::ScatterGather::build(m, cx))
            }
            Checked::Validate(m) => Mediator::Validate(validate::Validate::build(m, cx)),
            Checked::JsonTransform(m) => {
                Mediator::JsonTransform(json_transform::JsonTransform::build(m))
            }
            Checked::Cache(m) => Mediator::Cache(cache::Cache::build(m, cx)?),
            Checked::CallTemplate(m) => {
                Mediator::CallTemplate(call_template::CallTemplate::build(m, cx)?)
            }
            Checked::Xslt(m) => Mediator::Xslt(xslt::Xslt(m.clone())),
            Checked::Script(m) => Mediator::Script(script::Script::build(m)),
            Checked::Throttle(m) => Mediator::Throttle(Box::new(throttle::Throttle::build(m, cx)?)),
            Checked::DbLookup(m) => Mediator::Db(db::Db::build(m, true, cx)?),
            Checked::DbReport(m) => Mediator::Db(db::Db::build(m, false, cx)?),
            Checked::DataCall(m) => {
                let source = cx.data_source(&m.data_source)?;
                Mediator::DataCall(crate::data::service::DataCall::build(m, source)?)
            }
        })
    }

    /// Runs the mediator on a message.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        match self {
            Mediator::Log(m) => m.mediate(msg),
            Mediator::Property(m) => m.mediate(msg),
            Mediator::Variable(m) => m.mediate(msg),
            Mediator::Header(m) => m.mediate(msg),
            Mediator::Filter(m) => m.mediate(msg, env).await,
            Mediator::Switch(m) => m.mediate(msg, env).await,
            Mediator::PayloadFactory(m) => m.mediate(msg),
            Mediator::Enrich(m) => m.mediate(msg),
            Mediator::Call(m) => m.mediate(msg, env).await,
            Mediator::Send(m) => m.mediate(msg, env).await,
            Mediator::Respond(m) => m.mediate(msg),
            Mediator::Drop(m) => m.mediate(msg),
            Mediator::Loopback(m) => m.mediate(msg, env).await,
            Mediator::Sequence(m) => m.mediate(msg, env).await,
            Mediator::Store(m) => m.mediate(msg, env).await,
            Mediator::ThrowError(m) => m.mediate(msg),
            Mediator::Makefault(m) => m.mediate(msg),
            Mediator::Clone(m) => m.mediate(msg, env).await,
            Mediator::Iterate(m) => m.mediate(msg, env).await,
            Mediator::Aggregate(m) => m.mediate(msg, env).await,
            Mediator::Foreach(m) => m.mediate(msg, env).await,
            Mediator::ScatterGather(m) => m.mediate(msg, env).await,
            Mediator::Validate(m) => m.mediate(msg, env).await,
            Mediator::CallTemplate(m) => m.mediate(msg, env).await,
            Mediator::Cache(m) => m.mediate(msg, env).await,
            Mediator::JsonTransform(m) => m.mediate(msg),
            Mediator::Xslt(m) => m.mediate(msg),
            Mediator::Script(m) => m.mediate(msg),
            Mediator::Throttle(m) => m.mediate(msg, env).await,
            Mediator::Db(m) => m.mediate(msg).await,
            Mediator::DataCall(m) => m.mediate(msg).await,
            Mediator::Group(props) => {
                for p in props {
                    if let Mediator::Property(p) = p {
                        p.mediate(msg)?;
                    }
                }
                Ok(Flow::Continue)
            }
        }
    }
}
