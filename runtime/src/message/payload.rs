//! The message body: received bytes kept untouched until someone looks inside.
//!
//! The transport hands the body to `Payload::from_bytes`; mediators read it through
//! `view`, `json` or `xml`, which parse it at most once and cache the result (JSON ⇄ XML
//! conversions are cached too); setters replace it. On the way out `to_bytes` serialises it
//! in the requested format, handing back the original `Bytes` (no copy) when the body was
//! never replaced and the format is unchanged: a passthrough never parses or copies. A body
//! nothing has read that leaves in the other format is converted from its bytes, without
//! the trees (`convert::xml_out`, `convert::json_out`).

use std::cell::OnceCell;
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use super::convert::{self, ConversionOptions};
use super::soap;
use crate::expr::context::{PayloadError, PayloadView};
use crate::xml::{Element, QName};

/// The namespace of Axis2's wrappers for text and binary bodies seen as XML.
pub const PAYLOAD_NAMESPACE: &str = "http://ws.apache.org/commons/ns/payload";
/// The wrapper element of a text body seen as XML.
pub const TEXT_WRAPPER: &str = "text";
/// The wrapper element of a binary body seen as XML (content in base64).
pub const BINARY_WRAPPER: &str = "binary";

static DEFAULT_OPTIONS: LazyLock<Arc<ConversionOptions>> =
    LazyLock::new(|| Arc::new(ConversionOptions::default()));

/// What a body is, decided by its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// No body.
    Empty,
    /// `application/json`, `*/*+json`.
    Json,
    /// `application/xml`, `text/xml`, `application/soap+xml`, `*/*+xml`.
    Xml,
    /// `text/*` (other than XML), `application/x-www-form-urlencoded`.
    Text,
    /// Anything else, or no content type.
    Binary,
}

impl PayloadKind {
    /// Classifies a `Content-Type` value (parameters such as `charset` are ignored).
    pub fn of(content_type: &str) -> PayloadKind {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let (top, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
        if sub == "json" || sub.ends_with("+json") {
            PayloadKind::Json
        } else if sub == "xml" || sub.ends_with("+xml") {
            PayloadKind::Xml
        } else if top == "text" || essence == "application/x-www-form-urlencoded" {
            PayloadKind::Text
        } else {
            PayloadKind::Binary
        }
    }

    /// The content type we write for a body of this kind when nobody chose one.
    pub fn default_content_type(self) -> Option<&'static str> {
        match self {
            PayloadKind::Empty => None,
            PayloadKind::Json => Some("application/json"),
            PayloadKind::Xml => Some("application/xml"),
            PayloadKind::Text => Some("text/plain"),
            PayloadKind::Binary => Some("application/octet-stream"),
        }
    }
}

#[derive(Clone)]
enum Body {
    /// Bytes as received (or set with `set_bytes`), classified but not parsed.
    Raw {
        bytes: Bytes,
        kind: PayloadKind,
    },
    Json(Value),
    Xml(Element),
    Text(String),
}

/// A parsed raw body.
#[derive(Clone)]
enum Native {
    Json(Value),
    Xml(Element),
}

/// The body of a message; see the module documentation. Clones share the received bytes
/// and copy whatever was parsed.
#[derive(Clone)]
pub struct Payload {
    body: Body,
    content_type: Option<String>,
    options: Arc<ConversionOptions>,
    native: OnceCell<Result<Native, PayloadError>>,
    json_view: OnceCell<Result<Option<Value>, PayloadError>>,
    xml_view: OnceCell<Result<Option<Element>, PayloadError>>,
    /// Member scans made so far ([`Payload::json_member`]): past [`MAX_MEMBER_SCANS`], a
    /// flow that reads many fields is better served by one parse.
    member_scans: std::cell::Cell<u8>,
}

/// A routing decision reads one or two fields; a template reading more parses once instead
/// of scanning the body once per field.
pub const MAX_MEMBER_SCANS: u8 = 2;

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("kind", &self.kind())
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty()
    }
}

impl Payload {
    /// No body.
    pub fn empty() -> Self {
        Payload::from_bytes(Bytes::new(), None)
    }

