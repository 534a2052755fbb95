//! `ferry-operator`: reconciles ferry.dev resources, one runtime group at a time, into the
//! Kubernetes objects that run them, and reports on every resource whether it was accepted
//! and is running.
//!
//! The pipeline of one reconcile: collect the group's objects ([`group`]) → admit them
//! with the validator `ferry validate` uses ([`admission`]) → render the objects, purely
//! ([`render`]) → server-side apply them → write status ([`status`]). [`controller`] runs
//! it on watch events; [`reconcile`] is one pass. In sidecar mode [`webhook`] injects the
//! runtime into application pods as [`sidecar`] decides, over HTTPS with a certificate
//! [`certs`] keeps current.

pub mod admission;
pub mod applied;
pub mod certs;
pub mod config;
pub mod controller;
pub mod group;
pub mod health;
pub mod metrics;
pub mod offline;
pub mod reconcile;
pub mod render;
pub mod sidecar;
pub mod status;
pub mod webhook;

#[cfg(test)]
pub(crate) mod testing;
