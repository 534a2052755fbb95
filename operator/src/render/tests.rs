use super::*;
use crate::admission::admit;
use crate::config::OperatorConfig;
use crate::testing::{golden, group, to_yaml};

const SAMPLE: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: payments}
spec:
  replicas: 2
  image: registry.local/ferry:1.0
  imagePullPolicy: IfNotPresent
  logLevel: debug
  env:
    - {name: FERRY_LOG, value: "info,ferry=trace"}
    - {name: REGION, value: eu}
  resources:
    requests: {cpu: 100m, memory: 32Mi}
    limits: {memory: 128Mi}
  autoscaling: {minReplicas: 2, maxReplicas: 6, targetMemoryUtilizationPercentage: 80}
  podDisruptionBudget: {minAvailable: 1}
  service:
    type: LoadBalancer
    annotations: {example.com/lb: internal}
  podLabels: {team: billing}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: queue}
spec:
  runtime: payments
  type: rabbitmq
  rabbitmq:
    host: rabbitmq.messaging
    queue: payments
    username: ferry
    passwordFrom: {secretKeyRef: {name: rabbit, key: password}}
---
apiVersion: ferry.dev/v1alpha1
kind: LocalEntry
metadata:
  name: accepted-format
  annotations: {ferry.dev/synapse-name: AcceptedFormat}
spec:
  runtime: payments
  text: |
    {"message": "accepted: ${payload.id}"}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: pay}
spec:
  runtime: payments
  context: /pay
  resources:
    - methods: [POST]
      inSequence:
        - store: {messageStore: queue}
        - payloadFactory: {mediaType: json, formatKey: AcceptedFormat}
        - respond: {}
"#;

fn rendered(yaml: &str, name: &str) -> Rendered {
    let g = group(yaml, name);
    let config = OperatorConfig::default();
    let a = admit(&g, &config.defaults);
    assert!(a.rejected.is_empty(), "{:?}", a.rejected);
    let spec = a.spec.clone().unwrap();
    let owners = Owner::for_group(g.runtime.as_ref(), g.artifacts.iter());
    render(&g.key, &spec, &a.accepted, &owners, Keda::Served).unwrap()
}

#[test]
fn a_group_with_a_runtime_renders_every_object_golden() {
    let r = rendered(SAMPLE, "payments");
    golden("payments-configmap", &to_yaml(&r.config_map));
    golden("payments-deployment", &to_yaml(&r.deployment));
    golden("payments-service", &to_yaml(&r.service));
    golden("payments-hpa", &to_yaml(&r.hpa));
    golden("payments-pdb", &to_yaml(&r.pdb));
    golden(
        "payments-rbac",
        &to_yaml(&(&r.service_account, &r.role, &r.role_binding)),
    );
}

#[test]
fn a_group_without_a_runtime_runs_on_the_defaults_owned_by_its_artifacts() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: s}\nspec:\n  mediators: [{log: {message: hi}}]\n";
    let r = rendered(yaml, "default");
    golden("default-deployment", &to_yaml(&r.deployment));
    let owners = r.config_map.metadata.owner_references.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (owners[0].kind.as_str(), owners[0].controller),
        ("Sequence", Some(false))
    );
    assert!(r.hpa.is_none() && r.pdb.is_none());
    assert_eq!(r.deployment.spec.unwrap().replicas, Some(1));
}

#[test]
fn the_bundle_reads_back_as_the_same_resources() {
    let r = rendered(SAMPLE, "payments");
    let data = r.config_map.data.unwrap();
    let sources: Vec<ferry_api::bundle::Source> = data
        .iter()
        .map(|(k, v)| ferry_api::bundle::Source {
            name: k.clone(),
            text: v.clone(),
        })
        .collect();
    let (bundle, diagnostics) = ferry_api::bundle::load(&sources);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(ferry_api::validate::validate(&bundle).is_empty());
    let g = group(SAMPLE, "payments");
    for artifact in &g.artifacts {
        let loaded = bundle
            .resources
            .iter()
            .find(|l| l.resource.name() == artifact.name)
            .unwrap();
        assert_eq!(serde_json::to_value(&loaded.resource).unwrap()["spec"], {
            let r = ferry_api::resources::Resource::from_value(
                artifact.kind,
                artifact.document.clone(),
            )
            .unwrap();
            serde_json::to_value(r).unwrap()["spec"].clone()
        });
    }
}

#[test]
fn the_hash_follows_the_content_only() {
    let a = rendered(SAMPLE, "payments");
    let b = rendered(SAMPLE, "payments");
    assert_eq!(a, b, "rendering is deterministic");
    let changed = rendered(&SAMPLE.replace("accepted: ", "queued: "), "payments");
    assert_ne!(a.config_hash, changed.config_hash);
    let annotations = |r: &Rendered| {
        r.deployment
            .spec
            .clone()
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()
    };
    assert_eq!(
        annotations(&changed)[CONFIG_HASH_ANNOTATION],
        changed.config_hash
    );
    let more_replicas = rendered(
        &SAMPLE.replace("replicas: 2\n", "replicas: 5\n"),
        "payments",
    );
    assert_eq!(
        a.config_hash, more_replicas.config_hash,
        "runtime settings are not in the bundle"
    );
}

