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

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
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
    let client = Client::try_default()
        .await
        .expect("KUBECONFIG names a reachable cluster");
    install_crds(&client).await;

    let namespace = format!("ferry-e2e-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .unwrap();
    namespaces
        .patch(&namespace, &PatchParams::apply(MANAGER), &Patch::Apply(&ns))
        .await
        .unwrap();

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
        for doc in documents(&entry.unwrap().path()) {
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
