//! One reconcile of one group: admit → render → server-side apply → status. Idempotent:
//! applying the same rendering changes nothing, and status is written only when it differs,
//! so a group can be reconciled any number of times, after a restart, a relist or a
//! conflict, with the same result.

use std::sync::Arc;

use ferry_api::resources::RuntimeMode;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admission::admit;
use crate::applied::{Applied, digest};
use crate::config::OperatorConfig;
use crate::group::{Artifact, Group, GroupKey};
use crate::render::{self, Keda, MANAGER, Owner, Rendered, queue_scaling};
use crate::sidecar::{self, SIDECAR_LABEL};
use crate::status::{self, GroupState, Workload};

/// What a reconcile needs.
#[derive(Clone)]
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The operator's configuration.
    pub config: Arc<OperatorConfig>,
    /// Publishes Kubernetes Events (a resource refused, say); `None` in tests.
    pub recorder: Option<Recorder>,
    /// What was last written to each owned object: an unchanged one is not written again.
    pub applied: Applied,
}

/// Why a reconcile failed; the group is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Applying a rendered object failed.
    #[error("applying {kind} {namespace}/{name}: {source}")]
    Apply {
        /// Kind of the object.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// Deleting an object the group no longer needs failed.
    #[error("deleting {kind} {namespace}/{name}: {source}")]
    Delete {
        /// Kind of the object.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// Listing objects (the pods of a sidecar group) failed.
    #[error("listing {kind}s in {namespace}: {source}")]
    List {
        /// Kind of the objects.
        kind: &'static str,
        /// Their namespace.
        namespace: String,
        /// The API error.
        source: kube::Error,
    },
    /// Asking the API server whether it serves KEDA's ScaledObject failed (other than
    /// with 404, which means it does not).
    #[error("discovering {group_version}: {source}")]
    Discovery {
        /// The API group version asked about.
        group_version: &'static str,
        /// The API error.
        source: kube::Error,
    },
    /// Writing a resource's status failed.
    #[error("writing the status of {id} in {namespace}: {source}")]
    Status {
        /// `Kind/name`.
        id: String,
        /// Its namespace.
        namespace: String,
        /// The API error.
        source: kube::Error,
    },
}

impl Error {
    /// The metrics label: what failed, and `conflict` for a 409 (someone else wrote first).
    pub fn category(&self) -> &'static str {
        let (Error::Apply { source, .. }
        | Error::Delete { source, .. }
        | Error::List { source, .. }
        | Error::Discovery { source, .. }
        | Error::Status { source, .. }) = self;
        if let kube::Error::Api(status) = source
            && status.is_conflict()
        {
            return "conflict";
        }
        match self {
            Error::Apply { .. } => "apply",
            Error::Delete { .. } => "delete",
            Error::List { .. } => "list",
            Error::Discovery { .. } => "discovery",
            Error::Status { .. } => "status",
        }
    }
}

/// What a reconcile did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The group has no objects left: what it made was deleted.
    Removed,
    /// The group was reconciled to this state.
    Reconciled(GroupState),
}

/// Reconciles one group. `now` stamps condition transitions (RFC 3339).
pub async fn reconcile(ctx: &Context, group: &Group, now: &str) -> Result<Outcome, Error> {
    if group.is_empty() {
        remove(ctx, &group.key).await?;
        return Ok(Outcome::Removed);
    }
    let admission = admit(group, &ctx.config.defaults);
    let state = match &admission.spec {
        Err(why) => GroupState::RuntimeRefused(why.clone()),
        Ok(spec) => {
            let owners = Owner::for_group(group.runtime.as_ref(), group.artifacts.iter());
            // Only a group that asks for queue scaling costs a discovery request.
            let keda = match queue_scaling::wanted(spec.autoscaling.as_ref()) {
                Some(_) => discover_keda(&ctx.client).await?,
                None => Keda::NotServed,
            };
            match render::render(&group.key, spec, &admission.accepted, &owners, keda) {
                Err(e) => GroupState::RenderFailed(e.to_string()),
                Ok(rendered) => {
                    let was_queue_scaled = group
                        .runtime
                        .as_ref()
                        .is_some_and(|r| status::queue_scaled(&r.status));
                    let workload = if spec.mode == RuntimeMode::Sidecar {
                        apply_sidecar(ctx, &group.key, &rendered).await?
                    } else {
                        apply(ctx, &group.key, &rendered, was_queue_scaled).await?
                    };
                    GroupState::Applied {
                        workload,
                        config_hash: rendered.config_hash,
                        accepted: admission.accepted.len(),
                        refused: admission.rejected.keys().cloned().collect(),
                        queue_scaling: rendered.queue_scaling,
                    }
                }
            }
        }
    };
    let http_port = admission
        .spec
        .as_ref()
        .map_or(ctx.config.defaults.http_port, |s| s.http_port);
    let sidecar = admission
        .spec
        .as_ref()
        .is_ok_and(|s| s.mode == RuntimeMode::Sidecar);
    for artifact in &group.artifacts {
        let url = if sidecar {
            status::api_url_at(artifact, &format!("localhost:{http_port}"))
        } else {
            status::api_url(artifact, &group.key.namespace, http_port)
        };
        let desired = status::artifact(artifact, admission.rejection(artifact), &state, url, now);
        write_status(ctx, artifact, desired).await?;
    }
    if let Some(runtime) = &group.runtime {
        let selector = if sidecar {
            format!("{SIDECAR_LABEL}={}", group.key.name)
        } else {
            render::selector_string(&group.key.name)
        };
        let desired = status::runtime(runtime, &state, &selector, now);
        write_status(ctx, runtime, desired).await?;
    }
    Ok(Outcome::Reconciled(state))
}

