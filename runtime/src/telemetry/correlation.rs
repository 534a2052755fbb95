//! The correlation id (MI's `activityid`): every request has one, taken from its header or
//! made when absent. It stays in the request's headers, so it goes to every backend the flow
//! calls and into every stored message (and so to the processor's delivery); it comes back
//! in the answer's headers, and Ferry's per-message log lines (the `log` mediator, failed
//! flows and deliveries) carry it as `correlation_id`.
//!
//! The header is `activityid` unless `ferry run --correlation-header` names another; an
//! empty name turns correlation off.

use std::sync::OnceLock;

use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue};

/// MI's header name.
pub const DEFAULT_HEADER: &str = "activityid";

/// The configured header; `None` inside: correlation off.
static HEADER: OnceLock<Option<HeaderName>> = OnceLock::new();

/// Sets the header once, at start (`""`: off). Fails on a name that is not a header name,
/// or when already set to another.
pub fn configure(name: &str) -> Result<(), String> {
    let wanted = if name.trim().is_empty() {
        None
    } else {
        Some(
            HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("--correlation-header {name:?} is not a header name"))?,
        )
    };
    let set = HEADER.get_or_init(|| wanted.clone());
    if *set == wanted {
        Ok(())
    } else {
        Err("the correlation header is already configured".into())
    }
}

/// The header carrying the correlation id, when correlation is on.
#[inline]
pub fn header() -> Option<&'static HeaderName> {
    HEADER
        .get_or_init(|| Some(HeaderName::from_static(DEFAULT_HEADER)))
        .as_ref()
}

/// The request's correlation id, made and added to `headers` when it has none (or an
/// empty one). `None` when correlation is off.
pub fn ensure(headers: &mut HeaderMap) -> Option<HeaderValue> {
    let name = header()?;
    // One lookup (the name is not a standard one: hashing it is most of the cost).
    match headers.entry(name) {
        Entry::Occupied(found) if !found.get().is_empty() => Some(found.get().clone()),
        Entry::Occupied(mut empty) => {
            let value = new_id();
            empty.insert(value.clone());
            Some(value)
        }
        Entry::Vacant(absent) => {
            let value = new_id();
            absent.insert(value.clone());
            Some(value)
        }
    }
}

/// The correlation id among a stored message's `(name, value)` headers; empty when none.
pub fn from_pairs(pairs: &[(String, String)]) -> &str {
    header()
        .and_then(|name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name.as_str()))
        })
        .map_or("", |(_, v)| v.as_str())
}

/// A new id: a version-4-shaped UUID, as message ids are, written on the stack (the header
/// value is the one allocation).
fn new_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let id = crate::message::new_uuid_bits();
    let mut text = [0u8; 36];
    let mut at = 0;
    // A byte at a time: shifting a u128 per hex digit cost more than the rest of the id.
    for (i, byte) in id.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xF)];
        at += 2;
    }
    // Hex digits and dashes only: always a valid header value.
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_keeps_its_id_and_one_without_gets_a_new_one() {
        let name = header().cloned();
        let Some(name) = name else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert(name.clone(), HeaderValue::from_static("abc-123"));
        assert_eq!(
            ensure(&mut headers),
            Some(HeaderValue::from_static("abc-123"))
        );

        let mut headers = HeaderMap::new();
        let made = ensure(&mut headers).unwrap_or_else(|| HeaderValue::from_static(""));
        assert_eq!(made.len(), 36, "{made:?}");
        assert_eq!(headers.get(&name), Some(&made));
        let text = made.to_str().unwrap_or_default();
        assert_eq!(text.matches('-').count(), 4, "{text}");
        assert_eq!(&text[14..15], "4", "version 4: {text}");
        let mut again = HeaderMap::new();
        assert_ne!(ensure(&mut again), Some(made), "ids differ");
    }
}
