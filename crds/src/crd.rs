//! CRD generation: the `CustomResourceDefinition` of every kind, rendered as YAML for
//! `kubectl apply`, plus one JSON Schema for editors (`yaml-language-server`).
//!
//! This sits beside the flow rather than in it: `ferry crds` (and `make crds`) print or
//! write these, the operator's chart ships the files, and `crds/tests/schema.rs` fails when
//! the checked-in files under `crds/yaml/` drift from the Rust types.

use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::CustomResourceExt;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::resources::test_suite::{TEST_SUITE_KIND, TestSuite};
use crate::resources::{
    DataService, DataSource, Endpoint, InboundEndpoint, IntegrationAPI, IntegrationRuntime, KINDS,
    LocalEntry, MessageProcessor, MessageStore, ProxyService, ScheduledTask, Sequence, Template,
};
use crate::yaml_writer;

/// The name of the editor schema file written by [`write_all`].
pub const EDITOR_SCHEMA_FILE: &str = "ferry.schema.json";

/// The first line of every generated file.
const HEADER: &str =
    "# Generated from the Rust types in crds/src by `ferry crds` (make crds). Do not edit.\n";

/// The CRD of every kind, in [`KINDS`] order.
pub fn all() -> Vec<CustomResourceDefinition> {
    [
        IntegrationAPI::crd(),
        ProxyService::crd(),
        Sequence::crd(),
        Endpoint::crd(),
        MessageStore::crd(),
        MessageProcessor::crd(),
        ScheduledTask::crd(),
        LocalEntry::crd(),
        Template::crd(),
        InboundEndpoint::crd(),
        IntegrationRuntime::crd(),
        DataSource::crd(),
        DataService::crd(),
    ]
    .into_iter()
    .map(kubernetes_formats)
    .collect()
}

/// The integer formats Kubernetes knows for an unsigned Rust type's `format`. schemars
/// writes `uint8` ... `uint64` and `uint`, which kube-apiserver (1.34 and later) answers
/// with an "unrecognized format" warning for every field on each apply of the CRD; the
/// `minimum: 0` schemars writes beside them keeps them unsigned.
fn kubernetes_format(format: &str) -> Option<&'static str> {
    match format {
        "uint8" | "uint16" | "int8" | "int16" => Some("int32"),
        "uint32" | "uint64" | "uint" => Some("int64"),
        _ => None,
    }
}

/// The CRD with every schema `format` Kubernetes does not know replaced by one it does.
fn kubernetes_formats(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(format)) = map.get_mut("format")
                    && let Some(known) = kubernetes_format(format)
                {
                    *format = known.to_string();
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// The CRDs as one multi-document YAML stream (`---` before each), in the given order.
/// The output depends only on the input, so it can be compared with checked-in files.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> String {
    let mut out = String::new();
    for crd in crds {
        // A CRD always serializes: it is plain data with string keys.
        let value = serde_json::to_value(crd).unwrap_or(Value::Null);
        out.push_str("---\n");
        yaml_writer::document(&mut out, &value);
    }
    out
}

/// Writes one file per kind, `<plural>.ferry.dev.yaml`, and the editor schema
/// [`EDITOR_SCHEMA_FILE`] into `dir` (created if missing). Returns the paths written.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in rendered_files() {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// The files [`write_all`] writes, as (file name, content), without touching the disk.
pub fn rendered_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for crd in all() {
        let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
        files.push((name, format!("{HEADER}{}", to_yaml(&[crd]))));
    }
    let schema = serde_json::to_string_pretty(&editor_json_schema()).unwrap_or_default();
    files.push((EDITOR_SCHEMA_FILE.to_string(), format!("{schema}\n")));
    files
}

/// One JSON Schema (draft-07) for a YAML document of any Ferry kind, for editors: `kind`
/// selects the kind's schema, and mediator lists recurse fully through `definitions`
/// (unlike the CRDs, which cut nested lists). Use it with
/// `# yaml-language-server: $schema=<url or path of ferry.schema.json>`.
pub fn editor_json_schema() -> Value {
    let mut generator = SchemaSettings::draft07().into_generator();
    let refs = [
        generator.subschema_for::<IntegrationAPI>(),
        generator.subschema_for::<ProxyService>(),
        generator.subschema_for::<Sequence>(),
        generator.subschema_for::<Endpoint>(),
        generator.subschema_for::<MessageStore>(),
        generator.subschema_for::<MessageProcessor>(),
        generator.subschema_for::<ScheduledTask>(),
        generator.subschema_for::<LocalEntry>(),
        generator.subschema_for::<Template>(),
        generator.subschema_for::<InboundEndpoint>(),
        generator.subschema_for::<IntegrationRuntime>(),
        generator.subschema_for::<DataSource>(),
        generator.subschema_for::<DataService>(),
    ];
    // TestSuite is a local document (no CRD, see `resources::test_suite`), but it is
    // written beside the resources, so editors check it with the same schema.
    let suite = generator.subschema_for::<TestSuite>();
    let kinds: Vec<&str> = KINDS.iter().copied().chain([TEST_SUITE_KIND]).collect();
    let branches: Vec<Value> = kinds
        .iter()
        .zip(refs.into_iter().chain([suite]))
        .map(|(kind, schema)| {
            json!({
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": schema.to_value(),
            })
        })
        .collect();
    let definitions: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://ferry.dev/schemas/v1alpha1/ferry.schema.json",
        "title": "Ferry resource (ferry.dev/v1alpha1)",
        "description": "A Ferry custom resource: IntegrationAPI, ProxyService, Sequence, Endpoint, MessageStore, MessageProcessor, ScheduledTask, LocalEntry, Template, InboundEndpoint, IntegrationRuntime, DataSource or DataService; or a TestSuite for `ferry test`.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"const": crate::API_VERSION},
            "kind": {"enum": kinds},
        },
        "allOf": branches,
        "definitions": definitions,
    })
}
