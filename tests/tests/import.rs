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

/// Copies `from` into `to`, writing the backend's address where the corpus says `@BACKEND@`,
/// the drop directory of its file inbound endpoint where it says `@INBOX@` and a database
/// file where it says `@DB@`.
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
                .replace("@INBOX@", &inbox.display().to_string())
                .replace("@DB@", &inbox.join("catalogue.db").display().to_string());
            std::fs::write(&target, content).unwrap();
        }
    }
}

/// Imports the corpus project `name` with `--strict -v`, its `@BACKEND@` being `backend`
/// and its `@INBOX@`/`@DB@` files in `work`: the output folder and the report.
fn import_project(name: &str, backend: &Backend, work: &Path) -> (tempfile::TempDir, String) {
    let project = tempfile::tempdir().unwrap();
    copy_with_backend(
        &corpus(name),
        project.path(),
        &format!("127.0.0.1:{}", backend.port()),
        work,
    );
    let out = tempfile::tempdir().unwrap();
    let result = import(&[
        project.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--strict",
        "-v",
    ]);
    let report = text(&result.stderr);
    assert!(result.status.success(), "{report}");
    (out, report)
}

/// POSTs `body` to `path` of `ferry` asking for JSON: the status and the JSON answer.
async fn post_json(ferry: &Ferry, path: &str, body: &Value) -> (u16, Value) {
    json_answer(client().post(ferry.url(path)).json(body)).await
}

/// GETs `path` of `ferry` asking for JSON: the status and the JSON answer.
async fn get_json(ferry: &Ferry, path: &str) -> (u16, Value) {
    json_answer(client().get(ferry.url(path))).await
}

async fn json_answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = request
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
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
    let inbox = tempfile::tempdir().unwrap();
    let (out, report) = import_project("orders-project", &backend, inbox.path());
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
        format!("{odd}/Clinic.dbs:2: not imported: data/config[Clinic]: a config without url"),
        format!(
            "{odd}/Clinic.dbs:1: not imported: data[Clinic]: the data service Clinic reads config clinic, which cannot be imported"
        ),
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

/// The import's report line that contains `part`, or a failure listing the report.
fn line_with<'r>(report: &'r str, part: &str) -> &'r str {
    report
        .lines()
        .find(|l| l.contains(part))
        .unwrap_or_else(|| panic!("no line with {part:?} in:\n{report}"))
}

