//! `ferry import`: WSO2 Micro Integrator / Synapse XML artifacts to Ferry resources.
//!
//! The flow: [`read_inputs`] gathers Synapse files from files, MI project folders and
//! `.car` archives ([`car`]); each is parsed ([`dom`]) and its artifacts named ([`names`])
//! before any is converted, so every reference can be rewritten; [`artifacts`],
//! [`mediators`] and [`endpoints`] map the elements, writing [`report`] lines for what they
//! adjust or leave out; the resources are written as commented YAML and checked with the
//! very checks `ferry validate` runs, whose findings join the report.

mod artifacts;
mod car;
mod cx;
mod data;
mod dom;
mod endpoints;
mod inbound;
mod mediators;
mod names;
pub mod report;
mod vfs;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use cx::Cx;
use names::Names;
pub use report::{Entry, Report, Status};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `metadata.namespace` of every resource, if set.
    pub namespace: Option<String>,
    /// `spec.runtime` of every resource, if set (the default group otherwise).
    pub runtime: Option<String>,
}

/// One Synapse source: a file, or an entry of a `.car`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How the report names it (`apis/Orders.xml`, `app.car!/Orders_1.0.0/Orders.xml`).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// One resource written by the import.
#[derive(Debug, Clone)]
pub struct Output {
    /// The path relative to the output folder (`apis/healthcare-api.yaml`).
    pub path: String,
    /// The YAML text, comments included.
    pub yaml: String,
}

/// The result of an import.
#[derive(Debug, Default)]
pub struct Imported {
    /// The resources, one per artifact.
    pub outputs: Vec<Output>,
    /// What happened to each artifact and element.
    pub report: Report,
}

/// Imports the Synapse artifacts in `paths` (files, folders and `.car` archives).
pub fn import_paths(paths: &[PathBuf], options: &Options) -> Imported {
    let mut report = Report::default();
    let sources = read_inputs(paths, &mut report);
    let mut imported = import_sources(&sources, options);
    report.entries.append(&mut imported.report.entries);
    imported.report = report;
    imported
}

// === inputs ===

/// Reads every Synapse file under `paths`; what cannot be read is reported.
pub fn read_inputs(paths: &[PathBuf], report: &mut Report) -> Vec<SourceFile> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, path, &mut out, report);
        } else {
            read_file(path, &path.display().to_string(), &mut out, report);
        }
    }
    out
}

/// Folders an MI project keeps but that hold no artifacts of its own (`target` holds the
/// built `.car`, whose artifacts are the project's again).
const SKIPPED_FOLDERS: &[&str] = &["target", "node_modules", ".git", ".idea", ".vscode"];

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>, report: &mut Report) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report
                .entries
                .push(unreadable(&dir.display().to_string(), &e.to_string()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if file_name.starts_with('.') || SKIPPED_FOLDERS.contains(&file_name) {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out, report);
        } else {
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let shown = format!("{}/{shown}", root.display()).replace("//", "/");
            read_file(&path, &shown, out, report);
        }
    }
}

/// Build files of an MI project, never artifacts.
fn is_build_file(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    matches!(
        base,
        "pom.xml" | "artifact.xml" | "artifacts.xml" | ".project" | ".classpath"
    )
}

fn read_file(path: &Path, shown: &str, out: &mut Vec<SourceFile>, report: &mut Report) {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "car" | "zip" => match std::fs::read(path) {
            Ok(bytes) => car::read(shown, &bytes, out, report),
            Err(e) => report.entries.push(unreadable(shown, &e.to_string())),
        },
        "xml" | "dbs" if !is_build_file(shown) => match std::fs::read_to_string(path) {
            Ok(text) => out.push(SourceFile {
                name: shown.to_string(),
                text,
            }),
            Err(e) => report.entries.push(unreadable(shown, &e.to_string())),
        },
        _ => {}
    }
}

fn unreadable(file: &str, why: &str) -> Entry {
    Entry {
        status: Status::NotImported,
        file: file.to_string(),
        line: 0,
        path: String::new(),
        message: format!("cannot be read: {why}"),
    }
}

// === conversion ===

/// An artifact element found in a source.
struct Found<'s> {
    source: &'s SourceFile,
    element: dom::Element,
    kind: artifacts::Kind,
    synapse: String,
    path: String,
}

