//! Ferry's runtime: loads a bundle of resources, compiles it once into an immutable form,
//! and serves it (HTTP APIs, endpoints, and the admin port).

pub mod admin;
pub mod amqp;
pub mod cause;
pub mod cli;
pub mod compile;
pub mod compiled;
pub mod coverage;
pub mod data;
pub mod dispatch;
pub mod endpoints;
pub mod expr;
pub mod fault;
pub mod import;
pub mod inbound;
pub mod leadership;
pub mod mediators;
pub mod message;
pub mod mqtt;
pub mod panics;
pub mod passthrough;
pub mod processors;
pub mod reload;
pub mod repeated;
pub mod security;
pub mod sequence;
pub mod stores;
pub mod supervisor;
pub mod tasks;
pub mod telemetry;
pub mod testing;
pub mod timeouts;
pub mod tls;
pub mod transports;
pub mod vfs;
pub mod xml;
