//! Distributed tracing, black box: `ferry run --otlp-endpoint` exports OTLP/HTTP protobuf (or
//! OTLP/gRPC) to a collector started by the test (a real HTTP/1 or HTTP/2 server on 127.0.0.1
//! decoding each export), which checks the span tree of an API calling two backends, a
//! retried call, a store-and-forward delivery and a RabbitMQ inbound endpoint's message; the
//! backends check the `traceparent` they were sent.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, client, workspace_root};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;

const CONFIG: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: stock
spec:
  http: {uriTemplate: 'http://127.0.0.1:STOCK/stock', method: get}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: price
spec:
  http: {uriTemplate: 'http://127.0.0.1:PRICE/price', method: get}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: flaky
spec:
  http: {uriTemplate: 'http://127.0.0.1:FLAKY/flaky', method: get}
  timeout: {duration: 300}
  retry: {count: 2}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: warehouse
spec:
  http: {uriTemplate: 'http://127.0.0.1:WAREHOUSE/orders', method: post}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata:
  name: orders
spec:
  type: memory
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata:
  name: deliver-orders
spec:
  type: forwarding
  messageStore: orders
  targetEndpoint: warehouse
  interval: 20
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: shop
spec:
  context: /shop
  resources:
    - methods: [GET]
      uriTemplate: /quote
      inSequence:
        - call: {endpoint: {key: stock}}
        - call: {endpoint: {key: price}}
        - respond: {}
    - methods: [GET]
      uriTemplate: /flaky
      inSequence:
        - call: {endpoint: {key: flaky}}
        - respond: {}
    - methods: [POST]
      uriTemplate: /orders
      inSequence:
        - store: {messageStore: orders}
        - property: {name: HTTP_SC, value: '202', scope: axis2}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: price-it
