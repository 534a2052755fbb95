//! The API dispatcher: the HTTP handler that routes a request to an API resource, runs its
//! sequences on the message, and turns the outcome into the response.
//!
//! It reads the configuration through an `ArcSwap` once per request: a reload swaps in a new
//! configuration for the next requests while this one finishes on the one it started with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Body as _;
use serde_json::Value;
use tracing::Instrument;

use crate::admin::metrics::Metrics;
use crate::compiled::{Compiled, CompiledApi, CompiledResource};
use crate::endpoints::endpoint::Forwarded;
use crate::expr::context::PropertyScope;
use crate::fault::Fault;
use crate::message::{Message, properties, soap};
use crate::passthrough::Passthrough;
use crate::security::{Denial, Identity};
use crate::sequence::{self, Env, Flow};
use crate::timeouts::Timeout;
use crate::transports::http::body::{self, Body, BodyError};
use crate::transports::http::cors::Cors;
use crate::transports::http::deadline::{BodyProgress, Tracked};
use crate::transports::http::error::{self, error_response, json_response};
use crate::transports::http::server::{Handler, Peer, TlsConnection};
use ferry_api::routes::RouteMatch;

/// Path parameters, query parameters and the URL postfix of a routed request.
type RouteParams = (Vec<(String, String)>, Vec<(String, String)>, String);

/// Where a request came from: the client's address, and its TLS connection over HTTPS.
type Origin = (Option<SocketAddr>, Option<Arc<TlsConnection>>);

/// How long a request may take, counted from its head (`ferry run --request-body-timeout`,
/// `--request-timeout`). `None` waits forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTimeouts {
    /// The whole body must have arrived by then, else `408`.
    pub body: Option<Duration>,
    /// The answer's head must be ready by then, else `504` (`408` if the body is still
    /// arriving).
    pub total: Option<Duration>,
}

impl RequestTimeouts {
    /// When the body of a request that started at `started` is due, and the timeout that
    /// makes it so: the total deadline at the latest, the body being part of the request.
    fn body_deadline(&self, started: Instant) -> Option<(Instant, Duration)> {
        let due = match (self.body, self.total) {
            (Some(body), Some(total)) => body.min(total),
            (Some(timeout), None) | (None, Some(timeout)) => timeout,
            (None, None) => return None,
        };
        Some((started + due, due))
    }
}

/// Serves the APIs of the current configuration.
pub struct Dispatcher {
    current: Arc<ArcSwap<Compiled>>,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    timeouts: RequestTimeouts,
}

impl Dispatcher {
    /// A dispatcher over `current`, reading request bodies up to `max_body_bytes`.
    pub fn new(
        current: Arc<ArcSwap<Compiled>>,
        metrics: Arc<Metrics>,
        max_body_bytes: usize,
    ) -> Self {
        Self {
            current,
            metrics,
            max_body_bytes,
            timeouts: RequestTimeouts::default(),
        }
    }

