//! Rendering without a cluster: `ferry-operator render PATH...` runs the operator's own
//! pipeline (groups, admission, rendering) on YAML files and prints the Kubernetes objects
//! it would apply, so a GitOps pipeline can review them, or apply them where no operator
//! runs. Objects carry no owner references (there are no owners yet).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kube::api::DynamicObject;
use serde_json::{Value, json};

use crate::admission::admit;
use crate::config::OperatorConfig;
use crate::group::{Artifact, collect};
use crate::render::{Keda, Owner, render};

/// What rendering files produced.
#[derive(Debug, Default)]
pub struct Offline {
    /// Every object, as a YAML stream (`---` before each document).
    pub yaml: String,
    /// What was refused or could not be read, one line each.
    pub problems: Vec<String>,
}

/// Renders the ferry.dev resources in `paths` as if applied to `namespace` (documents that
/// name a namespace keep it).
pub fn render_files(paths: &[PathBuf], namespace: &str, config: &OperatorConfig) -> Offline {
    let mut out = Offline::default();
    let (sources, diagnostics) = ferry_api::bundle::read_sources(paths);
    out.problems
        .extend(diagnostics.iter().map(ToString::to_string));
    let mut artifacts = Vec::new();
    for source in &sources {
        // A syntax error breaks only its own document: the others of the file still render.
        let parsed = ferry_api::bundle::yaml::parse_all(&source.text);
        for broken in &parsed.broken {
            out.problems.push(format!(
                "{}:{}: invalid YAML: {}",
                source.name, broken.error.line, broken.error.message
            ));
        }
        for doc in parsed.documents {
            let mut value = doc.value;
            let ours = value["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("ferry.dev/"));
            // A TestSuite is a local document for `ferry test`, never applied to a cluster.
            if !ours || value["kind"] == "TestSuite" {
                continue;
            }
            if value["metadata"]["namespace"].is_null()
                && let Some(meta) = value["metadata"].as_object_mut()
            {
                meta.insert("namespace".into(), json!(namespace));
            }
            let object: Result<DynamicObject, _> = serde_json::from_value(value);
            match object.ok().as_ref().and_then(Artifact::from_object) {
                Some(artifact) => artifacts.push(artifact),
                None => out.problems.push(format!(
                    "{}:{}: not a ferry.dev resource with a kind and a name",
                    source.name, doc.line
                )),
            }
        }
    }
    for group in collect(artifacts).values() {
        let admission = admit(group, &config.defaults);
        for (id, why) in &admission.rejected {
            out.problems
                .push(format!("group {}: {id}: {why}", group.key));
        }
        let spec = match &admission.spec {
            Ok(spec) => spec,
            Err(why) => {
                out.problems.push(format!(
                    "group {}: IntegrationRuntime/{}: {why}",
                    group.key, group.key.name
                ));
                continue;
            }
        };
        let owners: Vec<Owner> = Vec::new();
        // Offline there is no API server to ask: a group that asks for queue scaling gets
        // its ScaledObject, as in a cluster with KEDA.
        match render(&group.key, spec, &admission.accepted, &owners, Keda::Served) {
            Ok(r) => {
                let mut objects: Vec<Value> = vec![to_value(&r.config_map)];
                // A sidecar group owns only its bundle: the webhook injects the runtime.
                if spec.mode != ferry_api::resources::RuntimeMode::Sidecar {
                    objects.extend([
                        to_value(&r.service_account),
                        to_value(&r.role),
                        to_value(&r.role_binding),
                        to_value(&r.service),
                        to_value(&r.deployment),
                    ]);
                    objects.extend(r.hpa.as_ref().map(to_value));
                    objects.extend(r.pdb.as_ref().map(to_value));
                    objects.extend(r.trigger_authentication.as_ref().map(to_value));
                    objects.extend(r.scaled_object.as_ref().map(to_value));
                }
                for object in objects {
                    out.yaml.push_str("---\n");
                    ferry_api::yaml_writer::document(&mut out.yaml, &without_empty_owners(object));
                }
            }
            Err(e) => out.problems.push(format!("group {}: {e}", group.key)),
        }
    }
    out
}

fn to_value(object: &impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn without_empty_owners(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
        && meta
            .get("ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        meta.remove("ownerReferences");
    }
    object
}

/// Kinds and names of a rendered stream, for tests and summaries.
pub fn summary(yaml: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(docs) = ferry_api::bundle::yaml::parse_documents(yaml) {
        for doc in docs {
            let kind = doc.value["kind"].as_str().unwrap_or_default().to_string();
            let name = doc.value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            out.entry(kind).or_default().push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_sample_renders_only_its_bundle() {
        let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config/kubernetes/sidecar/greeting.yaml");
        let out = render_files(&[sample], "demo", &OperatorConfig::default());
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let objects = summary(&out.yaml);
        assert_eq!(
            objects.keys().collect::<Vec<_>>(),
            ["ConfigMap"],
            "{objects:?}"
        );
        assert_eq!(objects["ConfigMap"], ["ferry-greeting-bundle"]);
    }
}
