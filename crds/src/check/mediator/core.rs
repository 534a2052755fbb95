//! Checks of the mediators that read and write the message context: `log`, `property`,
//! `variable`, `header`, `throwError`.

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::check::cx::Cx;
use crate::check::value::{ValueSource, convert};
use crate::expr::Template;
use crate::mediator::{
    HeaderScope, HeaderSpec, LogCategory, LogLevel, LogSpec, PropertyScope, PropertySpec,
    PropertyType, ThrowErrorSpec, VariableSpec, VariableType,
};
use crate::resources::common::SetOrRemove;

/// A checked `log`.
#[derive(Debug, Clone)]
pub struct Log {
    /// What the line holds; a `message` without a `level` means `custom`, as in MI 4.4.
    pub level: LogLevel,
    /// The log level written at.
    pub category: LogCategory,
    /// The message template.
    pub message: Option<Template>,
    /// Between the parts of the line.
    pub separator: String,
    /// Named values appended to the line.
    pub properties: Vec<(String, ValueSource)>,
}

pub(super) fn log(cx: &mut Cx<'_>, field: &str, spec: &LogSpec) -> Option<Log> {
    let message = match &spec.message {
        Some(m) => Some(cx.template(&format!("{field}.message"), m)?),
        None => None,
    };
    let level = spec.level.unwrap_or(if message.is_some() {
        LogLevel::Custom
    } else {
        LogLevel::Simple
    });
    let mut properties = Vec::with_capacity(spec.properties.len());
    for (i, p) in spec.properties.iter().enumerate() {
        let f = format!("{field}.properties[{i}]");
        if let Some(source) = cx.value_source(&f, p.value.as_deref(), p.expression.as_deref()) {
            properties.push((p.name.clone(), source));
        }
    }
    Some(Log {
        level,
        category: spec.category,
        message,
        separator: spec.separator.clone(),
        properties,
    })
}

/// A checked `property`.
#[derive(Debug, Clone)]
pub struct Property {
    /// The property name.
    pub name: String,
    /// Its scope.
    pub scope: PropertyScope,
    /// Set or remove.
    pub action: PropertyAction,
}

/// What a `property` does.
#[derive(Debug, Clone)]
pub enum PropertyAction {
    /// Sets the value.
    Set {
        /// Where the value comes from.
        source: ValueSource,
        /// The type it is converted to.
        ty: Option<PropertyType>,
        /// `pattern` and `group`: keep only that group of the value's first match.
        extract: Option<(regex::Regex, usize)>,
    },
    /// Removes the property.
    Remove,
}

/// Property names to which Synapse gives a meaning that Ferry does not implement yet.
/// Setting one would be a silent no-op where the user expects a change of behaviour, so it
/// is refused, naming the property.
pub const UNIMPLEMENTED_CONTROL_PROPERTIES: &[&str] = &[
    "RESPONSE",
    "preserveProcessedHeaders",
    "SET_ROLLBACK_ONLY",
    "DISABLE_CHUNKING",
    "FORCE_HTTP_1.0",
    "NO_KEEPALIVE",
    "POST_TO_URI",
    "FAULTS_AS_HTTP_200",
    "TRANSPORT_HEADERS",
    "FORCE_HTTP_CONTENT_LENGTH",
    "COPY_CONTENT_LENGTH_FROM_INCOMING",
    "ClientApiNonBlocking",
    "JSON_OBJECT",
];

pub(super) fn property(cx: &mut Cx<'_>, field: &str, spec: &PropertySpec) -> Option<Property> {
    if spec.name.is_empty() {
        cx.error(&format!("{field}.name"), "name must not be empty");
        return None;
    }
    if spec.action == SetOrRemove::Set
        && spec.scope != PropertyScope::Transport
        && UNIMPLEMENTED_CONTROL_PROPERTIES.contains(&spec.name.as_str())
    {
        cx.error(
            &format!("{field}.name"),
            format!(
                "Synapse gives the property {} a meaning that Ferry does not implement yet; \
                 it would have no effect",
                spec.name
            ),
        );
        return None;
    }
    let action = match spec.action {
        SetOrRemove::Remove => {
            if spec.value.is_some() || spec.expression.is_some() {
                cx.error(field, "action remove takes no value or expression");
                return None;
            }
            PropertyAction::Remove
        }
        SetOrRemove::Set => {
            let source =
                cx.value_source(field, spec.value.as_deref(), spec.expression.as_deref())?;
            let extract = match (&spec.pattern, spec.group) {
                (Some(p), group) => Some((
                    cx.regex(&format!("{field}.pattern"), p)?,
                    group.unwrap_or(0) as usize,
                )),
                (None, Some(_)) => {
                    cx.error(&format!("{field}.group"), "group needs a pattern");
                    return None;
                }
                (None, None) => None,
            };
            if let Some((re, group)) = &extract
                && *group >= re.captures_len()
            {
                cx.error(
                    &format!("{field}.group"),
                    format!("the pattern has no group {group}"),
                );
                return None;
            }
            literal_fits(cx, field, &source, spec.type_, &spec.name)?;
            PropertyAction::Set {
                source,
                ty: spec.type_,
                extract,
            }
        }
    };
    Some(Property {
        name: spec.name.clone(),
        scope: spec.scope,
        action,
    })
}