/// Applies a rendering, children before the Deployment that mounts and runs as them, and
/// the autoscaler after the Deployment it scales; returns the Deployment's rollout as the
/// API server reports it. `was_queue_scaled`: the last status said a ScaledObject scaled
/// the group, so one that is no longer rendered is deleted (only then: a cluster without
/// KEDA would answer every such delete with 404, for nothing).
async fn apply(
    ctx: &Context,
    key: &GroupKey,
    r: &Rendered,
    was_queue_scaled: bool,
) -> Result<Workload, Error> {
    apply_one(ctx, key, &r.config_map).await?;
    apply_one(ctx, key, &r.service_account).await?;
    apply_one(ctx, key, &r.role).await?;
    apply_one(ctx, key, &r.role_binding).await?;
    apply_one(ctx, key, &r.service).await?;
    let deployment = apply_deployment(ctx, key, &r.deployment).await?;
    let name = render::object_name(&key.name);
    match &r.hpa {
        Some(hpa) => apply_one(ctx, key, hpa).await?,
        None => delete::<HorizontalPodAutoscaler>(ctx, key, &name).await?,
    }
    match &r.pdb {
        Some(pdb) => apply_one(ctx, key, pdb).await?,
        None => delete::<PodDisruptionBudget>(ctx, key, &name).await?,
    }
    if let Some(auth) = &r.trigger_authentication {
        apply_keda(ctx, key, "TriggerAuthentication", auth).await?;
    } else if was_queue_scaled {
        delete_keda(ctx, key, "TriggerAuthentication", &name).await?;
    }
    match &r.scaled_object {
        Some(scaled) => apply_keda(ctx, key, "ScaledObject", scaled).await?,
        None if was_queue_scaled => delete_keda(ctx, key, "ScaledObject", &name).await?,
        None => {}
    }
    Ok(Workload::from_deployment(&deployment))
}

/// Applies the Deployment unless what was last applied is what is desired and the watch
/// still shows that Deployment; returns it as the API server answered or as last watched
/// (with its current rollout status either way).
async fn apply_deployment(
    ctx: &Context,
    key: &GroupKey,
    d: &Deployment,
) -> Result<Deployment, Error> {
    let hash = digest(d);
    let name = d.metadata.name.clone().unwrap_or_default();
    if let Some(live) = ctx
        .applied
        .unchanged_deployment(&key.namespace, &name, hash)
    {
        return Ok(live);
    }
    let answer = server_side_apply(ctx, key, d).await?;
    ctx.applied.applied_deployment(hash, &answer);
    Ok(answer)
}

/// Sidecar mode: the bundle ConfigMap is all the group owns (the webhook mounts it into the
/// application pods); what a former `deployment` mode made goes. Returns the census of the
/// pods carrying the sidecar.
async fn apply_sidecar(ctx: &Context, key: &GroupKey, r: &Rendered) -> Result<Workload, Error> {
    apply_one(ctx, key, &r.config_map).await?;
    delete_workload(ctx, key).await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let selector = format!("{SIDECAR_LABEL}={}", key.name);
    let listed = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::List {
            kind: "Pod",
            namespace: key.namespace.clone(),
            source,
        })?;
    let pods: Vec<serde_json::Value> = listed
        .items
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    Ok(Workload::from_census(&sidecar::census(
        &pods,
        &r.config_hash,
    )))
}