/// Imports parsed sources: names first, then every artifact, then the self-check.
pub fn import_sources(sources: &[SourceFile], options: &Options) -> Imported {
    let mut report = Report::default();
    let mut found = Vec::new();
    for source in sources {
        let root = match dom::parse(&source.text) {
            Ok(root) => root,
            Err(e) => {
                report.entries.push(Entry {
                    status: Status::NotImported,
                    file: source.name.clone(),
                    line: e.line,
                    path: String::new(),
                    message: format!("not well-formed XML: {}", e.message),
                });
                continue;
            }
        };
        if root.name == "definitions" {
            for (i, child) in root.children.iter().enumerate() {
                let path = format!("definitions/{}", cx::segment(&root, i));
                classify(source, child.clone(), path, &mut found, &mut report);
            }
        } else {
            let path = root.name.clone();
            classify(source, root, path, &mut found, &mut report);
        }
    }
    let mut names = Names::default();
    let mut local_entries = cx::Elements::new();
    let mut endpoint_templates = cx::Elements::new();
    for f in &found {
        names.assign(f.kind.family, &f.synapse);
        let lookup = match f.kind.family {
            names::Family::LocalEntry => Some(&mut local_entries),
            names::Family::Template if f.element.child("endpoint").is_some() => {
                Some(&mut endpoint_templates)
            }
            _ => None,
        };
        if let Some(lookup) = lookup {
            lookup
                .entry(f.synapse.clone())
                .or_insert_with(|| f.element.clone());
        }
    }
    let mut outputs = Vec::new();
    for f in &found {
        let mut cx = Cx::new(&f.source.name, &f.source.text, &names)
            .with_lookups(&local_entries, &endpoint_templates);
        let name = names.reference(f.kind.family, &f.synapse);
        cx.artifact = name.clone();
        let segment = format!("{}[{}]", f.path, f.synapse);
        let spec = cx.within(segment.clone(), |cx| artifacts::spec(cx, &f.element));
        let Some(mut spec) = spec else {
            report.entries.append(&mut cx.entries);
            continue;
        };
        let path = format!("{}/{name}.yaml", f.kind.folder);
        cx.within(segment, |cx| {
            cx.mapped(&f.element, format!("{}/{name} in {path}", f.kind.kind))
        });
        // The artifact's own line first, then what was adjusted or left out inside it.
        cx.entries.rotate_right(1);
        if let Some(map) = spec.as_object_mut() {
            finish_spec(map, &cx, f, options);
        }
        let doc = document(f.kind.kind, &name, &f.synapse, spec, options);
        let yaml = render(f, &doc, &cx.entries);
        report.entries.append(&mut cx.entries);
        outputs.push(Output { path, yaml });
    }
    self_check(&outputs, &mut report);
    Imported { outputs, report }
}

fn classify<'s>(
    source: &'s SourceFile,
    element: dom::Element,
    path: String,
    found: &mut Vec<Found<'s>>,
    report: &mut Report,
) {
    let entry = |message: String| Entry {
        status: Status::NotImported,
        file: source.name.clone(),
        line: element.line,
        path: path.clone(),
        message,
    };
    let kind = artifacts::kind_of(&element.name).filter(|_| element.name != "config");
    let Some(kind) = kind else {
        let message = match element.name.as_str() {
            "registry" | "taskManager" | "executor" | "eventSource" | "import" => {
                format!("<{}> has no Ferry counterpart", element.name)
            }
            other => format!("<{other}> is not a Synapse artifact Ferry knows"),
        };
        report.entries.push(entry(message));
        return;
    };
    let Some(synapse) = artifacts::name_of(&element).map(str::to_string) else {
        let attr = if element.name == "localEntry" {
            "key"
        } else {
            "name"
        };
        report.entries.push(entry(format!(
            "<{}> without {attr}; left out",
            element.name
        )));
        return;
    };
    if element.name == "data" {
        // Each `<config>` of a data service is a DataSource of its own.
        for (i, config) in element.children.iter().enumerate() {
            if config.name != "config" {
                continue;
            }
            let Some(kind) = artifacts::kind_of("config") else {
                continue;
            };
            found.push(Found {
                source,
                element: config.clone(),
                kind,
                synapse: data::source_synapse(&element, config),
                path: format!("{path}/{}", cx::segment(&element, i)),
            });
        }
    }
    found.push(Found {
        source,
        element,
        kind,
        synapse,
        path,
    });
}

