//! The DataService kind: Micro Integrator's data service (`.dbs`). Named SQL queries over a
//! DataSource, with typed named parameters that are always bound (never spliced into the
//! SQL), results mapped to JSON or XML, and REST resources mapping a method and path to one
//! query, or to several run in one transaction (MI's request box). Served at
//! `/services/<name>/<path>`, as MI serves data services.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, default_runtime};

/// A data service.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "DataService",
    namespaced,
    derive = "PartialEq",
    shortname = "dss",
    category = "ferry",
    status = "DataServiceStatus",
    doc = "A data service (MI .dbs): named SQL queries over a DataSource, served as REST resources at /services/<name>/<path> with JSON or XML results.",
    printcolumn(name = "DataSource", type_ = "string", json_path = ".spec.dataSource"),
    printcolumn(name = "Runtime", type_ = "string", json_path = ".spec.runtime"),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataServiceSpec {
    /// The runtime group that serves this data service. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The DataSource the queries run on (MI `<config id>` / `useConfig`).
    pub data_source: String,
    /// What the service is for (MI `<description>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The answer's format when the request's `Accept` asks for neither JSON nor XML:
    /// `json` (default) or `xml`.
    #[serde(default)]
    pub output_type: OutputType,
    /// The named queries (MI `<query id>`).
    pub queries: Vec<DataQuery>,
    /// The REST resources (MI `<resource method path>`).
    pub resources: Vec<DataResource>,
}

/// The format of a data service's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum OutputType {
    /// JSON.
    #[default]
    Json,
    /// XML.
    Xml,
}

/// One named query (MI `<query id useConfig>`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataQuery {
    /// The query's name (MI `id`), which resources name.
    pub name: String,
    /// The SQL, with named parameters `:name` (MI's `:name` form). Every parameter is bound
    /// by the driver; SQL text is never built from request values.
    pub sql: String,
    /// The parameters the SQL uses (MI `<param name sqlType>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<QueryParam>,
    /// How rows become the answer (MI `<result>`). Without it the query is a write
    /// (`INSERT`, `UPDATE`, `DELETE`) answered with the number of rows it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<QueryResult>,
    /// Rows answered at most; the rest are not read. Default: all (streamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
}

/// A typed input parameter (MI `<param name sqlType defaultValue>` with its validators).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryParam {
    /// The name, as `:name` in the SQL and as the request names it (a path parameter, a
    /// query parameter, or a field of the JSON or XML body).
    pub name: String,
    /// The type the value is checked against and bound as (MI `sqlType`). Default `string`.
    #[serde(default, rename = "type")]
    pub type_: ParamType,
    /// The value when the request has none (MI `defaultValue`). A parameter without a
    /// default is required unless `optional` (then it is bound as NULL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Bind NULL when the request has no value and there is no default. Default false: a
    /// missing value is a 400.
    #[serde(default)]
    pub optional: bool,
    /// The smallest value of an `integer`, `number` or `decimal` (MI `validateLongRange`,
    /// `validateDoubleRange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The largest value of an `integer`, `number` or `decimal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// The longest `string`, in characters (MI `validateLength maximum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// A regular expression a `string` must match in full (MI `validatePattern`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The values a `string` may take.
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "enum")]
    pub allowed: Vec<String>,
}

/// Parameter types (MI `sqlType`, by Ferry's lower-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ParamType {
    /// Text (MI `STRING`, `VARCHAR`, `CHAR`).
    #[default]
    String,
    /// A 64-bit integer (MI `INTEGER`, `BIGINT`, `SMALLINT`, `LONG`).
    Integer,
    /// A double (MI `DOUBLE`, `FLOAT`, `REAL`).
    Number,
    /// An exact decimal (MI `NUMERIC`, `DECIMAL`).
    Decimal,
    /// `true` or `false` (MI `BOOLEAN`, `BIT`).
    Boolean,
    /// A date, `2025-04-02` (MI `DATE`).
    Date,
    /// A date and time, `2025-04-02T09:30:00` (MI `TIMESTAMP`).
    Timestamp,
}

/// How a query's rows are answered (MI `<result element rowName>` with its `<element
/// name column>` mappings).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryResult {
    /// The wrapping element (MI `element`): XML `<doctors>`, JSON `{"doctors": {...}}`.
    /// Without it JSON answers a plain array of rows, XML wraps rows in `<results>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// The element of each row (MI `rowName`). Default `row`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_name: Option<String>,
    /// The XML namespace of the elements (MI `defaultNamespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The columns answered and their names (MI `<element name column>`). Default: every
    /// column under its own name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnMapping>,
    /// Answer the first row alone (an object, one element) instead of a list.
    #[serde(default)]
    pub single: bool,
}

/// One answered column.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnMapping {
    /// The column's name in the result set.
    pub column: String,
    /// Its name in the answer. Default: the column's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A REST resource of a data service (MI `<resource method path>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataResource {
    /// The HTTP method: GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// The path under `/services/<name>`, a URI template (`/doctors/{id}`).
    pub path: String,
    /// The query run (MI `<call-query href>`). Exactly one of `query` and `queries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Several queries run in order in one transaction, all or nothing; the last one's
    /// result is the answer (MI's request box, `enableBoxcarring`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
    /// The body is a JSON array: the query runs once per element, all in one transaction
    /// (MI `enableBatchRequests`). Default false.
    #[serde(default)]
    pub batch: bool,
    /// Answer 404 when the query finds no row, or a write changes none (MI
    /// `returnRequestStatus` with an empty result). Default false: an empty result.
    #[serde(default)]
    pub not_found: bool,
    /// The status of a successful answer. Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// Status of a DataService.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataServiceStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid; `Ready`: whether its group serves it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Where the service answers inside the cluster (`http://<service>:8290/services/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
