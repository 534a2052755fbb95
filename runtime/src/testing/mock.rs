//! Mock endpoints: an HTTP listener on 127.0.0.1 (an ephemeral port) per mocked endpoint
//! and case, answering by the first rule whose match holds and recording every call. The
//! endpoint under test is pointed at it by rewriting its address in the case's copy of the
//! configuration ([`redirect`]), so the call goes through the real endpoint code: timeouts,
//! retries, headers and the fault a delay or a status causes are what `ferry run` does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_api::bundle::Bundle;
use ferry_api::expr::Expression;
use ferry_api::resources::Resource;
use ferry_api::resources::test_suite::{Body as BodySpec, MockResponse, MockRule};
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use regex::Regex;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::message::Message;
use crate::transports::http::body::{self, Body};
use crate::transports::http::server::{self, Handler, Peer, ServerOptions};

/// Largest call body a mock reads.
const MAX_CALL_BYTES: usize = 16 * 1024 * 1024;

/// One call a mock received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path (no query).
    pub path: String,
    /// The query, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The index of the rule that answered it; `None`: no rule matched.
    pub rule: Option<usize>,
}

impl Call {
    /// `POST /path?query`, for messages.
    pub fn describe(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    /// The call as a message, for assertions and body matches.
    pub fn message(&self) -> Message {
        let uri = match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        };
        let uri = uri.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
        Message::from_request(
            self.method.clone(),
            uri,
            self.headers.clone(),
            self.body.clone(),
        )
    }
}

/// A rule, parsed once.
struct Rule {
    method: Option<Method>,
    path: Option<String>,
    path_regex: Option<Regex>,
    headers: Vec<(HeaderName, String)>,
    body: Option<Expression>,
    respond: MockResponse,
}

impl Rule {
    fn build(rule: &MockRule) -> Result<Self, String> {
        let m = &rule.matches;
        let method = match &m.method {
            Some(name) => Some(
                Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("\"{name}\" is not an HTTP method"))?,
            ),
            None => None,
        };
        let path_regex = match &m.path_regex {
            Some(re) => Some(
                Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| format!("pathRegex \"{re}\": {e}"))?,
            ),
            None => None,
        };
        let mut headers = Vec::new();
        for (name, value) in &m.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("\"{name}\" is not a header name"))?;
            headers.push((name, value.clone()));
        }
        let body = match &m.body {
            Some(expr) => Some(
                Expression::parse(expr).map_err(|e| format!("body \"{expr}\": {}", e.message))?,
            ),
            None => None,
        };
        Ok(Rule {
            method,
            path: m.path.clone(),
            path_regex,
            headers,
            body,
            respond: rule.respond.clone(),
        })
    }

    fn matches(&self, call: &Call, message: &Message) -> bool {
        self.method.as_ref().is_none_or(|m| *m == call.method)
            && self.path.as_ref().is_none_or(|p| *p == call.path)
            && self
                .path_regex
                .as_ref()
                .is_none_or(|re| re.is_match(&call.path))
            && self.headers.iter().all(|(name, value)| {
                call.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v == value)
            })
            && self
                .body
                .as_ref()
                .is_none_or(|expr| crate::expr::value::eval_bool(expr, message).unwrap_or(false))
    }
}

/// A mocked endpoint: its rules and the calls it received.
pub struct Mock {
    /// The endpoint it replaces.
    pub endpoint: String,
    rules: Vec<Rule>,
    calls: Mutex<Vec<Call>>,
    /// Woken on every call, for assertions that wait for a count.
    pub called: Notify,
}

impl Mock {
    /// A mock answering by `rules`, in order.
    pub fn new(endpoint: &str, rules: &[&MockRule]) -> Result<Self, String> {
        let rules = rules
            .iter()
            .map(|r| Rule::build(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Mock {
            endpoint: endpoint.to_string(),
            rules,
            calls: Mutex::new(Vec::new()),
            called: Notify::new(),
        })
    }

    /// Every call received, in order (unmatched ones included).
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The calls that matched a rule, in order: what `expect.calls` counts.
    pub fn matched_calls(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.rule.is_some())
            .collect()
    }

