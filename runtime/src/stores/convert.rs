//! Message ⇄ [`StoredMessage`]: what of a message travels through a store. The body goes
//! as the bytes it would be sent as, with its content type; the transport headers; the
//! `default` and `axis2` properties (what the flow after the store reads: `messageType`,
//! user properties); the method, URI and the message id (so duplicates can be counted).
//! Variables do not travel: in Synapse they belong to one flow.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::{Map, Value};

use super::StoredMessage;
use crate::expr::context::{PayloadError, PropertyScope};
use crate::message::Message;

/// The property scopes stored with a message, by their stored names.
const SCOPES: [(&str, PropertyScope); 2] = [
    ("default", PropertyScope::Default),
    ("axis2", PropertyScope::Axis2),
];

/// Properties describing one error; a stored message starts its next flow clean.
const NOT_STORED: [&str; 4] = ["ERROR_CODE", "ERROR_MESSAGE", "ERROR_DETAIL", "HTTP_SC"];

/// The stored form of `msg`, stored at `now_ms`.
pub fn to_stored(msg: &Message, now_ms: u64) -> Result<StoredMessage, PayloadError> {
    let (body, content_type) = msg.body_bytes()?;
    let headers = msg
        .headers
        .iter()
        .filter(|(n, _)| **n != CONTENT_TYPE && **n != CONTENT_LENGTH)
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let mut properties = Map::new();
    for (scope_name, scope) in SCOPES {
        let map: Map<String, Value> = msg
            .properties()
            .iter(scope)
            .filter(|(k, _)| !NOT_STORED.contains(k))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if !map.is_empty() {
            properties.insert(scope_name.to_string(), Value::Object(map));
        }
    }
    Ok(StoredMessage {
        id: msg.id(),
        method: msg.method.to_string(),
        uri: msg.uri.to_string(),
        headers,
        properties,
        // An empty body keeps the content type it was declared with.
        content_type: if content_type.is_empty() {
            msg.header(CONTENT_TYPE.as_str()).map(str::to_owned)
        } else {
            Some(content_type)
        },
        body,
        stored_at_ms: now_ms,
    })
}

/// The message `stored` describes, ready to run through a sequence or go to an endpoint.
pub fn from_stored(stored: &StoredMessage) -> Message {
    let mut headers = HeaderMap::new();
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    if let Some(ct) = stored
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        headers.insert(CONTENT_TYPE, ct);
    }
    let method = Method::from_bytes(stored.method.as_bytes()).unwrap_or(Method::POST);
    let uri = stored
        .uri
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/"));
    let mut msg = Message::from_request(method, uri, headers, Bytes::clone(&stored.body));
    msg.set_id(&stored.id);
    for (scope_name, scope) in SCOPES {
        if let Some(Value::Object(map)) = stored.properties.get(scope_name) {
            for (k, v) in map {
                msg.set_property(scope, k, v.clone());
            }
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_survives_the_trip_through_the_stored_form() {
        let mut msg = Message::builder()
            .method(Method::PUT)
            .uri("/pay?x=1")
            .header("x-trace", "t1")
            .json(&serde_json::json!({"amount": 10}))
            .property(PropertyScope::Default, "orderId", Value::from("o-1"))
            .property(PropertyScope::Default, "ERROR_CODE", Value::from(1))
            .build()
            .unwrap();
        msg.set_variable("v", Value::from(1));
        let stored = to_stored(&msg, 5).unwrap();
        assert_eq!(stored.content_type.as_deref(), Some("application/json"));
        let back = from_stored(&stored);
        assert_eq!(back.id(), msg.id());
        assert_eq!(back.method, Method::PUT);
        assert_eq!(back.uri.to_string(), "/pay?x=1");
        assert_eq!(back.header("x-trace"), Some("t1"));
        assert_eq!(
            back.property(PropertyScope::Default, "orderId"),
            Some(Value::from("o-1"))
        );
        assert_eq!(back.property(PropertyScope::Default, "ERROR_CODE"), None);
        assert_eq!(
            back.payload_json().unwrap(),
            Some(&serde_json::json!({"amount": 10}))
        );
    }

    #[test]
    fn an_empty_body_keeps_its_declared_content_type() {
        let msg = Message::builder()
            .method(Method::POST)
            .uri("/pay")
            .header("content-type", "application/json")
            .build()
            .unwrap();
        let stored = to_stored(&msg, 5).unwrap();
        assert!(stored.body.is_empty());
        assert_eq!(stored.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            from_stored(&stored).header("content-type"),
            Some("application/json")
        );
    }
}
