//! One function per fuzz target. Each takes any bytes and returns normally unless the code
//! under test panics or breaks one of the invariants asserted here (an oracle that only
//! catches panics misses wrong answers; where a second, simpler implementation exists, the
//! target compares against it).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use ferry::endpoints::client::{ClientOptions, EndpointClient};
use ferry::message::Message;
use ferry::message::convert::{self, ConversionOptions};
use ferry::transports::http::body::{Body, read_body_limited};
use ferry::transports::http::server::{Handler, Peer, ServerOptions, serve_connection};
use ferry_api::bundle::{self, Source};
use ferry_api::check::{self, ConfigKeys};
use ferry_api::expr::{Expression, Template};
use ferry_api::routes::VersionType;
use ferry_api::routes::{ApiRoute, ResourcePattern, ResourceRoute, RouteMatch, RouteTable};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A target: any bytes in, a panic when something is wrong.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and cargo-fuzz binary have.
pub const ALL: [(&str, Target); 7] = [
    ("expression", expression),
    ("json_scan", json_scan),
    ("convert", convert),
    ("bundle_check", bundle_check),
    ("routes", routes),
    ("http_head", http_head),
    ("backend_answer", backend_answer),
];

// === expression ===

/// The expression parser (`Expression::parse`, the three `Template` parsers), then
/// evaluation of what parsed against a message with a JSON body: the checker parses user
/// text at load time, and the runtime evaluates the result on every message.
pub fn expression(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let msg = sample_message();
    if let Ok(expr) = Expression::parse(src) {
        // The source an expression keeps is what diagnostics and `ferry import` print: it
        // must read back as the same expression.
        let again = Expression::parse(&expr.to_string());
        assert_eq!(
            again.as_ref().ok(),
            Some(&expr),
            "source of {src:?} reparses differently"
        );
        let _ = ferry::expr::value::eval(&expr, &msg);
        let _ = ferry::expr::value::eval_bool(&expr, &msg);
    }
    if let Ok(template) = Template::parse(src) {
        let _ = ferry::expr::value::render(&template, &msg);
    }
    let _ = Template::parse_payload_format(src, &[]);
}

/// A message as a JSON API receives it; expressions that read the payload, headers or query
/// have something to walk.
fn sample_message() -> Message {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-id", HeaderValue::from_static("42"));
    let body = br#"{"kind":"order","items":[{"id":1,"price":2.5},{"id":2,"price":-1e3}],"name":"a\u00e9","empty":{},"nil":null,"ok":true}"#;
    Message::from_request(
        Method::POST,
        Uri::from_static("/orders/7?page=2&q=x%20y"),
        headers,
        Bytes::from_static(body),
    )
}

// === JSON member scan ===

/// The JSON member scan (`message::scan::member`) against serde_json: whenever the scan
/// answers, the full parse must accept the document as an object and hold the same member.
/// Input: the key, a newline, then the document.
pub fn json_scan(data: &[u8]) {
    let (key, doc) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"kind"[..], data),
    };
    let Ok(key) = std::str::from_utf8(key) else {
        return;
    };
    let scanned = ferry::message::scan::member(doc, key);
    let Some(scanned) = scanned else {
        // The scan may always give up; the caller then parses in full.
        return;
    };
    let full: Value = match serde_json::from_slice(doc) {
        Ok(v) => v,
        Err(e) => panic!("the scan accepted a document serde_json refuses: {e}"),
    };
    let Value::Object(map) = full else {
        panic!("the scan answered for a document that is not an object");
    };
    assert_eq!(scanned.as_ref(), map.get(key), "member {key:?}");
}

// === JSON <-> XML ===

/// JSON→XML and XML→JSON (`message::convert`, `ferry::xml::parse`) under the default
/// options and their opposites. The XML that JSON→XML writes must read back, and so must
/// the XML written from any parsed element; the direct conversions must write what the
/// trees write.
pub fn convert(data: &[u8]) {
    let defaults = ConversionOptions::default();
    let flipped = ConversionOptions {
        auto_primitive: false,
        preserve_namespace: true,
        namespace_declarations: true,
        empty_element_as_null: false,
        xml_nil: true,
        build_valid_nc_names: true,
        auto_array: false,
        xml_multiple_pi: false,
        ..ConversionOptions::default()
    };
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        for options in [&defaults, &flipped] {
            if let Ok(element) = convert::json_to_xml(&value, options) {
                let written = element.to_xml_string();
                match ferry::xml::parse(written.as_bytes()) {
                    Ok(back) => {
                        let _ = convert::xml_to_json(&back, options);
                    }
                    Err(e) => panic!("JSON→XML wrote XML that does not parse: {e:?}: {written}"),
                }
            }
        }
    }
    if let Ok(element) = ferry::xml::parse(data) {
        for options in [&defaults, &flipped] {
            let json = convert::xml_to_json(&element, options);
            let _ = serde_json::to_vec(&json);
            let _ = convert::json_to_xml(&json, options);
        }
        let written = element.to_xml_string();
        if let Err(e) = ferry::xml::parse(written.as_bytes()) {
            panic!("a parsed element wrote XML that does not parse: {e:?}: {written}");
        }
    }
    direct_conversions(data);
}