    /// The same dispatcher, bounding how long a request takes (none by default).
    pub fn with_timeouts(mut self, timeouts: RequestTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Answers one request. The client's address and TLS connection, when known, are the
    /// request's [`ClientAddr`] and `Arc<TlsConnection>` extensions (the listener passes
    /// them as a [`Peer`] instead, see [`Handler::handle`]).
    pub fn dispatch(&self, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        let remote = req.extensions().get::<ClientAddr>().map(|addr| addr.0);
        let tls = req.extensions().get::<Arc<TlsConnection>>().cloned();
        self.serve(req, remote, tls)
    }

    async fn serve(
        &self,
        req: Request<Body>,
        remote: Option<SocketAddr>,
        tls: Option<Arc<TlsConnection>>,
    ) -> Response<Body> {
        let compiled = self.current.load_full();
        let (mut parts, body) = req.into_parts();
        // In the request's headers from here: backends and stores see it too.
        let correlation = crate::telemetry::correlation::ensure(&mut parts.headers);
        let path = parts.uri.path().to_string();
        let found = compiled
            .routes
            .route(&parts.method, &path, parts.uri.query());
        // CORS first: a preflight is answered for the API, whatever its resources serve.
        let cors = found_api(&found)
            .and_then(|i| compiled.apis.get(i))
            .and_then(|api| api.cors.as_ref());
        if let Some(cors) = cors {
            if Cors::is_preflight(&parts.method, &parts.headers) {
                let resp = cors.preflight(&parts.headers, |m| {
                    matches!(
                        compiled.routes.route(m, &path, parts.uri.query()),
                        RouteMatch::Found { .. }
                    )
                });
                return with_correlation(resp, correlation);
            }
            let origin = parts.headers.get(header::ORIGIN).cloned();
            let peer = (remote, tls);
            let mut resp = Box::pin(self.dispatch_found(
                &compiled,
                (parts, body),
                peer,
                path,
                found,
                correlation.as_ref(),
            ))
            .await;
            cors.decorate(origin.as_ref(), &mut resp);
            return with_correlation(resp, correlation);
        }
        let resp = self
            .dispatch_found(
                &compiled,
                (parts, body),
                (remote, tls),
                path,
                found,
                correlation.as_ref(),
            )
            .await;
        with_correlation(resp, correlation)
    }

    /// Answers a request whose route lookup gave `found`.
    async fn dispatch_found(
        &self,
        compiled: &Arc<Compiled>,
        (mut parts, body): (http::request::Parts, Body),
        (remote, tls): Origin,
        path: String,
        found: RouteMatch,
        correlation: Option<&HeaderValue>,
    ) -> Response<Body> {
        let correlation_id = correlation.and_then(|v| v.to_str().ok()).unwrap_or("");
        let (api_index, resource_index, params) = match found {
            RouteMatch::Found {
                api,
                resource,
                uri_params,
                query_params,
                url_postfix,
            } => (api, resource, (uri_params, query_params, url_postfix)),
            RouteMatch::MethodNotAllowed { allow, .. } => {
                let allow = allow
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut resp = error_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("{} is not allowed on {path}", parts.method),
                );
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
                return resp;
            }
            RouteMatch::NotFound { api: None } => {
                return error_response(StatusCode::NOT_FOUND, &format!("no API matches {path}"));
            }
            // The context matched: say which API has no such resource, so a typo in the
            // resource part is not mistaken for a missing or undeployed API.
            RouteMatch::NotFound { api: Some(api) } => {
                let name = compiled.apis.get(api).map_or("?", |api| &*api.name);
                return error_response(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "no resource of API \"{name}\" matches {} {path}",
                        parts.method
                    ),
                );
            }
        };
        let api = &compiled.apis[api_index];
        let resource = &api.resources[resource_index];
        resource.coverage.hit();
        if let Some(refused) = transport_refusal(api, resource, tls.as_deref(), &path) {
            return refused;
        }
        let started = Instant::now();
        let body_deadline = self.timeouts.body_deadline(started);
        let pass = resource
            .passthrough
            .as_ref()
            .filter(|_| Passthrough::fits(parts.version, &parts.headers, self.max_body_bytes));
        // Whether the body has arrived in full, for the one timer below to tell a slow body
        // (408) from a slow flow (504). A passthrough's body is read by the backend call, not
        // here, so the body itself reports it.
        let progress = match body_deadline {
            Some(_) if !body.is_end_stream() => Some(Arc::new(BodyProgress::default())),
            _ => None,
        };
        let span = tracing::debug_span!("message", api = %api.name, resource = %resource.label, correlation_id);
        let method = parts.method.clone();
        // Tracing off: one branch, nothing allocated.
        let trace =
            crate::telemetry::tracer().and_then(|_| server_trace(api, resource, &parts, remote));
        let work = async {
            // The caller's identity rides in the request's extensions to the mediation.
            let identity = match &api.authenticator {
                None => None,
                // Boxed: only protected APIs pay for the JWKS fetch's state in their future.
                Some(auth) => match Box::pin(auth.authenticate(
                    &parts.headers,
                    parts.uri.query(),
                    &resource.requirement,
                ))
                .await
                {
                    Ok(identity) => identity,
                    Err(denial) => {
                        return Box::pin(deny(compiled, api, resource, parts, params, denial))
                            .await;
                    }
                },
            };
            if let Some(identity) = identity {
                parts.extensions.insert(identity);
            }
            if let Some(trace) = &trace {
                parts.extensions.insert(trace.clone());
            }
            if let Some(pass) = pass {
                let soap = soap::request_version(&parts.headers);
                let body = match &progress {
                    Some(progress) => body::boxed(Tracked::new(body, progress.clone())),
                    None => body,
                };
                let endpoint = pass.endpoint();
                // A fixed URL and literal headers: no message is made, nothing reads one.
                let made = if endpoint.forwards_heads() {
                    endpoint.forward_head(parts, body, trace.as_ref())
                } else {
                    let mut msg = request_message(parts, Bytes::new(), compiled, &api.name, params);
                    msg.set_trace(trace.clone());
                    transport_properties(&mut msg, tls.as_deref());
                    endpoint.forward_request(msg, body)
                };
                let request = match made {
                    Ok(request) => request,
                    Err(fault) => {
                        log_fault(api, resource, &fault, correlation_id);
                        return fault_response(&fault, soap);
                    }
                };
                // Boxed like the mediation below: the endpoint call's state (retries, the
                // pooled connection, the client's future) would otherwise be inline in every
                // request's future, copied on each of its moves.
                return match Box::pin(pass.endpoint().forward(request)).await {
                    Ok(Forwarded::Answered(answer)) => streamed_response(answer),
                    Ok(Forwarded::Discarded) => empty_response(StatusCode::ACCEPTED),
                    Err(fault) => {
                        log_fault(api, resource, &fault, correlation_id);
                        fault_response(&fault, soap)
                    }
                };
            }
            // Boxed: the mediation's future is many times the size of the passthrough's, and
            // hyper moves the request's future into place by value; unboxed, every request,
            // passthrough too, would copy the larger one.
            Box::pin(self.mediate(
                compiled,
                api,
                resource,
                (Request::from_parts(parts, body), (remote, tls)),
                params,
                progress.as_deref(),
            ))
            .await
        }
        .instrument(span);
        let total_due = self.timeouts.total.map(|total| started + total);
        let response = match (body_deadline.filter(|_| progress.is_some()), total_due) {
            (None, None) => work.await,
            (body_due, total_due) => {
                match within(
                    work,
                    body_due.map(|(due, _)| due),
                    total_due,
                    progress.as_deref(),
                )
                .await
                {
                    Ok(response) => response,
                    Err(Expired::Body) => body_too_slow(api, resource, body_deadline),
                    Err(Expired::Total) => {
                        let total = self.timeouts.total.unwrap_or_default();
                        tracing::warn!(
                            api = %api.name,
                            resource = %resource.label,
                            timeout = ?total,
                            "the request was not answered within the request timeout; its flow is abandoned"
                        );
                        error_response(
                            StatusCode::GATEWAY_TIMEOUT,
                            &format!("the request was not answered within {total:?}"),
                        )
                    }
                }
            }
        };
        if let Some(trace) = &trace {
            trace.http_status(response.status().as_u16(), false);
            trace.end();
        }
        resource.metrics.record(
            &self.metrics,
            &api.name,
            &resource.label,
            &method,
            response.status().as_u16(),
            started.elapsed(),
        );
        response
    }

    /// Reads the request into a message and runs the resource's sequences on it.
    async fn mediate(
        &self,
        compiled: &Arc<Compiled>,
        api: &CompiledApi,
        resource: &CompiledResource,
        (req, (remote, tls)): (Request<Body>, Origin),
        params: RouteParams,
        progress: Option<&BodyProgress>,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let soap = soap::request_version(&parts.headers);
        let identity = parts.extensions.remove::<Identity>();
        let trace = parts.extensions.remove::<crate::telemetry::Trace>();
        // The body's deadline is watched by the caller's one timer (see `within`).
        let read = body::read_body_limited(body, self.max_body_bytes).await;
        if let Some(progress) = progress {
            progress.arrived();
        }
        let bytes = match read {
            Ok(b) => b,
            Err(BodyError::TooLarge { .. }) => return error::too_large(self.max_body_bytes),
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the request body: {e}"),
                );
            }
        };
        let mut msg = request_message(parts, bytes, compiled, &api.name, params);
        msg.set_trace(trace);
        if let Some(addr) = remote {
            msg.set_property(
                PropertyScope::Axis2,
                properties::REMOTE_ADDR,
                Value::String(addr.ip().to_string()),
            );
        }
        if let Some(identity) = identity {
            identity.apply(&mut msg);
        }
        transport_properties(&mut msg, tls.as_deref());
        let env = Env {
            out_sequence: resource.out_sequence.as_ref(),
            trace_mediators: api.trace,
            ..Env::new(compiled)
        };
        let flow = match sequence::run(&resource.in_sequence.mediators, &mut msg, env).await {
            Ok(flow) => flow,
            Err(fault) => match handle_fault(api, resource, &fault, &mut msg, env, soap).await {
                Ok(flow) => flow,
                Err(response) => return response,
            },
        };
        let fault = match answer(&mut msg, flow) {
            Ok(response) => return response,
            Err(fault) => fault,
        };
        // Writing the answer read the payload for the first time (`messageType` asked for a
        // conversion) and it does not parse: the fault a mediator reading it would have
        // raised, for the same fault sequences.
        match handle_fault(api, resource, &fault, &mut msg, env, soap).await {
            Ok(flow) => answer(&mut msg, flow).unwrap_or_else(|again| {
                log_fault(api, resource, &again, msg.correlation_id());
                fault_response(&again, soap)
            }),
            Err(response) => response,
        }
    }
}

