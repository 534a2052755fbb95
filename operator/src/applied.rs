//! What the operator last wrote to each object it owns, so a reconcile that would apply the
//! same rendering again writes nothing. Without it every reconcile re-applied a group's six
//! objects; the Deployment controller's status updates requeue a group several times while
//! its pods roll out, so most of the operator's writes were these no-op applies (each one
//! still decoded, merged and admitted by the API server).
//!
//! The memory is only a shortcut, never the truth, so whatever it misses converges:
//! - it starts empty (an operator restart applies everything once, as before);
//! - [`Applied::forget_all`] empties it on every periodic resync and on becoming leader,
//!   so a hand edit or deletion of an owned object is repaired within the resync period,
//!   as without the memory;
//! - the watched Deployments correct it at once: one deleted, recreated or whose spec
//!   someone else changed (its `generation` moved past the one our apply got back) is
//!   forgotten, and its group requeued, so the next reconcile applies it again; so is
//!   one a relist of the watch no longer shows (deleted while the watch was down);
//! - the other owned kinds are watched by metadata only: one deleted, or written by
//!   anybody after our apply (its `resourceVersion` is no longer the one our apply got
//!   back), is forgotten and its group requeued; so is one we deleted that reappears;
//! - a failed apply or delete forgets the object.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;

use crate::status::Workload;

/// Identifies an owned object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ObjectKey {
    kind: &'static str,
    namespace: String,
    name: String,
}

impl ObjectKey {
    fn new(kind: &'static str, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// What the last successful write left.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// Applied with this desired state (its hash); the resource version the API server
    /// answered with; for a Deployment, also the uid and generation it answered with.
    Present {
        hash: u64,
        version: Option<String>,
        uid: Option<String>,
        generation: Option<i64>,
    },
    /// Deleted (or found absent).
    Absent,
}

#[derive(Default)]
struct Memory {
    entries: HashMap<ObjectKey, Entry>,
    /// The owned Deployments as last seen (watch or apply answer), by (namespace, name):
    /// their status is the group's rollout when no apply answers with it.
    deployments: HashMap<(String, String), Deployment>,
    /// While the Deployment watch relists: the Deployments listed so far.
    listing: Option<HashSet<(String, String)>>,
}

/// The shared memory; cloning shares it.
#[derive(Clone, Default)]
pub struct Applied {
    memory: Arc<Mutex<Memory>>,
}

/// The hash of a desired object as it is sent (its JSON). In-process only, so the hasher
/// need not be stable across builds.
pub fn digest(object: &impl Serialize) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    match serde_json::to_vec(object) {
        Ok(bytes) => bytes.hash(&mut hasher),
        // Unserializable: a hash nothing else has, so it is applied (and fails there).
        Err(_) => return u64::MAX,
    }
    hasher.finish()
}

impl Applied {
    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether applying an object of this desired hash would change nothing we know of.
    pub fn unchanged(&self, kind: &'static str, namespace: &str, name: &str, hash: u64) -> bool {
        matches!(
            self.lock().entries.get(&ObjectKey::new(kind, namespace, name)),
            Some(Entry::Present { hash: h, .. }) if *h == hash
        )
    }

    /// Records a successful apply and the resource version the API server answered with.
    pub fn applied(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        hash: u64,
        version: Option<&str>,
    ) {
        self.lock().entries.insert(
            ObjectKey::new(kind, namespace, name),
            Entry::Present {
                hash,
                version: version.map(str::to_string),
                uid: None,
                generation: None,
            },
        );
    }

    /// An owned object (not a Deployment) as its metadata watch delivered it (`deleted`:
    /// it went). Returns whether its group must be reconciled because the object is not
    /// what our last write left: deleted while we think it present, written since (by a
    /// hand edit, another controller), or present while we deleted it. The object is
    /// then forgotten, so that reconcile writes it. The echo of our own write carries the
    /// version our apply got back and changes nothing; should it come before the apply's
    /// answer is recorded, the group is reconciled once more and finds it unchanged.
    pub fn observe_owned(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        version: Option<&str>,
        deleted: bool,
    ) -> bool {
        let key = ObjectKey::new(kind, namespace, name);
        let mut memory = self.lock();
        let drifted = match (memory.entries.get(&key), deleted) {
            (Some(Entry::Present { .. }), true) => true,
            (Some(Entry::Present { version: ours, .. }), false) => {
                version.is_some() && ours.as_deref() != version
            }
            (Some(Entry::Absent), deleted) => !deleted,
            (None, _) => false,
        };
        if drifted {
            memory.entries.remove(&key);
        }
        drifted
    }

    /// Whether the object is known to be absent (deleted by us, or found missing).
    pub fn absent(&self, kind: &'static str, namespace: &str, name: &str) -> bool {
        self.lock()
            .entries
            .get(&ObjectKey::new(kind, namespace, name))
            == Some(&Entry::Absent)
    }

    /// Records a successful delete (or a 404).
    pub fn deleted(&self, kind: &'static str, namespace: &str, name: &str) {
        self.lock()
            .entries
            .insert(ObjectKey::new(kind, namespace, name), Entry::Absent);
    }

