//! End to end against a real cluster: runs only when `KUBECONFIG` names one (and says why it
//! skips otherwise). Nothing here needs a kubelet: the test reads the objects the operator
//! writes and the status it reports, never pods.
//!
//! `KUBECONFIG=~/.kube/config cargo test -p ferry-operator --test e2e -- --nocapture`
//! installs the CRDs, starts the built `ferry-operator` on a fresh namespace, applies the
//! healthcare sample and checks: ConfigMap, ServiceAccount, Deployment, Service and HPA
//! appear with owner references; a changed sequence changes the config hash; a broken
//! artifact reports `Accepted=False` with its message while the rest stays accepted;
//! fixing it brings `Accepted=True` back; deleting the group's objects deletes what was
//! made for it.
//!
//! The chart test installs charts/ferry with helm (`HELM`, the PATH, or `make helm`'s),
//! its webhook pointed at this machine (`webhook.url`), and runs the operator as the
//! chart's Deployment would — its arguments, environment and configuration — but on this
//! machine, impersonating the chart's ServiceAccount: the healthcare sample must be
//! reconciled with only the chart's RBAC, the operator must set the chart's `caBundle`, a
//! selected pod must get its sidecar through the chart's webhook configuration, and with
//! the operator stopped the chart's default failure policy (`Ignore`) must create a pod
//! without one.
//!
//! The sidecar test runs the operator's webhook on this machine and registers it with the
//! API server by URL, with `failurePolicy: Fail`: one sidecar in a selected pod, none in an
//! opted-out one, and with the operator stopped a selected pod is refused. Both webhook
//! tests need the API server to reach `https://<host>:<port>` where host is
//! `FERRY_E2E_WEBHOOK_HOST` (default 127.0.0.1: an API server on this machine, as k3s or
//! envtest; for kind, the Docker network's gateway, e.g. 172.18.0.1). It needs Kubernetes
//! 1.29+ (native sidecars) and the controller manager (Deployments make pods); no kubelet:
//! pods may stay Pending.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, Resource};
use serde_json::{Value, json};

const MANAGER: &str = "ferry-e2e";

fn cluster() -> Option<()> {
    if std::env::var_os("KUBECONFIG").is_none() {
        // `skipped:` starts the line `make test` lists among the skipped tests.
        eprintln!("skipped: KUBECONFIG is not set (point it at a cluster to run it)");
        return None;
    }
    Some(())
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The documents of a YAML file as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    ferry_api::bundle::yaml::parse_documents(&text)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect()
}

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(repo().join("crds/yaml")).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".ferry.dev.yaml") {
            continue;
        }
        for doc in documents(&path) {
            let crd: CustomResourceDefinition = serde_json::from_value(doc).unwrap();
            let name = crd.metadata.name.clone().unwrap();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap();
            eventually(&format!("CRD {name} established"), || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    let established = crd
                        .status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    established.then_some(())
                }
            })
            .await;
        }
    }
}

/// A client for the cluster `KUBECONFIG` names, with the CRDs installed.
async fn connect() -> Client {
    let client = Client::try_default()
        .await
        .expect("KUBECONFIG names a reachable cluster");
    install_crds(&client).await;
    client
}

/// Creates the namespaces (applied, so a rerun is fine); the API to delete them after.
async fn create_namespaces(client: &Client, names: &[&str]) -> Api<Namespace> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in names {
        let ns: Namespace = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .unwrap();
        namespaces
            .patch(name, &PatchParams::apply(MANAGER), &Patch::Apply(&ns))
            .await
            .unwrap();
    }
    namespaces
}

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn dynamic(client: &Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &ferry_operator::reconcile::api_resource(kind),
    )
}

async fn apply(client: &Client, namespace: &str, mut doc: Value) {
    let kind = doc["kind"].as_str().unwrap().to_string();
    let name = doc["metadata"]["name"].as_str().unwrap().to_string();
    doc["metadata"]["namespace"] = json!(namespace);
    let obj: DynamicObject = serde_json::from_value(doc).unwrap();
    dynamic(client, namespace, &kind)
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {kind}/{name}: {e}"));
}

async fn condition(
    client: &Client,
    namespace: &str,
    kind: &str,
    name: &str,
    type_: &str,
) -> Option<(String, String)> {
    let obj = dynamic(client, namespace, kind).get(name).await.ok()?;
    let c = obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    Some((
        c["status"].as_str()?.to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    ))
}

