//! One error type for the mediation path, and the one place that turns it into an answer.
//!
//! A mediator, an endpoint call or the transport fails with a [`Fault`]. The sequence
//! runner copies it into the message (`ERROR_CODE`, `ERROR_MESSAGE`, `ERROR_DETAIL`) and runs
//! the nearest fault sequence; when there is none, the dispatcher answers with
//! [`Fault::http_status`] and the JSON error body of [`Fault::default_body`].
//!
//! A fault made from another error keeps that error as its [`Error::source`] (a refused
//! connection reaches the `io::Error` through the endpoint client's `CallError`); logs print
//! the whole chain with [`Fault::chain`]. Clients and fault sequences see only the message
//! and detail, as before.

use std::error::Error;
use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use crate::cause::{self, Cause, Chain};
use crate::expr::context::PayloadError;
use crate::message::soap;
use crate::xml::{Element, QName};

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
    /// A data service or database mediator parameter is missing or not of its type (400).
    pub const DATA_BAD_PARAMETER: u32 = 800400;
    /// A data service resource found no row where it answers 404.
    pub const DATA_NOT_FOUND: u32 = 800404;
    /// A statement violated a constraint (unique, foreign key, not null, check): 409.
    pub const DATA_CONFLICT: u32 = 800409;
    /// A statement failed for a reason the client cannot fix (500, no driver detail).
    pub const DATA_FAILED: u32 = 800500;
    /// The database cannot be reached, or no connection was free in time (503).
    pub const DATA_UNAVAILABLE: u32 = 800503;
}

/// Which side failed, which decides the default status. (Not called `source`: that is
/// the cause, [`Error::source`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSide {
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
///
/// No `PartialEq`: two faults with the same code and message may have different causes,
/// and a cause (a `dyn Error`) cannot be compared; tests compare the fields they mean.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The code fault sequences branch on.
    pub code: ErrorCode,
    /// A one-line description (`ERROR_MESSAGE`).
    pub message: String,
    /// More detail when there is some (`ERROR_DETAIL`).
    pub detail: Option<String>,
    /// Which side failed.
    pub side: FaultSide,
    /// Whether trying again may succeed (connection failures, timeouts).
    pub retryable: bool,
    /// The error this fault was made from, if any: [`Error::source`]. Never shown to
    /// clients or fault sequences, only logged.
    cause: Option<Cause>,
    /// The status its answer gets instead of the one its code and side imply (a refusal by
    /// authentication is a client error, but a 401 or 403, not a 400).
    status: Option<StatusCode>,
}

