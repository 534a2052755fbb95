//! Micro-benchmarks of the mediator pipeline: a small bundle is loaded and compiled once,
//! then requests go through the dispatcher (route match, message, sequence, response)
//! without sockets (`make bench-micro`). Endpoint calls are left to `make bench`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group};
use ferry::admin::metrics::Metrics;
use ferry::compile::CompileEnv;
use ferry::dispatch::Dispatcher;
use ferry::endpoints::client::EndpointClient;
use ferry::transports::http::body;
use http::{Request, header};
use http_body_util::BodyExt;

const BUNDLE: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: micro
spec:
  context: /micro
  resources:
    - methods: [POST]
      uriTemplate: /echo
      inSequence:
        - respond: {}
    - methods: [POST]
      uriTemplate: /route
      inSequence:
        - switch:
            source: ${payload.kind}
            cases:
              - regex: "a"
                sequence:
                  - property: {name: route, value: a}
            default:
              - property: {name: route, value: other}
        - respond: {}
    - methods: [POST]
      uriTemplate: /to-xml
      inSequence:
        - payloadFactory:
            mediaType: xml
            format: |
              <order xmlns="http://example.com/orders"><id>$1</id><kind>${payload.kind}</kind><name>${payload.name}</name><items>${length(payload.items)}</items></order>
            args:
              - expression: ${payload.id}
        - respond: {}
    - methods: [POST]
      uriTemplate: /chain/{id}
      inSequence:
        - property: {name: orderId, expression: "${params.uriParams.id}"}
        - variable: {name: total, expression: "${payload.id * 2}"}
        - filter:
            source: ${payload.kind}
            regex: "a"
            then:
              - header: {name: X-Kind, value: a}
        - log: {level: custom, category: DEBUG, message: "order ${props.synapse.orderId}"}
        - payloadFactory: {mediaType: json, format: '{"id": ${payload.id}, "total": ${var.total}}'}
        - respond: {}
"#;

/// A JSON document of about `size` bytes with the fields the bundle reads.
fn body_of(size: usize) -> Bytes {
    let mut doc = serde_json::json!({
        "kind": "a", "id": 42, "name": "Ferry benchmark order",
        "items": (0..8).map(|i| serde_json::json!({"sku": format!("SKU-{i:04}"), "qty": 1}))
            .collect::<Vec<_>>(),
        "pad": "",
    });
    let base = serde_json::to_vec(&doc).unwrap().len();
    doc["pad"] = serde_json::Value::String("x".repeat(size.saturating_sub(base)));
    Bytes::from(serde_json::to_vec(&doc).unwrap())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("micro.yaml"), BUNDLE).unwrap();
    let metrics = Arc::new(Metrics::new());
    let env = CompileEnv {
        config: Arc::new(HashMap::new()),
        client: EndpointClient::default(),
        metrics: metrics.clone(),
        stores: ferry::stores::factory::StoreRegistry::check_only(),
    };
    let compiled = ferry::reload::load(&[dir.path().to_path_buf()], &env)
        .unwrap_or_else(|d| panic!("the bench bundle does not compile: {d:?}"));
    let dispatcher = Dispatcher::new(Arc::new(ArcSwap::from_pointee(compiled)), metrics, 1 << 24);

    let request = |path: &str, body: &Bytes| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body::full(body.clone()))
            .unwrap()
    };
    // Every flow answers 200 before it is timed.
    let small = body_of(1024);
    for path in [
        "/micro/echo",
        "/micro/route",
        "/micro/to-xml",
        "/micro/chain/7",
    ] {
        let resp = rt.block_on(dispatcher.dispatch(request(path, &small)));
        assert_eq!(resp.status(), 200, "{path}");
    }

    for (label, size) in [("1 KiB", 1024), ("100 KiB", 100 * 1024)] {
        let body = body_of(size);
        let mut group = c.benchmark_group(format!("pipeline/{label}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (name, path) in [
            ("respond (no mediator reads the body)", "/micro/echo"),
            ("switch on a JSON field", "/micro/route"),
            ("payloadFactory JSON -> XML", "/micro/to-xml"),
            ("six-mediator chain", "/micro/chain/7"),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    rt.block_on(async {
                        let resp = dispatcher.dispatch(request(path, black_box(&body))).await;
                        resp.into_body().collect().await.unwrap().to_bytes()
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);

/// `cargo test --all-targets` builds this and runs it without `--bench`: then it does
/// nothing, so benchmarks never run as tests. `cargo bench -p ferry -- --test` runs each
/// benchmark once as a smoke test.
fn main() {
    if std::env::args().any(|a| a == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
