//! Why a call to a backend failed, in Synapse's terms.
//!
//! The endpoint client turns every transport failure into a [`CallError`] whose
//! `synapse_code` is what fault sequences read from `ERROR_CODE` (101503 connection failed,
//! 101504 timeout, ...) and whose kind decides retries and suspension in the endpoint layer.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use super::pool::{Http1Error, Http1ErrorKind};
use crate::cause::{self, Cause, Chain};
use crate::fault::codes;
use crate::transports::http::body::BoxError;

/// The class of a failed backend call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallErrorKind {
    /// The backend refused the connection or could not be reached (101503).
    ConnectFailed,
    /// Establishing the connection took longer than the connect timeout (101508).
    ConnectTimeout,
    /// No (complete) response within the call's timeout (101504).
    ResponseTimeout,
    /// The backend closed the connection before or while sending its response (101505).
    ConnectionClosed,
    /// The backend's answer is not valid HTTP (101506).
    ProtocolViolation,
    /// Sending failed for another reason, e.g. an invalid request URI (101500).
    SendFailed,
    /// The response arrived but could not be processed, e.g. it exceeds the size limit
    /// (101510).
    ResponseProcessing,
    /// The TLS handshake failed: the backend's certificate is expired, not valid for the
    /// host or from an unknown issuer, or the backend refused ours (101500, as Synapse
    /// reports an SSL handshake failure; the message names the problem).
    Tls,
}

impl CallErrorKind {
    /// The Synapse error code (`ERROR_CODE`) of this kind.
    pub fn synapse_code(self) -> u32 {
        match self {
            CallErrorKind::ConnectFailed => codes::CONNECTION_FAILED,
            CallErrorKind::ConnectTimeout => codes::CONNECT_TIMEOUT,
            CallErrorKind::ResponseTimeout => codes::TIMEOUT,
            CallErrorKind::ConnectionClosed => codes::CONNECTION_CLOSED,
            CallErrorKind::ProtocolViolation => codes::PROTOCOL_VIOLATION,
            CallErrorKind::SendFailed => codes::SENDING_FAILED,
            CallErrorKind::ResponseProcessing => codes::RESPONSE_PROCESSING_FAILURE,
            CallErrorKind::Tls => codes::SENDING_FAILED,
        }
    }

    /// A short, stable name (for logs and metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            CallErrorKind::ConnectFailed => "connect_failed",
            CallErrorKind::ConnectTimeout => "connect_timeout",
            CallErrorKind::ResponseTimeout => "response_timeout",
            CallErrorKind::ConnectionClosed => "connection_closed",
            CallErrorKind::ProtocolViolation => "protocol_violation",
            CallErrorKind::SendFailed => "send_failed",
            CallErrorKind::ResponseProcessing => "response_processing",
            CallErrorKind::Tls => "tls",
        }
    }
}

impl fmt::Display for CallErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed backend call.
///
/// No `PartialEq`: the cause is a `dyn Error`; compare `kind` and `synapse_code`.
#[derive(Debug, Clone)]
pub struct CallError {
    /// What failed.
    pub kind: CallErrorKind,
    /// The cause, with the underlying errors' text.
    pub message: String,
    /// Synapse's code for `kind`, as fault sequences read it.
    pub synapse_code: u32,
    /// The hyper or socket error that failed the call, when there is one: the
    /// [`StdError::source`], so the `io::Error` of a refused connection stays reachable.
    cause: Option<Cause>,
}

impl CallError {
    /// An error of `kind`; the code follows from the kind.
    pub fn new(kind: CallErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            synapse_code: kind.synapse_code(),
            cause: None,
        }
    }

    /// Keeps `err`, the error the call failed with, as the source.
    pub fn with_cause(mut self, err: impl StdError + Send + Sync + 'static) -> Self {
        self.cause = Some(cause::cause(err));
        self
    }

    /// Whether the same call may succeed if tried again: the backend was unreachable, slow
    /// or dropped the connection. A malformed answer or a request we cannot send is not
    /// worth repeating.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            CallErrorKind::ConnectFailed
                | CallErrorKind::ConnectTimeout
                | CallErrorKind::ResponseTimeout
                | CallErrorKind::ConnectionClosed
        )
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.synapse_code)
    }
}

impl StdError for CallError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        cause::as_source(&self.cause)
    }
}

/// Classifies a failure of the pooled client's `request` (connect, write, response head).
pub(crate) fn classify_send(err: hyper_util::client::legacy::Error) -> CallError {
    let message = chain_text(&err);
    if err.is_connect() {
        let timed_out =
            find::<io::Error>(&err).is_some_and(|e| e.kind() == io::ErrorKind::TimedOut);
        let kind = if timed_out {
            CallErrorKind::ConnectTimeout
        } else {
            CallErrorKind::ConnectFailed
        };
        return CallError::new(kind, message).with_cause(err);
    }
    CallError::new(
        classify_exchange(&err).unwrap_or(CallErrorKind::SendFailed),
        message,
    )
    .with_cause(err)
}

