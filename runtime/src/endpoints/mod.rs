//! Endpoints: how a message leaves Ferry for a backend.
//!
//! [`client`] is the pooled HTTP client and [`error`] classifies its failures into Synapse's
//! codes. The endpoint layer on top builds requests from messages and adds retries,
//! suspension, failover and load balancing; mediators (`call`, `send`) and message
//! processors go through it.

pub mod client;
pub mod endpoint;
pub mod error;
mod pool;
pub mod suspension;

pub use endpoint::Endpoint;
