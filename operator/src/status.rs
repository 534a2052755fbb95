//! Status: what each resource reports back — `Accepted` (did it go into its group's bundle,
//! and if not, the located reason) and `Ready` (do pods serve it) on every artifact; replica
//! counts, config hash and `Ready`/`Progressing`/`Degraded` on the IntegrationRuntime.
//! Pure: given the admission verdict and the Deployment as the API server returned it,
//! the desired status; [`patch`] then says whether anything changed, so an unchanged
//! group writes nothing and status updates never feed a reconcile loop.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Map, Value, json};

use crate::group::Artifact;
use crate::render::queue_scaling::{self, Verdict};
use crate::sidecar::Census;

/// The rollout of a group's Deployment, from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Workload {
    /// Pods wanted (`spec.replicas`).
    pub desired: i32,
    /// Pods that exist.
    pub replicas: i32,
    /// Pods running the current template.
    pub updated: i32,
    /// Pods passing readiness.
    pub ready: i32,
    /// Pods available (ready for `minReadySeconds`).
    pub available: i32,
    /// Whether the Deployment controller has seen the latest spec.
    pub observed: bool,
    /// Sidecar mode: the pods are the applications' pods carrying the sidecar, `updated`
    /// those injected with the current bundle; nothing rolls them but their owners.
    pub sidecar: bool,
}

impl Workload {
    /// Reads a Deployment as returned by the API server.
    pub fn from_deployment(d: &Deployment) -> Self {
        let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = d.status.clone().unwrap_or_default();
        Self {
            desired,
            replicas: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            observed: status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0),
            sidecar: false,
        }
    }

    /// Reads the count of a sidecar group's pods.
    pub fn from_census(c: &Census) -> Self {
        Self {
            desired: c.pods,
            replicas: c.pods,
            updated: c.current,
            ready: c.ready,
            available: c.ready,
            observed: true,
            sidecar: true,
        }
    }

    /// No pod of an older template is left: whatever is ready serves the current bundle.
    pub fn only_current(&self) -> bool {
        self.observed && self.updated > 0 && self.replicas == self.updated
    }

    /// Every pod runs the current template and is available (`kubectl rollout status`).
    pub fn rolled_out(&self) -> bool {
        self.observed
            && self.updated >= self.desired
            && self.replicas == self.updated
            && self.available >= self.updated
    }
}

/// How far the group got in this reconcile.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupState {
    /// The IntegrationRuntime was refused: nothing of the group was changed.
    RuntimeRefused(String),
    /// The group could not be rendered (its bundle is too large, ...).
    RenderFailed(String),
    /// Applied; the Deployment is as the API server returned it.
    Applied {
        /// The rollout.
        workload: Workload,
        /// The bundle hash.
        config_hash: String,
        /// Artifacts in the bundle.
        accepted: usize,
        /// `Kind/name` of refused artifacts.
        refused: Vec<String>,
        /// What became of queue scaling, when the group asks for it.
        queue_scaling: Option<Verdict>,
    },
}

/// One status condition, as JSON (`metav1.Condition`).
fn condition(
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> Value {
    let mut c = json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    });
    if let Some(g) = generation {
        c["observedGeneration"] = json!(g);
    }
    c
}

/// The `Ready` condition of anything the group's pods serve.
fn ready(state: &GroupState, group: &str, generation: Option<i64>, now: &str) -> Value {
    let (ok, reason, message) = match state {
        GroupState::RuntimeRefused(_) => (
            false,
            "RuntimeNotAccepted",
            format!(
                "IntegrationRuntime/{group} is not accepted; the group's workload is left as it was"
            ),
        ),
        GroupState::RenderFailed(why) => (false, "RenderFailed", why.clone()),
        GroupState::Applied { workload: w, .. } if w.sidecar => sidecar_ready(w),
        GroupState::Applied { workload: w, .. } => {
            if w.desired == 0 {
                (false, "ScaledToZero", "the group runs no pods".to_string())
            } else if w.only_current() && w.ready > 0 {
                (
                    true,
                    "Running",
                    format!("{} of {} pods ready", w.ready, w.desired),
                )
            } else if w.ready > 0 {
                (
                    false,
                    "Progressing",
                    format!(
                        "rolling out: {} of {} pods run the current configuration",
                        w.updated, w.desired
                    ),
                )
            } else {
                (
                    false,
                    "Unavailable",
                    format!("0 of {} pods ready", w.desired),
                )
            }
        }
    };
    condition("Ready", ok, reason, &message, generation, now)
}

