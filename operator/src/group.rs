//! Runtime groups: the unit the operator reconciles. Every ferry.dev object belongs to the
//! group its `spec.runtime` names (default `default`) in its namespace; an
//! IntegrationRuntime *is* the group of its own name. A group may exist without an
//! IntegrationRuntime (it then runs with the operator's defaults), so groups are computed
//! from the objects, not watched as objects of their own.

use std::collections::BTreeMap;

use ferry_api::resources::{DEFAULT_RUNTIME, KINDS, SYNAPSE_NAME_ANNOTATION};
use kube::api::DynamicObject;
use serde_json::{Map, Value, json};

/// Identifies a runtime group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The namespace of the group's objects.
    pub namespace: String,
    /// The group's name.
    pub name: String,
}

impl GroupKey {
    /// A key from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One ferry.dev object as the operator sees it: identity, the document that goes into the
/// bundle, and its current status (to write status only when it changes).
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`, for owner references.
    pub uid: Option<String>,
    /// `metadata.generation`, reported back as `observedGeneration`.
    pub generation: Option<i64>,
    /// The group it belongs to.
    pub runtime: String,
    /// `apiVersion`, `kind`, `metadata.name` (and the Synapse name annotation) and `spec`:
    /// what a bundle file holds.
    pub document: Value,
    /// `status` as last written (null when none).
    pub status: Value,
}

impl Artifact {
    /// `Kind/name`, as diagnostics name resources.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The group this artifact belongs to.
    pub fn group(&self) -> GroupKey {
        GroupKey::new(&self.namespace, &self.runtime)
    }

    /// Reads a watched object. `None` for an object of a kind that is not ours or without a
    /// name (neither reaches us from a correctly installed CRD). Nothing else about the
    /// object is checked here: a malformed spec still makes an artifact, and admission
    /// reports it, so one bad object never stops the others.
    pub fn from_object(obj: &DynamicObject) -> Option<Self> {
        let types = obj.types.as_ref()?;
        Self::from_object_as(&types.kind, obj)
    }

    /// Like [`Artifact::from_object`] for an object known to be of `kind` (a watch of that
    /// kind), whether or not the object repeats its `kind`.
    pub fn from_object_as(kind: &str, obj: &DynamicObject) -> Option<Self> {
        let kind = KINDS.iter().copied().find(|k| *k == kind)?;
        let name = obj.metadata.name.clone()?;
        let spec = obj.data.get("spec").cloned().unwrap_or(Value::Null);
        let runtime = if kind == "IntegrationRuntime" {
            name.clone()
        } else {
            spec.get("runtime")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_RUNTIME)
                .to_string()
        };
        let mut document = Map::new();
        document.insert("apiVersion".into(), json!(ferry_api::API_VERSION));
        document.insert("kind".into(), json!(kind));
        // The Synapse name is the one annotation the runtime reads (references may use
        // it); the others (kubectl's last-applied copy, say) stay out of the bundle.
        let mut metadata = json!({ "name": name });
        let synapse_name = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SYNAPSE_NAME_ANNOTATION));
        if let Some(synapse_name) = synapse_name {
            metadata["annotations"] = json!({ SYNAPSE_NAME_ANNOTATION: synapse_name });
        }
        document.insert("metadata".into(), metadata);
        document.insert("spec".into(), spec);
        Some(Self {
            kind,
            uid: obj.metadata.uid.clone(),
            generation: obj.metadata.generation,
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            status: obj.data.get("status").cloned().unwrap_or(Value::Null),
            runtime,
            name,
            document: Value::Object(document),
        })
    }
}

/// The objects of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Which group.
    pub key: GroupKey,
    /// Its IntegrationRuntime, if there is one.
    pub runtime: Option<Artifact>,
    /// Every other artifact, by kind (in [`KINDS`] order) then name: the bundle's order.
    pub artifacts: Vec<Artifact>,
}

impl Group {
    /// A group with no objects: what remains of a deleted group.
    pub fn empty(key: GroupKey) -> Self {
        Self {
            key,
            runtime: None,
            artifacts: Vec::new(),
        }
    }

    /// True when nothing belongs to the group any more.
    pub fn is_empty(&self) -> bool {
        self.runtime.is_none() && self.artifacts.is_empty()
    }

    /// The IntegrationRuntime, then the artifacts.
    pub fn all(&self) -> impl Iterator<Item = &Artifact> {
        self.runtime.iter().chain(&self.artifacts)
    }
}

/// Sorts artifacts into groups.
pub fn collect(artifacts: impl IntoIterator<Item = Artifact>) -> BTreeMap<GroupKey, Group> {
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for artifact in artifacts {
        let key = artifact.group();
        let group = groups
            .entry(key.clone())
            .or_insert_with(|| Group::empty(key));
        if artifact.kind == "IntegrationRuntime" {
            group.runtime = Some(artifact);
        } else {
            group.artifacts.push(artifact);
        }
    }
    for group in groups.values_mut() {
        group.artifacts.sort_by(|a, b| {
            let rank = |k: &str| KINDS.iter().position(|x| *x == k);
            (rank(a.kind), &a.name).cmp(&(rank(b.kind), &b.name))
        });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn artifacts_join_the_group_their_spec_names_and_runtimes_their_own() {
        let objects = [
            object(
                json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence",
                "metadata": {"name": "s", "namespace": "ns", "uid": "u1", "generation": 2},
                "spec": {"mediators": []}}),
            ),
            object(
                json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Endpoint",
                "metadata": {"name": "e", "namespace": "ns"},
                "spec": {"runtime": "payments", "http": {"uri": "http://x"}}}),
            ),
            object(
                json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationRuntime",
                "metadata": {"name": "payments", "namespace": "ns"}, "spec": {}}),
            ),
            object(
                json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationAPI",
                "metadata": {"name": "a", "namespace": "ns"}, "spec": {"context": "/a"}}),
            ),
        ];
        let groups = collect(objects.iter().filter_map(Artifact::from_object));
        let default = &groups[&GroupKey::new("ns", "default")];
        let ids: Vec<String> = default.artifacts.iter().map(Artifact::id).collect();
        assert_eq!(ids, ["IntegrationAPI/a", "Sequence/s"], "KINDS order");
        assert!(default.runtime.is_none());
        assert_eq!(default.artifacts[1].generation, Some(2));
        assert_eq!(
            default.artifacts[1].document,
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence",
                "metadata": {"name": "s"}, "spec": {"mediators": []}})
        );
        let payments = &groups[&GroupKey::new("ns", "payments")];
        assert_eq!(
            payments.runtime.as_ref().map(Artifact::id).as_deref(),
            Some("IntegrationRuntime/payments")
        );
        assert_eq!(payments.artifacts.len(), 1);
    }

    #[test]
    fn a_listed_object_without_its_kind_takes_the_watch_s_kind() {
        let mut obj = object(
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence",
            "metadata": {"name": "s", "namespace": "ns"}, "spec": {}}),
        );
        obj.types = None;
        assert!(Artifact::from_object(&obj).is_none());
        let artifact = Artifact::from_object_as("Sequence", &obj).unwrap();
        assert_eq!(artifact.id(), "Sequence/s");
        assert_eq!(artifact.document["kind"], "Sequence");
    }

    #[test]
    fn the_synapse_name_reaches_the_bundle_and_other_annotations_do_not() {
        let obj = object(
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "LocalEntry",
            "metadata": {"name": "fmt", "namespace": "ns", "annotations": {
                "ferry.dev/synapse-name": "Fmt", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"text": "x"}}),
        );
        let artifact = Artifact::from_object(&obj).unwrap();
        assert_eq!(
            artifact.document["metadata"],
            json!({"name": "fmt", "annotations": {"ferry.dev/synapse-name": "Fmt"}})
        );
    }

    #[test]
    fn a_template_is_an_artifact_of_its_group_and_goes_to_the_bundle_as_written() {
        let obj = object(
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Template",
            "metadata": {"name": "greet", "namespace": "ns",
                "annotations": {"ferry.dev/synapse-name": "GreetTemplate"}},
            "spec": {"runtime": "payments", "parameters": [{"name": "who"}], "mediators": [{"log": {}}]}}),
        );
        let artifact = Artifact::from_object(&obj).unwrap();
        assert_eq!(artifact.document["kind"], "Template");
        assert_eq!(
            artifact.document["metadata"]["annotations"]["ferry.dev/synapse-name"],
            "GreetTemplate"
        );
        assert_eq!(artifact.document["spec"]["parameters"][0]["name"], "who");
    }

    #[test]
    fn objects_of_other_kinds_are_not_artifacts() {
        let cm =
            object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
        assert!(Artifact::from_object(&cm).is_none());
    }
}