/// Whether the API server serves KEDA's ScaledObject (`scaledobjects.keda.sh`). Not
/// cached: KEDA installed after the operator is seen on the group's next reconcile.
async fn discover_keda(client: &Client) -> Result<Keda, Error> {
    const GROUP_VERSION: &str = "keda.sh/v1alpha1";
    match client.list_api_group_resources(GROUP_VERSION).await {
        Ok(list) if list.resources.iter().any(|r| r.name == "scaledobjects") => Ok(Keda::Served),
        Ok(_) => Ok(Keda::NotServed),
        // kube-apiserver answers a group version it does not serve with a plain-text 404
        // ("404 page not found"), which carries no Status reason: the code decides.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Keda::NotServed),
        Err(source) => Err(Error::Discovery {
            group_version: GROUP_VERSION,
            source,
        }),
    }
}

/// The API resource of a KEDA kind (`ScaledObject`, `TriggerAuthentication`).
fn keda_resource(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", kind);
    ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_ascii_lowercase()))
}

/// Server-side applies a KEDA object (a kind without Rust types), unless it is unchanged
/// since the last apply.
async fn apply_keda(
    ctx: &Context,
    key: &GroupKey,
    kind: &'static str,
    object: &DynamicObject,
) -> Result<(), Error> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let hash = digest(object);
    if ctx.applied.unchanged(kind, &key.namespace, &name, hash) {
        return Ok(());
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &key.namespace, &keda_resource(kind));
    let result = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await;
    match result {
        Ok(answer) => {
            let version = answer.metadata.resource_version.as_deref();
            ctx.applied
                .applied(kind, &key.namespace, &name, hash, version);
            Ok(())
        }
        Err(source) => {
            ctx.applied.forget(kind, &key.namespace, &name);
            Err(Error::Apply {
                kind,
                namespace: key.namespace.clone(),
                name,
                source,
            })
        }
    }
}

async fn delete_keda(
    ctx: &Context,
    key: &GroupKey,
    kind: &'static str,
    name: &str,
) -> Result<(), Error> {
    if ctx.applied.absent(kind, &key.namespace, name) {
        return Ok(());
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &key.namespace, &keda_resource(kind));
    let result = api.delete(name, &DeleteParams::background()).await;
    settle_delete(ctx, key, kind, name, result.map(drop)).map_or(Ok(()), Err)
}

/// Server-side applies an owned object, unless it is unchanged since the last apply.
async fn apply_one<K>(ctx: &Context, key: &GroupKey, object: &K) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let kind = <K as k8s_openapi::Resource>::KIND;
    let name = object.meta().name.clone().unwrap_or_default();
    let hash = digest(object);
    if ctx.applied.unchanged(kind, &key.namespace, &name, hash) {
        return Ok(());
    }
    let answer = server_side_apply(ctx, key, object).await?;
    let version = answer.meta().resource_version.as_deref();
    ctx.applied
        .applied(kind, &key.namespace, &name, hash, version);
    Ok(())
}

/// One server-side apply (forced, as the operator's field manager); a failure forgets
/// what was applied before.
async fn server_side_apply<K>(ctx: &Context, key: &GroupKey, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let kind = <K as k8s_openapi::Resource>::KIND;
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let result = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await;
    result.map_err(|source| {
        ctx.applied.forget(kind, &key.namespace, &name);
        Error::Apply {
            kind,
            namespace: key.namespace.clone(),
            name,
            source,
        }
    })
}

/// Deletes an owned object unless it is known to be gone already.
async fn delete<K>(ctx: &Context, key: &GroupKey, name: &str) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let kind = <K as k8s_openapi::Resource>::KIND;
    if ctx.applied.absent(kind, &key.namespace, name) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let result = api.delete(name, &DeleteParams::background()).await;
    settle_delete(ctx, key, kind, name, result.map(drop)).map_or(Ok(()), Err)
}

/// Records a delete's outcome: gone (deleted, or 404) is remembered, a failure forgets
/// the object and is returned.
fn settle_delete(
    ctx: &Context,
    key: &GroupKey,
    kind: &'static str,
    name: &str,
    result: Result<(), kube::Error>,
) -> Option<Error> {
    match result {
        Ok(()) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => {}
        Err(source) => {
            ctx.applied.forget(kind, &key.namespace, name);
            return Some(Error::Delete {
                kind,
                namespace: key.namespace.clone(),
                name: name.to_string(),
                source,
            });
        }
    }
    ctx.applied.deleted(kind, &key.namespace, name);
    None
}

