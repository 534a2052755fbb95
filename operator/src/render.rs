//! Rendering: a group's admitted artifacts and runtime settings to the Kubernetes objects
//! that run them. Pure — no API calls, no clock — so every object is checked by golden
//! tests, and reconciling the same input twice writes the same bytes.

use std::collections::BTreeMap;

use ferry_api::resources::{IntegrationRuntimeSpec, ReloadStrategy, SecretKeyRef};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::DynamicObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::group::{Artifact, GroupKey};

pub mod queue_scaling;

pub use queue_scaling::Keda;

/// The field manager of every object the operator applies.
pub const MANAGER: &str = "ferry-operator";
/// Label naming the group an object belongs to.
pub const GROUP_LABEL: &str = "ferry.dev/runtime";
/// Label marking objects this operator made (the child watch selects on it).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Pod-template annotation carrying the bundle hash, so a changed bundle rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "ferry.dev/config-hash";
/// Where the bundle is mounted in the runtime container.
pub const BUNDLE_DIR: &str = "/etc/ferry/bundle";
/// Where the HTTPS listener's `kubernetes.io/tls` Secret is mounted.
pub const TLS_DIR: &str = "/etc/ferry/tls";
/// Where the Secret with the CA that verifies client certificates is mounted.
pub const CLIENT_CA_DIR: &str = "/etc/ferry/tls-client-ca";
/// The runtime's writable data directory (embedded stores).
pub const DATA_DIR: &str = "/var/lib/ferry";
/// A ConfigMap holds at most 1 MiB.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;
/// The non-root user of the runtime image.
const RUNTIME_UID: i64 = 65532;

/// Everything a group runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Hash of the bundle's content (16 hex digits).
    pub config_hash: String,
    /// The bundle.
    pub config_map: ConfigMap,
    /// The pods' identity.
    pub service_account: ServiceAccount,
    /// What the pods may do: hold the group's Lease so one replica runs tasks and
    /// processors.
    pub role: Role,
    /// Grants the role to the service account.
    pub role_binding: RoleBinding,
    /// The runtime pods.
    pub deployment: Deployment,
    /// The HTTP and admin ports.
    pub service: Service,
    /// Present when autoscaling is enabled and no ScaledObject scales the group.
    pub hpa: Option<HorizontalPodAutoscaler>,
    /// KEDA's ScaledObject, when the group scales on a queue and KEDA is installed.
    pub scaled_object: Option<DynamicObject>,
    /// KEDA's TriggerAuthentication, when the ScaledObject reads a broker URL from a Secret.
    pub trigger_authentication: Option<DynamicObject>,
    /// What became of queue scaling, when the group asks for it (its `QueueScaling`
    /// condition).
    pub queue_scaling: Option<queue_scaling::Verdict>,
    /// Present when a disruption budget is set.
    pub pdb: Option<PodDisruptionBudget>,
}

/// Who owns the rendered objects: deleting the owners deletes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// `Kind` of the owner.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// True for the IntegrationRuntime, which controls its group.
    pub controller: bool,
}

impl Owner {
    /// The owners of a group's objects: its IntegrationRuntime when it has one; otherwise
    /// every artifact, so the objects go when the last artifact of the group goes.
    pub fn for_group<'a>(
        runtime: Option<&'a Artifact>,
        artifacts: impl IntoIterator<Item = &'a Artifact>,
    ) -> Vec<Owner> {
        let owner = |a: &Artifact, controller: bool| {
            a.uid.as_ref().map(|uid| Owner {
                kind: a.kind.to_string(),
                name: a.name.clone(),
                uid: uid.clone(),
                controller,
            })
        };
        match runtime {
            Some(runtime) => owner(runtime, true).into_iter().collect(),
            None => artifacts
                .into_iter()
                .filter_map(|a| owner(a, false))
                .collect(),
        }
    }
}

/// Names of a group's objects.
pub fn object_name(group: &str) -> String {
    format!("ferry-{group}")
}

/// Name of a group's bundle ConfigMap.
pub fn bundle_name(group: &str) -> String {
    format!("ferry-{group}-bundle")
}