/// Creates the SQLite database the corpus's data service reads (Python's standard
/// library: the sqlite3 command line tool is not always installed).
fn create_catalogue(db: &Path) {
    let script = format!(
        "import sqlite3\nc = sqlite3.connect({:?})\nc.execute('CREATE TABLE products (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL)')\nc.executemany('INSERT INTO products (name, category, price) VALUES (?, ?, ?)', [('kettle', 'kitchen', 30.5), ('toaster', 'kitchen', 2500.0), ('lamp', 'living', 12.0)])\nc.commit()\n",
        db.display().to_string()
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3 runs");
    assert!(status.success(), "the test database could not be made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestration_throttle_templates_auth_and_a_data_service_import_and_run() {
    let backend = Backend::start(|r| match (r.method.as_str(), r.uri.as_str()) {
        ("GET", "/vendors/a") => Reply::json(json!({"vendor": "a", "price": 10})),
        ("GET", "/vendors/b") => {
            Reply::json(json!({"vendor": "b", "price": 12})).delayed(Duration::from_millis(100))
        }
        ("POST", "/stock") => {
            let line = r.json();
            Reply::json(json!({"sku": line["sku"], "inStock": line["qty"].as_i64() < Some(5)}))
        }
        ("POST", "/price")
            if r.header("authorization") == Some("Basic c2hvcDpzM2NyZXQtcHJpY2U=") =>
        {
            let item = r.json();
            Reply::json(json!({"sku": item["sku"], "price": 7}))
        }
        _ => Reply::with_status(401, "application/json", r#"{"error": "who are you"}"#),
    });
    let work = tempfile::tempdir().unwrap();
    create_catalogue(&work.path().join("catalogue.db"));
    let (out, report) = import_project("flows-project", &backend, work.path());

    // What the report says about each new mapping, located.
    assert!(
        line_with(&report, "Backend_Template.xml:3: adjusted")
            .contains("expanded into every endpoint")
    );
    assert!(line_with(&report, "Stock_EP.xml:2: adjusted").contains("written out here"));
    assert!(
        line_with(&report, "Price_EP.xml:12: adjusted").contains("PRICE_EP_BASIC_AUTH_PASSWORD")
    );
    assert!(
        line_with(
            &report,
            "local entry Flows_Throttle_Policy is written inline"
        )
        .contains("FlowsAPI.xml:78:")
    );
    assert!(
        line_with(&report, "Upload_Inbound.xml:3: adjusted")
            .contains("uploader:***@127.0.0.1:2222/upload/in is not copied into the resource")
    );
    assert!(line_with(&report, "{cat} is renamed {category}").contains("Catalogue.dbs:30:"));
    assert!(
        !report.contains("s3cret-price") && !report.contains("up%40load"),
        "{report}"
    );

    let endpoint = std::fs::read_to_string(out.path().join("endpoints/stock-ep.yaml")).unwrap();
    assert!(endpoint.contains("/stock"), "{endpoint}");
    assert!(endpoint.contains("duration: 5000"), "{endpoint}");
    assert!(!out.path().join("templates/backend-template.yaml").exists());
    let inbound =
        std::fs::read_to_string(out.path().join("inbound-endpoints/upload-inbound.yaml")).unwrap();
    for part in [
        "directory: /upload/in",
        "protocol: sftp",
        "port: 2222",
        "user: uploader",
        "passwordFile: /etc/ferry/secrets/upload-inbound/password",
        "moveAfterProcess: /upload/done",
        "moveAfterFailure: /upload/failed",
    ] {
        assert!(inbound.contains(part), "{part} missing in\n{inbound}");
    }
    let source = std::fs::read_to_string(out.path().join("data-sources/catalogue.yaml")).unwrap();
    assert!(source.contains("type: sqlite"), "{source}");
    for (_, yaml) in std::fs::read_dir(out.path())
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| {
            let p = f.unwrap().path();
            (p.clone(), std::fs::read_to_string(p).unwrap())
        })
    {
        assert!(
            !yaml.contains("s3cret-price") && !yaml.contains("up%40load"),
            "{yaml}"
        );
    }

    let checked = Command::new(ferry_bin())
        .arg("validate")
        .arg(out.path())
        .env("PRICE_EP_BASIC_AUTH_PASSWORD", "s3cret-price")
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        text(&checked.stdout),
        text(&checked.stderr)
    );
    let ferry = Ferry::start_with_env(
        &[out.path()],
        &[],
        &[("PRICE_EP_BASIC_AUTH_PASSWORD", "s3cret-price")],
    );
    let http = client();

    // clone + aggregate: both vendors' answers, joined (in arrival order, as in MI).
    let (status, body) = get_json(&ferry, "/flows/quotes").await;
    assert_eq!(status, 200, "{}", ferry.log());
    let mut vendors: Vec<Value> = serde_json::from_value(body).unwrap();
    vendors.sort_by_key(|v| v.to_string());
    assert_eq!(vendors, vec![json!("a"), json!("b")]);

    // iterate + aggregate: one stock call per line, through the expanded template endpoint.
    let order = json!({"lines": [{"sku": "p1", "qty": 1}, {"sku": "p2", "qty": 9}]});
    let (status, body) = post_json(&ferry, "/flows/orders", &order).await;
    assert_eq!(status, 200, "{}", ferry.log());
    let mut lines: Vec<Value> = serde_json::from_value(body).unwrap();
    lines.sort_by_key(|v| v["sku"].to_string());
    assert_eq!(
        lines,
        vec![
            json!({"sku": "p1", "inStock": true}),
            json!({"sku": "p2", "inStock": false})
        ]
    );

    // foreach: each item priced in place, with the endpoint's basic auth.
    let items = json!({"items": [{"sku": "x"}, {"sku": "y"}], "currency": "EUR"});
    let (status, body) = post_json(&ferry, "/flows/prices", &items).await;
    assert_eq!(status, 200, "{}", ferry.log());
    assert_eq!(
        body,
        json!({"items": [{"sku": "x", "price": 7}, {"sku": "y", "price": 7}], "currency": "EUR"})
    );

    // scatter-gather: both answers, in the order of the sequences.
    let (status, body) = get_json(&ferry, "/flows/summary").await;
    assert_eq!(status, 200, "{}", ferry.log());
    assert_eq!(
        body,
        json!([{"vendor": "a", "price": 10}, {"vendor": "b", "price": 12}])
    );

    // throttle: two a minute per caller, the third goes to onReject.
    for admitted in [true, true, false] {
        let resp = http.get(ferry.url("/flows/limited")).send().await.unwrap();
        assert_eq!(resp.status(), if admitted { 200 } else { 429 });
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"admitted": admitted})
        );
    }

    // The data service: the query by category, with its default and its path variable.
    let (status, body) = get_json(&ferry, "/services/Catalogue/products/kitchen").await;
    assert_eq!(status, 200, "{}", ferry.log());
    assert_eq!(
        body,
        json!({"Products": {"Product": [{"productId": 1, "name": "kettle", "price": 30.5}]}})
    );
    let (_, body) = get_json(&ferry, "/services/Catalogue/products/kitchen?maxPrice=5000").await;
    assert_eq!(
        body["Products"]["Product"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    // XML by default, as MI answers.
    let resp = http
        .get(ferry.url("/services/Catalogue/products/living"))
        .send()
        .await
        .unwrap();
    let xml = resp.text().await.unwrap();
    assert!(xml.starts_with("<Products"), "{xml}");
    assert!(xml.contains("<name>lamp</name>"), "{xml}");
    // The insert, with its validation.
    let rug = json!({"name": "rug", "category": "living", "price": 40});
    let (status, body) = post_json(&ferry, "/services/Catalogue/products", &rug).await;
    assert_eq!(status, 200, "{}", ferry.log());
    assert_eq!(body, json!({"rowsAffected": 1}));
    let nameless = json!({"name": "", "category": "living", "price": 1});
    let (status, _) = post_json(&ferry, "/services/Catalogue/products", &nameless).await;
    assert_eq!(status, 400);
}