fn has_owner<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .owner_references
        .as_ref()
        .is_some_and(|o| !o.is_empty())
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Sequence that logs `message`; `calls`, when set, names a Sequence it calls. A call to
/// a Sequence that does not exist breaks it in a way only Ferry's checks see: the API
/// server's structural schema accepts it (an unknown mediator key would be refused at
/// apply time, before the operator could say anything).
fn probe_sequence(message: &str, calls: Option<&str>) -> Value {
    let mut mediators = vec![json!({"log": {"message": message}})];
    if let Some(key) = calls {
        mediators.push(json!({"sequence": {"key": key}}));
    }
    json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence", "metadata": {"name": "e2e-probe"},
        "spec": {"mediators": mediators}})
}

#[tokio::test]
async fn the_operator_reconciles_the_healthcare_sample_on_a_real_cluster() {
    if cluster().is_none() {
        return;
    }
    let client = connect().await;
    let namespace = format!("ferry-e2e-{}", std::process::id());
    let namespaces = create_namespaces(&client, &[&namespace]).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_ferry-operator"))
            .args([
                "--namespace",
                &namespace,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("FERRY_LOG", "info,ferry_operator=debug")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );

    for entry in std::fs::read_dir(repo().join("config/samples/healthcare")).unwrap() {
        // Files only: the sample's tests/ folder holds TestSuites for `ferry test`.
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        for doc in documents(&path) {
            apply(&client, &namespace, doc).await;
        }
    }
    apply(
        &client,
        &namespace,
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationRuntime", "metadata": {"name": "default"},
            "spec": {"replicas": 1, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}}),
    )
    .await;
    apply(&client, &namespace, probe_sequence("first", None)).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let hash = |d: &Deployment| {
        d.spec
            .as_ref()?
            .template
            .metadata
            .as_ref()?
            .annotations
            .as_ref()?
            .get("ferry.dev/config-hash")
            .cloned()
    };
    let first = eventually("the Deployment with owner references", || async {
        let d = deployments.get("ferry-default").await.ok()?;
        has_owner(&d).then(|| hash(&d)).flatten()
    })
    .await;
    // The samples and the probe may reach the operator in two reconciles: wait for both.
    let cm = eventually("the bundle ConfigMap with the probe", || async {
        let cm = config_maps.get("ferry-default-bundle").await.ok()?;
        cm.data
            .as_ref()?
            .contains_key("sequence-e2e-probe.yaml")
            .then_some(cm)
    })
    .await;
    assert!(has_owner(&cm));
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    assert!(has_owner(
        &eventually("the Service", || async {
            services.get("ferry-default").await.ok()
        })
        .await
    ));
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    assert!(accounts.get("ferry-default").await.is_ok());
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    assert!(has_owner(
        &eventually("the HPA", || async { hpas.get("ferry-default").await.ok() }).await
    ));

    let (accepted, _) = eventually("the sample API accepted", || {
        condition(
            &client,
            &namespace,
            "IntegrationAPI",
            "healthcare",
            "Accepted",
        )
    })
    .await;
    assert_eq!(accepted, "True");

    // A changed sequence rolls the pods: the hash annotation changes.
    apply(&client, &namespace, probe_sequence("second", None)).await;
    eventually("a new config hash", || async {
        let d = deployments.get("ferry-default").await.ok()?;
        hash(&d).filter(|h| *h != first)
    })
    .await;

    // A broken artifact is refused with its message; the rest of the group stays accepted.
    apply(
        &client,
        &namespace,
        probe_sequence("third", Some("e2e-missing")),
    )
    .await;
    let message = eventually("Accepted=False on the broken sequence", || async {
        let (status, message) =
            condition(&client, &namespace, "Sequence", "e2e-probe", "Accepted").await?;
        (status == "False").then_some(message)
    })
    .await;
    assert!(message.contains("e2e-missing"), "{message}");
    let (still, _) = condition(
        &client,
        &namespace,
        "IntegrationAPI",
        "healthcare",
        "Accepted",
    )
    .await
    .unwrap();
    assert_eq!(still, "True");
    let (degraded, why) = condition(
        &client,
        &namespace,
        "IntegrationRuntime",
        "default",
        "Degraded",
    )
    .await
    .unwrap();
    assert_eq!(degraded, "True", "{why}");

    // Fixed, it is accepted again.
    apply(&client, &namespace, probe_sequence("fourth", None)).await;
    eventually("Accepted=True again", || async {
        let (status, _) =
            condition(&client, &namespace, "Sequence", "e2e-probe", "Accepted").await?;
        (status == "True").then_some(())
    })
    .await;

    // Hand edits of owned objects are repaired at once (their watch), not at the 5-minute
    // resync: a bundle entry overwritten, the Service deleted.
    let bundle = config_maps.get("ferry-default-bundle").await.unwrap().data;
    config_maps
        .patch(
            "ferry-default-bundle",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"sequence-e2e-probe.yaml": "edited by hand"}})),
        )
        .await
        .unwrap();
    services
        .delete("ferry-default", &DeleteParams::default())
        .await
        .unwrap();
    let repaired = Instant::now();
    eventually("the hand-edited bundle restored", || async {
        let cm = config_maps.get("ferry-default-bundle").await.ok()?;
        (cm.data == bundle).then_some(())
    })
    .await;
    eventually("the deleted Service made again", || async {
        services.get("ferry-default").await.ok()
    })
    .await;
    assert!(
        repaired.elapsed() < Duration::from_secs(30),
        "repaired by the watch, not the resync: {:?}",
        repaired.elapsed()
    );

    // Deleting the group deletes what was made for it.
    for kind in ferry_api::resources::KINDS {
        let api = dynamic(&client, &namespace, kind);
        for obj in api.list(&ListParams::default()).await.unwrap() {
            api.delete(&obj.metadata.name.unwrap(), &DeleteParams::default())
                .await
                .unwrap();
        }
    }
    eventually("the group's objects gone", || async {
        let gone = deployments.get("ferry-default").await.is_err()
            && config_maps.get("ferry-default-bundle").await.is_err();
        gone.then_some(())
    })
    .await;
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
}

