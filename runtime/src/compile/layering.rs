//! The compile layers stay apart: no file that the build context (`compile/cx.rs`) or the
//! orchestrator (`compile/mod.rs`) imports imports them back, directly or through others.
//! When a file is both the thing components import and the thing that walks them, the
//! import graph turns into one circle; this test says which path closes one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file a `crate::a::b::C` path lives in: the longest module prefix that has a file.
fn module_file(src: &Path, parts: &[&str], files: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    (1..=parts.len()).rev().find_map(|n| {
        let base = parts[..n]
            .iter()
            .fold(src.to_path_buf(), |p, part| p.join(part));
        [base.with_extension("rs"), base.join("mod.rs")]
            .into_iter()
            .find(|f| files.contains(f))
    })
}

/// What each non-test file imports from the crate (`use crate::...` and `crate::x::Type`).
fn imports(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut list = Vec::new();
    source_files(src, &mut list);
    let files: BTreeSet<PathBuf> = list.iter().cloned().collect();
    let mut graph = BTreeMap::new();
    for file in &list {
        let name = file.to_string_lossy();
        if name.ends_with("tests.rs") || name.contains("/tests/") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let text: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut deps = BTreeSet::new();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
                .unwrap_or(rest.len());
            let path = &rest[..end];
            // `crate::a::{b, c}`: each item, else the path itself.
            let (head, group) = match path.split_once("::{") {
                Some((head, _)) => {
                    let close = rest.find('}').unwrap_or(rest.len());
                    (head, Some(&rest[head.len() + 3..close]))
                }
                None => (path.trim_end_matches("::"), None),
            };
            let base: Vec<&str> = head.split("::").filter(|p| !p.is_empty()).collect();
            let mut targets = vec![base.clone()];
            if let Some(group) = group {
                targets = group
                    .split(',')
                    .map(|item| item.trim().split(" as ").next().unwrap_or_default())
                    .filter(|item| !item.is_empty())
                    .map(|item| {
                        let mut parts = base.clone();
                        if item != "self" {
                            parts.extend(item.split("::"));
                        }
                        parts
                    })
                    .collect();
            }
            for parts in targets {
                if let Some(dep) = module_file(src, &parts, &files)
                    && dep != *file
                {
                    deps.insert(dep);
                }
            }
        }
        graph.insert(file.clone(), deps);
    }
    graph
}

/// A path from `from` back to `to`, if the graph has one.
fn path_between(
    graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    from: &Path,
    to: &Path,
) -> Option<Vec<PathBuf>> {
    let mut queue = VecDeque::from([vec![from.to_path_buf()]]);
    let mut seen = BTreeSet::from([from.to_path_buf()]);
    while let Some(path) = queue.pop_front() {
        let last = path.last()?;
        for next in graph.get(last).into_iter().flatten() {
            if next == to {
                let mut found = path.clone();
                found.push(next.clone());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                queue.push_back(longer);
            }
        }
    }
    None
}

#[test]
fn no_import_cycle_runs_through_the_build_context_or_the_orchestrator() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&src);
    assert!(graph.len() > 50, "the source files were found");
    for layer in ["compile/cx.rs", "compile/mod.rs"] {
        let layer = src.join(layer);
        for dep in graph.get(&layer).into_iter().flatten() {
            if let Some(cycle) = path_between(&graph, dep, &layer) {
                let names: Vec<String> = std::iter::once(&layer)
                    .chain(&cycle)
                    .map(|p| p.strip_prefix(&src).unwrap_or(p).display().to_string())
                    .collect();
                panic!("import cycle: {}", names.join(" -> "));
            }
        }
    }
}