    /// Forgets one object: its next reconcile writes it.
    pub fn forget(&self, kind: &'static str, namespace: &str, name: &str) {
        self.lock()
            .entries
            .remove(&ObjectKey::new(kind, namespace, name));
    }

    /// Forgets everything written: the next reconcile of every group writes all it owns
    /// (the periodic resync, a new leader). What the watch says of Deployments stays.
    pub fn forget_all(&self) {
        self.lock().entries.clear();
    }

    /// The Deployment, as last seen, when applying `hash` would change nothing we know of.
    pub fn unchanged_deployment(
        &self,
        namespace: &str,
        name: &str,
        hash: u64,
    ) -> Option<Deployment> {
        let memory = self.lock();
        let key = ObjectKey::new("Deployment", namespace, name);
        let Some(Entry::Present { hash: h, uid, .. }) = memory.entries.get(&key) else {
            return None;
        };
        let live = memory
            .deployments
            .get(&(namespace.to_string(), name.to_string()))?;
        (*h == hash && live.metadata.uid == *uid).then(|| live.clone())
    }

    /// Records a successful apply of a Deployment, with the API server's answer.
    pub fn applied_deployment(&self, hash: u64, answer: &Deployment) {
        let (Some(namespace), Some(name)) = (&answer.metadata.namespace, &answer.metadata.name)
        else {
            return;
        };
        let mut memory = self.lock();
        memory.entries.insert(
            ObjectKey::new("Deployment", namespace, name),
            Entry::Present {
                hash,
                version: answer.metadata.resource_version.clone(),
                uid: answer.metadata.uid.clone(),
                generation: answer.metadata.generation,
            },
        );
        let key = (namespace.clone(), name.clone());
        let older = memory.deployments.get(&key).is_none_or(|seen| {
            seen.metadata.uid != answer.metadata.uid
                || seen.metadata.generation <= answer.metadata.generation
        });
        if older {
            memory.deployments.insert(key, answer.clone());
        }
    }

    /// A Deployment as its watch delivered it (`deleted`: it went). Returns whether its
    /// group must be reconciled: it went, was replaced, its spec changed, or the rollout
    /// the group reports (replicas, updated, ready, available, observed) changed. Status
    /// updates that change nothing reported (conditions, timestamps) return false.
    pub fn observe_deployment(&self, d: &Deployment, deleted: bool) -> bool {
        let (Some(namespace), Some(name)) = (&d.metadata.namespace, &d.metadata.name) else {
            return false;
        };
        let mut memory = self.lock();
        let key = ObjectKey::new("Deployment", namespace, name);
        let place = (namespace.clone(), name.clone());
        if deleted {
            memory.entries.remove(&key);
            memory.deployments.remove(&place);
            return true;
        }
        let drifted = match memory.entries.get(&key) {
            Some(Entry::Present {
                uid, generation, ..
            }) => uid.is_some() && *uid != d.metadata.uid || d.metadata.generation > *generation,
            Some(Entry::Absent) => true,
            None => false,
        };
        if drifted {
            memory.entries.remove(&key);
        }
        if let Some(listing) = &mut memory.listing {
            listing.insert(place.clone());
        }
        let before = memory.deployments.insert(place, d.clone());
        drifted
            || before.is_none_or(|b| {
                b.metadata.uid != d.metadata.uid
                    || b.metadata.generation != d.metadata.generation
                    || Workload::from_deployment(&b) != Workload::from_deployment(d)
            })
    }
}

impl Applied {
    /// The Deployment watch starts a (re)list: what it does not list again went while it
    /// was not watching.
    pub fn relist_started(&self) {
        self.lock().listing = Some(HashSet::new());
    }

