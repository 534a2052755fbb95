//! The control loop. The unit of work is a runtime group, which may have no object of its
//! own (a group without an IntegrationRuntime), so kube-runtime's `Controller` — one
//! reconcile per object of one main kind — does not fit; instead its watchers and
//! reflectors cache every ferry.dev kind and the Deployments the operator made, each event
//! queues the group it touches, and a worker reconciles queued groups from the caches.
//!
//! Robustness, by construction: objects are watched untyped, so one that does not
//! deserialize is reported on its own status instead of failing the list; watch errors
//! (410 Gone, a dropped connection) restart the watch with backoff and relist; a failed
//! reconcile is retried with exponential backoff; every group is reconciled again every
//! few minutes; only the replica holding the Lease writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector::store::Writer};
use tokio::sync::{Notify, watch};

use crate::applied::Applied;
use crate::group::{Artifact, Group, GroupKey, collect};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::reconcile::{self, Context, Outcome};
use crate::render::{GROUP_LABEL, MANAGED_BY_LABEL, MANAGER};
use crate::sidecar::SIDECAR_LABEL;

/// How often every group is reconciled even without events (drift from hand edits).
const RESYNC: Duration = Duration::from_secs(300);
/// Events arriving together (an `kubectl apply -f dir/`) become one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// Retries of a failing group start here and double up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Groups waiting for a reconcile.
#[derive(Default)]
pub struct Queue {
    pending: Mutex<BTreeSet<GroupKey>>,
    notify: Notify,
}

impl Queue {
    /// Queues a group (once, however often it is pushed before the worker takes it).
    pub fn push(&self, key: GroupKey) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        self.notify.notify_one();
    }

    /// Takes every queued group.
    pub fn drain(&self) -> Vec<GroupKey> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect()
    }

    /// Waits until something is queued.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

/// The caches the worker reads groups from.
#[derive(Clone)]
pub struct Caches {
    kinds: Vec<(&'static str, Store<DynamicObject>)>,
    deployments: Store<Deployment>,
}

impl Caches {
    /// Every artifact of every kind (optionally of one namespace).
    fn artifacts(&self) -> impl Iterator<Item = Artifact> + '_ {
        self.kinds.iter().flat_map(|(kind, store)| {
            store
                .state()
                .into_iter()
                .filter_map(move |obj| Artifact::from_object_as(kind, &obj))
        })
    }

    /// The objects of one group as cached now.
    pub fn group(&self, key: &GroupKey) -> Group {
        collect(
            self.artifacts()
                .filter(|a| a.namespace == key.namespace && a.runtime == key.name),
        )
        .remove(key)
        .unwrap_or_else(|| Group::empty(key.clone()))
    }

    /// Caches holding these objects (tests).
    #[cfg(test)]
    pub fn of(objects: &[DynamicObject]) -> Self {
        let kinds = ferry_api::resources::KINDS
            .iter()
            .map(|kind| {
                let mut writer = Writer::new(reconcile::api_resource(kind));
                for obj in objects
                    .iter()
                    .filter(|o| o.types.as_ref().is_some_and(|t| t.kind == *kind))
                {
                    writer.apply_watcher_event(&Event::Apply(obj.clone()));
                }
                (*kind, writer.as_reader())
            })
            .collect();
        let (deployments, _) = reflector::store();
        Self { kinds, deployments }
    }

    /// The groups of a namespace's IntegrationRuntimes in mode `sidecar`, by name.
    pub fn sidecar_groups(&self, namespace: &str) -> Vec<Group> {
        let runtimes = self
            .kinds
            .iter()
            .filter(|(kind, _)| *kind == "IntegrationRuntime")
            .flat_map(|(_, store)| store.state());
        let mut keys: Vec<GroupKey> = runtimes
            .filter(|obj| obj.metadata.namespace.as_deref() == Some(namespace))
            .filter(|obj| obj.data["spec"]["mode"] == "sidecar")
            .filter_map(|obj| Some(GroupKey::new(namespace, obj.metadata.name.clone()?)))
            .collect();
        keys.sort();
        keys.iter().map(|key| self.group(key)).collect()
    }

