//! Compiled endpoints: how a message becomes a backend request and the answer becomes the
//! message again, with retries, timeouts, suspension, failover and load balancing.
//!
//! A leaf (`http`, `address`) builds one request from the message and sends it through
//! the shared [`EndpointClient`]. Groups (`failover`, `loadbalance`) pick children. Every
//! failure is a [`Fault`] with Synapse's code, so fault sequences read the same
//! `ERROR_CODE` a Synapse user expects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferry_api::expr::{Expression, Part};
use ferry_api::resources::endpoint::{
    AddressEndpoint, AddressFormat, EndpointRef, EndpointSpec, FailoverEndpoint, HttpEndpoint,
    HttpMethod, LoadbalanceAlgorithm, LoadbalanceEndpoint, MarkForSuspension, ResponseAction,
    SuspendOnFailure,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::time::Instant;

use super::client::{CallError, EndpointClient};
use super::suspension::{SuspendPolicy, Suspension};
use crate::admin::metrics::{EndpointMetrics, EndpointOutcome, Metrics};
use crate::compile::CompileCx;
use crate::expr::context::PropertyScope;
use crate::fault::{Fault, codes};
use crate::mediators::value::{ValueSource, eval, to_text};
use crate::message::{Message, properties};
use crate::transports::http::body::{self, Body};

/// How long a call may take when its endpoint sets no timeout (Synapse's global default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest backend answer read into memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Error codes retried when a `retry` block names none: the backend was unreachable, slow
/// or dropped the connection.
const DEFAULT_RETRY_CODES: [u32; 4] = [
    codes::CONNECTION_FAILED,
    codes::TIMEOUT,
    codes::CONNECTION_CLOSED,
    codes::CONNECT_TIMEOUT,
];

/// How a successful call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The backend answered; the message now holds the response.
    Answered,
    /// The call timed out with `responseAction: discard`: the flow ends without an answer.
    Discarded,
}

/// How a streamed call ended.
pub enum Forwarded {
    /// The backend answered; its body streams.
    Answered(Response<Body>),
    /// The call timed out with `responseAction: discard`.
    Discarded,
}

/// A compiled endpoint, shared by every mediator that refers to it.
pub struct Endpoint {
    /// The name (named endpoints) or the location (inline ones): the metrics label.
    name: Arc<str>,
    kind: Kind,
}

enum Kind {
    Leaf(Box<Leaf>),
    Failover(Failover),
    Loadbalance(Loadbalance),
}

/// Where a leaf sends.
enum Target {
    Http {
        uri: Vec<UriPart>,
        method: Option<Method>,
    },
    Address {
        uri: String,
        append_postfix: bool,
        method: Option<Method>,
        message_type: Option<&'static str>,
    },
}

/// A piece of an `http` URI template.
enum UriPart {
    Literal(String),
    /// `{uri.var.x}`, `{query.param.x}` or `{x}`: a message value, percent-encoded
    /// unless `raw` (`{+x}` or `legacyEncoding`).
    Var {
        source: VarSource,
        raw: bool,
    },
    /// `${...}`: the value as text, inserted as is.
    Expr(Expression),
}

enum VarSource {
    /// `uri.var.x`: the property `uri.var.x`, else the API's path parameter `x`.
    UriVar(String),
    /// `query.param.x`: the request's query parameter `x`.
    QueryParam(String),
    /// Any other name: a property of that name.
    Property(String),
}

struct Leaf {
    target: Target,
    /// The target's URL when it is the same for every message.
    fixed_uri: Option<Uri>,
    headers: Vec<(HeaderName, ValueSource)>,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    discard_on_timeout: bool,
    retry: Retry,
    suspension: Option<Suspension>,
    client: EndpointClient,
    metrics: Arc<Metrics>,
    call_metrics: EndpointMetrics,
}

struct Retry {
    count: u32,
    delay: Duration,
    codes: Vec<u32>,
}

struct Failover {
    children: Vec<Arc<Endpoint>>,
    dynamic: bool,
    current: AtomicUsize,
}

struct Loadbalance {
    children: Vec<Arc<Endpoint>>,
    /// Child indices in the order they take turns (weights expanded at load time).
    schedule: Vec<usize>,
    next: AtomicUsize,
    failover: bool,
}

/// Characters percent-encoded in a path variable: everything but RFC 3986 unreserved ones.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Headers that describe one connection or one body framing and never cross to a backend.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::PROXY_AUTHORIZATION,
];

