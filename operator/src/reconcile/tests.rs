//! Reconcile against a mocked API server (tower-test, [`crate::testing::fake_api`]): a test
//! reads as the conversation between the operator and the API server.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::testing::fake_api::{Fake, Seen, client};
use crate::testing::{condition, group};

fn context(client: Client) -> Context {
    Context {
        client,
        config: Arc::new(OperatorConfig::default()),
        recorder: None,
        applied: Default::default(),
    }
}

const GROUP: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: default}
spec:
  replicas: 2
  podDisruptionBudget: {maxUnavailable: 1}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: hello}
spec:
  context: /hello
  resources:
    - methods: [GET]
      inSequence:
        - sequence: {key: greet}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: greet}
spec:
  mediators:
    - payloadFactory: {mediaType: json, format: '{"hello": "world"}'}
"#;

const NOW: &str = "2026-11-29T12:00:00Z";

fn lines(fake: &Fake) -> Vec<String> {
    fake.lock().unwrap().seen.iter().map(Seen::line).collect()
}

fn status_writes(fake: &Fake) -> HashMap<String, Value> {
    fake.lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.path.ends_with("/status"))
        .map(|s| (s.path.clone(), s.body["status"].clone()))
        .collect()
}

const APPLIED: &[&str] = &[
    "PATCH /api/v1/namespaces/ns/configmaps/ferry-default-bundle",
    "PATCH /api/v1/namespaces/ns/serviceaccounts/ferry-default",
    "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/ferry-default",
    "PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings/ferry-default",
    "PATCH /api/v1/namespaces/ns/services/ferry-default",
    "PATCH /apis/apps/v1/namespaces/ns/deployments/ferry-default",
    "DELETE /apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers/ferry-default",
    "PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/ferry-default",
];

#[tokio::test]
async fn a_group_is_applied_with_one_field_manager_then_its_status_written() {
    let (client, fake) = client();
    fake.lock().unwrap().ready_replicas = 2;
    let g = group(GROUP, "default");
    let outcome = reconcile(&context(client), &g, NOW).await.unwrap();
    assert!(matches!(
        outcome,
        Outcome::Reconciled(GroupState::Applied { accepted: 2, .. })
    ));

    let mut expected: Vec<String> = APPLIED.iter().map(|s| s.to_string()).collect();
    expected.extend([
        "PATCH /apis/ferry.dev/v1alpha1/namespaces/ns/integrationapis/hello/status".to_string(),
        "PATCH /apis/ferry.dev/v1alpha1/namespaces/ns/sequences/greet/status".to_string(),
        "PATCH /apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/default/status"
            .to_string(),
    ]);
    assert_eq!(lines(&fake), expected);
    for seen in fake
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.method == "PATCH" && !s.path.ends_with("/status"))
    {
        assert!(
            seen.query.contains("fieldManager=ferry-operator"),
            "{}",
            seen.query
        );
        assert!(seen.query.contains("force=true"), "{}", seen.query);
    }

    let written = status_writes(&fake);
    let api = &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationapis/hello/status"];
    assert_eq!(condition(api, "Accepted")["status"], "True");
    assert_eq!(condition(api, "Ready")["status"], "True");
    assert_eq!(api["url"], "http://ferry-default.ns.svc:8290/hello");
    let runtime =
        &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/default/status"];
    assert_eq!(runtime["readyReplicas"], 2);
    assert_eq!(runtime["artifacts"], 2);
    assert_eq!(runtime["configHash"].as_str().map(str::len), Some(16));
    assert_eq!(condition(runtime, "Degraded")["status"], "False");
}

/// Reconciles `g` once and feeds the written statuses back into it, as the watch would.
async fn reconciled(ctx: &Context, fake: &Fake, g: &mut Group) {
    reconcile(ctx, g, NOW).await.unwrap();
    let written = status_writes(fake);
    for artifact in g.artifacts.iter_mut().chain(g.runtime.as_mut()) {
        let path = format!(
            "/apis/ferry.dev/v1alpha1/namespaces/ns/{}s/{}/status",
            artifact.kind.to_ascii_lowercase(),
            artifact.name
        );
        if let Some(status) = written.get(&path) {
            artifact.status = status.clone();
        }
    }
    fake.lock().unwrap().seen.clear();
}

