//! The LocalEntry kind (Synapse `<localEntry>`): a named piece of content — text, XML or
//! JSON — that mediators read by key: a `payloadFactory` format (`formatKey`), a `validate`
//! schema (`schemas`, `resources`). Entries are resolved when a configuration loads; nothing
//! reads them on the request path.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, any_value, default_runtime};

/// A named text, XML or JSON value mediators read by key.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "LocalEntry",
    namespaced,
    derive = "PartialEq",
    shortname = "lentry",
    category = "ferry",
    status = "LocalEntryStatus",
    doc = "A named text, XML or JSON value (Synapse local entry) that mediators read by key: a payloadFactory format, a validate schema.",
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
pub struct LocalEntrySpec {
    /// The runtime group that hosts this entry. Default `default`.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The content as plain text (Synapse's inline text entry). Exactly one of `text`,
    /// `xml`, `json`, `file` and `url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The content as an XML document, written as a string (Synapse's inline XML entry);
    /// it must be well-formed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml: Option<String>,
    /// The content as a JSON value, written as YAML (a JSON Schema, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub json: Option<serde_json::Value>,
    /// The content read from a file when the configuration loads (`ferry run`, `ferry
    /// validate`), its path relative to the YAML file that holds this entry. Not available
    /// in Kubernetes, where the operator has no files: give the content inline there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSource>,
    /// A URL to read the content from (Synapse's `src`): not supported (refused by
    /// validation); fetch the content into `text`, `xml`, `json` or a `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A LocalEntry's content kept in a file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSource {
    /// The file, relative to the YAML file that holds the entry (or absolute).
    pub path: String,
    /// How to read it: `text`, `xml` or `json`. Default from the extension: `.json` is
    /// json, `.xml` and `.xsd` are xml, anything else text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<EntryFormat>,
}

/// What a LocalEntry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum EntryFormat {
    /// Plain text.
    Text,
    /// An XML document.
    Xml,
    /// A JSON value.
    Json,
}

impl EntryFormat {
    /// The format a file's extension implies.
    pub fn of_path(path: &str) -> Self {
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("json") => EntryFormat::Json,
            Some("xml" | "xsd") => EntryFormat::Xml,
            _ => EntryFormat::Text,
        }
    }

    /// The format's name, as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            EntryFormat::Text => "text",
            EntryFormat::Xml => "xml",
            EntryFormat::Json => "json",
        }
    }
}

/// Status of a LocalEntry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalEntryStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: whether the spec is valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
