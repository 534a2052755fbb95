//! The message: everything one request carries through a flow.
//!
//! The HTTP transport builds a `Message` from a request (`Message::from_request`); the
//! sequence runner hands it to each mediator, which reads and changes headers, properties,
//! variables and the payload; `call`/`send` serialise it with `body_bytes` and switch it to
//! the response direction with `set_response`; the transport finally writes `status()`,
//! `headers` and `body_bytes()` back. Expressions read it through `ExprContext`.
//!
//! It stays cheap: the body is not parsed unless asked (and then only once), property and
//! variable maps allocate on first write, and a body that nobody touches goes out as the
//! very `Bytes` that came in.

pub mod addressing;
pub mod builder;
pub mod convert;
mod expr_context;
pub mod payload;
pub mod properties;
pub mod scan;
pub mod soap;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use ferry_api::check::mediator::AddressingHeader;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Map, Value};

use crate::xml::Element;
pub use builder::MessageBuilder;
use convert::ConversionOptions;
use payload::{Payload, PayloadKind};
use properties::{Properties, value_to_string};

use crate::expr::context::{PayloadError, PropertyScope};
use crate::transports::http::body::Body;

/// A change to the message that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A header name or value that HTTP does not allow.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A write to a read-only scope (`env`, `system`).
    #[error("the {0:?} property scope is read-only")]
    ReadOnlyScope(PropertyScope),
    /// A well-known property set to a value it cannot take.
    #[error("invalid value for property {name}: {reason}")]
    InvalidProperty {
        /// The property name.
        name: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
}

/// Per-message state; see the module documentation.
///
/// Cloning is cheap for an untouched body (the bytes are shared); clone and iterate
/// mediators and backend calls work on clones.
#[derive(Debug, Clone)]
pub struct Message {
    id: u128,
    /// The HTTP method of the request (the one a backend call uses, unless an endpoint
    /// says otherwise).
    pub method: Method,
    /// The request URI (path and query) as received.
    pub uri: Uri,
    /// Transport headers of the current direction (request headers, then response headers).
    pub headers: HeaderMap,
    properties: Properties,
    variables: Map<String, Value>,
    payload: Payload,
    /// URI template parameters, percent-decoded, in template order.
    pub uri_params: Vec<(String, String)>,
    /// Query parameters, percent-decoded, in request order.
    pub query_params: Vec<(String, String)>,
    /// Parameters of the sequence template being run (`$func:x`).
    pub function_params: Vec<(String, Value)>,
    config: Arc<HashMap<String, String>>,
    /// The LocalEntries' contents as text, by name and Synapse name (`get-property('key')`).
    local_entries: Arc<HashMap<String, String>>,
    /// A backend's answer body left streaming (see [`Message::set_streamed_response`]).
    answer_body: AnswerBody,
    /// The splits (clone, iterate) this message is a copy of, innermost last: where an
    /// `aggregate` finds the group it collects for.
    splits: Vec<crate::mediators::split::SplitTag>,
    /// The request a cache finder looked up and missed: where its collector stores the
    /// response (Synapse keeps this in the message context too).
    pub(crate) cache_lookup: Option<crate::mediators::cache::Lookup>,
    /// The span this message is in, when tracing is on (see [`crate::telemetry`]): backend
    /// calls, stores and child flows start theirs under it.
    pub(crate) trace: Option<crate::telemetry::Trace>,
    /// The correlation id it arrived with (its header when the message was made).
    correlation: Option<HeaderValue>,
}

/// The body of a backend answer that goes to the client unread. A copy of the message does
/// not carry it (a stream can be read once); any new payload drops it.
#[derive(Default)]
struct AnswerBody(Option<Body>);

impl Clone for AnswerBody {
    fn clone(&self) -> Self {
        Self(None)
    }
}

impl std::fmt::Debug for AnswerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "streaming"
        } else {
            "none"
        })
    }
}

static EMPTY_CONFIG: LazyLock<Arc<HashMap<String, String>>> = LazyLock::new(Default::default);

