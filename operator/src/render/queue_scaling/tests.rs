use crate::admission::admit;
use crate::config::OperatorConfig;
use crate::render::{Keda, Owner, Rendered, render};
use crate::testing::{golden, group, to_yaml};

/// A group scaled on its RabbitMQ store, whose user logs in with a password.
const RABBIT: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: orders}
spec:
  autoscaling:
    minReplicas: 1
    maxReplicas: 10
    targetCPUUtilizationPercentage: 80
    queue:
      store: orders-queue
      targetBacklogPerReplica: 50
      rabbitmqUrlFrom: {name: rabbit-keda, key: url}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: orders-queue}
spec:
  runtime: orders
  type: rabbitmq
  rabbitmq:
    host: rabbitmq.messaging
    queue: orders
    username: ferry
    passwordFrom: {secretKeyRef: {name: rabbit, key: password}}
"#;

/// A group scaled on its SQLite store through the processor's backlog metric.
const SQLITE: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: billing}
spec:
  autoscaling:
    maxReplicas: 4
    queue:
      store: invoices
      targetBacklogPerReplica: 20
      prometheusServerAddress: http://prometheus.monitoring:9090
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: invoices}
spec: {runtime: billing, type: sqlite}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: ledger}
spec:
  runtime: billing
  http: {uriTemplate: "http://ledger.billing:8080/invoices"}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata: {name: invoice-forwarder}
spec:
  runtime: billing
  type: forwarding
  messageStore: invoices
  targetEndpoint: ledger
"#;

fn rendered(yaml: &str, name: &str, keda: Keda) -> Rendered {
    let g = group(yaml, name);
    let a = admit(&g, &OperatorConfig::default().defaults);
    assert!(a.rejected.is_empty(), "{:?}", a.rejected);
    let spec = a.spec.clone().expect("runtime accepted");
    let owners = Owner::for_group(g.runtime.as_ref(), g.artifacts.iter());
    render(&g.key, &spec, &a.accepted, &owners, keda).expect("rendered")
}

fn reason(r: &Rendered) -> &'static str {
    r.queue_scaling.as_ref().expect("a verdict").reason
}

#[test]
fn a_rabbitmq_store_scales_on_its_queue_with_the_broker_url_from_a_secret() {
    let r = rendered(RABBIT, "orders", Keda::Served);
    golden("orders-scaledobject", &to_yaml(&r.scaled_object));
    golden(
        "orders-triggerauthentication",
        &to_yaml(&r.trigger_authentication),
    );
    assert!(
        r.hpa.is_none(),
        "KEDA makes its own HPA; ours would fight it"
    );
    assert_eq!(r.deployment.spec.unwrap().replicas, None);
    let verdict = r.queue_scaling.unwrap();
    assert!(verdict.active, "{verdict:?}");
    assert_eq!(verdict.reason, "ScaledObject");
}

#[test]
fn a_rabbitmq_store_without_a_password_gets_the_url_the_runtime_uses() {
    let yaml = RABBIT
        .replace("      rabbitmqUrlFrom: {name: rabbit-keda, key: url}\n", "")
        .replace("    username: ferry\n", "")
        .replace(
            "    passwordFrom: {secretKeyRef: {name: rabbit, key: password}}\n",
            "    virtualHost: /shop\n",
        );
    let r = rendered(&yaml, "orders", Keda::Served);
    let trigger = &r.scaled_object.unwrap().data["spec"]["triggers"][0];
    assert_eq!(
        trigger["metadata"]["host"],
        "amqp://guest:guest@rabbitmq.messaging:5672/%2Fshop"
    );
    assert_eq!(trigger["metadata"]["queueName"], "orders");
    assert!(trigger.get("authenticationRef").is_none());
    assert!(r.trigger_authentication.is_none());
}

#[test]
fn a_rabbitmq_password_without_a_url_secret_keeps_the_hpa_and_says_why() {
    let yaml = RABBIT.replace("      rabbitmqUrlFrom: {name: rabbit-keda, key: url}\n", "");
    let r = rendered(&yaml, "orders", Keda::Served);
    assert!(r.scaled_object.is_none() && r.trigger_authentication.is_none());
    assert_eq!(reason(&r), "BrokerUrlMissing");
    assert!(
        r.queue_scaling.unwrap().message.contains("rabbitmqUrlFrom"),
        "the message names the field to set"
    );
    let hpa = r.hpa.expect("the CPU autoscaler stays").spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(1), 10));
}

#[test]
fn other_stores_scale_on_the_processors_backlog_through_prometheus() {
    let r = rendered(SQLITE, "billing", Keda::Served);
    golden("billing-scaledobject", &to_yaml(&r.scaled_object));
    let triggers = r.scaled_object.unwrap().data["spec"]["triggers"].clone();
    assert_eq!(
        triggers[0]["metadata"]["query"],
        r#"max(ferry_processor_backlog{namespace="ns",processor=~"invoice-forwarder"})"#
    );
    assert_eq!(
        triggers.as_array().map(Vec::len),
        Some(1),
        "no CPU trigger when no CPU target is set"
    );
    assert!(r.hpa.is_none());
}

#[test]
fn without_kedas_crds_the_group_keeps_its_hpa_and_the_verdict_says_so() {
    let r = rendered(SQLITE, "billing", Keda::NotServed);
    assert!(r.scaled_object.is_none());
    assert!(r.hpa.is_some());
    assert_eq!(reason(&r), "KedaNotInstalled");
}

#[test]
fn each_missing_piece_has_its_own_reason() {
    let cases = [
        (
            SQLITE.replace("store: invoices", "store: missing"),
            "StoreNotFound",
        ),
        (
            SQLITE.replace(
                "      prometheusServerAddress: http://prometheus.monitoring:9090\n",
                "",
            ),
            "PrometheusNotConfigured",
        ),
        (without_processor(), "NoProcessor"),
    ];
    for (yaml, expected) in cases {
        let r = rendered(&yaml, "billing", Keda::Served);
        assert_eq!(reason(&r), expected);
        assert!(r.scaled_object.is_none() && r.hpa.is_some());
    }
}

/// The billing group less its processor (and so less the endpoint's only user).
fn without_processor() -> String {
    let cut = SQLITE
        .find("---\napiVersion: ferry.dev/v1alpha1\nkind: MessageProcessor")
        .unwrap_or(SQLITE.len());
    SQLITE[..cut].to_string()
}

#[test]
fn a_group_without_queue_scaling_has_no_verdict() {
    let yaml = SQLITE.replace(
        "    queue:\n      store: invoices\n      targetBacklogPerReplica: 20\n      prometheusServerAddress: http://prometheus.monitoring:9090\n",
        "",
    );
    let r = rendered(&yaml, "billing", Keda::Served);
    assert!(r.queue_scaling.is_none() && r.scaled_object.is_none());
    assert!(r.hpa.is_some());
}
