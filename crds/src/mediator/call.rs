//! Mediators that talk to backends: call (continue with the response), send (response to
//! the out-flow), callout (legacy blocking call), and the database mediators dbLookup and
//! dbReport.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Namespaces;

use crate::resources::common::{SecretSource, any_value, default_true};
use crate::resources::endpoint::{EndpointRef, endpoint_ref_schema};

// === call ===

/// `call`: sends the message to an endpoint and continues this sequence with the response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallSpec {
    /// The endpoint. Default: the message's `To` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_ref_schema")]
    pub endpoint: Option<EndpointRef>,
    /// Wait on the calling thread (Synapse's blocking mode). Ferry is asynchronous either
    /// way; the flag only changes which properties the call honours. Default false.
    #[serde(default)]
    pub blocking: bool,
    /// What is sent. Default: the current payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CallSource>,
    /// Where the response goes. Default: it replaces the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<CallTarget>,
    /// With `blocking`: start from fresh client options rather than the incoming ones.
    /// Default true.
    #[serde(default = "default_true")]
    pub init_axis2_client_options: bool,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// What a call sends.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallSource {
    /// `body` (default), `custom` (`expression`), `property`, `variable` or `inline`.
    #[serde(default, rename = "type")]
    pub type_: CallSourceType,
    /// The Content-Type of what is sent. Default: the message's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// For `custom`: the expression selecting the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// For `property`: the property's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// For `variable`: the variable's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// For `inline`: the content, any JSON value or a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub inline: Option<serde_json::Value>,
}

/// Where a call's content comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum CallSourceType {
    /// The payload.
    #[default]
    Body,
    /// Selected by an expression.
    Custom,
    /// A property.
    Property,
    /// A variable.
    Variable,
    /// Inline content.
    Inline,
}

/// Where a call's response goes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallTarget {
    /// `body` (default), `property` or `variable`.
    #[serde(default, rename = "type")]
    pub type_: CallTargetType,
    /// For `property` and `variable`: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Where a call's response is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum CallTargetType {
    /// Replace the payload.
    #[default]
    Body,
    /// A property.
    Property,
    /// A variable.
    Variable,
}

// === send ===

/// `send`: sends the message to an endpoint; the response continues in the out-flow
/// (`outSequence`) or the `receive` sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendSpec {
    /// The endpoint. Default: the message's `To` address (or, in the out-flow, the client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_ref_schema")]
    pub endpoint: Option<EndpointRef>,
    /// Parse the payload before sending even if nothing read it. Default false.
    #[serde(default)]
    pub build_message: bool,
    /// A Sequence that receives the response instead of the out-flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive: Option<String>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

// === callout ===

/// `callout`: the legacy blocking SOAP call, writing the response into the message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalloutSpec {
    /// The service address (Synapse `serviceURL`). Exactly one of `serviceUrl` and
    /// `endpointKey` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// A named Endpoint to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_key: Option<String>,
    /// The SOAP action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Start from fresh client options. Default true.
    #[serde(default = "default_true")]
    pub init_axis2_client_options: bool,
    /// What is sent. Default: the SOAP envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CalloutPart>,
    /// Where the response goes. Default: it replaces the SOAP body's first child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<CalloutPart>,
}

/// A part of the message a callout reads or writes: exactly one of the fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalloutPart {
    /// An XPath selecting the element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xpath: Option<String>,
    /// A property holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `envelope`: the whole SOAP envelope (source only).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

// === dbLookup, dbReport ===

/// `dbLookup`: runs SQL queries and stores columns of the first row in properties.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbLookupSpec {
    /// The database connection.
    pub connection: DbConnection,
    /// The statements, run in order.
    pub statements: Vec<DbStatement>,
}

/// `dbReport`: runs SQL statements that write to a database.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbReportSpec {
    /// The database connection.
    pub connection: DbConnection,
    /// The statements, run in order.
    pub statements: Vec<DbStatement>,
    /// Run the statements in one transaction. Default false.
    #[serde(default)]
    pub use_transaction: bool,
}

/// How a database mediator connects: a named data source, or a URL with credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbConnection {
    /// A data source name (Synapse `dsName`). Exactly one of `dsName`, `url` and `urlFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_name: Option<String>,
    /// The driver (Synapse's JDBC class name; Ferry picks its own driver from the URL
    /// scheme: `postgres://`, `sqlite:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The database URL, when it holds no secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The database URL, from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretSource>,
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The password, from a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretSource>,
    /// Pool settings by name (`maxActive`, `maxIdle`, `maxWait` (ms), `autocommit`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pool: std::collections::BTreeMap<String, String>,
}

/// One SQL statement with its parameters and results.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbStatement {
    /// The SQL, with `?` placeholders.
    pub sql: String,
    /// Values for the placeholders, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<DbParameter>,
    /// dbLookup: columns of the first row copied into properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<DbResult>,
}

/// One placeholder value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbParameter {
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The SQL type: CHAR, VARCHAR, INTEGER, BIGINT, SMALLINT, DOUBLE, REAL, NUMERIC,
    /// DECIMAL, BOOLEAN, BIT, DATE, TIME, TIMESTAMP, ...
    #[serde(rename = "type")]
    pub type_: String,
}

/// One column copied into a property.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbResult {
    /// The property's name.
    pub name: String,
    /// The column's name or 1-based index.
    pub column: String,
}
