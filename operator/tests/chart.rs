//! The Helm chart agrees with the operator: its ClusterRole grants what the operator does —
//! no less (every call it makes would fail with 403 on a cluster) and, for what it hands to
//! runtime groups, at least what the group Roles grant (Kubernetes lets a subject grant
//! only what it holds) — and its `runtimeDefaults` are a configuration the operator reads.
//!
//! `NEEDED` lists the API calls in `src/reconcile.rs`, `src/controller.rs`, `src/certs.rs` and
//! `src/main.rs`; a new call there belongs here too.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

/// (API group, resource, verbs) the operator uses.
const NEEDED: &[(&str, &str, &[&str])] = &[
    // watches of every ferry.dev kind, status writes
    ("ferry.dev", "integrationapis", &["get", "list", "watch"]),
    ("ferry.dev", "proxyservices", &["get", "list", "watch"]),
    ("ferry.dev", "sequences", &["get", "list", "watch"]),
    ("ferry.dev", "endpoints", &["get", "list", "watch"]),
    ("ferry.dev", "messagestores", &["get", "list", "watch"]),
    ("ferry.dev", "messageprocessors", &["get", "list", "watch"]),
    ("ferry.dev", "scheduledtasks", &["get", "list", "watch"]),
    ("ferry.dev", "localentries", &["get", "list", "watch"]),
    ("ferry.dev", "templates", &["get", "list", "watch"]),
    ("ferry.dev", "inboundendpoints", &["get", "list", "watch"]),
    (
        "ferry.dev",
        "integrationruntimes",
        &["get", "list", "watch"],
    ),
    ("ferry.dev", "integrationapis/status", &["patch"]),
    ("ferry.dev", "proxyservices/status", &["patch"]),
    ("ferry.dev", "sequences/status", &["patch"]),
    ("ferry.dev", "endpoints/status", &["patch"]),
    ("ferry.dev", "messagestores/status", &["patch"]),
    ("ferry.dev", "messageprocessors/status", &["patch"]),
    ("ferry.dev", "scheduledtasks/status", &["patch"]),
    ("ferry.dev", "localentries/status", &["patch"]),
    ("ferry.dev", "templates/status", &["patch"]),
    ("ferry.dev", "inboundendpoints/status", &["patch"]),
    ("ferry.dev", "integrationruntimes/status", &["patch"]),
    // server-side apply (create when absent) and deletes of what a group owns
    ("", "configmaps", &["create", "patch", "delete"]),
    ("", "serviceaccounts", &["create", "patch", "delete"]),
    ("", "services", &["create", "patch", "delete"]),
    (
        "apps",
        "deployments",
        &["create", "patch", "delete", "list", "watch"],
    ),
    (
        "autoscaling",
        "horizontalpodautoscalers",
        &["create", "patch", "delete"],
    ),
    (
        "policy",
        "poddisruptionbudgets",
        &["create", "patch", "delete"],
    ),
    (
        "rbac.authorization.k8s.io",
        "roles",
        &["create", "patch", "delete"],
    ),
    (
        "rbac.authorization.k8s.io",
        "rolebindings",
        &["create", "patch", "delete"],
    ),
    // the pods carrying a sidecar (counted for status; watched by label)
    ("", "pods", &["list", "watch"]),
    // the webhook configuration's caBundle (src/certs.rs)
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        &["get", "update"],
    ),
    // queue scaling: KEDA's objects of a group (discovery needs no grant)
    ("keda.sh", "scaledobjects", &["create", "patch", "delete"]),
    (
        "keda.sh",
        "triggerauthentications",
        &["create", "patch", "delete"],
    ),
    // leader election (kube-lease-manager) and Events
    ("coordination.k8s.io", "leases", &["get", "create", "patch"]),
    ("events.k8s.io", "events", &["create", "patch"]),
];

/// The ClusterRole template's rules, with Helm's template actions taken out.
fn chart_rules() -> Vec<Value> {
    template_rules("clusterrole.yaml")
}

/// The rules of the first document of a template, with Helm's template actions taken out.
fn template_rules(template: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/ferry/templates")
        .join(template);
    let text = std::fs::read_to_string(path).unwrap();
    let mut yaml = String::new();
    let mut in_comment = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("{{- /*") || trimmed.starts_with("{{/*") {
            in_comment = !trimmed.ends_with("*/}}");
            continue;
        }
        if in_comment {
            in_comment = !trimmed.ends_with("*/}}");
            continue;
        }
        if trimmed.starts_with("{{") && trimmed.ends_with("}}") {
            continue;
        }
        let mut line = line.to_string();
        while let (Some(open), Some(close)) = (line.find("{{"), line.find("}}")) {
            line.replace_range(open..close + 2, "templated");
        }
        yaml.push_str(&line);
        yaml.push('\n');
    }
    let docs = ferry_api::bundle::yaml::parse_documents(&yaml).unwrap();
    docs[0].value["rules"].as_array().unwrap().clone()
}

