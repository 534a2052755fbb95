//! Scheduled tasks, black box: an interval task with a count injecting into an API, and a
//! once-at-start task injecting into a sequence, both reaching a real backend; a cron task;
//! and a reload of something else leaving a task's count of runs alone.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry};
use serde_json::json;

const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: backend
spec:
  http:
    uriTemplate: http://127.0.0.1:PORT/hit
    method: post
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: forward
spec:
  mediators:
    - call: {endpoint: {key: backend}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: ticks
spec:
  context: /ticks
  version: v1
  versionType: url
  resources:
    - methods: [PUT]
      uriTemplate: /in
      inSequence:
        - sequence: {key: forward}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata:
  name: every-50ms
spec:
  trigger: {interval: 50, count: 3}
  message:
    payload: '{\"from\":\"interval\"}'
    headers: {x-task: every-50ms}
  inject: {api: ticks, path: /in, method: PUT}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata:
  name: at-start
spec:
  trigger: {once: true}
  message:
    payload: '<hello/>'
    contentType: application/xml
  inject: {sequence: forward}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_fire_on_their_schedule_into_apis_and_sequences() {
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tasks.yaml"),
        CONFIG.replace("PORT", &backend.port().to_string()),
    )
    .unwrap();
    let _ferry = Ferry::start(&[dir.path()], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.requests().len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", backend.requests().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The count holds: no fifth request comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = backend.requests();
    assert_eq!(requests.len(), 4);
    let from_api: Vec<_> = requests
        .iter()
        .filter(|r| r.header("x-task") == Some("every-50ms"))
        .collect();
    assert_eq!(from_api.len(), 3);
    assert_eq!(from_api[0].json(), json!({"from": "interval"}));
    let once: Vec<_> = requests
        .iter()
        .filter(|r| r.header("content-type") == Some("application/xml"))
        .collect();
    assert_eq!(once.len(), 1);
    assert_eq!(once[0].text(), "<hello/>");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_task_fires_at_each_time_of_its_schedule() {
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG.replace("PORT", &backend.port().to_string());
    // Keep the endpoint and the sequence, replace the tasks with one firing every second.
    let base = config
        .split("---\napiVersion: ferry.dev/v1alpha1\nkind: ScheduledTask")
        .next()
        .unwrap();
    std::fs::write(
        dir.path().join("tasks.yaml"),
        format!(
            "{base}---\napiVersion: ferry.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: every-second\nspec:\n  trigger: {{cron: \"* * * * * ?\"}}\n  message:\n    payload: '{{\"from\":\"cron\"}}'\n  inject: {{sequence: forward}}\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let _ferry = Ferry::start(&[dir.path()], &[]);
    let deadline = started + Duration::from_secs(10);
    while backend.requests().len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", backend.requests().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    // Three fire times one second apart cannot come sooner than two seconds.
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    assert_eq!(backend.requests()[0].json(), json!({"from": "cron"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_an_unrelated_api_leaves_a_task_counting_its_runs() {
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG.replace("PORT", &backend.port().to_string());
    let base = config
        .split("---\napiVersion: ferry.dev/v1alpha1\nkind: ScheduledTask")
        .next()
        .unwrap();
    std::fs::write(
        dir.path().join("tasks.yaml"),
        format!(
            "{base}---\napiVersion: ferry.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: five-times\nspec:\n  trigger: {{interval: 500, count: 5}}\n  message:\n    payload: '{{\"from\":\"counted\"}}'\n  inject: {{sequence: forward}}\n"
        ),
    )
    .unwrap();
    let hello = |answer: &str| {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationAPI\nmetadata:\n  name: hello\nspec:\n  context: /hello\n  resources:\n    - methods: [GET]\n      inSequence:\n        - payloadFactory: {{mediaType: text, format: {answer}}}\n        - respond: {{}}\n"
        )
    };
    std::fs::write(dir.path().join("hello.yaml"), hello("one")).unwrap();
    let ferry = Ferry::start(&[dir.path()], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.requests().is_empty() {
        assert!(Instant::now() < deadline, "the task never fired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    std::fs::write(dir.path().join("hello.yaml"), hello("two")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = match ferry_tests::client().get(ferry.url("/hello")).send().await {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if answer == "two" {
            break;
        }
        assert!(Instant::now() < deadline, "no reload\n{}", ferry.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        backend.requests().len() < 5,
        "the task was done before the reload came; nothing was shown"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.requests().len() < 5 {
        assert!(Instant::now() < deadline, "{:?}", backend.requests().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A restarted task would fire at once and count five again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(backend.requests().len(), 5, "{}", ferry.log());
}
