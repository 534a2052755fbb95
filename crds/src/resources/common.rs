//! Building blocks shared by several kinds and by the mediator types: the runtime-group
//! default, secret references, name/value pairs, status conditions, and the schema helpers
//! that keep the generated CRDs structural.
//!
//! Nothing here runs on the request path; these are plain serde types the loader fills and
//! the validator and compiler read.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The status condition every Ferry resource reports (`Accepted`, `Ready`, ...): the
/// Kubernetes `metav1.Condition`, so `kubectl wait --for=condition=Accepted` works.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The runtime group an artifact runs in when `spec.runtime` is not set.
pub const DEFAULT_RUNTIME: &str = "default";

/// Default of every artifact's `spec.runtime`.
pub fn default_runtime() -> String {
    DEFAULT_RUNTIME.to_string()
}

pub(crate) fn default_true() -> bool {
    true
}

/// Where a secret value (a password, a token, a database URL) comes from. Secrets are never
/// written into resources: exactly one of `secretKeyRef` or `env` is set.
///
/// In a cluster the operator injects a `secretKeyRef` into the runtime's pods as the
/// environment variable [`SecretSource::env_var`] names; `ferry run` reads that same
/// variable, so a local run only needs it exported. `env` names a variable directly, which
/// is the simplest form for local development.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSource {
    /// A key of a Kubernetes Secret in the resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// The name of an environment variable of the runtime process holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// A key of a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name (in the same namespace as the resource).
    pub name: String,
    /// The key inside the Secret's data.
    pub key: String,
}

impl SecretSource {
    /// The environment variable the runtime reads this secret from: `env` as written, or for
    /// a `secretKeyRef` `FERRY_SECRET_<NAME>_<KEY>` (upper-cased, every character other than
    /// a letter or digit replaced by `_`). The operator uses the same name when it injects
    /// the Secret, so both sides agree without configuration. `None` when neither is set.
    pub fn env_var(&self) -> Option<String> {
        if let Some(env) = &self.env {
            return Some(env.clone());
        }
        let r = self.secret_key_ref.as_ref()?;
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        Some(format!("FERRY_SECRET_{}_{}", clean(&r.name), clean(&r.key)))
    }
}

/// A named value given literally or computed by an expression (a log property, a header to
/// add, a template parameter). Exactly one of `value` and `expression` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedValue {
    /// The name.
    pub name: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value: a Synapse expression `${...}`, or XPath /
    /// `json-eval(...)` for configurations written for older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A named literal string (a parser feature, an XSLT parameter given as text).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Feature {
    /// The feature's name (a URI for XML parser features).
    pub name: String,
    /// Whether the feature is on.
    pub value: bool,
}

/// Set or remove, the action of property, variable and header mediators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum SetOrRemove {
    /// Set the value (the default).
    #[default]
    Set,
    /// Remove it.
    Remove,
}

/// Schema for a field holding any JSON value (an inline payload, a JSON Schema): accepted as
/// is by the API server, checked by Ferry's validator.
pub(crate) fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Drops a type's own description from its schema, so the description of the field that
/// holds it wins. Used on enums: for an optional enum, kube's schema rewriting copies the
/// enum's schema over the field's, and the field's text (what `kubectl explain` shows,
/// with units and defaults) would otherwise be replaced by the enum's one-liner.
pub(crate) fn field_describes(schema: &mut Schema) {
    schema.remove("description");
}
