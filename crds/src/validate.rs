//! Validation: the diagnostics of a bundle, for callers that only want to know whether it
//! may run and, if not, why (`ferry validate`, the operator's admission). It is the
//! checker's verdict: [`crate::check`] is the one place a configuration is judged, and the
//! runtime builds from the same pass.

use crate::bundle::Bundle;
use crate::check::{ConfigKeys, check};
use crate::diagnostic::Diagnostic;

/// Every diagnostic of the bundle, with only the built-in configuration keys set (what a
/// runtime in Kubernetes has).
pub fn validate(bundle: &Bundle) -> Vec<Diagnostic> {
    validate_with(bundle, &ConfigKeys::built_in())
}

/// Every diagnostic of the bundle, for a runtime that sets `config`.
pub fn validate_with(bundle: &Bundle, config: &ConfigKeys) -> Vec<Diagnostic> {
    check(bundle, config).diagnostics
}

/// The HTTP method name of an API method (`GET`, ...).
pub fn method_name(m: &crate::resources::ApiMethod) -> String {
    match serde_json::to_value(m) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{m:?}").to_uppercase(),
    }
}
