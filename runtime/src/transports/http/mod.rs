//! The HTTP transport: the listener that accepts requests ([`server`]), the body type both
//! sides share ([`body`]), the error answers both write ([`error`]), the deadlines on slow
//! clients ([`deadline`]), and the listener's graceful shutdown ([`drain`]). The route table
//! that picks an API resource for each request is built by the checker (`ferry_api::routes`).

pub mod body;
pub mod cors;
pub mod deadline;
pub(crate) mod drain;
pub mod error;
pub mod server;
pub(crate) mod wire;