/// Deletes what a group made. Owner references let Kubernetes' garbage collector do the
/// same; deleting here makes it immediate and does not depend on it. KEDA's objects are
/// left to the collector: a cluster without KEDA would answer each delete with 404.
async fn remove(ctx: &Context, key: &GroupKey) -> Result<(), Error> {
    delete_workload(ctx, key).await?;
    delete::<ConfigMap>(ctx, key, &render::bundle_name(&key.name)).await
}

/// Deletes the objects a group runs its own pods with (deployment mode): all but the
/// bundle ConfigMap.
async fn delete_workload(ctx: &Context, key: &GroupKey) -> Result<(), Error> {
    let name = render::object_name(&key.name);
    delete::<Deployment>(ctx, key, &name).await?;
    delete::<HorizontalPodAutoscaler>(ctx, key, &name).await?;
    delete::<PodDisruptionBudget>(ctx, key, &name).await?;
    delete::<Service>(ctx, key, &name).await?;
    delete::<RoleBinding>(ctx, key, &name).await?;
    delete::<Role>(ctx, key, &name).await?;
    delete::<ServiceAccount>(ctx, key, &name).await?;
    Ok(())
}

/// The API resource of a ferry.dev kind.
pub fn api_resource(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(ferry_api::GROUP, ferry_api::VERSION, kind);
    ApiResource::from_gvk_with_plural(&gvk, &ferry_api::resources::plural(kind))
}

async fn write_status(
    ctx: &Context,
    artifact: &Artifact,
    desired: serde_json::Value,
) -> Result<(), Error> {
    let Some(patch) = status::patch(&artifact.status, desired) else {
        return Ok(());
    };
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &artifact.namespace,
        &api_resource(artifact.kind),
    );
    match api
        .patch_status(
            &artifact.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {}
        // Deleted since the snapshot: its group is reconciled again on the delete event.
        Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(()),
        Err(source) => {
            return Err(Error::Status {
                id: artifact.id(),
                namespace: artifact.namespace.clone(),
                source,
            });
        }
    }
    if let Some(why) = newly_refused(&artifact.status, &patch["status"]) {
        announce(ctx, artifact, why).await;
    }
    Ok(())
}

/// The message of an `Accepted=False` condition that was not there before.
fn newly_refused<'a>(before: &serde_json::Value, after: &'a serde_json::Value) -> Option<&'a str> {
    let accepted = |status: &serde_json::Value| {
        status
            .get("conditions")
            .and_then(serde_json::Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Accepted"))
            .cloned()
    };
    let now = accepted(after)?;
    if now["status"] != "False" {
        return None;
    }
    let then = accepted(before);
    let same = then.is_some_and(|t| t["status"] == "False" && t["message"] == now["message"]);
    if same {
        return None;
    }
    after
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Accepted")?["message"]
        .as_str()
}

/// A Warning Event on a refused resource, so `kubectl describe` and event-based alerting
/// see it. Best effort: a failed Event never fails the reconcile.
async fn announce(ctx: &Context, artifact: &Artifact, why: &str) {
    warn(ctx, artifact, "NotAccepted", "Validate", why).await;
}

/// A Warning Event about a failed reconcile, on the group's IntegrationRuntime (or, for a
/// group without one, its first artifact): the failure shows where users look.
pub async fn announce_failure(ctx: &Context, group: &Group, error: &Error) {
    if let Some(target) = group.all().next() {
        warn(
            ctx,
            target,
            "ReconcileFailed",
            "Reconcile",
            &error.to_string(),
        )
        .await;
    }
}

async fn warn(ctx: &Context, artifact: &Artifact, reason: &str, action: &str, note: &str) {
    let Some(recorder) = &ctx.recorder else {
        return;
    };
    let reference = ObjectReference {
        api_version: Some(ferry_api::API_VERSION.to_string()),
        kind: Some(artifact.kind.to_string()),
        name: Some(artifact.name.clone()),
        namespace: Some(artifact.namespace.clone()),
        uid: artifact.uid.clone(),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(resource = %artifact.id(), error = %e, "publishing an Event failed");
    }
}

#[cfg(test)]
mod tests;
