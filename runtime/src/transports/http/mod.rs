//! The HTTP transport: the listener that accepts requests ([`server`]), the route table that
//! picks an API resource for each ([`router`]), and the body type both sides share ([`body`]).

pub mod body;
pub mod router;
pub mod server;
