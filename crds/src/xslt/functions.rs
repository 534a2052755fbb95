//! The XSLT 1.0 functions added to `sxd-xpath`'s core library (`current()`, `key()`,
//! `generate-id()`, `format-number()`, `system-property()`, `element-available()`,
//! `function-available()`, `unparsed-entity-uri()`, `lang()`, `id()`, EXSLT's
//! `node-set()`), and the number formatting of `format-number()` and `xsl:number`.
//!
//! Functions cannot borrow the transformation's state, so what they need that lives in the
//! documents is kept in variables with names no stylesheet can write: the current node in
//! [`CURRENT_VAR`], each key value's nodes in [`key_var`].

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use sxd_document::QName;
use sxd_xpath::context::Evaluation;
use sxd_xpath::function::{Error, Function};
use sxd_xpath::nodeset::{Node, Nodeset};
use sxd_xpath::{Context, Value};

use super::text::{CURRENT_VAR, STYLESHEET_VAR, number_string};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The variable holding the nodes whose key `name` (expanded) has `value`.
pub(super) fn key_var(name: &str, value: &str) -> String {
    format!("ferry-key\u{1}{name}\u{1}{value}")
}

/// Adds the XSLT functions to `cx`.
pub(super) fn register(cx: &mut Context<'_>, formats: Rc<HashMap<String, DecimalFormat>>) {
    cx.set_function("current", Current);
    cx.set_function("key", Key);
    cx.set_function("generate-id", GenerateId);
    cx.set_function("format-number", FormatNumber(formats));
    cx.set_function("system-property", SystemProperty);
    cx.set_function("element-available", ElementAvailable);
    cx.set_function("function-available", FunctionAvailable);
    cx.set_function("unparsed-entity-uri", UnparsedEntityUri);
    cx.set_function("lang", Lang);
    cx.set_function("id", Id);
    cx.set_function("document", Document);
    for ns in ["http://exslt.org/common", "urn:schemas-microsoft-com:xslt"] {
        cx.set_function(QName::with_namespace_uri(Some(ns), "node-set"), NodeSetFn);
    }
}

fn arity(args: &[Value<'_>], min: usize, max: usize) -> Result<(), Error> {
    if args.len() < min {
        return Err(Error::NotEnoughArguments {
            expected: min,
            actual: args.len(),
        });
    }
    if args.len() > max {
        return Err(Error::TooManyArguments {
            expected: max,
            actual: args.len(),
        });
    }
    Ok(())
}

/// Expands a QName given as a string, with the stylesheet's prefixes.
fn expand_name(cx: &Evaluation<'_, '_>, name: &str) -> Result<String, Error> {
    match name.trim().split_once(':') {
        Some((prefix, local)) => {
            let uri = cx
                .namespace_for(prefix)
                .ok_or_else(|| Error::Other(format!("the prefix {prefix} is not declared")))?;
            Ok(format!("{{{uri}}}{local}"))
        }
        None => Ok(name.trim().to_string()),
    }
}

struct Current;

impl Function for Current {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 0, 0)?;
        match cx.value_of(QName::new(CURRENT_VAR)) {
            Some(v) => Ok(v.clone()),
            None => {
                let mut set = Nodeset::new();
                set.add(cx.node);
                Ok(Value::Nodeset(set))
            }
        }
    }
}

struct Key;

impl Function for Key {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 2, 2)?;
        let name = expand_name(cx, &args[0].string())?;
        let values: Vec<String> = match &args[1] {
            Value::Nodeset(set) => set.iter().map(|n| n.string_value()).collect(),
            other => vec![other.string()],
        };
        let mut result = Nodeset::new();
        for value in values {
            if let Some(Value::Nodeset(set)) = cx.value_of(QName::new(&key_var(&name, &value))) {
                result.extend(set.iter());
            }
        }
        Ok(Value::Nodeset(result))
    }
}

struct GenerateId;

impl Function for GenerateId {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 0, 1)?;
        let node = match args.into_iter().next() {
            Some(Value::Nodeset(set)) => match set.document_order_first() {
                Some(n) => n,
                None => return Ok(Value::String(String::new())),
            },
            Some(other) => {
                return Err(Error::ArgumentNotANodeset {
                    actual: (&other).into(),
                });
            }
            None => cx.node,
        };
        // The same node hashes the same within a transformation (node identity), and
        // DefaultHasher::new() has fixed keys.
        let mut h = DefaultHasher::new();
        node.hash(&mut h);
        Ok(Value::String(format!("id{:x}", h.finish())))
    }
}