/// A raw body that only changes format is converted from its bytes (`Payload::to_bytes`,
/// the direct path); once its view was read, through the trees. Both must give the same
/// bytes, or the same error.
fn direct_conversions(data: &[u8]) {
    use ferry::message::payload::Payload;
    for (content_type, out) in [
        ("application/json", "application/xml"),
        ("application/xml", "application/json"),
    ] {
        let body = Bytes::copy_from_slice(data);
        let direct = Payload::from_bytes(body.clone(), Some(content_type)).to_bytes(out);
        let tree = Payload::from_bytes(body, Some(content_type));
        // Reading the view parses the body: to_bytes then converts the trees.
        let _ = tree.view();
        match (direct, tree.to_bytes(out)) {
            (Ok(direct), Ok(tree)) => assert!(
                direct == tree,
                "{content_type} -> {out}: direct {direct:?}, tree {tree:?}"
            ),
            (Err(direct), Err(tree)) => assert_eq!(direct.to_string(), tree.to_string()),
            (direct, tree) => panic!("{content_type} -> {out}: direct {direct:?}, tree {tree:?}"),
        }
    }
}

// === YAML loader + checker ===

/// The whole checker as `ferry validate` runs it: `bundle::load` then `check::check`.
pub fn bundle_check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source {
        name: "fuzz.yaml".to_string(),
        text: text.to_string(),
    };
    let (bundle, _diagnostics) = bundle::load(&[source]);
    let checked = check::check(&bundle, &ConfigKeys::built_in());
    assert_eq!(checked.resources.len(), bundle.resources.len());
}

// === URI-template router ===

/// Builds a route table from fuzzed APIs and routes fuzzed requests through it. One
/// instruction per line, the first character its operation:
/// `c<context>` starts an API, `v<version>` / `u<version>` give it a version in the context
/// or in the URL, `t<template>` / `g<template>` / `p<template>` add a URI-template resource
/// (any method, GET, POST), `m<mapping>` a URL-mapping resource, `*` a resource with
/// neither; `r<path?query>` routes a GET, `s<path?query>` a POST, `x<METHOD> <path?query>`
/// any method.
pub fn routes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut apis: Vec<ApiRoute> = Vec::new();
    let mut requests: Vec<(Method, &str)> = Vec::new();
    for line in text.lines() {
        let mut chars = line.chars();
        let Some(op) = chars.next() else { continue };
        let rest = chars.as_str();
        let resource = |methods: Vec<Method>, pattern| ResourceRoute { methods, pattern };
        match op {
            'c' => apis.push(ApiRoute {
                name: format!("api{}", apis.len()),
                context: rest.to_string(),
                version: None,
                version_type: VersionType::Context,
                resources: Vec::new(),
            }),
            'v' | 'u' => {
                if let Some(api) = apis.last_mut() {
                    api.version = Some(rest.to_string());
                    api.version_type = if op == 'u' {
                        VersionType::Url
                    } else {
                        VersionType::Context
                    };
                }
            }
            't' | 'g' | 'p' | 'm' | '*' => {
                let Some(api) = apis.last_mut() else { continue };
                let methods = match op {
                    'g' => vec![Method::GET],
                    'p' => vec![Method::POST],
                    _ => Vec::new(),
                };
                let pattern = match op {
                    'm' => ResourcePattern::UrlMapping(rest.to_string()),
                    '*' => ResourcePattern::Any,
                    _ => ResourcePattern::UriTemplate(rest.to_string()),
                };
                api.resources.push(resource(methods, pattern));
            }
            'r' => requests.push((Method::GET, rest)),
            's' => requests.push((Method::POST, rest)),
            'x' => {
                let (method, target) = rest.split_once(' ').unwrap_or((rest, "/"));
                if let Ok(method) = Method::from_bytes(method.as_bytes()) {
                    requests.push((method, target));
                }
            }
            _ => {}
        }
    }
    let Ok(table) = RouteTable::build(&apis) else {
        return;
    };
    for (method, target) in requests {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        check_route(&apis, table.route(&method, path, query));
    }
}

/// What a route answer must hold whatever the request: its indices name real resources.
fn check_route(apis: &[ApiRoute], found: RouteMatch) {
    match found {
        RouteMatch::Found { api, resource, .. } => {
            assert!(apis.get(api).is_some_and(|a| resource < a.resources.len()));
        }
        RouteMatch::MethodNotAllowed { api, allow } => {
            assert!(api < apis.len());
            assert!(!allow.is_empty(), "a 405 with an empty Allow");
        }
        RouteMatch::NotFound { api } => assert!(api.is_none_or(|a| a < apis.len())),
    }
}