/// The answer with the request's correlation id in its headers.
fn with_correlation(mut resp: Response<Body>, id: Option<HeaderValue>) -> Response<Body> {
    if let (Some(name), Some(id)) = (crate::telemetry::correlation::header(), id) {
        resp.headers_mut().insert(name.clone(), id);
    }
    resp
}

/// The server span of a request routed to `resource`, under the caller's trace context
/// when its headers carry one (HTTP server semantic conventions).
fn server_trace(
    api: &CompiledApi,
    resource: &CompiledResource,
    parts: &http::request::Parts,
    remote: Option<SocketAddr>,
) -> Option<crate::telemetry::Trace> {
    use opentelemetry::KeyValue;
    let method = parts.method.as_str();
    let name = format!("{method} {}", resource.label);
    let attributes = || {
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", resource.label.to_string()),
            KeyValue::new("url.path", parts.uri.path().to_string()),
            KeyValue::new("ferry.api", api.name.to_string()),
        ];
        if let Some(query) = parts.uri.query() {
            attributes.push(KeyValue::new("url.query", query.to_string()));
        }
        if let Some(addr) = remote {
            attributes.push(KeyValue::new("client.address", addr.ip().to_string()));
        }
        if let Some(agent) = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(KeyValue::new("user_agent.original", agent.to_string()));
        }
        attributes
    };
    crate::telemetry::Trace::start_from_headers(
        &parts.headers,
        crate::telemetry::Kind::Server,
        name,
        attributes,
    )
}

