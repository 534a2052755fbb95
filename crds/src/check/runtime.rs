//! IntegrationRuntime checks: what the CRD schema cannot say about a runtime group's
//! settings, and the group names every resource's `spec.runtime` may use. The operator
//! renders from the same verdict.

use crate::resources::{
    ClientAuth, HttpsListener, IntegrationRuntimeSpec, QueueAutoscaling, RuntimeMode,
    ServiceSettings,
};

/// What the CRD schema cannot say about a runtime's settings, each as `field: message`.
pub fn problems(spec: &IntegrationRuntimeSpec) -> Vec<String> {
    let mut problems = Vec::new();
    match spec.mode {
        RuntimeMode::Sidecar => problems.extend(sidecar_problems(spec)),
        RuntimeMode::Deployment => {
            if spec.sidecar.is_some() {
                problems.push(
                    "spec.sidecar: only a runtime in mode sidecar is injected into pods; set mode: sidecar or remove it".into(),
                );
            }
        }
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
    if spec.max_request_header_bytes < 8192 {
        problems.push(format!(
            "spec.maxRequestHeaderBytes: {} is below 8192, the least a listener can take",
            spec.max_request_header_bytes
        ));
    }
    if let Some(https) = &spec.https {
        problems.extend(https_problems(spec, https));
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

/// What the schema cannot say about the HTTPS listener: its port is its own, its
/// Secrets name something, and mutual TLS has a CA to verify with.
fn https_problems(spec: &IntegrationRuntimeSpec, https: &HttpsListener) -> Vec<String> {
    let mut problems = Vec::new();
    if https.port == 0 {
        problems.push("spec.https.port: must not be 0".into());
    }
    for (field, port) in [("httpPort", spec.http_port), ("adminPort", spec.admin_port)] {
        if https.port == port {
            problems.push(format!(
                "spec.https.port: {port} is also the {field}; each listener needs its own port"
            ));
        }
    }
    if https.secret_name.is_empty() {
        problems.push(
            "spec.https.secretName: names no Secret (a kubernetes.io/tls Secret with tls.crt and tls.key)"
                .into(),
        );
    }
    match (&https.client_auth, &https.client_ca_secret_name) {
        (ClientAuth::None, Some(_)) => problems.push(
            "spec.https.clientCaSecretName: client certificates are not asked for; set clientAuth optional or required".into(),
        ),
        (ClientAuth::Optional | ClientAuth::Required, None) => problems.push(
            "spec.https.clientAuth: verifying client certificates needs clientCaSecretName (a Secret with ca.crt)".into(),
        ),
        (_, Some(name)) if name.is_empty() => {
            problems.push("spec.https.clientCaSecretName: names no Secret".into());
        }
        _ => {}
    }
    problems
}

/// Settings of the group's own pods that a sidecar cannot honour: its pods are the
/// application's, scheduled, scaled and labelled by the application's own workload.
fn sidecar_problems(spec: &IntegrationRuntimeSpec) -> Vec<String> {
    let owned_by_the_application =
        "a sidecar runs in the application's pods, which the application's own workload";
    let mut problems = Vec::new();
    let mut refuse = |set: bool, field: &str, what: &str| {
        if set {
            problems.push(format!(
                "spec.{field}: {owned_by_the_application} {what}; remove it in mode sidecar"
            ));
        }
    };
    refuse(spec.replicas != 1, "replicas", "scales");
    refuse(spec.autoscaling.is_some(), "autoscaling", "scales");
    refuse(
        spec.pod_disruption_budget.is_some(),
        "podDisruptionBudget",
        "protects from disruption",
    );
    refuse(!spec.node_selector.is_empty(), "nodeSelector", "schedules");
    refuse(!spec.tolerations.is_empty(), "tolerations", "schedules");
    refuse(spec.affinity.is_some(), "affinity", "schedules");
    refuse(
        !spec.pod_annotations.is_empty(),
        "podAnnotations",
        "annotates",
    );
    refuse(!spec.pod_labels.is_empty(), "podLabels", "labels");
    refuse(
        spec.service != ServiceSettings::default(),
        "service",
        "exposes (the application reaches the sidecar on localhost)",
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> IntegrationRuntimeSpec {
        serde_json::from_value(json).expect("a spec")
    }

    #[test]
    fn a_sidecar_runtime_refuses_what_only_its_own_pods_could_honour() {
        assert!(
            problems(&spec(serde_json::json!({"mode": "sidecar",
            "sidecar": {"selector": {"matchLabels": {"app": "a"}}},
            "resources": {"limits": {"memory": "64Mi"}}, "env": [{"name": "A", "value": "1"}]})))
            .is_empty()
        );
        let found = problems(&spec(serde_json::json!({"mode": "sidecar", "replicas": 3,
            "autoscaling": {"maxReplicas": 3}, "podDisruptionBudget": {"maxUnavailable": 1},
            "nodeSelector": {"a": "b"}, "podLabels": {"a": "b"}, "service": {"type": "NodePort"}})));
        for field in [
            "spec.replicas",
            "spec.autoscaling",
            "spec.podDisruptionBudget",
            "spec.nodeSelector",
            "spec.podLabels",
            "spec.service",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(&format!("{field}:"))),
                "{field} in {found:?}"
            );
        }
    }

    #[test]
    fn sidecar_settings_need_mode_sidecar() {
        let found = problems(&spec(
            serde_json::json!({"sidecar": {"selector": {"matchLabels": {"app": "a"}}}}),
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("spec.sidecar:"), "{found:?}");
    }
}