/// `Ready` of a sidecar group: its pods are the applications', so "current" is what each
/// was injected with; a stale one loads the new bundle when its owner restarts it.
fn sidecar_ready(w: &Workload) -> (bool, &'static str, String) {
    if w.replicas == 0 {
        (
            false,
            "NoPods",
            "no application pod carries the sidecar yet: pods that sidecar.selector matches get it when they are created".to_string(),
        )
    } else if w.updated < w.replicas {
        (false, "RestartNeeded", stale_message(w))
    } else if w.ready > 0 {
        (
            true,
            "Running",
            format!("{} of {} sidecars ready", w.ready, w.replicas),
        )
    } else {
        (
            false,
            "Unavailable",
            format!("0 of {} sidecars ready", w.replicas),
        )
    }
}

fn stale_message(w: &Workload) -> String {
    format!(
        "{} of {} pods carry the current configuration; the others load it when restarted (kubectl rollout restart of their Deployment)",
        w.updated, w.replicas
    )
}

/// The status an artifact should have.
pub fn artifact(
    artifact: &Artifact,
    rejection: Option<&str>,
    state: &GroupState,
    url: Option<String>,
    now: &str,
) -> Value {
    let generation = artifact.generation;
    let accepted = match rejection {
        None => condition(
            "Accepted",
            true,
            "Valid",
            &format!("in the bundle of runtime group {}", artifact.runtime),
            generation,
            now,
        ),
        Some(why) => condition("Accepted", false, "Invalid", why, generation, now),
    };
    let ready = match rejection {
        None => ready(state, &artifact.runtime, generation, now),
        Some(_) => condition(
            "Ready",
            false,
            "NotAccepted",
            "not in the group's bundle: see the Accepted condition",
            generation,
            now,
        ),
    };
    let mut status = json!({"observedGeneration": generation, "conditions": [accepted, ready]});
    if matches!(
        artifact.kind,
        "IntegrationAPI" | "ProxyService" | "DataService"
    ) {
        status["url"] = json!(url.filter(|_| rejection.is_none()));
    }
    status
}

/// The status the group's IntegrationRuntime should have.
pub fn runtime(runtime: &Artifact, state: &GroupState, selector: &str, now: &str) -> Value {
    let generation = runtime.generation;
    let group = runtime.name.as_str();
    let mut status = json!({
        "observedGeneration": generation,
        "selector": selector,
    });
    let settings_valid = condition(
        "Accepted",
        true,
        "Valid",
        "runtime settings accepted",
        generation,
        now,
    );
    let (accepted, progressing, degraded) = match state {
        GroupState::RuntimeRefused(why) => (
            condition("Accepted", false, "Invalid", why, generation, now),
            condition(
                "Progressing",
                false,
                "NotAccepted",
                "nothing is rolled out while the runtime is not accepted",
                generation,
                now,
            ),
            condition("Degraded", true, "RuntimeNotAccepted", why, generation, now),
        ),
        GroupState::RenderFailed(why) => (
            settings_valid.clone(),
            condition("Progressing", false, "RenderFailed", why, generation, now),
            condition("Degraded", true, "RenderFailed", why, generation, now),
        ),
        GroupState::Applied {
            workload: w,
            config_hash,
            accepted,
            refused,
            ..
        } => {
            status["replicas"] = json!(w.replicas);
            status["readyReplicas"] = json!(w.ready);
            status["updatedReplicas"] = json!(w.updated);
            status["configHash"] = json!(config_hash);
            status["artifacts"] = json!(accepted);
            let progressing = if w.sidecar {
                if w.updated == w.replicas {
                    condition(
                        "Progressing",
                        false,
                        "Current",
                        "every sidecar carries the current configuration",
                        generation,
                        now,
                    )
                } else {
                    condition(
                        "Progressing",
                        false,
                        "RestartNeeded",
                        &stale_message(w),
                        generation,
                        now,
                    )
                }
            } else if w.rolled_out() {
                condition(
                    "Progressing",
                    false,
                    "RolledOut",
                    "every pod runs the current configuration",
                    generation,
                    now,
                )
            } else {
                condition(
                    "Progressing",
                    true,
                    "RollingOut",
                    &format!(
                        "{} of {} pods run the current configuration",
                        w.updated, w.desired
                    ),
                    generation,
                    now,
                )
            };
            let degraded = if refused.is_empty() {
                condition(
                    "Degraded",
                    false,
                    "AllAccepted",
                    "every artifact of the group is accepted",
                    generation,
                    now,
                )
            } else {
                condition(
                    "Degraded",
                    true,
                    "ArtifactsNotAccepted",
                    &format!(
                        "{} artifact(s) not accepted: {}",
                        refused.len(),
                        refused.join(", ")
                    ),
                    generation,
                    now,
                )
            };
            (settings_valid, progressing, degraded)
        }
    };
    let mut conditions = vec![
        accepted,
        ready(state, group, generation, now),
        progressing,
        degraded,
    ];
    if let GroupState::Applied {
        queue_scaling: Some(v),
        ..
    } = state
    {
        conditions.push(condition(
            queue_scaling::CONDITION,
            v.active,
            v.reason,
            &v.message,
            generation,
            now,
        ));
    }
    status["conditions"] = json!(conditions);
    status
}

