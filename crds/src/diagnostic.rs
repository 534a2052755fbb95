//! Located diagnostics: what every check reports, in one shape, so `ferry validate`,
//! `ferry run` and the operator's `Accepted` condition all say the same thing.
//!
//! Rendered as `file:line: Kind/name field.path: message`; parts that are unknown are left
//! out (a document that is not even YAML has no resource name, say).

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; the configuration still loads.
    Warning,
    /// The configuration (or the resource) cannot be used.
    Error,
}

/// One finding about the configuration, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// The file (or other source name, e.g. a ConfigMap key) the resource came from.
    pub file: Option<String>,
    /// The 1-based line in `file`.
    pub line: Option<u32>,
    /// The resource as `Kind/name`.
    pub resource: Option<String>,
    /// The field path inside the resource, e.g. `spec.resources[0].inSequence[2].call`.
    pub field: Option<String>,
    /// What is wrong, as a sentence fragment without a trailing period.
    pub message: String,
}

impl Diagnostic {
    /// An error with only a message; locate it with the builder methods.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: None,
            line: None,
            resource: None,
            field: None,
            message: message.into(),
        }
    }

    /// A warning with only a message; locate it with the builder methods.
    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message)
        }
    }

    /// Sets the source file name.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the 1-based line.
    pub fn at_line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the resource (`Kind/name`).
    pub fn for_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the field path.
    pub fn at_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic without its file and line: the form a Kubernetes status condition
    /// carries, where the file means nothing to the reader.
    pub fn without_location(&self) -> String {
        let mut out = String::new();
        if let Some(field) = &self.field {
            out.push_str(field);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(file) = &self.file {
            f.write_str(file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(":")?;
            wrote = true;
        }
        if self.severity == Severity::Warning {
            f.write_str(if wrote { " warning:" } else { "warning:" })?;
            wrote = true;
        }
        if let Some(resource) = &self.resource {
            if wrote {
                f.write_str(" ")?;
            }
            f.write_str(resource)?;
            wrote = true;
        }
        if let Some(field) = &self.field {
            if wrote {
                f.write_str(" ")?;
            }
            f.write_str(field)?;
            f.write_str(":")?;
        } else if self.resource.is_some() {
            f.write_str(":")?;
        }
        if wrote || self.field.is_some() {
            f.write_str(" ")?;
        }
        f.write_str(&self.message)
    }
}

/// Sorts diagnostics by file, line, then message, so output is stable across runs.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, &a.resource, &a.field, &a.message).cmp(&(
            &b.file,
            b.line,
            &b.resource,
            &b.field,
            &b.message,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fully_located_error_reads_file_line_resource_field_message() {
        let d = Diagnostic::error("endpoint \"SettlePaymentEP\" is not defined")
            .in_file("healthcare.yaml")
            .at_line(14)
            .for_resource("IntegrationAPI/healthcare")
            .at_field("spec.resources[0].inSequence[2].call");
        assert_eq!(
            d.to_string(),
            "healthcare.yaml:14: IntegrationAPI/healthcare spec.resources[0].inSequence[2].call: \
             endpoint \"SettlePaymentEP\" is not defined"
        );
    }

    #[test]
    fn missing_parts_are_left_out() {
        assert_eq!(Diagnostic::error("boom").to_string(), "boom");
        assert_eq!(
            Diagnostic::error("not YAML")
                .in_file("a.yaml")
                .at_line(3)
                .to_string(),
            "a.yaml:3: not YAML"
        );
        assert_eq!(
            Diagnostic::error("bad")
                .for_resource("Sequence/s")
                .to_string(),
            "Sequence/s: bad"
        );
    }

    #[test]
    fn warnings_say_so() {
        let d = Diagnostic::warning("skipped").in_file("a.yaml").at_line(1);
        assert_eq!(d.to_string(), "a.yaml:1: warning: skipped");
    }

    #[test]
    fn the_status_form_keeps_the_field_but_not_the_file() {
        let d = Diagnostic::error("must start with /")
            .in_file("a.yaml")
            .at_line(2)
            .at_field("spec.context");
        assert_eq!(d.without_location(), "spec.context: must start with /");
    }
}
