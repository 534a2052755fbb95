//! The IntegrationRuntime kind: a runtime group, i.e. how the pods that host a group's
//! artifacts run. The operator renders one bundle and one workload per group; a group with
//! no IntegrationRuntime runs with the operator's defaults.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvFromSource, EnvVar, LocalObjectReference, ResourceRequirements, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, SecretKeyRef};

/// A runtime group.
// kube's printcolumn(...) syntax repeats `type_` and `json_path` per column by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "IntegrationRuntime",
    namespaced,
    derive = "PartialEq",
    shortname = "irt",
    category = "ferry",
    status = "IntegrationRuntimeStatus",
    doc = "A runtime group: how the pods hosting the group's APIs, sequences, endpoints, stores, processors and tasks run (the Micro Integrator server or cluster).",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Config", type_ = "string", json_path = ".status.configHash"),
    printcolumn(
        name = "Artifacts",
        type_ = "integer",
        json_path = ".status.artifacts",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntegrationRuntimeSpec {
    /// `deployment` (a Deployment and Service of its own; the default) or `sidecar`
    /// (injected into application pods matching `sidecar.selector`).
    #[serde(default)]
    pub mode: RuntimeMode,
    /// Pods of a `deployment`. Default 1. Ignored while autoscaling is enabled.
    #[serde(default = "default_replicas")]
    pub replicas: i32,
    /// The runtime image. Default: the operator's configured image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`. Default: Kubernetes' rule for the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// Secrets for pulling the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// CPU and memory requests and limits of the runtime container. Default: the
    /// operator's configured resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// A HorizontalPodAutoscaler for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// A PodDisruptionBudget for the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudget>,
    /// Environment variables of the runtime container (`${config.x}` expressions and
    /// `env` secret sources read them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Environment variables from ConfigMaps and Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Secrets mounted read-only as files into the runtime container, for the settings
    /// that name a file (`keyFile`, `usersFile`, `keysFile` of an API's authentication):
    /// in a cluster such a path must be absolute and inside one of these mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_mounts: Vec<SecretMount>,
    /// The HTTP port APIs are served on. Default 8290.
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// The HTTPS listener (MI's 8253), serving the same APIs and proxies as the HTTP port
    /// with the certificate of a `kubernetes.io/tls` Secret. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<super::transport_security::HttpsListener>,
    /// The admin port (`/livez`, `/readyz`, `/metrics`, management). Default 9201.
    #[serde(default = "default_admin_port")]
    pub admin_port: u16,
    /// The runtime's log filter (`info`, `debug`, `ferry=debug,hyper=warn`, ...).
    /// Default `info`.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Request bodies larger than this many bytes are refused with 413. Default
    /// 10485760 (10 MiB).
    #[serde(default = "default_max_body")]
    pub max_request_body_bytes: u64,
    /// Request heads (request line and headers) larger than this many bytes are refused
    /// with 431. At least 8192. Default 65536.
    #[serde(default = "default_max_header")]
    pub max_request_header_bytes: u32,
    /// Seconds a request body may take to arrive in full, counted from the request head;
    /// slower ones are answered 408 (a client trickling its body holds a connection and a
    /// task). 0: only `requestTimeoutSeconds` bounds it. Default 60.
    #[serde(default = "default_request_body_timeout")]
    pub request_body_timeout_seconds: u64,
    /// Seconds from the request head until the answer's head is ready; longer requests
    /// are answered 504 and their flow is abandoned. Keep it above the longest endpoint
    /// timeout a flow waits for. 0: no limit. Default 300.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Requests a pod serves at once; one more is answered 503 with `Retry-After: 1`
    /// instead of waiting in an unbounded queue. 0: no limit. Default 1000.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: u64,
    /// Node labels the pods must run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Affinity rules of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Annotations added to the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Labels added to the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    /// The Service in front of a `deployment`.
    #[serde(default)]
    pub service: ServiceSettings,
    /// How pods of a `deployment` take a changed bundle: `rollout` (the default: the
    /// bundle's hash is in the pod template, so a change rolls the Deployment and the
    /// Ready condition tells when every pod serves it) or `inPlace` (pods keep running and
    /// reload when the kubelet refreshes the mounted ConfigMap, typically within a minute;
    /// in-memory stores, open aggregations and connections survive the change).
    #[serde(default)]
    pub reload: ReloadStrategy,
    /// Sidecar mode: which application pods get the runtime injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<SidecarSettings>,
    /// Distributed tracing: spans exported over OTLP to a collector. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSettings>,
}

/// Where and how the runtime exports trace spans (docs/observability.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracingSettings {
    /// The collector's OTLP URL: `http://otel-collector.observability:4318` over
    /// HTTP/protobuf (a full `.../v1/traces` URL too), `http://...:4317` over gRPC.
    pub otlp_endpoint: String,
    /// `http/protobuf` (the default) or `grpc`.
    #[serde(default)]
    pub protocol: OtlpProtocol,
    /// The share of new traces recorded, 0 to 1; a request arriving with a trace context
    /// keeps its caller's decision. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_ratio: Option<f64>,
    /// The spans' `service.name`. Default: the IntegrationRuntime's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies.
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC.
    #[serde(rename = "grpc")]
    Grpc,
}