/// The writes of owned objects (not status) the fake saw.
fn object_writes(fake: &Fake) -> Vec<String> {
    lines(fake)
        .into_iter()
        .filter(|l| !l.starts_with("GET ") && !l.ends_with("/status"))
        .collect()
}

#[tokio::test]
async fn reconciling_an_unchanged_group_again_writes_nothing() {
    let (client, fake) = client();
    fake.lock().unwrap().ready_replicas = 2;
    let ctx = context(client);
    let mut g = group(GROUP, "default");
    reconciled(&ctx, &fake, &mut g).await;
    let outcome = reconcile(&ctx, &g, "2026-11-29T13:00:00Z").await.unwrap();
    assert_eq!(
        lines(&fake),
        Vec::<String>::new(),
        "nothing changed: no apply, no delete, no status write"
    );
    // The rollout is still reported, from the Deployment last seen.
    let Outcome::Reconciled(GroupState::Applied { workload, .. }) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!((workload.desired, workload.ready), (2, 2));
}

#[tokio::test]
async fn a_changed_artifact_writes_only_the_objects_it_changes() {
    let (client, fake) = client();
    fake.lock().unwrap().ready_replicas = 2;
    let ctx = context(client);
    let mut g = group(GROUP, "default");
    reconciled(&ctx, &fake, &mut g).await;
    let sequence = g
        .artifacts
        .iter_mut()
        .find(|a| a.kind == "Sequence")
        .unwrap();
    sequence.document["spec"]["mediators"][0]["payloadFactory"]["format"] =
        json!(r#"{"hello": "there"}"#);
    sequence.generation = Some(2);
    reconcile(&ctx, &g, NOW).await.unwrap();
    // The bundle, and the Deployment whose pod template carries the bundle's hash (the
    // rollout); the Service, ServiceAccount, Role, RoleBinding and PDB stay as they are.
    assert_eq!(
        object_writes(&fake),
        [
            "PATCH /api/v1/namespaces/ns/configmaps/ferry-default-bundle",
            "PATCH /apis/apps/v1/namespaces/ns/deployments/ferry-default",
        ]
    );
    let written = status_writes(&fake);
    let seq = &written["/apis/ferry.dev/v1alpha1/namespaces/ns/sequences/greet/status"];
    assert_eq!(condition(seq, "Accepted")["observedGeneration"], 2);
}

#[tokio::test]
async fn a_deleted_deployment_is_applied_again_at_its_watch_event() {
    let (client, fake) = client();
    fake.lock().unwrap().ready_replicas = 2;
    let ctx = context(client);
    let mut g = group(GROUP, "default");
    reconciled(&ctx, &fake, &mut g).await;
    let path = "/apis/apps/v1/namespaces/ns/deployments/ferry-default";
    let gone = fake.lock().unwrap().objects.remove(path).unwrap();
    let gone: Deployment = serde_json::from_value(gone).unwrap();
    // The watch of owned Deployments delivers the delete.
    assert!(ctx.applied.observe_deployment(&gone, true));
    reconcile(&ctx, &g, NOW).await.unwrap();
    assert_eq!(object_writes(&fake), [format!("PATCH {path}")]);
    assert!(fake.lock().unwrap().objects.contains_key(path));
}

#[tokio::test]
async fn an_owned_object_deleted_by_hand_is_recreated_at_the_resync() {
    let (client, fake) = client();
    let ctx = context(client);
    let mut g = group(GROUP, "default");
    reconciled(&ctx, &fake, &mut g).await;
    let path = "/api/v1/namespaces/ns/configmaps/ferry-default-bundle";
    assert!(fake.lock().unwrap().objects.remove(path).is_some());
    // The periodic resync forgets what was applied.
    ctx.applied.forget_all();
    reconcile(&ctx, &g, NOW).await.unwrap();
    assert_eq!(object_writes(&fake), APPLIED);
    assert!(fake.lock().unwrap().objects.contains_key(path));
}

#[tokio::test]
async fn a_failed_apply_is_tried_again_on_the_next_reconcile() {
    let (client, fake) = client();
    let ctx = context(client);
    let mut g = group(GROUP, "default");
    reconciled(&ctx, &fake, &mut g).await;
    let mut changed = g.clone();
    let sequence = changed
        .artifacts
        .iter_mut()
        .find(|a| a.kind == "Sequence")
        .unwrap();
    sequence.document["spec"]["mediators"][0]["payloadFactory"]["format"] = json!("{}");
    fake.lock()
        .unwrap()
        .failures
        .push(("PATCH".into(), "/deployments/ferry-default".into(), 500));
    reconcile(&ctx, &changed, NOW).await.unwrap_err();
    fake.lock().unwrap().failures.clear();
    fake.lock().unwrap().seen.clear();
    reconcile(&ctx, &changed, NOW).await.unwrap();
    assert_eq!(
        object_writes(&fake),
        ["PATCH /apis/apps/v1/namespaces/ns/deployments/ferry-default"],
        "the bundle went through the first time; the Deployment did not"
    );
}

#[tokio::test]
async fn a_broken_artifact_is_left_out_and_reported_while_the_rest_runs() {
    let (client, fake) = client();
    fake.lock().unwrap().ready_replicas = 1;
    let yaml = format!(
        "{GROUP}---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {{name: broken}}\nspec:\n  mediators:\n    - log: {{level: loud}}\n"
    );
    let g = group(&yaml, "default");
    reconcile(&context(client), &g, NOW).await.unwrap();
    let state = fake.lock().unwrap();
    let cm = state
        .seen
        .iter()
        .find(|s| s.path.ends_with("/configmaps/ferry-default-bundle"))
        .unwrap();
    let keys: Vec<&String> = cm.body["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["integrationapi-hello.yaml", "sequence-greet.yaml"]);
    drop(state);
    let written = status_writes(&fake);
    let broken = &written["/apis/ferry.dev/v1alpha1/namespaces/ns/sequences/broken/status"];
    let accepted = condition(broken, "Accepted");
    assert_eq!(accepted["status"], "False");
    assert!(
        accepted["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.mediators[0].log.level"),
        "{accepted}"
    );
    let greet = &written["/apis/ferry.dev/v1alpha1/namespaces/ns/sequences/greet/status"];
    assert_eq!(condition(greet, "Ready")["status"], "True");
    let runtime =
        &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/default/status"];
    let degraded = condition(runtime, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("Sequence/broken")
    );
}

#[test]
fn an_event_is_due_only_when_a_resource_becomes_refused_or_its_reason_changes() {
    let accepted = |status: &str, message: &str| json!({"conditions": [{"type": "Accepted", "status": status, "message": message}]});
    assert_eq!(
        newly_refused(&Value::Null, &accepted("False", "bad")),
        Some("bad")
    );
    assert_eq!(
        newly_refused(&accepted("True", ""), &accepted("False", "bad")),
        Some("bad")
    );
    assert_eq!(
        newly_refused(&accepted("False", "bad"), &accepted("False", "bad")),
        None
    );
    assert_eq!(
        newly_refused(&accepted("False", "bad"), &accepted("False", "worse")),
        Some("worse")
    );
    assert_eq!(
        newly_refused(&accepted("False", "bad"), &accepted("True", "")),
        None
    );
}

#[tokio::test]
async fn a_refused_artifact_gets_a_warning_event_once() {
    let (client, fake) = client();
    let recorder = Recorder::new(
        client.clone(),
        kube::runtime::events::Reporter {
            controller: MANAGER.into(),
            instance: None,
        },
    );
    let ctx = Context {
        recorder: Some(recorder),
        ..context(client)
    };
    let yaml = format!(
        "{GROUP}---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {{name: broken}}\nspec:\n  mediators:\n    - lgo: {{}}\n"
    );
    let mut g = group(&yaml, "default");
    reconcile(&ctx, &g, NOW).await.unwrap();
    let events = |fake: &Fake| -> Vec<Value> {
        fake.lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/events"))
            .map(|s| s.body.clone())
            .collect()
    };
    let first = events(&fake);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["reason"], "NotAccepted");
    assert_eq!(first[0]["type"], "Warning");
    assert_eq!(first[0]["regarding"]["name"], "broken");
    assert!(first[0]["note"].as_str().unwrap().contains("lgo"));
    // Once its status says so, reconciling again announces nothing new.
    let written = status_writes(&fake);
    let broken = g.artifacts.iter_mut().find(|a| a.name == "broken").unwrap();
    broken.status =
        written["/apis/ferry.dev/v1alpha1/namespaces/ns/sequences/broken/status"].clone();
    reconcile(&ctx, &g, NOW).await.unwrap();
    assert_eq!(events(&fake).len(), 1);
}

#[tokio::test]
async fn a_refused_runtime_leaves_the_group_as_it_was() {
    let (client, fake) = client();
    let g = group(
        &GROUP.replace("replicas: 2", "replicas: 2\n  adminPort: 8290"),
        "default",
    );
    let outcome = reconcile(&context(client), &g, NOW).await.unwrap();
    assert!(matches!(
        outcome,
        Outcome::Reconciled(GroupState::RuntimeRefused(_))
    ));
    assert!(
        lines(&fake).iter().all(|l| l.ends_with("/status")),
        "{:?}",
        lines(&fake)
    );
    let written = status_writes(&fake);
    let runtime =
        &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/default/status"];
    assert_eq!(condition(runtime, "Accepted")["status"], "False");
    assert!(
        condition(runtime, "Accepted")["message"]
            .as_str()
            .unwrap()
            .contains("adminPort")
    );
}

#[tokio::test]
async fn a_conflict_fails_the_reconcile_with_its_category() {
    let (client, fake) = client();
    fake.lock()
        .unwrap()
        .failures
        .push(("PATCH".into(), "/sequences/greet/status".into(), 409));
    let g = group(GROUP, "default");
    let err = reconcile(&context(client), &g, NOW).await.unwrap_err();
    assert_eq!(err.category(), "conflict");
    assert!(err.to_string().contains("Sequence/greet"), "{err}");
}

#[tokio::test]
async fn an_api_server_error_on_apply_stops_before_the_deployment() {
    let (client, fake) = client();
    fake.lock().unwrap().failures.push((
        "PATCH".into(),
        "/configmaps/ferry-default-bundle".into(),
        500,
    ));
    let err = reconcile(&context(client), &group(GROUP, "default"), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "apply");
    assert_eq!(
        lines(&fake).len(),
        1,
        "nothing after the failed bundle: pods never see a half-applied group"
    );
}

#[tokio::test]
async fn an_emptied_group_deletes_everything_it_made() {
    let (client, fake) = client();
    let ctx = context(client);
    reconcile(&ctx, &group(GROUP, "default"), NOW)
        .await
        .unwrap();
    fake.lock().unwrap().seen.clear();
    let outcome = reconcile(&ctx, &Group::empty(GroupKey::new("ns", "default")), NOW)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Removed);
    let deleted = lines(&fake);
    assert!(
        deleted.iter().all(|l| l.starts_with("DELETE ")),
        "{deleted:?}"
    );
    // The HorizontalPodAutoscaler it never made is known to be absent already.
    assert_eq!(deleted.len(), 7);
    assert!(
        fake.lock().unwrap().objects.is_empty(),
        "{:?}",
        fake.lock().unwrap().objects.keys()
    );
}

