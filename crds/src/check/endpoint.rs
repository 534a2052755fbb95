//! Endpoint checks: one type per endpoint, what the runtime cannot do refused, URI
//! templates split into literals, variables and expressions, settings in range, and group
//! members that exist. The runtime builds its pooled clients, suspension state and
//! metrics from the checked form.

use std::time::Duration;

use http::{HeaderName, Uri};

use super::cx::Cx;
use super::value::ValueSource;
use crate::expr::{Expression, Part};
use crate::resources::endpoint::{
    AddressEndpoint, AddressFormat, AddressingVersion, EndpointRef as RefSpec, EndpointSpec,
    HttpEndpoint, HttpMethod, LoadbalanceAlgorithm, LoadbalanceEndpoint, ResponseAction,
    SuspendOnFailure,
};

/// The largest sum of `weightedRoundRobin` weights (weights are relative: 3 and 1 take
/// turns as 300 and 100 do).
pub const MAX_TOTAL_WEIGHT: u64 = 10_000;

/// A checked endpoint.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `http` or `address`: one backend.
    Leaf(Box<Leaf>),
    /// `failover`: children tried in order.
    Failover {
        /// The children.
        children: Vec<EndpointRef>,
        /// Start from the first child every time (else from the one that last worked).
        dynamic: bool,
    },
    /// An `address` with a `rabbitmq:` URI: publishes to RabbitMQ.
    Rabbitmq(Box<super::rabbitmq_address::RabbitMqTarget>),
    /// An `address` with an `mqtt:` URI: publishes to an MQTT broker.
    Mqtt(Box<super::mqtt_address::MqttTarget>),
    /// `smtp`: sends the message as an email.
    Smtp(Box<super::smtp::SmtpTarget>),
    /// `file`, or an `address` with a `vfs:file://` URI: writes the payload to a file.
    File(Box<super::file_target::FileTarget>),
    /// `loadbalance`: children take turns.
    Loadbalance {
        /// The children.
        children: Vec<EndpointRef>,
        /// One weight per child (`weightedRoundRobin`); `None` for plain round robin.
        weights: Option<Vec<u32>>,
        /// A failed child passes the message on to the next.
        failover: bool,
    },
}

impl EndpointRef {
    /// Synapse's implicit endpoint: the message's `To` address, with no settings of its
    /// own, named by the field of the mediator that sends to it.
    pub fn implicit_to(field: &str) -> Self {
        EndpointRef::Inline {
            field: field.to_string(),
            endpoint: Box::new(Endpoint::Leaf(Box::new(Leaf {
                target: Target::To,
                headers: Vec::new(),
                basic_auth: None,
                timeout: None,
                discard_on_timeout: false,
                retry: None,
                suspension: None,
                addressing: None,
                tls: None,
                oauth: None,
            }))),
        }
    }
}

/// A checked reference to an endpoint.
#[derive(Debug, Clone)]
pub enum EndpointRef {
    /// A named Endpoint of the same runtime group, which exists.
    Key(String),
    /// An endpoint defined in place.
    Inline {
        /// Where it is defined (`spec.resources[0].inSequence[1].call.endpoint`): with the
        /// resource, its name in metrics and logs.
        field: String,
        /// The endpoint.
        endpoint: Box<Endpoint>,
    },
}

/// A checked `http` or `address` endpoint.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Where it sends.
    pub target: Target,
    /// Headers added to every request.
    pub headers: Vec<(HeaderName, ValueSource)>,
    /// `basicAuth`: the user and the environment variable holding the password.
    pub basic_auth: Option<(String, String)>,
    /// How long a call may take; `None`: the runtime's default.
    pub timeout: Option<Duration>,
    /// A late answer is dropped instead of failing the call.
    pub discard_on_timeout: bool,
    /// Retries of a failed call.
    pub retry: Option<Retry>,
    /// When the endpoint is taken out of use after failures.
    pub suspension: Option<Suspension>,
    /// `enableAddressing`: the WS-Addressing version its SOAP requests carry headers of.
    pub addressing: Option<AddressingVersion>,
    /// TLS settings for `https` URLs (`None`: the defaults, system roots and TLS 1.2+).
    pub tls: Option<super::tls::ClientTls>,
    /// `oauth`: a bearer token from a token URL (client credentials grant).
    pub oauth: Option<OAuthClient>,
}