// === HTTP request head ===

/// The bundled samples' APIs (healthcare, JSON/XML conversion, guaranteed delivery) as the
/// route table the HTTP target routes into, and one single-threaded Tokio runtime: built
/// once, not per input.
struct HttpFixture {
    rt: tokio::runtime::Runtime,
    table: RouteTable,
}

fn http_fixture() -> &'static HttpFixture {
    static FIXTURE: OnceLock<HttpFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let samples = [
            include_str!("../../../config/samples/healthcare/healthcare-api.yaml"),
            include_str!("../../../config/samples/json-xml/conversion-api.yaml"),
            include_str!("../../../config/samples/guaranteed-delivery/guaranteed-delivery.yaml"),
        ];
        let sources: Vec<Source> = samples
            .iter()
            .enumerate()
            .map(|(i, text)| Source {
                name: format!("sample{i}.yaml"),
                text: text.to_string(),
            })
            .collect();
        let (bundle, _) = bundle::load(&sources);
        let table = check::check(&bundle, &ConfigKeys::built_in())
            .routes
            .expect("the samples' route table builds");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread Tokio runtime");
        HttpFixture { rt, table }
    })
}

/// Routes each request and turns it into a [`Message`] the way the dispatcher does, its
/// query and headers read back.
struct RouteAndRead(&'static HttpFixture);

impl Handler for RouteAndRead {
    async fn handle(&self, req: Request<Body>, _peer: Peer) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let found = self
            .0
            .table
            .route(&parts.method, parts.uri.path(), parts.uri.query());
        if let RouteMatch::MethodNotAllowed { allow, .. } = found {
            assert!(!allow.is_empty(), "a 405 with an empty Allow");
        }
        let body = read_body_limited(body, 64 * 1024).await.unwrap_or_default();
        let msg = Message::from_request(parts.method, parts.uri, parts.headers, body);
        let _ = msg.query_param("q");
        let _ = msg.header("content-type");
        let _ = msg.payload_json();
        Response::new(ferry::transports::http::body::empty())
    }
}

/// Bytes as a client sends them on a connection: Ferry's listener (its own HTTP/1.1
/// connection, `transports/http/server/h1.rs`, with the default limits) parses the heads
/// and bodies, and each request is routed and read as a message.
pub fn http_head(data: &[u8]) {
    let fixture = http_fixture();
    fixture.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let peer = Peer::plain(std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
        let opts = ServerOptions {
            header_read_timeout: None,
            ..ServerOptions::default()
        };
        let conn = serve_connection(server, peer, Arc::new(RouteAndRead(fixture)), &opts);
        let send = async {
            // The server may close early (a bad head): a write error is its answer.
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
        };
        tokio::join!(conn, send);
    });
}

// === backend_answer ===

struct AnswerFixture {
    rt: tokio::runtime::Runtime,
    client: EndpointClient,
}

fn answer_fixture() -> &'static AnswerFixture {
    static FIXTURE: OnceLock<AnswerFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread Tokio runtime");
        // No idle connections: each input is one connection, closed after its answer.
        let client = EndpointClient::new(ClientOptions {
            max_idle_per_host: 0,
            ..ClientOptions::default()
        });
        AnswerFixture { rt, client }
    })
}

/// Bytes as a backend answers: a listener on 127.0.0.1 reads the request, writes them and
/// closes; Ferry's endpoint client (its own HTTP/1.1 connection, `endpoints/pool/conn.rs`)
/// parses them as the answer to a GET, read whole, and to a POST, streamed.
pub fn backend_answer(data: &[u8]) {
    let fixture = answer_fixture();
    fixture.rt.block_on(async {
        for post in [false, true] {
            let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
                return;
            };
            let Ok(addr) = listener.local_addr() else {
                return;
            };
            let backend = async {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                // The whole request first: closing with unread bytes would reset the answer.
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                let complete = |r: &[u8]| match r.windows(4).position(|w| w == b"\r\n\r\n") {
                    // The POST's body is the four bytes of "body".
                    Some(end) => !post || r.len() >= end + 8,
                    None => false,
                };
                while !complete(&request) {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(data).await;
                let _ = stream.shutdown().await;
                let _ = stream.read_to_end(&mut request).await;
            };
            let uri = format!("http://{addr}/answer");
            let call = async {
                let timeout = Some(std::time::Duration::from_secs(2));
                if post {
                    let req = Request::post(&uri)
                        .body(ferry::transports::http::body::full("body"))
                        .expect("a valid request");
                    if let Ok(response) = fixture.client.send(req, timeout).await {
                        let _ = response.into_body().collect().await;
                    }
                } else {
                    let req = Request::get(&uri)
                        .body(Bytes::new())
                        .expect("a valid request");
                    let _ = fixture.client.send_buffered(req, timeout, 1 << 20).await;
                }
            };
            tokio::join!(backend, call);
        }
    });
}
