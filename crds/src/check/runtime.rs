//! IntegrationRuntime checks: what the CRD schema cannot say about a runtime group's
//! settings, and the group names every resource's `spec.runtime` may use. The operator
//! renders from the same verdict.

use crate::resources::{
    ClientAuth, HttpsListener, IntegrationRuntimeSpec, QueueAutoscaling, RuntimeMode, SecretMount,
    ServiceSettings, TracingSettings,
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
    problems.extend(secret_mount_problems(&spec.secret_mounts));
    if let Some(tracing) = &spec.tracing {
        problems.extend(tracing_problems(tracing));
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

/// Directories the runtime's pod mounts itself (the operator renders them): a Secret
/// mounted at, inside or around one would hide or be hidden by it.
pub const RUNTIME_DIRS: [&str; 5] = [
    "/etc/ferry/bundle",
    "/etc/ferry/tls",
    "/etc/ferry/tls-client-ca",
    "/var/lib/ferry",
    "/tmp",
];

/// Secret mounts: a Secret's name, and an absolute directory of its own for each.
fn secret_mount_problems(mounts: &[SecretMount]) -> Vec<String> {
    use std::path::{Component, Path};
    let mut problems = Vec::new();
    let mut good: Vec<usize> = Vec::new();
    for (i, mount) in mounts.iter().enumerate() {
        let field = format!("spec.secretMounts[{i}]");
        if !is_dns_subdomain(&mount.secret_name) {
            problems.push(format!(
                "{field}.secretName: {:?} is not a Secret name (lower-case letters, digits, '-' and '.')",
                mount.secret_name
            ));
        }
        let path = Path::new(&mount.mount_path);
        let plain = path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        if !path.is_absolute() || !plain || mount.mount_path == "/" {
            problems.push(format!(
                "{field}.mountPath: {:?} is not an absolute directory (no '.', '..' or '/' alone)",
                mount.mount_path
            ));
            continue;
        }
        let overlaps = |other: &str| path.starts_with(other) || Path::new(other).starts_with(path);
        if let Some(own) = RUNTIME_DIRS.iter().find(|d| overlaps(d)) {
            problems.push(format!(
                "{field}.mountPath: {:?} overlaps the runtime's own {own}; choose another directory, e.g. /etc/ferry/secrets/{}",
                mount.mount_path, mount.secret_name
            ));
            continue;
        }
        // Only against the mounts already found good: one problem is reported once.
        if let Some(&j) = good.iter().find(|&&j| overlaps(&mounts[j].mount_path)) {
            problems.push(format!(
                "{field}.mountPath: {:?} overlaps spec.secretMounts[{j}] ({:?}); each Secret needs a directory of its own",
                mount.mount_path, mounts[j].mount_path
            ));
            continue;
        }
        good.push(i);
    }
    problems
}

/// A Kubernetes object name (RFC 1123 subdomain): at most 253 lower-case letters, digits,
/// '-' and '.', starting and ending with a letter or digit.
fn is_dns_subdomain(name: &str) -> bool {
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    name.len() <= 253
        && edge(name.as_bytes().first())
        && edge(name.as_bytes().last())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// What the schema cannot say about the HTTPS listener: its port is its own, its
/// Secrets name something, and mutual TLS has a CA to verify with.
fn tracing_problems(tracing: &TracingSettings) -> Vec<String> {
    let mut problems = Vec::new();
    let endpoint = tracing.otlp_endpoint.trim();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        problems.push(format!(
            "spec.tracing.otlpEndpoint: {endpoint:?} is not an http:// or https:// URL"
        ));
    }
    if let Some(ratio) = tracing.sampling_ratio
        && !(0.0..=1.0).contains(&ratio)
    {
        problems.push(format!(
            "spec.tracing.samplingRatio: {ratio} is not between 0 and 1"
        ));
    }
    if tracing
        .service_name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        problems.push("spec.tracing.serviceName: must not be empty when set".into());
    }
    problems
}

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
    if let Some(bytes) = https.max_request_header_bytes
        && bytes < 8192
    {
        problems.push(format!(
            "spec.https.maxRequestHeaderBytes: {bytes} is below 8192, the least a listener can take"
        ));
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
    fn tracing_needs_an_http_collector_url_and_a_ratio_between_zero_and_one() {
        assert!(
            problems(&spec(serde_json::json!({"tracing": {
                "otlpEndpoint": "http://collector:4317", "protocol": "grpc",
                "samplingRatio": 0.01, "serviceName": "orders"}})))
            .is_empty()
        );
        let found = problems(&spec(serde_json::json!({"tracing": {
            "otlpEndpoint": "collector:4318", "samplingRatio": 1.5, "serviceName": " "}})));
        for field in [
            "spec.tracing.otlpEndpoint",
            "spec.tracing.samplingRatio",
            "spec.tracing.serviceName",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(&format!("{field}:"))),
                "{field} in {found:?}"
            );
        }
        // The protocol is one of two names; the schema refuses others.
        assert!(
            serde_json::from_value::<IntegrationRuntimeSpec>(serde_json::json!({"tracing": {
                "otlpEndpoint": "http://c:4317", "protocol": "thrift"}}))
            .is_err()
        );
    }

    #[test]
    fn secret_mounts_need_a_secret_and_a_directory_of_their_own() {
        assert!(
            problems(&spec(serde_json::json!({"secretMounts": [
                {"secretName": "jwt-keys", "mountPath": "/etc/ferry/secrets/jwt"},
                {"secretName": "users", "mountPath": "/etc/ferry/secrets/users"}]})))
            .is_empty()
        );
        let found = problems(&spec(serde_json::json!({"secretMounts": [
            {"secretName": "Bad_Name", "mountPath": "relative/dir"},
            {"secretName": "a", "mountPath": "/etc/ferry/bundle/keys"},
            {"secretName": "b", "mountPath": "/etc/ferry"},
            {"secretName": "c", "mountPath": "/srv/keys/../x"},
            {"secretName": "d", "mountPath": "/srv/keys"},
            {"secretName": "e", "mountPath": "/srv/keys/inner"}]})));
        let expect = [
            "spec.secretMounts[0].secretName: \"Bad_Name\" is not a Secret name",
            "spec.secretMounts[0].mountPath: \"relative/dir\" is not an absolute directory",
            "spec.secretMounts[1].mountPath: \"/etc/ferry/bundle/keys\" overlaps the runtime's own /etc/ferry/bundle",
            "spec.secretMounts[2].mountPath: \"/etc/ferry\" overlaps the runtime's own /etc/ferry/bundle",
            "spec.secretMounts[3].mountPath: \"/srv/keys/../x\" is not an absolute directory",
            "spec.secretMounts[5].mountPath: \"/srv/keys/inner\" overlaps spec.secretMounts[4]",
        ];
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        for (got, want) in found.iter().zip(expect) {
            assert!(got.starts_with(want), "{got} / {want}");
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
