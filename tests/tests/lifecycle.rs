//! The runtime as an operator sees it: probes, metrics, reload, and graceful shutdown.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, client, workspace_root};
use serde_json::json;

const API: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: hello
spec:
  context: /hello
  resources:
    - methods: [GET]
      uriTemplate: /
      inSequence:
        - payloadFactory: {mediaType: text, format: VERSION}
        - respond: {}
";

fn api(version: &str) -> String {
    API.replace("VERSION", version)
}

/// An API at `/NAME` whose GET resource (at `resource`, or any path) calls the backend on
/// port `${config.backend.port}` at `backend_path` and answers with its reply.
fn calling_api(name: &str, resource: Option<&str>, backend_path: &str) -> String {
    let template = resource.map_or_else(String::new, |t| format!("\n      uriTemplate: {t}"));
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: {name}
spec:
  context: /{name}
  resources:
    - methods: [GET]{template}
      inSequence:
        - call:
            endpoint:
              http: {{uriTemplate: \"http://127.0.0.1:${{config.backend.port}}{backend_path}\"}}
        - respond: {{}}
"
    )
}

async fn get_text(url: &str) -> (u16, String) {
    let resp = client().get(url).send().await.expect("request to ferry");
    (
        resp.status().as_u16(),
        resp.text().await.expect("response body"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics_answer_on_the_admin_port() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), api("one")).unwrap();
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(get_text(&ferry.admin_url("/livez")).await.0, 200);
    assert_eq!(get_text(&ferry.admin_url("/readyz")).await.0, 200);
    assert_eq!(get_text(&ferry.url("/hello")).await, (200, "one".into()));
    let (status, metrics) = get_text(&ferry.admin_url("/metrics")).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("ferry_http_requests_total"), "{metrics}");
    assert!(metrics.contains("api=\"hello\""), "{metrics}");
    assert!(
        metrics.contains("ferry_http_request_duration_seconds"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_reloaded_and_a_broken_one_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.yaml");
    std::fs::write(&file, api("one")).unwrap();
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(get_text(&ferry.url("/hello")).await.1, "one");

    std::fs::write(&file, api("two")).unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        seen = get_text(&ferry.url("/hello")).await.1;
        if seen == "two" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen,
        "two",
        "the change was not picked up:\n{}",
        ferry.log()
    );

    // A broken config is reported and the running one keeps serving.
    std::fs::write(&file, api("three").replace("uriTemplate", "uriTemplat")).unwrap();
    for _ in 0..40 {
        if ferry.log().contains("still serving the previous one") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ferry.log().contains("unknown field `uriTemplat`"),
        "{}",
        ferry.log()
    );
    assert!(
        ferry.log().contains("still serving the previous one"),
        "{}",
        ferry.log()
    );
    assert_eq!(get_text(&ferry.url("/hello")).await, (200, "two".into()));
    assert_eq!(get_text(&ferry.admin_url("/readyz")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_without_watching() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.yaml");
    std::fs::write(&file, api("one")).unwrap();
    let ferry = Ferry::start(&[dir.path()], &["--no-watch"]);
    std::fs::write(&file, api("two")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get_text(&ferry.url("/hello")).await.1,
        "one",
        "--no-watch must not reload"
    );
    ferry.signal("HUP");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = get_text(&ferry.url("/hello")).await.1;
        if seen == "two" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, "two", "{}", ferry.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let slow = Backend::start(|_| {
        Reply::with_status(200, "text/plain", "slow answer").delayed(Duration::from_millis(800))
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), calling_api("slow", None, "/")).unwrap();
    let port = slow.port().to_string();
    let set = format!("backend.port={port}");
    let mut ferry = Ferry::start(&[dir.path()], &["--set", &set]);
    let url = ferry.url("/slow");
    let in_flight = tokio::spawn(async move { get_text(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ferry.signal("TERM");
    let (status, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "slow answer"));
    assert_eq!(
        ferry.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        ferry.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_thread_or_several_serve_calls_and_shut_down_cleanly() {
    let backend = Backend::start(|r| {
        Reply::with_status(200, "text/plain", format!("got {}", r.uri))
            .delayed(Duration::from_millis(50))
    });
    let dir = tempfile::tempdir().unwrap();
    let api = calling_api("calls", Some("/{n}"), "/n/{uri.var.n}");
    std::fs::write(dir.path().join("api.yaml"), api).unwrap();
    let set = format!("backend.port={}", backend.port());
    for workers in ["1", "3"] {
        let args = ["--set", &set, "--workers", workers, "--log-format", "json"];
        let mut ferry = Ferry::start(&[dir.path()], &args);
        assert!(
            ferry.log().contains(&format!("\"workers\":{workers}")),
            "{}",
            ferry.log()
        );
        // Concurrent calls, all waiting on the backend at once, each with its own answer.
        let calls: Vec<_> = (0..20)
            .map(|n| {
                let url = ferry.url(&format!("/calls/{n}"));
                tokio::spawn(async move { (n, get_text(&url).await) })
            })
            .collect();
        for call in calls {
            let (n, answer) = call.await.unwrap();
            assert_eq!(answer, (200, format!("got /n/{n}")), "workers {workers}");
        }
        let url = ferry.url("/calls/last");
        let in_flight = tokio::spawn(async move { get_text(&url).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        ferry.signal("TERM");
        assert_eq!(in_flight.await.unwrap(), (200, "got /n/last".into()));
        assert_eq!(
            ferry.wait_exit(Duration::from_secs(10)),
            Some(0),
            "{}",
            ferry.log()
        );
    }
}

#[test]
fn zero_worker_threads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), api("x")).unwrap();
    let err = match Ferry::try_start(&[dir.path()], &["--workers", "0"]) {
        Ok(_) => panic!("--workers 0 must be refused"),
        Err(e) => e,
    };
    assert!(err.contains("--workers"), "{err}");
}

#[test]
fn an_invalid_configuration_is_refused_at_start_with_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.yaml"),
        api("x").replace("context: /hello", "context: hello"),
    )
    .unwrap();
    let err = match Ferry::try_start(&[dir.path()], &[]) {
        Ok(_) => panic!("an invalid configuration must not be served"),
        Err(e) => e,
    };
    assert!(err.contains("exited with exit status: 1"), "{err}");
    assert!(
        err.contains("spec.context: context \"hello\" must start with /"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_closes_the_broker_connection_cleanly() {
    if std::net::TcpStream::connect("127.0.0.1:5672").is_err() {
        eprintln!("skipped: no RabbitMQ on 127.0.0.1:5672 (make services starts it)");
        return;
    }
    let sample = workspace_root().join("config/samples/guaranteed-delivery");
    let mut ferry = Ferry::start(&[&sample], &[]);
    // An order opens the store's connection. (Not beside the broker-stopping tests: cargo runs
    // test binaries one after another, so the broker stays up for this one.)
    let status = client()
        .post(ferry.url("/shop/orders"))
        .json(&json!({"id": u64::from(std::process::id()) * 1000 + 999}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202, "{}", ferry.log());
    ferry.signal("TERM");
    assert_eq!(
        ferry.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        ferry.log()
    );
    let log = ferry.log();
    assert!(
        !log.contains("ERROR"),
        "a clean shutdown logs no error:\n{log}"
    );
}