/// The labels on every object of a group (and the pods' selector: the first two).
pub fn labels(group: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "ferry".to_string()),
        (GROUP_LABEL.to_string(), group.to_string()),
        (
            "app.kubernetes.io/component".to_string(),
            "runtime".to_string(),
        ),
        (MANAGED_BY_LABEL.to_string(), MANAGER.to_string()),
    ])
}

/// The pods' selector.
pub fn selector(group: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "ferry".to_string()),
        (GROUP_LABEL.to_string(), group.to_string()),
    ])
}

/// The selector as `kubectl get -l` takes it (the scale subresource reports it).
pub fn selector_string(group: &str) -> String {
    selector(group)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The bundle: one key per artifact (`<kind>-<name>.yaml`), in key order, and its hash.
pub fn bundle(artifacts: &[&Artifact]) -> (BTreeMap<String, String>, String) {
    let mut data = BTreeMap::new();
    for artifact in artifacts {
        let mut text = format!("# {} (rendered by ferry-operator)\n", artifact.id());
        ferry_api::yaml_writer::document(&mut text, &artifact.document);
        data.insert(
            format!(
                "{}-{}.yaml",
                artifact.kind.to_ascii_lowercase(),
                artifact.name
            ),
            text,
        );
    }
    let mut hasher = Sha256::new();
    for (key, value) in &data {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    let hash: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (data, hash)
}

/// Every Secret key the artifacts refer to (`secretKeyRef: {name, key}` anywhere in a
/// spec), sorted and without repeats: each becomes an environment variable of the pods.
pub fn secret_refs(artifacts: &[&Artifact]) -> Vec<SecretKeyRef> {
    fn walk(value: &Value, out: &mut Vec<SecretKeyRef>) {
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("secretKeyRef") {
                    let text = |f: &str| r.get(f).and_then(Value::as_str).map(str::to_string);
                    if let (Some(name), Some(key)) = (text("name"), text("key")) {
                        out.push(SecretKeyRef { name, key });
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for artifact in artifacts {
        walk(&artifact.document["spec"], &mut out);
    }
    out.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
    out.dedup();
    out
}

/// Why a group cannot be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The bundle does not fit in a ConfigMap.
    #[error("the group's bundle is {0} bytes; a ConfigMap holds at most 1 MiB: split the group")]
    TooLarge(usize),
    /// A rendered object did not convert to its Kubernetes type (a bug, reported).
    #[error("rendering {0} failed: {1}")]
    Object(&'static str, String),
}

/// Renders a group. `keda`: whether KEDA's ScaledObject is served, for queue scaling.
pub fn render(
    key: &GroupKey,
    spec: &IntegrationRuntimeSpec,
    artifacts: &[&Artifact],
    owners: &[Owner],
    keda: Keda,
) -> Result<Rendered, RenderError> {
    let (data, config_hash) = bundle(artifacts);
    let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_BUNDLE_BYTES {
        return Err(RenderError::TooLarge(size));
    }
    let group = key.name.as_str();
    let name = object_name(group);
    let meta = |name: &str| {
        json!({
            "name": name,
            "namespace": key.namespace,
            "labels": labels(group),
            "ownerReferences": owners.iter().map(|o| json!({
                "apiVersion": ferry_api::API_VERSION,
                "kind": o.kind,
                "name": o.name,
                "uid": o.uid,
                "controller": o.controller,
                "blockOwnerDeletion": o.controller,
            })).collect::<Vec<_>>(),
        })
    };
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(&bundle_name(group)),
        "data": data,
    });
    let service_account = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(&name),
    });
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": meta(&name),
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update", "patch"],
            },
            // The replica running a processor reports its state and why it stopped.
            {
                "apiGroups": [ferry_api::GROUP],
                "resources": ["messageprocessors/status"],
                "verbs": ["patch"],
            },
            {
                "apiGroups": [""],
                "resources": ["events"],
                "verbs": ["create"],
            },
        ],
    });
    let role_binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta(&name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": key.namespace}],
    });
    let deployment = deployment(key, spec, artifacts, &config_hash, meta(&name));
    let mut service_meta = meta(&name);
    if !spec.service.annotations.is_empty() {
        service_meta["annotations"] = json!(spec.service.annotations);
    }
    let mut ports = vec![
        json!({"name": "http", "port": spec.http_port, "targetPort": "http", "protocol": "TCP"}),
        json!({"name": "admin", "port": spec.admin_port, "targetPort": "admin", "protocol": "TCP"}),
    ];
    if let Some(https) = &spec.https {
        ports.push(
            json!({"name": "https", "port": https.port, "targetPort": "https", "protocol": "TCP"}),
        );
    }
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": service_meta,
        "spec": {
            "type": spec.service.type_,
            "selector": selector(group),
            "ports": ports,
        },
    });
    let queue = spec
        .autoscaling
        .as_ref()
        .and_then(|a| queue_scaling::plan(key, a, artifacts, keda, &meta));
    let (keda_plan, queue_scaling) = match queue {
        Some((plan, verdict)) => (plan, Some(verdict)),
        None => (None, None),
    };
    let hpa = spec
        .autoscaling
        .as_ref()
        .filter(|a| a.enabled && keda_plan.is_none())
        .map(|a| {
            let utilization = |resource: &str, percent: i32| {
                json!({"type": "Resource", "resource": {"name": resource,
                "target": {"type": "Utilization", "averageUtilization": percent}}})
            };
            let mut metrics = Vec::new();
            let cpu = match (
                a.target_cpu_utilization_percentage,
                a.target_memory_utilization_percentage,
            ) {
                (None, None) => Some(75),
                (cpu, _) => cpu,
            };
            if let Some(cpu) = cpu {
                metrics.push(utilization("cpu", cpu));
            }
            if let Some(memory) = a.target_memory_utilization_percentage {
                metrics.push(utilization("memory", memory));
            }
            json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta(&name),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": a.min_replicas,
                    "maxReplicas": a.max_replicas,
                    "metrics": metrics,
                },
            })
        });
    let pdb = spec.pod_disruption_budget.as_ref().map(|p| {
        let mut spec = json!({"selector": {"matchLabels": selector(group)}});
        if let Some(min) = &p.min_available {
            spec["minAvailable"] = json!(min);
        }
        if let Some(max) = &p.max_unavailable {
            spec["maxUnavailable"] = json!(max);
        }
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(&name),
            "spec": spec,
        })
    });
    Ok(Rendered {
        config_hash,
        config_map: typed("ConfigMap", config_map)?,
        service_account: typed("ServiceAccount", service_account)?,
        role: typed("Role", role)?,
        role_binding: typed("RoleBinding", role_binding)?,
        deployment: typed("Deployment", deployment)?,
        service: typed("Service", service)?,
        hpa: hpa
            .map(|h| typed("HorizontalPodAutoscaler", h))
            .transpose()?,
        pdb: pdb.map(|p| typed("PodDisruptionBudget", p)).transpose()?,
        scaled_object: keda_plan
            .as_ref()
            .map(|p| typed("ScaledObject", p.scaled_object.clone()))
            .transpose()?,
        trigger_authentication: keda_plan
            .and_then(|p| p.trigger_authentication)
            .map(|t| typed("TriggerAuthentication", t))
            .transpose()?,
        queue_scaling,
    })
}

