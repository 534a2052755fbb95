//! A leaf endpoint (`http`, `address`): builds one request from the message and sends it
//! through the shared client, with the endpoint's headers and credentials, a timeout,
//! retries and suspension.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_api::check::endpoint::{self as checked, Envelope};
use ferry_api::check::mediator::AddressingHeader;
use ferry_api::check::value::ValueSource;
use ferry_api::resources::endpoint::AddressingVersion;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use tokio::time::Instant;

use super::BuildCx;
use super::client::{CallError, EndpointClient};
use super::endpoint::{DEFAULT_TIMEOUT, Delivery, Forwarded, MAX_RESPONSE_BYTES};
use super::headers::{add_headers, assemble, strip_hop_by_hop};
use super::oauth::TokenSource;
use super::suspension::{SuspendPolicy, Suspension};
use super::target::Target;
use crate::admin::metrics::{EndpointMetrics, EndpointOutcome, Metrics};
use crate::cause::Chain;
use crate::expr::context::PropertyScope;
use crate::expr::value::Evaluate;
use crate::fault::{Fault, codes};
use crate::message::properties::value_to_string;
use crate::message::{Message, addressing, properties, soap};
use crate::telemetry::Trace;
use crate::transports::http::body::{self, Body};
use opentelemetry::KeyValue;

/// Error codes retried when a `retry` block names none: the backend was unreachable, slow
/// or dropped the connection.
const DEFAULT_RETRY_CODES: [u32; 4] = [
    codes::CONNECTION_FAILED,
    codes::TIMEOUT,
    codes::CONNECTION_CLOSED,
    codes::CONNECT_TIMEOUT,
];

/// Failures that count towards suspension when `markForSuspension` names none.
const DEFAULT_MARK_CODES: [u32; 2] = [codes::TIMEOUT, codes::CONNECTION_CLOSED];

pub(super) struct Leaf {
    pub(super) target: Target,
    /// The target's URL when it is the same for every message.
    pub(super) fixed_uri: Option<Uri>,
    headers: Vec<(HeaderName, ValueSource)>,
    authorization: Option<HeaderValue>,
    /// The endpoint's own headers when no message is needed to make them (literal values,
    /// no SOAP action to add) and its URL is fixed: a streamed call is then made from the
    /// client's request head alone ([`Leaf::forward_head`]).
    head_only: Option<Vec<(HeaderName, HeaderValue)>>,
    timeout: Duration,
    discard_on_timeout: bool,
    retry: Retry,
    pub(super) suspension: Option<Suspension>,
    /// `enableAddressing`: the WS-Addressing version written into SOAP requests.
    addressing: Option<AddressingVersion>,
    client: EndpointClient,
    metrics: Arc<Metrics>,
    call_metrics: EndpointMetrics,
    oauth: Option<TokenSource>,
}

pub(super) struct Retry {
    count: u32,
    delay: Duration,
    codes: Vec<u32>,
}

