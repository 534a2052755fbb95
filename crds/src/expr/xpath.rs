//! Legacy XPath 1.0 expressions with Synapse's variables and functions: syntax only.
//!
//! The expression is checked with `sxd-xpath` at load time and the Synapse variables it
//! reads (`$ctx:x`, `$trp:x`, `$body`, ...) are collected, so the runtime knows what to bind
//! before it evaluates the expression against the message's XML.

use super::ExprError;

/// The variable prefixes Synapse defines, and what each reads.
pub const VARIABLE_PREFIXES: [&str; 6] = ["ctx", "axis2", "trp", "url", "func", "var"];

/// A variable an XPath expression reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum XPathVariable {
    /// `$body`: the SOAP body element (for non-SOAP payloads, the wrapper around it).
    Body,
    /// `$header`: the SOAP header element.
    Header,
    /// `$prefix:name`, with `prefix` one of [`VARIABLE_PREFIXES`].
    Scoped {
        /// `ctx`, `axis2`, `trp`, `url`, `func` or `var`.
        prefix: String,
        /// The property, header, parameter or variable name.
        name: String,
    },
}

/// A legacy XPath expression, validated at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XPathExpression {
    /// The XPath text.
    pub source: String,
    /// Namespace prefixes the expression may use, as declared by the resource.
    pub namespaces: Vec<(String, String)>,
    /// The Synapse variables it references, each once.
    pub variables: Vec<XPathVariable>,
}

impl XPathExpression {
    /// Checks `src` as XPath 1.0 and collects the Synapse variables it reads.
    pub fn parse(src: &str, namespaces: &[(String, String)]) -> Result<Self, ExprError> {
        if src.trim().is_empty() {
            return Err(ExprError::new("empty XPath expression", 0));
        }
        if let Some(at) = find_outside_strings(src, "vault-lookup(") {
            return Err(ExprError::new(
                "vault-lookup is not supported by Ferry yet",
                at,
            ));
        }
        check_size(src)?;
        let variables = scan_variables(src)?;
        check_prefixes(src, namespaces)?;
        match sxd_xpath::Factory::new().build(src) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ExprError::new("empty XPath expression", 0)),
            Err(e) => return Err(ExprError::new(format!("invalid XPath: {e}"), 0)),
        }
        Ok(Self {
            source: src.to_owned(),
            namespaces: namespaces.to_vec(),
            variables,
        })
    }

    /// Whether the expression reads only properties, headers and parameters, never the body.
    /// A conservative guess: anything with a location path is assumed to need the body.
    pub fn uses_payload(&self) -> bool {
        let mut stripped = String::new();
        for_each_outside_strings(&self.source, |c| stripped.push(c));
        let reads_tree = self
            .variables
            .iter()
            .any(|v| !matches!(v, XPathVariable::Scoped { .. }));
        // With the strings and variable references gone, a remaining name that is not a
        // function call or a location-path character means a path into the document.
        let mut words = stripped.split(|c: char| !(c.is_alphanumeric() || "-_:$".contains(c)));
        let has_step = words.any(|w| {
            !w.is_empty()
                && !w.starts_with('$')
                && !w.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !matches!(w, "and" | "or" | "div" | "mod")
                && !is_function_name(&stripped, w)
        });
        reads_tree || has_step || stripped.contains('/') || stripped.contains('.')
    }
}

/// Whether `word` appears in `text` only directly followed by `(` (a function call).
fn is_function_name(text: &str, word: &str) -> bool {
    text.match_indices(word)
        .all(|(i, _)| text[i + word.len()..].trim_start().starts_with('('))
}

/// The SOAP 1.1 envelope namespace, bound to `soapenv` unless the resource binds it itself:
/// Synapse wraps every payload in an envelope, so paths through it are common.
pub const SOAPENV: (&str, &str) = ("soapenv", "http://schemas.xmlsoap.org/soap/envelope/");