#[test]
fn secrets_become_env_vars_from_their_secret_never_values() {
    let r = rendered(SAMPLE, "payments");
    let pod = r.deployment.spec.unwrap().template.spec.unwrap();
    let env = pod.containers[0].env.clone().unwrap();
    let var = env
        .iter()
        .find(|e| e.name == "FERRY_SECRET_RABBIT_PASSWORD")
        .expect("injected");
    let from = var
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("rabbit", "password")
    );
    let log: Vec<_> = env.iter().filter(|e| e.name == "FERRY_LOG").collect();
    assert_eq!(log.len(), 1, "the runtime's own env replaces ours");
    assert_eq!(log[0].value.as_deref(), Some("info,ferry=trace"));
}

#[test]
fn the_request_timeouts_reach_the_runtime() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: slow}
spec: {requestBodyTimeoutSeconds: 5, requestTimeoutSeconds: 0}
";
    let r = rendered(yaml, "slow");
    let pod = r.deployment.spec.unwrap().template.spec.unwrap();
    let env = pod.containers[0].env.clone().unwrap();
    let value = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(value("FERRY_REQUEST_BODY_TIMEOUT").as_deref(), Some("5"));
    assert_eq!(value("FERRY_REQUEST_TIMEOUT").as_deref(), Some("0"));
}

#[test]
fn pods_run_restricted() {
    let r = rendered(SAMPLE, "payments");
    let pod = r.deployment.spec.unwrap().template.spec.unwrap();
    let sc = pod.security_context.unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let c = pod.containers[0].security_context.clone().unwrap();
    assert_eq!(c.read_only_root_filesystem, Some(true));
    assert_eq!(c.allow_privilege_escalation, Some(false));
    assert_eq!(c.capabilities.unwrap().drop.unwrap(), ["ALL"]);
}

#[test]
fn autoscaling_leaves_the_replica_count_to_the_hpa() {
    let r = rendered(SAMPLE, "payments");
    assert_eq!(r.deployment.spec.unwrap().replicas, None);
    let hpa = r.hpa.unwrap().spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(2), 6));
}

#[test]
fn an_oversized_bundle_is_refused() {
    let big = "x".repeat(MAX_BUNDLE_BYTES);
    let yaml = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {{name: s}}\nspec:\n  mediators: [{{log: {{message: {big}}}}}]\n"
    );
    let g = group(&yaml, "default");
    let a = admit(&g, &OperatorConfig::default().defaults);
    let err = render(
        &g.key,
        a.spec.as_ref().unwrap(),
        &a.accepted,
        &[],
        Keda::Served,
    )
    .unwrap_err();
    assert!(matches!(err, RenderError::TooLarge(_)));
}

#[test]
fn in_place_reload_keeps_the_pod_template_and_lets_the_runtime_watch_its_bundle() {
    let rollout = rendered(SAMPLE, "payments");
    let in_place = rendered(
        &SAMPLE.replace("  replicas: 2\n", "  replicas: 2\n  reload: inPlace\n"),
        "payments",
    );
    let template = |r: &Rendered| r.deployment.spec.clone().unwrap().template;
    let args = |r: &Rendered| {
        template(r).spec.unwrap().containers[0]
            .args
            .clone()
            .unwrap()
    };
    assert_eq!(args(&rollout), ["run", BUNDLE_DIR, "--no-watch"]);
    assert_eq!(
        args(&in_place),
        ["run", BUNDLE_DIR],
        "the runtime watches the mount"
    );
    let annotations = |r: &Rendered| {
        template(r)
            .metadata
            .unwrap()
            .annotations
            .unwrap_or_default()
    };
    assert!(annotations(&rollout).contains_key(CONFIG_HASH_ANNOTATION));
    assert!(
        !annotations(&in_place).contains_key(CONFIG_HASH_ANNOTATION),
        "a new bundle must not roll the pods"
    );
    let changed = rendered(
        &SAMPLE
            .replace("  replicas: 2\n", "  replicas: 2\n  reload: inPlace\n")
            .replace("accepted: ", "queued: "),
        "payments",
    );
    assert_ne!(changed.config_hash, in_place.config_hash);
    assert_eq!(
        template(&changed),
        template(&in_place),
        "the same pod template whatever the bundle"
    );
}

#[test]
fn an_https_listener_mounts_its_secrets_as_volumes_and_opens_its_port() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: secure}
spec:
  https: {secretName: secure-tls, clientCaSecretName: clients-ca, clientAuth: optional, minVersion: '1.3',
    maxRequestBodyBytes: 65536, requestTimeoutSeconds: 20}
