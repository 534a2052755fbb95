//! IntegrationRuntime checks: what the CRD schema cannot say about a runtime group's
//! settings, and the group names every resource's `spec.runtime` may use. The operator
//! renders from the same verdict.

use crate::resources::{IntegrationRuntimeSpec, QueueAutoscaling, RuntimeMode};

/// What the CRD schema cannot say about a runtime's settings, each as `field: message`.
pub fn problems(spec: &IntegrationRuntimeSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if spec.mode == RuntimeMode::Sidecar {
        problems.push(
            "spec.mode: sidecar mode is not rendered by this operator yet; use deployment".into(),
        );
    }
    if spec.replicas < 0 {
        problems.push(format!("spec.replicas: {} is negative", spec.replicas));
    }
    for (field, port) in [("httpPort", spec.http_port), ("adminPort", spec.admin_port)] {
        if port == 0 {
            problems.push(format!("spec.{field}: must not be 0"));
        }
    }
    if spec.http_port == spec.admin_port {
        problems.push(format!(
            "spec.adminPort: {} is also the httpPort; the two need different ports",
            spec.admin_port
        ));
    }
    if let Some(a) = spec.autoscaling.as_ref().filter(|a| a.enabled) {
        if a.min_replicas < 1 {
            problems.push("spec.autoscaling.minReplicas: must be at least 1".into());
        }
        if a.max_replicas < a.min_replicas {
            problems.push(format!(
                "spec.autoscaling.maxReplicas: {} is below minReplicas {}",
                a.max_replicas, a.min_replicas
            ));
        }
        for (field, target) in [
            (
                "targetCPUUtilizationPercentage",
                a.target_cpu_utilization_percentage,
            ),
            (
                "targetMemoryUtilizationPercentage",
                a.target_memory_utilization_percentage,
            ),
        ] {
            if target.is_some_and(|t| t < 1) {
                problems.push(format!("spec.autoscaling.{field}: must be at least 1"));
            }
        }
        if let Some(queue) = &a.queue {
            problems.extend(queue_problems(queue));
        }
    }
    if let Some(pdb) = &spec.pod_disruption_budget
        && pdb.min_available.is_some() == pdb.max_unavailable.is_some()
    {
        problems.push(
            "spec.podDisruptionBudget: set exactly one of minAvailable and maxUnavailable".into(),
        );
    }
    problems
}

/// What the schema cannot say about queue scaling. Whether the store exists and has a
/// processor is the operator's to say (its `QueueScaling` condition): the store is another
/// resource, which may arrive later.
fn queue_problems(queue: &QueueAutoscaling) -> Vec<String> {
    let mut problems = Vec::new();
    if queue.store.is_empty() {
        problems.push("spec.autoscaling.queue.store: names no MessageStore".into());
    }
    if queue.target_backlog_per_replica == 0 {
        problems.push("spec.autoscaling.queue.targetBacklogPerReplica: must be at least 1".into());
    }
    if let Some(address) = &queue.prometheus_server_address
        && !(address.starts_with("http://") || address.starts_with("https://"))
    {
        problems.push(format!(
            "spec.autoscaling.queue.prometheusServerAddress: \"{address}\" is not an http:// or https:// URL"
        ));
    }
    problems
}

/// The group's objects are named `ferry-<group>`, so a group name must make a Service name
/// (a DNS label); the problem as `spec.runtime: message`.
pub fn group_name_problem(name: &str) -> Option<String> {
    let ok = name.len() <= 57
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    (!ok).then(|| {
        format!(
            "spec.runtime: group name \"{name}\" cannot name a Service (ferry-{name}): use at most 57 lower-case letters, digits and '-'"
        )
    })
}