impl Fault {
    /// A backend failure with a Synapse code.
    pub fn upstream(code: u32, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: ErrorCode::Numeric(code),
            message: message.into(),
            detail: None,
            side: FaultSide::Upstream,
            retryable,
            cause: None,
            status: None,
        }
    }

    /// The client's message could not be processed (e.g. malformed JSON).
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Numeric(code),
            message: message.into(),
            detail: None,
            side: FaultSide::Downstream,
            retryable: false,
            cause: None,
            status: None,
        }
    }

    /// The payload does not parse as its content type says (malformed JSON or XML,
    /// invalid UTF-8, nesting past the parser's depth limit, a DOCTYPE declaring entities):
    /// the sender's error, `400` with code 601000, whoever reads the payload first.
    pub fn unreadable_payload(err: PayloadError) -> Self {
        Self::bad_request(
            codes::PARSE_ERROR,
            format!("cannot read the payload: {err}"),
        )
        .with_cause(err)
    }

    /// An internal failure with a Synapse code.
    pub fn internal(code: u32, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Numeric(code),
            message: message.into(),
            detail: None,
            side: FaultSide::Internal,
            retryable: false,
            cause: None,
            status: None,
        }
    }

    /// An error raised by configuration (`throwError`), with its own code name.
    pub fn raised(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Named(code.into()),
            message: message.into(),
            detail: None,
            side: FaultSide::Internal,
            retryable: false,
            cause: None,
            status: None,
        }
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Keeps `err`, the error this fault was made from, as its [`Error::source`]. The
    /// message is unchanged: what clients and fault sequences read stays as it was.
    pub fn with_cause(mut self, err: impl Error + Send + Sync + 'static) -> Self {
        self.cause = Some(cause::cause(err));
        self
    }

    /// The fault and its causes on one line, `message (code): cause: cause's cause`, for
    /// logs (see [`Chain`]).
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }

    /// Answers with `status` (see [`Fault::http_status`]).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The status a client gets when no fault sequence answers.
    pub fn http_status(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        match (&self.code, self.side) {
            (ErrorCode::Numeric(codes::PARSE_ERROR), _) => StatusCode::BAD_REQUEST,
            (ErrorCode::Numeric(codes::DATA_NOT_FOUND), _) => StatusCode::NOT_FOUND,
            (ErrorCode::Numeric(codes::DATA_CONFLICT), _) => StatusCode::CONFLICT,
            (ErrorCode::Numeric(codes::DATA_UNAVAILABLE), _) => StatusCode::SERVICE_UNAVAILABLE,
            (_, FaultSide::Downstream) => StatusCode::BAD_REQUEST,
            (ErrorCode::Numeric(codes::TIMEOUT | codes::CONNECT_TIMEOUT), _) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            (
                ErrorCode::Numeric(codes::ENDPOINT_SUSPENDED | codes::NO_CHILD_READY),
                FaultSide::Upstream,
            ) => StatusCode::SERVICE_UNAVAILABLE,
            (_, FaultSide::Upstream) => StatusCode::BAD_GATEWAY,
            (_, FaultSide::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The SOAP fault a SOAP client gets when no fault sequence answers: `Client` /
    /// `Sender` for the client's errors, else `Server` / `Receiver`; the message as the
    /// reason; the code (and detail) in the fault's detail.
    pub fn soap_body(&self, version: soap::Version) -> Bytes {
        let ns = version.namespace();
        let q = |local: &str| QName::namespaced(Some("soapenv"), local, ns);
        let client = self.http_status().is_client_error();
        let mut detail =
            Element::new("detail").with_child(Element::new("code").with_text(match &self.code {
                ErrorCode::Numeric(n) => n.to_string(),
                other => other.to_value().to_string().trim_matches('"').to_string(),
            }));
        if let Some(d) = &self.detail {
            detail.push_child(Element::new("detail").with_text(d.clone()));
        }
        let fault = match version {
            soap::Version::Soap11 => Element::with_name(q("Fault"))
                .with_child(Element::new("faultcode").with_text(if client {
                    "soapenv:Client"
                } else {
                    "soapenv:Server"
                }))
                .with_child(Element::new("faultstring").with_text(self.message.clone()))
                .with_child(detail),
            soap::Version::Soap12 => {
                let mut text = Element::with_name(q("Text")).with_text(self.message.clone());
                text.set_attribute("xml:lang", "en");
                detail.name = q("Detail");
                Element::with_name(q("Fault"))
                    .with_child(Element::with_name(q("Code")).with_child(
                        Element::with_name(q("Value")).with_text(if client {
                            "soapenv:Sender"
                        } else {
                            "soapenv:Receiver"
                        }),
                    ))
                    .with_child(Element::with_name(q("Reason")).with_child(text))
                    .with_child(detail)
            }
        };
        let envelope = Element::with_name(q("Envelope"))
            .with_child(Element::with_name(q("Body")).with_child(fault));
        let mut out = Vec::with_capacity(256);
        envelope.write_to(&mut out);
        Bytes::from(out)
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

impl Error for Fault {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        cause::as_source(&self.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::StoreError;

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
    fn soap_clients_get_soap_faults_of_their_version() {
        let parse = Fault::bad_request(codes::PARSE_ERROR, "bad <xml> & more");
        let body = String::from_utf8(parse.soap_body(soap::Version::Soap11).to_vec()).unwrap();
        assert_eq!(
            body,
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>bad &lt;xml&gt; &amp; more</faultstring><detail><code>601000</code></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        );
        let raised = Fault::raised("PAYMENT_ERROR", "no money").with_detail("card declined");
        let body = String::from_utf8(raised.soap_body(soap::Version::Soap12).to_vec()).unwrap();
        for part in [
            "xmlns:soapenv=\"http://www.w3.org/2003/05/soap-envelope\"",
            "<soapenv:Code><soapenv:Value>soapenv:Receiver</soapenv:Value></soapenv:Code>",
            "<soapenv:Reason><soapenv:Text xml:lang=\"en\">no money</soapenv:Text></soapenv:Reason>",
            "<soapenv:Detail><code>PAYMENT_ERROR</code><detail>card declined</detail></soapenv:Detail>",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        assert!(
            crate::xml::Element::parse(body.as_bytes()).is_ok(),
            "{body}"
        );
    }

    #[test]
    fn an_unreadable_payload_is_the_clients_parse_error() {
        let f = Fault::unreadable_payload(PayloadError::new("malformed JSON: EOF"));
        assert_eq!(f.http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(f.code, ErrorCode::Numeric(codes::PARSE_ERROR));
        assert_eq!(f.side, FaultSide::Downstream);
        assert_eq!(f.message, "cannot read the payload: malformed JSON: EOF");
        assert!(f.source().is_some_and(|e| e.is::<PayloadError>()), "{f:?}");
    }

    #[test]
    fn a_fault_made_from_a_store_error_keeps_it_and_logs_its_whole_chain() {
        use std::io;
        let disk = io::Error::new(io::ErrorKind::StorageFull, "no space left on device");
        let store = StoreError::transient("orders", "disk I/O error").with_cause(disk);
        let f = Fault::internal(codes::STORE_FAILED, store.to_string()).with_cause(store);
        // What clients and fault sequences read is the message alone, as before.
        assert_eq!(f.message, "message store orders: disk I/O error");
        let body: Value = serde_json::from_slice(&f.default_body()).unwrap();
        assert_eq!(body["error"]["message"], json!(f.message));
        // The log line goes down to the root.
        assert_eq!(
            f.chain().to_string(),
            "message store orders: disk I/O error (700001): no space left on device"
        );
        let kept = f.source().and_then(|e| e.downcast_ref::<StoreError>());
        assert_eq!(kept.map(|e| e.store.as_str()), Some("orders"));
        let root = kept
            .and_then(Error::source)
            .and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(root.map(io::Error::kind), Some(io::ErrorKind::StorageFull));
    }

    #[test]
    fn a_fault_without_a_cause_logs_as_it_displays() {
        let f = Fault::raised("PAYMENT_ERROR", "no money");
        assert!(f.source().is_none());
        assert_eq!(f.chain().to_string(), "no money (PAYMENT_ERROR)");
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