fn deployment(
    key: &GroupKey,
    spec: &IntegrationRuntimeSpec,
    artifacts: &[&Artifact],
    config_hash: &str,
    metadata: Value,
) -> Value {
    let group = key.name.as_str();
    let name = object_name(group);
    let mut pod_labels = spec.pod_labels.clone();
    pod_labels.extend(labels(group));
    let mut pod_annotations = spec.pod_annotations.clone();
    // Rollout: the hash in the pod template makes a new bundle a new template. In place:
    // the template stays, and the runtime watches its mounted ConfigMap instead.
    if spec.reload != ReloadStrategy::InPlace {
        pod_annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash.into());
    }
    let container = runtime_container(
        group,
        spec,
        artifacts,
        &PodNames::DEPLOYMENT,
        Some(&name),
        ContainerSecurity::PodSets,
    );
    let mut pod = json!({
        "serviceAccountName": name,
        // The runtime stops within its 30 s shutdown timeout; the rest is margin.
        "terminationGracePeriodSeconds": 40,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": runtime_volumes(group, spec, &PodNames::DEPLOYMENT),
    });
    if !spec.image_pull_secrets.is_empty() {
        pod["imagePullSecrets"] = json!(spec.image_pull_secrets);
    }
    if !spec.node_selector.is_empty() {
        pod["nodeSelector"] = json!(spec.node_selector);
    }
    if !spec.tolerations.is_empty() {
        pod["tolerations"] = json!(spec.tolerations);
    }
    if let Some(affinity) = &spec.affinity {
        pod["affinity"] = json!(affinity);
    }
    let mut deployment_spec = json!({
        "selector": {"matchLabels": selector(group)},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": pod,
        },
    });
    // With autoscaling on, the HPA (ours or KEDA's) owns the replica count: applying one
    // would fight it.
    if !spec.autoscaling.as_ref().is_some_and(|a| a.enabled) {
        deployment_spec["replicas"] = json!(spec.replicas);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": deployment_spec,
    })
}