#[tokio::test]
async fn turning_autoscaling_on_and_off_applies_and_deletes_the_hpa() {
    let (client, fake) = client();
    let ctx = context(client);
    let scaled = GROUP.replace(
        "replicas: 2",
        "replicas: 2\n  autoscaling: {maxReplicas: 4}",
    );
    reconcile(&ctx, &group(&scaled, "default"), NOW)
        .await
        .unwrap();
    let deployment = fake
        .lock()
        .unwrap()
        .seen
        .iter()
        .find(|s| s.path.ends_with("/deployments/ferry-default"))
        .unwrap()
        .body
        .clone();
    assert!(
        deployment["spec"].get("replicas").is_none(),
        "the HPA owns the count"
    );
    assert!(
        lines(&fake).contains(
            &"PATCH /apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers/ferry-default"
                .to_string()
        )
    );
    reconcile(&ctx, &group(GROUP, "default"), NOW)
        .await
        .unwrap();
    let state = fake.lock().unwrap();
    assert!(
        !state
            .objects
            .keys()
            .any(|k| k.contains("horizontalpodautoscalers"))
    );
}

const SIDECAR_GROUP: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: orders}
spec:
  mode: sidecar
  sidecar: {selector: {matchLabels: {app: orders}}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: hello}
spec:
  runtime: orders
  context: /hello
  resources:
    - methods: [GET]
      inSequence:
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata: {name: tick}
spec:
  runtime: orders
  sequence: tock
  interval: 5
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: tock}
spec:
  runtime: orders
  mediators: [{log: {message: tock}}]
