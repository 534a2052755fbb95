//! Admission: which artifacts of a group go into its bundle. Each artifact is read and
//! judged by the checker `ferry validate` and `ferry run` use (`ferry_api::check`, with the
//! configuration keys a runtime in Kubernetes has); one that fails is left out with its
//! located message (for its `Accepted` condition), and the rest of the group keeps running.
//! Leaving one out can break another that refers to it, so checking repeats until what
//! remains is consistent: the runtime never receives a bundle its checker would refuse (the
//! runtime builds from that same checker's verdict; only what depends on the pod — a secret
//! that is not mounted, a store that cannot open — can still stop it).

use std::collections::BTreeMap;

use ferry_api::bundle::{Bundle, Loaded, Origin};
use ferry_api::resources::{IntegrationRuntimeSpec, Resource, RuntimeMode, SecretMount};

use crate::group::{Artifact, Group};

/// Condition messages are capped by the API server (32 KiB); ours stay readable.
const MAX_MESSAGE: usize = 2000;

/// Kinds that run once per group (one replica holds the group's Lease). A sidecar group has
/// no replicas that could elect one: each application pod runs its own runtime.
const ONCE_PER_GROUP: &[&str] = &["ScheduledTask", "MessageProcessor"];

/// Whether the artifact runs on one replica of its group only: the kinds of
/// [`ONCE_PER_GROUP`], and inbound endpoints that poll (a directory) or subscribe to MQTT
/// without a shared subscription.
fn runs_once_per_group(artifact: &Artifact) -> bool {
    if ONCE_PER_GROUP.contains(&artifact.kind) {
        return true;
    }
    if artifact.kind != "InboundEndpoint" {
        return false;
    }
    // The whole spec when it reads (an MQTT subscription runs everywhere when shared),
    // else the protocol alone.
    if let Some(spec) = artifact.document.pointer("/spec").and_then(|s| {
        serde_json::from_value::<ferry_api::resources::InboundEndpointSpec>(s.clone()).ok()
    }) {
        return spec.once_per_group();
    }
    artifact
        .document
        .pointer("/spec/protocol")
        .and_then(serde_json::Value::as_str)
        .and_then(|p| {
            serde_json::from_value::<ferry_api::resources::InboundProtocol>(p.into()).ok()
        })
        .is_some_and(|p| p.once_per_group())
}

/// The outcome of admitting one group.
#[derive(Debug)]
pub struct Admission<'g> {
    /// The group's runtime settings (its IntegrationRuntime's, completed from the
    /// operator's defaults, or the defaults), or why its IntegrationRuntime was refused:
    /// then nothing of the group is changed, so a broken runtime never replaces a working
    /// one.
    pub spec: Result<IntegrationRuntimeSpec, String>,
    /// Artifacts that go into the bundle, in bundle order.
    pub accepted: Vec<&'g Artifact>,
    /// Why each refused artifact was refused, by `Kind/name`.
    pub rejected: BTreeMap<String, String>,
}

impl Admission<'_> {
    /// Why the artifact was refused; `None` when it was accepted.
    pub fn rejection(&self, artifact: &Artifact) -> Option<&str> {
        if artifact.kind == "IntegrationRuntime" {
            return self.spec.as_ref().err().map(String::as_str);
        }
        self.rejected.get(&artifact.id()).map(String::as_str)
    }
}