impl Leaf {
    /// Builds a leaf: the password is read from its environment variable now, so a missing
    /// one fails the load rather than every call.
    pub(super) fn build(c: &checked::Leaf, cx: &mut BuildCx<'_>) -> Option<Leaf> {
        let authorization = match &c.basic_auth {
            None => None,
            Some((user, var)) => match std::env::var(var) {
                Ok(password) => basic_authorization(user, &password),
                Err(_) => {
                    cx.error(
                        "",
                        format!("the environment variable {var} holding the password is not set"),
                    );
                    return None;
                }
            },
        };
        let client = match &c.tls {
            None => cx.env.client.clone(),
            Some(tls) => match crate::tls::client::TlsProfile::build(tls) {
                Ok(profile) => cx.env.client.with_tls(Arc::new(profile)),
                Err(e) => {
                    cx.error("", format!("tls: {e}"));
                    return None;
                }
            },
        };
        let oauth = match &c.oauth {
            None => None,
            Some(o) => match TokenSource::build(o, client.clone()) {
                Ok(source) => Some(source),
                Err(e) => {
                    cx.error("oauth", e);
                    return None;
                }
            },
        };
        let target = Target::build(&c.target, &cx.env.config);
        let retry = match &c.retry {
            None => Retry {
                count: 0,
                delay: Duration::ZERO,
                codes: Vec::new(),
            },
            Some(r) => Retry {
                count: r.count,
                delay: r.delay,
                codes: r
                    .codes
                    .clone()
                    .unwrap_or_else(|| DEFAULT_RETRY_CODES.to_vec()),
            },
        };
        let suspension = c.suspension.as_ref().map(|s| {
            Suspension::new(SuspendPolicy {
                mark_codes: s
                    .mark_codes
                    .clone()
                    .unwrap_or_else(|| DEFAULT_MARK_CODES.to_vec()),
                suspend_codes: s.suspend_codes.clone(),
                retries_before_suspension: s.retries_before_suspension,
                initial: s.initial,
                progression_factor: s.progression_factor,
                maximum: s.maximum,
            })
        });
        let fixed_uri = target.fixed_uri();
        let head_only = fixed_uri
            .as_ref()
            .filter(|_| target.envelope() != Envelope::Soap11)
            .and_then(|_| literal_headers(&c.headers, authorization.as_ref()));
        Some(Leaf {
            fixed_uri,
            target,
            headers: c.headers.clone(),
            authorization,
            head_only,
            timeout: c.timeout.unwrap_or(DEFAULT_TIMEOUT),
            discard_on_timeout: c.discard_on_timeout,
            retry,
            suspension,
            addressing: c.addressing,
            client,
            metrics: Arc::clone(&cx.env.metrics),
            call_metrics: EndpointMetrics::default(),
            oauth,
        })
    }

    pub(super) async fn call(&self, name: &Arc<str>, msg: &mut Message) -> Result<Delivery, Fault> {
        self.check_suspension(name)?;
        let mut request = self.request(msg)?;
        let force_error = msg.flag(PropertyScope::Default, FORCE_ERROR_ON_SOAP_FAULT);
        let mut attempt = 0;
        // A token the backend refused is replaced once per call.
        let mut token_renewed = false;
        loop {
            if let Some(oauth) = &self.oauth {
                let bearer = oauth.authorization().await?;
                request.headers_mut().insert(header::AUTHORIZATION, bearer);
            }
            // One client span per attempt, so retries show as siblings; the backend sees
            // this attempt's span as its parent.
            let trace = msg
                .trace()
                .map(|t| client_trace(t, name, &mut request, attempt));
            let started = Instant::now();
            let result = self
                .client
                .send_buffered(request.clone(), Some(self.timeout), MAX_RESPONSE_BYTES)
                .await;
            let elapsed = started.elapsed();
            if let Some(trace) = &trace {
                end_client_trace(trace, result.as_ref().map(|r| r.status().as_u16()));
            }
            if let (Some(oauth), Ok(response)) = (&self.oauth, &result)
                && response.status() == http::StatusCode::UNAUTHORIZED
                && !token_renewed
                && let Some(sent) = request.headers().get(header::AUTHORIZATION)
            {
                tracing::debug!(endpoint = %name, "the backend refused the OAuth token; fetching a new one");
                oauth.refused(sent);
                token_renewed = true;
                continue;
            }
            match result {
                Ok(response) => {
                    // FORCE_ERROR_ON_SOAP_FAULT: a SOAP fault is this endpoint failing (for
                    // suspension, failover and the fault sequence), as in Synapse.
                    let soap_fault = if force_error {
                        soap_fault_reason(&response)
                    } else {
                        None
                    };
                    if let Some(reason) = soap_fault {
                        self.call_metrics.record(
                            &self.metrics,
                            name,
                            EndpointOutcome::Failure,
                            elapsed,
                        );
                        self.metrics.record_endpoint_error(name, codes::CUSTOM);
                        if let Some(s) = &self.suspension {
                            s.on_failure(codes::CUSTOM, Instant::now());
                        }
                        let (parts, body) = response.into_parts();
                        let mut headers = parts.headers;
                        strip_hop_by_hop(&mut headers);
                        // The fault sequence sees the fault, as Synapse hands it the
                        // response.
                        msg.set_response(parts.status, headers, body);
                        return Err(Fault::upstream(
                            codes::CUSTOM,
                            format!("endpoint {name} answered a SOAP fault: {reason}"),
                            true,
                        ));
                    }
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
                        tracing::debug!(endpoint = %name, attempt, error = %Chain(&err), "retrying");
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
                    return Err(call_fault(name, err));
                }
            }
        }
    }

