//! Lexical helpers: the rewriting of XPath text before `sxd-xpath` compiles it, names, and
//! numbers written as XPath 1.0's `string()` writes them.
//!
//! `sxd-xpath` evaluates every expression with context position and size 1 and has one
//! flat table of variables, so the stylesheet's expressions are rewritten: a variable
//! reference becomes the unique name of the declaration in scope (so a template never sees
//! its caller's locals, and recursion can restore the caller's value), and `position()` and
//! `last()` outside predicates become the processor's own variables holding the context
//! position and size of the current node list.

/// The variable holding the context position of the current node list.
pub(super) const POSITION_VAR: &str = "ferry-position";
/// The variable holding the context size of the current node list.
pub(super) const SIZE_VAR: &str = "ferry-size";
/// The variable holding the current node (for `current()`).
pub(super) const CURRENT_VAR: &str = "ferry-current";
/// The variable holding the stylesheet's root node (for `document('')`).
pub(super) const STYLESHEET_VAR: &str = "ferry-stylesheet";

/// What rewritten expressions use, so the processor binds only what is needed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Uses {
    pub position: bool,
    pub size: bool,
    pub current: bool,
    /// `document()`: the stylesheet itself is read as a document.
    pub document: bool,
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(super) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{B7}')
}

/// Whether `s` is an NCName.
pub(super) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Whether `s` is a QName (`prefix:local` or `local`).
pub(super) fn is_qname(s: &str) -> bool {
    match s.split_once(':') {
        Some((p, l)) => is_ncname(p) && is_ncname(l),
        None => is_ncname(s),
    }
}

/// The unprefixed functions a stylesheet can call: XPath 1.0's and XSLT 1.0's.
pub(super) const FUNCTIONS: &[&str] = &[
    "last",
    "position",
    "count",
    "local-name",
    "namespace-uri",
    "name",
    "string",
    "concat",
    "starts-with",
    "contains",
    "substring-before",
    "substring-after",
    "substring",
    "string-length",
    "normalize-space",
    "translate",
    "boolean",
    "not",
    "true",
    "false",
    "number",
    "sum",
    "floor",
    "ceiling",
    "round",
    "current",
    "key",
    "generate-id",
    "format-number",
    "system-property",
    "element-available",
    "function-available",
    "unparsed-entity-uri",
    "lang",
    "id",
    "document",
];

/// Names followed by `(` that are not function calls: node type tests and operators.
const NOT_FUNCTIONS: &[&str] = &[
    "node",
    "text",
    "comment",
    "processing-instruction",
    "and",
    "or",
    "div",
    "mod",
];

/// Rewrites XPath `text`: each `$name` through `resolve` (which says the unique name, or
/// why the variable is unknown) and `position()`/`last()` outside predicates to the
/// processor's variables. With `known_functions`, a call of another unprefixed function is
/// an error.
pub(super) fn rewrite_xpath(
    text: &str,
    known_functions: Option<&[&str]>,
    declared: &dyn Fn(&str) -> bool,
    uses: &mut Uses,
    resolve: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut depth = 0usize;
    let mut i = 0;
    let next_non_space = |from: usize| {
        chars[from..]
            .iter()
            .position(|c| !c.is_whitespace())
            .map(|p| from + p)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&q| q == c)
                    .ok_or_else(|| format!("an unterminated string literal in {text}"))?;
                out.extend(&chars[i..=i + 1 + end]);
                i += end + 2;
            }
            '[' => {
                depth += 1;
                out.push(c);
                i += 1;
            }
            ']' => {
                depth = depth.saturating_sub(1);
                out.push(c);
                i += 1;
            }
            '$' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len()
                    && (is_name_char(chars[end])
                        || (chars[end] == ':'
                            && chars.get(end + 1).is_some_and(|&n| is_name_start(n))))
                {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if !is_qname(&name) {
                    return Err(format!("a variable reference without a name in {text}"));
                }
                out.push('$');
                out.push_str(&resolve(&name)?);
                i = end;
            }
            c if is_name_start(c) => {
                let start = i;
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                let prev = out.trim_end().chars().last();
                let is_prefix = chars.get(i) == Some(&':')
                    && chars
                        .get(i + 1)
                        .is_some_and(|&n| n == '*' || is_name_start(n));
                if is_prefix && prev != Some(':') && name != "xml" && !declared(&name) {
                    return Err(format!(
                        "the namespace prefix {name} is not declared (in {text})"
                    ));
                }
                let after_prefix = prev == Some(':') || chars.get(i) == Some(&':');
                let call = next_non_space(i).filter(|&p| chars[p] == '(');
                if let (Some(_), false, false, Some(known)) =
                    (call, after_prefix, prev == Some('@'), known_functions)
                    && !known.contains(&name.as_str())
                    && !NOT_FUNCTIONS.contains(&name.as_str())
                {
                    return Err(format!("{name}() is not an XPath 1.0 or XSLT 1.0 function"));
                }
                if let (Some(open), false, false) = (call, after_prefix, prev == Some('@')) {
                    let close = next_non_space(open + 1).filter(|&p| chars[p] == ')');
                    match (name.as_str(), close) {
                        ("position", Some(close)) if depth == 0 => {
                            uses.position = true;
                            out.push('$');
                            out.push_str(POSITION_VAR);
                            i = close + 1;
                            continue;
                        }
                        ("last", Some(close)) if depth == 0 => {
                            uses.size = true;
                            out.push('$');
                            out.push_str(SIZE_VAR);
                            i = close + 1;
                            continue;
                        }
                        ("current", _) => uses.current = true,
                        ("document", _) => uses.document = true,
                        _ => {}
                    }
                }
                out.push_str(&name);
            }
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A part of an attribute value template.
pub(super) enum AvtPart<T> {
    Literal(String),
    Expr(T),
}

/// Splits an attribute value template into literal text and expression texts (`{{` and
/// `}}` are literal braces).
pub(super) fn split_avt(text: &str) -> Result<Vec<AvtPart<String>>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '}' => {
                return Err(format!(
                    "a lone '}}' in the attribute value template {text}"
                ));
            }
            '{' => {
                let mut expr = String::new();
                let mut quote = None;
                loop {
                    match chars.next() {
                        None => {
                            return Err(format!(
                                "an unterminated '{{' in the attribute value template {text}"
                            ));
                        }
                        Some(q @ ('\'' | '"')) if quote.is_none() => {
                            quote = Some(q);
                            expr.push(q);
                        }
                        Some(q) if quote == Some(q) => {
                            quote = None;
                            expr.push(q);
                        }
                        Some('}') if quote.is_none() => break,
                        Some(c) => expr.push(c),
                    }
                }
                if !lit.is_empty() {
                    parts.push(AvtPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(AvtPart::Expr(expr));
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(AvtPart::Literal(lit));
    }
    Ok(parts)
}

/// A number as XPath 1.0's `string()` writes it: no exponent, no trailing `.0`.
pub(super) fn number_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n < 0.0 { "-Infinity" } else { "Infinity" }.into()
    } else if n == 0.0 {
        "0".into()
    } else {
        format!("{n}")
    }
}

/// Whether `s` is whitespace only, as XML counts it.
pub(super) fn is_xml_space(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Where and why `text` does not parse as XML.
pub(super) fn parse_error(text: &str, e: &sxd_document::parser::Error) -> String {
    let at = e.location().min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let detail = e.to_string();
    let why = detail
        .split_once(": ")
        .map_or(detail.as_str(), |d| d.1)
        .trim_matches(|c| c == '{' || c == '}');
    format!("line {line}, column {column}: {why}")
}
