use serde_json::json;

use super::*;
use crate::config::OperatorConfig;
use crate::testing::group;

const SIDECAR: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: orders}
spec:
  mode: sidecar
  image: registry.local/ferry:1
  imagePullSecrets: [{name: pull}]
  resources: {limits: {memory: 64Mi}}
  sidecar:
    selector:
      matchLabels: {app: orders}
      matchExpressions:
        - {key: tier, operator: NotIn, values: [batch]}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: greet}
spec:
  runtime: orders
  mediators:
    - log: {message: hi}
"#;

fn orders() -> Plan {
    plan(
        &group(SIDECAR, "orders"),
        &OperatorConfig::default().defaults,
    )
    .expect("a sidecar group has a plan")
}

fn pod(labels: Value, annotations: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "orders-", "labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    })
}

fn ops(decision: &Decision) -> &Vec<Value> {
    match decision {
        Decision::Inject { patch, .. } => patch.as_array().expect("a list of operations"),
        Decision::Leave(why) => panic!("not injected: {why}"),
    }
}

/// Applies a JSON Patch made only of `add` operations (what [`decide`] makes), as the API
/// server would.
fn apply(mut doc: Value, ops: &[Value]) -> Value {
    for op in ops {
        assert_eq!(op["op"], "add");
        let path = op["path"].as_str().unwrap();
        let mut parts: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        let last = parts.pop().unwrap();
        let mut target = &mut doc;
        for p in &parts {
            target = match target {
                Value::Array(items) => &mut items[p.parse::<usize>().unwrap()],
                other => &mut other[p.as_str()],
            };
        }
        match target {
            Value::Array(items) if last == "-" => items.push(op["value"].clone()),
            Value::Array(items) => items.insert(last.parse().unwrap(), op["value"].clone()),
            Value::Object(map) => {
                assert!(map.get(&last).is_none_or(Value::is_null), "add over {path}");
                map.insert(last, op["value"].clone());
            }
            other => panic!("{path} lands on {other}"),
        }
    }
    doc
}