/// Hands `fault` to the resource's fault sequence, else the API's: the flow they leave, or
/// the answer when there is none (the default error answer) or it failed too.
async fn handle_fault(
    api: &CompiledApi,
    resource: &CompiledResource,
    fault: &Fault,
    msg: &mut Message,
    env: Env<'_>,
    soap: Option<soap::Version>,
) -> Result<Flow, Response<Body>> {
    let handler = resource
        .fault_sequence
        .as_ref()
        .or(api.fault_sequence.as_ref());
    let Some(handler) = handler else {
        log_fault(api, resource, fault, msg.correlation_id());
        return Err(fault_response(fault, soap));
    };
    handler.coverage.hit();
    sequence::run_fault_sequence(&handler.mediators, fault, msg, env)
        .await
        .map_err(|again| {
            tracing::warn!(
                api = %api.name,
                resource = %resource.label,
                error = %again.chain(),
                first = %fault.chain(),
                "the fault sequence failed too"
            );
            fault_response(&again, soap)
        })
}

/// The answer for a flow that ended with `flow`; fails when the payload cannot be written
/// in the format asked for.
fn answer(msg: &mut Message, flow: Flow) -> Result<Response<Body>, Fault> {
    // Synapse's FORCE_SC_ACCEPTED: the client learns only that the request was taken.
    if msg.flag(PropertyScope::Axis2, properties::FORCE_SC_ACCEPTED) {
        return Ok(empty_response(StatusCode::ACCEPTED));
    }
    match flow {
        Flow::Drop => Ok(empty_response(StatusCode::ACCEPTED)),
        Flow::Continue | Flow::Respond | Flow::End => match msg.take_answer_body() {
            Some(body) => Ok(streamed_message_response(msg, body)),
            None => message_response(msg),
        },
    }
}