    /// A body as received with its `Content-Type`; nothing is parsed yet.
    pub fn from_bytes(bytes: Bytes, content_type: Option<&str>) -> Self {
        Payload {
            body: Body::Raw {
                kind: classify(&bytes, content_type),
                bytes,
            },
            content_type: content_type.map(str::to_owned),
            options: Arc::clone(&DEFAULT_OPTIONS),
            native: OnceCell::new(),
            json_view: OnceCell::new(),
            xml_view: OnceCell::new(),
            member_scans: std::cell::Cell::new(0),
        }
    }

    /// A copy for another message (clone, iterate): received bytes are shared (a
    /// refcount), and what was parsed from them is not copied but parsed again if the copy
    /// reads it; a payload that was replaced by a value is copied.
    pub fn copy_light(&self) -> Payload {
        match &self.body {
            Body::Raw { bytes, kind } => Payload {
                body: Body::Raw {
                    bytes: bytes.clone(),
                    kind: *kind,
                },
                content_type: self.content_type.clone(),
                options: Arc::clone(&self.options),
                native: OnceCell::new(),
                json_view: OnceCell::new(),
                xml_view: OnceCell::new(),
                member_scans: std::cell::Cell::new(0),
            },
            _ => self.clone(),
        }
    }

    /// An empty payload with the same conversion rules (for a fragment of this one).
    pub fn empty_like(&self) -> Payload {
        let mut p = Payload::empty();
        p.options = Arc::clone(&self.options);
        p
    }

    /// Uses these conversion rules instead of MI's defaults (drops cached conversions).
    pub fn set_options(&mut self, options: Arc<ConversionOptions>) {
        self.options = options;
        self.json_view = OnceCell::new();
        self.xml_view = OnceCell::new();
    }

    /// The conversion rules in use.
    pub fn options(&self) -> &ConversionOptions {
        &self.options
    }

    /// What the body natively is.
    pub fn kind(&self) -> PayloadKind {
        match &self.body {
            Body::Raw { kind, .. } => *kind,
            Body::Json(_) => PayloadKind::Json,
            Body::Xml(_) => PayloadKind::Xml,
            Body::Text(_) => PayloadKind::Text,
        }
    }

    /// Whether there is no body.
    pub fn is_empty(&self) -> bool {
        self.kind() == PayloadKind::Empty
    }

    /// The content type the body came with or was set with.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Whether the body is still the untouched received bytes.
    pub fn is_raw(&self) -> bool {
        matches!(self.body, Body::Raw { .. })
    }

    /// The received bytes, if the body was never replaced by a parsed value.
    pub fn raw_bytes(&self) -> Option<&Bytes> {
        match &self.body {
            Body::Raw { bytes, .. } => Some(bytes),
            _ => None,
        }
    }

    // === reading ===

    fn native(&self) -> Result<Option<&Native>, PayloadError> {
        let Body::Raw { bytes, kind } = &self.body else {
            return Ok(None);
        };
        if !matches!(kind, PayloadKind::Json | PayloadKind::Xml) {
            return Ok(None);
        }
        let parsed = self.native.get_or_init(|| match kind {
            PayloadKind::Json => serde_json::from_slice(bytes)
                .map(Native::Json)
                .map_err(|e| PayloadError::new(format!("malformed JSON: {e}")).with_cause(e)),
            _ => Element::parse(bytes)
                .map(Native::Xml)
                .map_err(|e| PayloadError::new(e.to_string()).with_cause(e)),
        });
        parsed.as_ref().map(Some).map_err(Clone::clone)
    }