/// Names of the runtime's volumes and ports in a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodNames {
    /// The HTTP port's name.
    pub http: &'static str,
    /// The admin port's name (the probes use it).
    pub admin: &'static str,
    /// The HTTPS port's name.
    pub https: &'static str,
    /// The HTTPS listener's certificate Secret.
    pub tls: &'static str,
    /// The Secret with the client CA.
    pub client_ca: &'static str,
    /// The bundle ConfigMap.
    pub bundle: &'static str,
    /// The data directory.
    pub data: &'static str,
    /// `/tmp`.
    pub tmp: &'static str,
    /// The IntegrationRuntime's `secretMounts`, numbered after this.
    pub secret_mount: &'static str,
}

impl PodNames {
    /// In the group's own pods.
    pub const DEPLOYMENT: PodNames = PodNames {
        http: "http",
        admin: "admin",
        https: "https",
        tls: "tls",
        client_ca: "tls-client-ca",
        bundle: "bundle",
        data: "data",
        tmp: "tmp",
        secret_mount: "secret-",
    };
    /// In an application's pod, prefixed so they do not clash with the application's
    /// (port names are unique within a pod).
    pub const SIDECAR: PodNames = PodNames {
        http: "ferry-http",
        admin: "ferry-admin",
        https: "ferry-https",
        tls: "ferry-tls",
        client_ca: "ferry-tls-client-ca",
        bundle: "ferry-bundle",
        data: "ferry-data",
        tmp: "ferry-tmp",
        secret_mount: "ferry-secret-",
    };
}

/// Who states the runtime's user and seccomp profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerSecurity {
    /// The pod's security context (the group's own pods).
    PodSets,
    /// The container's own (an application's pod, whose pod context is the application's).
    ContainerSets,
}

/// The runtime's volumes: the group's bundle, a data directory and a small in-memory /tmp;
/// with an HTTPS listener, its certificate's Secret (and the client CA's); and the Secrets
/// of `secretMounts`, for settings that name a file. Secrets reach
/// the pod as volumes only, never through the bundle: a renewed certificate reaches the
/// mounted files, which the runtime reloads.
pub fn runtime_volumes(group: &str, spec: &IntegrationRuntimeSpec, names: &PodNames) -> Value {
    let mut volumes = vec![
        json!({"name": names.bundle, "configMap": {"name": bundle_name(group)}}),
        json!({"name": names.data, "emptyDir": {}}),
        json!({"name": names.tmp, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}),
    ];
    if let Some(https) = &spec.https {
        volumes.push(json!({"name": names.tls, "secret": {"secretName": https.secret_name}}));
        if let Some(ca) = &https.client_ca_secret_name {
            volumes.push(json!({"name": names.client_ca, "secret": {"secretName": ca}}));
        }
    }
    for (i, mount) in spec.secret_mounts.iter().enumerate() {
        volumes.push(json!({"name": format!("{}{i}", names.secret_mount),
            "secret": {"secretName": mount.secret_name}}));
    }
    Value::Array(volumes)
}

