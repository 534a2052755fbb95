//! The everyday mediators: logging, properties and variables, headers, sequence and template
//! calls, stores, errors, and the flow-ending `respond`, `drop` and `loopback`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Namespaces;

use crate::resources::common::{NamedValue, SetOrRemove};

// === log ===

/// `log`: writes a line about the message to the runtime's log.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogSpec {
    /// How much of the message to log: `simple` (To, From, MessageID, Direction ...),
    /// `headers` (simple plus transport headers), `full` (headers plus the payload), or
    /// `custom` (only `message` and `properties`). Default `custom` when `message` is set,
    /// otherwise `simple`, as in Micro Integrator 4.4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,
    /// The log level the line is written at: TRACE, DEBUG, INFO, WARN, ERROR or FATAL
    /// (FATAL logs as ERROR). Default INFO.
    #[serde(default = "default_log_category")]
    pub category: LogCategory,
    /// A message template: text with `${...}` expressions, rendered per message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The separator between logged items. Default `, ` (as MI writes them).
    #[serde(default = "default_log_separator")]
    pub separator: String,
    /// Extra named values to log, each a literal or an expression.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<NamedValue>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// The `level` of the log mediator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum LogLevel {
    /// The standard message identifiers.
    Simple,
    /// Identifiers plus transport headers.
    Headers,
    /// Headers plus the payload.
    Full,
    /// Only the message template and the properties.
    Custom,
}

/// The `category` of the log mediator: the level of the log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum LogCategory {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info (the default).
    #[default]
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal, logged as error.
    Fatal,
}

fn default_log_category() -> LogCategory {
    LogCategory::Info
}

fn default_log_separator() -> String {
    ", ".to_string()
}

// === property ===

/// `property`: sets or removes a message-context property.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertySpec {
    /// The property's name (`HTTP_SC`, `messageType`, `REST_URL_POSTFIX`, or your own).
    pub name: String,
    /// `set` (default) or `remove`.
    #[serde(default, skip_serializing_if = "is_set")]
    pub action: SetOrRemove,
    /// A literal value. Exactly one of `value` and `expression` is set when the action is
    /// `set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Where the property lives: `default` (the whole flow; the default), `transport`
    /// (a transport header), `axis2` (the current direction: `HTTP_SC`, `messageType`, ...),
    /// `axis2-client` or `operation` (survives clone/iterate).
    #[serde(default, skip_serializing_if = "is_default_scope")]
    pub scope: PropertyScope,
    /// The type the value is converted to. Default STRING.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<PropertyType>,
    /// A regular expression applied to the value; with `group`, the property gets that
    /// capture group of the first match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The capture group of `pattern` to keep. Default 0 (the whole match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

fn is_set(action: &SetOrRemove) -> bool {
    *action == SetOrRemove::Set
}

fn is_default_scope(scope: &PropertyScope) -> bool {
    *scope == PropertyScope::Default
}

/// Where a property lives (Synapse scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum PropertyScope {
    /// The message flow (Synapse scope).
    #[default]
    Default,
    /// Transport headers.
    Transport,
    /// The current direction's transport context.
    Axis2,
    /// Client options of the outgoing call.
    Axis2Client,
    /// The whole operation, shared by clones.
    Operation,
}

/// The type of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum PropertyType {
    /// Text.
    String,
    /// A 32-bit integer.
    Integer,
    /// true or false.
    Boolean,
    /// A 64-bit float.
    Double,
    /// A 32-bit float.
    Float,
    /// A 64-bit integer.
    Long,
    /// A 16-bit integer.
    Short,
    /// An XML element.
    Om,
    /// A JSON value.
    Json,
}

/// `propertyGroup`: several property operations in one mediator.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertyGroupSpec {
    /// The property operations, applied in order.
    pub properties: Vec<PropertySpec>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

// === variable ===

/// `variable`: sets or removes a typed flow variable, read back as `${var.name}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariableSpec {
    /// The variable's name.
    pub name: String,
    /// `set` (default) or `remove`.
    #[serde(default, skip_serializing_if = "is_set")]
    pub action: SetOrRemove,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The value's type. Default: the expression's result type, or STRING for a literal.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<VariableType>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// The type of a variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum VariableType {
    /// Text.
    String,
    /// An integer.
    Integer,
    /// true or false.
    Boolean,
    /// A 64-bit float.
    Double,
    /// A 64-bit integer.
    Long,
    /// An XML element.
    Xml,
    /// A JSON value.
    Json,
}

// === header ===

/// `header`: sets or removes a transport header (Ferry's default) or a SOAP header.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderSpec {
    /// The header's name (for SOAP headers a qualified name `prefix:local`).
    pub name: String,
    /// `set` (default) or `remove`.
    #[serde(default, skip_serializing_if = "is_set")]
    pub action: SetOrRemove,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// `transport` (an HTTP header; Ferry's default) or `default` (a SOAP header, Synapse's
    /// default).
    #[serde(default, skip_serializing_if = "is_transport")]
    pub scope: HeaderScope,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

fn is_transport(scope: &HeaderScope) -> bool {
    *scope == HeaderScope::Transport
}

/// Which header the header mediator changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum HeaderScope {
    /// An HTTP (transport) header.
    #[default]
    Transport,
    /// A SOAP header.
    Default,
}

// === sequence, callTemplate ===

/// `sequence`: runs a named Sequence, then continues here. Exactly one of `key` and
/// `keyExpression` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SequenceRefSpec {
    /// The Sequence's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// An expression computing the Sequence's name per message (Synapse `key="{expr}"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expression: Option<String>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// `callTemplate`: runs a Template (a sequence template) with values for its parameters,
/// then continues here (Synapse `call-template`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallTemplateSpec {
    /// The Template's name (or Synapse name).
    pub target: String,
    /// Parameter values (Synapse `<with-param>`): a literal `value`, or an `expression`
    /// evaluated when the call runs, in the caller's context. Read in the template as
    /// `${params.functionParams.name}` or `$func:name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub with_params: Vec<NamedValue>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

// === store, throwError ===

/// `store`: puts the message into a MessageStore; a processor takes it from there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreSpec {
    /// The MessageStore's name, or `{${expr}}` to pick it per message.
    pub message_store: String,
    /// A Sequence run on the message just before it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// `throwError`: raises an error, handled by the nearest fault sequence.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrowErrorSpec {
    /// The error type, set as `ERROR_CODE`. Default `ERROR`.
    #[serde(default = "default_error_type", rename = "type")]
    pub type_: String,
    /// The error message, set as `ERROR_MESSAGE`: text, or `{${expr}}` to compute it.
    pub error_message: String,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

fn default_error_type() -> String {
    "ERROR".to_string()
}

// === respond, drop, loopback ===

/// `respond`: sends the current message back to the client and ends the flow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondSpec {}

/// `drop`: ends the flow without a response (an HTTP client gets 202 if nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropSpec {}

/// `loopback`: ends the in-flow and continues with the out-flow (`outSequence`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopbackSpec {}