    /// The request for `msg`; built once per call so retries resend the same bytes.
    pub(super) fn request(&self, msg: &Message) -> Result<Request<Bytes>, Fault> {
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
    pub(super) fn final_request(&self, msg: &mut Message) -> Result<Request<Bytes>, Fault> {
        let (method, uri, body, content_type) = self.request_parts(msg)?;
        let own = self.own_headers(msg)?;
        let headers = std::mem::take(&mut msg.headers);
        Ok(assemble(method, uri, body, &content_type, headers, own))
    }

    /// Method, URI, body and the body's content type of the request for `msg`.
    pub(super) fn request_parts(
        &self,
        msg: &Message,
    ) -> Result<(Method, Uri, Bytes, String), Fault> {
        let (method, uri) = self.method_and_uri(msg)?;
        let (body, content_type) = if matches!(method, Method::GET | Method::HEAD) {
            Ok((Bytes::new(), String::new()))
        } else if self.target.message_type().is_some() || self.addressing.is_some() {
            // The endpoint's format decides the message type (and the envelope), or its
            // addressing headers go into the envelope: write from a copy so the message
            // itself keeps its own.
            let envelope = self.target.envelope();
            let mut out = msg.clone();
            reshape_envelope(&mut out, envelope)?;
            if let Some(version) = self.addressing {
                write_addressing(&mut out, msg, version, &uri)?;
            }
            if let Some(mt) = self.target.message_type() {
                out.set_property(PropertyScope::Axis2, properties::MESSAGE_TYPE, mt.into());
            }
            out.body_bytes()
                .map(|(body, ct)| (body, soap_content_type(envelope, msg, ct)))
        } else {
            // No copy of the message: cloning it would deep-copy a parsed payload (100 KiB
            // of JSON after a switch on one field) only to serialise the unchanged bytes.
            msg.body_bytes().map(|(body, ct)| {
                let ct = declared_if_empty(msg, &body, ct);
                (body, ct)
            })
        }
        .map_err(|e| {
            Fault::bad_request(codes::PARSE_ERROR, format!("cannot write the payload: {e}"))
                .with_cause(e)
        })?;
        Ok((method, uri, body, content_type))
    }

    pub(super) fn method_and_uri(&self, msg: &Message) -> Result<(Method, Uri), Fault> {
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
            .with_cause(e)
        })?;
        Ok((method, uri))
    }

    /// The endpoint's own headers for `msg`, with the credentials.
    pub(super) fn own_headers(
        &self,
        msg: &Message,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, Fault> {
        let mut own = Vec::with_capacity(self.headers.len() + 1);
        for (name, value) in &self.headers {
            let text = value.eval_string(msg)?;
            let value = HeaderValue::from_str(&text).map_err(|e| {
                Fault::internal(
                    codes::SENDING_FAILED,
                    format!("header {name}: {text:?} is not a valid header value"),
                )
                .with_cause(e)
            })?;
            own.push((name.clone(), value));
        }
        if let Some(auth) = &self.authorization {
            own.push((header::AUTHORIZATION, auth.clone()));
        }
        // The request's correlation id goes on every call, also after an earlier call
        // replaced the message's headers with its answer's.
        if let (Some(name), Some(id)) = (
            crate::telemetry::correlation::header(),
            msg.correlation_value(),
        ) {
            own.push((name.clone(), id.clone()));
        }
        // SOAP 1.1 requires the header; without an action of the message's own, an empty
        // one says "no intent" (SOAP 1.2 carries the action in the content type).
        if self.target.envelope() == Envelope::Soap11 && msg.header(SOAP_ACTION).is_none() {
            // The message's WS-Addressing action is its SOAP action when it names none
            // (Synapse does the same).
            let value = addressing_action(msg)
                .and_then(|a| HeaderValue::from_str(&format!("\"{a}\"")).ok())
                .unwrap_or_else(|| HeaderValue::from_static("\"\""));
            own.push((HeaderName::from_static("soapaction"), value));
        }
        Ok(own)
    }

    /// Whether this leaf can forward a body it never sees: it sends once (no retries, which
    /// would need the body again), converts no format, and computes neither its URL nor its
    /// headers from the payload.
    pub(super) fn streams(&self) -> bool {
        let target = self.target.message_type().is_none() && match &self.target {
            Target::Http { uri, .. } => !uri.iter().any(
                |p| matches!(p, ferry_api::check::endpoint::UriPart::Expr(e) if e.uses_payload()),
            ),
            Target::Address { .. } => true,
            // The address may be the request envelope's own `wsa:To`: the body is read.
            Target::To => false,
        };
        target
            && self.retry.count == 0
            // A token is fetched before, and refreshed after, a call: not in a stream.
            && self.oauth.is_none()
            && self
                .headers
                .iter()
                .all(|(_, v)| !matches!(v, ValueSource::Expr(e) if e.uses_payload()))
    }

    /// The request for `msg` with `body` streaming behind it (built before anything is
    /// awaited: a message is not shared across threads).
    pub(super) fn forward_request(
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
        if let Some(trace) = msg.trace() {
            let trace = client_trace(trace, name, &mut request, 0);
            request.extensions_mut().insert(trace);
        }
        Ok(request)
    }

    /// Whether [`Leaf::forward_head`] can make this leaf's streamed requests: its URL is
    /// fixed and its headers need no message.
    pub(super) fn forwards_heads(&self) -> bool {
        self.head_only.is_some() && self.fixed_uri.is_some()
    }

    /// [`Leaf::forward_request`] without a message, for a leaf that [`Leaf::forwards_heads`]:
    /// the same request, made from the client's request head.
    pub(super) fn forward_head(
        &self,
        name: &Arc<str>,
        head: http::request::Parts,
        body: Body,
        trace: Option<&Trace>,
    ) -> Result<Request<Body>, Fault> {
        let (Some(own), Some(uri)) = (&self.head_only, &self.fixed_uri) else {
            return Err(Fault::internal(
                codes::SENDING_FAILED,
                format!("endpoint {name} needs the message to make its request"),
            ));
        };
        self.check_suspension(name)?;
        let method = self.target.method().unwrap_or(&head.method).clone();
        let body = if matches!(method, Method::GET | Method::HEAD) {
            body::empty()
        } else {
            body
        };
        let mut headers = head.headers;
        // The correlation id is among them already (the dispatcher put it there).
        add_headers(&mut headers, own.iter().cloned());
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        if let Some(trace) = trace {
            let trace = client_trace(trace, name, &mut request, 0);
            request.extensions_mut().insert(trace);
        }
        Ok(request)
    }

    /// Sends a streamed request and returns the answer with its body streaming back,
    /// bounded by the endpoint's timeout.
    pub(super) async fn forward(
        &self,
        name: &Arc<str>,
        mut request: Request<Body>,
    ) -> Result<Forwarded, Fault> {
        let trace = request.extensions_mut().remove::<Trace>();
        let started = Instant::now();
        let timer = crate::timeouts::Timeout::at((started + self.timeout).into_std());
        let sent = self.client.send_timed(request, timer, self.timeout).await;
        if let Some(trace) = &trace {
            end_client_trace(trace, sent.as_ref().map(|(r, _)| r.status().as_u16()));
        }
        match sent {
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
                Err(call_fault(name, err))
            }
        }
    }

    pub(super) fn check_suspension(&self, name: &Arc<str>) -> Result<(), Fault> {
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

/// Starts the client span of one attempt to send `request` and writes its trace context
/// into the request (HTTP client semantic conventions; `http.request.resend_count` counts
/// retries).
/// The endpoint's headers as values, when every one is a literal (and valid) and no message
/// is needed to make them; with the basic-auth header.
fn literal_headers(
    headers: &[(HeaderName, ValueSource)],
    authorization: Option<&HeaderValue>,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut own = Vec::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        let ValueSource::Literal(text) = value else {
            return None;
        };
        own.push((name.clone(), HeaderValue::from_str(text).ok()?));
    }
    if let Some(auth) = authorization {
        own.push((header::AUTHORIZATION, auth.clone()));
    }
    Some(own)
}

