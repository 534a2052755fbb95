use std::sync::Arc;

use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::*;
use crate::certs::{Renewal, renew};
use crate::config::OperatorConfig;
use crate::sidecar::SIDECAR_LABEL;
use crate::testing::{group, tls_connector};

const RUNTIME: &str = "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {name: orders}\nspec:\n  mode: sidecar\n  sidecar: {selector: {matchLabels: {app: orders}}}\n";

struct Fixed(Option<Vec<Plan>>);

impl Plans for Fixed {
    fn plans(&self, namespace: &str) -> Option<Vec<Plan>> {
        assert_eq!(namespace, "ns");
        self.0.clone()
    }
}

fn plans() -> Fixed {
    let plan = sidecar::plan(
        &group(RUNTIME, "orders"),
        &OperatorConfig::default().defaults,
    )
    .unwrap();
    Fixed(Some(vec![plan]))
}

/// An AdmissionReview as the API server sends it for a ReplicaSet's new pod.
fn review_of(labels: Value, annotations: Value) -> Value {
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "ns",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "u", "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": "orders-7d4b9c-", "namespace": "ns",
                    "labels": labels, "annotations": annotations,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": "orders-7d4b9c", "uid": "rs", "controller": true}]},
                "spec": {"containers": [{"name": "app", "image": "app:1",
                    "ports": [{"containerPort": 8080, "name": "http"}]}]},
                "status": {}
            },
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

fn response_of(body: &[u8]) -> Value {
    let review: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    review["response"].clone()
}

/// The patch's operations, from the base64 text the API server reads.
fn decoded_patch(response: &Value) -> Vec<Value> {
    use base64::Engine;
    let text = response["patch"].as_str().expect("a base64 patch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_selected_pod_is_admitted_with_a_json_patch() {
    let body = review_of(json!({"app": "orders"}), Value::Null).to_string();
    let reply = review(body.as_bytes(), &plans());
    assert_eq!((reply.status, reply.result), (StatusCode::OK, "injected"));
    let response = response_of(&reply.body);
    assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    let ops = decoded_patch(&response);
    assert_eq!(ops[0]["path"], "/spec/initContainers");
    assert_eq!(ops[0]["value"][0]["restartPolicy"], "Always");
    assert!(
        ops.iter().any(
            |op| op["path"] == "/metadata/labels/ferry.dev~1sidecar" && op["value"] == "orders"
        )
    );
    assert!(SIDECAR_LABEL.contains('/'));
}

#[test]
fn other_pods_are_admitted_unchanged() {
    for (labels, annotations) in [
        (json!({"app": "billing"}), Value::Null),
        (
            json!({"app": "orders"}),
            json!({"ferry.dev/inject": "false"}),
        ),
    ] {
        let body = review_of(labels, annotations).to_string();
        let reply = review(body.as_bytes(), &plans());
        assert_eq!((reply.status, reply.result), (StatusCode::OK, "unchanged"));
        let response = response_of(&reply.body);
        assert_eq!(response["allowed"], true);
        assert!(response.get("patch").is_none(), "{response}");
    }
}

#[test]
fn unknown_plans_and_bad_bodies_are_errors_the_failure_policy_handles() {
    let body = review_of(json!({"app": "orders"}), Value::Null).to_string();
    let reply = review(body.as_bytes(), &Fixed(None));
    assert_eq!(
        (reply.status, reply.result),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let reply = review(b"{\"kind\": \"Pod\"}", &plans());
    assert_eq!(
        (reply.status, reply.result),
        (StatusCode::BAD_REQUEST, "invalid")
    );
    assert_eq!(response_of(&reply.body)["allowed"], false);
}

#[test]
fn updates_are_admitted_unchanged() {
    let mut body = review_of(json!({"app": "orders"}), Value::Null);
    body["request"]["operation"] = json!("UPDATE");
    body["request"]["oldObject"] = body["request"]["object"].clone();
    let reply = review(body.to_string().as_bytes(), &plans());
    assert_eq!(reply.status, StatusCode::OK);
    assert!(response_of(&reply.body).get("patch").is_none());
}

/// POSTs `body` to the webhook at `port` over TLS trusting `ca`; the status and body.
async fn post(port: u16, ca: &str, path: &str, body: String) -> (StatusCode, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tls_connector(ca).connect(name, tcp).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::post(path)
        .header("content-type", "application/json")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

#[tokio::test]
async fn the_webhook_answers_an_admission_review_over_https() {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let material = renew(None, Renewal::All, &["127.0.0.1".to_string()], now).unwrap();
    let serving = Arc::new(Serving::default());
    serving
        .load(material.cert.as_bytes(), material.key.as_bytes())
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let metrics = Arc::new(Metrics::new());
    tokio::spawn(serve(listener, serving, Arc::new(plans()), metrics.clone()));

    let body = review_of(json!({"app": "orders"}), Value::Null).to_string();
    let (status, reply) = post(port, &material.ca_bundle, PATH, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let response = response_of(&reply);
    assert_eq!(response["allowed"], true);
    assert!(!decoded_patch(&response).is_empty());

    let (status, _) = post(port, &material.ca_bundle, "/other", body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        metrics
            .encode()
            .contains("ferry_operator_webhook_admissions_total{result=\"injected\"} 1")
    );

    // A client that does not trust the CA does not get through.
    let stranger = renew(None, Renewal::All, &["127.0.0.1".to_string()], now).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    assert!(
        tls_connector(&stranger.ca_bundle)
            .connect(name, tcp)
            .await
            .is_err()
    );
}

#[test]
fn plans_come_from_the_caches_once_listed_and_are_made_once_per_version() {
    let objects = crate::testing::objects(RUNTIME);
    let caches = Arc::new(std::sync::OnceLock::new());
    let health = Arc::new(Health::default());
    let from = FromCaches::new(
        caches.clone(),
        health.clone(),
        Arc::new(OperatorConfig::default()),
    );
    assert!(from.plans("ns").is_none(), "not listed yet");
    health.set_ready();
    assert!(from.plans("ns").is_none(), "no caches yet");
    let _ = caches.set(Caches::of(&objects));
    let first = from.plans("ns").unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].key.name, "orders");
    assert_eq!(from.plans("ns").unwrap(), first);
    assert_eq!(from.made.lock().unwrap().len(), 1);
    assert!(from.plans("elsewhere").unwrap().is_empty());
}