    /// The (re)list is complete: the Deployments it did not list are forgotten (their
    /// groups apply them again) and returned.
    pub fn relist_done(&self) -> Vec<Deployment> {
        let mut memory = self.lock();
        let Some(listed) = memory.listing.take() else {
            return Vec::new();
        };
        let gone: Vec<(String, String)> = memory
            .deployments
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for place in gone {
            memory
                .entries
                .remove(&ObjectKey::new("Deployment", &place.0, &place.1));
            out.extend(memory.deployments.remove(&place));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(uid: &str, generation: i64, ready: i32, condition: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "ferry-g", "namespace": "ns", "uid": uid,
                "generation": generation},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2,
                "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [{"type": "Progressing", "status": "True", "reason": condition}]}
        }))
        .expect("a Deployment")
    }

    #[test]
    fn an_object_applied_with_the_same_desired_state_is_unchanged_until_forgotten() {
        let a = Applied::default();
        let hash = digest(&json!({"data": {"k": "v"}}));
        assert!(!a.unchanged("ConfigMap", "ns", "c", hash));
        a.applied("ConfigMap", "ns", "c", hash, Some("5"));
        assert!(a.unchanged("ConfigMap", "ns", "c", hash));
        assert!(!a.unchanged("ConfigMap", "ns", "c", digest(&json!({"data": {"k": "w"}}))));
        assert!(!a.unchanged("ConfigMap", "other", "c", hash));
        a.forget_all();
        assert!(!a.unchanged("ConfigMap", "ns", "c", hash));
        a.deleted("Service", "ns", "s");
        assert!(a.absent("Service", "ns", "s"));
        a.forget("Service", "ns", "s");
        assert!(!a.absent("Service", "ns", "s"));
    }

    #[test]
    fn an_owned_object_written_or_deleted_by_someone_else_is_applied_again() {
        let a = Applied::default();
        let hash = 7;
        a.applied("Service", "ns", "s", hash, Some("10"));
        // The echo of our own apply.
        assert!(!a.observe_owned("Service", "ns", "s", Some("10"), false));
        assert!(a.unchanged("Service", "ns", "s", hash));
        // A hand edit: a later version.
        assert!(a.observe_owned("Service", "ns", "s", Some("11"), false));
        assert!(
            !a.unchanged("Service", "ns", "s", hash),
            "forgotten: applied again"
        );
        // Nothing remembered: nothing to compare with (the next reconcile writes anyway).
        assert!(!a.observe_owned("Service", "ns", "s", Some("12"), false));
        a.applied("Service", "ns", "s", hash, Some("12"));
        assert!(
            a.observe_owned("Service", "ns", "s", Some("12"), true),
            "deleted"
        );
        assert!(!a.unchanged("Service", "ns", "s", hash));
        // Deleted by us, then made again by somebody with our labels.
        a.deleted("Role", "ns", "r");
        assert!(!a.observe_owned("Role", "ns", "r", Some("3"), true));
        assert!(a.observe_owned("Role", "ns", "r", Some("4"), false));
        assert!(!a.absent("Role", "ns", "r"));
    }

    #[test]
    fn a_deployment_deleted_while_the_watch_was_down_is_forgotten_at_the_relist() {
        let a = Applied::default();
        let mut other = deployment("u2", 1, 0, "x");
        other.metadata.name = Some("ferry-h".into());
        a.applied_deployment(7, &deployment("u1", 1, 0, "x"));
        a.applied_deployment(8, &other);
        a.relist_started();
        a.observe_deployment(&other, false);
        let gone = a.relist_done();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].metadata.name.as_deref(), Some("ferry-g"));
        assert_eq!(a.unchanged_deployment("ns", "ferry-g", 7), None);
        assert!(a.unchanged_deployment("ns", "ferry-h", 8).is_some());
        assert!(a.relist_done().is_empty(), "no relist under way");
    }

    #[test]
    fn a_deployment_status_change_requeues_only_when_the_reported_rollout_changes() {
        let a = Applied::default();
        assert!(a.observe_deployment(&deployment("u1", 1, 0, "NewReplicaSetCreated"), false));
        // Only a condition moved: nothing the group reports.
        assert!(!a.observe_deployment(&deployment("u1", 1, 0, "ReplicaSetUpdated"), false));
        // A pod became ready: the runtime's readyReplicas and the APIs' Ready change.
        assert!(a.observe_deployment(&deployment("u1", 1, 1, "ReplicaSetUpdated"), false));
        assert!(a.observe_deployment(&deployment("u1", 1, 1, "x"), true));
    }

    #[test]
    fn a_deployment_deleted_replaced_or_edited_by_someone_else_is_applied_again() {
        let a = Applied::default();
        let ours = deployment("u1", 2, 0, "x");
        a.applied_deployment(7, &ours);
        assert_eq!(
            a.unchanged_deployment("ns", "ferry-g", 7),
            Some(ours.clone())
        );
        assert_eq!(
            a.unchanged_deployment("ns", "ferry-g", 8),
            None,
            "desired changed"
        );
        // A late event of an older generation says nothing about our apply.
        a.observe_deployment(&deployment("u1", 1, 0, "x"), false);
        assert!(a.unchanged_deployment("ns", "ferry-g", 7).is_some());
        // Its status moved on: the rollout comes from the watch.
        a.observe_deployment(&deployment("u1", 2, 2, "x"), false);
        let seen = a
            .unchanged_deployment("ns", "ferry-g", 7)
            .expect("unchanged");
        assert_eq!(Workload::from_deployment(&seen).ready, 2);
        // Someone edited its spec.
        assert!(a.observe_deployment(&deployment("u1", 3, 2, "x"), false));
        assert_eq!(a.unchanged_deployment("ns", "ferry-g", 7), None);
        // Deleted, then recreated by someone else.
        a.applied_deployment(7, &deployment("u1", 3, 2, "x"));
        assert!(a.observe_deployment(&deployment("u1", 3, 2, "x"), true));
        assert_eq!(a.unchanged_deployment("ns", "ferry-g", 7), None);
        a.applied_deployment(7, &deployment("u1", 3, 2, "x"));
        assert!(a.observe_deployment(&deployment("u2", 1, 0, "x"), false));
        assert_eq!(a.unchanged_deployment("ns", "ferry-g", 7), None);
    }
}