pub(super) fn client_trace<B>(
    parent: &Trace,
    endpoint: &str,
    request: &mut Request<B>,
    attempt: u32,
) -> Trace {
    let method = request.method().as_str();
    let uri = request.uri();
    let trace = parent.child(
        crate::telemetry::Kind::Client,
        format!("{method} {endpoint}"),
        || {
            let mut attributes = vec![
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.full", uri.to_string()),
                KeyValue::new("ferry.endpoint", endpoint.to_string()),
            ];
            if let Some(host) = uri.host() {
                attributes.push(KeyValue::new("server.address", host.to_string()));
            }
            if let Some(port) = uri.port_u16() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
            if attempt > 0 {
                attributes.push(KeyValue::new(
                    "http.request.resend_count",
                    i64::from(attempt),
                ));
            }
            attributes
        },
    );
    trace.inject(request.headers_mut());
    trace
}

/// Ends an attempt's client span with its answer's status or its failure.
pub(super) fn end_client_trace<E: std::fmt::Display>(trace: &Trace, outcome: Result<u16, &E>) {
    match outcome {
        Ok(status) => trace.http_status(status, true),
        Err(e) => {
            trace.error(e.to_string());
        }
    }
    trace.end();
}

/// The fault of a failed call: the call's code and message, and the call error (with the
/// hyper or socket error under it) as the cause.
fn call_fault(name: &str, err: CallError) -> Fault {
    Fault::upstream(
        err.synapse_code,
        format!("endpoint {name}: {}", err.message),
        err.is_retryable(),
    )
    .with_cause(err)
}

