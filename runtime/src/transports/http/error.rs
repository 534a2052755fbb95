//! The error answers Ferry writes itself, in one format: `{"error": {"code": <status>,
//! "message": "..."}}` with `Content-Type: application/json`.
//!
//! The listener ([`super::server`]) answers with it before a handler runs (a declared body
//! over the limit) or when a handler panics; the dispatcher answers with it when no
//! resource matches, when the body is too large or too slow, and for faults no fault
//! sequence handled (there `code` is the Synapse code). A client sees one shape whichever
//! layer refused its request.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::body::{self, Body};

/// `{"error": {"code": status, "message": message}}` with `status`.
pub fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"code": status.as_u16(), "message": message}});
    json_response(status, Bytes::from(body.to_string()))
}

/// The 413 for a request body over `limit` bytes, whether its declared length or the
/// bytes of a chunked body gave it away.
pub fn too_large(limit: usize) -> Response<Body> {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {limit} bytes"),
    )
}

/// The 503 for a request beyond the listener's concurrency limit of `max`: the client is
/// told to come back in a second rather than kept waiting in a queue.
pub fn overloaded(max: usize) -> Response<Body> {
    let mut resp = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("the server is running its limit of {max} requests at once; retry shortly"),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// A response with `status` and a JSON `body`.
pub fn json_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transports::http::body::read_body_limited;

    #[tokio::test]
    async fn an_error_answer_is_json_with_the_status_as_code() {
        let resp = too_large(4);
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = read_body_limited(resp.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": 413, "message": "the request body is larger than 4 bytes"}})
        );
    }
}
