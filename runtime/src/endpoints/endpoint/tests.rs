//! Endpoints compiled from YAML and called against real HTTP backends on 127.0.0.1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use ferry_api::bundle::{self, Source};
use http::{HeaderMap, Response, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Uri};

use super::super::loadbalance::weighted_schedule;
use super::*;
use crate::admin::metrics::Metrics;
use crate::compile::{self, CompileEnv, Compiled};
use crate::endpoints::client::{CallError, CallErrorKind, EndpointClient};
use crate::expr::context::PropertyScope;
use crate::message::properties;
use crate::transports::http::body::{self, Body, read_body_limited};
use crate::transports::http::server::{self, Handler, Peer, ServerOptions};

/// What a backend saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: String,
}

/// A backend that records every request and answers `status` with its name, after `delay`.
struct Backend {
    name: &'static str,
    status: StatusCode,
    delay: Duration,
    seen: Mutex<Vec<Seen>>,
}

impl Handler for Arc<Backend> {
    async fn handle(&self, req: Request<Body>, _peer: Peer) -> Response<Body> {
        let (parts, incoming) = req.into_parts();
        let body = read_body_limited(incoming, 1 << 20)
            .await
            .unwrap_or_default();
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(Seen {
                method: parts.method,
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        tokio::time::sleep(self.delay).await;
        let mut response = Response::new(body::full(format!("{{\"from\":\"{}\"}}", self.name)));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl Backend {
    fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

async fn backend(name: &'static str, status: u16, delay_ms: u64) -> (SocketAddr, Arc<Backend>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b = Arc::new(Backend {
        name,
        status: StatusCode::from_u16(status).unwrap(),
        delay: Duration::from_millis(delay_ms),
        seen: Mutex::new(Vec::new()),
    });
    tokio::spawn(server::serve(
        listener,
        Arc::new(Arc::clone(&b)),
        ServerOptions::default(),
        std::future::pending(),
    ));
    (addr, b)
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn compile_yaml(yaml: &str) -> Result<Compiled, String> {
    compile_with_metrics(yaml, Arc::new(Metrics::new()))
}

fn compile_with_metrics(yaml: &str, metrics: Arc<Metrics>) -> Result<Compiled, String> {
    let (bundle, diagnostics) = bundle::load(&[Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let env = CompileEnv {
        config: Arc::new(HashMap::new()),
        client: EndpointClient::default(),
        metrics,
        stores: crate::stores::factory::StoreRegistry::check_only(),
    };
    compile::compile(&bundle, &env).map_err(|d| {
        d.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn endpoints(yaml: &str) -> Compiled {
    match compile_yaml(yaml) {
        Ok(c) => c,
        Err(e) => panic!("does not compile:\n{e}"),
    }
}

fn endpoint(c: &Compiled, name: &str) -> Arc<Endpoint> {
    Arc::clone(&c.endpoints[name])
}

fn json_message() -> Message {
    Message::from_request(
        Method::POST,
        Uri::from_static("/api/orders/7?unit=kg"),
        HeaderMap::from_iter([(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )]),
        Bytes::from_static(br#"{"id":7}"#),
    )
}

fn ep(name: &str, body: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Endpoint\nmetadata: {{name: {name}}}\nspec:\n{body}\n---\n"
    )
}

#[tokio::test]
async fn an_http_endpoint_fills_its_uri_template_and_sends_the_payload() {
    let (addr, b) = backend("a", 201, 0).await;
    let c = endpoints(&ep(
        "orders",
        &format!(
            "  http: {{uriTemplate: \"http://{addr}/orders/{{uri.var.id}}/{{+uri.var.raw}}?unit={{query.param.unit}}&n=${{payload.id}}\", method: put}}\n  headers: [{{name: X-Tenant, value: acme}}, {{name: X-Id, expression: \"${{payload.id}}\"}}]"
        ),
    ));
    let mut msg = json_message();
    msg.uri_params = vec![("id".into(), "a b/c".into())];
    msg.set_property(PropertyScope::Default, "uri.var.raw", json!("x/y"));
    let delivery = endpoint(&c, "orders").call(&mut msg).await.unwrap();
    assert_eq!(delivery, Delivery::Answered);
    let seen = b.last();
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.uri, "/orders/a%20b%2Fc/x/y?unit=kg&n=7");
    assert_eq!(seen.headers["x-tenant"], "acme");
    assert_eq!(seen.headers["x-id"], "7");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.body, r#"{"id":7}"#);
    assert_eq!(msg.status(), StatusCode::CREATED);
    assert_eq!(msg.payload_json().unwrap(), Some(&json!({"from": "a"})));
}

#[tokio::test]
async fn an_address_endpoint_appends_the_rest_url_postfix() {
    let (addr, b) = backend("a", 200, 0).await;
    let c = endpoints(&ep(
        "svc",
        &format!("  address: {{uri: \"http://{addr}/services/\"}}"),
    ));
    let mut msg = json_message();
    msg.set_property(
        PropertyScope::Axis2,
        properties::REST_URL_POSTFIX,
        json!("/7?unit=kg"),
    );
    endpoint(&c, "svc").call(&mut msg).await.unwrap();
    assert_eq!(b.last().uri, "/services/7?unit=kg");
}

#[tokio::test]
async fn a_get_sends_no_body_and_hop_by_hop_headers_stay_behind() {
    let (addr, b) = backend("a", 200, 0).await;
    let c = endpoints(&ep(
        "svc",
        &format!("  http: {{uriTemplate: \"http://{addr}/x\", method: get}}"),
    ));
    let mut msg = json_message();
    msg.headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    msg.headers
        .insert("x-forwarded", HeaderValue::from_static("kept"));
    endpoint(&c, "svc").call(&mut msg).await.unwrap();
    let seen = b.last();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.body, "");
    assert_eq!(seen.headers["x-forwarded"], "kept");
    assert!(seen.headers.get(header::CONNECTION).is_none());
}

#[tokio::test]
async fn a_backend_error_status_is_an_answer_not_a_fault() {
    let (addr, _) = backend("a", 503, 0).await;
    let c = endpoints(&ep(
        "svc",
        &format!("  http: {{uriTemplate: \"http://{addr}/\"}}"),
    ));
    let mut msg = json_message();
    endpoint(&c, "svc").call(&mut msg).await.unwrap();
    assert_eq!(msg.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_refused_connection_is_101503_and_retries_as_configured() {
    let port = closed_port().await;
    let metrics = Arc::new(Metrics::new());
    let c = compile_with_metrics(
        &ep(
            "svc",
            &format!("  http: {{uriTemplate: \"http://127.0.0.1:{port}/\"}}\n  retry: {{count: 2, delay: 10}}"),
        ),
        Arc::clone(&metrics),
    )
    .unwrap();
    let fault = endpoint(&c, "svc")
        .call(&mut json_message())
        .await
        .unwrap_err();
    assert_eq!(fault.code, crate::fault::ErrorCode::Numeric(101503));
    assert!(fault.message.contains("endpoint svc"), "{}", fault.message);
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("endpoint=\"svc\",code=\"101503\"} 3"),
        "three tries are counted:\n{text}"
    );
}

#[tokio::test]
async fn a_refused_connection_fault_reaches_the_socket_error_through_its_sources() {
    use std::error::Error;
    let port = closed_port().await;
    let c = endpoints(&ep(
        "svc",
        &format!("  http: {{uriTemplate: \"http://127.0.0.1:{port}/\"}}"),
    ));
    let fault = endpoint(&c, "svc")
        .call(&mut json_message())
        .await
        .unwrap_err();
    let call = fault.source().and_then(|e| e.downcast_ref::<CallError>());
    assert_eq!(
        call.map(|c| c.kind),
        Some(CallErrorKind::ConnectFailed),
        "{fault:?}"
    );
    let io = call
        .and_then(Error::source)
        .and_then(|e| e.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{fault:?}"
    );
    // The message already quotes the refusal, so the logged chain says it once.
    assert_eq!(fault.chain().to_string(), fault.to_string());
}

#[tokio::test]
async fn a_timeout_is_101504_or_a_silent_discard() {
    let (addr, _) = backend("slow", 200, 500).await;
    let c = endpoints(&format!(
        "{}{}",
        ep(
            "fault",
            &format!("  http: {{uriTemplate: \"http://{addr}/\"}}\n  timeout: {{duration: 50}}")
        ),
        ep(
            "discard",
            &format!(
                "  http: {{uriTemplate: \"http://{addr}/\"}}\n  timeout: {{duration: 50, responseAction: discard}}"
            )
        ),
    ));
    let fault = endpoint(&c, "fault")
        .call(&mut json_message())
        .await
        .unwrap_err();
    assert_eq!(fault.code, crate::fault::ErrorCode::Numeric(101504));
    let delivery = endpoint(&c, "discard")
        .call(&mut json_message())
        .await
        .unwrap();
    assert_eq!(delivery, Delivery::Discarded);
}

#[tokio::test]
async fn a_suspended_endpoint_fails_fast_with_303001_until_the_suspension_ends() {
    let port = closed_port().await;
    let c = endpoints(&ep(
        "svc",
        &format!(
            "  http: {{uriTemplate: \"http://127.0.0.1:{port}/\"}}\n  suspendOnFailure: {{initialDuration: 200}}"
        ),
    ));
    let svc = endpoint(&c, "svc");
    let first = svc.call(&mut json_message()).await.unwrap_err();
    assert_eq!(first.code, crate::fault::ErrorCode::Numeric(101503));
    let second = svc.call(&mut json_message()).await.unwrap_err();
    assert_eq!(second.code, crate::fault::ErrorCode::Numeric(303001));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let third = svc.call(&mut json_message()).await.unwrap_err();
    assert_eq!(
        third.code,
        crate::fault::ErrorCode::Numeric(101503),
        "tried again"
    );
}

#[tokio::test]
async fn failover_moves_past_a_failed_child_and_skips_it_while_suspended() {
    let port = closed_port().await;
    let (addr, b) = backend("backup", 200, 0).await;
    let c = endpoints(&format!(
        "{}{}",
        ep(
            "primary",
            &format!(
                "  http: {{uriTemplate: \"http://127.0.0.1:{port}/\"}}\n  suspendOnFailure: {{initialDuration: 60000}}"
            )
        ),
        ep(
            "group",
            &format!(
                "  failover:\n    endpoints:\n    - key: primary\n    - http: {{uriTemplate: \"http://{addr}/\"}}"
            )
        ),
    ));
    let group = endpoint(&c, "group");
    let mut msg = json_message();
    group.call(&mut msg).await.unwrap();
    assert_eq!(
        msg.payload_json().unwrap(),
        Some(&json!({"from": "backup"}))
    );
    let mut again = json_message();
    group.call(&mut again).await.unwrap();
    assert_eq!(b.count(), 2);
    assert_eq!(
        b.last().body,
        r#"{"id":7}"#,
        "each child gets the original payload"
    );
}

#[tokio::test]
async fn failover_with_every_child_down_reports_the_last_error() {
    let p1 = closed_port().await;
    let p2 = closed_port().await;
    let c = endpoints(&ep(
        "group",
        &format!(
            "  failover:\n    endpoints:\n    - http: {{uriTemplate: \"http://127.0.0.1:{p1}/\"}}\n    - http: {{uriTemplate: \"http://127.0.0.1:{p2}/\"}}"
        ),
    ));
    let fault = endpoint(&c, "group")
        .call(&mut json_message())
        .await
        .unwrap_err();
    assert_eq!(fault.code, crate::fault::ErrorCode::Numeric(101503));
}

#[tokio::test]
async fn round_robin_takes_turns_and_fails_over_to_the_next_child() {
    let (a1, b1) = backend("one", 200, 0).await;
    let (a2, b2) = backend("two", 200, 0).await;
    let down = closed_port().await;
    let c = endpoints(&ep(
        "lb",
        &format!(
            "  loadbalance:\n    endpoints:\n    - http: {{uriTemplate: \"http://{a1}/\"}}\n    - http: {{uriTemplate: \"http://{a2}/\"}}\n    - http: {{uriTemplate: \"http://127.0.0.1:{down}/\"}}"
        ),
    ));
    let lb = endpoint(&c, "lb");
    for _ in 0..6 {
        lb.call(&mut json_message()).await.unwrap();
    }
    // Turns go one, two, down→one, one, two, down→one.
    assert_eq!((b1.count(), b2.count()), (4, 2));
}

#[test]
fn weighted_round_robin_spreads_turns_by_weight() {
    assert_eq!(weighted_schedule(&[3, 1]), [0, 0, 1, 0]);
    assert_eq!(weighted_schedule(&[1, 1, 1]), [0, 1, 2]);
    let s = weighted_schedule(&[5, 2, 0]);
    assert_eq!(s.len(), 7);
    assert_eq!(s.iter().filter(|i| **i == 1).count(), 2);
    assert!(!s.contains(&2));
}

#[tokio::test]
async fn basic_auth_reads_the_password_from_the_environment_at_load_time() {
    let (addr, b) = backend("a", 200, 0).await;
    let with_password_in = |var: &str| {
        ep(
            "svc",
            &format!(
                "  http: {{uriTemplate: \"http://{addr}/\"}}\n  basicAuth: {{username: ferry, passwordFrom: {{env: {var}}}}}"
            ),
        )
    };
    let err = compile_yaml(&with_password_in("FERRY_TEST_UNSET_PASSWORD"))
        .err()
        .expect("an unset variable is an error");
    assert!(err.contains("FERRY_TEST_UNSET_PASSWORD"), "{err}");
    // What calls the endpoint is told it is missing because of that, not of a bug.
    let with_caller = format!(
        "{}apiVersion: ferry.dev/v1alpha1\nkind: IntegrationAPI\nmetadata: {{name: a}}\nspec:\n  context: /a\n  resources:\n    - inSequence:\n        - call: {{endpoint: {{key: svc}}}}\n",
        with_password_in("FERRY_TEST_UNSET_PASSWORD")
    );
    let err = compile_yaml(&with_caller)
        .err()
        .expect("an unset variable is an error");
    assert!(err.contains("FERRY_TEST_UNSET_PASSWORD"), "{err}");
    assert!(err.contains("endpoint \"svc\" is not available"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    // Setting a variable is `unsafe` in edition 2024 (and unsafe code is forbidden here),
    // so the test uses one every process has.
    let path = std::env::var("PATH").unwrap();
    let c = endpoints(&with_password_in("PATH"));
    endpoint(&c, "svc").call(&mut json_message()).await.unwrap();
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("ferry:{path}"));
    assert_eq!(
        b.last().headers["authorization"],
        format!("Basic {expected}")
    );
}

#[test]
fn unsupported_settings_and_bad_groups_are_located_errors() {
    let cases = [
        (
            ep(
                "a",
                "  wsdl: {uri: \"http://127.0.0.1/x?wsdl\", service: S, port: P}",
            ),
            "spec.wsdl",
        ),
        (
            ep(
                "a",
                "  http: {uriTemplate: \"http://127.0.0.1/\"}\n  http2: true",
            ),
            "spec.http2",
        ),
        (
            ep(
                "a",
                "  address: {uri: \"http://127.0.0.1/${payload.x}\", format: soap11}",
            ),
            "spec.address.uri",
        ),
        (
            ep(
                "a",
                "  failover: {endpoints: [{http: {uriTemplate: \"http://127.0.0.1/\"}}]}\n  timeout: {duration: 5}",
            ),
            "spec.timeout",
        ),
        (
            ep(
                "a",
                "  loadbalance: {endpoints: [{http: {uriTemplate: \"http://127.0.0.1/\"}}], algorithm: weightedRoundRobin, weights: [1, 2]}",
            ),
            "spec.loadbalance.weights",
        ),
        (
            ep(
                "a",
                "  http: {uriTemplate: \"http://127.0.0.1/{uri.var.x\"}",
            ),
            "spec.http.uriTemplate",
        ),
        (
            format!(
                "{}{}",
                ep("a", "  failover: {endpoints: [{key: b}]}"),
                ep("b", "  failover: {endpoints: [{key: a}]}")
            ),
            "cycle",
        ),
    ];
    for (yaml, expected) in cases {
        let err = compile_yaml(&yaml).err().unwrap_or_default();
        assert!(
            err.contains(expected),
            "expected {expected:?} in:\n{err}\nfor:\n{yaml}"
        );
    }
}

#[test]
fn a_url_that_does_not_depend_on_the_message_is_parsed_once_at_load() {
    let yaml = r#"
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: literal}
spec:
  http: {uriTemplate: "http://127.0.0.1:${config.port}/x?y=1"}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: templated}
spec:
  http: {uriTemplate: "http://127.0.0.1:9/x/{uri.var.id}"}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: computed}
spec:
  http: {uriTemplate: "http://127.0.0.1:9/${props.synapse.where}"}
"#;
    let config = HashMap::from([("port".to_string(), "9".to_string())]);
    let c = crate::compile::compile_test_yaml_with(yaml, Arc::new(Metrics::new()), config);
    let fixed = |name: &str| match &endpoint(&c, name).kind {
        Kind::Leaf(leaf) => leaf.fixed_uri.as_ref().map(ToString::to_string),
        _ => None,
    };
    assert_eq!(
        fixed("literal").as_deref(),
        Some("http://127.0.0.1:9/x?y=1")
    );
    assert_eq!(fixed("templated"), None);
    assert_eq!(fixed("computed"), None);
}