impl Handler for Dispatcher {
    fn handle(
        &self,
        req: Request<Body>,
        peer: Peer,
    ) -> impl Future<Output = Response<Body>> + Send {
        self.serve(req, Some(peer.remote), peer.tls)
    }
}

/// The message of a routed request with `body`, and what every flow finds on it besides
/// the request: configuration, path and query parameters, and the properties Synapse sets
/// for REST APIs.
fn request_message(
    parts: http::request::Parts,
    body: Bytes,
    compiled: &Compiled,
    api: &str,
    (uri_params, query_params, url_postfix): RouteParams,
) -> Message {
    let mut msg = Message::from_request(parts.method, parts.uri, parts.headers, body);
    msg.set_config(compiled.config.clone());
    msg.set_local_entries(compiled.local_entries.clone());
    msg.set_params(uri_params, query_params);
    msg.set_rest_properties(api, url_postfix);
    msg
}

/// The peer a request came from (a request extension the listener's handler sets), read
/// into `REMOTE_ADDR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The answer to a request its API's authentication refused: the resource's or API's fault
/// sequence when there is one (with `ERROR_CODE` 900901/900902/900910, `HTTP_SC` the
/// status), else a 401/403 error answer; either way with the `WWW-Authenticate`
/// challenges, unless the fault sequence set its own.
async fn deny(
    compiled: &Arc<Compiled>,
    api: &CompiledApi,
    resource: &CompiledResource,
    parts: http::request::Parts,
    params: RouteParams,
    denial: Denial,
) -> Response<Body> {
    tracing::debug!(
        api = %api.name,
        resource = %resource.label,
        code = denial.code,
        reason = %denial.message,
        "request refused by authentication"
    );
    let handled = resource.fault_sequence.is_some() || api.fault_sequence.is_some();
    let mut response = if handled {
        let soap = soap::request_version(&parts.headers);
        let mut msg = request_message(parts, Bytes::new(), compiled, &api.name, params);
        let fault =
            Fault::bad_request(denial.code, denial.message.clone()).with_status(denial.status);
        match handle_fault(api, resource, &fault, &mut msg, Env::new(compiled), soap).await {
            Ok(flow) => answer(&mut msg, flow)
                .unwrap_or_else(|_| error_response(denial.status, &denial.message)),
            Err(_) => error_response(denial.status, &denial.message),
        }
    } else {
        error_response(denial.status, &denial.message)
    };
    if !response.headers().contains_key(header::WWW_AUTHENTICATE) {
        for value in denial.header_values() {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// The API whose context `found` matched, if any.
fn found_api(found: &RouteMatch) -> Option<usize> {
    match found {
        RouteMatch::Found { api, .. } | RouteMatch::MethodNotAllowed { api, .. } => Some(*api),
        RouteMatch::NotFound { api } => *api,
    }
}

/// The answer for a request the resource does not take on the transport it came on: a
/// resource or proxy not served on this listener (404, as if absent here), or an API that
/// demands a verified client certificate (403 over plain HTTP, 401 without a certificate).
fn transport_refusal(
    api: &CompiledApi,
    resource: &CompiledResource,
    tls: Option<&TlsConnection>,
    path: &str,
) -> Option<Response<Body>> {
    let https = tls.is_some();
    if !resource.listeners.serves(https) {
        let (here, there) = if https {
            ("HTTPS", "HTTP")
        } else {
            ("HTTP", "HTTPS")
        };
        return Some(error_response(
            StatusCode::NOT_FOUND,
            &format!("{path} is not served over {here} (only over {there})"),
        ));
    }
    if !api.client_certificate {
        return None;
    }
    match tls {
        None => Some(error_response(
            StatusCode::FORBIDDEN,
            &format!(
                "API \"{}\" is served only over HTTPS with a client certificate",
                api.name
            ),
        )),
        Some(TlsConnection { client: None }) => Some(error_response(
            StatusCode::UNAUTHORIZED,
            &format!("API \"{}\" requires a client certificate", api.name),
        )),
        Some(_) => None,
    }
}

/// The axis2-scope properties of a request over HTTPS: `TRANSPORT_IN_NAME` and whether and
/// which client certificate was verified. A plain HTTP request gets none (so it pays for no
/// property map); `TRANSPORT_IN_NAME` absent means HTTP.
fn transport_properties(msg: &mut Message, tls: Option<&TlsConnection>) {
    use crate::tls::peer;
    let set = |msg: &mut Message, name: &str, value: Value| {
        msg.set_property(PropertyScope::Axis2, name, value);
    };
    let Some(tls) = tls else {
        return;
    };
    set(msg, peer::TRANSPORT_IN_NAME, Value::from("https"));
    match &tls.client {
        None => set(msg, peer::VERIFY, Value::from("NONE")),
        Some(client) => {
            set(msg, peer::VERIFY, Value::from("SUCCESS"));
            set(msg, peer::SUBJECT, Value::from(client.subject.clone()));
            set(msg, peer::ISSUER, Value::from(client.issuer.clone()));
            set(msg, peer::SANS, Value::from(client.sans.clone()));
        }
    }
}

/// Which deadline passed first.
enum Expired {
    /// The body had not arrived in full by its deadline.
    Body,
    /// The answer's head was not ready by the request's deadline.
    Total,
}

/// Runs `work` within the request's deadlines, with one timer: it first waits for the
/// earlier deadline, and only when that was the body's and the body has arrived is it moved
/// to the request's. A second timer per request cost about 1,300 instructions (callgrind,
/// `make bench-instructions`: 1 KiB passthrough 40,100 with two, 38,800 with none).
async fn within(
    work: impl Future<Output = Response<Body>>,
    body_due: Option<Instant>,
    total_due: Option<Instant>,
    progress: Option<&BodyProgress>,
) -> Result<Response<Body>, Expired> {
    let arrived = || progress.is_none_or(BodyProgress::received);
    let Some(first) = body_due.into_iter().chain(total_due).min() else {
        return Ok(work.await);
    };
    let mut timeout = Timeout::at(first);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            response = &mut work => return Ok(response),
            () = &mut timeout => {
                let now = timeout.deadline();
                if !arrived() {
                    return Err(Expired::Body);
                }
                match total_due {
                    Some(total) if total <= now => return Err(Expired::Total),
                    Some(total) => timeout.reset(total),
                    None => return Ok(work.await),
                }
            }
        }
    }
}

/// The `408` for a request whose body did not arrive by its deadline.
fn body_too_slow(
    api: &CompiledApi,
    resource: &CompiledResource,
    deadline: Option<(Instant, Duration)>,
) -> Response<Body> {
    let timeout = deadline.map_or(Duration::ZERO, |(_, after)| after);
    tracing::warn!(
        api = %api.name,
        resource = %resource.label,
        ?timeout,
        "the request body did not arrive within the request body timeout"
    );
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        &format!("the request body did not arrive within {timeout:?}"),
    )
}