";
    let r = rendered(yaml, "secure");
    let pod = r.deployment.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    let env = container.env.clone().unwrap();
    let value = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(value("FERRY_HTTPS_PORT").as_deref(), Some("8253"));
    assert_eq!(
        value("FERRY_TLS_CERT").as_deref(),
        Some("/etc/ferry/tls/tls.crt")
    );
    assert_eq!(
        value("FERRY_TLS_KEY").as_deref(),
        Some("/etc/ferry/tls/tls.key")
    );
    assert_eq!(
        value("FERRY_TLS_CLIENT_CA").as_deref(),
        Some("/etc/ferry/tls-client-ca/ca.crt")
    );
    assert_eq!(value("FERRY_TLS_CLIENT_AUTH").as_deref(), Some("optional"));
    assert_eq!(value("FERRY_TLS_MIN_VERSION").as_deref(), Some("1.3"));
    // The HTTPS listener's own limits; the unset ones stay the runtime's.
    assert_eq!(
        value("FERRY_HTTPS_MAX_BODY_BYTES").as_deref(),
        Some("65536")
    );
    assert_eq!(value("FERRY_HTTPS_REQUEST_TIMEOUT").as_deref(), Some("20"));
    assert_eq!(value("FERRY_HTTPS_MAX_HEADER_BYTES"), None);
    assert_eq!(value("FERRY_MAX_BODY_BYTES").as_deref(), Some("10485760"));
    let volumes = pod.volumes.unwrap();
    let secret_of = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.secret.as_ref())
            .and_then(|s| s.secret_name.clone())
    };
    assert_eq!(secret_of("tls").as_deref(), Some("secure-tls"));
    assert_eq!(secret_of("tls-client-ca").as_deref(), Some("clients-ca"));
    let ports = container.ports.clone().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p.name.as_deref() == Some("https") && p.container_port == 8253)
    );
    let service_ports = r.service.spec.unwrap().ports.unwrap();
    assert!(
        service_ports
            .iter()
            .any(|p| p.name.as_deref() == Some("https") && p.port == 8253)
    );
    // The certificate never travels in the bundle.
    let bundle = to_yaml(&r.config_map);
    assert!(!bundle.contains("secure-tls"), "{bundle}");
}

#[test]
fn tracing_settings_become_the_runtimes_otlp_environment() {
    let env_of = |yaml: &str| {
        let r = rendered(yaml, "shop");
        let pod = r.deployment.spec.unwrap().template.spec.unwrap();
        pod.containers[0].env.clone().unwrap_or_default()
    };
    let env = env_of(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: shop}
spec:
  tracing: {otlpEndpoint: 'http://otel-collector.observability:4317', protocol: grpc, samplingRatio: 0.05}
",
    );
    let value = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(
        value("FERRY_OTLP_ENDPOINT").as_deref(),
        Some("http://otel-collector.observability:4317")
    );
    assert_eq!(value("FERRY_OTLP_PROTOCOL").as_deref(), Some("grpc"));
    assert_eq!(value("FERRY_TRACE_SAMPLING_RATIO").as_deref(), Some("0.05"));
    // The group names the service unless serviceName does.
    assert_eq!(value("OTEL_SERVICE_NAME").as_deref(), Some("shop"));
    // Off: none of it.
    let off = env_of(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: shop}
spec: {}
",
    );
    assert!(
        !off.iter()
            .any(|e| e.name.starts_with("FERRY_OTLP") || e.name == "OTEL_SERVICE_NAME"),
        "{off:?}"
    );
}

#[test]
fn secret_mounts_become_read_only_volumes_of_the_runtime_container() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: keys}
spec:
  secretMounts:
    - {secretName: jwt-keys, mountPath: /etc/ferry/secrets/jwt}
    - {secretName: api-users, mountPath: /etc/ferry/secrets/users}
";
    let r = rendered(yaml, "keys");
    let pod = r.deployment.spec.unwrap().template.spec.unwrap();
    let volumes = pod.volumes.unwrap();
    let mounts = pod.containers[0].volume_mounts.clone().unwrap();
    for (i, (secret, path)) in [
        ("jwt-keys", "/etc/ferry/secrets/jwt"),
        ("api-users", "/etc/ferry/secrets/users"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("secret-{i}");
        let volume = volumes.iter().find(|v| v.name == name).expect("volume");
        assert_eq!(
            volume
                .secret
                .as_ref()
                .and_then(|s| s.secret_name.as_deref()),
            Some(secret)
        );
        let mount = mounts.iter().find(|m| m.name == name).expect("mount");
        assert_eq!(mount.mount_path, path);
        assert_eq!(mount.read_only, Some(true));
    }
    // The checker's list of the runtime's own directories is the one rendered here.
    for dir in [BUNDLE_DIR, TLS_DIR, CLIENT_CA_DIR, DATA_DIR, "/tmp"] {
        assert!(
            ferry_api::check::runtime::RUNTIME_DIRS.contains(&dir),
            "{dir} is missing from RUNTIME_DIRS"
        );
    }
}