/// Checked OAuth 2.0 client credentials settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub client_secret_env: String,
    /// Scopes requested (space separated in the request).
    pub scopes: Vec<String>,
    /// The `audience` parameter, when set.
    pub audience: Option<String>,
    /// Extra form parameters.
    pub parameters: Vec<(String, String)>,
    /// Client credentials in a Basic header (else form fields).
    pub credentials_in_header: bool,
}

/// Where a leaf sends.
#[derive(Debug, Clone)]
pub enum Target {
    /// `http`: a URI template.
    Http {
        /// The template, split.
        uri: Vec<UriPart>,
        /// The method; `None`: the message's.
        method: Option<HttpMethod>,
        /// The Content-Type sent, when the format fixes it.
        message_type: Option<&'static str>,
        /// What the format does to a SOAP envelope.
        envelope: Envelope,
    },
    /// The message's `To` address (Synapse's implicit endpoint of a `send` or `call` with
    /// none): the `To` property, which the header mediator or the request's `wsa:To`
    /// sets, with the REST postfix appended as for an address.
    To,
    /// `address`: a fixed URL.
    Address {
        /// The URL, without a trailing `/`.
        uri: String,
        /// Synapse appends the resource path (`REST_URL_POSTFIX`) to an address.
        append_postfix: bool,
        /// The method; `None`: the message's.
        method: Option<HttpMethod>,
        /// The Content-Type sent, when the format fixes it.
        message_type: Option<&'static str>,
        /// What the format does to a SOAP envelope.
        envelope: Envelope,
    },
}

/// What an address endpoint's format does to the message's SOAP envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// Nothing: the message goes as it is.
    AsIs,
    /// `soap11`: in a SOAP 1.1 envelope (`text/xml`, a `SOAPAction` header).
    Soap11,
    /// `soap12`: in a SOAP 1.2 envelope (`application/soap+xml` with its `action`).
    Soap12,
    /// `pox`: a SOAP message's body content, without the envelope.
    Unwrap,
}

/// A piece of an `http` URI template.
#[derive(Debug, Clone)]
pub enum UriPart {
    /// Copied as is.
    Literal(String),
    /// `{uri.var.x}`, `{query.param.x}` or `{x}`: a message value, percent-encoded unless
    /// `raw` (`{+x}` or `legacyEncoding`).
    Var {
        /// Which value.
        source: VarSource,
        /// Inserted without percent-encoding.
        raw: bool,
    },
    /// `${...}`: the value as text, inserted as is.
    Expr(Expression),
}

/// Which message value a URI template variable reads.
#[derive(Debug, Clone)]
pub enum VarSource {
    /// `uri.var.x`: the property `uri.var.x`, else the API's path parameter `x`.
    UriVar(String),
    /// `query.param.x`: the request's query parameter `x`.
    QueryParam(String),
    /// Any other name: a property of that name.
    Property(String),
}

/// Retries of a failed call.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Retries after the first try.
    pub count: u32,
    /// Pause between tries.
    pub delay: Duration,
    /// Synapse error codes that are retried; `None`: the runtime's default set.
    pub codes: Option<Vec<u32>>,
}

/// When an endpoint is suspended after failures.
#[derive(Debug, Clone)]
pub struct Suspension {
    /// Codes that count towards suspension; `None`: the runtime's default set.
    pub mark_codes: Option<Vec<u32>>,
    /// Codes that suspend at once; `None`: every code not in `mark_codes`.
    pub suspend_codes: Option<Vec<u32>>,
    /// Marked failures tolerated before suspending.
    pub retries_before_suspension: u32,
    /// The first suspension's length.
    pub initial: Duration,
    /// Growth of each next suspension in a row.
    pub progression_factor: f64,
    /// The longest suspension.
    pub maximum: Option<Duration>,
}

