//! The functions of Synapse expressions, with Micro Integrator's semantics: string indices
//! count characters, `split` takes a regular expression and drops trailing empty pieces (as
//! Java's `String.split`), `urlEncode` encodes spaces as `%20`, conversions are strict.
//! Names and arities were checked at load time, so arguments are present here.

use base64::Engine as _;
use serde_json::Value;

use ferry_api::expr::Node;
use ferry_api::expr::ast::Function;

use super::eval::{Evaluator, boolean, describe};
use super::number::{self, Num};
use super::{EvalError, datetime, to_text, xpath};

/// Calls `function` on `args`, evaluated in `ev`.
pub(crate) fn call(
    ev: &Evaluator<'_>,
    function: Function,
    args: &[Node],
    current: Option<&Value>,
) -> Result<Value, EvalError> {
    if function == Function::Exists {
        // `exists` is the one function that absorbs failures: a missing value is `false`.
        let found = args.first().map(|a| ev.node(a, current));
        return Ok(Value::Bool(
            matches!(found, Some(Ok(ref v)) if !v.is_null()),
        ));
    }
    if function == Function::Now {
        return Ok(Value::from(chrono::Utc::now().timestamp_millis()));
    }
    if function == Function::Length
        && let [arg] = args
    {
        // Reads the argument in place: the length of an array in the payload needs no copy.
        return ev.inspect(arg, current, |value| match value {
            Value::Null => Err(EvalError::Type(format!("{function}(): argument 1 is null"))),
            Value::String(s) => Ok(Value::from(s.chars().count())),
            Value::Array(items) => Ok(Value::from(items.len())),
            other => Err(EvalError::Type(format!(
                "{function}(): invalid argument {}",
                describe(other)
            ))),
        })?;
    }
    let values = args
        .iter()
        .map(|a| ev.node(a, current))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(i) = values.iter().position(Value::is_null) {
        return Err(EvalError::Type(format!(
            "{function}(): argument {} is null",
            i + 1
        )));
    }
    let a = Args {
        function,
        values: &values,
    };
    match function {
        Function::Length => match &values[0] {
            Value::String(s) => Ok(Value::from(s.chars().count())),
            Value::Array(items) => Ok(Value::from(items.len())),
            other => Err(a.wrong(other)),
        },
        Function::ToUpper => a.text_primitive(0).map(|s| Value::String(s.to_uppercase())),
        Function::ToLower => a.text_primitive(0).map(|s| Value::String(s.to_lowercase())),
        Function::SubString => {
            let s: Vec<char> = a.string(0)?.chars().collect();
            let start = a.index(1)?;
            let end = if values.len() == 3 {
                a.index(2)?
            } else {
                s.len()
            };
            if start > end || end > s.len() {
                return Err(EvalError::Invalid(format!(
                    "subString(): indices {start}..{end} are outside a string of length {}",
                    s.len()
                )));
            }
            Ok(Value::String(s[start..end].iter().collect()))
        }
        Function::StartsWith => Ok(Value::Bool(a.string(0)?.starts_with(a.string(1)?))),
        Function::EndsWith => Ok(Value::Bool(a.string(0)?.ends_with(a.string(1)?))),
        Function::Contains => Ok(Value::Bool(a.string(0)?.contains(a.string(1)?))),
        Function::Trim => Ok(Value::String(a.string(0)?.trim().to_owned())),
        Function::Replace => Ok(Value::String(
            a.string(0)?.replace(a.string(1)?, a.string(2)?),
        )),
        Function::Split => split(a.string(0)?, a.string(1)?),
        Function::CharAt => {
            let s = a.string(0)?;
            let i = a.index(1)?;
            s.chars()
                .nth(i)
                .map(|c| Value::String(c.to_string()))
                .ok_or_else(|| EvalError::Invalid(format!("charAt(): index {i} is outside '{s}'")))
        }
        Function::IndexOf => {
            let s = a.string(0)?;
            let needle = a.string(1)?;
            let from = if values.len() == 3 {
                a.int(2)?.max(0)
            } else {
                0
            };
            let from = usize::try_from(from).unwrap_or(usize::MAX);
            let byte_from = s.char_indices().nth(from).map(|(b, _)| b);
            let found = byte_from
                .or((from == s.chars().count()).then_some(s.len()))
                .and_then(|b| s[b..].find(needle).map(|i| b + i))
                .map(|b| s[..b].chars().count() as i64);
            Ok(Value::from(found.unwrap_or(-1)))
        }
        Function::Abs => match a.num(0)? {
            Num::Int(i) => Num::Int(i.checked_abs().unwrap_or(i64::MAX)).into_value(),
            Num::Float(f) => Num::Float(f.abs()).into_value(),
        },
        Function::Floor => a.integral(0, f64::floor),
        Function::Ceil => a.integral(0, f64::ceil),
        Function::Round => {
            let n = a.num(0)?;
            if values.len() == 2 {
                let places = a.int(1)?;
                return match n {
                    Num::Float(f) if places > 0 => {
                        let places = u32::try_from(places.min(30)).unwrap_or(30);
                        let r = number::round_decimal(f, places).unwrap_or(f);
                        Num::Float(r).into_value()
                    }
                    Num::Int(_) => n.into_value(),
                    _ => Err(a.wrong(&values[1])),
                };
            }
            match n {
                Num::Int(_) => n.into_value(),
                Num::Float(f) => Ok(Value::from(round_half_up(f) as i64)),
            }
        }
        Function::Sqrt => Num::Float(a.num(0)?.as_f64().sqrt()).into_value(),
        Function::Log => Num::Float(a.num(0)?.as_f64().ln()).into_value(),
        Function::Pow => Num::Float(a.num(0)?.as_f64().powf(a.num(1)?.as_f64())).into_value(),
        Function::Base64Encode => {
            let bytes = encode_charset(a.string(0)?, a.charset(1)?)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ))
        }
        Function::Base64Decode => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.string(0)?.trim())
                .map_err(|e| EvalError::Invalid(format!("base64decode(): {e}")))?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        Function::UrlEncode => {
            let bytes = encode_charset(a.string(0)?, a.charset(1)?)?;
            Ok(Value::String(url_encode(&bytes)))
        }
        Function::UrlDecode => url_decode(a.string(0)?).map(Value::String),
        Function::IsNumber => Ok(Value::Bool(values[0].is_number())),
        Function::IsString => Ok(Value::Bool(values[0].is_string())),
        Function::IsArray => Ok(Value::Bool(
            as_json(&values[0]).is_some_and(|v| v.is_array()),
        )),
        Function::IsObject => Ok(Value::Bool(
            as_json(&values[0]).is_some_and(|v| v.is_object()),
        )),
        Function::Integer => match Num::of(&values[0]) {
            Some(Num::Int(i)) => Ok(Value::from(i)),
            _ => to_text(&values[0])
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| a.wrong(&values[0])),
        },
        Function::Float => match Num::of(&values[0]) {
            Some(n) => Num::Float(n.as_f64()).into_value(),
            None => match to_text(&values[0]).trim().parse::<f64>() {
                Ok(f) => Num::Float(f).into_value(),
                Err(_) => Err(a.wrong(&values[0])),
            },
        },
        Function::String => Ok(Value::String(to_text(&values[0]))),
        Function::Boolean => match &values[0] {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            other => Ok(Value::Bool(to_text(other).eq_ignore_ascii_case("true"))),
        },
        Function::Object => match as_json(&values[0]) {
            Some(v @ Value::Object(_)) => Ok(v),
            _ => Err(EvalError::Type(format!(
                "object(): {} is not a JSON object",
                describe(&values[0])
            ))),
        },
        Function::Array => match as_json(&values[0]) {
            Some(v @ Value::Array(_)) => Ok(v),
            _ => Err(EvalError::Type(format!(
                "array(): {} is not a JSON array",
                describe(&values[0])
            ))),
        },
        Function::FormatDateTime => {
            if values.len() == 2 {
                let millis = match a.num(0)? {
                    Num::Int(i) => i,
                    Num::Float(f) => f as i64,
                };
                datetime::format_millis(millis, a.string(1)?).map(Value::String)
            } else {
                datetime::reformat(a.string(0)?, a.string(1)?, a.string(2)?).map(Value::String)
            }
        }
        Function::Not => Ok(Value::Bool(!boolean(&values[0], "not()")?)),
        Function::XPath => {
            let variable = if values.len() == 2 {
                Some(a.string(1)?)
            } else {
                None
            };
            xpath::evaluate_source(a.string(0)?, variable, ev.namespaces, ev.cx)
                .map(|r| Value::String(r.into_string()))
        }
        Function::Exists | Function::Now | Function::Registry | Function::Secret => {
            Err(EvalError::Type(format!(
                "function '{function}' is not supported by Ferry yet"
            )))
        }
    }
}