/// Deletes the test's cluster-scoped webhook configuration even when the test fails, so
/// no later pod creation is sent to a webhook that is gone.
struct WebhookConfiguration(String);

impl Drop for WebhookConfiguration {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Runtime::new() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = Client::try_default().await {
                    let api: Api<MutatingWebhookConfiguration> = Api::all(client);
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                }
            });
        })
        .join();
    }
}

/// Where the API server reaches a webhook served on this machine
/// (`FERRY_E2E_WEBHOOK_HOST`, default 127.0.0.1), and the address to bind it to.
fn webhook_host() -> (String, &'static str) {
    let host = std::env::var("FERRY_E2E_WEBHOOK_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let bind = if host == "127.0.0.1" {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    (host, bind)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The containers named `ferry` in a pod, init containers included, and whether each is a
/// native sidecar.
fn ferry_containers(pod: &Pod) -> Vec<bool> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.name == "ferry");
    let plain = spec.containers.iter().filter(|c| c.name == "ferry");
    init.map(|c| c.restart_policy.as_deref() == Some("Always"))
        .chain(plain.map(|_| false))
        .collect()
}

/// The sidecar group's status counts exactly one pod carrying its sidecar, injected with
/// the current bundle.
async fn sidecar_pods_counted(client: &Client, namespace: &str, which: &str) {
    eventually(
        &format!("the runtime's status counting {which}"),
        || async {
            let obj = dynamic(client, namespace, "IntegrationRuntime")
                .get("edge")
                .await
                .ok()?;
            let status = &obj.data["status"];
            // `Progressing=False, Current`: every pod counted carries the current bundle
            // (the same fact as updatedReplicas == replicas, read from the condition so a
            // CRD without that field, applied by an older checkout, cannot hide it).
            let current = status["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Progressing" && c["reason"] == "Current");
            (status["replicas"] == 1 && current).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn sidecar_mode_injects_one_sidecar_into_selected_pods_and_none_into_opted_out_ones() {
    if cluster().is_none() {
        return;
    }
    let client = connect().await;
    let namespace = format!("ferry-e2e-sidecar-{}", std::process::id());
    let namespaces = create_namespaces(&client, &[&namespace]).await;

    let (host, bind) = webhook_host();
    let (port, webhook_port) = (free_port(), free_port());
    let configuration = namespace.clone();
    let operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_ferry-operator"))
            .args([
                "--namespace",
                &namespace,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--webhook-listen",
                &format!("{bind}:{webhook_port}"),
                "--webhook-dns-names",
                &host,
                "--webhook-configuration",
                &configuration,
                "--webhook-secret",
                "ferry-e2e-webhook-tls",
            ])
            // The certificate's Secret goes into the test namespace.
            .env("POD_NAMESPACE", &namespace)
            .env("FERRY_LOG", "info,ferry_operator=debug")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );

    // The chart's configuration, pointed at this machine, for the test namespace only.
    // `Fail`: a webhook the API server cannot reach fails the pod's creation (and this test,
    // with the message below) instead of letting a pod in without its sidecar.
    let webhooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let _cleanup = WebhookConfiguration(configuration.clone());
    let mwc: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": configuration},
        "webhooks": [{
            "name": "sidecar.ferry.dev",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "reinvocationPolicy": "Never",
            "clientConfig": {"url": format!(
                "https://{host}:{webhook_port}{}", ferry_operator::webhook::PATH)},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        }],
    }))
    .unwrap();
    webhooks
        .patch(
            &configuration,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&mwc),
        )
        .await
        .unwrap();

    apply(
        &client,
        &namespace,
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationRuntime",
            "metadata": {"name": "edge"},
            "spec": {"mode": "sidecar", "sidecar": {"selector": {"matchLabels": {"app": "e2e-app"}}}}}),
    )
    .await;
    apply(
        &client,
        &namespace,
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence", "metadata": {"name": "hello"},
            "spec": {"runtime": "edge", "mediators": [{"log": {"message": "hello"}}]}}),
    )
    .await;

    // The operator made the certificate and put its CA into the configuration.
    eventually("the caBundle set by the operator", || async {
        let mwc = webhooks.get(&configuration).await.ok()?;
        let bundle = mwc.webhooks?.first()?.client_config.ca_bundle.clone()?;
        (!bundle.0.is_empty()).then_some(())
    })
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let cm = eventually("the sidecar group's bundle", || async {
        config_maps.get("ferry-edge-bundle").await.ok()
    })
    .await;
    assert!(cm.data.unwrap().contains_key("sequence-hello.yaml"));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    assert!(
        deployments.get("ferry-edge").await.is_err(),
        "no runtime Deployment in sidecar mode"
    );
    eventually(
        "the runtime accepted (the operator has listed everything)",
        || async {
            let (status, _) = condition(
                &client,
                &namespace,
                "IntegrationRuntime",
                "edge",
                "Accepted",
            )
            .await?;
            (status == "True").then_some(())
        },
    )
    .await;

    // Bare pods first: the API server admits them itself, no controller needed. The
    // ServiceAccount admission wants the namespace's `default` account, which the
    // controller manager makes; applying it here makes that wait unnecessary.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let default_account: ServiceAccount = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    )
    .unwrap();
    accounts
        .patch(
            "default",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&default_account),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let bare = |name: &str, annotations: Value| {
        serde_json::from_value::<Pod>(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "e2e-app"}, "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
        }))
        .unwrap()
    };
    let created = pods
        .create(&Default::default(), &bare("bare-selected", json!({})))
        .await
        .unwrap_or_else(|e| {
            panic!("creating a pod (does the API server reach https://{host}:{webhook_port}? FERRY_E2E_WEBHOOK_HOST): {e}")
        });
    assert_eq!(ferry_containers(&created), [true], "{:?}", created.spec);
    let created = pods
        .create(
            &Default::default(),
            &bare("bare-opted-out", json!({"ferry.dev/inject": "false"})),
        )
        .await
        .unwrap();
    assert!(ferry_containers(&created).is_empty(), "{:?}", created.spec);
    sidecar_pods_counted(&client, &namespace, "the bare pod").await;
    let _ = pods
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;

    let app = |name: &str, annotations: Value| {
        serde_json::from_value::<Deployment>(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "e2e-app", "deploy": name}},
                "template": {
                    "metadata": {"labels": {"app": "e2e-app", "deploy": name},
                        "annotations": annotations},
                    "spec": {"containers": [{"name": "app",
                        "image": "registry.k8s.io/pause:3.10"}]},
                },
            },
        }))
        .unwrap()
    };
    for (name, annotations) in [
        ("selected", json!({})),
        ("opted-out", json!({"ferry.dev/inject": "false"})),
    ] {
        deployments
            .patch(
                name,
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&app(name, annotations)),
            )
            .await
            .unwrap();
    }
    let pod_of = |deploy: &'static str| {
        let pods = pods.clone();
        move || {
            let pods = pods.clone();
            async move {
                let list = pods
                    .list(&ListParams::default().labels(&format!("deploy={deploy}")))
                    .await
                    .ok()?;
                list.items.into_iter().next()
            }
        }
    };
    let what = "a pod of Deployment/selected (made by kube-controller-manager's ReplicaSet controller: is it running?)".to_string();
    let selected = eventually(&what, pod_of("selected")).await;
    assert_eq!(
        ferry_containers(&selected),
        [true],
        "exactly one native sidecar: {:?}",
        selected.spec
    );
    let labels = selected.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("ferry.dev/sidecar").map(String::as_str),
        Some("edge")
    );
    let annotations = selected.metadata.annotations.clone().unwrap_or_default();
    assert!(annotations.contains_key("ferry.dev/sidecar-config-hash"));
    let volumes = selected
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap_or_default();
    assert!(volumes.iter().any(|v| {
        v.config_map
            .as_ref()
            .is_some_and(|c| c.name == "ferry-edge-bundle")
    }));

    let opted_out = eventually("a pod of Deployment/opted-out", pod_of("opted-out")).await;
    assert!(
        ferry_containers(&opted_out).is_empty(),
        "no sidecar in an opted-out pod: {:?}",
        opted_out.spec
    );

    sidecar_pods_counted(&client, &namespace, "the Deployment's pod").await;

    // The webhook down: with `failurePolicy: Fail` a selected pod is refused rather than
    // created without its sidecar.
    drop(operator);
    let refused = pods
        .create(&Default::default(), &bare("while-down", json!({})))
        .await
        .expect_err("with the webhook down and failurePolicy Fail, no pod is created");
    assert!(
        refused.to_string().contains("failed calling webhook"),
        "{refused}"
    );

    let _ = webhooks
        .delete(&configuration, &DeleteParams::default())
        .await;
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
}

