//! The dispatcher without sockets: requests go straight into `dispatch`, as the listener
//! hands them over.

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::admin::metrics::Metrics;
use crate::compile::compile_test_yaml;
use crate::transports::http::body::read_body_limited;

/// The json-xml sample's conversion resources.
const CONVERT: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: convert}
spec:
  context: /convert
  resources:
    - methods: [POST]
      uriTemplate: /to-xml
      inSequence:
        - property: {name: messageType, scope: axis2, value: application/xml}
        - respond: {}
    - methods: [POST]
      uriTemplate: /to-json
      inSequence:
        - property: {name: messageType, scope: axis2, value: application/json}
        - respond: {}
";

fn dispatcher(yaml: &str, max_body_bytes: usize) -> Dispatcher {
    let metrics = Arc::new(Metrics::new());
    let compiled = compile_test_yaml(yaml, metrics.clone());
    Dispatcher::new(
        Arc::new(ArcSwap::from_pointee(compiled)),
        metrics,
        max_body_bytes,
    )
}

fn post(path: &str, content_type: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap()
}

/// The status and the body parsed as JSON.
async fn answer(resp: Response<Body>) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = read_body_limited(resp.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_unknown_resource_under_a_known_context_names_the_api() {
    let d = dispatcher(CONVERT, 1024);
    let req = Request::get("/convert/unknown")
        .body(body::empty())
        .unwrap();
    let (status, body) = answer(d.dispatch(req).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"],
        r#"no resource of API "convert" matches GET /convert/unknown"#
    );
}

#[tokio::test]
async fn a_path_outside_every_context_says_no_api_matches() {
    let d = dispatcher(CONVERT, 1024);
    let req = Request::get("/elsewhere").body(body::empty()).unwrap();
    let (status, body) = answer(d.dispatch(req).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no API matches /elsewhere");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_json_413() {
    let d = dispatcher(CONVERT, 4);
    let chunks = futures::stream::iter(
        ["12", "34", "56"]
            .map(|c| Ok::<_, body::BoxError>(hyper::body::Frame::data(Bytes::from(c)))),
    );
    let chunked = body::boxed(http_body_util::StreamBody::new(chunks));
    let (status, body) = answer(
        d.dispatch(post("/convert/to-xml", "application/json", chunked))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body,
        json!({"error": {"code": 413, "message": "the request body is larger than 4 bytes"}})
    );
}

/// Bodies that do not parse as their content type, each with what the parser objects to.
fn unreadable_bodies() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    let deep_json = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep_xml = format!("{}{}", "<a>".repeat(600), "</a>".repeat(600));
    vec![
        ("to-xml", "application/json", br#"{"a":"#.to_vec(), "EOF"),
        (
            "to-json",
            "application/xml",
            b"<a><b></a>".to_vec(),
            "malformed XML",
        ),
        (
            "to-xml",
            "application/json",
            b"{\"a\":\"\xff\"}".to_vec(),
            "malformed JSON",
        ),
        (
            "to-json",
            "application/xml",
            b"<a>\xff</a>".to_vec(),
            "UTF-8",
        ),
        (
            "to-xml",
            "application/json",
            deep_json.into_bytes(),
            "recursion limit",
        ),
        ("to-json", "application/xml", deep_xml.into_bytes(), "deep"),
        (
            "to-json",
            "application/xml",
            br#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#.to_vec(),
            "DOCTYPE",
        ),
    ]
}

#[tokio::test]
async fn a_body_that_does_not_parse_as_its_content_type_is_a_400_parse_error() {
    let d = dispatcher(CONVERT, 1 << 20);
    for (resource, content_type, bytes, why) in unreadable_bodies() {
        let path = format!("/convert/{resource}");
        let req = post(&path, content_type, body::full(bytes));
        let (status, body) = answer(d.dispatch(req).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"]["code"], 601000, "{why}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("cannot read the payload: "), "{body}");
        assert!(message.contains(why), "{why}: {body}");
    }
}

#[tokio::test]
async fn a_fault_sequence_handles_a_body_that_only_the_answer_reads() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: convert}
spec:
  context: /convert
  resources:
    - methods: [POST]
      uriTemplate: /to-xml
      inSequence:
        - property: {name: messageType, scope: axis2, value: application/xml}
        - respond: {}
      faultSequence:
        - property: {name: messageType, scope: axis2, value: application/json}
        - payloadFactory: {mediaType: json, format: '{\"failed\": ${props.synapse.ERROR_CODE}}'}
        - property: {name: HTTP_SC, scope: axis2, value: '422'}
        - respond: {}
";
    let d = dispatcher(yaml, 1024);
    let req = post("/convert/to-xml", "application/json", body::full("{"));
    let (status, body) = answer(d.dispatch(req).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, json!({"failed": 601000}));
}

/// One byte, then nothing ever again: a client that declared more than it sends.
fn stalled_body() -> Body {
    use futures::StreamExt;
    let first = futures::stream::iter([Ok::<_, body::BoxError>(hyper::body::Frame::data(
        Bytes::from("{"),
    ))]);
    body::boxed(http_body_util::StreamBody::new(
        first.chain(futures::stream::pending()),
    ))
}

const SHORT: Duration = Duration::from_millis(100);

