//! Text with inline expressions: log messages, payloadFactory formats and `{...}` dynamic
//! attribute values. Parsed once at load time into literal and expression parts.
//!
//! Escapes (a Ferry choice; MI offers none): `\${` writes a literal `${`, and in payload
//! formats `\$` before a digit writes a literal `$`.

use std::collections::BTreeSet;

use super::{ExprError, Expression, matching_brace};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text copied as is.
    Literal(String),
    /// An inline `${...}` expression, replaced by its string value.
    Expr(Expression),
    /// A payloadFactory placeholder `$n` (1-based), replaced by the n-th argument.
    Arg(usize),
}

/// Text with inline `${...}` expressions (and, for payload formats, `$n` placeholders).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    /// The parts in order; adjacent literals are merged.
    pub parts: Vec<Part>,
}

impl Template {
    /// Parses text with inline `${...}` expressions.
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        Self::parse_inner(src, false, &[])
    }

    /// Parses text with inline `${...}` expressions whose `xpath()` calls may use `namespaces`.
    pub fn parse_with_namespaces(
        src: &str,
        namespaces: &[(String, String)],
    ) -> Result<Self, ExprError> {
        Self::parse_inner(src, false, namespaces)
    }

    /// Parses a payloadFactory format: inline `${...}` expressions and `$1 … $n` placeholders.
    pub fn parse_payload_format(
        src: &str,
        namespaces: &[(String, String)],
    ) -> Result<Self, ExprError> {
        Self::parse_inner(src, true, namespaces)
    }

    fn parse_inner(
        src: &str,
        placeholders: bool,
        namespaces: &[(String, String)],
    ) -> Result<Self, ExprError> {
        let chars: Vec<char> = src.chars().collect();
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c == '\\' && next == Some('$') {
                let after = chars.get(i + 2).copied();
                if after == Some('{') || (placeholders && after.is_some_and(|d| d.is_ascii_digit()))
                {
                    text.push('$');
                    i += 2;
                    continue;
                }
            }
            if c == '$' && next == Some('{') {
                let close = matching_brace(&chars, i + 2)
                    .ok_or_else(|| ExprError::new("'${' is never closed by '}'", i))?;
                let expr_src: String = chars[i..=close].iter().collect();
                let expr = Expression::parse_with_namespaces(&expr_src, namespaces)
                    .map_err(|e| e.shifted(i))?;
                flush(&mut parts, &mut text);
                parts.push(Part::Expr(expr));
                i = close + 1;
                continue;
            }
            if placeholders && c == '$' && next.is_some_and(|d| d.is_ascii_digit()) {
                let mut end = i + 1;
                while end < chars.len() && chars[end].is_ascii_digit() {
                    end += 1;
                }
                let digits: String = chars[i + 1..end].iter().collect();
                let n: usize =
                    digits.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ExprError::new(format!("invalid placeholder ${digits}"), i)
                    })?;
                flush(&mut parts, &mut text);
                parts.push(Part::Arg(n));
                i = end;
                continue;
            }
            text.push(c);
            i += 1;
        }
        flush(&mut parts, &mut text);
        Ok(Self { parts })
    }

    /// The placeholder indices used (`$1` → 1), so a validator can compare them with the
    /// number of arguments given.
    pub fn arg_indices(&self) -> BTreeSet<usize> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Arg(n) => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// The inline expressions, in order.
    pub fn expressions(&self) -> impl Iterator<Item = &Expression> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            _ => None,
        })
    }

    /// Whether the template is plain text (nothing to evaluate).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Whether any inline expression reads the payload.
    pub fn uses_payload(&self) -> bool {
        self.expressions().any(Expression::uses_payload)
    }
}

fn flush(parts: &mut Vec<Part>, text: &mut String) {
    if !text.is_empty() {
        parts.push(Part::Literal(std::mem::take(text)));
    }
}

/// An attribute value that is either literal text or, written `{expr}`, an expression in
/// any of the three languages (`errorMessage="{${var.msg}}"`, `key="{//name}"`).
#[derive(Debug, Clone, PartialEq)]
pub enum DynamicValue {
    /// A fixed value.
    Literal(String),
    /// A value computed per message.
    Expr(Expression),
}

impl DynamicValue {
    /// Parses `{expr}` as an expression and anything else as a literal.
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        Self::parse_with_namespaces(src, &[])
    }

    /// As [`DynamicValue::parse`], with namespace prefixes for XPath.
    pub fn parse_with_namespaces(
        src: &str,
        namespaces: &[(String, String)],
    ) -> Result<Self, ExprError> {
        let trimmed = src.trim();
        match trimmed.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) if !inner.trim().is_empty() => {
                let offset = src.chars().take_while(|c| c.is_whitespace()).count() + 1;
                Expression::parse_with_namespaces(inner, namespaces)
                    .map(DynamicValue::Expr)
                    .map_err(|e| e.shifted(offset))
            }
            _ => Ok(DynamicValue::Literal(src.to_owned())),
        }
    }
}
