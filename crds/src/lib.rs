//! `ferry-api`: the contract the runtime, the operator and `ferry validate` share.
//!
//! It holds the custom resource types (`resources`, `mediator`), the loader that turns
//! multi-document YAML into a located [`bundle::Bundle`], the expression and template
//! syntax (`expr`), and the named checks that produce [`diagnostic::Diagnostic`]s. It has no
//! Kubernetes client: the operator adds that on top.

pub mod bundle;
pub mod check;
pub mod crd;
pub mod diagnostic;
pub mod expr;
pub mod mediator;
pub mod resources;
pub mod routes;
pub mod schedule;
/// JavaScript programs of the script mediator (wrapped and syntax-checked at load).
pub mod script;
pub mod validate;
pub mod xml_reference;
pub mod yaml_writer;

/// The API group of every Ferry resource.
pub const GROUP: &str = "ferry.dev";
/// The API version of every Ferry resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in resources.
pub const API_VERSION: &str = "ferry.dev/v1alpha1";
/// XSLT stylesheets of the xslt mediator (compile at load, transform per message).
pub mod xslt;
