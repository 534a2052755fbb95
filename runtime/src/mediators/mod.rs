//! Mediators: the compiled form of each `ferry_api::mediator::Mediator`, and the one
//! exhaustive `match` that compiles and runs them.
//!
//! Each mediator is a module (named as in Synapse) with a type built once by `compile` from
//! its spec, and a `mediate` that works on a message. Adding a mediator touches its spec in
//! `ferry-api`, one file here plus the two match arms below, and one behaviour test.

pub mod call;
pub mod drop;
pub mod enrich;
pub mod filter;
pub mod header;
pub mod log;
pub mod loopback;
pub mod payload_factory;
pub mod property;
pub mod respond;
pub mod send;
pub mod sequence;
pub mod store;
pub mod switch;
pub mod throw_error;
pub mod value;
pub mod variable;

use ferry_api::mediator::Mediator as Spec;

use crate::compile::CompileCx;
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
}

impl Mediator {
    /// Compiles one mediator at `field`; `None` when it has errors (recorded in `cx`).
    pub fn compile(spec: &Spec, cx: &mut CompileCx<'_>, field: &str) -> Option<Mediator> {
        Some(match spec {
            Spec::Log(s) => Mediator::Log(log::Log::compile(s, cx, field)?),
            Spec::Property(s) => Mediator::Property(property::Property::compile(s, cx, field)?),
            Spec::PropertyGroup(g) => {
                let mut props = Vec::with_capacity(g.properties.len());
                for (i, s) in g.properties.iter().enumerate() {
                    let f = format!("{field}.properties[{i}]");
                    props.push(Mediator::Property(property::Property::compile(s, cx, &f)?));
                }
                Mediator::Group(props)
            }
            Spec::Variable(s) => Mediator::Variable(variable::Variable::compile(s, cx, field)?),
            Spec::Header(s) => Mediator::Header(header::Header::compile(s, cx, field)?),
            Spec::Filter(s) => Mediator::Filter(filter::Filter::compile(s, cx, field)?),
            Spec::Switch(s) => Mediator::Switch(switch::Switch::compile(s, cx, field)?),
            Spec::PayloadFactory(s) => {
                Mediator::PayloadFactory(payload_factory::PayloadFactory::compile(s, cx, field)?)
            }
            Spec::Enrich(s) => Mediator::Enrich(enrich::Enrich::compile(s, cx, field)?),
            Spec::Call(s) => Mediator::Call(call::Call::compile(s, cx, field)?),
            Spec::Send(s) => Mediator::Send(send::Send::compile(s, cx, field)?),
            Spec::Respond(s) => Mediator::Respond(respond::Respond::compile(s, cx, field)?),
            Spec::Drop(s) => Mediator::Drop(drop::Drop::compile(s, cx, field)?),
            Spec::Loopback(s) => Mediator::Loopback(loopback::Loopback::compile(s, cx, field)?),
            Spec::Sequence(s) => Mediator::Sequence(sequence::SequenceRef::compile(s, cx, field)?),
            Spec::Store(s) => Mediator::Store(store::Store::compile(s, cx, field)?),
            Spec::ThrowError(s) => {
                Mediator::ThrowError(throw_error::ThrowError::compile(s, cx, field)?)
            }
            other => {
                cx.error(
                    field,
                    format!(
                        "the {} mediator is not supported by this Ferry runtime yet",
                        other.name()
                    ),
                );
                return None;
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