"#;

fn sidecar_pod(hash: &str, ready: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("app-{hash}-{ready}"), "namespace": "ns",
            "labels": {"app": "orders", "ferry.dev/sidecar": "orders"},
            "annotations": {"ferry.dev/sidecar-config-hash": hash}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running",
            "initContainerStatuses": [{"name": "ferry", "ready": ready, "restartCount": 0,
                "image": "ferry", "imageID": "", "state": {}}]}})
}

#[tokio::test]
async fn a_sidecar_group_owns_only_its_bundle_and_counts_the_pods_carrying_it() {
    let (client, fake) = client();
    let g = group(SIDECAR_GROUP, "orders");
    let hash = crate::sidecar::plan(&g, &OperatorConfig::default().defaults)
        .unwrap()
        .config_hash;
    fake.lock().unwrap().lists.insert(
        "pods".into(),
        vec![
            sidecar_pod(&hash, true),
            sidecar_pod(&hash, false),
            sidecar_pod("0000", true),
        ],
    );
    let outcome = reconcile(&context(client), &g, NOW).await.unwrap();
    let Outcome::Reconciled(GroupState::Applied {
        workload, refused, ..
    }) = outcome
    else {
        panic!("applied: {outcome:?}");
    };
    assert_eq!(refused, ["ScheduledTask/tick"], "runs once per group");
    assert_eq!(
        (workload.replicas, workload.updated, workload.ready),
        (3, 2, 2)
    );

    let seen = fake.lock().unwrap().seen.clone();
    let writes: Vec<String> = seen
        .iter()
        .filter(|s| s.method != "GET" && !s.path.ends_with("/status"))
        .map(Seen::line)
        .collect();
    assert_eq!(
        writes,
        [
            "PATCH /api/v1/namespaces/ns/configmaps/ferry-orders-bundle",
            "DELETE /apis/apps/v1/namespaces/ns/deployments/ferry-orders",
            "DELETE /apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers/ferry-orders",
            "DELETE /apis/policy/v1/namespaces/ns/poddisruptionbudgets/ferry-orders",
            "DELETE /api/v1/namespaces/ns/services/ferry-orders",
            "DELETE /apis/rbac.authorization.k8s.io/v1/namespaces/ns/rolebindings/ferry-orders",
            "DELETE /apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/ferry-orders",
            "DELETE /api/v1/namespaces/ns/serviceaccounts/ferry-orders",
        ],
        "no Deployment or Service in sidecar mode"
    );
    let list = seen
        .iter()
        .find(|s| s.method == "GET" && s.path == "/api/v1/namespaces/ns/pods")
        .expect("the pods are listed");
    assert!(
        list.query
            .contains("labelSelector=ferry.dev%2Fsidecar%3Dorders"),
        "{}",
        list.query
    );

    let written = status_writes(&fake);
    let runtime =
        &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/orders/status"];
    assert_eq!(runtime["replicas"], 3);
    assert_eq!(runtime["updatedReplicas"], 2);
    assert_eq!(runtime["readyReplicas"], 2);
    assert_eq!(runtime["selector"], "ferry.dev/sidecar=orders");
    assert_eq!(condition(runtime, "Ready")["reason"], "RestartNeeded");
    assert_eq!(condition(runtime, "Progressing")["reason"], "RestartNeeded");
    let api = &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationapis/hello/status"];
    assert_eq!(api["url"], "http://localhost:8290/hello");
    let task = &written["/apis/ferry.dev/v1alpha1/namespaces/ns/scheduledtasks/tick/status"];
    assert_eq!(condition(task, "Accepted")["status"], "False");
    assert!(
        condition(task, "Accepted")["message"]
            .as_str()
            .unwrap()
            .contains("sidecar mode")
    );
}