/// Checks that every `prefix:name` in a name test or function name is declared. The XPath
/// engine cannot report an unknown prefix at run time, so it must never see one.
fn check_prefixes(src: &str, namespaces: &[(String, String)]) -> Result<(), ExprError> {
    let mut masked = String::new();
    for_each_outside_strings(src, |c| masked.push(c));
    let chars: Vec<char> = masked.chars().collect();
    // XML's NCName classes, as the XPath lexer reads names (`char::is_alphabetic` misses
    // some, such as U+0484, and a prefix spelled with one went unchecked).
    let name_start = |c: char| {
        matches!(c,
            'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
            | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
            | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
            | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    };
    let name_char = |c: char| {
        name_start(c)
            || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}'
                | '\u{203F}'..='\u{2040}')
    };
    let mut i = 0;
    while i < chars.len() {
        // Step over whole tokens the way the XPath lexer reads them: a number ends where
        // its digits and dots end, so in `2-p:x` the `-` is an operator and `p:x` a name
        // to check (judging a name start by the character before it skipped that name,
        // and the engine then panicked on the unknown prefix while evaluating).
        if chars[i].is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        // `$prefix:name` is a variable, not a name test: its prefix is Synapse's.
        if chars[i] == '$' {
            i += 1;
            while i < chars.len() && (name_char(chars[i]) || chars[i] == ':') {
                i += 1;
            }
            continue;
        }
        if !name_start(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && name_char(chars[i]) {
            i += 1;
        }
        let after = chars.get(i + 1).copied();
        let qualified =
            chars.get(i) == Some(&':') && after.is_some_and(|c| name_start(c) || c == '*');
        if !qualified {
            continue;
        }
        let prefix: String = chars[start..i].iter().collect();
        let declared = prefix == SOAPENV.0 || namespaces.iter().any(|(p, _)| *p == prefix);
        if !declared {
            return Err(ExprError::new(
                format!("namespace prefix '{prefix}' is not declared"),
                start,
            ));
        }
        i += 1;
    }
    Ok(())
}

/// How deep an XPath may nest brackets, and how many operator characters it may hold: the
/// XPath engine parses and evaluates recursively, and a fuzzer's `((((...` or `1+1+...+1`
/// overflowed a 2 MiB thread's stack. Far beyond any configuration.
const MAX_XPATH_DEPTH: usize = 32;
const MAX_XPATH_OPERATORS: usize = 256;

fn check_size(src: &str) -> Result<(), ExprError> {
    let (mut depth, mut operators, mut at) = (0usize, 0usize, 0usize);
    let mut result = Ok(());
    for_each_outside_strings(src, |c| {
        if result.is_err() {
            return;
        }
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '|' | '=' | '<' | '>' => operators += 1,
            _ => {}
        }
        if depth > MAX_XPATH_DEPTH {
            result = Err(ExprError::new(
                format!("the XPath nests more than {MAX_XPATH_DEPTH} levels deep"),
                at,
            ));
        } else if operators > MAX_XPATH_OPERATORS {
            result = Err(ExprError::new(
                format!("the XPath has more than {MAX_XPATH_OPERATORS} operators"),
                at,
            ));
        }
        at += 1;
    });
    result
}

/// Calls `f` with every character outside quoted string literals (quotes included as `"`).
fn for_each_outside_strings(src: &str, mut f: impl FnMut(char)) {
    let mut quote = None;
    for c in src.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                f('"');
            }
            None => f(c),
        }
    }
}

fn find_outside_strings(src: &str, needle: &str) -> Option<usize> {
    let mut masked = String::new();
    for_each_outside_strings(src, |c| masked.push(c));
    masked
        .find(needle)
        .map(|byte| masked[..byte].chars().count())
}

/// Finds `$name` and `$prefix:name` references outside string literals.
fn scan_variables(src: &str) -> Result<Vec<XPathVariable>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut quote = None;
    let mut i = 0;
    let name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c != '$' {
            i += 1;
            continue;
        }
        let at = i;
        i += 1;
        let start = i;
        while i < chars.len() && name_char(chars[i]) {
            i += 1;
        }
        let first: String = chars[start..i].iter().collect();
        let var = if i < chars.len() && chars[i] == ':' {
            i += 1;
            let name_start = i;
            while i < chars.len() && name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[name_start..i].iter().collect();
            if !VARIABLE_PREFIXES.contains(&first.as_str()) {
                return Err(ExprError::new(
                    format!(
                        "unknown variable prefix '${first}:' (Synapse defines $ctx:, $axis2:, \
                         $trp:, $url: and $func:)"
                    ),
                    at,
                ));
            }
            if name.is_empty() {
                return Err(ExprError::new(
                    format!("missing name after '${first}:'"),
                    at,
                ));
            }
            XPathVariable::Scoped {
                prefix: first,
                name,
            }
        } else {
            match first.as_str() {
                "body" => XPathVariable::Body,
                "header" => XPathVariable::Header,
                other => {
                    return Err(ExprError::new(
                        format!("unknown variable '${other}' (Synapse defines $body and $header)"),
                        at,
                    ));
                }
            }
        };
        if !out.contains(&var) {
            out.push(var);
        }
    }
    Ok(out)
}