struct FormatNumber(Rc<HashMap<String, DecimalFormat>>);

impl Function for FormatNumber {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 2, 3)?;
        let name = match args.get(2) {
            Some(n) => expand_name(cx, &n.string())?,
            None => String::new(),
        };
        let default = DecimalFormat::default();
        let format = match self.0.get(&name) {
            Some(f) => f,
            None if name.is_empty() => &default,
            None => return Err(Error::Other(format!("no decimal format is named {name}"))),
        };
        format_number(args[0].number(), &args[1].string(), format)
            .map(Value::String)
            .map_err(Error::Other)
    }
}

struct SystemProperty;

impl Function for SystemProperty {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        let name = expand_name(cx, &args[0].string())?;
        Ok(match name.strip_prefix(&format!("{{{}}}", super::XSL_NS)) {
            Some("version") => Value::Number(1.0),
            Some("vendor") => Value::String("Ferry".into()),
            Some("vendor-url") => Value::String("https://ferry.dev".into()),
            _ => Value::String(String::new()),
        })
    }
}

/// The XSLT instructions this processor runs (for `element-available()`).
const INSTRUCTIONS: &[&str] = &[
    "apply-templates",
    "attribute",
    "call-template",
    "choose",
    "comment",
    "copy",
    "copy-of",
    "element",
    "fallback",
    "for-each",
    "if",
    "message",
    "number",
    "processing-instruction",
    "text",
    "value-of",
    "variable",
];

struct ElementAvailable;

impl Function for ElementAvailable {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        let name = expand_name(cx, &args[0].string())?;
        let xsl = format!("{{{}}}", super::XSL_NS);
        Ok(Value::Boolean(
            name.strip_prefix(&xsl)
                .is_some_and(|l| INSTRUCTIONS.contains(&l)),
        ))
    }
}

struct FunctionAvailable;

impl Function for FunctionAvailable {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        let name = args[0].string();
        let available = match name.trim().split_once(':') {
            Some((prefix, local)) => cx.namespace_for(prefix).is_some_and(|uri| {
                cx.function_for_name(QName::with_namespace_uri(Some(uri), local))
                    .is_some()
            }),
            None => cx.function_for_name(QName::new(name.trim())).is_some(),
        };
        Ok(Value::Boolean(available))
    }
}

struct UnparsedEntityUri;

impl Function for UnparsedEntityUri {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        // Documents are read without a DTD, so there are no unparsed entities.
        Ok(Value::String(String::new()))
    }
}

struct Lang;

impl Function for Lang {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        let wanted = args[0].string().to_ascii_lowercase();
        let mut node = Some(cx.node);
        while let Some(n) = node {
            if let Node::Element(e) = n
                && let Some(lang) =
                    e.attribute_value(QName::with_namespace_uri(Some(XML_NS), "lang"))
            {
                let lang = lang.to_ascii_lowercase();
                return Ok(Value::Boolean(
                    lang == wanted || lang.starts_with(&format!("{wanted}-")),
                ));
            }
            node = n.parent();
        }
        Ok(Value::Boolean(false))
    }
}

struct Id;

impl Function for Id {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        // IDs are declared in a DTD, which is not read: no element has one.
        Ok(Value::Nodeset(Nodeset::new()))
    }
}

struct Document;

impl Function for Document {
    fn evaluate<'c, 'd>(
        &self,
        cx: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 2)?;
        let uri = match &args[0] {
            Value::Nodeset(set) => set.document_order_first().map(|n| n.string_value()),
            other => Some(other.string()),
        };
        match (uri.as_deref(), cx.value_of(QName::new(STYLESHEET_VAR))) {
            (Some(""), Some(root)) => Ok(root.clone()),
            _ => Err(Error::Other(
                "document() reads only the stylesheet itself (document('')): Ferry's \
                 stylesheets read no other documents"
                    .into(),
            )),
        }
    }
}

struct NodeSetFn;