/// GROUP scaled on the backlog of a SQLite store, read by a forwarding processor.
fn queue_scaled_group() -> String {
    GROUP.replace(
        "replicas: 2",
        "replicas: 2
  autoscaling:
    maxReplicas: 5
    queue: {store: jobs, targetBacklogPerReplica: 10, prometheusServerAddress: 'http://prometheus:9090'}",
    ) + r#"---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: jobs}
spec: {type: sqlite}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: worker}
spec: {http: {uriTemplate: "http://worker:8080/"}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata: {name: jobs-forwarder}
spec: {type: forwarding, messageStore: jobs, targetEndpoint: worker}
"#
}

const KEDA_DISCOVERY: &str = "GET /apis/keda.sh/v1alpha1";
const SCALED_OBJECT: &str = "/apis/keda.sh/v1alpha1/namespaces/ns/scaledobjects/ferry-default";
const HPA: &str = "/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers/ferry-default";
const RUNTIME_STATUS: &str =
    "/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/default/status";

#[tokio::test]
async fn with_keda_installed_a_queue_scaled_group_gets_a_scaled_object_and_no_hpa() {
    let (client, fake) = client();
    fake.lock().unwrap().discovery.insert(
        "keda.sh/v1alpha1".into(),
        vec!["scaledobjects".into(), "triggerauthentications".into()],
    );
    reconcile(
        &context(client),
        &group(&queue_scaled_group(), "default"),
        NOW,
    )
    .await
    .unwrap();
    let seen = lines(&fake);
    assert_eq!(seen[0], KEDA_DISCOVERY, "discovered before rendering");
    let position = |line: &str| seen.iter().position(|l| l == line);
    let deployment = position("PATCH /apis/apps/v1/namespaces/ns/deployments/ferry-default");
    let scaled = position(&format!("PATCH {SCALED_OBJECT}"));
    assert!(
        scaled.is_some() && deployment < scaled,
        "the ScaledObject comes after the Deployment it scales: {seen:?}"
    );
    assert!(seen.contains(&format!("DELETE {HPA}")), "{seen:?}");
    let body = fake.lock().unwrap().objects[SCALED_OBJECT].clone();
    assert_eq!(body["spec"]["triggers"][0]["type"], "prometheus");
    assert_eq!(body["spec"]["maxReplicaCount"], 5);

    let written = status_writes(&fake);
    let queue = condition(&written[RUNTIME_STATUS], "QueueScaling");
    assert_eq!(queue["status"], "True");
    assert_eq!(queue["reason"], "ScaledObject");
}