/// An empty body goes with the content type the message declares (an empty JSON POST
/// stays `application/json`): there is no payload to take one from, but the backend may
/// route or validate on it.
fn declared_if_empty(msg: &Message, body: &Bytes, written: String) -> String {
    if !body.is_empty() || !written.is_empty() || msg.no_entity_body() {
        return written;
    }
    msg.header(header::CONTENT_TYPE.as_str())
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The header a SOAP 1.1 message names its action in.
const SOAP_ACTION: &str = "SOAPAction";

/// Puts the payload in the envelope the format asks for, or (`pox`) takes a SOAP
/// message's body content out of its envelope.
fn reshape_envelope(out: &mut Message, envelope: Envelope) -> Result<(), Fault> {
    let version = match envelope {
        Envelope::AsIs => return Ok(()),
        Envelope::Soap11 => Some(soap::Version::Soap11),
        Envelope::Soap12 => Some(soap::Version::Soap12),
        Envelope::Unwrap => None,
    };
    let payload = out.payload_xml().map_err(|e| {
        Fault::bad_request(codes::PARSE_ERROR, format!("cannot write the payload: {e}"))
            .with_cause(e)
    })?;
    let reshaped = match (version, payload) {
        (Some(v), payload) => Some(soap::wrap(payload, v)),
        (None, Some(p)) if soap::envelope_version(p).is_some() => {
            match soap::body_content(p).cloned() {
                Some(content) => Some(content),
                None => {
                    out.set_bytes(Bytes::new(), None);
                    return Ok(());
                }
            }
        }
        (None, _) => None,
    };
    if let Some(element) = reshaped {
        out.set_xml(element);
    }
    Ok(())
}

/// The message's WS-Addressing action (`Action`: set by the flow, or the request's own
/// `wsa:Action`), when it has one.
fn addressing_action(msg: &Message) -> Option<String> {
    msg.property(PropertyScope::Default, AddressingHeader::Action.name())
        .map(|v| value_to_string(&v))
        .filter(|a| !a.trim().is_empty())
}

/// Writes the WS-Addressing headers of a request to `uri` into `out`'s envelope (a
/// message that is not a SOAP envelope has none to carry them: it goes as it is). What
/// the flow set is written; `To` is the endpoint's URL, `MessageID` a fresh id unless the
/// flow set one or `PRESERVE_WS_ADDRESSING` keeps the request's, `ReplyTo` the anonymous
/// address (answer on this connection) unless set or no answer is expected.
fn write_addressing(
    out: &mut Message,
    msg: &Message,
    version: AddressingVersion,
    uri: &Uri,
) -> Result<(), Fault> {
    let is_envelope = out
        .payload_xml()
        .map_err(|e| {
            Fault::bad_request(codes::PARSE_ERROR, format!("cannot write the payload: {e}"))
                .with_cause(e)
        })?
        .is_some_and(|p| soap::envelope_version(p).is_some());
    if !is_envelope {
        return Ok(());
    }
    let set = |h: AddressingHeader| {
        msg.properties()
            .get(PropertyScope::Default, h.name())
            .map(value_to_string)
    };
    let preserve = msg.flag(PropertyScope::Default, PRESERVE_WS_ADDRESSING);
    let mut values = vec![(AddressingHeader::To, uri.to_string())];
    let message_id = if preserve {
        msg.property(PropertyScope::Default, properties::MESSAGE_ID)
            .map(|v| value_to_string(&v))
    } else {
        set(AddressingHeader::MessageId)
    };
    values.push((
        AddressingHeader::MessageId,
        message_id.unwrap_or_else(|| msg.id()),
    ));
    if let Some(action) = addressing_action(msg).or_else(|| {
        msg.header(SOAP_ACTION)
            .map(|a| a.trim().trim_matches('"').to_string())
            .filter(|a| !a.is_empty())
    }) {
        values.push((AddressingHeader::Action, action));
    }
    match set(AddressingHeader::ReplyTo) {
        Some(reply_to) => values.push((AddressingHeader::ReplyTo, reply_to)),
        None if !msg.flag(PropertyScope::Default, properties::OUT_ONLY) => values.push((
            AddressingHeader::ReplyTo,
            addressing::anonymous(version).to_string(),
        )),
        None => {}
    }
    for h in [
        AddressingHeader::From,
        AddressingHeader::FaultTo,
        AddressingHeader::RelatesTo,
    ] {
        if let Some(value) = set(h) {
            values.push((h, value));
        }
    }
    if let Some(envelope) = out.payload_xml().ok().flatten() {
        let mut envelope = envelope.clone();
        addressing::write(&mut envelope, version, &values);
        out.set_xml(envelope);
    }
    Ok(())
}

/// Keep the request's WS-Addressing message id on the requests an endpoint with
/// `enableAddressing` sends (Synapse's property of that name).
const PRESERVE_WS_ADDRESSING: &str = "PRESERVE_WS_ADDRESSING";

/// The Content-Type of a SOAP request: the version's, with the charset, and for SOAP 1.2
/// the message's action (its `SOAPAction` header) as the `action` parameter.
fn soap_content_type(envelope: Envelope, msg: &Message, written: String) -> String {
    let action = || {
        msg.header(SOAP_ACTION)
            .map(|a| a.trim().trim_matches('"').to_string())
            .filter(|a| !a.is_empty())
            .or_else(|| addressing_action(msg))
    };
    match envelope {
        Envelope::Soap11 => "text/xml; charset=UTF-8".to_string(),
        Envelope::Soap12 => match action() {
            Some(a) => format!("application/soap+xml; charset=UTF-8; action=\"{a}\""),
            None => "application/soap+xml; charset=UTF-8".to_string(),
        },
        Envelope::AsIs | Envelope::Unwrap => written,
    }
}

/// The property that makes a SOAP fault answer a failure of the endpoint.
const FORCE_ERROR_ON_SOAP_FAULT: &str = "FORCE_ERROR_ON_SOAP_FAULT";

/// The reason of a SOAP fault answer (`faultstring`, or SOAP 1.2's `Reason/Text`), `None`
/// when the answer is not a SOAP fault.
fn soap_fault_reason(response: &Response<Bytes>) -> Option<String> {
    let xml_like = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("xml"));
    if !xml_like {
        return None;
    }
    let envelope = crate::xml::Element::parse(response.body()).ok()?;
    let version = soap::envelope_version(&envelope)?;
    let fault = soap::body_content(&envelope)?;
    if fault.name.local != "Fault" || fault.name.namespace.as_deref() != Some(version.namespace()) {
        return None;
    }
    let child = |e: &crate::xml::Element, local: &str| {
        e.children.iter().find_map(|c| match c {
            crate::xml::Node::Element(x) if x.name.local == local => Some(x.text()),
            _ => None,
        })
    };
    let reason = match version {
        soap::Version::Soap11 => child(fault, "faultstring"),
        soap::Version::Soap12 => fault.children.iter().find_map(|c| match c {
            crate::xml::Node::Element(r) if r.name.local == "Reason" => child(r, "Text"),
            _ => None,
        }),
    };
    Some(reason.unwrap_or_default().trim().to_string())
}
