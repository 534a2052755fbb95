//! Expression and template syntax: what the loader, the validator, the operator and the
//! runtime's compiler all parse, once, at load time.
//!
//! An expression string is one of three languages, told apart by its shape:
//! - `${ ... }`: a Synapse expression (MI 4.4+), parsed into [`ast::Node`];
//! - `json-eval(<jsonpath>)`: legacy JSONPath over the payload or a property ([`JsonEval`]);
//! - anything else: legacy XPath 1.0 with Synapse's variables ([`xpath::XPathExpression`]).
//!
//! Text with inline `${...}` parts (log messages, payloadFactory formats) is a [`Template`].
//! Evaluation lives in the runtime (`ferry::expr`); nothing here touches a message.

pub mod ast;
mod lexer;
mod parser;
mod template;
pub mod xpath;

#[cfg(test)]
mod tests;

use std::fmt;

pub use ast::{Function, Node, Root, Segment};
pub use template::{DynamicValue, Part, Part as TemplatePart, Template};
pub use xpath::{XPathExpression, XPathVariable};

/// A syntax error, located by character offset within the parsed string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ExprError {
    /// What is wrong, as a sentence fragment (`unknown function 'foo'`).
    pub message: String,
    /// The 0-based character offset in the parsed string where the problem starts.
    pub offset: usize,
}

impl ExprError {
    /// An error at `offset`.
    pub fn new(message: impl Into<String>, offset: usize) -> Self {
        Self {
            message: message.into(),
            offset,
        }
    }

    /// The 1-based column, for messages meant for people.
    pub fn column(&self) -> usize {
        self.offset + 1
    }

    /// The same error moved by `delta` characters (when the string was embedded in another).
    pub fn shifted(mut self, delta: usize) -> Self {
        self.offset += delta;
        self
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column())
    }
}

/// A parsed expression in one of the three languages.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    /// `${ ... }`.
    Synapse(SynapseExpression),
    /// `json-eval(...)`.
    JsonEval(JsonEval),
    /// Legacy XPath 1.0.
    XPath(XPathExpression),
}

/// A Synapse expression: its source and tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseExpression {
    /// The expression as written, `${` and `}` included.
    pub source: String,
    /// The parsed tree.
    pub root: Node,
    /// Namespace prefixes for `xpath()` calls inside it.
    pub namespaces: Vec<(String, String)>,
}

/// A legacy `json-eval(...)` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEval {
    /// The expression as written.
    pub source: String,
    /// What the path is applied to.
    pub target: JsonEvalTarget,
    /// The JSON path after the root (`$` or `$ctx:name`).
    pub segments: Vec<Segment>,
}

/// What a `json-eval` path reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonEvalTarget {
    /// `json-eval($.a.b)`: the payload.
    Payload,
    /// `json-eval($ctx:name.a.b)`: a default-scope property holding JSON.
    Property(String),
    /// `json-eval($axis2:name.a.b)`: an Axis2-scope property holding JSON.
    Axis2Property(String),
}

// === impl Expression ===

