use super::*;
use crate::testing::{condition, group};

const T0: &str = "2026-11-29T10:00:00Z";
const T1: &str = "2026-11-29T11:00:00Z";

const YAML: &str = "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationAPI\nmetadata: {name: api, generation: 3}\nspec:\n  context: /hc\n  version: 1.0.0\n  resources: []\n---\napiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {name: default}\nspec: {}\n";

fn running(ready: i32) -> GroupState {
    GroupState::Applied {
        workload: Workload {
            desired: 2,
            replicas: 2,
            updated: 2,
            ready,
            available: ready,
            observed: true,
            sidecar: false,
        },
        config_hash: "abc".into(),
        accepted: 1,
        refused: vec![],
        queue_scaling: None,
    }
}

#[test]
fn an_accepted_artifact_served_by_ready_pods_is_ready() {
    let g = group(YAML, "default");
    let api = &g.artifacts[0];
    let s = artifact(api, None, &running(2), Some("http://x".into()), T0);
    assert_eq!(s["observedGeneration"], 3);
    assert_eq!(condition(&s, "Accepted")["status"], "True");
    assert_eq!(condition(&s, "Ready")["status"], "True");
    assert_eq!(condition(&s, "Ready")["message"], "2 of 2 pods ready");
    assert_eq!(condition(&s, "Ready")["observedGeneration"], 3);
    assert_eq!(s["url"], "http://x");
}

#[test]
fn a_refused_artifact_says_why_and_is_not_ready() {
    let g = group(YAML, "default");
    let s = artifact(
        &g.artifacts[0],
        Some("spec.context: must start with /"),
        &running(2),
        None,
        T0,
    );
    let accepted = condition(&s, "Accepted");
    assert_eq!(
        (accepted["status"].as_str(), accepted["reason"].as_str()),
        (Some("False"), Some("Invalid"))
    );
    assert_eq!(accepted["message"], "spec.context: must start with /");
    assert_eq!(condition(&s, "Ready")["reason"], "NotAccepted");
}

#[test]
fn pods_not_ready_yet_are_reported_as_such() {
    let g = group(YAML, "default");
    let s = artifact(&g.artifacts[0], None, &running(0), None, T0);
    assert_eq!(condition(&s, "Ready")["reason"], "Unavailable");
    let rolling = GroupState::Applied {
        workload: Workload {
            desired: 2,
            replicas: 3,
            updated: 1,
            ready: 2,
            available: 2,
            observed: true,
            sidecar: false,
        },
        config_hash: "abc".into(),
        accepted: 1,
        refused: vec![],
        queue_scaling: None,
    };
    let s = artifact(&g.artifacts[0], None, &rolling, None, T0);
    assert_eq!(condition(&s, "Ready")["reason"], "Progressing");
}

