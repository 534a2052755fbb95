//! The management API on the admin port and `ferry ctl`, black box: every kind is listed and
//! described; an endpoint and a processor are deactivated and activated, a task triggered, a
//! logger's level changed; writes without the token are refused (401/403) and without a
//! token file the API is read-only.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, MANAGEMENT_TOKEN, client, ferry_bin, management_token_file};
use serde_json::{Value, json};

const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: backend
spec:
  http: {uriTemplate: 'http://127.0.0.1:PORT/b', method: get}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: audit
spec:
  mediators:
    - log: {message: 'heartbeat ran'}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata:
  name: heartbeat
spec:
  trigger: {once: true}
  message:
    payload: '{}'
  inject: {sequence: audit}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: orders
spec:
  type: memory
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: deliver
spec:
  type: forwarding
  messageStore: orders
  targetEndpoint: backend
  interval: 20
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: shop
spec:
  context: /shop
  resources:
    - methods: [GET]
      uriTemplate: /ping
      inSequence:
        - call: {endpoint: {key: backend}}
        - respond: {}
";

fn start(
    token: bool,
) -> (
    Ferry,
    Backend,
    tempfile::TempDir,
    Option<tempfile::NamedTempFile>,
) {
    let backend = Backend::start(|_| Reply::json(json!({"pong": true})));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop.yaml"),
        CONFIG.replace("PORT", &backend.port().to_string()),
    )
    .unwrap();
    let file = token.then(management_token_file);
    let mut args: Vec<&str> = Vec::new();
    if let Some(f) = &file {
        args.extend(["--management-token-file", f.path().to_str().unwrap()]);
    }
    let ferry = Ferry::start(&[dir.path()], &args);
    (ferry, backend, dir, file)
}

