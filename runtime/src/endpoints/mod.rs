//! Endpoints: how a message leaves Ferry for a backend.
//!
//! [`client`] is the pooled HTTP client and [`error`] classifies its failures into Synapse's
//! codes. The endpoint layer on top ([`endpoint`]) builds requests from messages
//! (`target`, `headers`) and adds retries and suspension (`leaf`), failover and load
//! balancing (`failover`, `loadbalance`); mediators (`call`, `send`) and message
//! processors go through it.

pub mod client;
pub mod endpoint;
pub mod error;
mod failover;
mod file;
mod headers;
mod leaf;
mod loadbalance;
mod mqtt;
pub mod oauth;
mod pool;
mod rabbitmq;
mod smtp;
pub mod suspension;
mod target;

pub use endpoint::Endpoint;

/// The build context of the runtime's components: endpoints, and the mediators,
/// processors and tasks that refer to them.
pub type BuildCx<'a> = crate::compile::cx::BuildCx<'a, Endpoint>;