impl Function for NodeSetFn {
    fn evaluate<'c, 'd>(
        &self,
        _: &Evaluation<'c, 'd>,
        args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, Error> {
        arity(&args, 1, 1)?;
        // A result tree fragment already is a node-set here (its root element).
        Ok(args
            .into_iter()
            .next()
            .unwrap_or(Value::Nodeset(Nodeset::new())))
    }
}

/// An `xsl:decimal-format`.
#[derive(Debug, Clone)]
pub(super) struct DecimalFormat {
    decimal: char,
    grouping: char,
    infinity: String,
    minus: char,
    nan: String,
    percent: char,
    per_mille: char,
    zero: char,
    digit: char,
    separator: char,
}

impl Default for DecimalFormat {
    fn default() -> Self {
        DecimalFormat {
            decimal: '.',
            grouping: ',',
            infinity: "Infinity".into(),
            minus: '-',
            nan: "NaN".into(),
            percent: '%',
            per_mille: '\u{2030}',
            zero: '0',
            digit: '#',
            separator: ';',
        }
    }
}

impl DecimalFormat {
    pub fn from_attributes<'a>(
        attr: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<DecimalFormat, String> {
        let mut f = DecimalFormat::default();
        let one = |name: &str, slot: &mut char| -> Result<(), String> {
            if let Some(v) = attr(name) {
                let mut chars = v.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => *slot = c,
                    _ => return Err(format!("{name} must be one character")),
                }
            }
            Ok(())
        };
        one("decimal-separator", &mut f.decimal)?;
        one("grouping-separator", &mut f.grouping)?;
        one("minus-sign", &mut f.minus)?;
        one("percent", &mut f.percent)?;
        one("per-mille", &mut f.per_mille)?;
        one("zero-digit", &mut f.zero)?;
        one("digit", &mut f.digit)?;
        one("pattern-separator", &mut f.separator)?;
        if let Some(v) = attr("infinity") {
            f.infinity = v.to_string();
        }
        if let Some(v) = attr("NaN") {
            f.nan = v.to_string();
        }
        Ok(f)
    }
}

struct SubPattern {
    prefix: String,
    suffix: String,
    min_int: usize,
    grouping: usize,
    min_frac: usize,
    max_frac: usize,
    scale: f64,
}

fn parse_sub(p: &str, f: &DecimalFormat) -> Result<SubPattern, String> {
    let is_num = |c: char| c == f.digit || c == f.zero || c == f.grouping || c == f.decimal;
    let chars: Vec<char> = p.chars().collect();
    let start = chars.iter().position(|&c| is_num(c)).unwrap_or(chars.len());
    let end = chars[start..]
        .iter()
        .position(|&c| !is_num(c))
        .map_or(chars.len(), |e| start + e);
    let prefix: String = chars[..start].iter().collect();
    let suffix: String = chars[end..].iter().collect();
    let number = &chars[start..end];
    if number.is_empty() {
        return Err(format!("the pattern {p} has no digits"));
    }
    let dot = number.iter().position(|&c| c == f.decimal);
    let (int, frac) = match dot {
        Some(d) => (&number[..d], &number[d + 1..]),
        None => (number, &number[number.len()..]),
    };
    let grouping = match int.iter().rposition(|&c| c == f.grouping) {
        Some(g) => int.len() - g - 1,
        None => 0,
    };
    let affixes = format!("{prefix}{suffix}");
    let scale = if affixes.contains(f.percent) {
        100.0
    } else if affixes.contains(f.per_mille) {
        1000.0
    } else {
        1.0
    };
    Ok(SubPattern {
        prefix,
        suffix,
        min_int: int.iter().filter(|&&c| c == f.zero).count(),
        grouping,
        min_frac: frac.iter().filter(|&&c| c == f.zero).count(),
        max_frac: frac
            .iter()
            .filter(|&&c| c == f.zero || c == f.digit)
            .count(),
        scale,
    })
}