    /// Every group that has objects or still has a Deployment of ours.
    pub fn keys(&self) -> BTreeSet<GroupKey> {
        let mut keys: BTreeSet<GroupKey> = self.artifacts().map(|a| a.group()).collect();
        keys.extend(
            self.deployments
                .state()
                .iter()
                .filter_map(|d| deployment_group(d)),
        );
        keys
    }
}

fn deployment_group(d: &Deployment) -> Option<GroupKey> {
    let group = d.metadata.labels.as_ref()?.get(GROUP_LABEL)?;
    Some(GroupKey::new(d.metadata.namespace.clone()?, group.clone()))
}

/// uid -> (group, generation) of every artifact seen (uids are unique across kinds).
type Homes = HashMap<String, (GroupKey, Option<i64>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Listed,
    Applied,
    Deleted,
}

/// What the operator was started with.
#[derive(Default)]
pub struct Settings {
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Receives the caches once they are made (the webhook reads its plans from them).
    pub caches: Arc<std::sync::OnceLock<Caches>>,
}

/// Runs the operator until `leader` closes. Reconciles only while `*leader` is true.
pub async fn run(
    ctx: Context,
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    mut leader: watch::Receiver<bool>,
) {
    let queue = Arc::new(Queue::default());
    let mut streams = Vec::new();
    let mut kinds = Vec::new();
    // uid -> group, so an object that moves to another group (spec.runtime edited) also
    // queues the group it left, and a deleted one the group it was in.
    let homes: Arc<Mutex<Homes>> = Arc::default();
    for kind in ferry_api::resources::KINDS {
        let resource = reconcile::api_resource(kind);
        let api: Api<DynamicObject> = match &settings.namespace {
            Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
            None => Api::all_with(ctx.client.clone(), &resource),
        };
        let writer = Writer::new(resource);
        kinds.push((*kind, writer.as_reader()));
        let stream = reflector::reflector(
            writer,
            watcher::watcher(api, watcher::Config::default()).default_backoff(),
        );
        streams.push(route(kind, stream, queue.clone(), homes.clone(), metrics.clone()).boxed());
    }
    let deployments: Api<Deployment> = match &settings.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (reader, writer) = reflector::store();
    let config = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}"));
    let owned = reflector::reflector(
        writer,
        watcher::watcher(deployments, config).default_backoff(),
    );
    streams.push(route_owned(owned, queue.clone(), ctx.applied.clone(), metrics.clone()).boxed());
    // Pods carrying a sidecar: their comings and goings change their group's status.
    let pods: Api<PartialObjectMeta<Pod>> = match &settings.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let sidecars =
        watcher::watcher(pods, watcher::Config::default().labels(SIDECAR_LABEL)).default_backoff();
    streams.push(route_sidecars(sidecars, queue.clone(), metrics.clone()).boxed());
    // The other owned kinds, by metadata only: a hand edit or deletion is repaired at once
    // instead of at the next resync.
    let owned = OwnedWatch {
        client: &ctx.client,
        namespace: settings.namespace.as_deref(),
        queue: &queue,
        applied: &ctx.applied,
        metrics: &metrics,
    };
    streams.push(owned.watch::<ConfigMap>());
    streams.push(owned.watch::<Service>());
    streams.push(owned.watch::<ServiceAccount>());
    streams.push(owned.watch::<Role>());
    streams.push(owned.watch::<RoleBinding>());
    streams.push(owned.watch::<HorizontalPodAutoscaler>());
    streams.push(owned.watch::<PodDisruptionBudget>());
    let caches = Caches {
        kinds,
        deployments: reader,
    };
    let _ = settings.caches.set(caches.clone());

    let watches = futures::stream::select_all(streams);
    let listed = Arc::new(Mutex::new(0usize));
    let total = ferry_api::resources::KINDS.len() + 1;
    let watching = {
        let (health, listed, caches, queue) = (
            health.clone(),
            listed.clone(),
            caches.clone(),
            queue.clone(),
        );
        watches.for_each(move |first_list| {
            if first_list {
                let mut n = listed.lock().unwrap_or_else(|p| p.into_inner());
                *n += 1;
                if *n == total {
                    health.set_ready();
                    tracing::info!("every watched kind is listed; reconciling all groups");
                    caches.keys().into_iter().for_each(|k| queue.push(k));
                }
            }
            futures::future::ready(())
        })
    };
    let working = work(ctx, caches, queue, metrics, health, &mut leader);
    tokio::select! {
        () = watching => tracing::error!("the watches ended"),
        () = working => tracing::info!("leadership channel closed; stopping"),
    }
}