/// Checks a mediator's (or group's) endpoint reference at `field`.
pub fn check_ref(cx: &mut Cx<'_>, field: &str, reference: &RefSpec) -> Option<EndpointRef> {
    if let Some(e) = &reference.key_expression {
        // Parsed anyway, so a syntax error is reported beside the missing support.
        cx.expression(&format!("{field}.keyExpression"), e);
        cx.error(
            &format!("{field}.keyExpression"),
            "keyExpression is not supported yet; name the endpoint with key",
        );
        return None;
    }
    let inline = reference.inline();
    match (&reference.key, inline) {
        (Some(_), Some(_)) => {
            cx.error(field, "set either key or an inline endpoint, not both");
            None
        }
        (Some(key), None) => {
            let own = matches!(
                &cx.loaded().resource,
                crate::resources::Resource::Endpoint(_)
            ) && cx.loaded().resource.name() == key;
            if own {
                cx.error(
                    &format!("{field}.key"),
                    "an endpoint group cannot contain itself",
                );
                return None;
            }
            cx.reference(&format!("{field}.key"), "Endpoint", key)
                .then(|| EndpointRef::Key(key.clone()))
        }
        (None, Some(spec)) => check(cx, field, &spec).map(|e| EndpointRef::Inline {
            field: field.to_string(),
            endpoint: Box::new(e),
        }),
        (None, None) => {
            cx.error(field, "an endpoint needs key or an inline definition");
            None
        }
    }
}