/// A literal that can never convert to the declared type is a load-time error.
fn literal_fits(
    cx: &mut Cx<'_>,
    field: &str,
    source: &ValueSource,
    ty: Option<PropertyType>,
    name: &str,
) -> Option<()> {
    if let (Some(ty), ValueSource::Literal(v)) = (ty, source)
        && let Err(e) = convert(Value::String(v.clone()), ty, name)
    {
        cx.error(&format!("{field}.value"), e);
        return None;
    }
    Some(())
}

/// A checked `variable`.
#[derive(Debug, Clone)]
pub struct Variable {
    /// The variable name.
    pub name: String,
    /// The value and its type; `None` removes the variable.
    pub set: Option<(ValueSource, Option<PropertyType>)>,
}

fn as_property_type(t: VariableType) -> PropertyType {
    match t {
        VariableType::String => PropertyType::String,
        VariableType::Integer => PropertyType::Integer,
        VariableType::Boolean => PropertyType::Boolean,
        VariableType::Double => PropertyType::Double,
        VariableType::Long => PropertyType::Long,
        VariableType::Xml => PropertyType::Om,
        VariableType::Json => PropertyType::Json,
    }
}

pub(super) fn variable(cx: &mut Cx<'_>, field: &str, spec: &VariableSpec) -> Option<Variable> {
    if spec.name.is_empty() {
        cx.error(&format!("{field}.name"), "name must not be empty");
        return None;
    }
    let set = match spec.action {
        SetOrRemove::Remove => None,
        SetOrRemove::Set => {
            let source =
                cx.value_source(field, spec.value.as_deref(), spec.expression.as_deref())?;
            let ty = spec.type_.map(as_property_type);
            literal_fits(cx, field, &source, ty, &spec.name)?;
            Some((source, ty))
        }
    };
    Some(Variable {
        name: spec.name.clone(),
        set,
    })
}

/// A checked `header` (transport scope).
#[derive(Debug, Clone)]
pub struct Header {
    /// The header name.
    pub name: HeaderName,
    /// The value; `None` removes the header.
    pub value: Option<ValueSource>,
}

/// A checked `header` in SOAP scope (`scope: default`): a header block of the envelope.
#[derive(Debug, Clone)]
pub struct SoapHeader {
    /// The block's namespace (from the prefix of `name`).
    pub namespace: String,
    /// The prefix written.
    pub prefix: String,
    /// The local name.
    pub local: String,
    /// The text value; `None` removes the blocks of this name.
    pub value: Option<ValueSource>,
}

/// A `header` mediator: an HTTP header, a SOAP header block, or a WS-Addressing header.
#[derive(Debug, Clone)]
pub enum HeaderOp {
    /// `scope: transport`.
    Transport(Header),
    /// `scope: default`, a qualified name.
    Soap(SoapHeader),
    /// `scope: default`, one of the bare WS-Addressing names (`To`, `Action`, ...).
    Addressing(AddressingOp),
}

/// The WS-Addressing message headers that Synapse's header mediator sets by their bare
/// names. Each is the message property of the same name (default scope): `send` and
/// `call` without an endpoint go to `To`, and an endpoint with `enableAddressing` writes
/// them into the SOAP envelope it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingHeader {
    /// `wsa:To`: the destination address.
    To,
    /// `wsa:From`: the sender's address.
    From,
    /// `wsa:ReplyTo`: where the answer goes.
    ReplyTo,
    /// `wsa:FaultTo`: where a fault goes.
    FaultTo,
    /// `wsa:MessageID`: the message id.
    MessageId,
    /// `wsa:RelatesTo`: the id of the message this one answers.
    RelatesTo,
    /// `wsa:Action`: the action (also the SOAP action when the message names none).
    Action,
}

impl AddressingHeader {
    /// Every header, in the order an envelope carries them.
    pub const ALL: [AddressingHeader; 7] = [
        AddressingHeader::To,
        AddressingHeader::From,
        AddressingHeader::ReplyTo,
        AddressingHeader::FaultTo,
        AddressingHeader::MessageId,
        AddressingHeader::RelatesTo,
        AddressingHeader::Action,
    ];

