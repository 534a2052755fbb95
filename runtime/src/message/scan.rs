//! Reading one member of a JSON object without building the document: the received bytes
//! are checked in full, as a parse would check them, but only the wanted member becomes a
//! `Value`; everything else is stepped over without allocating. Content-based routing on
//! `${payload.kind}` costs a scan, not a tree of the whole body.
//!
//! The scan is a small JSON grammar walker rather than serde_json's deserializer with
//! `IgnoredAny`: serde_json looks for the end of a string eight bytes at a time, the walker
//! up to 64 at a time in a form the compiler turns into vector compares, and on a large body
//! that is most of the work (a 100 KiB document: 233,000 instructions in serde_json's string
//! skipping alone). Whatever the walker is not sure a full parse accepts exactly — a `\u`
//! escape of a surrogate, a number with an exponent that could overflow, nesting deeper
//! than [`MAX_DEPTH`], anything malformed — makes it give up, and the caller parses the
//! document in full, which gives the canonical answer or error.

use serde_json::Value;

/// Deeper documents are left to the full parse (serde_json refuses nesting past 128).
const MAX_DEPTH: usize = 100;

/// The member `key` of the JSON object in `bytes` (the last one, if repeated, as a parsed
/// object keeps it), `Some(None)` when the object has no such member. `None` when the
/// document is not an object, is not valid JSON, or holds something only the full parse
/// can judge: the caller parses it in full.
pub fn member(bytes: &[u8], key: &str) -> Option<Option<Value>> {
    // A parse checks the UTF-8 of every string; outside strings only ASCII is valid JSON.
    std::str::from_utf8(bytes).ok()?;
    let mut walk = Walk { bytes, at: 0 };
    walk.skip_whitespace();
    if walk.peek()? != b'{' {
        return None;
    }
    walk.at += 1;
    let mut found = None;
    walk.skip_whitespace();
    if walk.peek()? == b'}' {
        walk.at += 1;
    } else {
        loop {
            let name = walk.key()?;
            walk.skip_whitespace();
            walk.expect(b':')?;
            walk.skip_whitespace();
            let start = walk.at;
            walk.value(1)?;
            if name.is(key, bytes)? {
                found = Some(start..walk.at);
            }
            walk.skip_whitespace();
            match walk.next()? {
                b',' => walk.skip_whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    walk.skip_whitespace();
    if walk.at != bytes.len() {
        return None;
    }
    match found {
        None => Some(None),
        // The member's own bytes, parsed as the full parse would have parsed them.
        Some(range) => serde_json::from_slice(&bytes[range]).ok().map(Some),
    }
}

/// An object key as found in the document: its bytes with the quotes, and whether it has
/// escapes (then it is decoded before comparing).
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

impl Key {
    fn is(&self, wanted: &str, bytes: &[u8]) -> Option<bool> {
        let quoted = &bytes[self.start..self.end];
        if self.escaped {
            let decoded: String = serde_json::from_slice(quoted).ok()?;
            Some(decoded == wanted)
        } else {
            Some(&quoted[1..quoted.len() - 1] == wanted.as_bytes())
        }
    }
}

/// A position in the document; every step returns `None` where the document is not valid
/// JSON (or not certainly so).
struct Walk<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Walk<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    fn key(&mut self) -> Option<Key> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        let escaped = self.string()?;
        Some(Key {
            start,
            end: self.at,
            escaped,
        })
    }

    /// Steps over one value; `depth` counts the arrays and objects it is inside.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.key()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            self.value(depth)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.skip_whitespace();
            match self.next()? {
                b',' => self.skip_whitespace(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.at..self.at + word.len())? != word {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. A parse refuses a number
    /// that overflows a float; only an exponent (or hundreds of digits) can do that, so
    /// those are converted to tell.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        let text = &self.bytes[start..self.at];
        if exponent || text.len() > 300 {
            let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// Steps over a string from its opening quote; says whether it had escapes.
    fn string(&mut self) -> Option<bool> {
        self.at += 1;
        let mut escaped = false;
        loop {
            self.at += plain_run(&self.bytes[self.at..]);
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    }
                }
                // A control character, which JSON only allows escaped.
                _ => return None,
            }
        }
    }

    /// The four hex digits of `\uXXXX`. Surrogates (halves of a pair) are left to the full
    /// parse, which checks that they pair up.
    fn unicode_escape(&mut self) -> Option<()> {
        let hex = self.bytes.get(self.at..self.at + 4)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let unit = u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        if (0xD800..=0xDFFF).contains(&unit) {
            return None;
        }
        self.at += 4;
        Some(())
    }
}

/// How many leading bytes of `rest` a string holds as they are: up to a quote, a backslash
/// or a control character. After the first 16 bytes, checked in steps of 64 bytes, then 16,
/// then one: a step has no early exit inside it, so the compiler checks it with vector
/// compares (64-byte steps cost about 0.7 instructions a byte, 16-byte ones 1.2,
/// serde_json's eight-byte steps 2.3).
fn plain_run(rest: &[u8]) -> usize {
    // Keys and most values end within a few bytes: those are looked at one by one, before
    // the steps (whose set-up costs more than such a string).
    let head = rest.len().min(16);
    if let Some(end) = rest[..head].iter().position(|&b| needs_attention(b)) {
        return end;
    }
    let mut len = head;
    len += clean_steps::<64>(&rest[len..]);
    len += clean_steps::<16>(&rest[len..]);
    len + rest[len..]
        .iter()
        .position(|&b| needs_attention(b))
        .unwrap_or(rest.len() - len)
}

/// The bytes of `rest` in whole `STEP`s before the first step with a byte that needs
/// attention.
fn clean_steps<const STEP: usize>(rest: &[u8]) -> usize {
    let mut len = 0;
    for chunk in rest.chunks_exact(STEP) {
        if chunk.iter().fold(false, |hit, &b| hit | needs_attention(b)) {
            break;
        }
        len += STEP;
    }
    len
}

fn needs_attention(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_a_member_among_others_of_every_shape() {
        let doc = br#"{"items": [1, {"a": [true, null]}], "kind": "a", "n": 1.5e3, "s": "x\"y"}"#;
        assert_eq!(member(doc, "kind"), Some(Some(json!("a"))));
        assert_eq!(
            member(doc, "items"),
            Some(Some(json!([1, {"a": [true, null]}])))
        );
        assert_eq!(member(doc, "missing"), Some(None));
    }

    #[test]
    fn escaped_keys_match_and_the_last_duplicate_wins_as_in_a_parsed_object() {
        assert_eq!(member(br#"{"k\u0069nd": 1}"#, "kind"), Some(Some(json!(1))));
        let doc = br#"{"kind": 1, "kind": 2}"#;
        let parsed: Value = serde_json::from_slice(doc).unwrap();
        assert_eq!(member(doc, "kind"), Some(Some(parsed["kind"].clone())));
    }

    /// What a full parse says the member is: `None` when the parse fails or the document is
    /// not an object.
    fn parsed_member(doc: &[u8], key: &str) -> Option<Option<Value>> {
        let parsed: Value = serde_json::from_slice(doc).ok()?;
        Some(parsed.as_object()?.get(key).cloned())
    }

    const CORPUS: &[&str] = &[
        r#"{"kind":"a","id":42,"name":"Ferry benchmark order","items":[{"sku":"SKU-0001","qty":2}],"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
        r#" { "kind" : [ 1 , -2.5e-3 , 0 , 1E+2 , true , false , null , "" , { } , [ ] ] } "#,
        r#"{"a":{"b":{"c":[[[{"kind":"deep"}]]]}},"kind":{"x":"\"\\\/\b\f\n\r\t\u00e9"}}"#,
        r#"{"kind":"h\u00e9llo w\u00f6rld, a string longer than sixteen bytes \u2603"}"#,
        "{\"kind\":\"caf\u{e9} \u{2603} \u{1f600}, raw UTF-8 in a string that is long\"}",
        r#"{"k\u0069nd":"escaped key","kind2":1,"kind":-0.0}"#,
        r#"{"kind":"a","kind":"b"}"#,
        r#"{}"#,
        r#"{"other":"no kind here, but a long string to cross a sixteen-byte step or two"}"#,
        r#"{"kind":12345678901234567890123,"n":1.7976931348623157e308}"#,
    ];

    #[test]
    fn a_valid_object_is_read_without_the_full_parse_and_agrees_with_it() {
        for doc in CORPUS {
            let expected = parsed_member(doc.as_bytes(), "kind");
            assert!(
                expected.is_some(),
                "corpus documents are valid objects: {doc}"
            );
            assert_eq!(member(doc.as_bytes(), "kind"), expected, "{doc}");
        }
    }

    /// Every document made by breaking a valid one at one byte (replaced, or cut there):
    /// whenever the scan answers, the full parse accepts the document and finds the same.
    #[test]
    fn a_broken_document_is_never_answered_differently_from_the_full_parse() {
        const BYTES: &[u8] = b"\"\\{}[],:0-+e.x uUntf\x01\x1f\x7f\xc3\xff";
        let mut answered = 0;
        let mut checked = 0;
        for doc in CORPUS {
            let doc = doc.as_bytes();
            let mut variants: Vec<Vec<u8>> = (0..doc.len()).map(|i| doc[..i].to_vec()).collect();
            for i in 0..doc.len() {
                for &b in BYTES {
                    let mut v = doc.to_vec();
                    v[i] = b;
                    variants.push(v);
                }
            }
            for v in variants {
                checked += 1;
                if let Some(found) = member(&v, "kind") {
                    answered += 1;
                    assert_eq!(
                        Some(found),
                        parsed_member(&v, "kind"),
                        "{}",
                        String::from_utf8_lossy(&v)
                    );
                }
            }
        }
        // Most single-byte changes break the document; some (inside strings) do not.
        assert!(
            answered > 0 && answered < checked,
            "{answered} of {checked}"
        );
    }

    #[test]
    fn what_only_the_full_parse_can_judge_is_left_to_it() {
        for doc in [
            // A number that overflows a float: the parse refuses it.
            &br#"{"kind": "a", "n": 1e400}"#[..],
            // Surrogate escapes: the parse checks that they pair up.
            br#"{"kind": "a", "s": "\ud83d\ude00"}"#,
            br#"{"kind": "a", "s": "\ud800"}"#,
        ] {
            assert_eq!(
                member(doc, "kind"),
                None,
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
        let nested = |depth: usize| {
            format!(
                r#"{{"kind": 1, "d": {}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert_eq!(member(nested(200).as_bytes(), "kind"), None);
        assert_eq!(member(nested(50).as_bytes(), "kind"), Some(Some(json!(1))));
    }

    #[test]
    fn a_long_string_is_stepped_over_whatever_byte_ends_it() {
        for len in 0..150 {
            let text = "y".repeat(len);
            let doc = format!(r#"{{"pad":"{text}","kind":"k{len}"}}"#);
            assert_eq!(
                member(doc.as_bytes(), "kind"),
                Some(Some(json!(format!("k{len}"))))
            );
            let broken = format!("{{\"pad\":\"{text}\u{1}\",\"kind\":1}}");
            assert_eq!(
                member(broken.as_bytes(), "kind"),
                None,
                "control character after {len} bytes"
            );
        }
    }

    #[test]
    fn anything_but_a_valid_object_is_left_to_the_full_parse() {
        for doc in [
            &b"[1, 2]"[..],
            b"\"text\"",
            b"42",
            b"{\"kind\": \"a\", ",
            b"{\"kind\": \"a\"} trailing",
            b"{\"kind\": \"a\", \"other\": tru}",
            b"{\"kind\": \"a\", \"bad\": \"\xff\"}",
        ] {
            assert_eq!(
                member(doc, "kind"),
                None,
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }
}