#[test]
fn a_selected_pod_gets_one_native_sidecar_with_the_bundle_mounted() {
    let plan = orders();
    let decision = decide(
        &pod(json!({"app": "orders"}), Value::Null),
        std::slice::from_ref(&plan),
    );
    let patched = apply(pod(json!({"app": "orders"}), Value::Null), ops(&decision));
    let init = patched["spec"]["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 1);
    let sidecar = &init[0];
    assert_eq!(sidecar["name"], "ferry");
    assert_eq!(sidecar["restartPolicy"], "Always", "a native sidecar");
    assert_eq!(sidecar["image"], "registry.local/ferry:1");
    assert_eq!(sidecar["resources"]["limits"]["memory"], "64Mi");
    assert_eq!(sidecar["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(sidecar["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(sidecar["readinessProbe"]["httpGet"]["port"], "ferry-admin");
    assert_eq!(sidecar["ports"][0]["containerPort"], 8290);
    let context = &sidecar["securityContext"];
    assert_eq!(context["allowPrivilegeEscalation"], false);
    assert_eq!(context["readOnlyRootFilesystem"], true);
    assert_eq!(context["runAsNonRoot"], true);
    assert_eq!(context["runAsUser"], 65532);
    assert_eq!(context["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(context["seccompProfile"]["type"], "RuntimeDefault");
    let env: Vec<&str> = sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        !env.contains(&"FERRY_LEASE_NAME"),
        "no Lease: each pod runs its own runtime"
    );
    let volumes = patched["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes[0]["configMap"]["name"], "ferry-orders-bundle");
    let mounts = sidecar["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .all(|m| volumes.iter().any(|v| v["name"] == m["name"]))
    );
    assert_eq!(
        patched["spec"]["imagePullSecrets"],
        json!([{"name": "pull"}])
    );
    assert_eq!(patched["metadata"]["labels"][SIDECAR_LABEL], "orders");
    assert_eq!(
        patched["metadata"]["annotations"][SIDECAR_HASH_ANNOTATION],
        plan.config_hash
    );
    assert_eq!(
        patched["spec"]["containers"].as_array().unwrap().len(),
        1,
        "the application's containers are untouched"
    );
}

#[test]
fn the_sidecar_goes_first_among_existing_init_containers_and_volumes_are_appended() {
    let mut p = pod(json!({"app": "orders"}), json!({"team": "a/b"}));
    p["spec"]["initContainers"] = json!([{"name": "migrate", "image": "m:1"}]);
    p["spec"]["volumes"] = json!([{"name": "cache", "emptyDir": {}}]);
    let decision = decide(&p, &[orders()]);
    let patched = apply(p, ops(&decision));
    let names = |list: &str| -> Vec<String> {
        patched["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("initContainers"), ["ferry", "migrate"]);
    assert_eq!(
        names("volumes"),
        ["cache", "ferry-bundle", "ferry-data", "ferry-tmp"]
    );
    assert_eq!(patched["metadata"]["annotations"]["team"], "a/b");
    assert!(patched["metadata"]["annotations"][SIDECAR_HASH_ANNOTATION].is_string());
}

#[test]
fn a_pod_the_selector_does_not_match_is_left_alone() {
    let plans = [orders()];
    for labels in [
        json!({"app": "billing"}),
        json!({"app": "orders", "tier": "batch"}),
        Value::Null,
    ] {
        assert!(
            matches!(
                decide(&pod(labels.clone(), Value::Null), &plans),
                Decision::Leave(_)
            ),
            "{labels}"
        );
    }
    assert!(matches!(
        decide(&pod(json!({"app": "orders"}), Value::Null), &[]),
        Decision::Leave(_)
    ));
}

#[test]
fn a_pod_that_opts_out_is_left_alone() {
    let decision = decide(
        &pod(
            json!({"app": "orders"}),
            json!({INJECT_ANNOTATION: "false"}),
        ),
        &[orders()],
    );
    assert!(matches!(decision, Decision::Leave(why) if why.contains("opts out")));
    // Any other value does not opt out.
    let decision = decide(
        &pod(json!({"app": "orders"}), json!({INJECT_ANNOTATION: "true"})),
        &[orders()],
    );
    assert!(matches!(decision, Decision::Inject { .. }));
}

#[test]
fn injection_is_idempotent() {
    let plans = [orders()];
    let p = pod(json!({"app": "orders"}), Value::Null);
    let once = apply(p.clone(), ops(&decide(&p, &plans)));
    assert!(matches!(decide(&once, &plans), Decision::Leave(why) if why.contains("already")));
    // A pod that names a container `ferry` itself is not given a second one either.
    let mut own = p;
    own["spec"]["containers"][0]["name"] = json!("ferry");
    assert!(matches!(decide(&own, &plans), Decision::Leave(_)));
}

#[test]
fn two_runtimes_selecting_one_pod_inject_one_and_warn() {
    let mut other = orders();
    other.key = GroupKey::new("ns", "zz-other");
    let decision = decide(
        &pod(json!({"app": "orders"}), Value::Null),
        &[orders(), other],
    );
    let Decision::Inject { key, warnings, .. } = decision else {
        panic!("injected");
    };
    assert_eq!(key.name, "orders");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("zz-other"), "{warnings:?}");
}

#[test]
fn the_default_selector_is_the_runtime_label() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {name: edge}\nspec: {mode: sidecar}\n";
    let plan = plan(&group(yaml, "edge"), &OperatorConfig::default().defaults).unwrap();
    let labels = BTreeMap::from([(GROUP_LABEL.to_string(), "edge".to_string())]);
    assert!(matches(&plan.selector, &labels));
    assert!(!matches(&plan.selector, &BTreeMap::new()));
}

#[test]
fn only_accepted_sidecar_runtimes_have_a_plan() {
    let defaults = OperatorConfig::default().defaults;
    let deployment = SIDECAR.replace("mode: sidecar", "mode: deployment");
    assert!(plan(&group(&deployment, "orders"), &defaults).is_none());
    let refused = SIDECAR.replace("mode: sidecar", "mode: sidecar\n  adminPort: 8290");
    assert!(plan(&group(&refused, "orders"), &defaults).is_none());
    let sequence_only = "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: s}\nspec: {mediators: []}\n";
    assert!(plan(&group(sequence_only, "default"), &defaults).is_none());
}

#[test]
fn selector_operators_match_as_kubernetes_does() {
    let selector: LabelSelector = serde_json::from_value(json!({"matchExpressions": [
        {"key": "a", "operator": "In", "values": ["1", "2"]},
        {"key": "b", "operator": "Exists"},
        {"key": "c", "operator": "DoesNotExist"},
    ]}))
    .unwrap();
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert!(matches(&selector, &labels(&[("a", "2"), ("b", "")])));
    assert!(!matches(&selector, &labels(&[("a", "3"), ("b", "")])));
    assert!(!matches(&selector, &labels(&[("a", "1")])));
    assert!(!matches(
        &selector,
        &labels(&[("a", "1"), ("b", "x"), ("c", "y")])
    ));
    assert!(
        matches(&LabelSelector::default(), &labels(&[])),
        "empty selects all"
    );
    let unknown: LabelSelector = serde_json::from_value(
        json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
    )
    .unwrap();
    assert!(!matches(&unknown, &labels(&[("a", "2")])));
}

#[test]
fn the_census_counts_live_pods_current_and_ready() {
    let live = |hash: &str, ready: bool| {
        json!({"metadata": {"annotations": {SIDECAR_HASH_ANNOTATION: hash}},
            "status": {"phase": "Running", "initContainerStatuses": [{"name": "ferry", "ready": ready}]}})
    };
    let mut leaving = live("new", true);
    leaving["metadata"]["deletionTimestamp"] = json!("2026-12-06T10:00:00Z");
    let mut done = live("new", false);
    done["status"]["phase"] = json!("Succeeded");
    let pods = [
        live("new", true),
        live("new", false),
        live("old", true),
        leaving,
        done,
    ];
    assert_eq!(
        census(&pods, "new"),
        Census {
            pods: 3,
            current: 2,
            ready: 2
        }
    );
}
