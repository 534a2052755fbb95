//! Reading one member of a JSON object without building the document: the received bytes
//! are parsed (and so checked) in full, but only the wanted member becomes a `Value`; every
//! other member is skipped without allocating. Content-based routing on `${payload.kind}`
//! costs a scan, not a tree of the whole body.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The member `key` of the JSON object in `bytes` (the last one, if repeated, as a parsed
/// object keeps it), `Some(None)` when the object has no such member. `None` when the
/// document is not an object or not valid JSON: the caller parses it in full, which gives
/// the canonical error.
pub fn member(bytes: &[u8], key: &str) -> Option<Option<Value>> {
    // A full parse checks UTF-8 in skipped strings too; so does this, up front.
    std::str::from_utf8(bytes).ok()?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let found = MemberSeed { key }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    match found {
        Found::Member(value) => Some(value),
        Found::NotObject => None,
    }
}

enum Found {
    Member(Option<Value>),
    NotObject,
}

struct MemberSeed<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for MemberSeed<'_> {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed<'_> {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(self.key))? {
            if matches {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Found::Member(found))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::NotObject)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        Ok(Found::NotObject)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found, E> {
        Ok(Found::NotObject)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found, E> {
        Ok(Found::NotObject)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        Ok(Found::NotObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Found, E> {
        Ok(Found::NotObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(Found::NotObject)
    }
}

/// Compares an object key with the wanted one without keeping it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
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