fn grants(rules: &[Value], group: &str, resource: &str, verb: &str) -> bool {
    let has = |v: &Value, key: &str, want: &str| {
        v[key]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i == want || i == "*"))
    };
    rules.iter().any(|r| {
        has(r, "apiGroups", group) && has(r, "resources", resource) && has(r, "verbs", verb)
    })
}

#[test]
fn the_cluster_role_grants_every_call_the_operator_makes() {
    let rules = chart_rules();
    let mut missing = Vec::new();
    for (group, resource, verbs) in NEEDED {
        for verb in *verbs {
            if !grants(&rules, group, resource, verb) {
                missing.push(format!("{group}/{resource} {verb}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "charts/ferry/templates/clusterrole.yaml lacks: {missing:?}"
    );
}

#[test]
fn the_cluster_role_holds_what_each_group_role_grants() {
    let rules = chart_rules();
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: s, namespace: ns, uid: u}\nspec: {mediators: []}\n";
    let doc = ferry_api::bundle::yaml::parse_documents(yaml)
        .unwrap()
        .remove(0)
        .value;
    let obj: kube::api::DynamicObject = serde_json::from_value(doc).unwrap();
    let artifact = ferry_operator::group::Artifact::from_object(&obj).unwrap();
    let spec = ferry_operator::config::OperatorConfig::default().defaults;
    let key = artifact.group();
    let rendered = ferry_operator::render::render(
        &key,
        &spec,
        &[&artifact],
        &[],
        ferry_operator::render::Keda::NotServed,
    )
    .unwrap();
    for rule in rendered.role.rules.unwrap() {
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    assert!(
                        grants(&rules, &group, &resource, verb),
                        "{group}/{resource} {verb}"
                    );
                }
            }
        }
    }
}

/// The webhook certificate's Secret (src/certs.rs: read, created once, replaced on renewal)
/// is granted in the release namespace only, by name where Kubernetes allows it.
#[test]
fn the_role_grants_the_webhook_secret_and_nothing_cluster_wide_does() {
    let role = template_rules("role.yaml");
    for verb in ["get", "create", "update"] {
        assert!(grants(&role, "", "secrets", verb), "secrets {verb}");
    }
    for rule in &role {
        let verbs = rule["verbs"].as_array().unwrap();
        if verbs.iter().any(|v| v == "get" || v == "update") {
            assert!(rule["resourceNames"].is_array(), "{rule}");
        }
    }
    assert!(!grants(&chart_rules(), "", "secrets", "get"));
    let webhook = chart_rules()
        .into_iter()
        .find(|r| r["resources"][0] == "mutatingwebhookconfigurations")
        .unwrap();
    assert!(
        webhook["resourceNames"].is_array(),
        "only its own configuration"
    );
}

/// The chart's webhook configuration calls the path the operator serves, and its failure
/// policy comes from values.yaml, whose default is `Ignore`.
#[test]
fn the_webhook_configuration_matches_the_operator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/ferry");
    let webhook = std::fs::read_to_string(dir.join("templates/webhook.yaml")).unwrap();
    assert!(webhook.contains(&format!("path: {}", ferry_operator::webhook::PATH)));
    assert!(webhook.contains("failurePolicy: {{ .Values.webhook.failurePolicy }}"));
    assert!(webhook.contains("sideEffects: None"));
    let values = ferry_api::bundle::yaml::parse_documents(
        &std::fs::read_to_string(dir.join("values.yaml")).unwrap(),
    )
    .unwrap()
    .remove(0)
    .value;
    assert_eq!(values["webhook"]["failurePolicy"], "Ignore");
    assert_eq!(values["webhook"]["certManager"]["enabled"], false);
    let deployment = std::fs::read_to_string(dir.join("templates/deployment.yaml")).unwrap();
    for flag in [
        "--webhook-listen",
        "--webhook-cert-dir",
        "--webhook-secret",
        "--webhook-configuration",
        "--webhook-dns-names",
    ] {
        assert!(deployment.contains(flag), "{flag}");
    }
}

/// The chart's `runtimeDefaults` become the operator's `defaults:`: they must be fields the
/// operator reads (an IntegrationRuntime spec), or the operator would refuse to start.
#[test]
fn the_chart_s_runtime_defaults_are_a_config_the_operator_reads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/ferry/values.yaml");
    let values = ferry_api::bundle::yaml::parse_documents(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .remove(0)
        .value;
    let mut config = String::new();
    ferry_api::yaml_writer::document(
        &mut config,
        &serde_json::json!({"defaults": values["runtimeDefaults"]}),
    );
    let parsed = ferry_operator::config::OperatorConfig::parse(&config)
        .unwrap_or_else(|e| panic!("{e}\n{config}"));
    assert_eq!(parsed.defaults.replicas, 1);
    assert!(parsed.defaults.resources.is_some());
}