#[tokio::test]
async fn without_keda_the_group_keeps_its_hpa_and_its_status_says_why() {
    let (client, fake) = client();
    reconcile(
        &context(client),
        &group(&queue_scaled_group(), "default"),
        NOW,
    )
    .await
    .unwrap();
    let seen = lines(&fake);
    assert_eq!(seen[0], KEDA_DISCOVERY);
    assert!(seen.contains(&format!("PATCH {HPA}")), "{seen:?}");
    assert!(
        !seen.iter().skip(1).any(|l| l.contains("keda.sh")),
        "nothing sent to an API that is not there: {seen:?}"
    );
    let written = status_writes(&fake);
    let queue = condition(&written[RUNTIME_STATUS], "QueueScaling");
    assert_eq!(queue["status"], "False");
    assert_eq!(queue["reason"], "KedaNotInstalled");
}

#[tokio::test]
async fn turning_queue_scaling_off_deletes_the_scaled_object_it_made() {
    let (client, fake) = client();
    // The last status written says a ScaledObject scaled the group.
    let before = GROUP.replace(
        "replicas: 2",
        "replicas: 2\n  autoscaling: {maxReplicas: 4}\nstatus:\n  conditions:\n    - {type: QueueScaling, status: \"True\", reason: ScaledObject}",
    );
    reconcile(&context(client), &group(&before, "default"), NOW)
        .await
        .unwrap();
    let seen = lines(&fake);
    assert!(
        !seen.contains(&KEDA_DISCOVERY.to_string()),
        "no queue scaling asked: no discovery"
    );
    assert!(
        seen.contains(&format!("DELETE {SCALED_OBJECT}")),
        "{seen:?}"
    );
    assert!(
        seen.contains(
            &"DELETE /apis/keda.sh/v1alpha1/namespaces/ns/triggerauthentications/ferry-default"
                .to_string()
        ),
        "{seen:?}"
    );
    assert!(seen.contains(&format!("PATCH {HPA}")), "{seen:?}");
    let written = status_writes(&fake);
    let conditions = written[RUNTIME_STATUS]["conditions"].as_array().unwrap();
    assert!(
        conditions.iter().all(|c| c["type"] != "QueueScaling"),
        "{conditions:?}"
    );
}