/// The evaluated arguments of one call, with typed accessors.
struct Args<'a> {
    function: Function,
    values: &'a [Value],
}

impl Args<'_> {
    fn wrong(&self, v: &Value) -> EvalError {
        EvalError::Type(format!(
            "{}(): invalid argument {}",
            self.function,
            describe(v)
        ))
    }

    fn string(&self, i: usize) -> Result<&str, EvalError> {
        match &self.values[i] {
            Value::String(s) => Ok(s),
            other => Err(self.wrong(other)),
        }
    }

    /// A string, or the text of a number or boolean (MI's `toUpper` accepts primitives).
    fn text_primitive(&self, i: usize) -> Result<String, EvalError> {
        match &self.values[i] {
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => Ok(to_text(v)),
            other => Err(self.wrong(other)),
        }
    }

    fn num(&self, i: usize) -> Result<Num, EvalError> {
        Num::of(&self.values[i]).ok_or_else(|| self.wrong(&self.values[i]))
    }

    fn int(&self, i: usize) -> Result<i64, EvalError> {
        match self.num(i)? {
            Num::Int(n) => Ok(n),
            Num::Float(_) => Err(self.wrong(&self.values[i])),
        }
    }

    fn index(&self, i: usize) -> Result<usize, EvalError> {
        let n = self.int(i)?;
        usize::try_from(n)
            .map_err(|_| EvalError::Invalid(format!("{}(): index {n} is negative", self.function)))
    }

    fn charset(&self, i: usize) -> Result<&str, EvalError> {
        if i < self.values.len() {
            self.string(i)
        } else {
            Ok("UTF-8")
        }
    }

    /// `floor`/`ceil`: integers unchanged, decimals to an integral value.
    fn integral(&self, i: usize, f: fn(f64) -> f64) -> Result<Value, EvalError> {
        match self.num(i)? {
            Num::Int(n) => Ok(Value::from(n)),
            Num::Float(x) => {
                let r = f(x);
                if r.abs() < 9.0e15 {
                    Ok(Value::from(r as i64))
                } else {
                    Num::Float(r).into_value()
                }
            }
        }
    }
}