/// What a metadata watch of an owned kind needs.
struct OwnedWatch<'a> {
    client: &'a kube::Client,
    namespace: Option<&'a str>,
    queue: &'a Arc<Queue>,
    applied: &'a Applied,
    metrics: &'a Arc<Metrics>,
}

impl OwnedWatch<'_> {
    /// Watches the operator's objects of one kind (by its managed-by label) and queues the
    /// group of one that is no longer what the operator last wrote ([`Applied::observe_owned`]).
    /// Never counts towards readiness.
    fn watch<K>(&self) -> futures::stream::BoxStream<'static, bool>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + k8s_openapi::Resource
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let kind = <K as k8s_openapi::Resource>::KIND;
        // `PartialObjectMeta` makes the watch ask for metadata only.
        let api: Api<PartialObjectMeta<K>> = match self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let config = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}"));
        let (queue, applied, metrics) = (
            self.queue.clone(),
            self.applied.clone(),
            self.metrics.clone(),
        );
        let observe = move |meta: &kube::api::ObjectMeta, deleted: bool| {
            let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else {
                return;
            };
            let group = meta.labels.as_ref().and_then(|l| l.get(GROUP_LABEL));
            let version = meta.resource_version.as_deref();
            if let Some(group) = group
                && applied.observe_owned(kind, namespace, name, version, deleted)
            {
                queue.push(GroupKey::new(namespace, group));
            }
        };
        watcher::watcher(api, config)
            .default_backoff()
            .map(move |event| {
                match event {
                    Ok(Event::Apply(o) | Event::InitApply(o)) => observe(&o.metadata, false),
                    Ok(Event::Delete(o)) => observe(&o.metadata, true),
                    Ok(Event::Init | Event::InitDone) => {}
                    Err(e) => {
                        metrics.watch_error(kind);
                        tracing::warn!(kind, error = %e, "watch of owned objects failed; retrying with backoff");
                    }
                }
                false
            })
            .boxed()
    }
}

/// Queues the group of a pod whose sidecar appeared, changed or went. Never counts towards
/// readiness: a cluster without sidecars still serves everything else.
fn route_sidecars(
    events: impl Stream<Item = Result<Event<PartialObjectMeta<Pod>>, watcher::Error>> + Send + 'static,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = bool> + Send {
    events.map(move |event| {
        match event {
            Ok(Event::Apply(p) | Event::InitApply(p) | Event::Delete(p)) => {
                let group = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SIDECAR_LABEL));
                if let (Some(group), Some(namespace)) = (group, &p.metadata.namespace) {
                    queue.push(GroupKey::new(namespace, group));
                }
            }
            Ok(Event::Init | Event::InitDone) => {}
            Err(e) => {
                metrics.watch_error("Pod");
                tracing::warn!(error = %e, "watch of sidecar pods failed; retrying with backoff");
            }
        }
        false
    })
}

