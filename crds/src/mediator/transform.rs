//! Mediators that reshape the message: payloadFactory, enrich, xslt, xquery, script,
//! datamapper, jsonTransform, makefault and rewrite.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Namespaces;

use crate::resources::common::{Feature, NamedValue, any_value, default_true};

// === payloadFactory ===

/// `payloadFactory`: replaces the payload with a template rendered per message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayloadFactorySpec {
    /// The payload's type: `json`, `xml` (Synapse's default) or `text`.
    #[serde(default = "default_media_type")]
    pub media_type: MediaType,
    /// The template engine: `default` (`$1..$n` placeholders and `${...}` expressions) or
    /// `freemarker`.
    #[serde(default, skip_serializing_if = "is_default_template")]
    pub template_type: TemplateType,
    /// The template, inline. Exactly one of `format` and `formatKey` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The key of a resource holding the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_key: Option<String>,
    /// Values for `$1`, `$2`, ... in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<PayloadArg>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

fn default_media_type() -> MediaType {
    MediaType::Xml
}

fn is_default_template(t: &TemplateType) -> bool {
    *t == TemplateType::Default
}

/// The payload type a payloadFactory produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum MediaType {
    /// JSON.
    Json,
    /// XML.
    #[default]
    Xml,
    /// Plain text.
    Text,
}

/// The template engine of a payloadFactory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum TemplateType {
    /// Placeholders and inline expressions.
    #[default]
    Default,
    /// FreeMarker templates.
    Freemarker,
}

/// One `$n` argument of a payloadFactory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayloadArg {
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How `expression` reads the payload: `xml` (XPath) or `json` (JSONPath). Not needed
    /// for `${...}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<Evaluator>,
    /// Insert the value as a literal string, never as a JSON object or XML element.
    /// Default false.
    #[serde(default)]
    pub literal: bool,
}

/// How a legacy expression reads the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum Evaluator {
    /// XPath.
    Xml,
    /// JSONPath.
    Json,
}

// === enrich ===

/// `enrich`: copies (or moves) a fragment from `source` into `target`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrichSpec {
    /// Where the fragment comes from.
    pub source: EnrichSource,
    /// Where it goes.
    pub target: EnrichTarget,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// The source of an enrich.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrichSource {
    /// `custom` (`expression` selects it; the default), `envelope`, `body`, `property`,
    /// `variable`, `inline` or `key`.
    #[serde(default, rename = "type")]
    pub type_: EnrichSourceType,
    /// Copy the fragment (true, the default) or move it (false).
    #[serde(default = "default_true")]
    pub clone: bool,
    /// For `custom`: the expression selecting the fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// For `property`: the property's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// For `variable`: the variable's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// For `inline`: the content, any JSON value or a string (XML text for XML payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub inline: Option<serde_json::Value>,
    /// For `key`: the key of a resource holding the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where an enrich source comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum EnrichSourceType {
    /// Selected by an expression.
    #[default]
    Custom,
    /// The whole SOAP envelope.
    Envelope,
    /// The payload.
    Body,
    /// A property.
    Property,
    /// A variable.
    Variable,
    /// Inline content.
    Inline,
    /// A resource, by key.
    Key,
}

/// The target of an enrich.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrichTarget {
    /// `custom` (`expression` selects it; the default), `envelope`, `body`, `property`,
    /// `variable` or `key`.
    #[serde(default, rename = "type")]
    pub type_: EnrichTargetType,
    /// `replace` (default), `child` (add as the last child / array element), `sibling`, or
    /// `remove` (take out of the target what the source selects).
    #[serde(default)]
    pub action: EnrichAction,
    /// For `custom`: the expression selecting the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// For `property`: the property's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// For `variable`: the variable's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

/// Where an enrich writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum EnrichTargetType {
    /// Selected by an expression.
    #[default]
    Custom,
    /// The whole SOAP envelope.
    Envelope,
    /// The payload.
    Body,
    /// A property.
    Property,
    /// A variable.
    Variable,
    /// A resource, by key.
    Key,
}

/// How an enrich writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum EnrichAction {
    /// Replace the target.
    #[default]
    Replace,
    /// Add as a child (XML) or array element / object members (JSON).
    Child,
    /// Add as a sibling.
    Sibling,
    /// Remove what the source selects from the target (MI 4.x): the source is `custom`,
    /// with a JSON path, a list of them (`json-eval($.a[*].b,$.c)`), or an XPath selecting
    /// XML nodes of the body.
    Remove,
}

// === xslt, xquery ===

/// `xslt`: transforms the XML payload (or a part) with an XSLT stylesheet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct XsltSpec {
    /// The stylesheet's key, or `{${expr}}` to pick it per message.
    pub key: String,
    /// Selects the element transformed. Default: the first child of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Stylesheet parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<NamedValue>,
    /// Transformer features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<Feature>,
    /// Imported stylesheet locations mapped to keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<super::flow::SchemaResource>,
}

/// `xquery`: runs an XQuery over the payload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct XquerySpec {
    /// The query's key, or `{${expr}}`.
    pub key: String,
    /// Selects the node replaced by the result. Default: the first child of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// External variables bound for the query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<XqueryVariable>,
}

/// One external variable of an XQuery.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct XqueryVariable {
    /// The variable's name.
    pub name: String,
    /// Its XQuery type (`STRING`, `INT`, `BOOLEAN`, `DOUBLE`, `ELEMENT`, `DOCUMENT`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The key of a resource holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

// === script ===

