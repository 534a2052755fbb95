//! Broken variants of a configuration, for the tests that hold the checker to its promise:
//! whatever it accepts, the runtime builds, and the operator admits exactly what it accepts.
//!
//! Each variant changes one field of one resource: a string blanked or pointed at a name
//! nothing defines, a number set to 0, -1 or a huge value, a flag flipped, a list emptied, a
//! field removed, a resource renamed (so what refers to it dangles). Variants that no longer
//! deserialise are left out: the loader refuses those before any check runs, for every
//! caller alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::bundle::{Bundle, Loaded, Origin, yaml};
use crate::resources::Resource;

/// A resource document: its kind and its whole value.
pub type Document = (String, Value);

/// The `ferry.dev` resources of a YAML text, in order (others, such as behaviour-test
/// documents and the TestSuites `ferry test` reads, are skipped).
pub fn documents(text: &str) -> Vec<Document> {
    let Ok(docs) = yaml::parse_documents(text) else {
        return Vec::new();
    };
    docs.into_iter()
        .filter(|d| {
            d.value
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("ferry.dev/"))
        })
        .filter_map(|d| {
            let kind = d.value.get("kind")?.as_str()?.to_string();
            (kind != crate::resources::test_suite::TEST_SUITE_KIND).then_some((kind, d.value))
        })
        .collect()
}

/// The bundle of `docs`, or `None` when one does not deserialise.
pub fn bundle(docs: &[Document]) -> Option<Bundle> {
    let mut resources = Vec::with_capacity(docs.len());
    for (i, (kind, value)) in docs.iter().enumerate() {
        let resource = Resource::from_value(kind, value.clone()).ok()?;
        resources.push(Loaded {
            resource,
            origin: Origin::synthetic(&format!("doc{i}")),
        });
    }
    Some(Bundle {
        resources,
        unreadable: Vec::new(),
        files: Default::default(),
    })
}

/// Every one-field variant of `docs` that still deserialises, as a bundle, with a
/// description (`doc 3 IntegrationAPI spec.resources[0].inSequence[1].call.endpoint.key
/// Set(String("dangling"))`).
pub fn variants(docs: &[Document]) -> Vec<(String, Bundle)> {
    variant_documents(docs)
        .into_iter()
        .filter_map(|(what, docs)| Some((what, bundle(&docs)?)))
        .collect()
}

/// Every one-field variant of `docs`, as documents (some may not deserialise).
pub fn variant_documents(docs: &[Document]) -> Vec<(String, Vec<Document>)> {
    let mut out = Vec::new();
    for (i, (kind, value)) in docs.iter().enumerate() {
        let mut edits = Vec::new();
        if let Some(spec) = value.get("spec") {
            mutations(spec, "spec", &mut edits);
        }
        edits.push((
            "metadata.name".to_string(),
            Edit::Set(Value::from("renamed")),
        ));
        for (path, edit) in edits {
            let mut changed = value.clone();
            if !apply(&mut changed, &path, &edit) {
                continue;
            }
            let mut variant = docs.to_vec();
            variant[i] = (kind.clone(), changed);
            out.push((format!("doc {i} {kind} {path} {edit:?}"), variant));
        }
    }
    out
}

/// One change to one field.
#[derive(Debug, Clone)]
enum Edit {
    Set(Value),
    Remove,
}

fn mutations(value: &Value, path: &str, out: &mut Vec<(String, Edit)>) {
    match value {
        Value::String(_) => {
            for s in ["", "dangling", "${payload.a +}", "("] {
                out.push((path.to_string(), Edit::Set(Value::from(s))));
            }
        }
        Value::Number(_) => {
            for n in [0i64, -1, 4_000_000_000] {
                out.push((path.to_string(), Edit::Set(Value::from(n))));
            }
        }
        Value::Bool(b) => out.push((path.to_string(), Edit::Set(Value::Bool(!b)))),
        Value::Array(items) => {
            out.push((path.to_string(), Edit::Set(Value::Array(Vec::new()))));
            for (i, item) in items.iter().enumerate() {
                mutations(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{path}.{k}");
                out.push((p.clone(), Edit::Remove));
                mutations(v, &p, out);
            }
            out.push((
                path.to_string(),
                Edit::Set(Value::Object(Default::default())),
            ));
        }
        Value::Null => {}
    }
}

/// Applies `edit` at `path` (`spec.a[0].b`); false when the path is not there.
fn apply(value: &mut Value, path: &str, edit: &Edit) -> bool {
    let steps = steps(path);
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut cur = value;
    for step in parents {
        let next = match step {
            Step::Key(k) => cur.get_mut(k.as_str()),
            Step::Index(i) => cur.get_mut(*i),
        };
        let Some(next) = next else {
            return false;
        };
        cur = next;
    }
    match (last, edit) {
        (Step::Key(k), Edit::Remove) => cur
            .as_object_mut()
            .is_some_and(|m| m.remove(k.as_str()).is_some()),
        (Step::Key(k), Edit::Set(v)) => match cur.get_mut(k.as_str()) {
            Some(slot) => {
                *slot = v.clone();
                true
            }
            None => false,
        },
        (Step::Index(i), Edit::Set(v)) => match cur.get_mut(*i) {
            Some(slot) => {
                *slot = v.clone();
                true
            }
            None => false,
        },
        (Step::Index(_), Edit::Remove) => false,
    }
}

enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Step::Key(key.to_string()));
        }
        for index in rest.split('[') {
            if let Some(n) = index.strip_suffix(']').and_then(|n| n.parse().ok()) {
                out.push(Step::Index(n));
            }
        }
    }
    out
}