#[test]
fn the_runtime_reports_counts_hash_and_refused_artifacts() {
    let g = group(YAML, "default");
    let rt = g.runtime.as_ref().unwrap();
    let state = GroupState::Applied {
        workload: Workload {
            desired: 2,
            replicas: 2,
            updated: 2,
            ready: 1,
            available: 1,
            observed: true,
            sidecar: false,
        },
        config_hash: "abc".into(),
        accepted: 4,
        refused: vec!["Sequence/broken".into()],
        queue_scaling: None,
    };
    let s = runtime(rt, &state, "app=ferry", T0);
    assert_eq!(
        (s["replicas"].as_i64(), s["readyReplicas"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (s["configHash"].as_str(), s["artifacts"].as_i64()),
        (Some("abc"), Some(4))
    );
    assert_eq!(s["selector"], "app=ferry");
    assert_eq!(
        condition(&s, "Progressing")["status"],
        "True",
        "one pod not available yet"
    );
    let degraded = condition(&s, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("Sequence/broken")
    );
    let refused = runtime(
        rt,
        &GroupState::RuntimeRefused("spec.mode: no".into()),
        "app=ferry",
        T0,
    );
    assert_eq!(condition(&refused, "Accepted")["status"], "False");
    assert!(
        refused.get("configHash").is_none(),
        "nothing applied, nothing claimed"
    );
}

#[test]
fn an_unchanged_status_is_not_written_again_and_transition_times_stay() {
    let g = group(YAML, "default");
    let api = &g.artifacts[0];
    let first = artifact(api, None, &running(2), None, T0);
    let written = patch(&Value::Null, first.clone()).expect("first write");
    let current = written["status"].clone();
    assert_eq!(
        patch(&current, artifact(api, None, &running(2), None, T1)),
        None
    );

    let refused = artifact(api, Some("bad"), &running(2), None, T1);
    let p = patch(&current, refused).expect("a change is written");
    let accepted = condition(&p["status"], "Accepted");
    assert_eq!(
        (
            accepted["status"].as_str(),
            accepted["lastTransitionTime"].as_str()
        ),
        (Some("False"), Some(T1))
    );
    let ready_then = condition(&current, "Ready").clone();
    let fewer = artifact(api, None, &running(1), None, T1);
    let p = patch(&current, fewer).expect("message changed");
    let ready_now = condition(&p["status"], "Ready");
    assert_eq!(
        ready_now["lastTransitionTime"], ready_then["lastTransitionTime"],
        "still True: same transition"
    );
    assert_eq!(ready_now["message"], "1 of 2 pods ready");
}

#[test]
fn api_urls_name_the_group_service() {
    let g = group(YAML, "default");
    assert_eq!(
        api_url(&g.artifacts[0], "ns", 8290).as_deref(),
        Some("http://ferry-default.ns.svc:8290/hc/1.0.0")
    );
    let url = group(
        "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationAPI\nmetadata: {name: a}\nspec: {context: '/v/{version}/x', version: '2', versionType: url}\n",
        "default",
    );
    assert_eq!(
        api_url(&url.artifacts[0], "ns", 80).as_deref(),
        Some("http://ferry-default.ns.svc:80/v/2/x")
    );
    let proxy = group(
        "apiVersion: ferry.dev/v1alpha1\nkind: ProxyService\nmetadata: {name: stock-quote, annotations: {ferry.dev/synapse-name: StockQuoteProxy}}\nspec: {target: {endpoint: {key: e}}}\n",
        "default",
    );
    assert_eq!(
        api_url(&proxy.artifacts[0], "ns", 8290).as_deref(),
        Some("http://ferry-default.ns.svc:8290/services/StockQuoteProxy")
    );
}

#[test]
fn a_sidecar_group_reports_pods_carrying_it_and_whether_their_bundle_is_current() {
    let g = group(YAML, "default");
    let rt = g.runtime.as_ref().unwrap();
    let state = |pods, current, ready| GroupState::Applied {
        workload: Workload::from_census(&Census {
            pods,
            current,
            ready,
        }),
        config_hash: "abc".into(),
        accepted: 1,
        refused: vec![],
        queue_scaling: None,
    };
    let reason = |s: &Value, kind| condition(s, kind)["reason"].as_str().unwrap().to_string();
    let none = runtime(rt, &state(0, 0, 0), "ferry.dev/sidecar=default", T0);
    assert_eq!(reason(&none, "Ready"), "NoPods");
    let stale = runtime(rt, &state(3, 2, 3), "ferry.dev/sidecar=default", T0);
    assert_eq!(
        (
            stale["replicas"].as_i64(),
            stale["updatedReplicas"].as_i64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(reason(&stale, "Ready"), "RestartNeeded");
    assert_eq!(reason(&stale, "Progressing"), "RestartNeeded");
    assert_eq!(
        condition(&stale, "Progressing")["status"],
        "False",
        "nothing rolls by itself"
    );
    assert!(
        condition(&stale, "Ready")["message"]
            .as_str()
            .unwrap()
            .contains("rollout restart")
    );
    let current = runtime(rt, &state(3, 3, 2), "ferry.dev/sidecar=default", T0);
    assert_eq!(condition(&current, "Ready")["status"], "True");
    assert_eq!(reason(&current, "Progressing"), "Current");
    let api = artifact(&g.artifacts[0], None, &state(3, 3, 0), None, T0);
    assert_eq!(reason(&api, "Ready"), "Unavailable");
}