impl OtlpProtocol {
    /// The name as written (and as `ferry run --otlp-protocol` takes it).
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        }
    }
}

/// A Secret mounted as a directory of files (one per key) into the runtime container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretMount {
    /// The Secret, in the runtime's namespace.
    pub secret_name: String,
    /// The absolute directory its keys appear in, e.g. `/etc/ferry/secrets/jwt`. Not one
    /// of the runtime's own directories (`/etc/ferry/bundle`, `/etc/ferry/tls`,
    /// `/etc/ferry/tls-client-ca`, `/var/lib/ferry`, `/tmp`), nor inside or around one.
    pub mount_path: String,
}

fn default_replicas() -> i32 {
    1
}

fn default_http_port() -> u16 {
    8290
}

fn default_admin_port() -> u16 {
    9201
}

fn default_log_level() -> String {
    "info".to_string()
}

fn default_max_body() -> u64 {
    10 * 1024 * 1024
}

fn default_max_header() -> u32 {
    64 * 1024
}

fn default_request_body_timeout() -> u64 {
    60
}

fn default_request_timeout() -> u64 {
    300
}

fn default_max_concurrent_requests() -> u64 {
    1000
}

/// How a runtime group is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum RuntimeMode {
    /// Its own Deployment and Service.
    #[default]
    Deployment,
    /// A container injected into application pods.
    Sidecar,
}

/// How a runtime group's pods take a changed bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ReloadStrategy {
    /// A rolling update of the Deployment (new pods on the new bundle).
    #[default]
    Rollout,
    /// The running pods reload the mounted ConfigMap when the kubelet updates it.
    InPlace,
}

/// Kubernetes image pull policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ImagePullPolicy {
    /// Always pull.
    Always,
    /// Pull when absent.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// Horizontal autoscaling of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// Whether the HorizontalPodAutoscaler exists. Default true.
    #[serde(default = "super::common::default_true")]
    pub enabled: bool,
    /// The fewest pods. Default 1.
    #[serde(default = "default_replicas")]
    pub min_replicas: i32,
    /// The most pods.
    pub max_replicas: i32,
    /// Average CPU use, in percent of requests, the autoscaler aims at. Default 75 when
    /// neither target is set.
    #[serde(
        default,
        rename = "targetCPUUtilizationPercentage",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_cpu_utilization_percentage: Option<i32>,
    /// Average memory use, in percent of requests, the autoscaler aims at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_memory_utilization_percentage: Option<i32>,
    /// Scale on the backlog of a MessageStore instead of a HorizontalPodAutoscaler: the
    /// operator renders a KEDA ScaledObject when KEDA's CRDs are installed (the CPU and
    /// memory targets, when set, become triggers beside it), and otherwise keeps the
    /// HorizontalPodAutoscaler and says why in the `QueueScaling` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueAutoscaling>,
}

/// Scaling a group on the messages waiting in one of its stores (KEDA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueAutoscaling {
    /// The MessageStore (of this group) whose backlog sets the replica count.
    pub store: String,
    /// Messages waiting per replica the scaler aims at: a backlog of 250 with a target of
    /// 100 asks for 3 replicas (within minReplicas and maxReplicas).
    pub target_backlog_per_replica: u32,
    /// A `rabbitmq` store whose user has a password: a Secret key holding the broker URL
    /// KEDA reads the queue length with (`amqp://user:password@host:5672/vhost`), given to
    /// KEDA through a TriggerAuthentication. Without a password the URL is built from the
    /// store's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq_url_from: Option<SecretKeyRef>,
    /// Any other store type: the Prometheus server (`http://prometheus.monitoring:9090`)
    /// KEDA queries for the runtime's `ferry_processor_backlog` metric of the processors
    /// reading the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_server_address: Option<String>,
}

/// A PodDisruptionBudget: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodDisruptionBudget {
    /// Pods (a number or a percentage such as `50%`) that must stay available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// Pods (a number or a percentage) that may be unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// The Service of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSettings {
    /// `ClusterIP` (default), `NodePort` or `LoadBalancer`.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    /// Annotations of the Service (load-balancer settings, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Kubernetes Service types offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ServiceType {
    /// Cluster-internal.
    #[default]
    ClusterIP,
    /// A port on every node.
    NodePort,
    /// A cloud load balancer.
    LoadBalancer,
}

/// Sidecar injection settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarSettings {
    /// Application pods matching this selector (in the group's namespace) get the
    /// runtime container. Default: pods labelled `ferry.dev/runtime: <group name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// Status of an IntegrationRuntime.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRuntimeStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods of the group's workload (the scale subresource reads it); in sidecar mode,
    /// the application pods carrying the sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods that run the current bundle (sidecar mode: pods injected with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// The label selector of the pods, as a string (the scale subresource reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The hash of the rendered bundle the pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Artifacts in the group's bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<i32>,
    /// `Ready`, `Progressing` and `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