/// Whether the last status written says a KEDA ScaledObject scaled the group (so one may
/// be left to delete when it no longer does).
pub fn queue_scaled(status: &Value) -> bool {
    status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == queue_scaling::CONDITION && c["status"] == "True")
    })
}

/// The merge patch that takes `current` to `desired`, or `None` when nothing we manage
/// would change. Conditions keep their `lastTransitionTime` while their status stays.
pub fn patch(current: &Value, mut desired: Value) -> Option<Value> {
    let empty = Vec::new();
    let current_conditions = current
        .get("conditions")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if let Some(conditions) = desired.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conditions.iter_mut() {
            let before = current_conditions
                .iter()
                .find(|old| old.get("type") == c.get("type"));
            if let Some(before) = before
                && before.get("status") == c.get("status")
                && let Some(time) = before.get("lastTransitionTime")
            {
                c["lastTransitionTime"] = time.clone();
            }
        }
    }
    let Value::Object(fields) = &desired else {
        return None;
    };
    let changed = fields
        .iter()
        .any(|(k, v)| current.get(k).unwrap_or(&Value::Null) != v);
    changed.then(|| {
        let mut status = Map::new();
        for (k, v) in fields {
            status.insert(k.clone(), v.clone());
        }
        json!({ "status": status })
    })
}

/// Where an IntegrationAPI (or a ProxyService, at `/services/<name>`) answers inside the
/// cluster.
pub fn api_url(artifact: &Artifact, namespace: &str, http_port: u16) -> Option<String> {
    let service = crate::render::object_name(&artifact.runtime);
    api_url_at(artifact, &format!("{service}.{namespace}.svc:{http_port}"))
}

/// Where an IntegrationAPI (or a ProxyService) answers at `authority` (host and port): the
/// group's Service, or `localhost:<httpPort>` for the application beside a sidecar.
pub fn api_url_at(artifact: &Artifact, authority: &str) -> Option<String> {
    let spec = artifact.document.get("spec")?;
    // Proxies and data services are served at /services/<name>, as in Micro Integrator.
    if artifact.kind == "ProxyService" || artifact.kind == "DataService" {
        let meta = artifact.document.get("metadata")?;
        let name = meta
            .get("annotations")
            .and_then(|a| a.get(ferry_api::resources::SYNAPSE_NAME_ANNOTATION))
            .or_else(|| meta.get("name"))?
            .as_str()?;
        return Some(format!("http://{authority}/services/{name}"));
    }
    let context = spec.get("context")?.as_str()?;
    let path = match spec.get("version").and_then(Value::as_str) {
        Some(version) if spec.get("versionType").and_then(Value::as_str) == Some("url") => {
            context.replace("{version}", version)
        }
        Some(version) => format!("{context}/{version}"),
        None => context.to_string(),
    };
    Some(format!("http://{authority}{path}"))
}

#[cfg(test)]
mod tests;