/// The helm executable: `HELM`, else `helm` on the PATH, else the one `make helm` installs
/// under the target folder's `tools/`.
fn helm() -> Option<std::path::PathBuf> {
    if let Some(h) = std::env::var_os("HELM") {
        return Some(h.into());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("helm"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo().join("target"));
        Some(target.join("tools/helm")).filter(|p| p.is_file())
    })
}

/// `helm install` of charts/ferry, then the operator run exactly as the chart's Deployment
/// runs it (its arguments, its environment, its configuration) but on this machine and as
/// the chart's ServiceAccount (the kubeconfig impersonates it): the healthcare sample must
/// be reconciled with no permission missing from the chart's RBAC.
#[tokio::test]
async fn the_chart_installs_and_its_service_account_runs_the_operator() {
    if cluster().is_none() {
        return;
    }
    let Some(helm) = helm() else {
        eprintln!("skipped: no helm (make helm installs it into the target folder's tools/)");
        return;
    };
    let client = connect().await;
    let release_ns = format!("ferry-e2e-chart-{}", std::process::id());
    let apps_ns = format!("{release_ns}-apps");
    let namespaces = create_namespaces(&client, &[&release_ns, &apps_ns]).await;
    let release = "ferry";
    let (listen, webhook) = (free_port(), free_port());
    let (host, bind) = webhook_host();
    let installed = Command::new(&helm)
        .args(["install", release])
        .arg(repo().join("charts/ferry"))
        .args(["--namespace", &release_ns, "--skip-crds", "--wait=false"])
        // One release per test run: its cluster-wide objects get the namespace's name.
        .args(["--set", &format!("fullnameOverride={release_ns}")])
        .args(["--set", &format!("watchNamespace={apps_ns}")])
        // The operator runs on this machine: the API server calls its webhook there.
        .args(["--set", &format!("webhook.url=https://{host}:{webhook}")])
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&installed.stderr)
    );

    // The operator as the chart deploys it.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &release_ns);
    let operator = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|d| {
            d.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.ends_with("-operator"))
        })
        .expect("the chart made the operator's Deployment");
    let pod = operator.spec.unwrap().template.spec.unwrap();
    let account = pod.service_account_name.clone().unwrap();
    let container = &pod.containers[0];
    let dir = tempfile::tempdir().unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &release_ns);
    let mut args: Vec<String> = Vec::new();
    for arg in container.args.clone().unwrap_or_default() {
        let arg = if let Some(path) = arg.strip_prefix("--config=") {
            // The mounted ConfigMap, read from the cluster.
            let name = pod
                .volumes
                .iter()
                .flatten()
                .find_map(|v| v.config_map.as_ref().map(|c| c.name.clone()))
                .unwrap();
            let cm = config_maps.get(&name).await.unwrap();
            let file = Path::new(path)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let local = dir.path().join(&file);
            std::fs::write(&local, &cm.data.unwrap()[&file]).unwrap();
            format!("--config={}", local.display())
        } else if arg.starts_with("--listen=") {
            format!("--listen=127.0.0.1:{listen}")
        } else if arg.starts_with("--webhook-listen=") {
            format!("--webhook-listen={bind}:{webhook}")
        } else {
            arg
        };
        args.push(arg);
    }
    assert!(args.contains(&format!("--namespace={apps_ns}")), "{args:?}");
    let configuration = args
        .iter()
        .find_map(|a| a.strip_prefix("--webhook-configuration="))
        .expect("the chart runs the webhook, its certificate made by the operator")
        .to_string();
    let _cleanup = WebhookConfiguration(configuration.clone());
    // As the chart's ServiceAccount: the kubeconfig, impersonating it.
    let mut kubeconfig =
        kube::config::Kubeconfig::read_from(std::env::var("KUBECONFIG").unwrap()).unwrap();
    for user in &mut kubeconfig.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.impersonate = Some(format!("system:serviceaccount:{release_ns}:{account}"));
        }
    }
    let impersonating = dir.path().join("kubeconfig");
    std::fs::write(&impersonating, serde_json::to_string(&kubeconfig).unwrap()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry-operator"));
    command
        .args(&args)
        .env("KUBECONFIG", &impersonating)
        .env("FERRY_LOG", "info,ferry_operator=debug")
        .env("FERRY_LOG_FORMAT", "text")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for env in container.env.iter().flatten() {
        match (&env.value, &env.value_from) {
            (Some(v), _) => {
                command.env(&env.name, v);
            }
            // The downward API: this pod's namespace.
            (None, Some(from))
                if from
                    .field_ref
                    .as_ref()
                    .is_some_and(|f| f.field_path == "metadata.namespace") =>
            {
                command.env(&env.name, &release_ns);
            }
            _ => {}
        }
    }
    let operator = Operator(command.spawn().unwrap());

    for entry in std::fs::read_dir(repo().join("config/samples/healthcare")).unwrap() {
        // Files only: the sample's tests/ folder holds TestSuites for `ferry test`.
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        for doc in documents(&path) {
            apply(&client, &apps_ns, doc).await;
        }
    }
    let (status, message) = eventually("the healthcare API accepted and ready", || async {
        let accepted = condition(
            &client,
            &apps_ns,
            "IntegrationAPI",
            "healthcare",
            "Accepted",
        )
        .await?;
        (accepted.0 == "True").then_some(accepted)
    })
    .await;
    assert_eq!(status, "True", "{message}");
    let apps_deployments: Api<Deployment> = Api::namespaced(client.clone(), &apps_ns);
    eventually(
        "the group's Deployment, made as the chart's ServiceAccount",
        || async { apps_deployments.get("ferry-default").await.ok() },
    )
    .await;

    // The chart's webhook configuration, its caBundle set by the operator as the chart's
    // ServiceAccount (only its own configuration and Secret are granted).
    let webhooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    eventually("the chart's caBundle set by the operator", || async {
        let mwc = webhooks.get(&configuration).await.ok()?;
        let bundle = mwc.webhooks?.first()?.client_config.ca_bundle.clone()?;
        (!bundle.0.is_empty()).then_some(())
    })
    .await;
    // A sidecar group: a pod it selects gets the sidecar through the chart's configuration.
    apply(
        &client,
        &apps_ns,
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationRuntime",
            "metadata": {"name": "edge"},
            "spec": {"mode": "sidecar", "sidecar": {"selector": {"matchLabels": {"app": "e2e-app"}}}}}),
    )
    .await;
    apply(
        &client,
        &apps_ns,
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Sequence", "metadata": {"name": "hello"},
            "spec": {"runtime": "edge", "mediators": [{"log": {"message": "hello"}}]}}),
    )
    .await;
    eventually("the sidecar runtime accepted", || async {
        let (status, _) =
            condition(&client, &apps_ns, "IntegrationRuntime", "edge", "Accepted").await?;
        (status == "True").then_some(())
    })
    .await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &apps_ns);
    let default_account: ServiceAccount = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    )
    .unwrap();
    accounts
        .patch(
            "default",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&default_account),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &apps_ns);
    let bare = |name: &str| {
        serde_json::from_value::<Pod>(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "e2e-app"}},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
        }))
        .unwrap()
    };
    let created = pods
        .create(&Default::default(), &bare("injected"))
        .await
        .unwrap();
    assert_eq!(ferry_containers(&created), [true], "{:?}", created.spec);
    // The webhook down: the chart's default failure policy, `Ignore`, creates the pod
    // without its sidecar.
    drop(operator);
    let created = pods
        .create(&Default::default(), &bare("while-down"))
        .await
        .expect("failurePolicy Ignore admits the pod while the webhook is down");
    assert!(ferry_containers(&created).is_empty(), "{:?}", created.spec);

    let uninstalled = Command::new(&helm)
        .args(["uninstall", release, "--namespace", &release_ns])
        .output()
        .unwrap();
    assert!(uninstalled.status.success(), "helm uninstall");
    for ns in [&release_ns, &apps_ns] {
        let _ = namespaces.delete(ns, &DeleteParams::default()).await;
    }
}