/// `script`: runs a script function on the message (`mc.getPayloadJSON()`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptSpec {
    /// The language: `js` (default), `graalJs`, `nashornJs`, `rhinoJs`, `groovy` or `rb`.
    #[serde(default = "default_script_language")]
    pub language: ScriptLanguage,
    /// The key of a resource holding the script. Exactly one of `key` and `inline` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// With `key`: the function called. Default `mediate`.
    #[serde(default = "default_script_function")]
    pub function: String,
    /// The script's source, run as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// Keys of scripts loaded before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
}

fn default_script_language() -> ScriptLanguage {
    ScriptLanguage::Js
}

/// Script languages, spelled as in Synapse's `language` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ScriptLanguage {
    /// JavaScript (the default engine).
    #[default]
    Js,
    /// JavaScript on GraalJS.
    GraalJs,
    /// JavaScript on Nashorn.
    NashornJs,
    /// JavaScript on Rhino.
    RhinoJs,
    /// Groovy.
    Groovy,
    /// Ruby.
    Rb,
}

fn default_script_function() -> String {
    "mediate".to_string()
}

// === datamapper, jsonTransform ===

/// `datamapper`: maps the payload from one schema to another with a generated mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatamapperSpec {
    /// The key of the mapping configuration.
    pub config: String,
    /// The key of the input schema.
    pub input_schema: String,
    /// The key of the output schema.
    pub output_schema: String,
    /// The input's type: XML, JSON or CSV. Default XML.
    #[serde(default = "default_data_type")]
    pub input_type: DataType,
    /// The output's type: XML, JSON or CSV. Default XML.
    #[serde(default = "default_data_type")]
    pub output_type: DataType,
}

fn default_data_type() -> DataType {
    DataType::Xml
}

/// Data formats of the datamapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum DataType {
    /// XML.
    #[default]
    Xml,
    /// JSON.
    Json,
    /// CSV.
    Csv,
}

/// `jsonTransform`: converts the payload to JSON with conversion settings of its own (the
/// message's later conversions use them too), and optionally shapes the result with a
/// JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonTransformSpec {
    /// The key of a LocalEntry holding a JSON Schema the result is made to follow: values
    /// become the `type` it declares (`"12"` a number, a single value an array ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// XML to JSON conversion settings, by their Synapse names with literal values:
    /// `synapse.commons.json.output.autoPrimitive`,
    /// `synapse.commons.json.output.disableAutoPrimitive.regex`,
    /// `synapse.commons.json.preserve.namespace`,
    /// `synapse.commons.json.output.namespaceSepChar`,
    /// `synapse.commons.json.output.enableNSDeclarations`,
    /// `synapse.commons.enableXmlNullForEmptyElement`,
    /// `synapse.commons.enableXmlNilReadWrite`,
    /// `synapse.commons.json.output.jsonoutAutoArray`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<NamedValue>,
}

// === makefault ===

/// `makefault`: replaces the payload with a SOAP 1.1, SOAP 1.2 or POX fault.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MakefaultSpec {
    /// `soap11` (default), `soap12` or `pox`.
    #[serde(default = "default_fault_version")]
    pub version: FaultVersion,
    /// The fault code (`soap11Env:Server`, `soap12Env:Receiver`, ...), literal or computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ValueOrExpression>,
    /// The fault reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ValueOrExpression>,
    /// The SOAP 1.2 fault node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The fault role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The fault detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ValueOrExpression>,
    /// Send the fault back as the response at once (Synapse `response="true"`). Default
    /// false.
    #[serde(default)]
    pub response: bool,
    /// XML namespace prefixes its code and XPath expressions use (`prefix: uri`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

fn default_fault_version() -> FaultVersion {
    FaultVersion::Soap11
}

/// Fault formats of makefault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum FaultVersion {
    /// A SOAP 1.1 fault.
    #[default]
    Soap11,
    /// A SOAP 1.2 fault.
    Soap12,
    /// A plain XML fault.
    Pox,
}

/// A literal value or an expression computing it; exactly one is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueOrExpression {
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

// === rewrite ===

/// `rewrite`: rewrites the message's target URL fragment by fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteSpec {
    /// A property read as the input URL. Default: the message's `To` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_property: Option<String>,
    /// A property that receives the result. Default: the message's `To` address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_property: Option<String>,
    /// The rules, applied in order.
    pub rules: Vec<RewriteRule>,
}

/// One rewrite rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteRule {
    /// A boolean expression; the rule applies only when it holds. Synapse's nested
    /// `<condition>` evaluators (and/or/match/equal) are written as one expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The actions.
    pub actions: Vec<RewriteAction>,
}

/// One rewrite action.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteAction {
    /// `set` (default), `append`, `prepend`, `replace` or `remove`.
    #[serde(default = "default_rewrite_type", rename = "type")]
    pub type_: RewriteActionType,
    /// The URL part changed: `full` (default), `protocol`, `host`, `port`, `path`, `query`,
    /// `ref` or `user`.
    #[serde(default = "default_rewrite_fragment")]
    pub fragment: UrlFragment,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// An expression computing the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// For `replace`: the regular expression whose matches are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

fn default_rewrite_type() -> RewriteActionType {
    RewriteActionType::Set
}

fn default_rewrite_fragment() -> UrlFragment {
    UrlFragment::Full
}

/// What a rewrite action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum RewriteActionType {
    /// Replace the fragment with the value.
    #[default]
    Set,
    /// Append the value.
    Append,
    /// Prepend the value.
    Prepend,
    /// Replace matches of `regex` with the value.
    Replace,
    /// Remove the fragment.
    Remove,
}

/// The URL parts a rewrite action changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum UrlFragment {
    /// The whole URL.
    #[default]
    Full,
    /// The scheme.
    Protocol,
    /// The host.
    Host,
    /// The port.
    Port,
    /// The path.
    Path,
    /// The query string.
    Query,
    /// The fragment after `#`.
    Ref,
    /// The user info.
    User,
}
