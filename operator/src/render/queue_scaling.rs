//! Queue scaling: a group's `spec.autoscaling.queue` to a KEDA ScaledObject (and, for a
//! RabbitMQ broker URL kept in a Secret, the TriggerAuthentication that hands it to KEDA),
//! or the reason there is none, which becomes the IntegrationRuntime's `QueueScaling`
//! condition. Pure, like the rest of rendering: whether KEDA is installed is discovered by
//! the reconcile and passed in.
//!
//! The trigger follows the store: a `rabbitmq` store is scaled on its queue's length as the
//! broker reports it; any other store on the runtime's `ferry_processor_backlog` gauge (the
//! messages a processor last saw waiting in its store) through Prometheus. With a
//! ScaledObject there is no HorizontalPodAutoscaler of ours: KEDA makes its own, and two
//! autoscalers on one Deployment fight.

use ferry_api::resources::{Autoscaling, QueueAutoscaling, SYNAPSE_NAME_ANNOTATION};
use serde_json::{Value, json};

use crate::group::{Artifact, GroupKey};

/// KEDA's API version of ScaledObject and TriggerAuthentication.
pub const KEDA_API_VERSION: &str = "keda.sh/v1alpha1";
/// The condition type on the IntegrationRuntime.
pub const CONDITION: &str = "QueueScaling";

/// Whether the API server serves KEDA's `scaledobjects.keda.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keda {
    /// KEDA's CRDs are installed.
    Served,
    /// They are not: no ScaledObject can be created.
    NotServed,
}

/// What became of a group's queue scaling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// A ScaledObject scales the group.
    pub active: bool,
    /// The condition's reason (CamelCase).
    pub reason: &'static str,
    /// The condition's message.
    pub message: String,
}

/// The KEDA objects of a group, when it scales on a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The ScaledObject.
    pub scaled_object: Value,
    /// The TriggerAuthentication carrying the RabbitMQ URL from a Secret, when needed.
    pub trigger_authentication: Option<Value>,
}