#[tokio::test]
async fn a_sidecar_group_whose_pods_all_carry_the_current_bundle_is_ready() {
    let (client, fake) = client();
    let g = group(SIDECAR_GROUP, "orders");
    let hash = crate::sidecar::plan(&g, &OperatorConfig::default().defaults)
        .unwrap()
        .config_hash;
    fake.lock()
        .unwrap()
        .lists
        .insert("pods".into(), vec![sidecar_pod(&hash, true)]);
    reconcile(&context(client), &g, NOW).await.unwrap();
    let written = status_writes(&fake);
    let runtime =
        &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/orders/status"];
    assert_eq!(condition(runtime, "Ready")["status"], "True");
    assert_eq!(condition(runtime, "Progressing")["reason"], "Current");
}

#[tokio::test]
async fn a_sidecar_group_without_pods_says_so() {
    let (client, fake) = client();
    let g = group(SIDECAR_GROUP, "orders");
    reconcile(&context(client), &g, NOW).await.unwrap();
    let written = status_writes(&fake);
    let runtime =
        &written["/apis/ferry.dev/v1alpha1/namespaces/ns/integrationruntimes/orders/status"];
    assert_eq!(runtime["replicas"], 0);
    assert_eq!(condition(runtime, "Ready")["reason"], "NoPods");
}

#[tokio::test]
async fn a_failed_discovery_is_retried_without_touching_the_group() {
    let (client, fake) = client();
    fake.lock()
        .unwrap()
        .failures
        .push(("GET".into(), "/apis/keda.sh/v1alpha1".into(), 500));
    let err = reconcile(
        &context(client),
        &group(&queue_scaled_group(), "default"),
        NOW,
    )
    .await
    .unwrap_err();
    assert_eq!(err.category(), "discovery");
    assert_eq!(
        lines(&fake),
        [KEDA_DISCOVERY],
        "a transient error must not swap the ScaledObject for an HPA"
    );
}
