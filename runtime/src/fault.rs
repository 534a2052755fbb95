//! One error type for the mediation path, and the one place that turns it into an answer.
//!
//! A mediator, an endpoint call or the transport fails with a [`Fault`]. The sequence
//! runner copies it into the message (`ERROR_CODE`, `ERROR_MESSAGE`, `ERROR_DETAIL`) and runs
//! the nearest fault sequence; when there is none, [`Fault::default_response`] answers with a
//! JSON error body and a status chosen from the code.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use crate::expr::context::PayloadError;

/// Synapse's error codes, as fault sequences read them from `ERROR_CODE`.
pub mod codes {
    /// Sending the request to the backend failed.
    pub const SENDING_FAILED: u32 = 101500;
    /// The backend refused the connection or could not be reached.
    pub const CONNECTION_FAILED: u32 = 101503;
    /// The backend did not answer within the timeout.
    pub const TIMEOUT: u32 = 101504;
    /// The backend closed the connection before a full response.
    pub const CONNECTION_CLOSED: u32 = 101505;
    /// The backend violated HTTP.
    pub const PROTOCOL_VIOLATION: u32 = 101506;
    /// Connecting was cancelled.
    pub const CONNECT_CANCELLED: u32 = 101507;
    /// Connecting timed out.
    pub const CONNECT_TIMEOUT: u32 = 101508;
    /// The backend's response could not be processed.
    pub const RESPONSE_PROCESSING_FAILURE: u32 = 101510;
    /// No child of a failover/load-balance group was ready.
    pub const NO_CHILD_READY: u32 = 303000;
    /// The endpoint is suspended after earlier failures.
    pub const ENDPOINT_SUSPENDED: u32 = 303001;
    /// A blocking call failed (Synapse reports this around the sender's own code).
    pub const BLOCKING_CALL_FAILED: u32 = 401001;
    /// A custom error raised by configuration.
    pub const CUSTOM: u32 = 500000;
    /// The payload could not be parsed as its content type says (XML/JSON parse error).
    pub const PARSE_ERROR: u32 = 601000;
    /// A message store could not accept the message.
    pub const STORE_FAILED: u32 = 700001;
}

/// Where a fault comes from, which decides the default status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSource {
    /// A backend (endpoint) failed.
    Upstream,
    /// The client sent something we cannot process.
    Downstream,
    /// Our own configuration or logic failed (or a `throwError`).
    Internal,
}

/// The value of `ERROR_CODE`: Synapse's numeric codes, or the `type` of a `throwError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// A numeric Synapse code (see [`codes`]).
    Numeric(u32),
    /// A named error raised by `throwError`.
    Named(String),
}

impl ErrorCode {
    /// The property value fault sequences read.
    pub fn to_value(&self) -> Value {
        match self {
            ErrorCode::Numeric(n) => Value::from(*n),
            ErrorCode::Named(s) => Value::String(s.clone()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Numeric(n) => write!(f, "{n}"),
            ErrorCode::Named(s) => f.write_str(s),
        }
    }
}

/// A failure on the mediation path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The code fault sequences branch on.
    pub code: ErrorCode,
    /// A one-line description (`ERROR_MESSAGE`).
    pub message: String,
    /// More detail when there is some (`ERROR_DETAIL`).
    pub detail: Option<String>,
    /// Where it came from.
    pub source: FaultSource,
    /// Whether trying again may succeed (connection failures, timeouts).
    pub retryable: bool,
}

impl Fault {
    /// A backend failure with a Synapse code.
    pub fn upstream(code: u32, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: ErrorCode::Numeric(code),
            message: message.into(),
            detail: None,
            source: FaultSource::Upstream,
            retryable,
        }
    }

    /// The client's message could not be processed (e.g. malformed JSON).
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Numeric(code),
            message: message.into(),
            detail: None,
            source: FaultSource::Downstream,
            retryable: false,
        }
    }

    /// The payload does not parse as its content type says (malformed JSON or XML,
    /// invalid UTF-8, nesting past the parser's depth limit, a DOCTYPE declaring entities):
    /// the sender's error, `400` with code 601000, whoever reads the payload first.
    pub fn unreadable_payload(err: &PayloadError) -> Self {
        Self::bad_request(
            codes::PARSE_ERROR,
            format!("cannot read the payload: {err}"),
        )
    }

    /// An internal failure with a Synapse code.
    pub fn internal(code: u32, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Numeric(code),
            message: message.into(),
            detail: None,
            source: FaultSource::Internal,
            retryable: false,
        }
    }

    /// An error raised by configuration (`throwError`), with its own code name.
    pub fn raised(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Named(code.into()),
            message: message.into(),
            detail: None,
            source: FaultSource::Internal,
            retryable: false,
        }
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The status a client gets when no fault sequence answers.
    pub fn http_status(&self) -> StatusCode {
        match (&self.code, self.source) {
            (ErrorCode::Numeric(codes::PARSE_ERROR), _) => StatusCode::BAD_REQUEST,
            (_, FaultSource::Downstream) => StatusCode::BAD_REQUEST,
            (ErrorCode::Numeric(codes::TIMEOUT | codes::CONNECT_TIMEOUT), _) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            (
                ErrorCode::Numeric(codes::ENDPOINT_SUSPENDED | codes::NO_CHILD_READY),
                FaultSource::Upstream,
            ) => StatusCode::SERVICE_UNAVAILABLE,
            (_, FaultSource::Upstream) => StatusCode::BAD_GATEWAY,
            (_, FaultSource::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body a client gets when no fault sequence answers.
    pub fn default_body(&self) -> Bytes {
        let mut error = json!({ "code": self.code.to_value(), "message": self.message });
        if let (Some(detail), Some(obj)) = (&self.detail, error.as_object_mut()) {
            obj.insert("detail".into(), Value::String(detail.clone()));
        }
        Bytes::from(json!({ "error": error }).to_string())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_failures_map_to_gateway_statuses() {
        let refused = Fault::upstream(codes::CONNECTION_FAILED, "refused", true);
        assert_eq!(refused.http_status(), StatusCode::BAD_GATEWAY);
        let timeout = Fault::upstream(codes::TIMEOUT, "slow", true);
        assert_eq!(timeout.http_status(), StatusCode::GATEWAY_TIMEOUT);
        let suspended = Fault::upstream(codes::ENDPOINT_SUSPENDED, "suspended", false);
        assert_eq!(suspended.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn client_errors_are_4xx_and_raised_errors_500() {
        let parse = Fault::bad_request(codes::PARSE_ERROR, "bad json");
        assert_eq!(parse.http_status(), StatusCode::BAD_REQUEST);
        let raised = Fault::raised("PAYMENT_ERROR", "no money");
        assert_eq!(raised.http_status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn an_unreadable_payload_is_the_clients_parse_error() {
        let f = Fault::unreadable_payload(&PayloadError::new("malformed JSON: EOF"));
        assert_eq!(f.http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(f.code, ErrorCode::Numeric(codes::PARSE_ERROR));
        assert_eq!(f.source, FaultSource::Downstream);
        assert_eq!(f.message, "cannot read the payload: malformed JSON: EOF");
    }

    #[test]
    fn the_default_body_carries_code_message_and_detail() {
        let f = Fault::upstream(codes::CONNECTION_FAILED, "refused", true).with_detail("x");
        let body: Value = serde_json::from_slice(&f.default_body()).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": 101503, "message": "refused", "detail": "x"}})
        );
        let named = Fault::raised("E1", "m");
        let body: Value = serde_json::from_slice(&named.default_body()).unwrap();
        assert_eq!(body["error"]["code"], json!("E1"));
    }
}
