//! The operator's output runs: `ferry-operator render` turns the healthcare sample into the
//! objects the operator would apply, and the runtime serves the rendered bundle (the
//! ConfigMap's files, as the pod mounts them) with the same answers as the sample itself.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use ferry_tests::{Ferry, client, operator_bin, workspace_root};
use serde_json::{Value, json};

fn documents(yaml: &str) -> Vec<Value> {
    ferry_api::bundle::yaml::parse_documents(yaml)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_healthcare_bundle_serves_like_the_sample() {
    let sample = workspace_root().join("config/samples/healthcare");
    let out = Command::new(operator_bin())
        .args(["render", "--namespace", "demo"])
        .arg(&sample)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&String::from_utf8(out.stdout).unwrap());
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment"
        ]
    );
    assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "demo"));
    let deployment = &docs[5];
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["run", "/etc/ferry/bundle", "--no-watch"])
    );

    // The ConfigMap's files, as the pod sees them under /etc/ferry/bundle.
    let bundle = tempfile::tempdir().unwrap();
    for (name, text) in docs[0]["data"].as_object().unwrap() {
        std::fs::write(bundle.path().join(name), text.as_str().unwrap()).unwrap();
    }
    let ferry = Ferry::start(&[bundle.path()], &[]);
    let resp = client()
        .post(ferry.url("/healthcare/categories/surgery/appointment"))
        .json(
            &json!({"name": "John Doe", "dob": "1940-03-19", "ssn": "234-23-525",
            "address": "California", "phone": "8770586755", "email": "johndoe@gmail.com",
            "doctor": "thomas collins", "hospital": "grand oak community hospital",
            "cardNo": "7844481124110331", "appointment_date": "2025-04-02"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["doctor"]["hospital"], "grand oak community hospital",
        "{body}"
    );
}

#[test]
fn a_refused_resource_is_reported_and_the_rest_still_rendered() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("apis.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: good}\nspec:\n  mediators: [{log: {message: hi}}]\n---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: bad}\nspec:\n  mediators: [{lgo: {}}]\n",
    )
    .unwrap();
    let out = Command::new(operator_bin())
        .arg("render")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Sequence/bad") && stderr.contains("lgo"),
        "{stderr}"
    );
    let docs = documents(&String::from_utf8(out.stdout).unwrap());
    let keys: Vec<&String> = docs[0]["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["sequence-good.yaml"]);
}