spec:
  mediators:
    - property: {name: priced, value: 'yes'}
    - call: {endpoint: {key: price}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: traced
spec:
  context: /traced
  trace: true
  resources:
    - methods: [GET]
      uriTemplate: /it
      inSequence:
        - log: {message: tracing each mediator}
        - sequence: {key: price-it}
        - respond: {}
";

/// The caller's trace context on the quote request.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn int_attr(span: &Span, key: &str) -> Option<i64> {
    match attr(&span.attributes, key) {
        Some(AnyValue::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(&span.attributes, key) {
        Some(AnyValue::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Every span the collector received so far, and the service names they came with.
fn exported(collector: &Backend) -> (Vec<Span>, Vec<String>) {
    let mut spans = Vec::new();
    let mut services = Vec::new();
    for request in collector.requests() {
        assert_eq!(request.uri, "/v1/traces");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        let export = ExportTraceServiceRequest::decode(request.body.as_ref()).unwrap();
        for resource_spans in export.resource_spans {
            if let Some(resource) = &resource_spans.resource
                && let Some(AnyValue::StringValue(name)) =
                    attr(&resource.attributes, "service.name")
            {
                services.push(name.clone());
            }
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    (spans, services)
}

/// Waits until the spans the collector got satisfy `done`.
async fn spans_until(
    collector: &Backend,
    ferry: &Ferry,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (spans, _) = exported(collector);
        if done(&spans) {
            return spans;
        }
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert!(
            Instant::now() < deadline,
            "the spans never arrived; got {names:?}\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn find<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_calls_retries_and_a_stored_delivery_form_one_tree_per_request() {
    let collector = Backend::start(|_| Reply::with_status(200, "application/x-protobuf", ""));
    let stock = Backend::start(|_| Reply::json(serde_json::json!({"stock": 3})));
    let price = Backend::start(|_| Reply::json(serde_json::json!({"price": 9.5})));
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    // The first call is too slow (timeout 300 ms): the retry answers.
    let flaky = Backend::start(move |_| {
        let reply = Reply::json(serde_json::json!({"ok": true}));
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            reply.delayed(Duration::from_secs(2))
        } else {
            reply
        }
    });
    let warehouse = Backend::start(|_| Reply::with_status(200, "application/json", "{}"));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG
        .replace("STOCK", &stock.port().to_string())
        .replace("PRICE", &price.port().to_string())
        .replace("FLAKY", &flaky.port().to_string())
        .replace("WAREHOUSE", &warehouse.port().to_string());
    std::fs::write(dir.path().join("shop.yaml"), config).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", collector.port());
    let ferry = Ferry::start_with_env(
        &[dir.path()],
        &["--otlp-endpoint", &endpoint, "--service-name", "shop-test"],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let http = client();

    // An API calling two backends, inside the caller's trace.
    let quote = http
        .get(ferry.url("/shop/quote"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(quote.status().as_u16(), 200, "{}", ferry.log());
    let flaky_answer = http.get(ferry.url("/shop/flaky")).send().await.unwrap();
    assert_eq!(flaky_answer.status().as_u16(), 200, "{}", ferry.log());
    let stored = http
        .post(ferry.url("/shop/orders"))
        .json(&serde_json::json!({"order": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status().as_u16(), 202, "{}", ferry.log());

    let spans = spans_until(&collector, &ferry, |spans| {
        find(spans, "GET /quote").len() == 1
            && find(spans, "GET flaky").len() == 2
            && find(spans, "POST warehouse").len() == 1
            && find(spans, "POST /orders").len() == 1
    })
    .await;

    // The quote: server span under the caller's, one client span per backend under it.
    let server = find(&spans, "GET /quote")[0];
    assert_eq!(hex(&server.trace_id), CALLER_TRACE);
    assert_eq!(hex(&server.parent_span_id), CALLER_SPAN);
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(int_attr(server, "http.response.status_code"), Some(200));
    assert_eq!(str_attr(server, "http.route"), Some("/quote"));
    assert_eq!(str_attr(server, "ferry.api"), Some("shop"));
    for (name, backend) in [("GET stock", &stock), ("GET price", &price)] {
        let call = find(&spans, name);
        assert_eq!(call.len(), 1, "{name}");
        let call = call[0];
        assert_eq!(call.kind, SpanKind::Client as i32, "{name}");
        assert_eq!(call.trace_id, server.trace_id, "{name}");
        assert_eq!(call.parent_span_id, server.span_id, "{name}");
        assert_eq!(int_attr(call, "http.response.status_code"), Some(200));
        // The backend's parent is the client span, in the caller's trace.
        let sent = backend.requests()[0]
            .header("traceparent")
            .unwrap()
            .to_string();
        assert_eq!(
            sent,
            format!("00-{CALLER_TRACE}-{}-01", hex(&call.span_id)),
            "{name}"
        );
    }

    // The retried call: two sibling client spans, the first failed, the second a resend.
    let server = find(&spans, "GET /flaky")[0];
    let mut attempts = find(&spans, "GET flaky");
    attempts.sort_by_key(|s| s.start_time_unix_nano);
    for attempt in &attempts {
        assert_eq!(attempt.parent_span_id, server.span_id);
        assert_eq!(attempt.trace_id, server.trace_id);
    }
    let first_status = attempts[0].status.as_ref().map(|s| s.code);
    assert_eq!(first_status, Some(StatusCode::Error as i32));
    assert_eq!(int_attr(attempts[0], "http.request.resend_count"), None);
    assert_eq!(int_attr(attempts[1], "http.request.resend_count"), Some(1));
    assert_eq!(
        int_attr(attempts[1], "http.response.status_code"),
        Some(200)
    );
    assert!(server.parent_span_id.is_empty(), "a new trace is a root");

    // Store and forward: the producer span under the request, the processor's consumer
    // span under the producer (its context stored with the message), the delivery under it.
    let server = find(&spans, "POST /orders")[0];
    let producer = find(&spans, "send orders")[0];
    assert_eq!(producer.kind, SpanKind::Producer as i32);
    assert_eq!(producer.parent_span_id, server.span_id);
    assert_eq!(
        str_attr(producer, "messaging.destination.name"),
        Some("orders")
    );
    let consumer = find(&spans, "process orders")[0];
    assert_eq!(consumer.kind, SpanKind::Consumer as i32);
    assert_eq!(consumer.trace_id, server.trace_id);
    assert_eq!(consumer.parent_span_id, producer.span_id);
    assert_eq!(
        str_attr(consumer, "ferry.processor"),
        Some("deliver-orders")
    );
    let delivery = find(&spans, "POST warehouse")[0];
    assert_eq!(delivery.parent_span_id, consumer.span_id);
    let sent = warehouse.requests()[0]
        .header("traceparent")
        .unwrap()
        .to_string();
    assert!(
        sent.starts_with(&format!(
            "00-{}-{}",
            hex(&server.trace_id),
            hex(&delivery.span_id)
        )),
        "{sent}"
    );

    let (_, services) = exported(&collector);
    assert!(services.iter().all(|s| s == "shop-test"), "{services:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_with_trace_true_gets_a_span_per_mediator_also_in_the_sequences_it_calls() {
    let collector = Backend::start(|_| Reply::with_status(200, "application/x-protobuf", ""));
    let price = Backend::start(|_| Reply::json(serde_json::json!({"price": 9.5})));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG
        .replace("STOCK", "1")
        .replace("PRICE", &price.port().to_string())
        .replace("FLAKY", "1")
        .replace("WAREHOUSE", "1");
    std::fs::write(dir.path().join("shop.yaml"), config).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", collector.port());
    let ferry = Ferry::start_with_env(
        &[dir.path()],
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let answer = client().get(ferry.url("/traced/it")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{}", ferry.log());
    let spans = spans_until(&collector, &ferry, |spans| {
        find(spans, "GET /it").len() == 1 && find(spans, "respond").len() == 1
    })
    .await;
    let server = find(&spans, "GET /it")[0];
    let child_of = |name: &str, parent: &Span| {
        let found = find(&spans, name);
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(found[0].parent_span_id, parent.span_id, "{name}");
        assert_eq!(found[0].kind, SpanKind::Internal as i32, "{name}");
        found[0].clone()
    };
    let log = child_of("log", server);
    assert_eq!(int_attr(&log, "ferry.mediator.index"), Some(0));
    let sequence = child_of("sequence", server);
    child_of("respond", server);
    // The called sequence's mediators under the `sequence` span, the backend call under
    // its `call` span.
    child_of("property", &sequence);
    let call = child_of("call", &sequence);
    let client_span = find(&spans, "GET price")[0];
    assert_eq!(client_span.parent_span_id, call.span_id);
    assert_eq!(
        spans.len(),
        7,
        "server, log, sequence, property, call, client, respond: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracing_off_a_callers_trace_context_passes_through_unchanged() {
    let backend = Backend::start(|_| Reply::json(serde_json::json!({"stock": 3})));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG
        .replace("STOCK", &backend.port().to_string())
        .replace("PRICE", &backend.port().to_string())
        .replace("FLAKY", "1")
        .replace("WAREHOUSE", "1");
    std::fs::write(dir.path().join("shop.yaml"), config).unwrap();
    let ferry = Ferry::start(&[dir.path()], &[]);
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let answer = client()
        .get(ferry.url("/shop/quote"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{}", ferry.log());
    // The first call carries the request's headers as they came; the second carries the
    // first answer's (Synapse's header semantics), so no trace context: with tracing off,
    // Ferry neither reads nor writes trace headers.
    let first = &backend.requests()[0];
    assert_eq!(first.header("traceparent"), Some(traceparent.as_str()));
}

#[test]
fn a_sampling_ratio_outside_zero_to_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shop.yaml"), CONFIG.replace("STOCK", "1")).unwrap();
    let refused = Ferry::try_start(
        &[dir.path()],
        &[
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
            "--trace-sampling-ratio",
            "2",
        ],
    );
    let err = refused.err().unwrap_or_default();
    assert!(err.contains("--trace-sampling-ratio 2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracing_variant_sends_one_tree_across_its_own_backend_apis() {
    let collector = Backend::start(|_| Reply::with_status(200, "application/x-protobuf", ""));
    let variant = workspace_root().join("config/variants/tracing");
    let endpoint = format!("http://127.0.0.1:{}", collector.port());
    let ferry = Ferry::start_with_env(
        &[&variant],
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let quote = client().get(ferry.url("/shop/quote")).send().await.unwrap();
    assert_eq!(quote.status().as_u16(), 200, "{}", ferry.log());
    assert_eq!(
        quote.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"available": 7, "price": 9.5})
    );
    let order = client()
        .post(ferry.url("/shop/orders"))
        .json(&serde_json::json!({"order": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status().as_u16(), 202);
    let spans = spans_until(&collector, &ferry, |spans| {
        find(spans, "GET /quote").len() == 1
            && find(spans, "GET /stock").len() == 1
            && find(spans, "POST /warehouse").len() == 1
    })
    .await;
    // The backend API's server span is the child of the quote's client span: one tree
    // across the hop.
    let quote = find(&spans, "GET /quote")[0];
    let call = find(&spans, "GET stock")[0];
    let backend = find(&spans, "GET /stock")[0];
    assert_eq!(call.trace_id, quote.trace_id);
    assert_eq!(backend.parent_span_id, call.span_id);
    // The stored order's delivery reaches the warehouse API in the order's trace.
    let order = find(&spans, "POST /orders")[0];
    let warehouse = find(&spans, "POST /warehouse")[0];
    assert_eq!(warehouse.trace_id, order.trace_id);
}

/// A gRPC OTLP collector: an HTTP/2 (prior knowledge, as gRPC without TLS speaks) server on
/// 127.0.0.1 that decodes each `TraceService/Export` call's length-prefixed message and
/// answers with gRPC status 0.
struct GrpcCollector {
    port: u16,
    spans: Arc<std::sync::Mutex<Vec<Span>>>,
    paths: Arc<std::sync::Mutex<Vec<String>>>,
}

impl GrpcCollector {
    async fn start() -> GrpcCollector {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans: Arc<std::sync::Mutex<Vec<Span>>> = Arc::default();
        let paths: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let (kept, seen) = (spans.clone(), paths.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (kept, seen) = (kept.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (kept, seen) = (kept.clone(), seen.clone());
                            async move {
                                seen.lock().unwrap().push(req.uri().path().to_string());
                                let grpc = req
                                    .headers()
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .is_some_and(|v| v.starts_with("application/grpc"));
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                // One message: a compression flag, a 4-byte length, the protobuf.
                                assert!(grpc && body.len() >= 5 && body[0] == 0, "{body:?}");
                                let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
                                let export =
                                    ExportTraceServiceRequest::decode(&body[5..5 + len as usize])
                                        .unwrap();
                                for resource_spans in export.resource_spans {
                                    for scope in resource_spans.scope_spans {
                                        kept.lock().unwrap().extend(scope.spans);
                                    }
                                }
                                let answer = hyper::Response::builder()
                                    .header("content-type", "application/grpc")
                                    .body(GrpcAnswer(0))
                                    .unwrap();
                                Ok::<_, std::convert::Infallible>(answer)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        GrpcCollector { port, spans, paths }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

/// A gRPC answer: an empty `ExportTraceServiceResponse`, then `grpc-status: 0` as trailers.
struct GrpcAnswer(u8);

impl hyper::body::Body for GrpcAnswer {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.0 += 1;
        std::task::Poll::Ready(match self.0 {
            1 => Some(Ok(hyper::body::Frame::data(bytes::Bytes::from_static(&[
                0, 0, 0, 0, 0,
            ])))),
            2 => {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                Some(Ok(hyper::body::Frame::trailers(trailers)))
            }
            _ => None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_the_spans_reach_a_collectors_trace_service() {
    let collector = GrpcCollector::start().await;
    let stock = Backend::start(|_| Reply::json(serde_json::json!({"stock": 3})));
    let price = Backend::start(|_| Reply::json(serde_json::json!({"price": 9.5})));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG
        .replace("STOCK", &stock.port().to_string())
        .replace("PRICE", &price.port().to_string())
        .replace("FLAKY", "1")
        .replace("WAREHOUSE", "1");
    std::fs::write(dir.path().join("shop.yaml"), config).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", collector.port);
    let ferry = Ferry::start_with_env(
        &[dir.path()],
        &["--otlp-endpoint", &endpoint, "--otlp-protocol", "grpc"],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let quote = client()
        .get(ferry.url("/shop/quote"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(quote.status().as_u16(), 200, "{}", ferry.log());
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = collector.spans();
        if find(&spans, "GET /quote").len() == 1 && find(&spans, "GET price").len() == 1 {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "no spans over gRPC; got {:?}\n{}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        collector
            .paths
            .lock()
            .unwrap()
            .iter()
            .all(|p| p == "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    );
    let server = find(&spans, "GET /quote")[0];
    assert_eq!(hex(&server.trace_id), CALLER_TRACE);
    assert_eq!(hex(&server.parent_span_id), CALLER_SPAN);
    for call in ["GET stock", "GET price"] {
        let client_span = find(&spans, call)[0];
        assert_eq!(client_span.parent_span_id, server.span_id, "{call}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_endpoints_message_is_a_consumer_span_in_the_producers_trace() {
    use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::{AMQPValue, FieldTable};
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let Ok(conn) = Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", props).await else {
        eprintln!("skipped: no RabbitMQ on 127.0.0.1:5672 (make services starts it)");
        return;
    };
    let channel = conn.create_channel().await.unwrap();
    let queue = format!("traced-{}", std::process::id());
    let _ = channel
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await;
    channel
        .queue_declare(
            &queue,
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let collector = Backend::start(|_| Reply::with_status(200, "application/x-protobuf", ""));
    let stock = Backend::start(|_| Reply::json(serde_json::json!({"stock": 3})));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inbound.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: stock
spec:
  http: {{uriTemplate: 'http://127.0.0.1:{}/stock', method: get}}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: check-stock
spec:
  mediators:
    - call: {{endpoint: {{key: stock}}}}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: stock-requests
spec:
  protocol: rabbitmq
  sequence: check-stock
  rabbitmq: {{host: 127.0.0.1, queue: {queue}}}
",
            stock.port()
        ),
    )
    .unwrap();
    let endpoint = format!("http://127.0.0.1:{}", collector.port());
    let ferry = Ferry::start_with_env(
        &[dir.path()],
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01").into()),
    );
    channel
        .basic_publish(
            "",
            &queue,
            BasicPublishOptions::default(),
            br#"{"sku": "A1"}"#,
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let name = format!("process {queue}");
    let spans = spans_until(&collector, &ferry, |spans| {
        find(spans, &name).len() == 1 && find(spans, "GET stock").len() == 1
    })
    .await;
    let consumer = find(&spans, &name)[0];
    assert_eq!(consumer.kind, SpanKind::Consumer as i32);
    assert_eq!(hex(&consumer.trace_id), CALLER_TRACE);
    assert_eq!(hex(&consumer.parent_span_id), CALLER_SPAN);
    assert_eq!(str_attr(consumer, "messaging.system"), Some("rabbitmq"));
    assert_eq!(
        str_attr(consumer, "messaging.destination.name"),
        Some(queue.as_str())
    );
    assert_eq!(
        str_attr(consumer, "ferry.inbound_endpoint"),
        Some("stock-requests")
    );
    // The flow's call is the consumer's child, and the backend saw its context.
    let call = find(&spans, "GET stock")[0];
    assert_eq!(call.parent_span_id, consumer.span_id);
    let sent = stock.requests()[0]
        .header("traceparent")
        .unwrap_or_default()
        .to_string();
    assert!(sent.contains(&hex(&call.span_id)), "{sent}");
    drop(ferry);
    let _ = channel
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await;
}