/// Queue scaling: with KEDA's CRDs installed the operator renders a ScaledObject (and a
/// TriggerAuthentication for a broker URL in a Secret) that the API server accepts against
/// KEDA's own schema, and no HorizontalPodAutoscaler; without them the IntegrationRuntime
/// says `KedaNotInstalled` and the group keeps a CPU HorizontalPodAutoscaler. Either way,
/// turning `queue` off leaves the group with a HorizontalPodAutoscaler only. Nothing here
/// needs KEDA's controllers.
#[tokio::test]
async fn queue_scaling_renders_a_scaled_object_the_api_server_accepts_or_says_why_not() {
    if cluster().is_none() {
        return;
    }
    let client = connect().await;
    let keda = match client.list_api_group_resources("keda.sh/v1alpha1").await {
        Ok(list) => list.resources.iter().any(|r| r.name == "scaledobjects"),
        Err(_) => false,
    };
    eprintln!(
        "KEDA's CRDs {}installed: checking the {} path",
        if keda { "" } else { "not " },
        if keda {
            "ScaledObject"
        } else {
            "KedaNotInstalled"
        }
    );
    let namespace = format!("ferry-e2e-keda-{}", std::process::id());
    let namespaces = create_namespaces(&client, &[&namespace]).await;
    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_ferry-operator"))
            .args([
                "--namespace",
                &namespace,
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .env("FERRY_LOG", "info,ferry_operator=debug")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let runtime = |queue: Value| {
        let mut autoscaling = json!({"minReplicas": 1, "maxReplicas": 5});
        if !queue.is_null() {
            autoscaling["queue"] = queue;
        }
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationRuntime",
            "metadata": {"name": "orders"}, "spec": {"autoscaling": autoscaling}})
    };
    apply(
        &client,
        &namespace,
        json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "MessageStore",
            "metadata": {"name": "orders-queue"},
            "spec": {"runtime": "orders", "type": "rabbitmq", "rabbitmq": {
                "host": "rabbitmq.messaging", "queue": "orders", "username": "ferry",
                "passwordFrom": {"secretKeyRef": {"name": "rabbit", "key": "password"}}}}}),
    )
    .await;
    apply(
        &client,
        &namespace,
        runtime(
            json!({"store": "orders-queue", "targetBacklogPerReplica": 50,
            "rabbitmqUrlFrom": {"name": "rabbit-keda", "key": "url"}}),
        ),
    )
    .await;

    let queue_scaling = || async {
        let obj = dynamic(&client, &namespace, "IntegrationRuntime")
            .get("orders")
            .await
            .ok()?;
        let c = obj.data["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "QueueScaling")?
            .clone();
        Some((
            c["status"].as_str()?.to_string(),
            c["reason"].as_str()?.to_string(),
        ))
    };
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    let keda_api = |kind: &str| {
        let gvk = kube::core::GroupVersionKind::gvk("keda.sh", "v1alpha1", kind);
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &namespace,
            &kube::core::ApiResource::from_gvk(&gvk),
        )
    };
    if keda {
        let (status, reason) = eventually("QueueScaling=True", || async {
            queue_scaling().await.filter(|(s, _)| s == "True")
        })
        .await;
        assert_eq!((status.as_str(), reason.as_str()), ("True", "ScaledObject"));
        let scaled = keda_api("ScaledObject").get("ferry-orders").await.unwrap();
        assert_eq!(
            scaled.data["spec"]["scaleTargetRef"]["name"],
            "ferry-orders"
        );
        assert_eq!(scaled.data["spec"]["maxReplicaCount"], 5);
        let trigger = &scaled.data["spec"]["triggers"][0];
        assert_eq!(trigger["type"], "rabbitmq", "{trigger}");
        assert_eq!(trigger["metadata"]["queueName"], "orders", "{trigger}");
        assert_eq!(
            trigger["authenticationRef"]["name"], "ferry-orders",
            "{trigger}"
        );
        let auth = keda_api("TriggerAuthentication")
            .get("ferry-orders")
            .await
            .unwrap();
        assert_eq!(
            auth.data["spec"]["secretTargetRef"][0]["name"],
            "rabbit-keda"
        );
        assert!(has_owner(&scaled));
        assert!(
            hpas.get("ferry-orders").await.is_err(),
            "no HorizontalPodAutoscaler of the operator's beside the ScaledObject"
        );

        // Any other store: a prometheus trigger on the processors' backlog gauge, which
        // KEDA's schema accepts too.
        for doc in [
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "MessageStore",
                "metadata": {"name": "invoices"}, "spec": {"runtime": "billing", "type": "sqlite"}}),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "Endpoint", "metadata": {"name": "ledger"},
                "spec": {"runtime": "billing", "http": {"uriTemplate": "http://ledger.billing:8080/invoices"}}}),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "MessageProcessor",
                "metadata": {"name": "invoice-forwarder"},
                "spec": {"runtime": "billing", "type": "forwarding", "messageStore": "invoices",
                    "targetEndpoint": "ledger"}}),
            json!({"apiVersion": "ferry.dev/v1alpha1", "kind": "IntegrationRuntime",
                "metadata": {"name": "billing"},
                "spec": {"autoscaling": {"maxReplicas": 4, "queue": {"store": "invoices",
                    "targetBacklogPerReplica": 20,
                    "prometheusServerAddress": "http://prometheus.monitoring:9090"}}}}),
        ] {
            apply(&client, &namespace, doc).await;
        }
        let scaled = eventually("the prometheus-triggered ScaledObject", || async {
            keda_api("ScaledObject").get("ferry-billing").await.ok()
        })
        .await;
        let trigger = &scaled.data["spec"]["triggers"][0];
        assert_eq!(trigger["type"], "prometheus", "{trigger}");
        let query = trigger["metadata"]["query"].as_str().unwrap_or_default();
        assert!(
            query.contains("ferry_processor_backlog") && query.contains("invoice-forwarder"),
            "{query}"
        );
    } else {
        let (status, reason) = eventually("QueueScaling=False", || async {
            queue_scaling().await.filter(|(s, _)| s == "False")
        })
        .await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "KedaNotInstalled")
        );
        eventually("the CPU HorizontalPodAutoscaler kept", || async {
            hpas.get("ferry-orders").await.ok()
        })
        .await;
    }

    // Queue scaling off: the ScaledObject and TriggerAuthentication go, an HPA scales.
    apply(&client, &namespace, runtime(Value::Null)).await;
    eventually("the HorizontalPodAutoscaler", || async {
        hpas.get("ferry-orders").await.ok()
    })
    .await;
    if keda {
        eventually("the ScaledObject deleted", || async {
            let gone = keda_api("ScaledObject").get("ferry-orders").await.is_err()
                && keda_api("TriggerAuthentication")
                    .get("ferry-orders")
                    .await
                    .is_err();
            gone.then_some(())
        })
        .await;
    }
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
}