/// Turns a kind's watch events into queued groups. Yields `true` once per completed list
/// that is the first of this watch (for readiness).
fn route(
    kind: &'static str,
    events: impl Stream<Item = Result<Event<DynamicObject>, watcher::Error>> + Send + 'static,
    queue: Arc<Queue>,
    homes: Arc<Mutex<Homes>>,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = bool> + Send {
    let mut listed = false;
    events.map(move |event| {
        // What changes a group is a spec (generation) or membership; the status writes
        // the operator itself makes are not worth a reconcile.
        let touch = |obj: &DynamicObject, change: Change| {
            let Some(artifact) = Artifact::from_object_as(kind, obj) else {
                return;
            };
            let key = artifact.group();
            let home = (key.clone(), artifact.generation);
            let mut homes = homes.lock().unwrap_or_else(|p| p.into_inner());
            let before = match (&artifact.uid, change) {
                (Some(uid), Change::Deleted) => homes.remove(uid),
                (Some(uid), _) => homes.insert(uid.clone(), home.clone()),
                (None, _) => None,
            };
            if change == Change::Applied && before.as_ref() == Some(&home) {
                return;
            }
            if let Some((before, _)) = before.filter(|(b, _)| *b != key) {
                queue.push(before);
            }
            queue.push(key);
        };
        match event {
            Ok(Event::Apply(obj)) => touch(&obj, Change::Applied),
            Ok(Event::InitApply(obj)) => touch(&obj, Change::Listed),
            Ok(Event::Delete(obj)) => touch(&obj, Change::Deleted),
            Ok(Event::Init) => {}
            Ok(Event::InitDone) => {
                let first = !listed;
                listed = true;
                // A relist may have dropped objects without delete events: queue every
                // group this kind knew, so emptied groups are cleaned up.
                let known: Vec<GroupKey> = homes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .map(|(k, _)| k.clone())
                    .collect();
                known.into_iter().for_each(|k| queue.push(k));
                return first;
            }
            Err(e) => {
                metrics.watch_error(kind);
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
            }
        }
        false
    })
}

/// Queues the group of an owned Deployment that went, was replaced, had its spec changed
/// by someone else, or whose reported rollout moved (replicas, updated, ready, available,
/// observed); the Deployment controller's other status updates (conditions, timestamps)
/// would only reconcile the group to the same result. A relist also queues the groups of
/// Deployments that went while the watch was down.
fn route_owned(
    events: impl Stream<Item = Result<Event<Deployment>, watcher::Error>> + Send + 'static,
    queue: Arc<Queue>,
    applied: Applied,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = bool> + Send {
    let mut listed = false;
    events.map(move |event| {
        match event {
            Ok(Event::Apply(d) | Event::InitApply(d)) => {
                if applied.observe_deployment(&d, false)
                    && let Some(key) = deployment_group(&d)
                {
                    queue.push(key);
                }
            }
            Ok(Event::Delete(d)) => {
                applied.observe_deployment(&d, true);
                if let Some(key) = deployment_group(&d) {
                    queue.push(key);
                }
            }
            Ok(Event::Init) => applied.relist_started(),
            Ok(Event::InitDone) => {
                // Deleted while the watch was down: no delete event came.
                for d in applied.relist_done() {
                    if let Some(key) = deployment_group(&d) {
                        queue.push(key);
                    }
                }
                let first = !listed;
                listed = true;
                return first;
            }
            Err(e) => {
                metrics.watch_error("Deployment");
                tracing::warn!(error = %e, "watch of Deployments failed; retrying with backoff");
            }
        }
        false
    })
}

/// The worker: reconciles queued groups while leading, up to [`CONCURRENT_GROUPS`] at once
/// (a group whose reconcile is slow — a large bundle, a slow API call — holds up no
/// other), never one group twice at once (a group queued while it runs goes again after,
/// with what changed meanwhile); retries failures with backoff and queues every group
/// every [`RESYNC`].
async fn work(
    ctx: Context,
    caches: Caches,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    leader: &mut watch::Receiver<bool>,
) {
    let mut failures: BTreeMap<GroupKey, u32> = BTreeMap::new();
    let mut resync = tokio::time::interval(RESYNC);
    let mut leading = *leader.borrow_and_update();
    metrics.set_leader(leading);
    let mut waiting: BTreeSet<GroupKey> = BTreeSet::new();
    let mut in_flight: BTreeSet<GroupKey> = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    let mut settle_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            // A burst of events (an apply of many objects) settles into one reconcile per
            // group: the first event starts the wait, later ones join it. The reconciles in
            // flight go on meanwhile (they are polled by this select, never paused).
            () = queue.wait() => {
                settle_until.get_or_insert_with(|| tokio::time::Instant::now() + DEBOUNCE);
            }
            () = sleep_until(settle_until), if settle_until.is_some() => {
                settle_until = None;
                metrics.set_groups(caches.keys().len());
            }
            Some((key, elapsed, result)) = running.next(), if !running.is_empty() => {
                in_flight.remove(&key);
                settle(&queue, &metrics, &mut failures, key, elapsed, result);
            }
            _ = resync.tick() => {
                // Drift from hand edits and deletions of owned objects the operator does not
                // watch: the next reconcile of every group writes all it owns again.
                ctx.applied.forget_all();
                caches.keys().into_iter().for_each(|k| queue.push(k));
            }
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                leading = *leader.borrow_and_update();
                metrics.set_leader(leading);
                tracing::info!(leading, "leadership changed");
                if leading {
                    // Another replica led meanwhile: what this one remembers may be stale.
                    ctx.applied.forget_all();
                    caches.keys().into_iter().for_each(|k| queue.push(k));
                }
            }
        }
        if !leading || !health.is_ready() {
            // Queued groups wait: becoming leader or ready queues everything anyway.
            continue;
        }
        if settle_until.is_some() {
            continue;
        }
        waiting.extend(queue.drain());
        while in_flight.len() < CONCURRENT_GROUPS {
            let Some(key) = waiting.iter().find(|k| !in_flight.contains(*k)).cloned() else {
                break;
            };
            waiting.remove(&key);
            in_flight.insert(key.clone());
            let (ctx, caches) = (&ctx, &caches);
            running.push(async move {
                // The group as it is now, not as it was when queued.
                let group = caches.group(&key);
                let started = Instant::now();
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let result = reconcile::reconcile(ctx, &group, &now).await;
                if let Err(e) = &result {
                    reconcile::announce_failure(ctx, &group, e).await;
                }
                (key, started.elapsed(), result)
            });
        }
    }
}