impl Endpoint {
    /// Resolves a mediator's endpoint reference: a named endpoint or an inline one.
    /// `field` locates the reference.
    pub fn resolve(
        reference: &EndpointRef,
        cx: &mut CompileCx<'_>,
        field: &str,
    ) -> Option<Arc<Endpoint>> {
        if reference.key_expression.is_some() {
            cx.error(
                &format!("{field}.keyExpression"),
                "keyExpression is not supported yet; name the endpoint with key",
            );
            return None;
        }
        if let Some(key) = &reference.key {
            return match cx.endpoints.get(key) {
                Some(ep) => Some(Arc::clone(ep)),
                None => {
                    cx.error(
                        &format!("{field}.key"),
                        format!("endpoint \"{key}\" is not defined"),
                    );
                    None
                }
            };
        }
        let Some(spec) = reference.inline() else {
            cx.error(field, "an endpoint needs key or an inline definition");
            return None;
        };
        let label = format!("{} {field}", cx.resource());
        Endpoint::compile(&label, &spec, cx, field).map(Arc::new)
    }

    /// Compiles an endpoint body; `field` locates it (`spec` for an Endpoint resource).
    pub fn compile(
        name: &str,
        spec: &EndpointSpec,
        cx: &mut CompileCx<'_>,
        field: &str,
    ) -> Option<Endpoint> {
        let unsupported = [
            (spec.wsdl.is_some(), "wsdl", "wsdl endpoints"),
            (
                spec.recipient_list.is_some(),
                "recipientList",
                "recipientList endpoints",
            ),
            (spec.oauth.is_some(), "oauth", "OAuth"),
            (spec.tls.is_some(), "tls", "TLS settings"),
            (spec.http2, "http2", "per-endpoint HTTP/2"),
        ];
        let mut ok = true;
        for (set, at, what) in unsupported {
            if set {
                cx.error(
                    &format!("{field}.{at}"),
                    format!("{what} are not supported yet"),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let kind = if let Some(http) = &spec.http {
            Kind::Leaf(Box::new(Leaf::compile(
                Target::http(http, cx, &format!("{field}.http"))?,
                spec,
                cx,
                field,
            )?))
        } else if let Some(address) = &spec.address {
            Kind::Leaf(Box::new(Leaf::compile(
                Target::address(address, cx, &format!("{field}.address"))?,
                spec,
                cx,
                field,
            )?))
        } else if let Some(group) = &spec.failover {
            group_has_no_leaf_settings(spec, cx, field, "failover");
            Kind::Failover(Failover::compile(group, cx, &format!("{field}.failover"))?)
        } else if let Some(group) = &spec.loadbalance {
            group_has_no_leaf_settings(spec, cx, field, "loadbalance");
            Kind::Loadbalance(Loadbalance::compile(
                group,
                cx,
                &format!("{field}.loadbalance"),
            )?)
        } else {
            cx.error(
                field,
                "an endpoint needs exactly one of http, address, failover, loadbalance",
            );
            return None;
        };
        Some(Endpoint {
            name: Arc::from(name),
            kind,
        })
    }

    /// The metrics label of this endpoint.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `msg` and replaces it with the answer. A backend's error status is an answer,
    /// not a fault; a failed call is a fault with Synapse's code.
    pub async fn call(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        Box::pin(self.call_inner(msg)).await
    }

    async fn call_inner(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        match &self.kind {
            Kind::Leaf(leaf) => leaf.call(&self.name, msg).await,
            Kind::Failover(group) => group.call(&self.name, msg).await,
            Kind::Loadbalance(group) => group.call(&self.name, msg).await,
        }
    }

    /// Whether [`Endpoint::forward`] can serve this endpoint: a single leaf that sends the
    /// body once and never computes anything from it (groups resend the body to the next
    /// child, so they need it buffered).
    pub fn streams(&self) -> bool {
        matches!(&self.kind, Kind::Leaf(leaf) if leaf.streams())
    }

    /// The request [`Endpoint::forward`] sends for `msg` (method, URI, headers; its payload
    /// is not read), with `body` streaming behind it; the message is used up. Only for
    /// endpoints that [`Endpoint::streams`].
    pub fn forward_request(&self, msg: Message, body: Body) -> Result<Request<Body>, Fault> {
        match &self.kind {
            Kind::Leaf(leaf) => leaf.forward_request(&self.name, msg, body),
            _ => Err(Fault::internal(
                codes::SENDING_FAILED,
                format!("endpoint {} cannot stream a body", self.name),
            )),
        }
    }

    /// Sends a request from [`Endpoint::forward_request`] and returns the backend's answer
    /// with its body streaming back.
    pub async fn forward(&self, request: Request<Body>) -> Result<Forwarded, Fault> {
        match &self.kind {
            Kind::Leaf(leaf) => leaf.forward(&self.name, request).await,
            _ => Err(Fault::internal(
                codes::SENDING_FAILED,
                format!("endpoint {} cannot stream a body", self.name),
            )),
        }
    }

    /// Sends `msg` as [`Endpoint::call`] does, but leaves the answer's body streaming from
    /// the backend ([`Message::set_streamed_response`]) instead of reading it: for a call
    /// whose answer nothing reads before it goes to the client. Endpoints that do not
    /// [`Endpoint::streams`] read the answer as `call` does.
    pub async fn call_streaming_answer(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        let Kind::Leaf(leaf) = &self.kind else {
            return self.call(msg).await;
        };
        if !leaf.streams() {
            return self.call(msg).await;
        }
        leaf.check_suspension(&self.name)?;
        let request = leaf.final_request(msg)?.map(body::full);
        match leaf.forward(&self.name, request).await? {
            Forwarded::Answered(answer) => {
                let (parts, body) = answer.into_parts();
                msg.set_streamed_response(parts.status, parts.headers, body);
                Ok(Delivery::Answered)
            }
            Forwarded::Discarded => Ok(Delivery::Discarded),
        }
    }

    /// Whether a call now would be tried (a suspended leaf, or a group of only suspended
    /// children, is not ready).
    fn is_ready(&self) -> bool {
        match &self.kind {
            Kind::Leaf(leaf) => leaf
                .suspension
                .as_ref()
                .is_none_or(|s| s.remaining(Instant::now()).is_none()),
            Kind::Failover(g) => g.children.iter().any(|c| c.is_ready()),
            Kind::Loadbalance(g) => g.children.iter().any(|c| c.is_ready()),
        }
    }
}

fn group_has_no_leaf_settings(
    spec: &EndpointSpec,
    cx: &mut CompileCx<'_>,
    field: &str,
    group: &str,
) {
    let settings = [
        (spec.timeout.is_some(), "timeout"),
        (spec.retry.is_some(), "retry"),
        (spec.mark_for_suspension.is_some(), "markForSuspension"),
        (spec.suspend_on_failure.is_some(), "suspendOnFailure"),
        (!spec.headers.is_empty(), "headers"),
        (spec.basic_auth.is_some(), "basicAuth"),
    ];
    for (set, at) in settings {
        if set {
            cx.error(
                &format!("{field}.{at}"),
                format!("{at} belongs on the leaf endpoints of a {group} group, not on the group"),
            );
        }
    }
}

impl Target {
    fn http(spec: &HttpEndpoint, cx: &mut CompileCx<'_>, field: &str) -> Option<Target> {
        let uri = parse_uri_template(&spec.uri_template, spec.legacy_encoding, cx, field)?;
        Some(Target::Http {
            uri,
            method: spec.method.map(method_of),
        })
    }

    fn address(spec: &AddressEndpoint, cx: &mut CompileCx<'_>, field: &str) -> Option<Target> {
        if let Err(e) = spec.uri.parse::<Uri>() {
            cx.error(&format!("{field}.uri"), format!("not a valid URL: {e}"));
            return None;
        }
        let (append_postfix, method, message_type) = match spec.format {
            None | Some(AddressFormat::Rest) => (true, None, None),
            Some(AddressFormat::Get) => (true, Some(Method::GET), None),
            Some(AddressFormat::Pox) => (false, None, Some("application/xml")),
            Some(AddressFormat::Soap11 | AddressFormat::Soap12) => {
                cx.error(
                    &format!("{field}.format"),
                    "SOAP formats are not supported yet; use pox or rest",
                );
                return None;
            }
        };
        Some(Target::Address {
            uri: spec.uri.trim_end_matches('/').to_string(),
            append_postfix,
            method,
            message_type,
        })
    }

    /// The method and URL of the request for `msg`.
    fn resolve(&self, msg: &Message) -> Result<(Method, String), Fault> {
        match self {
            Target::Http { uri, method } => {
                let mut url = String::new();
                for part in uri {
                    match part {
                        UriPart::Literal(s) => url.push_str(s),
                        UriPart::Var { source, raw } => {
                            let value = source.value(msg);
                            if *raw {
                                url.push_str(&value);
                            } else {
                                url.extend(utf8_percent_encode(&value, PATH_VALUE));
                            }
                        }
                        UriPart::Expr(e) => url.push_str(&to_text(&eval(e, msg)?)),
                    }
                }
                Ok((method.clone().unwrap_or_else(|| msg.method.clone()), url))
            }
            Target::Address {
                uri,
                append_postfix,
                method,
                ..
            } => {
                let mut url = uri.clone();
                if *append_postfix
                    && let Some(postfix) =
                        msg.property(PropertyScope::Axis2, properties::REST_URL_POSTFIX)
                {
                    let postfix = to_text(&postfix);
                    if !postfix.is_empty() && !postfix.starts_with(['/', '?']) {
                        url.push('/');
                    }
                    url.push_str(&postfix);
                }
                Ok((method.clone().unwrap_or_else(|| msg.method.clone()), url))
            }
        }
    }
}

impl Target {
    /// The URL when it does not depend on the message (literal parts only, `${config.x}`
    /// already folded in; an address without the REST postfix), parsed once at load time.
    fn fixed_uri(&self) -> Option<Uri> {
        let url = match self {
            Target::Http { uri, .. } => {
                let mut url = String::new();
                for part in uri {
                    let UriPart::Literal(text) = part else {
                        return None;
                    };
                    url.push_str(text);
                }
                url
            }
            Target::Address {
                uri,
                append_postfix: false,
                ..
            } => uri.clone(),
            Target::Address { .. } => return None,
        };
        url.parse().ok()
    }

    fn method(&self) -> Option<&Method> {
        match self {
            Target::Http { method, .. } | Target::Address { method, .. } => method.as_ref(),
        }
    }
}

impl VarSource {
    fn value(&self, msg: &Message) -> String {
        match self {
            VarSource::UriVar(name) => msg
                .property(PropertyScope::Default, &format!("uri.var.{name}"))
                .map(|v| to_text(&v))
                .or_else(|| msg.uri_param(name).map(str::to_owned))
                .unwrap_or_default(),
            VarSource::QueryParam(name) => msg
                .property(PropertyScope::Default, &format!("query.param.{name}"))
                .map(|v| to_text(&v))
                .or_else(|| msg.query_param(name).map(str::to_owned))
                .unwrap_or_default(),
            VarSource::Property(name) => msg
                .property(PropertyScope::Default, name)
                .map(|v| to_text(&v))
                .unwrap_or_default(),
        }
    }
}

/// The value of an expression that is exactly `${config.key}` with the key set.
fn config_value<'a>(
    e: &Expression,
    config: &'a std::collections::HashMap<String, String>,
) -> Option<&'a str> {
    let Expression::Synapse(e) = e else {
        return None;
    };
    let ferry_api::expr::Node::Path {
        root: ferry_api::expr::Root::Config(key),
        segments,
    } = &e.root
    else {
        return None;
    };
    if !segments.is_empty() {
        return None;
    }
    config.get(key).map(String::as_str)
}

/// Splits an `http` URI template into literals, `{variables}` and `${expressions}`.
fn parse_uri_template(
    src: &str,
    legacy_encoding: bool,
    cx: &mut CompileCx<'_>,
    field: &str,
) -> Option<Vec<UriPart>> {
    let field = format!("{field}.uriTemplate");
    let template = cx.template(&field, src)?;
    let mut parts = Vec::new();
    for part in template.parts {
        match part {
            // `${config.x}` is fixed for the life of a configuration: resolved here, not
            // per request.
            Part::Expr(e) => match config_value(&e, &cx.env.config) {
                Some(value) => parts.push(UriPart::Literal(value.to_string())),
                None => parts.push(UriPart::Expr(e)),
            },
            Part::Arg(_) => {}
            Part::Literal(text) => {
                let mut rest = text.as_str();
                while let Some(open) = rest.find('{') {
                    let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                        cx.error(&field, format!("unclosed {{ in {src:?}"));
                        return None;
                    };
                    if open > 0 {
                        parts.push(UriPart::Literal(rest[..open].to_string()));
                    }
                    let var = &rest[open + 1..close];
                    let (raw, var) = match var.strip_prefix('+') {
                        Some(v) => (true, v),
                        None => (legacy_encoding, var),
                    };
                    if var.is_empty() {
                        cx.error(&field, format!("empty variable {{}} in {src:?}"));
                        return None;
                    }
                    let source = if let Some(n) = var.strip_prefix("uri.var.") {
                        VarSource::UriVar(n.to_string())
                    } else if let Some(n) = var.strip_prefix("query.param.") {
                        VarSource::QueryParam(n.to_string())
                    } else {
                        VarSource::Property(var.to_string())
                    };
                    parts.push(UriPart::Var { source, raw });
                    rest = &rest[close + 1..];
                }
                if !rest.is_empty() {
                    parts.push(UriPart::Literal(rest.to_string()));
                }
            }
        }
    }
    Some(parts)
}

