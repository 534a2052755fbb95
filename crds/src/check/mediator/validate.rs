//! Check of the `validate` mediator: every JSON Schema (inline or from a LocalEntry) is
//! compiled here, once, with the schemas it imports (`resources`); a schema that does not
//! compile is a located error at load, and the runtime keeps the compiled validator.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::{Mediator, check_list};
use crate::check::cx::Cx;
use crate::check::local_entry::Content;
use crate::expr::Expression;
use crate::mediator::ValidateSpec;

/// A checked `validate`.
#[derive(Debug, Clone)]
pub struct Validate {
    /// What is validated; `None`: the payload.
    pub source: Option<Expression>,
    /// The schemas; the message must conform to each.
    pub schemas: Vec<CompiledSchema>,
    /// Runs when validation fails.
    pub on_fail: Vec<Mediator>,
}

/// A JSON Schema compiled at load.
#[derive(Clone)]
pub struct CompiledSchema {
    /// Where it came from: `jsonSchema` or the LocalEntry key.
    pub name: String,
    /// The compiled validator.
    pub validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Imported schemas by location, served to the compiler instead of fetching anything
/// (shared by the compiles of one mediator's schemas).
#[derive(Clone)]
struct Imports(Arc<HashMap<String, Value>>);

/// Where `jsonschema` resolves a relative reference when the schema has no `$id`.
const DEFAULT_BASE: &str = "json-schema:///";

impl jsonschema::Retrieve for Imports {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let relative = uri.strip_prefix(DEFAULT_BASE).unwrap_or(uri);
        self.0
            .get(uri)
            .or_else(|| self.0.get(relative))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{uri} is not available: map it to a LocalEntry in resources[] (schemas are never fetched)"
                )
                .into()
            })
    }
}

pub(super) fn validate(cx: &mut Cx<'_>, field: &str, spec: &ValidateSpec) -> Option<Validate> {
    let before = cx.error_count();
    let source = match &spec.source {
        Some(s) => cx.expression(&format!("{field}.source"), s),
        None => None,
    };
    if !spec.features.is_empty() {
        cx.error(
            &format!("{field}.features"),
            "parser features apply to XML Schema validation, which is not supported",
        );
    }
    if !spec.cache_schema {
        cx.error(
            &format!("{field}.cacheSchema"),
            "schemas are always compiled once when the configuration loads (and again on \
             reload); cacheSchema: false is not supported",
        );
    }
    let mut imports = HashMap::new();
    for (i, r) in spec.resources.iter().enumerate() {
        let rf = format!("{field}.resources[{i}].key");
        if let Some(json) = json_entry(cx, &rf, &r.key) {
            imports.insert(r.location.clone(), json);
        }
    }
    let imports = Imports(Arc::new(imports));
    let mut sources: Vec<(String, String, Value)> = Vec::new();
    if let Some(schema) = &spec.json_schema {
        sources.push((
            format!("{field}.jsonSchema"),
            "jsonSchema".into(),
            schema.clone(),
        ));
    }
    for (i, key) in spec.schemas.iter().enumerate() {
        let sf = format!("{field}.schemas[{i}]");
        if let Some(json) = json_entry(cx, &sf, key) {
            sources.push((sf, key.clone(), json));
        }
    }
    if spec.json_schema.is_none() && spec.schemas.is_empty() {
        cx.error(
            field,
            "give a schema: schemas (LocalEntry keys) or jsonSchema",
        );
    }
    let mut schemas = Vec::with_capacity(sources.len());
    for (sf, name, schema) in sources {
        let built = jsonschema::options()
            .with_retriever(imports.clone())
            .build(&schema);
        match built {
            Ok(validator) => schemas.push(CompiledSchema {
                name,
                validator: Arc::new(validator),
            }),
            Err(e) => cx.error(&sf, format!("invalid JSON Schema: {e}")),
        }
    }
    let on_fail = check_list(cx, &format!("{field}.onFail"), &spec.on_fail);
    if cx.error_count() > before {
        return None;
    }
    Some(Validate {
        source,
        schemas,
        on_fail: on_fail?,
    })
}

/// The JSON content of the LocalEntry `key`; XML (an XSD) and text are located errors.
fn json_entry(cx: &mut Cx<'_>, field: &str, key: &str) -> Option<Value> {
    match cx.local_entry(field, key)? {
        Content::Json(v) => Some(v),
        Content::Xml(_) => {
            cx.error(
                field,
                format!(
                    "local entry \"{key}\" holds XML: XML Schema (XSD) validation is not \
                     supported (no maintained Rust XSD engine); use a JSON Schema"
                ),
            );
            None
        }
        Content::Text(_) => {
            cx.error(
                field,
                format!(
                    "local entry \"{key}\" holds text, but a schema is JSON: write it as \
                     `json:` (or a .json file)"
                ),
            );
            None
        }
    }
}