impl Expression {
    /// Parses an expression with no namespace prefixes declared.
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        Self::parse_with_namespaces(src, &[])
    }

    /// Parses an expression; `namespaces` are the `(prefix, uri)` pairs XPath may use.
    pub fn parse_with_namespaces(
        src: &str,
        namespaces: &[(String, String)],
    ) -> Result<Self, ExprError> {
        let chars: Vec<char> = src.chars().collect();
        let lead = chars.iter().take_while(|c| c.is_whitespace()).count();
        let mut end = chars.len();
        while end > lead && chars[end - 1].is_whitespace() {
            end -= 1;
        }
        let body = &chars[lead..end];
        if body.starts_with(&['$', '{']) {
            let Some(close) = matching_brace(&chars, lead + 2) else {
                // An unterminated string is the usual cause; the lexer says so precisely.
                lexer::tokenize(&chars, lead + 2, end)?;
                return Err(ExprError::new("'${' is never closed by '}'", lead));
            };
            if close + 1 != end {
                return Err(ExprError::new(
                    "text after the closing '}' of the expression (use a template for mixed text)",
                    close + 1,
                ));
            }
            let root = parser::parse(&chars, lead + 2, close, namespaces)?;
            return Ok(Expression::Synapse(SynapseExpression {
                source: src.to_owned(),
                root,
                namespaces: namespaces.to_vec(),
            }));
        }
        const JSON_EVAL: &str = "json-eval(";
        let body_str: String = body.iter().collect();
        if body_str.starts_with(JSON_EVAL) {
            if !body_str.ends_with(')') {
                return Err(ExprError::new("json-eval( is never closed by ')'", lead));
            }
            let from = lead + JSON_EVAL.chars().count();
            return parse_json_eval(src, &chars, from, end - 1).map(Expression::JsonEval);
        }
        XPathExpression::parse(src, namespaces).map(Expression::XPath)
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        match self {
            Expression::Synapse(e) => &e.source,
            Expression::JsonEval(e) => &e.source,
            Expression::XPath(e) => &e.source,
        }
    }

    /// Whether this is a Synapse expression (`${...}`).
    pub fn is_synapse(&self) -> bool {
        matches!(self, Expression::Synapse(_))
    }

    /// The configuration keys (`${config.x}`) it reads; legacy JSONPath and XPath read none.
    pub fn config_keys(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Expression::Synapse(e) = self {
            e.root.config_keys(&mut out);
        }
        out
    }

    /// Whether evaluating it reads the payload, so a mediator using it needs the body parsed.
    pub fn uses_payload(&self) -> bool {
        match self {
            Expression::Synapse(e) => e.root.uses_payload(),
            Expression::JsonEval(e) => e.target == JsonEvalTarget::Payload,
            Expression::XPath(e) => e.uses_payload(),
        }
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source())
    }
}

/// Parses the inside of `json-eval( ... )`: `$...` or `$ctx:name...`.
fn parse_json_eval(
    src: &str,
    chars: &[char],
    from: usize,
    to: usize,
) -> Result<JsonEval, ExprError> {
    let mut i = from;
    while i < to && chars[i].is_whitespace() {
        i += 1;
    }
    let mut to = to;
    while to > i && chars[to - 1].is_whitespace() {
        to -= 1;
    }
    if i >= to || chars[i] != '$' {
        return Err(ExprError::new(
            "json-eval expects a JSONPath starting with '$'",
            i,
        ));
    }
    let rest: String = chars[i..to].iter().collect();
    let (target, path_from) =
        if let Some(scoped) = ["$ctx:", "$axis2:"].iter().find(|p| rest.starts_with(**p)) {
            let name_from = i + scoped.chars().count();
            let mut name_end = name_from;
            while name_end < to && !matches!(chars[name_end], '.' | '[') {
                name_end += 1;
            }
            let name: String = chars[name_from..name_end].iter().collect();
            if name.is_empty() {
                return Err(ExprError::new(
                    "missing property name in json-eval",
                    name_from,
                ));
            }
            let target = if *scoped == "$ctx:" {
                JsonEvalTarget::Property(name)
            } else {
                JsonEvalTarget::Axis2Property(name)
            };
            (target, name_end)
        } else {
            (JsonEvalTarget::Payload, i + 1)
        };
    let segments = parser::parse_segments(chars, path_from, to)?;
    Ok(JsonEval {
        source: src.to_owned(),
        target,
        segments,
    })
}

/// Finds the `}` closing an expression whose body starts at `from` (just after `${`),
/// skipping braces inside string literals and nested braces. Returns its index.
pub(crate) fn matching_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = from;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(_) if c == '\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '{' => depth += 1,
                '}' if depth == 0 => return Some(i),
                '}' => depth -= 1,
                _ => {}
            },
        }
        i += 1;
    }
    None
}