/// A failure of an HTTP/1.1 exchange on a connection Ferry drives itself.
pub(crate) fn classify_http1(err: Http1Error) -> CallError {
    CallError::new(
        classify_exchange(&err).unwrap_or(CallErrorKind::SendFailed),
        chain_text(&err),
    )
    .with_cause(err)
}

/// Classifies a failure while reading the response body.
pub(crate) fn classify_body(err: BoxError) -> CallError {
    let kind = classify_exchange(&*err).unwrap_or(CallErrorKind::ResponseProcessing);
    let message = format!("reading the response failed: {}", chain_text(&*err));
    // The box's content becomes the cause (not the box, which is no `Error` itself), so a
    // chain walk meets the error inside.
    CallError {
        cause: Some(Cause::from(err)),
        ..CallError::new(kind, message)
    }
}

/// The kind told by hyper's or the socket's error inside `err`, if it tells one.
fn classify_exchange(err: &(dyn StdError + 'static)) -> Option<CallErrorKind> {
    if let Some(h) = find::<Http1Error>(err) {
        match h.kind() {
            Http1ErrorKind::Parse => return Some(CallErrorKind::ProtocolViolation),
            Http1ErrorKind::Incomplete => return Some(CallErrorKind::ConnectionClosed),
            // Told by the socket's error or the request body's, below.
            Http1ErrorKind::Io | Http1ErrorKind::Request => {}
        }
    }
    if let Some(h) = find::<hyper::Error>(err) {
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            return Some(CallErrorKind::ProtocolViolation);
        }
        if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
            return Some(CallErrorKind::ConnectionClosed);
        }
        if h.is_timeout() {
            return Some(CallErrorKind::ResponseTimeout);
        }
    }
    let io = find::<io::Error>(err)?;
    // TLS 1.3 reports a refused client certificate after the handshake, on the first read.
    if crate::tls::client::handshake_failure(io).is_some() {
        return Some(CallErrorKind::Tls);
    }
    match io.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Some(CallErrorKind::ConnectionClosed),
        io::ErrorKind::TimedOut => Some(CallErrorKind::ResponseTimeout),
        _ => None,
    }
}

/// The first error of type `T` in `err`'s source chain, `err` included.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// `err` and its sources on one line (hyper's own messages are terse).
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    Chain(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_carries_its_synapse_code() {
        let cases = [
            (CallErrorKind::ConnectFailed, 101503),
            (CallErrorKind::ResponseTimeout, 101504),
            (CallErrorKind::ConnectionClosed, 101505),
            (CallErrorKind::ProtocolViolation, 101506),
            (CallErrorKind::ConnectTimeout, 101508),
            (CallErrorKind::SendFailed, 101500),
            (CallErrorKind::ResponseProcessing, 101510),
        ];
        for (kind, code) in cases {
            assert_eq!(CallError::new(kind, "x").synapse_code, code, "{kind}");
        }
    }

    #[test]
    fn only_reachability_and_timing_failures_are_retryable() {
        let retryable: Vec<_> = [
            CallErrorKind::ConnectFailed,
            CallErrorKind::ConnectTimeout,
            CallErrorKind::ResponseTimeout,
            CallErrorKind::ConnectionClosed,
            CallErrorKind::ProtocolViolation,
            CallErrorKind::SendFailed,
            CallErrorKind::ResponseProcessing,
        ]
        .into_iter()
        .filter(|k| CallError::new(*k, "x").is_retryable())
        .collect();
        assert_eq!(
            retryable,
            [
                CallErrorKind::ConnectFailed,
                CallErrorKind::ConnectTimeout,
                CallErrorKind::ResponseTimeout,
                CallErrorKind::ConnectionClosed
            ]
        );
    }

    #[test]
    fn a_reset_socket_while_reading_the_body_means_the_connection_closed() {
        let err = io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer");
        let call = classify_body(Box::new(err));
        assert_eq!(call.kind, CallErrorKind::ConnectionClosed);
        assert!(call.message.contains("reset by peer"));
        let source = call.source().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(
            source.map(io::Error::kind),
            Some(io::ErrorKind::ConnectionReset),
            "the body's error is the source, not a box around it"
        );
    }

    #[test]
    fn an_unrecognised_body_failure_is_a_response_processing_failure() {
        let err = io::Error::other("decoder broke");
        assert_eq!(
            classify_body(Box::new(err)).kind,
            CallErrorKind::ResponseProcessing
        );
    }

    #[test]
    fn the_display_names_the_cause_and_the_code() {
        let err = CallError::new(CallErrorKind::ConnectFailed, "connection refused");
        assert_eq!(err.to_string(), "connection refused (101503)");
    }
}