/// One mediator of each kind the registry declares, in declaration order, each with the
/// fewest fields its spec needs to deserialise.
pub fn one_of_each_mediator() -> Value {
    json!([
        {"log": {}}, {"property": {"name": "a", "value": "1"}}, {"propertyGroup": {"properties": []}},
        {"variable": {"name": "v", "value": "1"}}, {"header": {"name": "h", "value": "1"}},
        {"filter": {"expression": "${true}"}}, {"switch": {"source": "${var.x}"}},
        {"payloadFactory": {"format": "{}"}}, {"enrich": {"source": {}, "target": {}}},
        {"call": {}}, {"send": {}}, {"respond": {}}, {"drop": {}}, {"loopback": {}},
        {"sequence": {"key": "s"}}, {"callTemplate": {"target": "t"}},
        {"store": {"messageStore": "m"}}, {"throwError": {"errorMessage": "e"}},
        {"clone": {"targets": []}}, {"iterate": {"expression": "$.a", "target": {}}},
        {"aggregate": {"onComplete": {"expression": "$.a"}}}, {"foreach": {"collection": "${payload.a}", "sequence": []}},
        {"scatterGather": {"aggregation": {"expression": "${payload}"}, "sequences": []}},
        {"callout": {"serviceUrl": "http://x"}}, {"throttle": {"id": "t"}}, {"cache": {}},
        {"validate": {"schemas": ["le"], "onFail": []}}, {"xslt": {"key": "k"}}, {"xquery": {"key": "k"}},
        {"script": {"inline": "1"}}, {"datamapper": {"config": "c", "inputSchema": "i", "outputSchema": "o"}},
        {"jsonTransform": {}}, {"dbLookup": {"connection": {}, "statements": []}},
        {"dbReport": {"connection": {}, "statements": []}}, {"makefault": {}},
        {"rewrite": {"rules": []}}
    ])
}

/// The base configurations of the workspace at `root`: each sample folder, each
/// behaviour-test file, the benchmark APIs.
pub fn bases(root: &Path) -> Vec<(String, Vec<Document>)> {
    let mut out = Vec::new();
    let samples = root.join("config/samples");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&samples)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    folders.sort();
    for folder in folders {
        let files = if folder.is_dir() {
            yaml_files(&folder)
        } else {
            vec![folder.clone()]
        };
        let docs = files
            .iter()
            .flat_map(|f| documents(&std::fs::read_to_string(f).unwrap_or_default()))
            .collect();
        out.push((folder.display().to_string(), docs));
    }
    for file in yaml_files(&root.join("tests/behavior")) {
        let docs = documents(&std::fs::read_to_string(&file).unwrap_or_default());
        out.push((file.display().to_string(), docs));
    }
    let bench: Vec<Document> = yaml_files(&root.join("tests/bench/apis"))
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(f).unwrap_or_default()))
        .collect();
    out.push(("tests/bench/apis".into(), bench));
    out
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The configuration keys the bases read (`${config.x}`), each set, as the behaviour
/// runner and the benchmark set them.
pub fn config(bases: &[(String, Vec<Document>)]) -> HashMap<String, String> {
    let mut keys = HashMap::new();
    for (_, docs) in bases {
        for (_, value) in docs {
            let text = value.to_string();
            for piece in text.split("${config.").skip(1) {
                if let Some(key) = piece.split('}').next() {
                    keys.insert(key.to_string(), "1".to_string());
                }
            }
        }
    }
    keys
}

/// A configuration holding the resources of every kind and every mediator the registry
/// declares (those the runtime does not run yet included: they must be refused alike).
pub fn every_kind_and_mediator() -> Vec<Document> {
    let mediators = one_of_each_mediator();
    let mut docs: Vec<Document> = vec![
        (
            "IntegrationRuntime".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1",
            "kind": "IntegrationRuntime", "metadata": {"name": "default"}, "spec": {}}),
        ),
        (
            "MessageStore".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1",
            "kind": "MessageStore", "metadata": {"name": "m"}, "spec": {"type": "memory"}}),
        ),
        (
            "Endpoint".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Endpoint",
            "metadata": {"name": "e"}, "spec": {"http": {"uriTemplate": "http://127.0.0.1:9/"}}}),
        ),
        (
            "Sequence".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence",
            "metadata": {"name": "s"}, "spec": {"mediators": [{"log": {}}]}}),
        ),
        (
            "MessageProcessor".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1",
            "kind": "MessageProcessor", "metadata": {"name": "p"},
            "spec": {"type": "forwarding", "messageStore": "m", "targetEndpoint": "e"}}),
        ),
        (
            "ScheduledTask".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1",
            "kind": "ScheduledTask", "metadata": {"name": "t"},
            "spec": {"trigger": {"interval": 1000}, "inject": {"sequence": "s"}}}),
        ),
        (
            "LocalEntry".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "LocalEntry",
            "metadata": {"name": "le"}, "spec": {"json": {"type": "object"}}}),
        ),
        (
            "Template".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Template",
            "metadata": {"name": "t"}, "spec": {"mediators": [{"log": {}}]}}),
        ),
    ];
    for (i, mediator) in mediators.as_array().into_iter().flatten().enumerate() {
        docs.push((
            "Sequence".into(),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence",
                "metadata": {"name": format!("one-{i}")}, "spec": {"mediators": [mediator]}}),
        ));
    }
    docs
}