fn method_of(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
    }
}

impl Leaf {
    fn compile(
        target: Target,
        spec: &EndpointSpec,
        cx: &mut CompileCx<'_>,
        field: &str,
    ) -> Option<Leaf> {
        let mut ok = true;
        let mut headers = Vec::with_capacity(spec.headers.len());
        for (i, h) in spec.headers.iter().enumerate() {
            let hf = format!("{field}.headers[{i}]");
            let name = match HeaderName::from_bytes(h.name.as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    cx.error(
                        &format!("{hf}.name"),
                        format!("{:?} is not a valid header name", h.name),
                    );
                    ok = false;
                    continue;
                }
            };
            match ValueSource::compile(cx, &hf, h.value.as_deref(), h.expression.as_deref()) {
                Some(v) => headers.push((name, v)),
                None => ok = false,
            }
        }
        let authorization = match &spec.basic_auth {
            None => None,
            Some(auth) => {
                let af = format!("{field}.basicAuth.passwordFrom");
                match auth.password_from.env_var() {
                    None => {
                        cx.error(&af, "set env or secretKeyRef");
                        ok = false;
                        None
                    }
                    Some(var) => {
                        match std::env::var(&var) {
                            Ok(password) => basic_authorization(&auth.username, &password),
                            Err(_) => {
                                cx.error(
                                &af,
                                format!("the environment variable {var} holding the password is not set"),
                            );
                                ok = false;
                                None
                            }
                        }
                    }
                }
            }
        };
        let (timeout, discard_on_timeout) = match &spec.timeout {
            None => (DEFAULT_TIMEOUT, false),
            Some(t) => (
                t.duration.map_or(DEFAULT_TIMEOUT, Duration::from_millis),
                t.response_action == ResponseAction::Discard,
            ),
        };
        let retry = match &spec.retry {
            None => Retry {
                count: 0,
                delay: Duration::ZERO,
                codes: Vec::new(),
            },
            Some(r) => Retry {
                count: r.count,
                delay: Duration::from_millis(r.delay),
                codes: if r.error_codes.is_empty() {
                    DEFAULT_RETRY_CODES.to_vec()
                } else {
                    error_codes(&r.error_codes, cx, &format!("{field}.retry.errorCodes"))?
                },
            },
        };
        let suspension = suspension_policy(
            spec.mark_for_suspension.as_ref(),
            spec.suspend_on_failure.as_ref(),
            cx,
            field,
        )?
        .map(Suspension::new);
        if !ok {
            return None;
        }
        Some(Leaf {
            fixed_uri: target.fixed_uri(),
            target,
            headers,
            authorization,
            timeout,
            discard_on_timeout,
            retry,
            suspension,
            client: cx.env.client.clone(),
            metrics: Arc::clone(&cx.env.metrics),
            call_metrics: EndpointMetrics::default(),
        })
    }

    async fn call(&self, name: &Arc<str>, msg: &mut Message) -> Result<Delivery, Fault> {
        self.check_suspension(name)?;
        let request = self.request(msg)?;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self
                .client
                .send_buffered(request.clone(), Some(self.timeout), MAX_RESPONSE_BYTES)
                .await;
            let elapsed = started.elapsed();
            match result {
                Ok(response) => {
                    self.call_metrics.record(
                        &self.metrics,
                        name,
                        EndpointOutcome::Success,
                        elapsed,
                    );
                    if let Some(s) = &self.suspension {
                        s.on_success();
                    }
                    let (parts, body) = response.into_parts();
                    let mut headers = parts.headers;
                    strip_hop_by_hop(&mut headers);
                    msg.set_response(parts.status, headers, body);
                    return Ok(Delivery::Answered);
                }
                Err(err) => {
                    self.call_metrics.record(
                        &self.metrics,
                        name,
                        EndpointOutcome::Failure,
                        elapsed,
                    );
                    self.metrics.record_endpoint_error(name, err.synapse_code);
                    if attempt < self.retry.count && self.retry.codes.contains(&err.synapse_code) {
                        attempt += 1;
                        tracing::debug!(endpoint = %name, attempt, error = %err, "retrying");
                        if !self.retry.delay.is_zero() {
                            tokio::time::sleep(self.retry.delay).await;
                        }
                        continue;
                    }
                    if let Some(s) = &self.suspension {
                        s.on_failure(err.synapse_code, Instant::now());
                    }
                    if self.discard_on_timeout && err.synapse_code == codes::TIMEOUT {
                        tracing::info!(endpoint = %name, "call timed out; response discarded as configured");
                        return Ok(Delivery::Discarded);
                    }
                    return Err(call_fault(name, &err));
                }
            }
        }
    }

    /// The request for `msg`; built once per call so retries resend the same bytes.
    fn request(&self, msg: &Message) -> Result<Request<Bytes>, Fault> {
        let (method, uri, body, content_type) = self.request_parts(msg)?;
        let own = self.own_headers(msg)?;
        Ok(assemble(
            method,
            uri,
            body,
            &content_type,
            msg.headers.clone(),
            own,
        ))
    }

    /// The request for a call whose answer replaces the message and after which no fault
    /// sequence can run ([`Endpoint::call_streaming_answer`]): the message's headers move
    /// into it instead of being copied.
    fn final_request(&self, msg: &mut Message) -> Result<Request<Bytes>, Fault> {
        let (method, uri, body, content_type) = self.request_parts(msg)?;
        let own = self.own_headers(msg)?;
        let headers = std::mem::take(&mut msg.headers);
        Ok(assemble(method, uri, body, &content_type, headers, own))
    }

    /// Method, URI, body and the body's content type of the request for `msg`.
    fn request_parts(&self, msg: &Message) -> Result<(Method, Uri, Bytes, String), Fault> {
        let (method, uri) = self.method_and_uri(msg)?;
        let (body, content_type) = if matches!(method, Method::GET | Method::HEAD) {
            Ok((Bytes::new(), String::new()))
        } else if let Target::Address {
            message_type: Some(mt),
            ..
        } = &self.target
        {
            // The endpoint's format decides the message type: write from a copy so the
            // message itself keeps its own.
            let mut out = msg.clone();
            out.set_property(PropertyScope::Axis2, properties::MESSAGE_TYPE, (*mt).into());
            out.body_bytes()
        } else {
            // No copy of the message: cloning it would deep-copy a parsed payload (100 KiB
            // of JSON after a switch on one field) only to serialise the unchanged bytes.
            msg.body_bytes()
        }
        .map_err(|e| {
            Fault::bad_request(codes::PARSE_ERROR, format!("cannot write the payload: {e}"))
        })?;
        Ok((method, uri, body, content_type))
    }

    fn method_and_uri(&self, msg: &Message) -> Result<(Method, Uri), Fault> {
        if let Some(uri) = &self.fixed_uri {
            let method = self.target.method().unwrap_or(&msg.method).clone();
            return Ok((method, uri.clone()));
        }
        let (method, url) = self.target.resolve(msg)?;
        let uri: Uri = url.parse().map_err(|e| {
            Fault::upstream(
                codes::SENDING_FAILED,
                format!("the endpoint URL {url:?} is not valid: {e}"),
                false,
            )
        })?;
        Ok((method, uri))
    }

    /// The endpoint's own headers for `msg`, with the credentials.
    fn own_headers(&self, msg: &Message) -> Result<Vec<(HeaderName, HeaderValue)>, Fault> {
        let mut own = Vec::with_capacity(self.headers.len() + 1);
        for (name, value) in &self.headers {
            let text = value.eval_string(msg)?;
            let value = HeaderValue::from_str(&text).map_err(|_| {
                Fault::internal(
                    codes::SENDING_FAILED,
                    format!("header {name}: {text:?} is not a valid header value"),
                )
            })?;
            own.push((name.clone(), value));
        }
        if let Some(auth) = &self.authorization {
            own.push((header::AUTHORIZATION, auth.clone()));
        }
        Ok(own)
    }

    /// Whether this leaf can forward a body it never sees: it sends once (no retries, which
    /// would need the body again), converts no format, and computes neither its URL nor its
    /// headers from the payload.
    fn streams(&self) -> bool {
        let target = match &self.target {
            Target::Http { uri, .. } => !uri
                .iter()
                .any(|p| matches!(p, UriPart::Expr(e) if e.uses_payload())),
            Target::Address { message_type, .. } => message_type.is_none(),
        };
        target
            && self.retry.count == 0
            && self
                .headers
                .iter()
                .all(|(_, v)| !matches!(v, ValueSource::Expr(e) if e.uses_payload()))
    }

    /// The request for `msg` with `body` streaming behind it (built before anything is
    /// awaited: a message is not shared across threads).
    fn forward_request(
        &self,
        name: &Arc<str>,
        mut msg: Message,
        body: Body,
    ) -> Result<Request<Body>, Fault> {
        self.check_suspension(name)?;
        let (method, uri) = self.method_and_uri(&msg)?;
        let body = if matches!(method, Method::GET | Method::HEAD) {
            body::empty()
        } else {
            body
        };
        // The message ends here: its headers move into the request instead of being copied.
        let own = self.own_headers(&msg)?;
        let mut headers = std::mem::take(&mut msg.headers);
        add_headers(&mut headers, own);
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends a streamed request and returns the answer with its body streaming back,
    /// bounded by the endpoint's timeout.
    async fn forward(&self, name: &Arc<str>, request: Request<Body>) -> Result<Forwarded, Fault> {
        let started = Instant::now();
        let timer = Box::pin(tokio::time::sleep_until(started + self.timeout));
        match self.client.send_timed(request, timer, self.timeout).await {
            Ok((response, timer)) => {
                self.call_metrics.record(
                    &self.metrics,
                    name,
                    EndpointOutcome::Success,
                    started.elapsed(),
                );
                if let Some(s) = &self.suspension {
                    s.on_success();
                }
                let (mut parts, incoming) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = body::with_timer(incoming, timer);
                Ok(Forwarded::Answered(Response::from_parts(parts, body)))
            }
            Err(err) => {
                self.call_metrics.record(
                    &self.metrics,
                    name,
                    EndpointOutcome::Failure,
                    started.elapsed(),
                );
                self.metrics.record_endpoint_error(name, err.synapse_code);
                if let Some(s) = &self.suspension {
                    s.on_failure(err.synapse_code, Instant::now());
                }
                if self.discard_on_timeout && err.synapse_code == codes::TIMEOUT {
                    tracing::info!(endpoint = %name, "call timed out; response discarded as configured");
                    return Ok(Forwarded::Discarded);
                }
                Err(call_fault(name, &err))
            }
        }
    }

    fn check_suspension(&self, name: &Arc<str>) -> Result<(), Fault> {
        if let Some(s) = &self.suspension
            && let Some(left) = s.remaining(Instant::now())
        {
            self.call_metrics.record(
                &self.metrics,
                name,
                EndpointOutcome::Suspended,
                Duration::ZERO,
            );
            return Err(Fault::upstream(
                codes::ENDPOINT_SUSPENDED,
                format!(
                    "endpoint {name} is suspended for another {} ms after failures",
                    left.as_millis()
                ),
                false,
            ));
        }
        Ok(())
    }
}

