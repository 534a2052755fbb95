//! A pull reader of JSON tokens straight from the received bytes: the first step of the
//! direct JSON → XML conversion ([`super::xml_out`]), which never builds a `Value`.
//!
//! The cursor is strict: it refuses everything serde_json refuses, and may refuse a little
//! more (lone surrogates, documents nested as deep as serde_json's limit). A refusal is no
//! verdict on the client's body: the caller asks serde_json ([`serde_verdict`]) for the
//! error it would have given, and takes the tree path when serde_json accepts the body.

use std::borrow::Cow;

/// The deepest container nesting the cursor reads. serde_json refuses the 128th level
/// (its recursion limit); the cursor stops one short of it, at the same place.
pub const MAX_DEPTH: usize = 127;

/// Why the cursor stopped: the body is malformed, or is beyond what the cursor reads. The
/// caller finds out which from serde_json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// One token of a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `{`
    ObjectStart,
    /// `}`
    ObjectEnd,
    /// `[`
    ArrayStart,
    /// `]`
    ArrayEnd,
    /// An object key (the cursor has read the `:` after it).
    Key(JsonStr<'a>),
    /// A string value.
    Str(JsonStr<'a>),
    /// A number as written (checked against the JSON grammar).
    Number(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A string as written between its quotes, checked: escapes are valid, no control
/// characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The decoded string, borrowed when it holds no escape.
    pub fn decoded(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        let mut out = String::with_capacity(self.raw.len());
        self.for_each_chunk(|chunk| out.push_str(chunk));
        Cow::Owned(out)
    }

    /// Hands the decoded string over in pieces (runs without escapes, then each escaped
    /// character), without allocating.
    pub fn for_each_chunk(&self, mut f: impl FnMut(&str)) {
        let bytes = self.raw.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'\\' {
                i += 1;
                continue;
            }
            if start < i {
                f(&self.raw[start..i]);
            }
            let (c, len) = unescape(&bytes[i..]);
            let mut buf = [0u8; 4];
            f(c.encode_utf8(&mut buf));
            i += len;
            start = i;
        }
        if start < bytes.len() {
            f(&self.raw[start..]);
        }
    }
}

/// Decodes the escape at the start of `bytes` (checked by the cursor): the character and
/// how many bytes the escape took.
fn unescape(bytes: &[u8]) -> (char, usize) {
    let simple = match bytes.get(1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        _ => {
            let high = hex4(bytes.get(2..6)).unwrap_or(0xFFFD);
            if (0xD800..0xDC00).contains(&high) {
                let low = hex4(bytes.get(8..12)).unwrap_or(0xDC00);
                let code = 0x10000 + ((high - 0xD800) << 10) + (low.saturating_sub(0xDC00));
                return (char::from_u32(code).unwrap_or('\u{FFFD}'), 12);
            }
            return (char::from_u32(high).unwrap_or('\u{FFFD}'), 6);
        }
    };
    (simple, 2)
}

fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = digits?;
    let mut code = 0;
    for &d in digits {
        code = code * 16 + char::from(d).to_digit(16)?;
    }
    Some(code)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value: the start of the document, after `:` or after `,` in an array.
    Value,
    /// A value or `]`, right after `[`.
    FirstItem,
    /// A key or `}`, right after `{`.
    FirstKey,
    /// A key, after `,` in an object.
    Key,
    /// `,`, the end of the container, or the end of the document.
    Next,
}

/// Reads tokens from a JSON document; see the module documentation.
pub struct JsonCursor<'a> {
    input: &'a str,
    pos: usize,
    /// Open containers, innermost last: `true` for an object.
    open: Vec<bool>,
    expect: Expect,
}

impl<'a> JsonCursor<'a> {
    /// A cursor at the start of `input`; refused when it is not UTF-8.
    pub fn new(input: &'a [u8]) -> Result<Self, Refused> {
        let input = std::str::from_utf8(input).map_err(|_| Refused)?;
        Ok(JsonCursor {
            input,
            pos: 0,
            open: Vec::new(),
            expect: Expect::Value,
        })
    }