impl Message {
    /// A message for an incoming request. The body is kept as is; the query is decoded.
    pub fn from_request(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Self {
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let payload = Payload::from_bytes(body, content_type);
        let query_params = uri
            .query()
            .map(ferry_api::routes::parse_query)
            .unwrap_or_default();
        let correlation = crate::telemetry::correlation::header()
            .and_then(|name| headers.get(name))
            .cloned();
        Message {
            id: next_id(),
            method,
            uri,
            headers,
            properties: Properties::default(),
            variables: Map::new(),
            payload,
            uri_params: Vec::new(),
            query_params,
            function_params: Vec::new(),
            config: Arc::clone(&EMPTY_CONFIG),
            local_entries: Arc::clone(&EMPTY_CONFIG),
            answer_body: AnswerBody::default(),
            splits: Vec::new(),
            cache_lookup: None,
            trace: None,
            correlation,
        }
    }

    /// An empty `GET /` message with no headers and no body (scheduled tasks start here).
    pub fn new_empty() -> Self {
        Message::from_request(
            Method::GET,
            Uri::from_static("/"),
            HeaderMap::new(),
            Bytes::new(),
        )
    }

    /// The span this message is in, when tracing is on.
    pub fn trace(&self) -> Option<&crate::telemetry::Trace> {
        self.trace.as_ref()
    }

    /// Puts the message into `trace` (or out of any).
    pub fn set_trace(&mut self, trace: Option<crate::telemetry::Trace>) {
        self.trace = trace;
    }

    /// A builder for messages in tests and injected flows.
    pub fn builder() -> MessageBuilder {
        MessageBuilder::default()
    }

    /// The message id, `urn:uuid:` followed by a random-looking, process-unique UUID.
    pub fn id(&self) -> String {
        format!("urn:uuid:{}", uuid_text(self.id))
    }

    /// The correlation id as its header value, when the message has one.
    pub fn correlation_value(&self) -> Option<&HeaderValue> {
        self.correlation.as_ref()
    }

    /// The correlation id the message arrived with (see [`crate::telemetry::correlation`]);
    /// empty when it has none.
    pub fn correlation_id(&self) -> &str {
        self.correlation
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Takes the id `id` (as [`Message::id`] writes it) so a message rebuilt from a store
    /// keeps the id it was stored with; returns false, keeping its own id, when `id` is
    /// not one Ferry wrote.
    pub fn set_id(&mut self, id: &str) -> bool {
        let hex: String = id
            .strip_prefix("urn:uuid:")
            .unwrap_or(id)
            .chars()
            .filter(|c| *c != '-')
            .collect();
        match u128::from_str_radix(&hex, 16) {
            Ok(n) if hex.len() == 32 => {
                self.id = n;
                true
            }
            _ => false,
        }
    }

    /// A copy of this message with a fresh id and `payload` as its body: headers,
    /// properties, variables and parameters are copied, the body is not (clone passes
    /// [`Payload::copy_light`], iterate one fragment), so a split never copies a large
    /// body once per piece.
    pub fn copy_with(&self, payload: Payload) -> Message {
        Message {
            id: next_id(),
            method: self.method.clone(),
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            properties: self.properties.clone(),
            variables: self.variables.clone(),
            payload,
            uri_params: self.uri_params.clone(),
            query_params: self.query_params.clone(),
            function_params: self.function_params.clone(),
            config: Arc::clone(&self.config),
            local_entries: Arc::clone(&self.local_entries),
            answer_body: AnswerBody::default(),
            splits: self.splits.clone(),
            cache_lookup: self.cache_lookup.clone(),
            trace: self.trace.clone(),
            correlation: self.correlation.clone(),
        }
    }

    /// The splits this message is a copy of, innermost last.
    pub fn splits(&self) -> &[crate::mediators::split::SplitTag] {
        &self.splits
    }

    /// Forgets the splits from `pos` inward: the message joined them (`aggregate`).
    pub fn truncate_splits(&mut self, pos: usize) {
        self.splits.truncate(pos);
    }

    /// Marks this message as a copy made by a split.
    pub fn push_split(&mut self, tag: crate::mediators::split::SplitTag) {
        self.splits.push(tag);
    }

    /// Gives the message a fresh id (a clone sent on its own way is a new message).
    pub fn renew_id(&mut self) {
        self.id = next_id();
    }

    /// Sets the URI template parameters and the query parameters found by the router.
    pub fn set_params(
        &mut self,
        uri_params: Vec<(String, String)>,
        query_params: Vec<(String, String)>,
    ) {
        self.uri_params = uri_params;
        self.query_params = query_params;
    }

    /// The runtime configuration properties (`${config.x}`, the `system` scope).
    pub fn set_config(&mut self, config: Arc<HashMap<String, String>>) {
        self.config = config;
    }

    /// The LocalEntries' contents, read at load (`get-property('key')` falls back to them).
    pub fn set_local_entries(&mut self, entries: Arc<HashMap<String, String>>) {
        self.local_entries = entries;
    }

    /// The content of the LocalEntry `key` (name or Synapse name), as text.
    pub fn local_entry(&self, key: &str) -> Option<&str> {
        self.local_entries.get(key).map(String::as_str)
    }

    /// Uses these JSON ⇄ XML rules instead of MI's defaults.
    pub fn set_conversion_options(&mut self, options: Arc<ConversionOptions>) {
        self.payload.set_options(options);
    }

    // === payload ===

    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The payload, mutably (for `json_mut`, `xml_mut`, `set_bytes` ...).
    pub fn payload_mut(&mut self) -> &mut Payload {
        self.answer_body = AnswerBody::default();
        &mut self.payload
    }

    /// Whether there is no body.
    pub fn is_payload_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// A URI template parameter (`uri.var.x`).
    pub fn uri_param(&self, name: &str) -> Option<&str> {
        self.uri_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter of that name (`$url:x`).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A sequence-template parameter (`$func:x`).
    pub fn function_param(&self, name: &str) -> Option<&Value> {
        self.function_params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The payload seen as JSON (see `Payload::json`).
    pub fn payload_json(&self) -> Result<Option<&Value>, PayloadError> {
        self.payload.json()
    }

    /// The payload seen as XML (see `Payload::xml`).
    pub fn payload_xml(&self) -> Result<Option<&Element>, PayloadError> {
        self.payload.xml()
    }

    /// Replaces the payload with JSON. The content type follows unless `messageType` says
    /// otherwise.
    pub fn set_json(&mut self, value: Value) {
        self.answer_body = AnswerBody::default();
        self.payload.set_json(value);
    }

    /// Replaces the payload with XML.
    pub fn set_xml(&mut self, element: Element) {
        self.answer_body = AnswerBody::default();
        self.payload.set_xml(element);
    }

    /// Replaces the payload with text.
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.answer_body = AnswerBody::default();
        self.payload.set_text(text);
    }

    /// Replaces the payload with bytes of a content type.
    pub fn set_bytes(&mut self, bytes: Bytes, content_type: Option<&str>) {
        self.answer_body = AnswerBody::default();
        self.payload.set_bytes(bytes, content_type);
    }

    // === properties ===

    /// Whether a property Synapse reads as a switch is on: boolean `true` or the text
    /// `true` in any case (`OUT_ONLY`, `FORCE_SC_ACCEPTED`).
    pub fn flag(&self, scope: PropertyScope, name: &str) -> bool {
        match self.property(scope, name) {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// A property (see `properties` for the scopes and the well-known names).
    pub fn property(&self, scope: PropertyScope, name: &str) -> Option<Value> {
        match scope {
            PropertyScope::Transport => self.header(name).map(|v| Value::String(v.to_owned())),
            PropertyScope::Env => std::env::var(name).ok().map(Value::String),
            PropertyScope::System => self.config.get(name).map(|v| Value::String(v.clone())),
            PropertyScope::Axis2 if name == properties::HTTP_METHOD => {
                Some(Value::String(self.method.as_str().to_owned()))
            }
            PropertyScope::Default => match self.properties.get(scope, name) {
                Some(value) => Some(value.clone()),
                None => self.addressing_default(name),
            },
            _ => self.properties.get(scope, name).cloned(),
        }
    }

    /// What an addressing property (`To`, `MessageID`, `Action`, ...) reads until the flow
    /// sets it: the request's own WS-Addressing header when its payload is a SOAP envelope
    /// with one, else for `To` the request URI and for `MessageID` the message id. Only an
    /// XML payload is looked at, so a JSON request is never converted for it.
    fn addressing_default(&self, name: &str) -> Option<Value> {
        let header = AddressingHeader::parse(name)?;
        let from_envelope = match self.payload.kind() {
            PayloadKind::Xml => self
                .payload
                .xml()
                .ok()
                .flatten()
                .and_then(|envelope| addressing::read(envelope, header)),
            _ => None,
        };
        let value = match (from_envelope, header) {
            (Some(value), _) => value,
            (None, AddressingHeader::To) => self.uri.to_string(),
            (None, AddressingHeader::MessageId) => self.id(),
            (None, _) => return None,
        };
        Some(Value::String(value))
    }

    /// Sets a property. `transport` sets a header; `HTTP_METHOD` sets the method. A value
    /// that cannot be set (a read-only scope, an invalid header, method or status) is
    /// refused with a warning in the log; use `try_set_property` to handle it instead.
    pub fn set_property(&mut self, scope: PropertyScope, name: &str, value: Value) {
        if let Err(error) = self.try_set_property(scope, name, value) {
            tracing::warn!(message_id = %self.id(), %error, "Property not set.");
        }
    }

    /// Sets a property, or says why it cannot be set: `env` and `system` are read-only,
    /// `transport` needs a valid header, `HTTP_METHOD` a method and `HTTP_SC` a status code.
    pub fn try_set_property(
        &mut self,
        scope: PropertyScope,
        name: &str,
        value: Value,
    ) -> Result<(), MessageError> {
        match scope {
            PropertyScope::Transport => return self.set_header(name, &value_to_string(&value)),
            PropertyScope::Env | PropertyScope::System => {
                return Err(MessageError::ReadOnlyScope(scope));
            }
            PropertyScope::Axis2 if name == properties::HTTP_METHOD => {
                let text = value_to_string(&value);
                self.method = Method::from_bytes(text.trim().to_ascii_uppercase().as_bytes())
                    .map_err(|e| MessageError::InvalidProperty {
                        name: properties::HTTP_METHOD,
                        reason: e.to_string(),
                    })?;
                return Ok(());
            }
            PropertyScope::Axis2 if name == properties::HTTP_SC => {
                status_of(&value).ok_or_else(|| MessageError::InvalidProperty {
                    name: properties::HTTP_SC,
                    reason: format!("{value} is not an HTTP status code"),
                })?;
            }
            _ => {}
        }
        self.properties.set(scope, name, value);
        Ok(())
    }

    /// Removes a property (a header for `transport`), returning its value. The read-only
    /// scopes have nothing to remove.
    pub fn remove_property(&mut self, scope: PropertyScope, name: &str) -> Option<Value> {
        match scope {
            PropertyScope::Transport => self
                .remove_header(name)
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())),
            PropertyScope::Env | PropertyScope::System => None,
            _ => self.properties.remove(scope, name),
        }
    }

    /// Sets `SYNAPSE_REST_API` and `REST_URL_POSTFIX`, which every REST request starts with.
    pub fn set_rest_properties(&mut self, api: &str, url_postfix: String) {
        self.properties.set_rest(api, url_postfix);
    }

    /// The stored properties (all scopes but the views).
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    // === variables ===

    /// A flow variable.
    pub fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }

    /// A flow variable, to change in place.
    pub fn variable_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.variables.get_mut(name)
    }

    /// Sets a flow variable.
    pub fn set_variable(&mut self, name: impl Into<String>, value: Value) {
        self.variables.insert(name.into(), value);
    }

    /// Removes a flow variable, returning it.
    pub fn remove_variable(&mut self, name: &str) -> Option<Value> {
        self.variables.shift_remove(name)
    }

    /// All flow variables, in the order they were first set.
    pub fn variables(&self) -> &Map<String, Value> {
        &self.variables
    }

    // === headers ===

    /// A transport header (case-insensitive); `None` if absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Sets a transport header, replacing all values of that name.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), MessageError> {
        let invalid = |reason: String| MessageError::InvalidHeader {
            name: name.to_owned(),
            reason,
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
        self.headers.insert(header, value);
        Ok(())
    }

    /// Removes a transport header, returning its first value.
    pub fn remove_header(&mut self, name: &str) -> Option<HeaderValue> {
        self.headers.remove(name)
    }

    // === output ===

    /// The status to answer with: `HTTP_SC` (axis2), 200 when unset.
    pub fn status(&self) -> StatusCode {
        self.properties
            .get(PropertyScope::Axis2, properties::HTTP_SC)
            .and_then(status_of)
            .unwrap_or(StatusCode::OK)
    }

    /// The content type the body goes out as: `messageType` picks the format, `ContentType`
    /// refines it when of the same kind (keeping e.g. a charset), else the payload's own.
    pub fn content_type_out(&self) -> Option<String> {
        let prop = |name| {
            self.properties
                .get(PropertyScope::Axis2, name)
                .map(value_to_string)
                .filter(|s| !s.trim().is_empty())
        };
        let content_type = prop(properties::CONTENT_TYPE);
        match prop(properties::MESSAGE_TYPE) {
            Some(message_type) => match content_type {
                Some(ct) if PayloadKind::of(&ct) == PayloadKind::of(&message_type) => Some(ct),
                _ => Some(message_type),
            },
            None => content_type.or_else(|| {
                self.payload.content_type().map(str::to_owned).or_else(|| {
                    self.payload
                        .kind()
                        .default_content_type()
                        .map(str::to_owned)
                })
            }),
        }
    }

    /// Whether `NO_ENTITY_BODY` asks to send no body.
    pub fn no_entity_body(&self) -> bool {
        self.properties
            .get(PropertyScope::Axis2, properties::NO_ENTITY_BODY)
            .is_some_and(|v| {
                v.as_bool()
                    .unwrap_or_else(|| value_to_string(v).eq_ignore_ascii_case("true"))
            })
    }

    /// The body to send (to the client or a backend) and its content type; converted to
    /// the output format when needed, the received bytes themselves otherwise.
    /// The content type is empty exactly when there is no body.
    pub fn body_bytes(&self) -> Result<(Bytes, String), PayloadError> {
        if self.no_entity_body() || self.payload.is_empty() {
            return Ok((Bytes::new(), String::new()));
        }
        match self.content_type_out() {
            Some(ct) => Ok((self.payload.to_bytes(&ct)?, ct)),
            None => Ok((self.payload.native_bytes()?, String::new())),
        }
    }

    /// Switches to the response of a backend call: its headers and body replace the
    /// current ones, the axis2 scope starts afresh and `HTTP_SC` is the backend's status.
    pub fn set_response(&mut self, status: StatusCode, headers: HeaderMap, body: Bytes) {
        self.answer_body = AnswerBody::default();
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.payload.set_bytes(body, content_type.as_deref());
        self.headers = headers;
        self.properties.clear_axis2();
        self.properties.set(
            PropertyScope::Axis2,
            properties::HTTP_SC,
            Value::from(status.as_u16()),
        );
    }

    /// Switches to the response of a backend call as [`Message::set_response`] does, with
    /// the answer's body left streaming: the payload stays empty and the body goes to the
    /// client as it arrives ([`Message::take_answer_body`]). Only for calls whose answer no
    /// mediator reads (decided at load time).
    pub fn set_streamed_response(&mut self, status: StatusCode, headers: HeaderMap, body: Body) {
        self.set_response(status, headers, Bytes::new());
        self.answer_body = AnswerBody(Some(body));
    }

    /// The streaming answer body, if the last call left one and no payload replaced it.
    pub fn take_answer_body(&mut self) -> Option<Body> {
        self.answer_body.0.take()
    }

    pub(crate) fn config_value(&self, name: &str) -> Option<&str> {
        self.config.get(name).map(String::as_str)
    }
}

fn status_of(value: &Value) -> Option<StatusCode> {
    let code = match value {
        Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    StatusCode::from_u16(code).ok()
}

/// A process-unique id: a counter mixed with a per-process random seed, so ids neither
/// repeat nor reveal how many messages came before.
/// A new random-looking, process-unique UUID (version 4 shape), as its 128 bits.
pub fn new_uuid_bits() -> u128 {
    next_id()
}

fn uuid_text(id: u128) -> String {
    let h = format!("{id:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn next_id() -> u128 {
    static SEED: LazyLock<u64> = LazyLock::new(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        RandomState::new().hash_one(nanos)
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = splitmix64(*SEED ^ n);
    let lo = splitmix64(hi ^ n.rotate_left(32));
    // Shape it as a version-4 UUID.
    let id = (u128::from(hi) << 64) | u128::from(lo);
    (id & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
