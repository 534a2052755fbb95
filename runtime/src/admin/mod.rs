//! The admin port (9201 by default): liveness and readiness probes for Kubernetes, the
//! Prometheus scrape endpoint, and the hook for the management API. It runs on its own
//! listener so probes and scrapes never queue behind API traffic.

pub mod management;
pub mod metrics;
pub mod server;