/// The runtime container, as the group's Deployment and the sidecar injection both run it:
/// ports, probes on the admin port, restricted security context, resources, environment
/// (with the Secrets the artifacts refer to). `lease` names the Lease replicas compete for
/// (none: every pod runs its own tasks and processors).
pub fn runtime_container(
    group: &str,
    spec: &IntegrationRuntimeSpec,
    artifacts: &[&Artifact],
    names: &PodNames,
    lease: Option<&str>,
    security: ContainerSecurity,
) -> Value {
    // Ours first; a variable the IntegrationRuntime sets itself replaces ours.
    let field_ref = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let mut env: Vec<Value> = vec![
        json!({"name": "FERRY_HTTP_PORT", "value": spec.http_port.to_string()}),
        json!({"name": "FERRY_ADMIN_PORT", "value": spec.admin_port.to_string()}),
        json!({"name": "FERRY_LOG", "value": spec.log_level}),
        json!({"name": "FERRY_LOG_FORMAT", "value": "json"}),
        json!({"name": "FERRY_MAX_BODY_BYTES", "value": spec.max_request_body_bytes.to_string()}),
        json!({"name": "FERRY_MAX_HEADER_BYTES", "value": spec.max_request_header_bytes.to_string()}),
        json!({"name": "FERRY_REQUEST_BODY_TIMEOUT", "value": spec.request_body_timeout_seconds.to_string()}),
        json!({"name": "FERRY_REQUEST_TIMEOUT", "value": spec.request_timeout_seconds.to_string()}),
        json!({"name": "FERRY_MAX_CONCURRENT_REQUESTS", "value": spec.max_concurrent_requests.to_string()}),
        json!({"name": "FERRY_DATA_DIR", "value": DATA_DIR}),
    ];
    if let Some(https) = &spec.https {
        env.push(json!({"name": "FERRY_HTTPS_PORT", "value": https.port.to_string()}));
        env.push(json!({"name": "FERRY_TLS_CERT", "value": format!("{TLS_DIR}/tls.crt")}));
        env.push(json!({"name": "FERRY_TLS_KEY", "value": format!("{TLS_DIR}/tls.key")}));
        if https.client_ca_secret_name.is_some() {
            env.push(
                json!({"name": "FERRY_TLS_CLIENT_CA", "value": format!("{CLIENT_CA_DIR}/ca.crt")}),
            );
        }
        env.push(json!({"name": "FERRY_TLS_CLIENT_AUTH", "value": https.client_auth}));
        if let Some(min) = https.min_version {
            env.push(json!({"name": "FERRY_TLS_MIN_VERSION", "value": min}));
        }
        let limits = [
            ("FERRY_HTTPS_MAX_BODY_BYTES", https.max_request_body_bytes),
            (
                "FERRY_HTTPS_MAX_HEADER_BYTES",
                https.max_request_header_bytes.map(u64::from),
            ),
            (
                "FERRY_HTTPS_REQUEST_BODY_TIMEOUT",
                https.request_body_timeout_seconds,
            ),
            ("FERRY_HTTPS_REQUEST_TIMEOUT", https.request_timeout_seconds),
            (
                "FERRY_HTTPS_MAX_CONCURRENT_REQUESTS",
                https.max_concurrent_requests,
            ),
        ];
        for (name, value) in limits {
            if let Some(value) = value {
                env.push(json!({"name": name, "value": value.to_string()}));
            }
        }
    }
    if let Some(tracing) = &spec.tracing {
        env.push(json!({"name": "FERRY_OTLP_ENDPOINT", "value": tracing.otlp_endpoint.trim()}));
        env.push(json!({"name": "FERRY_OTLP_PROTOCOL", "value": tracing.protocol.as_str()}));
        if let Some(ratio) = tracing.sampling_ratio {
            env.push(json!({"name": "FERRY_TRACE_SAMPLING_RATIO", "value": ratio.to_string()}));
        }
        let service = tracing.service_name.as_deref().unwrap_or(group);
        env.push(json!({"name": "OTEL_SERVICE_NAME", "value": service}));
    }
    if let Some(lease) = lease {
        env.push(json!({"name": "FERRY_LEASE_NAME", "value": lease}));
    }
    env.push(json!({"name": "POD_NAMESPACE", "valueFrom": field_ref("metadata.namespace")}));
    env.push(json!({"name": "POD_NAME", "valueFrom": field_ref("metadata.name")}));
    for secret in secret_refs(artifacts) {
        let source = ferry_api::resources::SecretSource {
            secret_key_ref: Some(secret.clone()),
            env: None,
        };
        if let Some(var) = source.env_var() {
            env.push(json!({"name": var, "valueFrom": {"secretKeyRef": {
                "name": secret.name, "key": secret.key}}}));
        }
    }
    let own: Vec<&str> = spec.env.iter().map(|e| e.name.as_str()).collect();
    env.retain(|e| !own.contains(&e["name"].as_str().unwrap_or_default()));
    env.extend(spec.env.iter().map(|e| json!(e)));

    // In place: the runtime reloads when its mounted ConfigMap changes; else a new bundle
    // arrives with a new pod (rollout), or a restarted one (sidecar).
    let args: &[&str] = if spec.reload == ReloadStrategy::InPlace {
        &["run", BUNDLE_DIR]
    } else {
        &["run", BUNDLE_DIR, "--no-watch"]
    };

    let probe = |path: &str, period: i32| {
        json!({"httpGet": {"path": path, "port": names.admin}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": 3})
    };
    let mut ports = vec![
        json!({"name": names.http, "containerPort": spec.http_port, "protocol": "TCP"}),
        json!({"name": names.admin, "containerPort": spec.admin_port, "protocol": "TCP"}),
    ];
    let mut mounts = vec![
        json!({"name": names.bundle, "mountPath": BUNDLE_DIR, "readOnly": true}),
        json!({"name": names.data, "mountPath": DATA_DIR}),
        json!({"name": names.tmp, "mountPath": "/tmp"}),
    ];
    if let Some(https) = &spec.https {
        ports.push(json!({"name": names.https, "containerPort": https.port, "protocol": "TCP"}));
        mounts.push(json!({"name": names.tls, "mountPath": TLS_DIR, "readOnly": true}));
        if https.client_ca_secret_name.is_some() {
            mounts.push(
                json!({"name": names.client_ca, "mountPath": CLIENT_CA_DIR, "readOnly": true}),
            );
        }
    }
    for (i, mount) in spec.secret_mounts.iter().enumerate() {
        mounts.push(json!({"name": format!("{}{i}", names.secret_mount),
            "mountPath": mount.mount_path, "readOnly": true}));
    }
    let mut container = json!({
        "name": "ferry",
        "image": spec.image,
        "args": args,
        "env": env,
        "ports": ports,
        "readinessProbe": probe("/readyz", 5),
        "livenessProbe": probe("/livez", 10),
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    });
    if security == ContainerSecurity::ContainerSets {
        // In an application's pod the pod-level context is the application's: the
        // container states the user and seccomp profile the runtime needs itself.
        let context = &mut container["securityContext"];
        context["runAsUser"] = json!(RUNTIME_UID);
        context["runAsGroup"] = json!(RUNTIME_UID);
        context["seccompProfile"] = json!({"type": "RuntimeDefault"});
    }
    if let Some(policy) = spec.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    if let Some(resources) = &spec.resources {
        container["resources"] = json!(resources);
    }
    if !spec.env_from.is_empty() {
        container["envFrom"] = json!(spec.env_from);
    }
    container
}

fn typed<T: serde::de::DeserializeOwned>(
    what: &'static str,
    value: Value,
) -> Result<T, RenderError> {
    serde_json::from_value(value).map_err(|e| RenderError::Object(what, e.to_string()))
}

#[cfg(test)]
mod tests;