    /// Starts the listener on 127.0.0.1 (an ephemeral port) until `stop` turns true.
    pub async fn start(
        self: &Arc<Self>,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let options = ServerOptions {
            graceful_timeout: Duration::from_millis(100),
            ..ServerOptions::default()
        };
        let mut stop = stop;
        tokio::spawn(server::serve(listener, self.clone(), options, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
        Ok(addr)
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        let (parts, incoming) = req.into_parts();
        let bytes = body::read_body_limited(incoming, MAX_CALL_BYTES)
            .await
            .unwrap_or_default();
        let mut call = Call {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body: bytes,
            rule: None,
        };
        let message = call.message();
        call.rule = self.rules.iter().position(|r| r.matches(&call, &message));
        let respond = call
            .rule
            .and_then(|i| self.rules.get(i))
            .map(|r| r.respond.clone());
        let described = call.describe();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        self.called.notify_waiters();
        let Some(respond) = respond else {
            return crate::transports::http::error::error_response(
                StatusCode::NOT_IMPLEMENTED,
                &format!(
                    "mock of endpoint \"{}\": no rule matches {described}",
                    self.endpoint
                ),
            );
        };
        if respond.delay > 0 {
            tokio::time::sleep(Duration::from_millis(respond.delay)).await;
        }
        response(&respond)
    }
}

impl Handler for Mock {
    fn handle(
        &self,
        req: Request<Body>,
        _peer: Peer,
    ) -> impl Future<Output = Response<Body>> + Send {
        self.answer(req)
    }
}

/// The bytes and content type of a body as written in a suite.
pub fn body_bytes(spec: &BodySpec) -> (Bytes, &'static str) {
    if let Some(json) = &spec.json {
        (Bytes::from(json.to_string()), "application/json")
    } else if let Some(xml) = &spec.xml {
        (Bytes::from(xml.clone()), "application/xml")
    } else {
        (
            Bytes::from(spec.text.clone().unwrap_or_default()),
            "text/plain",
        )
    }
}

fn response(respond: &MockResponse) -> Response<Body> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::from_u16(respond.status).unwrap_or(StatusCode::OK);
    if let Some(spec) = &respond.body {
        let (bytes, content_type) = body_bytes(spec);
        *resp.body_mut() = body::full(bytes);
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in &respond.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

/// An address on 127.0.0.1 where nothing listens: a port the system just handed out and
/// that was closed again (calls to it are refused).
pub async fn closed_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    listener.local_addr()
}

/// Points the Endpoint named `name` (or with that Synapse name) of `bundle` at `addr`: its
/// scheme, host and port become `http://addr`; its path, method, timeout and headers stay.
/// Client TLS and OAuth are dropped (the mock speaks plain HTTP and issues no tokens).
pub fn redirect(bundle: &mut Bundle, name: &str, addr: SocketAddr) -> Result<(), String> {
    for loaded in &mut bundle.resources {
        let matches =
            loaded.resource.name() == name || loaded.resource.synapse_name() == Some(name);
        let Resource::Endpoint(ep) = &mut loaded.resource else {
            continue;
        };
        if !matches {
            continue;
        }
        let spec = &mut ep.spec;
        let target = if let Some(http) = &mut spec.http {
            &mut http.uri_template
        } else if let Some(address) = &mut spec.address {
            &mut address.uri
        } else {
            return Err(format!(
                "endpoint \"{name}\" is not an http or address endpoint: it cannot be mocked"
            ));
        };
        *target = with_authority(target, addr).ok_or_else(|| {
            format!("endpoint \"{name}\": \"{target}\" has no scheme and host to replace")
        })?;
        spec.tls = None;
        spec.oauth = None;
        return Ok(());
    }
    Err(format!("endpoint \"{name}\" is not defined"))
}

/// Makes the MessageStore named `name` (or with that Synapse name) of `bundle` an
/// in-process memory store without a failover store.
pub fn in_memory(bundle: &mut Bundle, name: &str) -> Result<(), String> {
    for loaded in &mut bundle.resources {
        let matches =
            loaded.resource.name() == name || loaded.resource.synapse_name() == Some(name);
        let Resource::MessageStore(store) = &mut loaded.resource else {
            continue;
        };
        if !matches {
            continue;
        }
        let spec = &mut store.spec;
        spec.type_ = ferry_api::resources::StoreType::Memory;
        spec.memory = None;
        spec.sqlite = None;
        spec.rabbitmq = None;
        spec.postgres = None;
        spec.failover_store = None;
        return Ok(());
    }
    Err(format!("message store \"{name}\" is not defined"))
}

/// `uri` with its scheme and authority replaced by `http://addr`.
fn with_authority(uri: &str, addr: SocketAddr) -> Option<String> {
    let (_, after) = uri.split_once("://")?;
    let rest = after.find(['/', '?']).map_or("", |i| &after[i..]);
    Some(format!("http://{addr}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_replaced_and_the_path_kept() {
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            with_authority(
                "http://127.0.0.1:${config.http.port}/grandoak/{uri.var.x}/reserve",
                addr
            )
            .as_deref(),
            Some("http://127.0.0.1:4000/grandoak/{uri.var.x}/reserve")
        );
        assert_eq!(
            with_authority("https://bank.example?x=1", addr).as_deref(),
            Some("http://127.0.0.1:4000?x=1")
        );
        assert_eq!(with_authority("{uri.var.url}", addr), None);
    }
}
