//! `ferry import`: a Micro Integrator project written for this test (tests/testdata/synapse)
//! is imported, validated, served with `ferry run` against a real backend and answers as MI
//! documents; a carbon application built here imports; malformed and unsupported inputs
//! give located report lines and never a crash.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ferry_tests::backend::{Backend, Reply};
use ferry_tests::{Ferry, client, ferry_bin, validate, workspace_root};
use serde_json::{Value, json};

fn corpus(name: &str) -> PathBuf {
    workspace_root().join("tests/testdata/synapse").join(name)
}

fn import(args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .arg("import")
        .args(args)
        .output()
        .expect("ferry runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies `from` into `to`, writing the backend's address where the corpus says `@BACKEND@`
/// and the drop directory of its file inbound endpoint where it says `@INBOX@`.
fn copy_with_backend(from: &Path, to: &Path, backend: &str, inbox: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_with_backend(&path, &target, backend, inbox);
        } else {
            let content = std::fs::read_to_string(&path).unwrap();
            let content = content
                .replace("@BACKEND@", backend)
                .replace("@INBOX@", &inbox.display().to_string());
            std::fs::write(&target, content).unwrap();
        }
    }
}

/// Waits until the backend has seen a request for `path` (10 s at most).
fn wait_for(backend: &Backend, method: &str, path: &str) -> ferry_tests::backend::Recorded {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = backend
            .requests()
            .into_iter()
            .find(|r| r.method == method && r.uri == path)
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no {method} {path}: {:?}",
            backend.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mi_project_imports_validates_and_answers_as_mi_documents() {
    let backend = Backend::start(|r| match (r.method.as_str(), r.uri.as_str()) {
        ("GET", uri) if uri.starts_with("/backend/orders/") => Reply::json(json!({
            "id": uri.trim_start_matches("/backend/orders/"), "status": "shipped"
        })),
        _ => Reply::json(json!({"ok": true})),
    });
    let project = tempfile::tempdir().unwrap();
    let inbox = tempfile::tempdir().unwrap();
    copy_with_backend(
        &corpus("orders-project"),
        project.path(),
        &format!("127.0.0.1:{}", backend.port()),
        inbox.path(),
    );
    let out = tempfile::tempdir().unwrap();
    let result = import(&[
        project.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--strict",
    ]);
    let report = text(&result.stderr);
    assert!(result.status.success(), "{report}");
    assert!(report.contains("14 artifacts imported"), "{report}");

    // One file per artifact, in MI's folders, with Kubernetes names and the Synapse name kept.
    let api = std::fs::read_to_string(out.path().join("apis/orders-api.yaml")).unwrap();
    assert!(
        api.starts_with("# Imported by `ferry import` from "),
        "{api}"
    );
    assert!(api.contains("ferry.dev/synapse-name: OrdersAPI"), "{api}");
    assert!(api.contains("key: orders-fault-seq"), "{api}");
    for file in [
        "sequences/greeting-seq.yaml",
        "sequences/orders-fault-seq.yaml",
        "sequences/tick-seq.yaml",
        "sequences/drop-seq.yaml",
        "inbound-endpoints/drop-inbound.yaml",
        "templates/channel-template.yaml",
        "endpoints/orders-backend-ep.yaml",
        "endpoints/delivery-ep.yaml",
        "message-stores/orders-store.yaml",
        "message-processors/orders-forwarder.yaml",
        "tasks/tick.yaml",
        "local-entries/banner.yaml",
        "proxy-services/echo-proxy.yaml",
    ] {
        assert!(out.path().join(file).exists(), "{file} missing: {report}");
    }
    let inbound =
        std::fs::read_to_string(out.path().join("inbound-endpoints/drop-inbound.yaml")).unwrap();
    assert!(inbound.contains("sequence: drop-seq"), "{inbound}");
    assert!(inbound.contains("onError: orders-fault-seq"), "{inbound}");
    let task = std::fs::read_to_string(out.path().join("tasks/tick.yaml")).unwrap();
    assert!(task.contains("interval: 1000"), "{task}");
    assert!(task.contains("# Adjusted"), "{task}");

    let checked = validate(&[out.path()]);
    assert!(
        checked.status.success(),
        "{}{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );

    let ferry = Ferry::start(&[out.path()], &[]);
    let http = client();

    // GET /orders/{orderId}: the backend's answer, through the http endpoint.
    let resp = http.get(ferry.url("/orders/42")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"id": "42", "status": "shipped"}));

    // POST /orders: filter on json-eval, payloadFactory with JSON arguments, HTTP_SC.
    let resp = http
        .post(ferry.url("/orders"))
        .json(&json!({"kind": "book", "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", ferry.log());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"accepted": "book", "quantity": 2})
    );
    let resp = http
        .post(ferry.url("/orders"))
        .json(&json!({"kind": "car", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "unknown kind"})
    );

    // switch on $url:, a named sequence, a template with a dynamic parameter.
    let resp = http
        .get(ferry.url("/orders/channel?name=web"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"channel": "web", "greeting": "hello"})
    );
    let resp = http
        .get(ferry.url("/orders/channel?name=tv"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"channel": "other"})
    );

    // store + forwarding processor through the failover endpoint: answered 202 at once,
    // delivered to the backend afterwards.
    let resp = http
        .post(ferry.url("/orders/later"))
        .json(&json!({"kind": "music", "quantity": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", ferry.log());
    let delivered = wait_for(&backend, "POST", "/deliveries");
    assert_eq!(delivered.json(), json!({"kind": "music", "quantity": 3}));

    // The file inbound endpoint takes a dropped JSON file into Drop_Seq, which posts it to
    // the backend, and deletes the file (ActionAfterProcess DELETE).
    let dropped = inbox.path().join("order-7.json");
    std::fs::write(&dropped, r#"{"kind": "film", "quantity": 7}"#).unwrap();
    let drop = wait_for(&backend, "POST", "/drops");
    assert_eq!(drop.json(), json!({"kind": "film", "quantity": 7}));
    let deadline = Instant::now() + Duration::from_secs(5);
    while dropped.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dropped.exists(), "the processed file is deleted");

    // The MessageInjector task ran Tick_Seq once.
    let tick = wait_for(&backend, "POST", "/ticks");
    assert!(tick.text().contains("<at>now</at>"), "{}", tick.text());
}

/// A carbon application as MI's build writes one: artifacts.xml and one folder per artifact.
fn build_car(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let files = [
        (
            "artifacts.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><artifacts><artifact name="OrdersCar" version="1.0.0" type="carbon/application"><dependency artifact="OrdersAPI" version="1.0.0" include="true" serverRole="EnterpriseIntegrator"/></artifact></artifacts>"#,
        ),
        (
            "OrdersAPI_1.0.0/artifact.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><artifact name="OrdersAPI" version="1.0.0" type="synapse/api" serverRole="EnterpriseIntegrator"><file>OrdersAPI.xml</file></artifact>"#,
        ),
        (
            "OrdersAPI_1.0.0/OrdersAPI.xml",
            "<api context=\"/car-orders\" name=\"OrdersAPI\" xmlns=\"http://ws.apache.org/ns/synapse\">\n  <resource methods=\"GET\" uri-template=\"/ping\">\n    <inSequence>\n      <payloadFactory media-type=\"json\"><format>{\"pong\": true}</format><args/></payloadFactory>\n      <respond/>\n    </inSequence>\n  </resource>\n</api>\n",
        ),
    ];
    for (name, content) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carbon_application_imports_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let car = dir.path().join("OrdersCar_1.0.0.car");
    build_car(&car);
    let result = import(&[car.to_str().unwrap(), "--out", "-", "--strict", "-v"]);
    let report = text(&result.stderr);
    assert!(result.status.success(), "{report}");
    assert!(
        report.contains("OrdersCar_1.0.0.car!/OrdersAPI_1.0.0/OrdersAPI.xml:1: mapped: api[OrdersAPI]: IntegrationAPI/orders-api"),
        "{report}"
    );
    let yaml = dir.path().join("orders.yaml");
    std::fs::write(&yaml, &result.stdout).unwrap();
    let ferry = Ferry::start(&[&yaml], &[]);
    let resp = client()
        .get(ferry.url("/car-orders/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"pong": true}));
}

#[test]
fn malformed_xml_unknown_elements_and_unsupported_mediators_are_reported_located() {
    let odd = corpus("odd");
    let out = tempfile::tempdir().unwrap();
    let result = import(&[odd.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    let report = text(&result.stderr);
    assert!(
        result.status.success(),
        "without --strict an import with gaps succeeds: {report}"
    );
    let odd = odd.display().to_string();
    for line in [
        format!("{odd}/Broken.xml:4: not imported: not well-formed XML"),
        format!("{odd}/Clinic.dbs:1: not imported: data: data services are not imported yet"),
        format!(
            "{odd}/Feed_Inbound.xml:2: not imported: inboundEndpoint[Feed_Inbound]: inbound protocol http is not available in Ferry"
        ),
        format!(
            "{odd}/Unsupported_Seq.xml:4: not imported: sequence[Unsupported_Seq]/datamapper: the datamapper mediator is not run by Ferry yet"
        ),
        format!(
            "{odd}/Unsupported_Seq.xml:5: not imported: sequence[Unsupported_Seq]/class: custom Java mediators cannot run in Ferry"
        ),
        format!(
            "{odd}/Unsupported_Seq.xml:6: not imported: sequence[Unsupported_Seq]/property: property scope \"registry\""
        ),
        format!(
            "{odd}/Unsupported_Seq.xml:7: not imported: sequence[Unsupported_Seq]/frobnicate: <frobnicate> is not a mediator Ferry knows"
        ),
        format!(
            "{odd}/Unsupported_Seq.xml:8: not imported: sequence[Unsupported_Seq]/dbreport: dbreport: an inline connection (driver, url, user, password) is not available in Ferry; declare a DataSource"
        ),
    ] {
        assert!(report.contains(&line), "missing {line:?} in:\n{report}");
    }
    // What could be imported is valid: the sequence keeps its log and respond.
    let seq = std::fs::read_to_string(out.path().join("sequences/unsupported-seq.yaml")).unwrap();
    assert!(seq.contains("# NOT IMPORTED (line 4"), "{seq}");
    assert!(seq.contains("jsonTransform:"), "{seq}");
    let checked = validate(&[out.path()]);
    assert!(
        checked.status.success(),
        "{}{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );

    let strict = import(&[&odd, "--out", "-", "--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stderr));
}
