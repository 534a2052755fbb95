//! Sidecar mode: what the admission webhook injects into an application pod that an
//! IntegrationRuntime in mode `sidecar` selects. Pure — the decision and the JSON Patch
//! are functions of the pod and the namespace's sidecar groups — so every case is a unit
//! test and the webhook only carries bytes.
//!
//! The runtime goes in as a native sidecar (an init container with `restartPolicy:
//! Always`, Kubernetes 1.29+): it starts before the application's containers and init
//! containers that come after it, stays up beside them, and does not keep a finished Job
//! pod alive. The application reaches it on `localhost:<httpPort>`.

use std::collections::BTreeMap;

use ferry_api::resources::{IntegrationRuntimeSpec, RuntimeMode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use crate::admission::admit;
use crate::group::{Group, GroupKey};
use crate::render::{self, ContainerSecurity, GROUP_LABEL, MAX_BUNDLE_BYTES, PodNames};

/// Pod annotation that opts a pod out (`"false"`) of injection.
pub const INJECT_ANNOTATION: &str = "ferry.dev/inject";
/// Pod label naming the group whose sidecar a pod carries: the operator watches and
/// counts pods by it.
pub const SIDECAR_LABEL: &str = "ferry.dev/sidecar";
/// Pod annotation with the bundle hash the sidecar was injected with.
pub const SIDECAR_HASH_ANNOTATION: &str = "ferry.dev/sidecar-config-hash";
/// The injected container's name.
pub const CONTAINER: &str = "ferry";

/// What one sidecar group injects.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The group (its IntegrationRuntime's name and namespace).
    pub key: GroupKey,
    /// Which pods of the namespace get it.
    pub selector: LabelSelector,
    /// The hash of the bundle the sidecar will load.
    pub config_hash: String,
    /// The native sidecar container.
    pub container: Value,
    /// The volumes it mounts.
    pub volumes: Value,
    /// Secrets to pull the runtime image with.
    pub image_pull_secrets: Value,
}

/// The plan of a group whose IntegrationRuntime is in mode `sidecar` and accepted; `None`
/// for any other group (no IntegrationRuntime, mode `deployment`, refused, or a bundle
/// too large to render: the group's status says why, and no pod gets a sidecar that could
/// not start).
pub fn plan(group: &Group, defaults: &IntegrationRuntimeSpec) -> Option<Plan> {
    group.runtime.as_ref()?;
    let admission = admit(group, defaults);
    let spec = admission.spec.as_ref().ok()?;
    if spec.mode != RuntimeMode::Sidecar {
        return None;
    }
    let (data, config_hash) = render::bundle(&admission.accepted);
    let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_BUNDLE_BYTES {
        return None;
    }
    let mut container = render::runtime_container(
        &group.key.name,
        spec,
        &admission.accepted,
        &PodNames::SIDECAR,
        None,
        ContainerSecurity::ContainerSets,
    );
    container["restartPolicy"] = json!("Always");
    Some(Plan {
        key: group.key.clone(),
        selector: selector(spec, &group.key.name),
        config_hash,
        container,
        volumes: render::runtime_volumes(&group.key.name, spec, &PodNames::SIDECAR),
        image_pull_secrets: json!(spec.image_pull_secrets),
    })
}

/// The pods a sidecar group selects: `sidecar.selector`, or pods labelled
/// `ferry.dev/runtime: <group>`.
pub fn selector(spec: &IntegrationRuntimeSpec, group: &str) -> LabelSelector {
    spec.sidecar
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_else(|| LabelSelector {
            match_labels: Some(BTreeMap::from([(GROUP_LABEL.into(), group.into())])),
            match_expressions: None,
        })
}

/// Whether labels match a selector, as Kubernetes matches them (an empty selector matches
/// every pod; an operator it does not know matches none).
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// What the webhook does with a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Admit it unchanged, for this reason (logged at debug level).
    Leave(&'static str),
    /// Admit it with this JSON Patch (RFC 6902), with warnings for the client.
    Inject {
        /// The group injected.
        key: GroupKey,
        /// The operations.
        patch: Value,
        /// Told to whoever created the pod (`kubectl` prints them).
        warnings: Vec<String>,
    },
}