fn basic_authorization(user: &str, password: &str) -> Option<HeaderValue> {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A backend request: the message's headers with the body's content type, connection
/// headers out and the endpoint's own headers in.
fn assemble(
    method: Method,
    uri: Uri,
    body: Bytes,
    content_type: &str,
    mut headers: HeaderMap,
    own: Vec<(HeaderName, HeaderValue)>,
) -> Request<Bytes> {
    headers.remove(header::CONTENT_TYPE);
    if !content_type.is_empty()
        && let Ok(v) = HeaderValue::from_str(content_type)
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    add_headers(&mut headers, own);
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
}

/// Connection headers out, the endpoint's own headers in.
fn add_headers(headers: &mut HeaderMap, own: Vec<(HeaderName, HeaderValue)>) {
    strip_hop_by_hop(headers);
    for (name, value) in own {
        headers.insert(name, value);
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Looking at the few names a message has is cheaper than removing each of the ten
    // (every removal hashes its name); usually only Host and Content-Length are there.
    let mut found: [Option<HeaderName>; 10] = Default::default();
    let mut count = 0;
    for name in headers.keys() {
        if count < found.len() && is_hop_by_hop(name) {
            found[count] = Some(name.clone());
            count += 1;
        }
    }
    for name in found.into_iter().flatten() {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name == "keep-alive" || name == "proxy-connection"
}

fn call_fault(name: &str, err: &CallError) -> Fault {
    Fault::upstream(
        err.synapse_code,
        format!("endpoint {name}: {}", err.message),
        err.is_retryable(),
    )
}

fn error_codes(codes: &[i32], cx: &mut CompileCx<'_>, field: &str) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(codes.len());
    for (i, c) in codes.iter().enumerate() {
        match u32::try_from(*c) {
            Ok(c) => out.push(c),
            Err(_) => {
                cx.error(
                    &format!("{field}[{i}]"),
                    "an error code is a positive number",
                );
                return None;
            }
        }
    }
    Some(out)
}

/// The suspension policy, when the endpoint asks for one. Ferry suspends an endpoint only
/// when `suspendOnFailure` or `markForSuspension` is written: a single backend behind an
/// API should not be taken out by one failure unless the user said so.
fn suspension_policy(
    mark: Option<&MarkForSuspension>,
    suspend: Option<&SuspendOnFailure>,
    cx: &mut CompileCx<'_>,
    field: &str,
) -> Option<Option<SuspendPolicy>> {
    if mark.is_none() && suspend.is_none() {
        return Some(None);
    }
    let mark_codes = match mark {
        Some(m) if !m.error_codes.is_empty() => error_codes(
            &m.error_codes,
            cx,
            &format!("{field}.markForSuspension.errorCodes"),
        )?,
        _ => vec![codes::TIMEOUT, codes::CONNECTION_CLOSED],
    };
    let suspend_codes = match suspend {
        Some(s) if !s.error_codes.is_empty() => Some(error_codes(
            &s.error_codes,
            cx,
            &format!("{field}.suspendOnFailure.errorCodes"),
        )?),
        _ => None,
    };
    let defaults = SuspendOnFailure {
        error_codes: Vec::new(),
        initial_duration: 30_000,
        progression_factor: 1.0,
        maximum_duration: None,
    };
    let s = suspend.unwrap_or(&defaults);
    if !(s.progression_factor.is_finite() && s.progression_factor >= 1.0) {
        cx.error(
            &format!("{field}.suspendOnFailure.progressionFactor"),
            "must be a number of at least 1",
        );
        return None;
    }
    Some(Some(SuspendPolicy {
        mark_codes,
        suspend_codes,
        retries_before_suspension: mark.map_or(0, |m| m.retries_before_suspension),
        initial: Duration::from_millis(s.initial_duration),
        progression_factor: s.progression_factor,
        maximum: s.maximum_duration.map(Duration::from_millis),
    }))
}

fn children(
    refs: &[EndpointRef],
    cx: &mut CompileCx<'_>,
    field: &str,
) -> Option<Vec<Arc<Endpoint>>> {
    if refs.is_empty() {
        cx.error(
            &format!("{field}.endpoints"),
            "a group needs at least one endpoint",
        );
        return None;
    }
    let mut out = Vec::with_capacity(refs.len());
    let mut ok = true;
    for (i, r) in refs.iter().enumerate() {
        match Endpoint::resolve(r, cx, &format!("{field}.endpoints[{i}]")) {
            Some(ep) => out.push(ep),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

impl Failover {
    fn compile(spec: &FailoverEndpoint, cx: &mut CompileCx<'_>, field: &str) -> Option<Failover> {
        Some(Failover {
            children: children(&spec.endpoints, cx, field)?,
            dynamic: spec.dynamic,
            current: AtomicUsize::new(0),
        })
    }

    /// Tries the children in order (from the first with `dynamic`, else from the one that
    /// last worked), skipping suspended ones; the first answer wins.
    async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let n = self.children.len();
        let start = if self.dynamic {
            0
        } else {
            self.current.load(Ordering::Relaxed) % n
        };
        let mut last = None;
        for i in 0..n {
            let index = (start + i) % n;
            let child = &self.children[index];
            if !child.is_ready() {
                continue;
            }
            let mut attempt = msg.clone();
            match child.call(&mut attempt).await {
                Ok(delivery) => {
                    self.current.store(index, Ordering::Relaxed);
                    *msg = attempt;
                    return Ok(delivery);
                }
                Err(fault) if fault.source == crate::fault::FaultSource::Upstream => {
                    tracing::debug!(group = %name, child = %child.name, error = %fault.message, "failing over");
                    last = Some(fault);
                }
                Err(fault) => return Err(fault),
            }
        }
        Err(last.unwrap_or_else(|| no_child_ready(name)))
    }
}

fn no_child_ready(name: &str) -> Fault {
    Fault::upstream(
        codes::NO_CHILD_READY,
        format!("endpoint {name}: no child endpoint is ready (all are suspended)"),
        false,
    )
}

impl Loadbalance {
    fn compile(
        spec: &LoadbalanceEndpoint,
        cx: &mut CompileCx<'_>,
        field: &str,
    ) -> Option<Loadbalance> {
        if spec.session.is_some() {
            cx.error(
                &format!("{field}.session"),
                "session affinity is not supported yet",
            );
            return None;
        }
        let children = children(&spec.endpoints, cx, field)?;
        let schedule = match spec.algorithm {
            LoadbalanceAlgorithm::RoundRobin => (0..children.len()).collect(),
            LoadbalanceAlgorithm::WeightedRoundRobin => {
                if spec.weights.len() != children.len() || spec.weights.iter().all(|w| *w == 0) {
                    cx.error(
                        &format!("{field}.weights"),
                        format!(
                            "weightedRoundRobin needs one weight per endpoint ({} endpoints, {} weights), not all 0",
                            children.len(),
                            spec.weights.len()
                        ),
                    );
                    return None;
                }
                weighted_schedule(&spec.weights)
            }
        };
        Some(Loadbalance {
            children,
            schedule,
            next: AtomicUsize::new(0),
            failover: spec.failover,
        })
    }

    /// Sends to the next child in turn; with `failover`, a failed or suspended child passes
    /// the message to the following ones.
    async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let first = self.schedule[turn % self.schedule.len()];
        let n = self.children.len();
        let tries = if self.failover { n } else { 1 };
        let mut last = None;
        for i in 0..tries {
            let child = &self.children[(first + i) % n];
            if !child.is_ready() {
                continue;
            }
            if !self.failover {
                return child.call(msg).await;
            }
            let mut attempt = msg.clone();
            match child.call(&mut attempt).await {
                Ok(delivery) => {
                    *msg = attempt;
                    return Ok(delivery);
                }
                Err(fault) if fault.source == crate::fault::FaultSource::Upstream => {
                    last = Some(fault);
                }
                Err(fault) => return Err(fault),
            }
        }
        Err(last.unwrap_or_else(|| no_child_ready(name)))
    }
}

/// Smooth weighted round robin, unrolled once at load time: over one cycle of
/// `sum(weights)` turns each child gets its weight's share, spread out rather than bunched.
fn weighted_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
        else {
            break;
        };
        current[best] -= total;
        schedule.push(best);
    }
    schedule
}

#[cfg(test)]
mod tests;
