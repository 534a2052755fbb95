//! Synapse endpoints to Ferry endpoints: `address`, `http`, `failover` and `loadbalance`
//! with their timeout and suspension settings; named (`<endpoint key>`) or inline.

use serde_json::{Value, json};

use super::cx::{Cx, Obj, dynamic, segment};
use super::dom::Element;
use super::names::Family;

/// An endpoint where a mediator names or defines one: `{key}`, `{keyExpression}` or an
/// inline definition.
pub fn reference(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    if let Some(key) = el.attr("key") {
        cx.check_attrs(el, &["key", "name"]);
        return Some(json!({ "key": cx.reference(Family::Endpoint, key) }));
    }
    if let Some(expr) = el.attr("key-expression") {
        cx.check_attrs(el, &["key-expression", "name"]);
        let expr = dynamic(expr).unwrap_or(expr);
        return Some(json!({ "keyExpression": expr }));
    }
    definition(cx, el)
}

/// The spec of an `<endpoint>` definition (named or inline), without `runtime`.
pub fn definition(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    if let Some(template) = el.attr("template") {
        return from_template(cx, el, template);
    }
    cx.check_attrs(el, &["name"]);
    cx.check_children(
        el,
        &[
            "address",
            "http",
            "failover",
            "loadbalance",
            "property",
            "description",
        ],
    );
    for (i, p) in el.children.iter().enumerate() {
        if p.name == "property" {
            cx.within(segment(el, i), |cx| {
                cx.not_imported(p, "endpoint properties are not imported yet; set them with property mediators before the call")
            });
        }
    }
    let leaf = el.children.iter().enumerate().find(|(_, c)| {
        matches!(
            c.name.as_str(),
            "address" | "http" | "failover" | "loadbalance"
        )
    });
    let Some((i, kind)) = leaf else {
        cx.not_imported(
            el,
            "an endpoint that is not address, http, failover or loadbalance is not imported yet",
        );
        return None;
    };
    cx.within(segment(el, i), |cx| match kind.name.as_str() {
        "address" => address(cx, kind),
        "http" => http(cx, kind),
        "failover" => failover(cx, kind),
        _ => loadbalance(cx, kind),
    })
}

/// `<endpoint template="T" uri=".." name=".."><parameter name value/>`: the template's
/// `<endpoint>` with `$uri`, `$name` and each `$param` filled in, converted as if written
/// here (every line at the using element).
fn from_template(cx: &mut Cx<'_>, el: &Element, name: &str) -> Option<Value> {
    cx.check_attrs(el, &["name", "template", "uri"]);
    cx.check_children(el, &["parameter"]);
    let templates = cx.endpoint_templates;
    let Some(body) = templates.get(name).and_then(|t| t.child("endpoint")) else {
        cx.not_imported(
            el,
            format!("the endpoint template {name} is not part of this import; left out"),
        );
        return None;
    };
    let mut values: Vec<(String, String)> = Vec::new();
    for p in templates
        .get(name)
        .into_iter()
        .flat_map(|t| t.children_named("parameter"))
    {
        if let (Some(n), Some(d)) = (p.attr("name"), p.attr("defaultValue")) {
            values.push((n.to_string(), d.to_string()));
        }
    }
    for p in el.children_named("parameter") {
        if let (Some(n), Some(v)) = (p.attr("name"), p.attr("value")) {
            values.retain(|(k, _)| k != n);
            values.push((n.to_string(), v.to_string()));
        }
    }
    for (key, attr) in [("uri", "uri"), ("name", "name")] {
        if let Some(v) = el.attr(attr) {
            values.retain(|(k, _)| k != key);
            values.push((key.to_string(), v.to_string()));
        }
    }
    // `$uri` before `$u`: the longer name wins where one is a prefix of another.
    values.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut expanded = body.clone();
    fill(&mut expanded, &values, el.line);
    let left: Vec<String> = unfilled(&expanded);
    if !left.is_empty() {
        cx.not_imported(
            el,
            format!(
                "the endpoint template {name} needs {} and this endpoint gives no value; left out",
                left.join(", ")
            ),
        );
        return None;
    }
    cx.adjusted(
        el,
        format!(
            "the endpoint template {name} is written out here: Ferry has no endpoint templates"
        ),
    );
    // The template's own name attribute (`$name`) is the using endpoint's.
    expanded.attrs.retain(|(k, _)| k != "template");
    definition(cx, &expanded)
}