    /// The next token; `None` once the document (and the blanks after it) is read.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>, Refused> {
        self.skip_blanks();
        let bytes = self.input.as_bytes();
        let Some(&b) = bytes.get(self.pos) else {
            return if self.open.is_empty() && self.expect == Expect::Next {
                Ok(None)
            } else {
                Err(Refused)
            };
        };
        match self.expect {
            Expect::Next => {
                match (b, self.open.last()) {
                    (b',', Some(&object)) => {
                        self.pos += 1;
                        self.expect = if object { Expect::Key } else { Expect::Value };
                        // A value or key must follow the comma.
                        self.next_token()
                    }
                    (b'}', Some(true)) => Ok(Some(self.close(Token::ObjectEnd))),
                    (b']', Some(false)) => Ok(Some(self.close(Token::ArrayEnd))),
                    _ => Err(Refused),
                }
            }
            Expect::FirstKey if b == b'}' => Ok(Some(self.close(Token::ObjectEnd))),
            Expect::FirstItem if b == b']' => Ok(Some(self.close(Token::ArrayEnd))),
            Expect::FirstKey | Expect::Key => {
                if b != b'"' {
                    return Err(Refused);
                }
                let key = self.string()?;
                self.skip_blanks();
                if bytes.get(self.pos) != Some(&b':') {
                    return Err(Refused);
                }
                self.pos += 1;
                self.expect = Expect::Value;
                Ok(Some(Token::Key(key)))
            }
            Expect::Value | Expect::FirstItem => self.value(b).map(Some),
        }
    }

    fn close(&mut self, token: Token<'a>) -> Token<'a> {
        self.pos += 1;
        self.open.pop();
        self.expect = Expect::Next;
        token
    }

    fn value(&mut self, b: u8) -> Result<Token<'a>, Refused> {
        let token = match b {
            b'{' | b'[' => {
                if self.open.len() >= MAX_DEPTH {
                    return Err(Refused);
                }
                self.pos += 1;
                let object = b == b'{';
                self.open.push(object);
                self.expect = if object {
                    Expect::FirstKey
                } else {
                    Expect::FirstItem
                };
                return Ok(if object {
                    Token::ObjectStart
                } else {
                    Token::ArrayStart
                });
            }
            b'"' => Token::Str(self.string()?),
            b't' => self.literal("true", Token::Bool(true))?,
            b'f' => self.literal("false", Token::Bool(false))?,
            b'n' => self.literal("null", Token::Null)?,
            b'-' | b'0'..=b'9' => Token::Number(self.number()?),
            _ => return Err(Refused),
        };
        self.expect = Expect::Next;
        Ok(token)
    }

    fn literal(&mut self, word: &str, token: Token<'a>) -> Result<Token<'a>, Refused> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(token)
        } else {
            Err(Refused)
        }
    }

    fn skip_blanks(&mut self) {
        let bytes = self.input.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Reads a string whose opening quote is at `pos`.
    fn string(&mut self) -> Result<JsonStr<'a>, Refused> {
        let bytes = self.input.as_bytes();
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            match bytes.get(i) {
                None => return Err(Refused),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += escape_len(&bytes[i..])?;
                }
                Some(&c) if c < 0x20 => return Err(Refused),
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        Ok(JsonStr {
            raw: &self.input[start..i],
            escaped,
        })
    }

    /// Reads a number at `pos` by the JSON grammar
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Result<&'a str, Refused> {
        let bytes = self.input.as_bytes();
        let start = self.pos;
        let mut i = start + usize::from(bytes[start] == b'-');
        let digits = |i: usize| bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        match digits(i) {
            0 => return Err(Refused),
            n if n > 1 && bytes[i] == b'0' => return Err(Refused),
            n => i += n,
        }
        if bytes.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            if n == 0 {
                return Err(Refused);
            }
            i += 1 + n;
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = bytes.get(i) {
                i += 1;
            }
            let n = digits(i);
            if n == 0 {
                return Err(Refused);
            }
            i += n;
        }
        self.pos = i;
        Ok(&self.input[start..i])
    }
}

/// The length of the escape at the start of `bytes`, refusing unknown escapes and lone
/// surrogates.
fn escape_len(bytes: &[u8]) -> Result<usize, Refused> {
    match bytes.get(1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(2),
        Some(b'u') => {
            let code = hex4(bytes.get(2..6)).ok_or(Refused)?;
            match code {
                0xD800..=0xDBFF => {
                    if bytes.get(6..8) != Some(b"\\u") {
                        return Err(Refused);
                    }
                    match hex4(bytes.get(8..12)).ok_or(Refused)? {
                        0xDC00..=0xDFFF => Ok(12),
                        _ => Err(Refused),
                    }
                }
                0xDC00..=0xDFFF => Err(Refused),
                _ => Ok(6),
            }
        }
        _ => Err(Refused),
    }
}

// === serde_json's verdict ===

/// What serde_json says of `bytes` as a document, without building it: the error the tree
/// path would have answered, or `Ok` when it would have read the body. The check walks
/// the document as `Value` does (`deserialize_any`, the same recursion limit and number
/// parsing), keeping nothing.
pub fn serde_verdict(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Nothing>(bytes).map(|_| ())
}

/// A value read and dropped.
struct Nothing;

impl<'de> serde::Deserialize<'de> for Nothing {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NothingVisitor)
    }
}

struct NothingVisitor;

impl<'de> serde::de::Visitor<'de> for NothingVisitor {
    type Value = Nothing;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_str<E>(self, _: &str) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_unit<E>(self) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_none<E>(self) -> Result<Nothing, E> {
        Ok(Nothing)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Nothing, A::Error> {
        while seq.next_element::<Nothing>()?.is_some() {}
        Ok(Nothing)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Nothing, A::Error> {
        // Keys are read as strings, as `Value` reads them (the same checks of escapes and
        // UTF-8), borrowed when they hold no escape.
        while map.next_key::<Cow<'de, str>>()?.is_some() {
            map.next_value::<Nothing>()?;
        }
        Ok(Nothing)
    }
}
