//! What an expression can read: the seam between the expression engine and the message.
//!
//! `crate::message::Message` implements this trait; tests may implement it on fixtures.

use std::error::Error;
use std::fmt;

use serde_json::Value;

use crate::cause::{self, Cause};
use crate::xml::Element;

/// The scopes a property lives in (Synapse's `scope` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyScope {
    /// The message context (`default`/`synapse`): lives for the whole flow.
    Default,
    /// Transport headers (`transport`): read and written as headers.
    Transport,
    /// The Axis2 message context (`axis2`): `HTTP_SC`, `messageType`, `ContentType`, ...
    Axis2,
    /// Axis2 client options (`axis2-client`).
    Axis2Client,
    /// The operation context (`operation`): survives clone/iterate.
    Operation,
    /// Process environment (`env`), read-only.
    Env,
    /// System properties (`system`); in Ferry the runtime's configuration properties.
    System,
}

/// The payload as the expression engine sees it.
#[derive(Debug, Clone, Copy)]
pub enum PayloadView<'a> {
    /// A JSON payload, parsed.
    Json(&'a Value),
    /// An XML payload, parsed (the document element).
    Xml(&'a Element),
    /// A text payload.
    Text(&'a str),
    /// Binary or no payload.
    None,
}

/// Errors reading the payload (the body is not what its content type says).
#[derive(Debug, Clone)]
pub struct PayloadError {
    /// What is wrong, with the parser's words.
    pub message: String,
    /// The parser's error (JSON, XML, conversion), when there is one: the source.
    cause: Option<Cause>,
}

impl PayloadError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            cause: None,
        }
    }

    /// Keeps `err`, the parser's error, as the source.
    pub fn with_cause(mut self, err: impl Error + Send + Sync + 'static) -> Self {
        self.cause = Some(cause::cause(err));
        self
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for PayloadError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        cause::as_source(&self.cause)
    }
}

/// Two payload errors are equal when they say the same thing: the cause explains the
/// message, it does not change it (and a `dyn Error` cannot be compared).
impl PartialEq for PayloadError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for PayloadError {}

/// Everything an expression may read. Lookups that find nothing return `None`.
pub trait ExprContext {
    /// The payload in its native form, parsed on first access.
    fn payload(&self) -> Result<PayloadView<'_>, PayloadError>;
    /// The payload seen as JSON: parsed JSON as is, XML converted by the Synapse rules,
    /// text as a JSON string. Cached after the first call.
    fn payload_json(&self) -> Result<Option<&Value>, PayloadError>;
    /// The member `key` of a JSON object payload when it can be read without parsing the
    /// whole body; `None` when not (then [`ExprContext::payload_json`] is the way).
    fn payload_json_member(&self, _key: &str) -> Option<Option<Value>> {
        None
    }
    /// The payload seen as XML: parsed XML as is, JSON converted by the Synapse rules.
    fn payload_xml(&self) -> Result<Option<&Element>, PayloadError>;
    /// A flow variable (`${var.name}`).
    fn variable(&self, name: &str) -> Option<&Value>;
    /// A property in a scope (`${props.synapse.x}`, `get-property('axis2','x')`, `$ctx:x`).
    fn property(&self, scope: PropertyScope, name: &str) -> Option<Value>;
    /// A transport header, case-insensitively (`${headers["Content-Type"]}`, `$trp:x`).
    fn header(&self, name: &str) -> Option<&str>;
    /// A URI template parameter (`${params.uriParams.id}`, `uri.var.id`).
    fn uri_param(&self, name: &str) -> Option<&str>;
    /// A query parameter (`${params.queryParams.q}`, `$url:q`).
    fn query_param(&self, name: &str) -> Option<&str>;
    /// A sequence-template parameter (`${params.functionParams.p}`, `$func:p`).
    fn function_param(&self, name: &str) -> Option<&Value>;
    /// A configuration value (`${config.x}`): the runtime's configuration properties.
    fn config(&self, name: &str) -> Option<&str>;
    /// The content of a LocalEntry as text, by name or Synapse name: what Synapse's
    /// `get-property('key')` returns when no property of that name is set.
    fn local_entry(&self, _key: &str) -> Option<&str> {
        None
    }
}
