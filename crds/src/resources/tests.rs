use serde_json::json;

use super::*;

fn resource(kind: &str, spec: serde_json::Value) -> Resource {
    let doc = json!({"apiVersion": "ferry.dev/v1alpha1", "kind": kind, "metadata": {"name": "x1"}, "spec": spec});
    Resource::from_value(kind, doc).unwrap()
}

#[test]
fn artifacts_belong_to_their_spec_runtime_and_a_runtime_to_itself() {
    let seq = resource("Sequence", json!({"mediators": [], "runtime": "payments"}));
    assert_eq!(
        (seq.kind(), seq.name(), seq.runtime()),
        ("Sequence", "x1", "payments")
    );
    let store = resource("MessageStore", json!({}));
    assert_eq!(store.runtime(), DEFAULT_RUNTIME);
    let irt = resource("IntegrationRuntime", json!({}));
    assert_eq!(irt.runtime(), "x1");
}

#[test]
fn every_kind_in_kinds_dispatches_to_its_own_variant() {
    for kind in KINDS {
        let spec = match *kind {
            "IntegrationAPI" => json!({"context": "/a", "resources": []}),
            "Sequence" | "Template" => json!({"mediators": []}),
            "ProxyService" => json!({"target": {}}),
            "Endpoint" => json!({"http": {"uriTemplate": "http://a"}}),
            "MessageProcessor" => json!({"type": "sampling", "messageStore": "s"}),
            "ScheduledTask" => json!({"trigger": {"once": true}, "inject": {"sequence": "s"}}),
            "DataSource" => json!({"type": "sqlite", "url": "sqlite:a.db"}),
            "DataService" => json!({"dataSource": "d", "queries": [], "resources": []}),
            "InboundEndpoint" => json!({"protocol": "file", "sequence": "s"}),
            _ => json!({}),
        };
        assert_eq!(resource(kind, spec).kind(), *kind);
    }
}

#[test]
fn a_secret_key_ref_is_read_from_a_derived_environment_variable() {
    let from_secret = SecretSource {
        secret_key_ref: Some(SecretKeyRef {
            name: "rabbit-creds".into(),
            key: "pass.word".into(),
        }),
        env: None,
    };
    assert_eq!(
        from_secret.env_var().as_deref(),
        Some("FERRY_SECRET_RABBIT_CREDS_PASS_WORD")
    );
    let from_env = SecretSource {
        secret_key_ref: None,
        env: Some("DB_URL".into()),
    };
    assert_eq!(from_env.env_var().as_deref(), Some("DB_URL"));
    assert_eq!(SecretSource::default().env_var(), None);
}

#[test]
fn an_endpoint_ref_is_inline_only_when_it_has_a_body() {
    let by_key: EndpointRef = serde_json::from_value(json!({"key": "backend"})).unwrap();
    assert!(by_key.inline().is_none());
    let inline: EndpointRef = serde_json::from_value(
        json!({"http": {"uriTemplate": "http://b/{uri.var.id}", "method": "get"}, "retry": {"count": 2}}),
    )
    .unwrap();
    let spec = inline.inline().unwrap();
    assert_eq!(spec.runtime, DEFAULT_RUNTIME);
    assert_eq!(spec.types(), vec!["http"]);
    assert_eq!(spec.retry.as_ref().map(|r| r.count), Some(2));
    assert_eq!(spec.to_ref(), inline);
    let http2_only: EndpointRef = serde_json::from_value(json!({"http2": true})).unwrap();
    assert!(
        http2_only.inline().is_some(),
        "any body field makes it inline"
    );
}

#[test]
fn group_endpoints_list_their_children_with_paths() {
    let spec: EndpointSpec = serde_json::from_value(json!({
        "failover": {"endpoints": [{"key": "a"}, {"address": {"uri": "http://b"}}]}
    }))
    .unwrap();
    let children: Vec<(String, bool)> = spec
        .children()
        .into_iter()
        .map(|(p, r)| (p, r.inline().is_some()))
        .collect();
    assert_eq!(
        children,
        vec![
            ("failover.endpoints[0]".to_string(), false),
            ("failover.endpoints[1]".to_string(), true)
        ]
    );
    let two: EndpointSpec =
        serde_json::from_value(json!({"http": {"uriTemplate": "x"}, "address": {"uri": "y"}}))
            .unwrap();
    assert_eq!(two.types(), vec!["http", "address"]);
}

#[test]
fn secrets_cannot_be_given_as_literals() {
    let err = serde_json::from_value::<SecretSource>(json!({"value": "hunter2"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `value`"), "{err}");
}

#[test]
fn plural_is_the_crd_plural_of_every_kind() {
    let crds = crate::crd::all();
    for (kind, crd) in KINDS.iter().zip(&crds) {
        assert_eq!(crd.spec.names.kind, *kind);
        assert_eq!(plural(kind), crd.spec.names.plural);
    }
}
