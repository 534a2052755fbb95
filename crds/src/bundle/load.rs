//! Documents to typed resources: the part of loading that knows the resource kinds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::structural::deserialize_all;
use super::{Origin, Source, read_sources, yaml};
use crate::diagnostic::Diagnostic;
use crate::resources::Resource;
use crate::resources::test_suite::{TEST_SUITE_KIND, TestSuite};

/// A resource with its origin.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The typed resource.
    pub resource: Resource,
    /// Where it came from.
    pub origin: Origin,
}

impl Loaded {
    /// `Kind/name`, as diagnostics name resources.
    pub fn id(&self) -> String {
        format!("{}/{}", self.resource.kind(), self.resource.name())
    }

    /// An error about `field` of this resource.
    pub fn error(&self, field: &str, message: impl Into<String>) -> Diagnostic {
        self.origin.diagnostic(&self.id(), field, message)
    }
}

/// Every resource that loaded, in source order.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// The resources, in the order of their sources and documents.
    pub resources: Vec<Loaded>,
    /// `(kind, name)` of documents that name a resource but failed to load (already
    /// reported): references to them are not reported a second time as undefined.
    pub unreadable: Vec<(String, String)>,
    /// The files LocalEntries read (`spec.file`), by [`file_path`], with their content or
    /// why they could not be read. Filled by [`load_paths`]; a bundle loaded from texts
    /// (the operator's) has none, and the checker reports file sources as unavailable.
    pub files: BTreeMap<String, Result<String, String>>,
}

/// The path a LocalEntry's `file` names: relative to the directory of the YAML file the
/// entry came from (`origin`), or absolute.
pub fn file_path(origin: &str, path: &str) -> String {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.display().to_string();
    }
    let dir = Path::new(origin).parent().unwrap_or(Path::new(""));
    dir.join(path).display().to_string()
}

impl Bundle {
    /// The resources of one runtime group.
    pub fn for_runtime<'a>(&'a self, runtime: &'a str) -> impl Iterator<Item = &'a Loaded> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.resource.runtime() == runtime)
    }
}

/// A TestSuite document with its origin.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    /// The suite.
    pub suite: TestSuite,
    /// Where it came from.
    pub origin: Origin,
}

impl LoadedSuite {
    /// `TestSuite/name`, as diagnostics name it.
    pub fn id(&self) -> String {
        format!("{TEST_SUITE_KIND}/{}", self.suite.metadata.name)
    }

    /// An error about `field` of this suite.
    pub fn error(&self, field: &str, message: impl Into<String>) -> Diagnostic {
        self.origin.diagnostic(&self.id(), field, message)
    }
}