/// Decides for a pod of the namespace the plans belong to. At most one sidecar goes in: two
/// runtimes would both listen on their ports in one network namespace; the first group by
/// name wins and the creator is warned about the others.
pub fn decide(pod: &Value, plans: &[Plan]) -> Decision {
    let metadata = &pod["metadata"];
    let text_map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let labels = text_map(&metadata["labels"]);
    let annotations = text_map(&metadata["annotations"]);
    if annotations
        .get(INJECT_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    {
        return Decision::Leave("the pod opts out (ferry.dev/inject: \"false\")");
    }
    let spec = &pod["spec"];
    let named_ferry = |list: &str| {
        spec[list]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == CONTAINER))
    };
    if labels.contains_key(SIDECAR_LABEL)
        || named_ferry("initContainers")
        || named_ferry("containers")
    {
        return Decision::Leave("the pod already carries a ferry container");
    }
    let mut selecting = plans.iter().filter(|p| matches(&p.selector, &labels));
    let Some(plan) = selecting.next() else {
        return Decision::Leave("no sidecar IntegrationRuntime of the namespace selects the pod");
    };
    let warnings = selecting
        .map(|other| {
            format!(
                "IntegrationRuntime {} also selects this pod; only {} was injected",
                other.key.name, plan.key.name
            )
        })
        .collect();
    Decision::Inject {
        key: plan.key.clone(),
        patch: patch(pod, plan),
        warnings,
    }
}

/// The JSON Patch that adds the plan's sidecar, volumes, label and annotation to the pod.
fn patch(pod: &Value, plan: &Plan) -> Value {
    let spec = &pod["spec"];
    let mut ops = Vec::new();
    // First among the init containers, so later init containers can already use it.
    if spec["initContainers"].as_array().is_some() {
        ops.push(json!({"op": "add", "path": "/spec/initContainers/0", "value": plan.container}));
    } else {
        ops.push(json!({"op": "add", "path": "/spec/initContainers", "value": [plan.container]}));
    }
    append(&mut ops, spec, "volumes", &plan.volumes);
    append(&mut ops, spec, "imagePullSecrets", &plan.image_pull_secrets);
    let metadata = &pod["metadata"];
    set(&mut ops, metadata, "labels", SIDECAR_LABEL, &plan.key.name);
    set(
        &mut ops,
        metadata,
        "annotations",
        SIDECAR_HASH_ANNOTATION,
        &plan.config_hash,
    );
    Value::Array(ops)
}

/// Adds items to a list of the pod spec, creating the list when the pod has none.
fn append(ops: &mut Vec<Value>, spec: &Value, list: &str, items: &Value) {
    let Some(items) = items.as_array().filter(|i| !i.is_empty()) else {
        return;
    };
    if spec[list].as_array().is_some() {
        for item in items {
            ops.push(json!({"op": "add", "path": format!("/spec/{list}/-"), "value": item}));
        }
    } else {
        ops.push(json!({"op": "add", "path": format!("/spec/{list}"), "value": items}));
    }
}

/// Sets one key of a metadata map, creating the map when the pod has none.
fn set(ops: &mut Vec<Value>, metadata: &Value, map: &str, key: &str, value: &str) {
    if metadata[map].as_object().is_some() {
        // RFC 6901: '/' in a key is written "~1" ('~' first, as "~0").
        let escaped = key.replace('~', "~0").replace('/', "~1");
        ops.push(
            json!({"op": "add", "path": format!("/metadata/{map}/{escaped}"), "value": value}),
        );
    } else {
        ops.push(json!({"op": "add", "path": format!("/metadata/{map}"), "value": {key: value}}));
    }
}

/// Sidecar pods of a group, as counted for its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    /// Pods carrying the group's sidecar.
    pub pods: i32,
    /// Of those, pods injected with the current bundle.
    pub current: i32,
    /// Of those, pods whose sidecar passes its readiness probe.
    pub ready: i32,
}

/// Counts the pods (as listed by the `ferry.dev/sidecar=<group>` label) against the
/// group's current bundle hash. Pods on their way out (deleted, or finished) do not count.
pub fn census(pods: &[Value], config_hash: &str) -> Census {
    let mut census = Census::default();
    for pod in pods {
        let phase = pod["status"]["phase"].as_str().unwrap_or_default();
        if !pod["metadata"]["deletionTimestamp"].is_null()
            || phase == "Succeeded"
            || phase == "Failed"
        {
            continue;
        }
        census.pods += 1;
        if pod["metadata"]["annotations"][SIDECAR_HASH_ANNOTATION] == config_hash {
            census.current += 1;
        }
        let ready = pod["status"]["initContainerStatuses"]
            .as_array()
            .is_some_and(|s| {
                s.iter()
                    .any(|c| c["name"] == CONTAINER && c["ready"] == true)
            });
        if ready {
            census.ready += 1;
        }
    }
    census
}

#[cfg(test)]
mod tests;