/// `dispatch`, failing the test if it does not answer within 5 s.
async fn dispatch_soon(d: &Dispatcher, req: Request<Body>) -> (StatusCode, Value) {
    let resp = tokio::time::timeout(Duration::from_secs(5), d.dispatch(req))
        .await
        .expect("the dispatcher should answer before the test gives up");
    answer(resp).await
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408() {
    let d = dispatcher(CONVERT, 1024).with_timeouts(RequestTimeouts {
        body: Some(SHORT),
        total: None,
    });
    let req = post("/convert/to-xml", "application/json", stalled_body());
    let (status, body) = dispatch_soon(&d, req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        body,
        json!({"error": {"code": 408, "message": "the request body did not arrive within 100ms"}})
    );
}

#[tokio::test]
async fn the_request_timeout_bounds_the_body_too() {
    let d = dispatcher(CONVERT, 1024).with_timeouts(RequestTimeouts {
        body: Some(Duration::from_secs(60)),
        total: Some(SHORT),
    });
    let req = post("/convert/to-xml", "application/json", stalled_body());
    let (status, _) = dispatch_soon(&d, req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn a_body_in_time_is_served_as_usual() {
    let d = dispatcher(CONVERT, 1024).with_timeouts(RequestTimeouts {
        body: Some(SHORT),
        total: Some(SHORT),
    });
    let req = post(
        "/convert/to-json",
        "application/xml",
        body::full("<a>1</a>"),
    );
    let (status, body) = dispatch_soon(&d, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"a": 1}));
}

/// A backend on 127.0.0.1 that accepts connections, reads requests whole and never
/// answers; its port.
async fn silent_backend() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 1024];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    port
}

fn calling(port: u16, flow: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: backend}}
spec:
  http: {{uriTemplate: 'http://127.0.0.1:{port}/in'}}
  timeout: {{duration: 60000, responseAction: fault}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: slow}}
spec:
  context: /slow
  resources:
    - methods: [POST]
      uriTemplate: /call
      inSequence:
{flow}
"
    )
}

#[tokio::test]
async fn a_flow_past_the_request_timeout_is_a_504() {
    let port = silent_backend().await;
    let flow = "        - log: {level: simple}\n        - call: {endpoint: {key: backend}}\n        - respond: {}";
    let d = dispatcher(&calling(port, flow), 1024).with_timeouts(RequestTimeouts {
        body: None,
        total: Some(SHORT),
    });
    let req = post("/slow/call", "application/json", body::full("{}"));
    let (status, body) = dispatch_soon(&d, req).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        body,
        json!({"error": {"code": 504, "message": "the request was not answered within 100ms"}})
    );
}

#[tokio::test]
async fn a_streamed_body_that_does_not_arrive_in_time_is_a_408_not_a_backend_fault() {
    let port = silent_backend().await;
    let flow = "        - call: {endpoint: {key: backend}}\n        - respond: {}";
    let d = dispatcher(&calling(port, flow), 1024).with_timeouts(RequestTimeouts {
        body: Some(SHORT),
        total: Some(Duration::from_secs(60)),
    });
    // A declared length makes it a passthrough: the body streams to the backend.
    let mut req = post("/slow/call", "application/json", stalled_body());
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
    let (status, body) = dispatch_soon(&d, req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
}

#[tokio::test]
async fn a_streamed_body_still_arriving_at_the_request_timeout_is_a_408() {
    let port = silent_backend().await;
    let flow = "        - call: {endpoint: {key: backend}}\n        - respond: {}";
    let d = dispatcher(&calling(port, flow), 1024).with_timeouts(RequestTimeouts {
        body: None,
        total: Some(SHORT),
    });
    let mut req = post("/slow/call", "application/json", stalled_body());
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
    let (status, body) = dispatch_soon(&d, req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
}

/// Log lines written while `f` runs on this thread (a current-thread test runtime runs
/// every task on it), as the `fmt` layer writes them without colours.
async fn logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    #[derive(Clone, Default)]
    struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut lines) = self.0.lock() {
                lines.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = {
        let _guard = tracing::subscriber::set_default(subscriber);
        f.await
    };
    let text = lines
        .0
        .lock()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default();
    (out, text)
}

#[tokio::test]
async fn an_unhandled_fault_is_logged_at_warn_with_its_causes_and_answered_without_them() {
    let compiled = compile_test_yaml(CONVERT, Arc::new(Metrics::new()));
    let api = &compiled.apis[0];
    let resource = &api.resources[0];
    let disk = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device");
    let store = crate::stores::StoreError::transient("orders", "disk I/O error").with_cause(disk);
    let fault =
        Fault::internal(crate::fault::codes::STORE_FAILED, store.to_string()).with_cause(store);
    let ((), log) = logged(async { log_fault(api, resource, &fault, "order-1") }).await;
    let line = log
        .lines()
        .find(|l| l.contains("no fault sequence handled it"))
        .unwrap_or_else(|| panic!("no line for the fault in:\n{log}"));
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("correlation_id=\"order-1\""), "{line}");
    assert!(
        line.contains(
            "error=message store orders: disk I/O error (700001): no space left on device"
        ),
        "{line}"
    );
    // The client's answer carries the message only, as before.
    let (status, body) = answer(fault_response(&fault, None)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": {"code": 700001, "message": "message store orders: disk I/O error"}})
    );
}

/// The request's future is built on the stack and moved into its box (the listener boxes it
/// once, so later moves copy a pointer): its size is copied per request. The endpoint call,
/// authentication and the mediation are boxed inside it, so a plain request does not carry
/// their states. A debug build measured 17.9 KiB with the passthrough call inline, 8.0 KiB
/// boxed (release builds lay futures out smaller).
#[test]
fn the_request_future_stays_small() {
    let d = dispatcher(CONVERT, 1 << 20);
    let req = post("/convert/to-xml", "application/json", body::full("{}"));
    let size = std::mem::size_of_val(&d.dispatch(req));
    eprintln!("the dispatch future: {size} bytes");
    assert!(
        size <= 10 * 1024,
        "the dispatch future grew to {size} bytes"
    );
}
