//! The HTTP transport: the listener that accepts requests ([`server`]), the route table that
//! picks an API resource for each (`ferry_api::routes`, built by the checker), the body type both sides share ([`body`]),
//! and the listener's graceful shutdown ([`drain`]).

pub mod body;
pub(crate) mod drain;
pub mod server;