/// Checks an endpoint body at `field` (`spec` for an Endpoint resource).
pub fn check(cx: &mut Cx<'_>, field: &str, spec: &EndpointSpec) -> Option<Endpoint> {
    let types = spec.types();
    if types.len() != 1 {
        cx.error(
            field,
            if types.is_empty() {
                "an endpoint needs exactly one of http, address, smtp, file, failover, loadbalance"
                    .to_string()
            } else {
                format!(
                    "an endpoint has exactly one type, not {}",
                    types.join(" and ")
                )
            },
        );
        return None;
    }
    let unsupported = [
        (spec.wsdl.is_some(), "wsdl", "wsdl endpoints"),
        (
            spec.recipient_list.is_some(),
            "recipientList",
            "recipientList endpoints",
        ),
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
    if let Some(http) = &spec.http {
        let target = http_target(cx, &format!("{field}.http"), http);
        leaf(cx, field, spec, target?).map(|l| Endpoint::Leaf(Box::new(l)))
    } else if let Some(address) = &spec.address
        && super::rabbitmq_address::is_rabbitmq(&address.uri)
    {
        rabbitmq(cx, field, spec, &address.uri)
    } else if let Some(address) = &spec.address
        && super::mqtt_address::is_mqtt(&address.uri)
    {
        mqtt(cx, field, spec, &address.uri)
    } else if let Some(address) = &spec.address
        && super::file_target::is_vfs(&address.uri)
    {
        file_endpoint(cx, field, spec, None, &address.uri)
    } else if let Some(address) = &spec.address {
        let target = address_target(cx, &format!("{field}.address"), address);
        leaf(cx, field, spec, target?).map(|l| Endpoint::Leaf(Box::new(l)))
    } else if let Some(file) = &spec.file {
        file_endpoint(cx, field, spec, Some(file), "")
    } else if let Some(smtp) = &spec.smtp {
        smtp_endpoint(cx, field, spec, smtp)
    } else if let Some(group) = &spec.failover {
        let settings_ok = group_has_no_leaf_settings(cx, field, spec, "failover");
        let children = children(cx, &format!("{field}.failover"), &group.endpoints);
        settings_ok.then_some(())?;
        Some(Endpoint::Failover {
            children: children?,
            dynamic: group.dynamic,
        })
    } else if let Some(group) = &spec.loadbalance {
        let settings_ok = group_has_no_leaf_settings(cx, field, spec, "loadbalance");
        let lb = loadbalance(cx, &format!("{field}.loadbalance"), group);
        settings_ok.then_some(())?;
        lb
    } else {
        // Only the unsupported kinds are left, and they were reported above.
        None
    }
}

/// A `rabbitmq:` address: its parameters, and only the leaf settings a publish uses
/// (`timeout.duration`).
fn rabbitmq(cx: &mut Cx<'_>, field: &str, spec: &EndpointSpec, uri: &str) -> Option<Endpoint> {
    let tls = "rabbitmq.connection.ssl.* in the address";
    let (ok, timeout) = publish_settings(cx, field, spec, "a rabbitmq", tls);
    let parsed = super::rabbitmq_address::parse(uri, timeout);
    address(cx, field, parsed, ok).map(|target| Endpoint::Rabbitmq(Box::new(target)))
}

/// An `mqtt:` address: its parameters, and only the leaf settings a publish uses
/// (`timeout.duration`).
fn mqtt(cx: &mut Cx<'_>, field: &str, spec: &EndpointSpec, uri: &str) -> Option<Endpoint> {
    let tls = "mqtt.ssl.enable and mqtt.ssl.ca.env in the address";
    let (ok, timeout) = publish_settings(cx, field, spec, "an mqtt", tls);
    let parsed = super::mqtt_address::parse(uri, timeout);
    address(cx, field, parsed, ok).map(|target| Endpoint::Mqtt(Box::new(target)))
}

/// The leaf settings of a broker endpoint that publishes (`kind`: "a rabbitmq", ...):
/// every one but `timeout` is refused (`tls`: the address's parameters say how, `tls_in`),
/// a timeout is always a fault. Whether all were acceptable, and the publish's timeout (30 s
/// by default).
fn publish_settings(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &EndpointSpec,
    kind: &str,
    tls_in: &str,
) -> (bool, Duration) {
    let ok = refuse_leaf_settings(cx, field, spec, &["timeout"], |at| {
        let hint = if at == "tls" {
            format!(" (set {tls_in})")
        } else {
            String::new()
        };
        format!("{at} is not supported on {kind} endpoint{hint}")
    });
    let (timeout_ok, timeout) = fault_timeout(cx, field, spec, kind, 30_000);
    (ok && timeout_ok, timeout)
}

/// The timeout of an endpoint (`kind`: "a rabbitmq", ...) whose timeout can only be a
/// fault: whether its `responseAction` says so, and its duration (`default_ms` unset).
fn fault_timeout(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &EndpointSpec,
    kind: &str,
    default_ms: u64,
) -> (bool, Duration) {
    let mut ok = true;
    if spec
        .timeout
        .as_ref()
        .is_some_and(|t| t.response_action != crate::resources::endpoint::ResponseAction::Fault)
    {
        cx.error(
            &format!("{field}.timeout.responseAction"),
            format!("{kind} endpoint's timeout is always a fault"),
        );
        ok = false;
    }
    let timeout = Duration::from_millis(
        spec.timeout
            .as_ref()
            .and_then(|t| t.duration)
            .unwrap_or(default_ms),
    );
    (ok, timeout)
}

/// A parsed broker address, its problems reported at `address.uri`; `None` also when the
/// endpoint's other settings were refused (`ok` false).
fn address<T>(cx: &mut Cx<'_>, field: &str, parsed: Result<T, Vec<String>>, ok: bool) -> Option<T> {
    match parsed {
        Ok(target) => ok.then_some(target),
        Err(problems) => {
            for p in problems {
                cx.error(&format!("{field}.address.uri"), p);
            }
            None
        }
    }
}

/// A `file` endpoint (or a `vfs:file://` address): no leaf setting applies (a local write
/// has no timeout, retry or suspension of its own).
fn file_endpoint(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &EndpointSpec,
    typed: Option<&crate::resources::endpoint::FileEndpoint>,
    uri: &str,
) -> Option<Endpoint> {
    let ok = refuse_leaf_settings(cx, field, spec, &[], |at| {
        format!("{at} is not supported on a file endpoint")
    });
    let target = match typed {
        Some(f) => super::file_target::typed(cx, &format!("{field}.file"), f),
        None => match super::file_target::vfs(uri) {
            Ok(t) => Some(t),
            Err(problems) => {
                for p in problems {
                    cx.error(&format!("{field}.address.uri"), p);
                }
                None
            }
        },
    };
    ok.then_some(())?;
    target.map(|t| Endpoint::File(Box::new(t)))
}

/// An `smtp` endpoint: its connection and message fields, and only the leaf settings a
/// send uses (`timeout.duration`).
fn smtp_endpoint(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &EndpointSpec,
    smtp: &crate::resources::endpoint::SmtpEndpoint,
) -> Option<Endpoint> {
    let settings_ok = refuse_leaf_settings(cx, field, spec, &["timeout"], |at| {
        let hint = match at {
            "headers" => " (set the email's headers in smtp.headers)",
            "basicAuth" => " (use smtp.username and smtp.passwordFrom)",
            "tls" => " (use smtp.security and smtp.caFrom)",
            _ => "",
        };
        format!("{at} is not supported on an smtp endpoint{hint}")
    });
    let (timeout_ok, timeout) = fault_timeout(cx, field, spec, "an smtp", 60_000);
    let target = super::smtp::check(cx, &format!("{field}.smtp"), smtp, timeout);
    (settings_ok && timeout_ok).then_some(())?;
    target.map(|t| Endpoint::Smtp(Box::new(t)))
}

/// Settings that only a leaf uses are an error on a group (where they would do nothing).
fn group_has_no_leaf_settings(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &EndpointSpec,
    group: &str,
) -> bool {
    // A group has no address of its own, so no address.format either.
    refuse_leaf_settings(cx, field, spec, &["address.format"], |at| {
        format!("{at} belongs on the leaf endpoints of a {group} group, not on the group")
    })
}

/// Every setting only a leaf endpoint uses, and whether `spec` sets it.
fn leaf_settings(spec: &EndpointSpec) -> [(bool, &'static str); 10] {
    [
        (spec.timeout.is_some(), "timeout"),
        (spec.retry.is_some(), "retry"),
        (spec.mark_for_suspension.is_some(), "markForSuspension"),
        (spec.suspend_on_failure.is_some(), "suspendOnFailure"),
        (!spec.headers.is_empty(), "headers"),
        (spec.basic_auth.is_some(), "basicAuth"),
        (spec.oauth.is_some(), "oauth"),
        (spec.enable_addressing.is_some(), "enableAddressing"),
        (spec.tls.is_some(), "tls"),
        (
            spec.address.as_ref().is_some_and(|a| a.format.is_some()),
            "address.format",
        ),
    ]
}

/// Reports, at `field.<setting>` with `refusal(setting)`, each leaf setting `spec` sets
/// that `allowed` does not name; whether there was none.
fn refuse_leaf_settings(
    cx: &mut Cx<'_>,
    field: &str,
    spec: &EndpointSpec,
    allowed: &[&str],
    refusal: impl Fn(&str) -> String,
) -> bool {
    let mut ok = true;
    for (set, at) in leaf_settings(spec) {
        if set && !allowed.contains(&at) {
            cx.error(&format!("{field}.{at}"), refusal(at));
            ok = false;
        }
    }
    ok
}

fn children(cx: &mut Cx<'_>, field: &str, refs: &[RefSpec]) -> Option<Vec<EndpointRef>> {
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
        match check_ref(cx, &format!("{field}.endpoints[{i}]"), r) {
            Some(ep) => out.push(ep),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn loadbalance(cx: &mut Cx<'_>, field: &str, spec: &LoadbalanceEndpoint) -> Option<Endpoint> {
    if spec.session.is_some() {
        cx.error(
            &format!("{field}.session"),
            "session affinity is not supported yet",
        );
        return None;
    }
    let children = children(cx, field, &spec.endpoints)?;
    let weights = match spec.algorithm {
        LoadbalanceAlgorithm::RoundRobin => None,
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
            // The turns are unrolled once at load time, one slot per unit of weight.
            let total: u64 = spec.weights.iter().map(|w| u64::from(*w)).sum();
            if total > MAX_TOTAL_WEIGHT {
                cx.error(
                    &format!("{field}.weights"),
                    format!("the weights add up to {total}; at most {MAX_TOTAL_WEIGHT}"),
                );
                return None;
            }
            Some(spec.weights.clone())
        }
    };
    Some(Endpoint::Loadbalance {
        children,
        weights,
        failover: spec.failover,
    })
}

fn leaf(cx: &mut Cx<'_>, field: &str, spec: &EndpointSpec, target: Target) -> Option<Leaf> {
    let mut ok = true;
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (i, h) in spec.headers.iter().enumerate() {
        let hf = format!("{field}.headers[{i}]");
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok();
        if name.is_none() {
            cx.error(
                &format!("{hf}.name"),
                format!("{:?} is not a valid header name", h.name),
            );
        }
        let value = cx.value_source(&hf, h.value.as_deref(), h.expression.as_deref());
        match name.zip(value) {
            Some(header) => headers.push(header),
            None => ok = false,
        }
    }
    let basic_auth = match &spec.basic_auth {
        None => None,
        Some(auth) => match auth.password_from.env_var() {
            Some(var) => Some((auth.username.clone(), var)),
            None => {
                cx.error(
                    &format!("{field}.basicAuth.passwordFrom"),
                    "set env or secretKeyRef",
                );
                ok = false;
                None
            }
        },
    };
    if spec.basic_auth.is_some() && spec.oauth.is_some() {
        cx.error(
            &format!("{field}.oauth"),
            "an endpoint sends one Authorization header: set basicAuth or oauth, not both",
        );
        ok = false;
    }
    let oauth = match &spec.oauth {
        None => None,
        Some(o) => {
            let o = oauth(cx, &format!("{field}.oauth"), o);
            ok &= o.is_some();
            o
        }
    };
    let (timeout, discard_on_timeout) = match &spec.timeout {
        None => (None, false),
        Some(t) => (
            t.duration.map(Duration::from_millis),
            t.response_action == ResponseAction::Discard,
        ),
    };
    let retry = match &spec.retry {
        None => None,
        Some(r) => {
            let codes = if r.error_codes.is_empty() {
                Some(None)
            } else {
                error_codes(cx, &format!("{field}.retry.errorCodes"), &r.error_codes).map(Some)
            };
            codes.map(|codes| Retry {
                count: r.count,
                delay: Duration::from_millis(r.delay),
                codes,
            })
        }
    };
    ok &= spec.retry.is_none() || retry.is_some();
    let suspension = suspension(cx, field, spec);
    let addressing = match &spec.enable_addressing {
        None => None,
        Some(a) if a.separate_listener => {
            cx.error(
                &format!("{field}.enableAddressing.separateListener"),
                "a separate listener for answers is not supported: the answer comes back on \
                 the request's connection (leave separateListener false)",
            );
            ok = false;
            None
        }
        Some(a) => Some(a.version),
    };
    let tls = match &spec.tls {
        None => Some(None),
        Some(tls) => super::tls::client(cx, &format!("{field}.tls"), tls).map(Some),
    };
    ok.then_some(())?;
    Some(Leaf {
        tls: tls?,
        target,
        headers,
        basic_auth,
        timeout,
        discard_on_timeout,
        retry,
        suspension: suspension?,
        oauth,
        addressing,
    })
}

/// Refuses a URL scheme the runtime cannot call (`http://` and `https://`), so such an
/// endpoint fails when it loads instead of on every call.
fn scheme_supported(cx: &mut Cx<'_>, field: &str, url: &str) -> bool {
    let Some((scheme, _)) = url.split_once("://") else {
        return true;
    };
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return true;
    }
    cx.error(
        field,
        format!("the {scheme} scheme is not supported; endpoints call http:// and https:// URLs"),
    );
    false
}

fn http_target(cx: &mut Cx<'_>, field: &str, spec: &HttpEndpoint) -> Option<Target> {
    let uri = uri_template(cx, &format!("{field}.uriTemplate"), spec)?;
    let (message_type, envelope) = match spec.format {
        None | Some(AddressFormat::Rest) => (None, Envelope::AsIs),
        Some(AddressFormat::Get) => {
            cx.error(
                &format!("{field}.format"),
                "an http endpoint says get with method: get",
            );
            return None;
        }
        Some(format) => format_envelope(format),
    };
    Some(Target::Http {
        uri,
        method: spec.method,
        message_type,
        envelope,
    })
}

/// The content type and envelope handling of a format that writes the message its way.
fn format_envelope(format: AddressFormat) -> (Option<&'static str>, Envelope) {
    match format {
        AddressFormat::Pox => (Some("application/xml"), Envelope::Unwrap),
        AddressFormat::Soap11 => (Some("text/xml"), Envelope::Soap11),
        AddressFormat::Soap12 => (Some("application/soap+xml"), Envelope::Soap12),
        AddressFormat::Rest | AddressFormat::Get => (None, Envelope::AsIs),
    }
}

fn address_target(cx: &mut Cx<'_>, field: &str, spec: &AddressEndpoint) -> Option<Target> {
    let uf = format!("{field}.uri");
    // A fixed URL may still read configuration keys (`${config.backend.port}`), which are
    // fixed for the life of a configuration: checked with stand-in values here, folded in
    // when the runtime builds the endpoint.
    let template = cx.template(&uf, &spec.uri)?;
    let mut probe = String::new();
    for part in &template.parts {
        match part {
            Part::Literal(text) => probe.push_str(text),
            Part::Expr(e) if !e.config_keys().is_empty() => probe.push('1'),
            Part::Expr(_) | Part::Arg(_) => {
                cx.error(
                    &uf,
                    "an address is a fixed URL: only ${config.KEY} may be inside it \
                     (use an http endpoint's uriTemplate for values per message)",
                );
                return None;
            }
        }
    }
    if let Err(e) = probe.parse::<Uri>() {
        cx.error(&uf, format!("not a valid URL: {e}"));
        return None;
    }
    if !scheme_supported(cx, &uf, &spec.uri) {
        return None;
    }
    let (append_postfix, method, message_type, envelope) = match spec.format {
        None | Some(AddressFormat::Rest) => (true, None, None, Envelope::AsIs),
        Some(AddressFormat::Get) => (true, Some(HttpMethod::Get), None, Envelope::AsIs),
        Some(format) => {
            let (message_type, envelope) = format_envelope(format);
            (false, None, message_type, envelope)
        }
    };
    Some(Target::Address {
        uri: spec.uri.trim_end_matches('/').to_string(),
        append_postfix,
        method,
        message_type,
        envelope,
    })
}

/// Splits an `http` URI template into literals, `{variables}` and `${expressions}`.
fn uri_template(cx: &mut Cx<'_>, field: &str, spec: &HttpEndpoint) -> Option<Vec<UriPart>> {
    let src = &spec.uri_template;
    let template = cx.template(field, src)?;
    if let Some(Part::Literal(first)) = template.parts.first()
        && !scheme_supported(cx, field, first)
    {
        return None;
    }
    let mut parts = Vec::new();
    for part in template.parts {
        match part {
            Part::Expr(e) => parts.push(UriPart::Expr(e)),
            Part::Arg(_) => {}
            Part::Literal(text) => {
                let mut rest = text.as_str();
                while let Some(open) = rest.find('{') {
                    let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                        cx.error(field, format!("unclosed {{ in {src:?}"));
                        return None;
                    };
                    if open > 0 {
                        parts.push(UriPart::Literal(rest[..open].to_string()));
                    }
                    let var = &rest[open + 1..close];
                    let (raw, var) = match var.strip_prefix('+') {
                        Some(v) => (true, v),
                        None => (spec.legacy_encoding, var),
                    };
                    if var.is_empty() {
                        cx.error(field, format!("empty variable {{}} in {src:?}"));
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

fn error_codes(cx: &mut Cx<'_>, field: &str, codes: &[i32]) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(codes.len());
    let mut ok = true;
    for (i, c) in codes.iter().enumerate() {
        match u32::try_from(*c) {
            Ok(c) => out.push(c),
            Err(_) => {
                cx.error(
                    &format!("{field}[{i}]"),
                    "an error code is a positive number",
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// The suspension policy, when the endpoint asks for one (`Some(None)` when it does not).
/// Ferry suspends an endpoint only when `suspendOnFailure` or `markForSuspension` is
/// written: a single backend behind an API should not be taken out by one failure unless
/// the user said so.
fn suspension(cx: &mut Cx<'_>, field: &str, spec: &EndpointSpec) -> Option<Option<Suspension>> {
    let (mark, suspend) = (
        spec.mark_for_suspension.as_ref(),
        spec.suspend_on_failure.as_ref(),
    );
    if mark.is_none() && suspend.is_none() {
        return Some(None);
    }
    let mark_codes = match mark {
        Some(m) if !m.error_codes.is_empty() => Some(error_codes(
            cx,
            &format!("{field}.markForSuspension.errorCodes"),
            &m.error_codes,
        )),
        _ => None,
    };
    let suspend_codes = match suspend {
        Some(s) if !s.error_codes.is_empty() => Some(error_codes(
            cx,
            &format!("{field}.suspendOnFailure.errorCodes"),
            &s.error_codes,
        )),
        _ => None,
    };
    let defaults = SuspendOnFailure {
        error_codes: Vec::new(),
        initial_duration: 30_000,
        progression_factor: 1.0,
        maximum_duration: None,
    };
    let s = suspend.unwrap_or(&defaults);
    let factor_ok = s.progression_factor.is_finite() && s.progression_factor >= 1.0;
    if !factor_ok {
        cx.error(
            &format!("{field}.suspendOnFailure.progressionFactor"),
            "must be a number of at least 1",
        );
    }
    let mark_codes = match mark_codes {
        Some(codes) => Some(codes?),
        None => None,
    };
    let suspend_codes = match suspend_codes {
        Some(codes) => Some(codes?),
        None => None,
    };
    factor_ok.then_some(())?;
    Some(Some(Suspension {
        mark_codes,
        suspend_codes,
        retries_before_suspension: mark.map_or(0, |m| m.retries_before_suspension),
        initial: Duration::from_millis(s.initial_duration),
        progression_factor: s.progression_factor,
        maximum: s.maximum_duration.map(Duration::from_millis),
    }))
}

/// The names of the endpoints a spec's groups refer to by `key`, inline groups included:
/// the edges the cycle check follows.
pub(crate) fn key_refs(spec: &EndpointSpec) -> Vec<String> {
    let mut out = Vec::new();
    for (_, child) in spec.children() {
        if let Some(key) = &child.key {
            out.push(key.clone());
        } else if let Some(inline) = child.inline() {
            out.extend(key_refs(&inline));
        }
    }
    out
}

/// Checks `oauth`: the client credentials grant is run; the other grants are refused.
fn oauth(cx: &mut Cx<'_>, field: &str, spec: &crate::resources::OAuth) -> Option<OAuthClient> {
    use crate::resources::{OAuthAuthMode, OAuthGrant};
    let before = cx.error_count();
    if spec.grant_type != OAuthGrant::ClientCredentials {
        cx.error(
            &format!("{field}.grantType"),
            "only clientCredentials is supported (the password and authorization-code grants are not)",
        );
    }
    for (set, at) in [
        (spec.username.is_some(), "username"),
        (spec.password_from.is_some(), "passwordFrom"),
        (spec.refresh_token_from.is_some(), "refreshTokenFrom"),
    ] {
        if set {
            cx.error(
                &format!("{field}.{at}"),
                "belongs to a grant other than clientCredentials, which is not supported",
            );
        }
    }
    let url_ok = (spec.token_url.starts_with("http://") || spec.token_url.starts_with("https://"))
        && spec.token_url.parse::<http::Uri>().is_ok();
    if !url_ok {
        cx.error(
            &format!("{field}.tokenUrl"),
            format!("{:?} is not an http:// or https:// URL", spec.token_url),
        );
    }
    if spec.client_id.is_empty() {
        cx.error(&format!("{field}.clientId"), "may not be empty");
    }
    let secret = spec.client_secret_from.env_var();
    if secret.is_none() {
        cx.error(
            &format!("{field}.clientSecretFrom"),
            "set env or secretKeyRef",
        );
    }
    for reserved in [
        "grant_type",
        "client_id",
        "client_secret",
        "scope",
        "audience",
    ] {
        if spec.additional_parameters.contains_key(reserved) {
            cx.error(
                &format!("{field}.additionalParameters.{reserved}"),
                "is set by Ferry from the other fields",
            );
        }
    }
    (cx.error_count() == before).then(|| OAuthClient {
        token_url: spec.token_url.clone(),
        client_id: spec.client_id.clone(),
        client_secret_env: secret.unwrap_or_default(),
        scopes: spec.scopes.clone(),
        audience: spec.audience.clone(),
        parameters: spec
            .additional_parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        credentials_in_header: spec.auth_mode == OAuthAuthMode::Header,
    })
}