/// The group's KEDA objects (when they can be rendered) and the verdict for its condition;
/// `None` when the group does not ask for queue scaling. `meta(name)` is the metadata every
/// object of the group carries.
pub fn plan(
    key: &GroupKey,
    autoscaling: &Autoscaling,
    artifacts: &[&Artifact],
    keda: Keda,
    meta: &dyn Fn(&str) -> Value,
) -> Option<(Option<Plan>, Verdict)> {
    let queue = autoscaling.queue.as_ref().filter(|_| autoscaling.enabled)?;
    let refused = |reason: &'static str, message: String| {
        Some((
            None,
            Verdict {
                active: false,
                reason,
                message: format!("{message}; the group scales on CPU and memory meanwhile"),
            },
        ))
    };
    if keda == Keda::NotServed {
        return refused(
            "KedaNotInstalled",
            "the API server does not serve scaledobjects.keda.sh: install KEDA for queue scaling"
                .into(),
        );
    }
    let Some(store) = artifacts.iter().find(|a| {
        a.kind == "MessageStore" && (a.name == queue.store || synapse_name(a) == queue.store)
    }) else {
        return refused(
            "StoreNotFound",
            format!(
                "MessageStore \"{}\" is not an accepted store of runtime group {}",
                queue.store, key.name
            ),
        );
    };
    let name = crate::render::object_name(&key.name);
    let store_spec = &store.document["spec"];
    let target = queue.target_backlog_per_replica.to_string();
    let mut authentication = None;
    let (trigger, what) = if store_spec["type"] == "rabbitmq" {
        let rabbit = &store_spec["rabbitmq"];
        let queue_name = rabbit["queue"]
            .as_str()
            .map_or_else(|| synapse_name(store).to_string(), str::to_string);
        let mut trigger = json!({
            "type": "rabbitmq",
            "metadata": {"protocol": "amqp", "mode": "QueueLength", "value": target,
                "queueName": queue_name},
        });
        match (&queue.rabbitmq_url_from, rabbit.get("passwordFrom")) {
            (Some(secret), _) => {
                authentication = Some(json!({
                    "apiVersion": KEDA_API_VERSION,
                    "kind": "TriggerAuthentication",
                    "metadata": meta(&name),
                    "spec": {"secretTargetRef": [
                        {"parameter": "host", "name": secret.name, "key": secret.key},
                    ]},
                }));
                trigger["authenticationRef"] = json!({"name": name});
            }
            (None, Some(_)) => {
                return refused(
                    "BrokerUrlMissing",
                    format!(
                        "MessageStore \"{}\" logs in with a password: name a Secret key holding the broker URL in spec.autoscaling.queue.rabbitmqUrlFrom",
                        queue.store
                    ),
                );
            }
            // No password: the runtime logs in as guest/guest, KEDA does the same.
            (None, None) => trigger["metadata"]["host"] = json!(rabbitmq_url(rabbit)),
        }
        (trigger, format!("RabbitMQ queue {queue_name}"))
    } else {
        let Some(server) = &queue.prometheus_server_address else {
            return refused(
                "PrometheusNotConfigured",
                format!(
                    "MessageStore \"{}\" is not a rabbitmq store: its backlog is read from Prometheus, set spec.autoscaling.queue.prometheusServerAddress",
                    queue.store
                ),
            );
        };
        let processors: Vec<&str> = artifacts
            .iter()
            .filter(|a| {
                a.kind == "MessageProcessor"
                    && a.document["spec"]["messageStore"]
                        .as_str()
                        .is_some_and(|s| s == store.name || s == synapse_name(store))
            })
            .map(|a| synapse_name(a))
            .collect();
        if processors.is_empty() {
            return refused(
                "NoProcessor",
                format!(
                    "no MessageProcessor of the group reads MessageStore \"{}\": ferry_processor_backlog is measured by the processor",
                    queue.store
                ),
            );
        }
        // Only the replica leading the group runs processors, so one series per processor
        // carries the backlog; `max` also ignores a stale series of a pod that just lost it.
        let query = format!(
            "max(ferry_processor_backlog{{namespace=\"{}\",processor=~\"{}\"}})",
            key.namespace,
            processors
                .iter()
                .map(|p| regex_escape(p))
                .collect::<Vec<_>>()
                .join("|")
        );
        let trigger = json!({
            "type": "prometheus",
            "metadata": {"serverAddress": server, "query": query, "threshold": target},
        });
        (
            trigger,
            format!("ferry_processor_backlog of {}", processors.join(", ")),
        )
    };
    let mut triggers = vec![trigger];
    for (resource, target) in [
        ("cpu", autoscaling.target_cpu_utilization_percentage),
        ("memory", autoscaling.target_memory_utilization_percentage),
    ] {
        if let Some(percent) = target {
            triggers.push(json!({"type": resource, "metricType": "Utilization",
                "metadata": {"value": percent.to_string()}}));
        }
    }
    let scaled_object = json!({
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": meta(&name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": autoscaling.min_replicas,
            "maxReplicaCount": autoscaling.max_replicas,
            "triggers": triggers,
        },
    });
    Some((
        Some(Plan {
            scaled_object,
            trigger_authentication: authentication,
        }),
        Verdict {
            active: true,
            reason: "ScaledObject",
            message: format!(
                "KEDA ScaledObject {name} scales on {what}: {} messages per replica, {} to {} replicas",
                queue.target_backlog_per_replica,
                autoscaling.min_replicas,
                autoscaling.max_replicas
            ),
        },
    ))
}

/// Whether the group asks for queue scaling (and so whether the reconcile must discover
/// KEDA).
pub fn wanted(autoscaling: Option<&Autoscaling>) -> Option<&QueueAutoscaling> {
    autoscaling.filter(|a| a.enabled)?.queue.as_ref()
}

/// The name the runtime knows an artifact by: its Synapse name when it has one.
fn synapse_name(artifact: &Artifact) -> &str {
    artifact.document["metadata"]["annotations"][SYNAPSE_NAME_ANNOTATION]
        .as_str()
        .unwrap_or(&artifact.name)
}

/// The broker URL of a store without a password, as the runtime builds it.
fn rabbitmq_url(rabbit: &Value) -> String {
    let tls = rabbit["tls"].as_bool().unwrap_or(false);
    let port = rabbit["port"]
        .as_u64()
        .unwrap_or(if tls { 5671 } else { 5672 });
    let vhost = rabbit["virtualHost"].as_str().unwrap_or("/");
    let vhost: String = vhost
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "{}://guest:guest@{}:{port}/{vhost}",
        if tls { "amqps" } else { "amqp" },
        rabbit["host"].as_str().unwrap_or_default().trim()
    )
}

/// A processor name as a PromQL regular expression matching only itself.
fn regex_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' {
            // Two backslashes: one for the PromQL string, one for the regular expression.
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