/// Adds the resource-wide fields: `runtime`, and the namespace prefixes its XPath uses.
fn finish_spec(map: &mut Map<String, Value>, cx: &Cx<'_>, f: &Found<'_>, options: &Options) {
    let mut fields = Map::new();
    if let Some(runtime) = &options.runtime {
        fields.insert("runtime".into(), json!(runtime));
    }
    let takes_namespaces = matches!(
        f.kind.kind,
        "IntegrationAPI" | "ProxyService" | "Sequence" | "Template"
    );
    if takes_namespaces && !cx.namespaces.is_empty() {
        fields.insert("namespaces".into(), json!(cx.namespaces));
    }
    // runtime and namespaces first, as a person writes them.
    fields.append(map);
    *map = fields;
}

fn document(kind: &str, name: &str, synapse: &str, spec: Value, options: &Options) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = &options.namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    if name != synapse {
        metadata.insert(
            "annotations".into(),
            json!({ ferry_api::resources::SYNAPSE_NAME_ANNOTATION: synapse }),
        );
    }
    json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    })
}

/// The YAML of one resource, with a header saying where it came from and what changed.
fn render(f: &Found<'_>, doc: &Value, entries: &[Entry]) -> String {
    let mut out = format!(
        "# Imported by `ferry import` from {} (line {}): the {} {}.\n",
        f.source.name, f.element.line, f.element.name, f.synapse
    );
    for e in entries {
        let label = match e.status {
            Status::Mapped => continue,
            Status::Adjusted => "Adjusted",
            Status::NotImported => "NOT IMPORTED",
        };
        out.push_str(&format!(
            "# {label} (line {}, {}): {}\n",
            e.line, e.path, e.message
        ));
    }
    ferry_api::yaml_writer::document_for_people(&mut out, doc);
    out
}

/// Checks the imported resources as `ferry validate` would; every finding is reported.
fn self_check(outputs: &[Output], report: &mut Report) {
    let sources: Vec<ferry_api::bundle::Source> = outputs
        .iter()
        .map(|o| ferry_api::bundle::Source {
            name: o.path.clone(),
            text: o.yaml.clone(),
        })
        .collect();
    let (diagnostics, _) = crate::compile::check_sources(&sources, Vec::new());
    // A secret's variable the import names (`passwordFrom.env`, ...) is set where the resources
    // run, not where they are imported; its "adjusted" line already says so.
    let unset = |d: &ferry_api::diagnostic::Diagnostic| {
        d.message.contains("environment variable") && d.message.contains("is not set")
    };
    // A resource whose secret's variable is unset cannot be built here (a DataSource not
    // opened, an Endpoint without its password), so what uses it reports it missing: that
    // too is settled where the resources run.
    let unbuilt: Vec<String> = diagnostics
        .iter()
        .filter(|d| unset(d))
        .filter_map(|d| d.resource.as_deref()?.split_once('/'))
        .map(|(_, name)| format!("\"{name}\""))
        .collect();
    let follows_unset = |d: &ferry_api::diagnostic::Diagnostic| {
        (d.message.contains("is not available") || d.message.contains("was not built"))
            && unbuilt.iter().any(|n| d.message.contains(n.as_str()))
    };
    let machine_only = |d: &ferry_api::diagnostic::Diagnostic| unset(d) || follows_unset(d);
    for d in diagnostics
        .iter()
        .filter(|d| d.is_error() && !machine_only(d))
    {
        report.entries.push(Entry {
            status: Status::NotImported,
            file: d.file.clone().unwrap_or_default(),
            line: d.line.unwrap_or(0),
            path: String::new(),
            message: format!(
                "the imported resource does not validate: {} {}: {}",
                d.resource.as_deref().unwrap_or_default(),
                d.field.as_deref().unwrap_or_default(),
                d.message
            ),
        });
    }
}

/// All outputs as one YAML stream (`--out -`).
pub fn stream(outputs: &[Output]) -> String {
    let mut out = String::new();
    for (i, o) in outputs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&o.yaml);
    }
    out
}