/// The TestSuite documents found while loading, kept apart from the configuration: `ferry
/// run` and the operator ignore them, `ferry validate` and `ferry test` read them.
#[derive(Debug, Clone, Default)]
pub struct Suites {
    /// The suites that loaded, in source order.
    pub suites: Vec<LoadedSuite>,
    /// The structural errors of the suites that did not.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads sources into a bundle. Documents that fail are reported (every structural error of
/// each, see `structural.rs`) and left out; the others load, including the other documents
/// of a file with a YAML syntax error. Documents of other API groups (a Secret beside the
/// integrations, say) are skipped, and so are TestSuites (see [`load_with_suites`]).
pub fn load(sources: &[Source]) -> (Bundle, Vec<Diagnostic>) {
    let (bundle, diagnostics, _) = load_with_suites(sources);
    (bundle, diagnostics)
}

/// [`load`], keeping the TestSuite documents (and their errors) apart.
pub fn load_with_suites(sources: &[Source]) -> (Bundle, Vec<Diagnostic>, Suites) {
    let mut bundle = Bundle::default();
    let mut diagnostics = Vec::new();
    let mut suites = Suites::default();
    for source in sources {
        let parsed = yaml::parse_all(&source.text);
        for broken in parsed.broken {
            let e = broken.error;
            diagnostics.push(
                Diagnostic::error(format!("invalid YAML: {} (column {})", e.message, e.column))
                    .in_file(&source.name)
                    .at_line(e.line),
            );
            // What was read before the error usually names the resource: references to it
            // are then not reported as undefined on top of the syntax error.
            bundle.unreadable.extend(kind_and_name(&broken.partial));
        }
        let file: Arc<str> = Arc::from(source.name.as_str());
        for doc in parsed.documents {
            let origin = Origin {
                file: file.clone(),
                line: doc.line,
                spans: Arc::new(doc.spans),
            };
            let kind_and_name = kind_and_name(&doc.value);
            match load_document(doc.value, &origin) {
                Ok(Document::Resource(resource)) => {
                    bundle.resources.push(Loaded { resource, origin })
                }
                Ok(Document::Suite(suite)) => suites.suites.push(LoadedSuite { suite, origin }),
                Ok(Document::Skipped) => {}
                Err(Found::Suite(found)) => suites.diagnostics.extend(found),
                Err(Found::Resource(found)) => {
                    diagnostics.extend(found);
                    bundle.unreadable.extend(kind_and_name);
                }
            }
        }
    }
    (bundle, diagnostics, suites)
}

/// What one document loaded as. Short-lived (one per document while loading), so the
/// resource is not boxed: it moves into the bundle unboxed.
#[allow(clippy::large_enum_variant)]
enum Document {
    Resource(Resource),
    Suite(TestSuite),
    /// Not ours (another API group).
    Skipped,
}

/// The errors of a document that did not load, by what it was.
enum Found {
    Resource(Vec<Diagnostic>),
    Suite(Vec<Diagnostic>),
}

fn kind_and_name(value: &Value) -> Option<(String, String)> {
    let kind = value.get("kind")?.as_str()?;
    let name = value.get("metadata")?.get("name")?.as_str()?;
    Some((kind.to_string(), name.to_string()))
}

/// Loads the YAML files under `paths`: [`read_sources`] then [`load`].
pub fn load_paths(paths: &[PathBuf]) -> (Bundle, Vec<Diagnostic>) {
    let (bundle, diagnostics, _) = load_paths_with_suites(paths);
    (bundle, diagnostics)
}

/// [`load_paths`], keeping the TestSuite documents apart.
pub fn load_paths_with_suites(paths: &[PathBuf]) -> (Bundle, Vec<Diagnostic>, Suites) {
    let (sources, mut diagnostics) = read_sources(paths);
    let (mut bundle, more, suites) = load_with_suites(&sources);
    diagnostics.extend(more);
    read_entry_files(&mut bundle);
    (bundle, diagnostics, suites)
}

/// Reads the files LocalEntries name into [`Bundle::files`] (a failure is kept as its
/// message; the checker reports it at the entry).
fn read_entry_files(bundle: &mut Bundle) {
    for l in &bundle.resources {
        if let Resource::LocalEntry(e) = &l.resource
            && let Some(file) = &e.spec.file
        {
            let path = file_path(&l.origin.file, &file.path);
            let content = std::fs::read_to_string(&path).map_err(|e| e.to_string());
            bundle.files.insert(path, content);
        }
    }
}

/// One document to one resource or suite. `Skipped`: not ours (a warning was not worth an
/// error). `Err`: every error found, at least one.
fn load_document(value: Value, origin: &Origin) -> Result<Document, Found> {
    let is_suite = value.get("kind").and_then(Value::as_str) == Some(TEST_SUITE_KIND)
        && value.get("apiVersion").and_then(Value::as_str) == Some(crate::API_VERSION);
    if is_suite {
        return load_suite(value, origin).map_err(Found::Suite);
    }
    load_resource(value, origin).map_err(Found::Resource)
}

/// A TestSuite document: its name and every structural error, as for a resource.
fn load_suite(value: Value, origin: &Origin) -> Result<Document, Vec<Diagnostic>> {
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let id = format!("{TEST_SUITE_KIND}/{name}");
    let mut errors = Vec::new();
    if let Err(message) = check_name(&name) {
        errors.push(origin.diagnostic(&id, "metadata.name", message));
    }
    let typed = deserialize_all(value, |value| {
        serde_path_to_error::deserialize::<_, TestSuite>(value)
    });
    match typed {
        Ok(suite) if errors.is_empty() => Ok(Document::Suite(suite)),
        Ok(_) => Err(errors),
        Err(found) => {
            errors.extend(
                found
                    .into_iter()
                    .map(|e| origin.diagnostic(&id, &e.field, e.message)),
            );
            Err(errors)
        }
    }
}

fn load_resource(value: Value, origin: &Origin) -> Result<Document, Vec<Diagnostic>> {
    let located = |field: &str, message: String| {
        Diagnostic::error(message)
            .in_file(origin.file.as_ref())
            .at_line(origin.line_of(field))
            .at_field(field)
    };
    let Value::Object(fields) = &value else {
        return Err(vec![located(
            "",
            "a resource must be a mapping with apiVersion, kind, metadata and spec".into(),
        )]);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let api_version = text(fields.get("apiVersion"));
    let kind = text(fields.get("kind"));
    let name = text(fields.get("metadata").and_then(|m| m.get("name")));
    let (api_version, kind, name) = (api_version.as_deref(), kind.as_deref(), name.as_deref());
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        return Err(vec![located(
            "",
            "a resource needs apiVersion and kind".into(),
        )]);
    };
    if !api_version.starts_with(crate::GROUP) || !api_version.contains('/') {
        return Ok(Document::Skipped);
    }
    let id = format!("{kind}/{}", name.unwrap_or("?"));
    if api_version != crate::API_VERSION {
        return Err(vec![
            located(
                "apiVersion",
                format!(
                    "unsupported apiVersion \"{api_version}\" (this Ferry reads {})",
                    crate::API_VERSION
                ),
            )
            .for_resource(id),
        ]);
    }
    if !crate::resources::KINDS.contains(&kind) {
        return Err(vec![
            located(
                "kind",
                format!(
                    "unknown kind \"{kind}\" (known: {})",
                    crate::resources::KINDS.join(", ")
                ),
            )
            .for_resource(id),
        ]);
    }
    let Some(name) = name else {
        return Err(vec![
            located("metadata", "metadata.name is required".into()).for_resource(id),
        ]);
    };
    // A bad name and bad fields are independent: report both in one run.
    let mut errors = Vec::new();
    if let Err(message) = check_name(name) {
        errors.push(located("metadata.name", message).for_resource(&id));
    }
    match deserialize_all(value, |value| Resource::from_value(kind, value)) {
        Ok(resource) if errors.is_empty() => Ok(Document::Resource(resource)),
        Ok(_) => Err(errors),
        Err(found) => {
            errors.extend(
                found
                    .into_iter()
                    .map(|e| located(&e.field, e.message).for_resource(&id)),
            );
            Err(errors)
        }
    }
}

/// Kubernetes object names: a DNS subdomain (RFC 1123), so the same file applies to a
/// cluster unchanged. Synapse names such as `GrandOakEP` become `grand-oak-ep`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "metadata.name \"{name}\" is not a valid Kubernetes name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
        ))
    }
}
