//! The control loop against the mocked API server: lists fill the caches, groups are
//! reconciled from them, a malformed object is reported on its own status without stopping
//! anything, a 410 on a watch relists, and nothing is written without leadership.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::config::OperatorConfig;
use crate::testing::fake_api::{Fake, client};
use crate::testing::objects;

#[test]
fn a_group_pushed_many_times_is_reconciled_once() {
    let queue = Queue::default();
    for _ in 0..3 {
        queue.push(GroupKey::new("ns", "a"));
    }
    queue.push(GroupKey::new("ns", "b"));
    assert_eq!(
        queue.drain(),
        [GroupKey::new("ns", "a"), GroupKey::new("ns", "b")]
    );
    assert!(queue.drain().is_empty());
}

const CLUSTER: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: default}
spec: {replicas: 1}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: greet}
spec:
  mediators: [{log: {message: hello}}]
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: mangled}
spec:
  mediators: "not a list"
"#;

fn seeded() -> (Context, Fake) {
    let (client, fake) = client();
    let mut state = fake.lock().unwrap();
    for obj in objects(CLUSTER) {
        let mut value = serde_json::to_value(&obj).unwrap();
        let plural = format!("{}s", value["kind"].as_str().unwrap().to_ascii_lowercase());
        // List items need not repeat their kind: the watch knows it.
        let item = value.as_object_mut().unwrap();
        item.remove("kind");
        item.remove("apiVersion");
        state.lists.entry(plural).or_default().push(value);
    }
    state.ready_replicas = 1;
    drop(state);
    let ctx = Context {
        client,
        config: Arc::new(OperatorConfig::default()),
        recorder: None,
        applied: Default::default(),
    };
    (ctx, fake)
}

fn start(ctx: Context, leader: watch::Receiver<bool>) -> Arc<Health> {
    let health = Arc::new(Health::default());
    let settings = Settings {
        namespace: None,
        ..Settings::default()
    };
    tokio::spawn(run(
        ctx,
        settings,
        Arc::new(Metrics::new()),
        health.clone(),
        leader,
    ));
    health
}

/// Waits until a status write to `path_end` was seen; returns its status.
async fn status_written(fake: &Fake, path_end: &str) -> Value {
    for _ in 0..100 {
        let found = fake
            .lock()
            .unwrap()
            .seen
            .iter()
            .rev()
            .find(|s| s.method == "PATCH" && s.path.ends_with(path_end))
            .map(|s| s.body["status"].clone());
        if let Some(status) = found {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no write to {path_end}: {:?}",
        fake.lock()
            .unwrap()
            .seen
            .iter()
            .map(|s| s.line())
            .collect::<Vec<_>>()
    );
}

fn accepted(status: &Value) -> &Value {
    crate::testing::condition(status, "Accepted")
}

#[tokio::test]
async fn listed_objects_are_reconciled_and_a_mangled_one_is_reported_not_fatal() {
    let (ctx, fake) = seeded();
    let (_tx, leader) = watch::channel(true);
    let health = start(ctx, leader);
    let runtime = status_written(&fake, "/integrationruntimes/default/status").await;
    assert!(health.is_ready());
    assert_eq!(runtime["artifacts"], 1);
    let mangled = status_written(&fake, "/sequences/mangled/status").await;
    assert_eq!(accepted(&mangled)["status"], "False");
    assert!(
        accepted(&mangled)["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.mediators")
    );
    let greet = status_written(&fake, "/sequences/greet/status").await;
    assert_eq!(accepted(&greet)["status"], "True");
    let state = fake.lock().unwrap();
    let bundle = &state.objects["/api/v1/namespaces/ns/configmaps/ferry-default-bundle"];
    assert_eq!(
        bundle["data"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["sequence-greet.yaml"]
    );
}

#[tokio::test]
async fn a_watch_that_expires_relists_and_reconciling_goes_on() {
    let (ctx, fake) = seeded();
    fake.lock().unwrap().gone_once.insert("sequences".into());
    let (_tx, leader) = watch::channel(true);
    start(ctx, leader);
    status_written(&fake, "/sequences/greet/status").await;
    for _ in 0..100 {
        let lists = fake
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| {
                s.method == "GET"
                    && s.path.ends_with("/sequences")
                    && !s.query.contains("watch=true")
            })
            .count();
        if lists >= 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the expired watch did not relist");
}

#[tokio::test]
async fn nothing_is_written_until_this_replica_leads() {
    let (ctx, fake) = seeded();
    let (tx, leader) = watch::channel(false);
    let health = start(ctx, leader);
    for _ in 0..100 {
        if health.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(health.is_ready(), "caches fill without leadership");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let writes = |fake: &Fake| {
        fake.lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.method != "GET")
            .count()
    };
    assert_eq!(writes(&fake), 0);
    tx.send(true).unwrap();
    status_written(&fake, "/integrationruntimes/default/status").await;
    assert!(writes(&fake) > 0);
}

#[tokio::test]
async fn an_owned_object_edited_by_someone_else_queues_its_group_for_a_new_apply() {
    let (client, fake) = client();
    let labels = serde_json::json!({GROUP_LABEL: "default", MANAGED_BY_LABEL: MANAGER});
    fake.lock().unwrap().lists.insert(
        "configmaps".into(),
        vec![
            serde_json::json!({"metadata": {"name": "ferry-default-bundle", "namespace": "ns",
                "resourceVersion": "11", "labels": labels}}),
            serde_json::json!({"metadata": {"name": "ferry-other-bundle", "namespace": "ns",
                "resourceVersion": "7", "labels": {GROUP_LABEL: "other", MANAGED_BY_LABEL: MANAGER}}}),
        ],
    );
    let applied = Applied::default();
    applied.applied("ConfigMap", "ns", "ferry-default-bundle", 1, Some("10"));
    applied.applied("ConfigMap", "ns", "ferry-other-bundle", 2, Some("7"));
    let queue = Arc::new(Queue::default());
    let metrics = Arc::new(Metrics::new());
    let owned = OwnedWatch {
        client: &client,
        namespace: None,
        queue: &queue,
        applied: &applied,
        metrics: &metrics,
    };
    let mut events = owned.watch::<ConfigMap>();
    // Init, two listed objects, InitDone; then the watch stays open.
    for _ in 0..4 {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("a watch event")
            .expect("the watch goes on");
    }
    assert_eq!(queue.drain(), [GroupKey::new("ns", "default")]);
    assert!(!applied.unchanged("ConfigMap", "ns", "ferry-default-bundle", 1));
    assert!(applied.unchanged("ConfigMap", "ns", "ferry-other-bundle", 2));
    let state = fake.lock().unwrap();
    let list = state
        .seen
        .iter()
        .find(|s| s.path == "/api/v1/configmaps")
        .expect("the list");
    assert!(
        list.query
            .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dferry-operator"),
        "{}",
        list.query
    );
}