fn round_half_up(f: f64) -> f64 {
    // Java's Math.round: floor(x + 0.5), so -2.5 rounds to -2.
    (f + 0.5).floor()
}

/// The value itself if JSON, or the JSON a string holds.
fn as_json(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

/// Java's `String.split(regex)`: trailing empty pieces are dropped.
fn split(s: &str, separator: &str) -> Result<Value, EvalError> {
    const META: &str = "\\^$.|?*+()[]{}";
    let mut pieces: Vec<String> = if separator.chars().any(|c| META.contains(c)) {
        let re = regex::Regex::new(separator)
            .map_err(|e| EvalError::Invalid(format!("split(): invalid regular expression: {e}")))?;
        re.split(s).map(str::to_owned).collect()
    } else if separator.is_empty() {
        s.chars().map(String::from).collect()
    } else {
        s.split(separator).map(str::to_owned).collect()
    };
    if !s.is_empty() {
        while pieces.last().is_some_and(String::is_empty) {
            pieces.pop();
        }
    }
    Ok(Value::Array(
        pieces.into_iter().map(Value::String).collect(),
    ))
}

fn encode_charset(s: &str, charset: &str) -> Result<Vec<u8>, EvalError> {
    match charset.to_ascii_uppercase().replace('_', "-").as_str() {
        "UTF-8" | "UTF8" => Ok(s.as_bytes().to_vec()),
        "ISO-8859-1" | "LATIN1" | "LATIN-1" => s
            .chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| c))
            .collect::<Result<_, _>>()
            .map_err(|c| EvalError::Invalid(format!("'{c}' cannot be encoded in {charset}"))),
        "US-ASCII" | "ASCII" => {
            if s.is_ascii() {
                Ok(s.as_bytes().to_vec())
            } else {
                Err(EvalError::Invalid(format!(
                    "'{s}' cannot be encoded in {charset}"
                )))
            }
        }
        _ => Err(EvalError::Invalid(format!(
            "unsupported charset '{charset}'"
        ))),
    }
}

/// Java's `URLEncoder` with `+` turned into `%20` and `*` into `%2A`, as MI does: only
/// letters, digits, `-`, `_` and `.` stay as they are.
pub(crate) fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Java's `URLDecoder`: `+` is a space, `%XX` a byte; malformed escapes are errors.
fn url_decode(s: &str) -> Result<String, EvalError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        EvalError::Invalid(format!("urlDecode(): malformed escape in '{s}'"))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| EvalError::Invalid("urlDecode(): not UTF-8".into()))
}