/// `format-number()`: `n` written with a JDK `DecimalFormat` pattern.
pub(super) fn format_number(n: f64, pattern: &str, f: &DecimalFormat) -> Result<String, String> {
    let mut subs = pattern.splitn(2, f.separator);
    let positive = parse_sub(subs.next().unwrap_or_default(), f)?;
    let negative = subs.next().map(|p| parse_sub(p, f)).transpose()?;
    if n.is_nan() {
        return Ok(f.nan.clone());
    }
    let is_negative = n < 0.0;
    let (prefix, suffix) = match (&negative, is_negative) {
        (Some(neg), true) => (neg.prefix.clone(), neg.suffix.clone()),
        (None, true) => (
            format!("{}{}", f.minus, positive.prefix),
            positive.suffix.clone(),
        ),
        _ => (positive.prefix.clone(), positive.suffix.clone()),
    };
    if n.is_infinite() {
        return Ok(format!("{prefix}{}{suffix}", f.infinity));
    }
    let p = &positive;
    let value = n.abs() * p.scale;
    let fixed = format!("{:.*}", p.max_frac, value);
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut frac = frac.to_string();
    while frac.len() > p.min_frac && frac.ends_with('0') {
        frac.pop();
    }
    let int = int.trim_start_matches('0');
    let mut int_digits: Vec<char> = int.chars().collect();
    while int_digits.len() < p.min_int {
        int_digits.insert(0, '0');
    }
    if int_digits.is_empty() && frac.is_empty() {
        int_digits.push('0');
    }
    let shift = |c: char| {
        let d = c as u32 - '0' as u32;
        char::from_u32(f.zero as u32 + d).unwrap_or(c)
    };
    let mut out = prefix;
    let len = int_digits.len();
    for (i, c) in int_digits.into_iter().enumerate() {
        if p.grouping > 0 && i > 0 && (len - i).is_multiple_of(p.grouping) {
            out.push(f.grouping);
        }
        out.push(shift(c));
    }
    if !frac.is_empty() {
        out.push(f.decimal);
        out.extend(frac.chars().map(shift));
    }
    out.push_str(&suffix);
    Ok(out)
}

/// `xsl:number`'s `format`: the numbers written with the format's tokens and separators.
pub(super) fn format_numbers(
    numbers: &[f64],
    format: &str,
    grouping: Option<(char, usize)>,
) -> String {
    // Alternating separators and alphanumeric tokens.
    let mut tokens: Vec<String> = Vec::new();
    let mut seps: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_token = false;
    for c in format.chars() {
        let alnum = c.is_alphanumeric();
        if alnum != in_token {
            if in_token {
                tokens.push(std::mem::take(&mut current));
            } else {
                seps.push(std::mem::take(&mut current));
            }
            in_token = alnum;
        }
        current.push(c);
    }
    if in_token {
        tokens.push(current);
        seps.push(String::new());
    } else {
        seps.push(current);
    }
    // seps[0] is the prefix, seps[last] the suffix, the rest between tokens.
    if tokens.is_empty() {
        tokens.push("1".into());
        seps = vec![String::new(), format.to_string()];
    }
    let prefix = seps.first().cloned().unwrap_or_default();
    let suffix = if seps.len() > tokens.len() {
        seps.last().cloned().unwrap_or_default()
    } else {
        String::new()
    };
    let mut out = prefix;
    for (i, &n) in numbers.iter().enumerate() {
        let token = tokens.get(i).or(tokens.last()).map_or("1", String::as_str);
        if i > 0 {
            let sep = if i < tokens.len() {
                seps.get(i).cloned().unwrap_or_else(|| ".".into())
            } else if tokens.len() > 1 {
                seps.get(tokens.len() - 1)
                    .cloned()
                    .unwrap_or_else(|| ".".into())
            } else {
                ".".into()
            };
            out.push_str(&sep);
        }
        out.push_str(&format_one(n, token, grouping));
    }
    out.push_str(&suffix);
    out
}

fn format_one(n: f64, token: &str, grouping: Option<(char, usize)>) -> String {
    if !n.is_finite() || n < 1.0 {
        return number_string(n);
    }
    let n = n.round() as u64;
    match token {
        "a" => alphabetic(n, b'a'),
        "A" => alphabetic(n, b'A'),
        "i" => roman(n).to_lowercase(),
        "I" => roman(n),
        t => {
            let width = if t.chars().all(|c| c.is_ascii_digit()) {
                t.len()
            } else {
                1
            };
            let digits = format!("{n:0width$}");
            match grouping {
                Some((sep, size)) if size > 0 => {
                    let mut out = String::new();
                    let len = digits.len();
                    for (i, c) in digits.chars().enumerate() {
                        if i > 0 && (len - i).is_multiple_of(size) {
                            out.push(sep);
                        }
                        out.push(c);
                    }
                    out
                }
                _ => digits,
            }
        }
    }
}

fn alphabetic(mut n: u64, base: u8) -> String {
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push(base + (n % 26) as u8);
        n /= 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn roman(mut n: u64) -> String {
    if n >= 4000 {
        return n.to_string();
    }
    let table = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (v, s) in table {
        while n >= v {
            out.push_str(s);
            n -= v;
        }
    }
    out
}