    /// The body in its native form, parsing it on first access.
    pub fn view(&self) -> Result<PayloadView<'_>, PayloadError> {
        Ok(match &self.body {
            Body::Json(v) => PayloadView::Json(v),
            Body::Xml(e) => PayloadView::Xml(e),
            Body::Text(t) => PayloadView::Text(t),
            Body::Raw { bytes, kind } => match kind {
                PayloadKind::Json | PayloadKind::Xml => match self.native()? {
                    Some(Native::Json(v)) => PayloadView::Json(v),
                    Some(Native::Xml(e)) => PayloadView::Xml(e),
                    None => PayloadView::None,
                },
                PayloadKind::Text => PayloadView::Text(utf8(bytes)?),
                PayloadKind::Binary | PayloadKind::Empty => PayloadView::None,
            },
        })
    }

    /// The body as text: a text body as is, JSON and XML serialised; `None` for binary
    /// and empty bodies.
    pub fn text(&self) -> Result<Option<String>, PayloadError> {
        Ok(match self.view()? {
            PayloadView::Text(t) => Some(t.to_owned()),
            PayloadView::Json(_) | PayloadView::Xml(_) => {
                Some(utf8(&self.native_bytes()?)?.to_owned())
            }
            PayloadView::None => None,
        })
    }

    /// Tells the payload that more fields than [`MAX_MEMBER_SCANS`] will be read: parse
    /// once on first need instead of scanning for the first fields (known at load time).
    pub fn expect_many_reads(&self) {
        self.member_scans.set(MAX_MEMBER_SCANS);
    }

    /// The member `key` of a JSON object body, read from the received bytes without
    /// building the document ([`super::scan::member`]). `None` when that shortcut does not
    /// apply — the body was parsed or replaced already (the tree is at hand), is not JSON,
    /// is not an object, is malformed or holds what only the full parse can judge (the full
    /// parse answers): use [`Payload::json`].
    pub fn json_member(&self, key: &str) -> Option<Option<Value>> {
        let Body::Raw {
            bytes,
            kind: PayloadKind::Json,
        } = &self.body
        else {
            return None;
        };
        let scans = self.member_scans.get();
        if self.native.get().is_some() || scans >= MAX_MEMBER_SCANS {
            return None;
        }
        self.member_scans.set(scans + 1);
        super::scan::member(bytes, key)
    }

    /// The body seen as JSON: JSON as is, XML converted by the Synapse rules, text as
    /// `{"text": ...}` (what MI's conversion of its text wrapper gives); `None` for binary
    /// and empty bodies.
    pub fn json(&self) -> Result<Option<&Value>, PayloadError> {
        match self.view()? {
            PayloadView::Json(v) => Ok(Some(v)),
            PayloadView::None => Ok(None),
            // A SOAP message is what its body carries, as Synapse converts it.
            PayloadView::Xml(e) if soap::envelope_version(e).is_some() => self.cached_json(|| {
                Ok(soap::body_content(e).map(|c| convert::xml_to_json(c, &self.options)))
            }),
            PayloadView::Xml(e) => {
                self.cached_json(|| Ok(Some(convert::xml_to_json(e, &self.options))))
            }
            PayloadView::Text(t) => {
                self.cached_json(|| Ok(Some(serde_json::json!({ TEXT_WRAPPER: t }))))
            }
        }
    }

    fn cached_json(
        &self,
        make: impl FnOnce() -> Result<Option<Value>, PayloadError>,
    ) -> Result<Option<&Value>, PayloadError> {
        self.json_view
            .get_or_init(make)
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    /// The body seen as XML: XML as is, JSON converted by the Synapse rules, text in
    /// `<text xmlns="http://ws.apache.org/commons/ns/payload">`, binary in `<binary>`
    /// (base64); `None` for an empty body.
    pub fn xml(&self) -> Result<Option<&Element>, PayloadError> {
        let make = || -> Result<Option<Element>, PayloadError> {
            Ok(match self.view()? {
                PayloadView::Json(v) => Some(
                    convert::json_to_xml(v, &self.options)
                        .map_err(|e| PayloadError::new(e.to_string()).with_cause(e))?,
                ),
                PayloadView::Text(t) => Some(wrapper(TEXT_WRAPPER, t.to_owned())),
                PayloadView::Xml(_) | PayloadView::None => match &self.body {
                    Body::Raw {
                        bytes,
                        kind: PayloadKind::Binary,
                    } => Some(wrapper(
                        BINARY_WRAPPER,
                        base64::engine::general_purpose::STANDARD.encode(bytes),
                    )),
                    _ => None,
                },
            })
        };
        if let PayloadView::Xml(e) = self.view()? {
            return Ok(Some(e));
        }
        self.xml_view
            .get_or_init(make)
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    // === writing ===

    fn replace(&mut self, body: Body, content_type: Option<&str>) {
        self.body = body;
        self.content_type = content_type.map(str::to_owned);
        self.native = OnceCell::new();
        self.json_view = OnceCell::new();
        self.xml_view = OnceCell::new();
    }

    /// Replaces the body with a JSON value.
    pub fn set_json(&mut self, value: Value) {
        self.replace(Body::Json(value), Some("application/json"));
    }

    /// Replaces the body with an XML element.
    pub fn set_xml(&mut self, element: Element) {
        // A SOAP envelope is a SOAP message, in its version's content type.
        let content_type =
            soap::envelope_version(&element).map_or("application/xml", soap::Version::content_type);
        self.replace(Body::Xml(element), Some(content_type));
    }

    /// Replaces the body with text.
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.replace(Body::Text(text.into()), Some("text/plain"));
    }

    /// Replaces the body with bytes of the given content type (parsed lazily like a
    /// received body).
    pub fn set_bytes(&mut self, bytes: Bytes, content_type: Option<&str>) {
        let kind = classify(&bytes, content_type);
        self.replace(Body::Raw { bytes, kind }, content_type);
    }

    /// Removes the body.
    pub fn clear(&mut self) {
        self.set_bytes(Bytes::new(), None);
    }

    /// The body as a JSON value to edit in place: the JSON view becomes the body (an XML
    /// or text body is converted first). `None` for binary and empty bodies.
    pub fn json_mut(&mut self) -> Result<Option<&mut Value>, PayloadError> {
        if !matches!(self.body, Body::Json(_)) {
            let Some(value) = self.json()?.cloned() else {
                return Ok(None);
            };
            self.set_json(value);
        }
        match &mut self.body {
            Body::Json(v) => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// The body as an XML element to edit in place: the XML view becomes the body.
    /// `None` for an empty body.
    pub fn xml_mut(&mut self) -> Result<Option<&mut Element>, PayloadError> {
        if !matches!(self.body, Body::Xml(_)) {
            let Some(element) = self.xml()?.cloned() else {
                return Ok(None);
            };
            self.set_xml(element);
        }
        match &mut self.body {
            Body::Xml(e) => Ok(Some(e)),
            _ => Ok(None),
        }
    }

    // === serialising ===

    /// The body serialised as `content_type_out` asks: JSON and XML are converted into each
    /// other, an XML text/binary wrapper is unwrapped for text/binary output, and the
    /// received bytes come back without a copy when the body was never replaced and the
    /// format is the same.
    pub fn to_bytes(&self, content_type_out: &str) -> Result<Bytes, PayloadError> {
        let target = PayloadKind::of(content_type_out);
        // A SOAP message written as plain XML is its body's content, as Synapse's POX
        // formatter writes it; as SOAP (text/xml, application/soap+xml) it is the envelope.
        if target == PayloadKind::Xml
            && !is_soap_content_type(content_type_out)
            && self.may_be_envelope()
            && let Some(Some(e)) = self.xml().ok()
            && soap::envelope_version(e).is_some()
        {
            return Ok(soap::body_content(e).map(xml_bytes).unwrap_or_default());
        }
        if let Body::Raw { bytes, kind } = &self.body
            && (*kind == target || *kind == PayloadKind::Empty || bytes.is_empty())
        {
            return Ok(bytes.clone());
        }
        if let Some(direct) = self.direct_conversion(target) {
            return direct;
        }
        match target {
            PayloadKind::Json => match self.json()? {
                Some(v) => json_bytes(v),
                None => self.native_bytes(),
            },
            PayloadKind::Xml => match self.xml()? {
                Some(e) => Ok(xml_bytes(e)),
                None => self.native_bytes(),
            },
            PayloadKind::Text => match self.view()? {
                PayloadView::Xml(e) if is_wrapper(e, TEXT_WRAPPER) => Ok(Bytes::from(e.text())),
                _ => self.native_bytes(),
            },
            PayloadKind::Binary | PayloadKind::Empty => match self.view()? {
                PayloadView::Xml(e) if is_wrapper(e, BINARY_WRAPPER) => {
                    base64::engine::general_purpose::STANDARD
                        .decode(e.text().trim())
                        .map(Bytes::from)
                        .map_err(|err| {
                            PayloadError::new(format!("invalid base64 in binary payload: {err}"))
                                .with_cause(err)
                        })
                }
                _ => self.native_bytes(),
            },
        }
    }

    /// Whether the payload may be a SOAP envelope (cheap: a look at a raw body's first
    /// kilobyte, or the root of a built tree).
    fn may_be_envelope(&self) -> bool {
        match &self.body {
            Body::Raw {
                bytes,
                kind: PayloadKind::Xml,
            } => maybe_envelope(bytes),
            Body::Xml(e) => soap::envelope_version(e).is_some(),
            _ => false,
        }
    }

    /// A raw body that only changes format, converted from its bytes to the output's
    /// without the trees between (`Value`, `Element`): see `convert::xml_out` and
    /// `convert::json_out`. `None` when the tree path must answer: something read the body
    /// already (its trees are at hand), or the direct path cannot convert this body
    /// identically. A malformed body is answered here with the error the tree path gives.
    fn direct_conversion(&self, target: PayloadKind) -> Option<Result<Bytes, PayloadError>> {
        let Body::Raw { bytes, kind } = &self.body else {
            return None;
        };
        if self.native.get().is_some()
            || self.json_view.get().is_some()
            || self.xml_view.get().is_some()
        {
            return None;
        }
        match (kind, target) {
            (PayloadKind::Json, PayloadKind::Xml) => {
                match convert::xml_out::json_to_xml_bytes(bytes, &self.options) {
                    Ok(out) => Some(Ok(Bytes::from(out))),
                    Err(_) => match convert::json_cursor::serde_verdict(bytes) {
                        Err(e) => {
                            let error =
                                PayloadError::new(format!("malformed JSON: {e}")).with_cause(e);
                            // As `native` would have kept it.
                            let _ = self.native.set(Err(error.clone()));
                            Some(Err(error))
                        }
                        Ok(()) => None,
                    },
                }
            }
            // A malformed document is left to the tree parser, which names the error; so is
            // a SOAP envelope, whose JSON is its body's content (`Payload::json`).
            (PayloadKind::Xml, PayloadKind::Json) if maybe_envelope(bytes) => None,
            (PayloadKind::Xml, PayloadKind::Json) => {
                convert::json_out::xml_to_json_bytes(bytes, &self.options)
                    .map(|out| Ok(Bytes::from(out)))
            }
            _ => None,
        }
    }

    /// The body serialised in its own format.
    pub fn native_bytes(&self) -> Result<Bytes, PayloadError> {
        match &self.body {
            Body::Raw { bytes, .. } => Ok(bytes.clone()),
            Body::Json(v) => json_bytes(v),
            Body::Xml(e) => Ok(xml_bytes(e)),
            Body::Text(t) => Ok(Bytes::from(t.clone())),
        }
    }
}

/// Content types that carry a SOAP envelope.
fn is_soap_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/xml") || essence.eq_ignore_ascii_case("application/soap+xml")
}

/// Whether an XML document may be a SOAP envelope: its root element, which comes within
/// the first kilobyte of any envelope worth the name, is called `Envelope`.
fn maybe_envelope(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    head.windows(b"Envelope".len()).any(|w| w == b"Envelope")
}

fn classify(bytes: &Bytes, content_type: Option<&str>) -> PayloadKind {
    if bytes.is_empty() {
        PayloadKind::Empty
    } else {
        content_type.map_or(PayloadKind::Binary, PayloadKind::of)
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, PayloadError> {
    std::str::from_utf8(bytes).map_err(|e| {
        PayloadError::new(format!(
            "text payload is not valid UTF-8 at byte {}",
            e.valid_up_to()
        ))
        .with_cause(e)
    })
}

fn json_bytes(value: &Value) -> Result<Bytes, PayloadError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| PayloadError::new(e.to_string()).with_cause(e))
}

fn xml_bytes(element: &Element) -> Bytes {
    let mut out = Vec::new();
    element.write_to(&mut out);
    Bytes::from(out)
}

fn wrapper(local: &str, content: String) -> Element {
    Element::with_name(QName::namespaced(None, local, PAYLOAD_NAMESPACE)).with_text(content)
}

fn is_wrapper(element: &Element, local: &str) -> bool {
    element.name.local == local && element.name.namespace.as_deref() == Some(PAYLOAD_NAMESPACE)
}

#[cfg(test)]
mod tests;