/// Logs a fault no fault sequence handled. At WARN whoever is to blame: a client's bad
/// request shows up by default too, named by API and resource (the `message` span is
/// DEBUG, so its fields would not show); the fault's message describes the problem, never
/// the payload itself. The line carries the fault's causes too ([`Fault::chain`]), which
/// the client's answer does not.
fn log_fault(api: &CompiledApi, resource: &CompiledResource, fault: &Fault, correlation_id: &str) {
    match fault.side {
        crate::fault::FaultSide::Downstream => tracing::warn!(
            api = %api.name,
            resource = %resource.label,
            correlation_id,
            error = %fault.chain(),
            "bad request"
        ),
        _ => tracing::warn!(
            api = %api.name,
            resource = %resource.label,
            correlation_id,
            error = %fault.chain(),
            "message failed and no fault sequence handled it"
        ),
    }
}

/// Request headers that describe the client's request, not the answer; they are not
/// echoed back when a flow answers with the request message itself.
fn request_only(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "authorization"
            | "proxy-authorization"
            | "cookie"
            | "accept"
            | "accept-encoding"
            | "accept-language"
            | "accept-charset"
            | "user-agent"
            | "expect"
            | "origin"
            | "referer"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "te"
            | "upgrade"
            | "if-match"
            | "if-none-match"
            | "if-modified-since"
            | "if-unmodified-since"
            | "range"
    )
}