/// Validates a group's objects against each other.
pub fn admit<'g>(group: &'g Group, defaults: &IntegrationRuntimeSpec) -> Admission<'g> {
    let spec = match &group.runtime {
        None => Ok(defaults.clone()),
        Some(runtime) => runtime_spec(runtime, defaults),
    };
    let mut rejected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let group_problem = ferry_api::check::runtime::group_name_problem(&group.key.name);
    let mut candidates: Vec<(&Artifact, Resource)> = Vec::new();
    let sidecar = spec.as_ref().is_ok_and(|s| s.mode == RuntimeMode::Sidecar);
    for artifact in &group.artifacts {
        if sidecar && runs_once_per_group(artifact) {
            rejected.entry(artifact.id()).or_default().push(format!(
                "spec.runtime: group {} runs in sidecar mode, one runtime per application pod, so a {} would run in every pod; put it in a group in deployment mode",
                group.key.name, artifact.kind
            ));
            continue;
        }
        if let Some(problem) = &group_problem {
            rejected
                .entry(artifact.id())
                .or_default()
                .push(problem.clone());
            continue;
        }
        let mounts = spec.as_ref().map_or(&[][..], |s| &s.secret_mounts[..]);
        let unmounted = unmounted_files(&artifact.document, mounts);
        if !unmounted.is_empty() {
            rejected.entry(artifact.id()).or_default().extend(unmounted);
            continue;
        }
        match Resource::from_value(artifact.kind, artifact.document.clone()) {
            Ok(resource) => candidates.push((artifact, resource)),
            Err(e) => rejected.entry(artifact.id()).or_default().push(format!(
                "{}: {}",
                e.path(),
                e.inner()
            )),
        }
    }
    loop {
        let bundle = Bundle {
            resources: candidates
                .iter()
                .map(|(artifact, resource)| Loaded {
                    resource: resource.clone(),
                    origin: Origin::synthetic(&artifact.id()),
                })
                .collect(),
            unreadable: Vec::new(),
            // The operator has no files: a LocalEntry's `file` source is refused.
            files: Default::default(),
        };
        let mut refused_now = Vec::new();
        for d in ferry_api::validate::validate(&bundle) {
            if !d.is_error() {
                continue;
            }
            let id = d.resource.clone().unwrap_or_default();
            let mut message = d.without_location();
            let names_refused = rejected.keys().any(|id| {
                id.split_once('/').is_some_and(|(_, name)| {
                    message.contains(&format!("\"{name}\" is not defined"))
                })
            });
            if names_refused {
                message.push_str(" (it exists but was not accepted: see its status)");
            }
            rejected.entry(id.clone()).or_default().push(message);
            refused_now.push(id);
        }
        if refused_now.is_empty() {
            break;
        }
        candidates.retain(|(artifact, _)| !refused_now.contains(&artifact.id()));
    }
    Admission {
        spec,
        accepted: candidates
            .into_iter()
            .map(|(artifact, _)| artifact)
            .collect(),
        rejected: rejected
            .into_iter()
            .map(|(id, messages)| (id, cap(messages.join("; "))))
            .collect(),
    }
}

/// Fields whose value is a path the runtime reads a file from.
const FILE_FIELDS: &[&str] = &["keyFile", "usersFile", "keysFile", "caFile"];

/// Files an artifact names that the runtime's pod will not have. Locally `ferry run` reads
/// them beside the YAML; in a cluster the bundle is a ConfigMap of resources only, so such
/// a file must come from a Secret the IntegrationRuntime mounts (`secretMounts`), named by
/// an absolute path inside the mount. Refused here rather than failing in every pod.
fn unmounted_files(document: &serde_json::Value, mounts: &[SecretMount]) -> Vec<String> {
    fn walk(value: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    let here = format!("{path}.{key}");
                    match v.as_str() {
                        Some(file) if FILE_FIELDS.contains(&key.as_str()) => {
                            out.push((here, file.to_string()));
                        }
                        _ => walk(v, &here, out),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut files = Vec::new();
    walk(&document["spec"], "spec", &mut files);
    files
        .into_iter()
        .filter_map(|(field, file)| {
            let inside = std::path::Path::new(&file).is_absolute()
                && mounts
                    .iter()
                    .any(|m| std::path::Path::new(&file).starts_with(&m.mount_path));
            (!inside).then(|| {
                let mounted: Vec<&str> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
                let mounted = if mounted.is_empty() {
                    "it mounts none".to_string()
                } else {
                    format!("it mounts {}", mounted.join(", "))
                };
                format!(
                    "{field}: {file:?} is not a file the runtime's pod has: in a cluster a file must come from a Secret in the IntegrationRuntime's secretMounts, named by its absolute path ({mounted}), or use the matching *From field with a secretKeyRef"
                )
            })
        })
        .collect()
}

/// The IntegrationRuntime's settings with the operator's defaults for what it leaves out.
fn runtime_spec(
    runtime: &Artifact,
    defaults: &IntegrationRuntimeSpec,
) -> Result<IntegrationRuntimeSpec, String> {
    let resource = Resource::from_value(runtime.kind, runtime.document.clone())
        .map_err(|e| cap(format!("{}: {}", e.path(), e.inner())))?;
    let Resource::IntegrationRuntime(runtime) = resource else {
        return Err("not an IntegrationRuntime".into());
    };
    let mut spec = runtime.spec;
    let problems = ferry_api::check::runtime::problems(&spec);
    if !problems.is_empty() {
        return Err(cap(problems.join("; ")));
    }
    if spec.image.is_none() {
        spec.image.clone_from(&defaults.image);
    }
    if spec.image_pull_policy.is_none() {
        spec.image_pull_policy = defaults.image_pull_policy;
    }
    if spec.resources.is_none() {
        spec.resources.clone_from(&defaults.resources);
    }
    if spec.image_pull_secrets.is_empty() {
        spec.image_pull_secrets
            .clone_from(&defaults.image_pull_secrets);
    }
    Ok(spec)
}

fn cap(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" ...");
    }
    message
}

#[cfg(test)]
mod tests;