/// Replaces `$key` by its value in every attribute and text under `el`, and moves every
/// line to `line`.
fn fill(el: &mut Element, values: &[(String, String)], line: u32) {
    let apply = |s: &str| {
        let mut out = s.to_string();
        for (k, v) in values {
            out = out.replace(&format!("${k}"), v);
        }
        out
    };
    for (_, v) in &mut el.attrs {
        *v = apply(v);
    }
    el.text = apply(&el.text);
    el.line = line;
    // The content span points into the template's file, not this one.
    el.inner = 0..0;
    for c in &mut el.children {
        fill(c, values, line);
    }
}

/// `$placeholders` still in attributes after filling (template parameters without a value).
fn unfilled(el: &Element) -> Vec<String> {
    let mut out = Vec::new();
    let mut scan = |s: &str| {
        for part in s.split('$').skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$SYSTEM:` and `$FILE:` are MI's injections, resolved where the endpoint runs.
            if !name.is_empty() && !matches!(name.as_str(), "SYSTEM" | "FILE") {
                out.push(format!("${name}"));
            }
        }
    };
    for (_, v) in &el.attrs {
        scan(v);
    }
    scan(&el.text);
    for c in &el.children {
        out.extend(unfilled(c));
    }
    out.sort();
    out.dedup();
    out
}

const LEAF_CHILDREN: &[&str] = &[
    "timeout",
    "suspendOnFailure",
    "markForSuspension",
    "enableAddressing",
    "enableSec",
    "enableRM",
    "authentication",
    "retryConfig",
];

fn format_of(cx: &mut Cx<'_>, el: &Element) -> Option<&'static str> {
    match el.attr("format")? {
        "soap11" => Some("soap11"),
        "soap12" => Some("soap12"),
        "pox" => Some("pox"),
        "rest" => Some("rest"),
        "get" => Some("get"),
        "leave_as_is" => None,
        other => {
            cx.not_imported(
                el,
                format!("format \"{other}\" is not available in Ferry; left out"),
            );
            None
        }
    }
}

fn address(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "uri",
            "format",
            "optimize",
            "statistics",
            "trace",
            "encoding",
        ],
    );
    cx.check_children(el, LEAF_CHILDREN);
    let Some(uri) = el.attr("uri") else {
        cx.not_imported(el, "address without uri; left out");
        return None;
    };
    let format = format_of(cx, el);
    let address = Obj::new().s("uri", Some(uri)).s("format", format).build();
    Some(leaf_settings(
        cx,
        el,
        Obj::new().v("address", Some(address)),
    ))
}

fn http(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &["uri-template", "method", "format", "statistics", "trace"],
    );
    cx.check_children(el, LEAF_CHILDREN);
    let Some(template) = el.attr("uri-template") else {
        cx.not_imported(el, "http endpoint without uri-template; left out");
        return None;
    };
    let (template, legacy) = match template.strip_prefix("legacy-encoding:") {
        Some(rest) => (rest, true),
        None => (template, false),
    };
    let method = el.attr("method").map(str::to_ascii_lowercase);
    let format = format_of(cx, el).filter(|f| *f != "get");
    let http = Obj::new()
        .s("uriTemplate", Some(template))
        .s("method", method)
        .s("format", format)
        .v("legacyEncoding", legacy.then_some(Value::Bool(true)))
        .build();
    Some(leaf_settings(cx, el, Obj::new().v("http", Some(http))))
}

/// `timeout`, `markForSuspension`, `suspendOnFailure` of a leaf endpoint.
fn leaf_settings(cx: &mut Cx<'_>, el: &Element, mut out: Obj) -> Value {
    if let Some(a) = el.child("authentication") {
        let (key, value) = cx
            .within("authentication", |cx| authentication(cx, a))
            .unzip();
        if let Some(key) = key {
            out = out.v(key, value);
        }
    }
    for name in ["enableAddressing", "enableSec", "enableRM", "retryConfig"] {
        if let Some(c) = el.child(name) {
            cx.within(name, |cx| {
                cx.not_imported(c, format!("<{name}> is not imported yet; configure it on the Ferry endpoint by hand (docs/endpoints.md)"))
            });
        }
    }
    if let Some(t) = el.child("timeout") {
        let timeout = cx.within("timeout", |cx| {
            cx.check_children(t, &["duration", "responseAction", "action"]);
            let duration = t
                .child("duration")
                .and_then(|d| cx.number(d, "duration", d.text_trimmed()));
            let action = t
                .child("responseAction")
                .or_else(|| t.child("action"))
                .map(|a| a.text_trimmed().to_ascii_lowercase());
            let action = match action.as_deref() {
                None | Some("fault") => action,
                Some("discard") => action,
                Some(other) => {
                    cx.adjusted(t, format!("responseAction \"{other}\" is not available in Ferry; a timeout raises a fault"));
                    None
                }
            };
            Obj::new()
                .v("duration", duration.map(|d| json!(d)))
                .s("responseAction", action)
                .build()
        });
        out = out.v("timeout", Some(timeout));
    }
    let codes = |cx: &mut Cx<'_>, e: &Element| -> Option<Value> {
        let c = e.child("errorCodes")?;
        let mut list = Vec::new();
        for code in c.text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(n) = cx.number(c, "error code", code) {
                list.push(json!(n));
            }
        }
        Some(Value::Array(list))
    };
    let mut suspension = false;
    if let Some(m) = el.child("markForSuspension") {
        suspension = true;
        let mark = cx.within("markForSuspension", |cx| {
            cx.check_children(m, &["errorCodes", "retriesBeforeSuspension", "retryDelay"]);
            let retries = m
                .child("retriesBeforeSuspension")
                .and_then(|r| cx.number(r, "retriesBeforeSuspension", r.text_trimmed()));
            let delay = m
                .child("retryDelay")
                .and_then(|r| cx.number(r, "retryDelay", r.text_trimmed()));
            Obj::new()
                .v("errorCodes", codes(cx, m))
                .v("retriesBeforeSuspension", retries.map(|n| json!(n)))
                .v("retryDelay", delay.map(|n| json!(n)))
                .build()
        });
        out = out.v("markForSuspension", Some(mark));
    }
    if let Some(s) = el.child("suspendOnFailure") {
        suspension = true;
        let suspend = cx.within("suspendOnFailure", |cx| {
            cx.check_children(
                s,
                &[
                    "errorCodes",
                    "initialDuration",
                    "progressionFactor",
                    "maximumDuration",
                ],
            );
            let initial = s
                .child("initialDuration")
                .and_then(|r| cx.number(r, "initialDuration", r.text_trimmed()));
            let maximum = s
                .child("maximumDuration")
                .and_then(|r| cx.number(r, "maximumDuration", r.text_trimmed()));
            let factor =
                s.child("progressionFactor")
                    .and_then(|f| match f.text_trimmed().parse::<f64>() {
                        Ok(v) if v >= 1.0 => Some(json!(v)),
                        _ => {
                            cx.not_imported(
                                f,
                                format!(
                                    "progressionFactor \"{}\" is not a number ≥ 1; left out",
                                    f.text_trimmed()
                                ),
                            );
                            None
                        }
                    });
            Obj::new()
                .v("errorCodes", codes(cx, s))
                // MI's -1 is its code default, 30000 ms: Ferry's default too.
                .v(
                    "initialDuration",
                    initial.filter(|n| *n >= 0).map(|n| json!(n)),
                )
                .v("progressionFactor", factor)
                .v(
                    "maximumDuration",
                    maximum.filter(|m| *m > 0).map(|n| json!(n)),
                )
                .build()
        });
        out = out.v("suspendOnFailure", Some(suspend));
    }
    if !suspension {
        cx.adjusted(el, "no markForSuspension or suspendOnFailure: MI would suspend this endpoint after a failure, Ferry never does unless told (docs/endpoints.md)");
    }
    out.build()
}

/// MI's `<authentication>`: `basicAuth` or `oauth` (client credentials, or the password
/// and authorization-code grants Ferry reports), secrets as references.
fn authentication(cx: &mut Cx<'_>, el: &Element) -> Option<(&'static str, Value)> {
    cx.check_attrs(el, &[]);
    cx.check_children(el, &["basicAuth", "oauth"]);
    if let Some(b) = el.child("basicAuth") {
        return cx.within("basicAuth", |cx| {
            cx.check_children(b, &["username", "password"]);
            let text = |name: &str| b.child(name).map(|c| c.text_trimmed().to_string());
            let (Some(user), Some(password)) = (text("username"), text("password")) else {
                cx.not_imported(b, "basicAuth needs username and password; left out");
                return None;
            };
            let from = cx.secret_from(b, &password, "BASIC_AUTH_PASSWORD", "basic-auth password");
            Some((
                "basicAuth",
                json!({ "username": user, "passwordFrom": from }),
            ))
        });
    }
    let o = el.child("oauth")?;
    cx.within("oauth", |cx| {
        cx.check_children(
            o,
            &[
                "clientCredentials",
                "passwordCredentials",
                "authorizationCode",
            ],
        );
        let Some(grant) = o.children.first() else {
            cx.not_imported(o, "oauth without a grant; left out");
            return None;
        };
        let name = grant.name.clone();
        cx.within(name.clone(), |cx| oauth(cx, grant))
    })
}

fn oauth(cx: &mut Cx<'_>, g: &Element) -> Option<(&'static str, Value)> {
    if g.name != "clientCredentials" {
        cx.not_imported(
            g,
            format!("the OAuth {} grant is not run by Ferry (client credentials is: docs/security.md#oauth2-client-credentials); left out", g.name),
        );
        return None;
    }
    cx.check_children(
        g,
        &[
            "clientId",
            "clientSecret",
            "tokenUrl",
            "authMode",
            "requestParameters",
            "connectionTimeout",
            "connectionRequestTimeout",
            "socketTimeout",
            "customHeaders",
        ],
    );
    let text = |name: &str| g.child(name).map(|c| c.text_trimmed().to_string());
    let (Some(id), Some(secret), Some(url)) =
        (text("clientId"), text("clientSecret"), text("tokenUrl"))
    else {
        cx.not_imported(
            g,
            "clientCredentials needs clientId, clientSecret and tokenUrl; left out",
        );
        return None;
    };
    let from = cx.secret_from(g, &secret, "OAUTH_CLIENT_SECRET", "OAuth client secret");
    let mode = match text("authMode").map(|m| m.to_ascii_lowercase()).as_deref() {
        None | Some("header") => None,
        Some("payload") => Some("payload"),
        Some(other) => {
            cx.not_imported(
                g,
                format!("authMode {other} is not header or payload; the header is used"),
            );
            None
        }
    };
    let mut scopes = Vec::new();
    let mut audience = None;
    let mut extra = serde_json::Map::new();
    if let Some(params) = g.child("requestParameters") {
        for p in params.children_named("parameter") {
            let value = p.text_trimmed().to_string();
            match p.attr("name").unwrap_or_default() {
                "scope" => scopes.extend(value.split_whitespace().map(|s| json!(s))),
                "audience" => audience = Some(value),
                "" => cx.not_imported(p, "a request parameter without name; left out"),
                other => {
                    extra.insert(other.to_string(), json!(value));
                }
            }
        }
    }
    for name in [
        "connectionTimeout",
        "connectionRequestTimeout",
        "socketTimeout",
        "customHeaders",
    ] {
        if let Some(c) = g.child(name) {
            cx.not_imported(c, format!("{name} of the token request has no Ferry counterpart (the token request goes through the endpoints' client); left out"));
        }
    }
    Some((
        "oauth",
        Obj::new()
            .s("tokenUrl", Some(url))
            .s("clientId", Some(id))
            .v("clientSecretFrom", Some(from))
            .list("scopes", scopes)
            .s("audience", audience)
            .v(
                "additionalParameters",
                (!extra.is_empty()).then_some(Value::Object(extra)),
            )
            .s("authMode", mode)
            .build(),
    ))
}

/// The children of a failover or loadbalance group.
fn members(cx: &mut Cx<'_>, el: &Element) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, c) in el.children.iter().enumerate() {
        if c.name == "endpoint"
            && let Some(v) = cx.within(segment(el, i), |cx| reference(cx, c))
        {
            out.push(v);
        }
    }
    out
}

fn failover(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["dynamic", "buildMessage"]);
    cx.check_children(el, &["endpoint"]);
    let endpoints = members(cx, el);
    let group = Obj::new()
        .v("endpoints", Some(Value::Array(endpoints)))
        .v(
            "dynamic",
            cx.bool_attr(el, "dynamic").filter(|d| !d).map(Value::Bool),
        )
        .v(
            "buildMessage",
            cx.bool_attr(el, "buildMessage")
                .filter(|b| *b)
                .map(Value::Bool),
        )
        .build();
    Some(json!({ "failover": group }))
}

fn loadbalance(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["algorithm", "failover", "buildMessage", "policy"]);
    cx.check_children(el, &["endpoint", "session"]);
    // Round robin is Ferry's default; weights live on the children in Synapse and are not
    // imported yet, so a weighted algorithm is reported and round robin used.
    match el.attr("algorithm") {
        Some(a) if a.ends_with(".RoundRobin") || a == "RoundRobin" => {}
        None => {}
        Some(other) => cx.not_imported(
            el,
            format!("load-balance algorithm {other} is not imported yet; round robin is used"),
        ),
    }
    let session = match el.child("session") {
        Some(s) => cx.within("session", |cx| {
            cx.check_attrs(s, &["type"]);
            cx.check_children(s, &["sessionTimeout"]);
            let type_ = match s.attr("type") {
                Some("http") => "http",
                Some("simpleClientSession") => "simpleClientSession",
                Some("soap") => "soap",
                other => {
                    cx.not_imported(
                        s,
                        format!("session type {other:?} is not available in Ferry; left out"),
                    );
                    return None;
                }
            };
            let timeout = s
                .child("sessionTimeout")
                .and_then(|t| cx.number(t, "sessionTimeout", t.text_trimmed()));
            Some(
                Obj::new()
                    .s("type", Some(type_))
                    .v("timeout", timeout.map(|t| json!(t)))
                    .build(),
            )
        }),
        None => None,
    };
    let endpoints = members(cx, el);
    let group = Obj::new()
        .v("endpoints", Some(Value::Array(endpoints)))
        .v(
            "failover",
            cx.bool_attr(el, "failover").filter(|f| !f).map(Value::Bool),
        )
        .v(
            "buildMessage",
            cx.bool_attr(el, "buildMessage")
                .filter(|b| *b)
                .map(Value::Bool),
        )
        .v("session", session)
        .build();
    Some(json!({ "loadbalance": group }))
}
