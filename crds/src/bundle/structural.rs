//! Every structural error of a document in one pass, not only the first.
//!
//! serde stops at the first error, so a document with three typos would take three runs of
//! `ferry validate`. Loading (`load.rs`) therefore deserializes through
//! [`deserialize_all`]: after each error the offending node is cut out of the JSON tree and
//! the document is deserialized again, until it loads or [`MAX_ERRORS`] are found. The
//! document stays unreadable either way; the cuts only let the next error surface.
//!
//! Cutting must neither invent nor repeat errors. A "missing field" in a mapping we cut a
//! key from is ours: the cut field was required, or the cut key was a misspelling of the
//! missing one (`uriTemplat`), one mistake already reported. Any other error at a node we
//! cut from, or above it, may be ours too (a length or cross-field check). Such errors are
//! not reported; their node is cut in turn so the search goes on. Paths are reported with
//! the indices of the document as written, however many list elements were cut before.

use std::collections::HashMap;

use serde_json::Value;
use serde_path_to_error::{Error, Path, Segment};

/// At most this many errors per document: more would bury the first ones, and a document
/// that wrong is likely something else altogether (the wrong `kind`, say).
pub(super) const MAX_ERRORS: usize = 50;

/// One structural error: the field path in the document as written, and serde's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldError {
    /// `spec.resources[0].inSequence[2].call`; empty for the document itself.
    pub field: String,
    /// What serde said.
    pub message: String,
}

/// Deserializes `value` with `de`; on failure returns every independent error (at least
/// one, at most [`MAX_ERRORS`]), in the order serde meets them.
pub(super) fn deserialize_all<T>(
    mut value: Value,
    de: impl Fn(Value) -> Result<T, Error<serde_json::Error>>,
) -> Result<T, Vec<FieldError>> {
    let mut cuts = Cuts::default();
    let mut errors = Vec::new();
    // Every round cuts one node, so the tree runs out eventually; the bound only guards
    // against rounds that keep dropping errors caused by earlier cuts.
    for _ in 0..MAX_ERRORS * 4 {
        // The clone keeps the tree for the next round: `de` consumes its value.
        let error = match de(value.clone()) {
            Ok(loaded) if errors.is_empty() => return Ok(loaded),
            Ok(_) => break,
            Err(error) => error,
        };
        let message = error.inner().to_string();
        let current = steps(error.path());
        let original = cuts.as_written(&current);
        let field = display(&original);
        if !cuts.may_have_caused(&field, &message) {
            errors.push(FieldError { field, message });
            if errors.len() >= MAX_ERRORS {
                break;
            }
        }
        if !cuts.cut(&mut value, &current, &original) {
            break;
        }
    }
    Err(errors)
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A mapping key or struct field.
    Key(String),
    /// The tag of an externally tagged enum (`call` in `- call: {...}`): a key in the JSON.
    Variant(String),
    /// A list index.
    Index(usize),
    /// A step serde_path_to_error could not name (a non-string map key).
    Unknown,
}

fn steps(path: &Path) -> Vec<Step> {
    path.iter()
        .map(|segment| match segment {
            Segment::Seq { index } => Step::Index(*index),
            Segment::Map { key } => Step::Key(key.clone()),
            Segment::Enum { variant } => Step::Variant(variant.clone()),
            Segment::Unknown => Step::Unknown,
        })
        .collect()
}

/// The path as serde_path_to_error's `Display` writes it (`a.b[0].c`), so diagnostics read
/// the same as before and [`super::Spans`] finds their lines; empty for the root.
fn display(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(name) | Step::Variant(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// What has been cut so far, to map paths back to the document as written and to tell our
/// own errors from the document's.
#[derive(Default)]
struct Cuts {
    /// Indices (as written) cut from each list, sorted, keyed by the list's path as written.
    indices: HashMap<String, Vec<usize>>,
    /// Paths (as written) of every mapping or list that lost a member.
    containers: Vec<String>,
}

impl Cuts {
    /// `current` (indices into the cut tree) with the indices the document was written with.
    fn as_written(&self, current: &[Step]) -> Vec<Step> {
        let mut out = Vec::with_capacity(current.len());
        for step in current {
            let step = match step {
                Step::Index(i) => match self.indices.get(&display(&out)) {
                    Some(cut) => Step::Index(nth_kept(*i, cut)),
                    None => Step::Index(*i),
                },
                other => other.clone(),
            };
            out.push(step);
        }
        out
    }

    /// Whether an error at `field` may be an effect of a cut rather than of the document.
    fn may_have_caused(&self, field: &str, message: &str) -> bool {
        if message.starts_with("missing field `") {
            // Not the ancestors: a mapping misses a field only for what was cut from it.
            return self.containers.iter().any(|c| c == field);
        }
        self.containers
            .iter()
            .any(|container| is_ancestor_or_self(field, container))
    }

    /// Cuts the node an error at `current` is about. An enum's tag is cut with its whole
    /// `{tag: body}` mapping (a mapping without its one key is another error), and a path
    /// through an unnamed step is cut where it can still be followed. False when there is
    /// nothing left to cut: the error is about the document itself.
    fn cut(&mut self, value: &mut Value, current: &[Step], original: &[Step]) -> bool {
        let mut len = current
            .iter()
            .position(|s| *s == Step::Unknown)
            .unwrap_or(current.len());
        if matches!(current[..len].last(), Some(Step::Variant(_))) {
            len -= 1;
        }
        let Some((last, parent)) = current[..len].split_last() else {
            return false;
        };
        let Some(last_written) = original.get(parent.len()) else {
            return false;
        };
        let Some(container) = navigate(value, parent) else {
            return false;
        };
        let container_path = display(&original[..parent.len()]);
        let cut = match (container, last, last_written) {
            (Value::Object(map), Step::Key(key) | Step::Variant(key), _) => {
                map.shift_remove(key).is_some()
            }
            (Value::Array(items), Step::Index(i), Step::Index(written)) if *i < items.len() => {
                items.remove(*i);
                let cut = self.indices.entry(container_path.clone()).or_default();
                let at = cut.partition_point(|c| c < written);
                cut.insert(at, *written);
                true
            }
            _ => false,
        };
        if cut {
            self.containers.push(container_path);
        }
        cut
    }
}

/// The index, as written, of the `current`-th element left after cutting `cut` (sorted).
fn nth_kept(current: usize, cut: &[usize]) -> usize {
    let mut index = current;
    for c in cut {
        if *c <= index {
            index += 1;
        } else {
            break;
        }
    }
    index
}

fn navigate<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps
        .iter()
        .try_fold(value, |node, step| match (node, step) {
            (Value::Object(map), Step::Key(key) | Step::Variant(key)) => map.get_mut(key),
            (Value::Array(items), Step::Index(i)) => items.get_mut(*i),
            _ => None,
        })
}

/// Whether `path` is `node` or one of its ancestors (the root, `""`, is everyone's).
fn is_ancestor_or_self(path: &str, node: &str) -> bool {
    path.is_empty()
        || node
            .strip_prefix(path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests;