/// The response a finished flow sends: the message's status, headers and payload. Fails
/// when the payload cannot be written as asked (a received body that does not parse).
pub fn message_response(msg: &Message) -> Result<Response<Body>, Fault> {
    let status = msg.status();
    let no_body = msg
        .property(PropertyScope::Axis2, "NO_ENTITY_BODY")
        .is_some_and(|v| v == Value::Bool(true) || v == Value::String("true".into()));
    let (bytes, content_type) = if no_body || status == StatusCode::NO_CONTENT {
        (Bytes::new(), String::new())
    } else {
        msg.body_bytes().map_err(Fault::unreadable_payload)?
    };
    let mut headers = HeaderMap::with_capacity(msg.headers.len() + 1);
    for (name, value) in msg.headers.iter() {
        if !request_only(name) && name != header::CONTENT_TYPE {
            headers.append(name.clone(), value.clone());
        }
    }
    if !bytes.is_empty()
        && !content_type.is_empty()
        && let Ok(v) = HeaderValue::from_str(&content_type)
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let mut resp = Response::new(body::full(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// The answer of a flow whose last call left the backend's body streaming: the message's
/// status and headers (the backend's, as a buffered call would have set them), that body.
fn streamed_message_response(msg: &Message, body: Body) -> Response<Body> {
    let status = msg.status();
    let body = if msg.no_entity_body() || status == StatusCode::NO_CONTENT {
        body::empty()
    } else {
        body
    };
    let mut headers = HeaderMap::with_capacity(msg.headers.len());
    for (name, value) in msg.headers.iter() {
        if !request_only(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// The backend's answer of a streamed passthrough, as `message_response` would have written
/// it after a buffered call: the same status and headers, the body streaming through.
fn streamed_response(answer: Response<Body>) -> Response<Body> {
    let (mut parts, body) = answer.into_parts();
    let names: Vec<HeaderName> = parts
        .headers
        .keys()
        .filter(|name| request_only(name))
        .cloned()
        .collect();
    for name in names {
        parts.headers.remove(name);
    }
    Response::from_parts(parts, body)
}

/// The answer for a fault no fault sequence handled: a SOAP fault for a SOAP client (`soap`,
/// the request's version), else the JSON error body.
pub fn fault_response(fault: &Fault, soap: Option<soap::Version>) -> Response<Body> {
    let Some(version) = soap else {
        return json_response(fault.http_status(), fault.default_body());
    };
    let mut resp = Response::new(body::full(fault.soap_body(version)));
    *resp.status_mut() = fault.http_status();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match version {
            soap::Version::Soap11 => "text/xml; charset=UTF-8",
            soap::Version::Soap12 => "application/soap+xml; charset=UTF-8",
        }),
    );
    resp
}

fn empty_response(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests;