async fn get(ferry: &Ferry, path: &str) -> (u16, Value) {
    let r = client().get(ferry.admin_url(path)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn write(
    ferry: &Ferry,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, ferry.admin_url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn wait_log(ferry: &Ferry, what: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while ferry.log().matches(what).count() < times {
        assert!(
            Instant::now() < deadline,
            "{what} x{times}:\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_listed_and_described() {
    let (ferry, _backend, _dir, _token) = start(false);
    let (status, apis) = get(&ferry, "/management/apis").await;
    assert_eq!(status, 200);
    assert_eq!(apis["count"], 1);
    assert_eq!(
        apis["list"][0],
        json!({"name": "shop", "context": "/shop", "resources": [{"methods": ["GET"], "path": "/ping"}]})
    );
    let (status, api) = get(&ferry, "/management/apis/shop").await;
    assert_eq!(status, 200);
    assert_eq!(api["resource"]["kind"], "IntegrationAPI");
    assert_eq!(api["resource"]["spec"]["context"], "/shop");

    let (_, endpoints) = get(&ferry, "/management/endpoints").await;
    assert_eq!(endpoints["list"][0]["name"], "backend");
    assert_eq!(endpoints["list"][0]["state"], "active");
    assert_eq!(endpoints["list"][0]["kind"], "http");
    let (_, sequences) = get(&ferry, "/management/sequences").await;
    assert_eq!(
        sequences["list"][0],
        json!({"name": "audit", "mediators": 1})
    );
    let (_, tasks) = get(&ferry, "/management/tasks").await;
    assert_eq!(
        tasks["list"][0],
        json!({"name": "heartbeat", "schedule": "once", "target": {"sequence": "audit"}})
    );
    let (status, stores) = get(&ferry, "/management/message-stores").await;
    assert_eq!(
        (status, stores["list"][0]["name"].clone()),
        (200, json!("orders"))
    );
    let (status, processors) = get(&ferry, "/management/message-processors").await;
    assert_eq!(
        (status, processors["list"][0]["name"].clone()),
        (200, json!("deliver"))
    );
    for empty in [
        "/management/proxy-services",
        "/management/local-entries",
        "/management/templates",
        "/management/data-services",
        "/management/inbound-endpoints",
    ] {
        let (status, list) = get(&ferry, empty).await;
        assert_eq!((status, list["count"].clone()), (200, json!(0)), "{empty}");
    }
    let (status, missing) = get(&ferry, "/management/endpoints/nope").await;
    assert_eq!(status, 404);
    assert!(missing["error"].as_str().unwrap().contains("nope"));
    let (status, logging) = get(&ferry, "/management/logging").await;
    assert_eq!((status, logging["filter"].clone()), (200, json!("info")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_file_every_write_is_refused() {
    let (ferry, _backend, _dir, _token) = start(false);
    for (method, path) in [
        (
            reqwest::Method::POST,
            "/management/endpoints/backend/deactivate",
        ),
        (
            reqwest::Method::POST,
            "/management/message-processors/deliver/deactivate",
        ),
        (reqwest::Method::POST, "/management/tasks/heartbeat/trigger"),
        (reqwest::Method::PATCH, "/management/logging"),
        (
            reqwest::Method::DELETE,
            "/management/message-stores/orders/messages",
        ),
    ] {
        let (status, body) = write(&ferry, method, path, Some("anything"), None).await;
        assert_eq!(status, 403, "{path}");
        assert!(
            body["error"].as_str().unwrap().contains("read-only"),
            "{body}"
        );
    }
    let (_, endpoint) = get(&ferry, "/management/endpoints/backend").await;
    assert_eq!(endpoint["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_the_token_change_endpoints_processors_tasks_and_log_levels() {
    let (ferry, backend, _dir, _token) = start(true);
    let path = "/management/endpoints/backend/deactivate";
    // Refused: no bearer (401 with a challenge), a wrong one (403).
    let r = client().post(ferry.admin_url(path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (status, _) = write(&ferry, reqwest::Method::POST, path, Some("wrong"), None).await;
    assert_eq!(status, 403);
    assert_eq!(
        client()
            .get(ferry.url("/shop/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Deactivated: calls fail at once as a suspended endpoint's, the backend sees nothing.
    let (status, state) = write(
        &ferry,
        reqwest::Method::POST,
        path,
        Some(MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!((status, state["state"].clone()), (200, json!("inactive")));
    let calls = backend.requests().len();
    let refused = client().get(ferry.url("/shop/ping")).send().await.unwrap();
    assert!(refused.status().is_server_error(), "{}", refused.status());
    assert!(refused.text().await.unwrap().contains("deactivated"));
    assert_eq!(backend.requests().len(), calls);
    let (status, state) = write(
        &ferry,
        reqwest::Method::POST,
        "/management/endpoints/backend/activate",
        Some(MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!((status, state["state"].clone()), (200, json!("active")));
    assert_eq!(
        client()
            .get(ferry.url("/shop/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A processor, as MI: deactivated, then active again.
    let (status, state) = write(
        &ferry,
        reqwest::Method::POST,
        "/management/message-processors/deliver/deactivate",
        Some(MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!((status, state["state"].clone()), (200, json!("Inactive")));

    // A task runs once more when triggered.
    wait_log(&ferry, "heartbeat ran", 1).await;
    let (status, _) = write(
        &ferry,
        reqwest::Method::POST,
        "/management/tasks/heartbeat/trigger",
        Some(MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 202);
    wait_log(&ferry, "heartbeat ran", 2).await;
    let (status, _) = write(
        &ferry,
        reqwest::Method::POST,
        "/management/tasks/nope/trigger",
        Some(MANAGEMENT_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A logger's level: the log mediator's lines go quiet at warn.
    let (status, filter) = write(
        &ferry,
        reqwest::Method::PATCH,
        "/management/logging",
        Some(MANAGEMENT_TOKEN),
        Some(json!({"loggerName": "ferry::log", "loggingLevel": "warn"})),
    )
    .await;
    assert_eq!(
        (status, filter["filter"].clone()),
        (200, json!("info,ferry::log=warn"))
    );
    write(
        &ferry,
        reqwest::Method::POST,
        "/management/tasks/heartbeat/trigger",
        Some(MANAGEMENT_TOKEN),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ferry.log().matches("heartbeat ran").count(),
        2,
        "{}",
        ferry.log()
    );
    let (status, _) = write(
        &ferry,
        reqwest::Method::PUT,
        "/management/logging",
        Some(MANAGEMENT_TOKEN),
        Some(json!({"loggingLevel": "loud"})),
    )
    .await;
    assert_eq!(status, 400);
}

/// Runs `ferry ctl ARGS` against `ferry`; exit code, stdout, stderr.
fn ctl(ferry: &Ferry, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ferry_bin())
        .arg("ctl")
        .args(["--admin-url", &ferry.admin_url("")])
        .args(args)
        .env_remove("FERRY_MANAGEMENT_TOKEN_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_ctl_lists_describes_and_changes_with_table_and_json_output() {
    let (ferry, _backend, _dir, token) = start(true);
    let token = token.unwrap();
    let token_path = token.path().to_str().unwrap();

    let (code, out, err) = ctl(&ferry, &["get", "apis"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "NAME   CONTEXT\nshop   /shop\n");
    let (code, out, _) = ctl(&ferry, &["get", "endpoints"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("NAME      KIND   STATE    SUSPENSIONS   ADDRESS"),
        "{out}"
    );
    assert!(
        out.contains("backend   http   active   0             http://127.0.0.1:"),
        "{out}"
    );
    let (code, out, _) = ctl(&ferry, &["get", "processors", "-o", "json"]);
    assert_eq!(code, 0);
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["list"][0]["name"], "deliver");
    let (code, out, _) = ctl(&ferry, &["describe", "api", "shop"]);
    assert_eq!(code, 0);
    assert!(out.contains("name: shop\n"), "{out}");
    assert!(out.contains("  - methods: GET\n"), "{out}");

    // Writes: refused without the token, done with it.
    let (code, _, err) = ctl(&ferry, &["deactivate", "processor", "deliver"]);
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
    let (code, out, err) = ctl(
        &ferry,
        &[
            "--token-file",
            token_path,
            "deactivate",
            "processor",
            "deliver",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("state: Inactive"), "{out}");
    let (code, _, err) = ctl(
        &ferry,
        &[
            "--token-file",
            token_path,
            "activate",
            "processor",
            "deliver",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ctl(
        &ferry,
        &["--token-file", token_path, "trigger", "task", "heartbeat"],
    );
    assert_eq!(code, 0, "{err}");
    wait_log(&ferry, "heartbeat ran", 2).await;
    let (code, out, err) = ctl(
        &ferry,
        &[
            "--token-file",
            token_path,
            "log-level",
            "ferry::log",
            "debug",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "filter: info,ferry::log=debug\n");
    let (code, out, _) = ctl(&ferry, &["log-level"]);
    assert_eq!((code, out.as_str()), (0, "filter: info,ferry::log=debug\n"));

    // Mistakes are told, with a non-zero exit.
    let (code, _, err) = ctl(&ferry, &["get", "widgets"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown kind"), "{err}");
    let (code, _, err) = ctl(&ferry, &["describe", "endpoint", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
}