    /// The header of a bare name as Synapse writes it, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The name: the element's local name in the envelope and the property's name.
    pub fn name(self) -> &'static str {
        match self {
            AddressingHeader::To => "To",
            AddressingHeader::From => "From",
            AddressingHeader::ReplyTo => "ReplyTo",
            AddressingHeader::FaultTo => "FaultTo",
            AddressingHeader::MessageId => "MessageID",
            AddressingHeader::RelatesTo => "RelatesTo",
            AddressingHeader::Action => "Action",
        }
    }

    /// Whether the envelope carries it as an endpoint reference (`<wsa:Address>` inside)
    /// rather than as text.
    pub fn is_endpoint_reference(self) -> bool {
        matches!(
            self,
            AddressingHeader::From | AddressingHeader::ReplyTo | AddressingHeader::FaultTo
        )
    }
}

/// A checked WS-Addressing `header`: sets or removes the header's property.
#[derive(Debug, Clone)]
pub struct AddressingOp {
    /// Which header.
    pub header: AddressingHeader,
    /// The value; `None` removes it.
    pub value: Option<ValueSource>,
}

pub(super) fn header(cx: &mut Cx<'_>, field: &str, spec: &HeaderSpec) -> Option<HeaderOp> {
    if spec.scope == HeaderScope::Default {
        if let Some(header) = AddressingHeader::parse(&spec.name) {
            let value = match spec.action {
                SetOrRemove::Remove => None,
                SetOrRemove::Set => Some(cx.value_source(
                    field,
                    spec.value.as_deref(),
                    spec.expression.as_deref(),
                )?),
            };
            return Some(HeaderOp::Addressing(AddressingOp { header, value }));
        }
        return soap_header(cx, field, spec).map(HeaderOp::Soap);
    }
    transport_header(cx, field, spec).map(HeaderOp::Transport)
}

/// Synapse's default scope: `prefix:local` with the prefix declared in `namespaces`.
fn soap_header(cx: &mut Cx<'_>, field: &str, spec: &HeaderSpec) -> Option<SoapHeader> {
    let nf = format!("{field}.name");
    let value = match spec.action {
        SetOrRemove::Remove => None,
        SetOrRemove::Set => {
            Some(cx.value_source(field, spec.value.as_deref(), spec.expression.as_deref())?)
        }
    };
    let Some((prefix, local)) = spec.name.split_once(':') else {
        cx.error(
            &nf,
            format!(
                "{:?}: a SOAP header needs a qualified name prefix:local, the prefix declared \
                 in namespaces (the bare names Synapse gives a meaning are the WS-Addressing \
                 headers To, From, ReplyTo, FaultTo, MessageID, RelatesTo and Action)",
                spec.name
            ),
        );
        return None;
    };
    let Some(namespace) = cx
        .namespaces()
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.clone())
    else {
        cx.error(
            &nf,
            format!(
                "the prefix '{prefix}' of {:?} is not declared in namespaces",
                spec.name
            ),
        );
        return None;
    };
    if local.is_empty() || local.contains(|c: char| c.is_whitespace() || c == ':') {
        cx.error(&nf, format!("{:?} is not a qualified name", spec.name));
        return None;
    }
    Some(SoapHeader {
        namespace,
        prefix: prefix.to_string(),
        local: local.to_string(),
        value,
    })
}

fn transport_header(cx: &mut Cx<'_>, field: &str, spec: &HeaderSpec) -> Option<Header> {
    let Ok(name) = HeaderName::from_bytes(spec.name.as_bytes()) else {
        cx.error(
            &format!("{field}.name"),
            format!("{:?} is not a valid header name", spec.name),
        );
        return None;
    };
    let value = match spec.action {
        SetOrRemove::Remove => None,
        SetOrRemove::Set => {
            let source =
                cx.value_source(field, spec.value.as_deref(), spec.expression.as_deref())?;
            if let ValueSource::Literal(v) = &source
                && HeaderValue::from_str(v).is_err()
            {
                cx.error(&format!("{field}.value"), "not a valid header value");
                return None;
            }
            Some(source)
        }
    };
    Some(Header { name, value })
}

/// A checked `throwError`.
#[derive(Debug, Clone)]
pub struct ThrowError {
    /// The error code (`ERROR_CODE`).
    pub code: String,
    /// The message template (`ERROR_MESSAGE`).
    pub message: Template,
}

/// The message may hold `${...}` parts; MI writes them `{${...}}`, and both forms are read.
pub(super) fn throw_error(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &ThrowErrorSpec,
) -> Option<ThrowError> {
    let src = spec.error_message.trim();
    let src = match src.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(inner) if inner.starts_with("${") => inner,
        _ => src,
    };
    Some(ThrowError {
        code: spec.type_.clone(),
        message: cx.template(&format!("{field}.errorMessage"), src)?,
    })
}