/// Sleeps until `deadline`; never wakes without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Groups reconciled at once. Each holds its group's rendered objects while it runs; the
/// API server's own limits (and the client's) bound the rest.
const CONCURRENT_GROUPS: usize = 16;

/// Records one finished reconcile: metrics, the log line, and a retry with backoff when
/// it failed.
fn settle(
    queue: &Arc<Queue>,
    metrics: &Metrics,
    failures: &mut BTreeMap<GroupKey, u32>,
    key: GroupKey,
    elapsed: Duration,
    result: Result<Outcome, reconcile::Error>,
) {
    match result {
        Ok(outcome) => {
            metrics.reconciled(elapsed, None);
            failures.remove(&key);
            match outcome {
                Outcome::Removed => {
                    tracing::info!(group = %key, "group emptied; its objects are deleted")
                }
                Outcome::Reconciled(state) => {
                    tracing::debug!(group = %key, ?state, "reconciled")
                }
            }
        }
        Err(e) => {
            metrics.reconciled(elapsed, Some(e.category()));
            let n = failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            let delay = MIN_BACKOFF
                .saturating_mul(2u32.saturating_pow(*n - 1))
                .min(MAX_BACKOFF);
            tracing::warn!(group = %key, error = %e, retry_in = ?delay, "reconcile failed");
            let queue = queue.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                queue.push(key);
            });
        }
    }
}

#[cfg(test)]
mod tests;
