//! Loading: files and folders of multi-document YAML into a [`Bundle`] of typed resources,
//! each remembering the file and lines it came from.
//!
//! This is the first step of every flow: `ferry run` and `ferry validate` load from disk,
//! the operator loads the objects it watched. Everything that goes wrong here becomes a
//! located [`Diagnostic`]; loading never stops at the first problem.

mod load;
mod structural;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
pub use load::{
    Bundle, Loaded, LoadedSuite, Suites, file_path, load, load_paths, load_paths_with_suites,
    load_with_suites,
};
pub use yaml::Spans;

/// A named text to load: a file's display path and content, or a ConfigMap key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// How diagnostics name this source (a path as given on the command line).
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// Where a resource came from, to locate diagnostics about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The source's name.
    pub file: Arc<str>,
    /// The 1-based line where the resource's document starts.
    pub line: u32,
    /// Lines of the document's fields.
    pub spans: Arc<Spans>,
}

impl Origin {
    /// An origin for a resource that did not come from text (built in code or tests).
    pub fn synthetic(name: &str) -> Self {
        Self {
            file: Arc::from(name),
            line: 1,
            spans: Arc::new(Spans::default()),
        }
    }

    /// The line of a field path (or of its nearest located parent, or the document's).
    pub fn line_of(&self, field: &str) -> u32 {
        self.spans.line_of(field).unwrap_or(self.line)
    }

    /// A diagnostic about `field` of `resource` (`Kind/name`), located in this origin.
    pub fn diagnostic(
        &self,
        resource: &str,
        field: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(message)
            .in_file(self.file.as_ref())
            .at_line(self.line_of(field))
            .for_resource(resource)
            .at_field(field)
    }
}

/// Lists the YAML files under `paths`: files as given, folders recursively (`.yaml`/`.yml`,
/// hidden entries skipped), each folder's files in name order so loading is deterministic.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut files, &mut diagnostics),
            Ok(_) => files.push(path.clone()),
            Err(e) => diagnostics.push(
                Diagnostic::error(format!("cannot read: {e}")).in_file(path.display().to_string()),
            ),
        }
    }
    (files, diagnostics)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(format!("cannot read folder: {e}"))
                    .in_file(dir.display().to_string()),
            );
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, diagnostics);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            files.push(path);
        }
    }
}

/// Reads the YAML files under `paths` into sources.
pub fn read_sources(paths: &[PathBuf]) -> (Vec<Source>, Vec<Diagnostic>) {
    let (files, mut diagnostics) = collect_files(paths);
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => sources.push(Source { name, text }),
            Err(e) => {
                diagnostics.push(Diagnostic::error(format!("cannot read: {e}")).in_file(name))
            }
        }
    }
    (sources, diagnostics)
}

#[cfg(test)]
mod tests;
