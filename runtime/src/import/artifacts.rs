//! Synapse artifacts to Ferry resources, one function per artifact kind: API, proxy
//! service, sequence, template, endpoint, message store, message processor, task, local entry
//! and inbound endpoint (in `inbound.rs`). Each returns the resource's `spec`; `mod.rs` wraps it with its metadata.

use serde_json::{Value, json};

use super::cx::{Cx, Obj, segment};
use super::dom::Element;
use super::endpoints;
use super::mediators;
use super::names::Family;

/// What an artifact element becomes.
pub struct Kind {
    /// The Ferry kind.
    pub kind: &'static str,
    /// The name family (for references).
    pub family: Family,
    /// The output folder (MI's artifact folder names).
    pub folder: &'static str,
}

/// The Ferry kind of a Synapse artifact element, if it has one.
pub fn kind_of(element: &str) -> Option<Kind> {
    let (kind, family, folder) = match element {
        "api" => ("IntegrationAPI", Family::Api, "apis"),
        "proxy" => ("ProxyService", Family::Proxy, "proxy-services"),
        "sequence" => ("Sequence", Family::Sequence, "sequences"),
        "template" => ("Template", Family::Template, "templates"),
        "endpoint" => ("Endpoint", Family::Endpoint, "endpoints"),
        "messageStore" => ("MessageStore", Family::Store, "message-stores"),
        "messageProcessor" => ("MessageProcessor", Family::Processor, "message-processors"),
        "task" => ("ScheduledTask", Family::Task, "tasks"),
        "localEntry" => ("LocalEntry", Family::LocalEntry, "local-entries"),
        "inboundEndpoint" => ("InboundEndpoint", Family::Inbound, "inbound-endpoints"),
        "data" => ("DataService", Family::DataService, "data-services"),
        // Only inside a `<data>`: `mod.rs` classifies each of its configs.
        "config" => ("DataSource", Family::DataSource, "data-sources"),
        _ => return None,
    };
    Some(Kind {
        kind,
        family,
        folder,
    })
}

/// The Synapse name of an artifact element (`key` for a local entry).
pub fn name_of(el: &Element) -> Option<&str> {
    if el.name == "localEntry" {
        el.attr("key")
    } else {
        el.attr("name")
    }
}

/// Converts an artifact to its spec, or `None` (reported) when it cannot be imported.
pub fn spec(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    match el.name.as_str() {
        "api" => api(cx, el),
        "proxy" => proxy(cx, el),
        "sequence" => sequence(cx, el),
        "template" => template(cx, el),
        "endpoint" => endpoints::definition(cx, el),
        "messageStore" => message_store(cx, el),
        "messageProcessor" => message_processor(cx, el),
        "task" => task(cx, el),
        "localEntry" => local_entry(cx, el),
        "inboundEndpoint" => super::inbound::inbound(cx, el),
        "data" => super::data::service(cx, el),
        "config" => super::data::source(cx, el),
        _ => None,
    }
}

/// `enable`/`disable` (MI's trace and statistics flags) as `true` or nothing.
fn enabled(el: &Element, name: &str) -> Option<Value> {
    (el.attr(name) == Some("enable")).then_some(Value::Bool(true))
}

// === IntegrationAPI ===

fn api(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "name",
            "context",
            "version",
            "version-type",
            "hostname",
            "port",
            "trace",
            "statistics",
        ],
    );
    cx.check_children(el, &["resource", "handlers"]);
    if let Some(h) = el.child("handlers") {
        cx.within("handlers", |cx| {
            cx.not_imported(h, "API handlers are Java classes and cannot run in Ferry; use the API's authentication settings (docs/security.md)")
        });
    }
    let port = match el.attr("port") {
        Some(p) => cx
            .number(el, "port", p)
            .filter(|p| *p > 0 && *p != -1)
            .map(|p| json!(p)),
        None => None,
    };
    let version_type = el
        .attr("version-type")
        .filter(|v| !v.is_empty() && *v != "context");
    let mut resources = Vec::new();
    for (i, r) in el.children.iter().enumerate() {
        if r.name == "resource"
            && let Some(v) = cx.within(segment(el, i), |cx| resource(cx, r))
        {
            resources.push(v);
        }
    }
    Some(
        Obj::new()
            .s("context", el.attr("context"))
            .s("version", el.attr("version").filter(|v| !v.is_empty()))
            .s("versionType", el.attr("version").and(version_type))
            .s("hostname", el.attr("hostname"))
            .v("port", port)
            .v("trace", enabled(el, "trace"))
            .v("statistics", enabled(el, "statistics"))
            .list("resources", resources)
            .build(),
    )
}

fn resource(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "methods",
            "uri-template",
            "url-mapping",
            "protocol",
            "content-type",
            "user-agent",
            "inSequence",
            "outSequence",
            "faultSequence",
        ],
    );
    cx.check_children(el, &["inSequence", "outSequence", "faultSequence"]);
    let methods: Vec<Value> = el
        .attr("methods")
        .unwrap_or("")
        .split_whitespace()
        .map(|m| Value::String(m.to_ascii_uppercase()))
        .collect();
    let protocol = match el.attr("protocol") {
        Some("http") => Some("http"),
        Some("https") => Some("https"),
        _ => None,
    };
    Some(
        Obj::new()
            .list("methods", methods)
            .s("uriTemplate", el.attr("uri-template"))
            .s("urlMapping", el.attr("url-mapping"))
            .s("protocol", protocol)
            .s("contentType", el.attr("content-type"))
            .s("userAgent", el.attr("user-agent"))
            .list("inSequence", mediators::flow(cx, el, "inSequence"))
            .list("outSequence", mediators::flow(cx, el, "outSequence"))
            .list("faultSequence", mediators::flow(cx, el, "faultSequence"))
            .build(),
    )
}

// === ProxyService ===

fn proxy(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "name",
            "transports",
            "startOnLoad",
            "trace",
            "statistics",
            "serviceGroup",
            "pinnedServers",
        ],
    );
    cx.check_children(
        el,
        &[
            "target",
            "publishWSDL",
            "parameter",
            "policy",
            "enableAddressing",
            "enableSec",
        ],
    );
    for (i, c) in el.children.iter().enumerate() {
        if matches!(
            c.name.as_str(),
            "parameter" | "policy" | "enableAddressing" | "enableSec"
        ) {
            let message = match c.attr("name") {
                Some(n) if c.name == "parameter" => proxy_parameter(n),
                _ => format!(
                    "<{}> (WS-Security, WS-Addressing and WS-Policy of a proxy) is not run by Ferry; secure the proxy with its authentication settings (docs/security.md)",
                    c.name
                ),
            };
            cx.within(segment(el, i), |cx| cx.not_imported(c, message));
        }
    }
    if el.attr("startOnLoad") == Some("false") {
        cx.adjusted(
            el,
            "startOnLoad=\"false\": Ferry serves every proxy it loads",
        );
    }
    let mut transports = Vec::new();
    for t in el
        .attr("transports")
        .unwrap_or("http https")
        .split([' ', ','])
    {
        match t.trim() {
            "" => {}
            "http" | "https" => transports.push(Value::String(t.trim().to_string())),
            other => cx.not_imported(el, proxy_transport(other)),
        }
    }
    let Some(t) = el.child("target") else {
        cx.not_imported(el, "a proxy without a target; left out");
        return None;
    };
    let target = cx.within("target", |cx| {
        cx.check_attrs(
            t,
            &["inSequence", "outSequence", "faultSequence", "endpoint"],
        );
        cx.check_children(
            t,
            &["inSequence", "outSequence", "faultSequence", "endpoint"],
        );
        let endpoint = match (t.attr("endpoint"), t.child("endpoint")) {
            (Some(name), _) => Some(json!({ "key": cx.reference(Family::Endpoint, name) })),
            (None, Some(e)) => cx.within("endpoint", |cx| endpoints::reference(cx, e)),
            (None, None) => None,
        };
        Obj::new()
            .list("inSequence", mediators::flow(cx, t, "inSequence"))
            .list("outSequence", mediators::flow(cx, t, "outSequence"))
            .list("faultSequence", mediators::flow(cx, t, "faultSequence"))
            .v("endpoint", endpoint)
            .build()
    });
    let wsdl = el.child("publishWSDL").and_then(|w| {
        cx.within("publishWSDL", |cx| {
            cx.check_attrs(w, &["key", "uri", "preservePolicy"]);
            if let Some(key) = w.attr("key") {
                Some(json!({ "key": cx.reference(Family::LocalEntry, key) }))
            } else if !w.children.is_empty() {
                Some(json!({ "inline": cx.inner_xml(w).trim() }))
            } else {
                cx.not_imported(w, "a WSDL published from a URI is not imported; save it as a LocalEntry and name its key");
                None
            }
        })
    });
    Some(
        Obj::new()
            .list("transports", transports)
            .v("target", Some(target))
            .v("wsdl", wsdl)
            .v("trace", enabled(el, "trace"))
            .v("statistics", enabled(el, "statistics"))
            .build(),
    )
}

/// What a proxy transport other than HTTP becomes in Ferry.
fn proxy_transport(transport: &str) -> String {
    let inbound = match transport {
        "jms" => Some("rabbitmq (for a JMS queue on RabbitMQ; other JMS brokers are not reached)"),
        "rabbitmq" => Some("rabbitmq"),
        "vfs" => Some("file"),
        "mqtt" => Some("mqtt"),
        _ => None,
    };
    match inbound {
        Some(protocol) => format!(
            "transport {transport}: a Ferry proxy answers HTTP only; a {transport} listener is an InboundEndpoint with protocol {protocol} injecting into a Sequence that holds this proxy's inSequence (docs/inbound.md); left out"
        ),
        None => format!(
            "transport {transport} is not served by Ferry (HTTP proxies and rabbitmq, mqtt and file InboundEndpoints are); left out"
        ),
    }
}

/// What a proxy `<parameter>` is in Ferry: a listener's setting belongs to the
/// InboundEndpoint that replaces that listener.
fn proxy_parameter(name: &str) -> String {
    let listener = [
        ("transport.jms.", "jms"),
        ("rabbitmq.", "rabbitmq"),
        ("transport.rabbitmq.", "rabbitmq"),
        ("transport.vfs.", "vfs"),
        ("mqtt.", "mqtt"),
        ("transport.mail.", "mail"),
    ]
    .iter()
    .find(|(prefix, _)| name.starts_with(prefix))
    .map(|(_, t)| *t);
    match listener {
        Some(t) => format!(
            "parameter {name} configures the proxy's {t} listener; in Ferry it is a parameter of the InboundEndpoint that takes this proxy's messages (docs/inbound.md); left out"
        ),
        None => format!("parameter {name} has no Ferry counterpart; left out"),
    }
}

// === Sequence, Template ===

fn sequence(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "onError", "trace", "statistics"]);
    if matches!(el.attr("name"), Some("main" | "fault")) {
        cx.adjusted(el, "MI runs the main and fault sequences for messages no API or proxy takes; in Ferry they are ordinary sequences that only run where something names them");
    }
    let mediators = mediators::list(cx, el);
    Some(
        Obj::new()
            .v("mediators", Some(Value::Array(mediators)))
            .s(
                "onError",
                el.attr("onError")
                    .map(|s| cx.reference(Family::Sequence, s)),
            )
            .v("trace", enabled(el, "trace"))
            .v("statistics", enabled(el, "statistics"))
            .build(),
    )
}

fn template(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "onError"]);
    cx.check_children(el, &["parameter", "sequence", "endpoint"]);
    if el.child("endpoint").is_some() {
        // Ferry has no endpoint templates: each endpoint naming this one gets its body with
        // the parameters filled in (endpoints.rs), so the template itself writes nothing.
        cx.adjusted(
            el,
            "an endpoint template is expanded into every endpoint that names it; no resource of its own",
        );
        return None;
    }
    let mut parameters = Vec::new();
    for (i, p) in el.children.iter().enumerate() {
        if p.name != "parameter" {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            cx.check_attrs(p, &["name", "isMandatory", "defaultValue"]);
            parameters.push(
                Obj::new()
                    .s("name", p.attr("name"))
                    .v(
                        "isMandatory",
                        cx.bool_attr(p, "isMandatory")
                            .filter(|b| *b)
                            .map(Value::Bool),
                    )
                    .s("defaultValue", p.attr("defaultValue"))
                    .build(),
            );
        });
    }
    let Some(s) = el.child("sequence") else {
        cx.not_imported(el, "a template without a sequence; left out");
        return None;
    };
    cx.check_attrs(s, &[]);
    let mediators = cx.within("sequence", |cx| mediators::list(cx, s));
    Some(
        Obj::new()
            .list("parameters", parameters)
            .v("mediators", Some(Value::Array(mediators)))
            .build(),
    )
}

// === MessageStore, MessageProcessor ===

/// Handles `parameter`s with `map`; reports every one it does not take.
fn each_parameter(
    cx: &mut Cx<'_>,
    el: &Element,
    mut map: impl FnMut(&mut Cx<'_>, &str, &Element, &str) -> bool,
) {
    for (i, c) in el.children.iter().enumerate() {
        if c.name != "parameter" {
            continue;
        }
        let name = c.attr("name").unwrap_or_default();
        let value = c
            .attr("value")
            .map_or_else(|| c.text_trimmed().to_string(), str::to_string);
        cx.within(format!("{}[@name='{name}']", segment(el, i)), |cx| {
            if !map(cx, name, c, &value) {
                cx.not_imported(
                    c,
                    format!("parameter {name} has no Ferry counterpart; left out"),
                );
            }
        });
    }
}

fn message_store(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "class"]);
    cx.check_children(el, &["parameter"]);
    let class = el
        .attr("class")
        .unwrap_or("org.apache.synapse.message.store.impl.memory.InMemoryStore");
    let simple = class.rsplit('.').next().unwrap_or(class);
    let mut failover = None;
    let spec = match simple {
        "InMemoryStore" => {
            each_parameter(cx, el, |_, name, _, value| {
                if name == "store.failover.message.store.name" {
                    failover = Some(value.to_string());
                    return true;
                }
                false
            });
            json!({ "type": "memory" })
        }
        "RabbitMQStore" => {
            let mut block = Obj::new();
            let mut password = None;
            each_parameter(cx, el, |cx, name, p, value| {
                let (key, v) = match name {
                    "store.rabbitmq.host.name" => ("host", json!(value)),
                    "store.rabbitmq.host.port" => match cx.number(p, name, value) {
                        Some(n) => ("port", json!(n)),
                        None => return true,
                    },
                    "store.rabbitmq.virtual.host" => ("virtualHost", json!(value)),
                    "store.rabbitmq.queue.name" => ("queue", json!(value)),
                    "store.rabbitmq.exchange.name" => ("exchange", json!(value)),
                    "store.rabbitmq.route.key" => ("routingKey", json!(value)),
                    "store.rabbitmq.username" => ("username", json!(value)),
                    "store.rabbitmq.password" => {
                        password = Some(value.to_string());
                        return true;
                    }
                    "rabbitmq.connection.ssl.enabled" | "store.rabbitmq.ssl.enabled" => {
                        if value != "true" {
                            return true;
                        }
                        ("tls", json!({}))
                    }
                    "store.failover.message.store.name" => {
                        failover = Some(value.to_string());
                        return true;
                    }
                    _ => return false,
                };
                block = std::mem::take(&mut block).v(key, Some(v));
                true
            });
            if let Some(value) = password {
                let from = cx.secret_from(el, &value, "PASSWORD", "RabbitMQ password");
                block = block.v("passwordFrom", Some(from));
            }
            json!({ "type": "rabbitmq", "rabbitmq": block.build() })
        }
        "JDBCMessageStore" => {
            let mut url = None;
            let mut table = None;
            each_parameter(cx, el, |_, name, _, value| {
                match name {
                    "store.jdbc.connection.url" => url = Some(value.to_string()),
                    "store.jdbc.table" => table = Some(value.to_string()),
                    "store.jdbc.driver" | "store.jdbc.username" | "store.jdbc.password" => {}
                    "store.failover.message.store.name" => failover = Some(value.to_string()),
                    _ => return false,
                }
                true
            });
            match url.as_deref().and_then(|u| u.strip_prefix("jdbc:")) {
                Some(u) if u.starts_with("postgresql:") => {
                    cx.adjusted(el, "the JDBC store on PostgreSQL becomes a postgres store; its user and password go into the URL or a Secret (urlFrom), never into the resource");
                    json!({ "type": "postgres", "postgres": Obj::new().s("url", Some(u)).s("table", table).build() })
                }
                _ => {
                    cx.adjusted(el, "a JDBC store on a database other than PostgreSQL becomes Ferry's embedded sqlite store (durable, under --data-dir); its messages are not migrated");
                    json!({ "type": "sqlite", "sqlite": Obj::new().s("table", table).build() })
                }
            }
        }
        other => {
            cx.not_imported(el, format!("message store class {other} is not available in Ferry (memory, JDBC and RabbitMQ stores are)"));
            return None;
        }
    };
    let mut spec = spec;
    if let (Some(f), Some(map)) = (failover, spec.as_object_mut()) {
        map.insert(
            "failoverStore".into(),
            json!(cx.reference(Family::Store, &f)),
        );
    }
    Some(spec)
}

fn message_processor(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "class", "messageStore", "targetEndpoint"]);
    cx.check_children(el, &["parameter"]);
    let class = el.attr("class").unwrap_or_default();
    let type_ = match class.rsplit('.').next().unwrap_or_default() {
        "ScheduledMessageForwardingProcessor" => "forwarding",
        "SamplingProcessor" => "sampling",
        "FailoverScheduledMessageForwardingProcessor" => "failoverForwarding",
        other => {
            cx.not_imported(
                el,
                format!("message processor class {other:?} is not available in Ferry"),
            );
            return None;
        }
    };
    let Some(store) = el.attr("messageStore") else {
        cx.not_imported(el, "a message processor without messageStore; left out");
        return None;
    };
    let mut spec = Obj::new()
        .s("type", Some(type_))
        .s("messageStore", Some(cx.reference(Family::Store, store)))
        .s(
            "targetEndpoint",
            el.attr("targetEndpoint")
                .map(|e| cx.reference(Family::Endpoint, e)),
        );
    let mut throttle = Obj::new();
    each_parameter(cx, el, |cx, name, p, value| {
        let number = |cx: &mut Cx<'_>| cx.number(p, name, value).map(|n| json!(n));
        let seq = |cx: &mut Cx<'_>| Some(json!(cx.reference(Family::Sequence, value)));
        let (key, v) = match name {
            "interval" => ("interval", number(cx)),
            "cronExpression" => ("cronExpression", Some(json!(value))),
            "concurrency" => ("concurrency", number(cx)),
            "client.retry.interval" => ("clientRetryInterval", number(cx)),
            "max.delivery.attempts" => ("maxDeliveryAttempts", number(cx)),
            "max.delivery.drop" => (
                "dropMessageAfterMaxDeliveryAttempts",
                Some(json!(value == "Enabled" || value == "true")),
            ),
            "message.processor.failMessagesStore" => (
                "failMessagesStore",
                Some(json!(cx.reference(Family::Store, value))),
            ),
            "non.retry.status.codes" => {
                let codes: Vec<Value> = value
                    .split(',')
                    .filter_map(|c| c.trim().parse::<u16>().ok())
                    .map(|c| json!(c))
                    .collect();
                ("nonRetryStatusCodes", Some(Value::Array(codes)))
            }
            "message.processor.reply.sequence" => ("replySequence", seq(cx)),
            "message.processor.fault.sequence" => ("faultSequence", seq(cx)),
            "message.processor.deactivate.sequence" => ("deactivateSequence", seq(cx)),
            "sequence" => ("sequence", seq(cx)),
            "target.endpoint" => (
                "targetEndpoint",
                Some(json!(cx.reference(Family::Endpoint, value))),
            ),
            "message.target.store.name" => (
                "targetStore",
                Some(json!(cx.reference(Family::Store, value))),
            ),
            "max.store.connection.attempts" => ("maxStoreConnectionAttempts", number(cx)),
            "store.connection.retry.interval" => ("storeConnectionRetryInterval", number(cx)),
            "is.active" => ("active", Some(json!(value == "true"))),
            "throttle" => {
                throttle = std::mem::take(&mut throttle).v("enabled", Some(json!(value == "true")));
                return true;
            }
            "throttle.interval" => {
                throttle = std::mem::take(&mut throttle).v("interval", number(cx));
                return true;
            }
            // MI's client-side settings Ferry has no use for.
            "member.count" | "message.processor.drop.message.after.retries" => {
                cx.adjusted(
                    p,
                    format!("parameter {name} does not apply to Ferry; left out"),
                );
                return true;
            }
            _ => return false,
        };
        spec = std::mem::take(&mut spec).v(key, v);
        true
    });
    let throttle = throttle.build();
    Some(
        spec.v("throttle", (throttle != json!({})).then_some(throttle))
            .build(),
    )
}

// === ScheduledTask ===

fn task(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "class", "group", "pinnedServers"]);
    cx.check_children(el, &["trigger", "property"]);
    let class = el
        .attr("class")
        .unwrap_or("org.apache.synapse.startup.tasks.MessageInjector");
    if !class.ends_with("MessageInjector") {
        cx.not_imported(el, format!("task class {class} is custom Java and cannot run in Ferry; only the MessageInjector is imported"));
        return None;
    }
    let Some(t) = el.child("trigger") else {
        cx.not_imported(el, "a task without a trigger; left out");
        return None;
    };
    let trigger = cx.within("trigger", |cx| {
        cx.check_attrs(t, &["interval", "count", "cron", "once"]);
        let mut trigger = Obj::new();
        if let Some(i) = t.attr("interval")
            && let Some(secs) = cx.number(t, "interval", i)
        {
            cx.adjusted(
                t,
                format!(
                    "interval {secs} s written as {} ms",
                    secs.saturating_mul(1000)
                ),
            );
            trigger = trigger.v("interval", Some(json!(secs.saturating_mul(1000))));
        }
        if let Some(c) = t.attr("count")
            && let Some(n) = cx.number(t, "count", c).filter(|n| *n >= 0)
        {
            trigger = trigger.v("count", Some(json!(n)));
        }
        trigger = trigger.s("cron", t.attr("cron"));
        if cx.bool_attr(t, "once") == Some(true) {
            trigger = trigger.v("once", Some(json!(true)));
        }
        trigger.build()
    });
    let mut message = Obj::new();
    let mut inject_to = "sequence".to_string();
    let mut inject = Obj::new();
    for (i, p) in el.children.iter().enumerate() {
        if p.name != "property" {
            continue;
        }
        let name = p.attr("name").unwrap_or_default();
        let value = p.attr("value").unwrap_or_default();
        cx.within(
            format!("{}[@name='{name}']", segment(el, i)),
            |cx| match name {
                "message" => {
                    let payload = if p.children.is_empty() {
                        p.text.trim().to_string()
                    } else {
                        cx.note_namespaces(p);
                        cx.inner_xml(p).trim().to_string()
                    };
                    let content_type =
                        if p.children.is_empty() && payload.trim_start().starts_with(['{', '[']) {
                            "application/json"
                        } else {
                            "application/xml"
                        };
                    message = std::mem::take(&mut message)
                        .s("payload", Some(payload))
                        .s("contentType", Some(content_type));
                }
                "injectTo" => inject_to = value.to_string(),
                "sequenceName" => {
                    inject = std::mem::take(&mut inject)
                        .s("sequence", Some(cx.reference(Family::Sequence, value)));
                }
                "format" => {
                    let ct = match value {
                        "json" => "application/json",
                        "soap11" => "text/xml",
                        "soap12" => "application/soap+xml",
                        "pox" => "application/xml",
                        _ => "application/xml",
                    };
                    message = std::mem::take(&mut message).s("contentType", Some(ct));
                }
                _ => cx.not_imported(
                    p,
                    format!("task property {name} has no Ferry counterpart; left out"),
                ),
            },
        );
    }
    if inject_to != "sequence" {
        cx.not_imported(el, format!("injectTo=\"{inject_to}\" is not available in Ferry: a task injects into a sequence or an API resource; left out"));
        return None;
    }
    let inject = inject.build();
    if inject == json!({}) {
        cx.not_imported(
            el,
            "a task that names no sequence (sequenceName) is not imported",
        );
        return None;
    }
    if el.attr("pinnedServers").is_some() {
        cx.adjusted(
            el,
            "pinnedServers: a Ferry task fires once per runtime group, on its leader",
        );
    }
    let message = message.build();
    Some(
        Obj::new()
            .v("trigger", Some(trigger))
            .v("message", (message != json!({})).then_some(message))
            .v("inject", Some(inject))
            .build(),
    )
}

// === LocalEntry ===

fn local_entry(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["key", "src"]);
    if let Some(src) = el.attr("src") {
        return Some(json!({ "url": src }));
    }
    if let Some(first) = el.children.first() {
        if el.children.len() > 1 {
            cx.not_imported(
                el,
                "a local entry with several root elements is not one XML document; left out",
            );
            return None;
        }
        cx.note_namespaces(first);
        return Some(json!({ "xml": cx.inner_xml(el).trim() }));
    }
    let text = el.text.trim();
    if text.starts_with(['{', '['])
        && let Ok(json) = serde_json::from_str::<Value>(text)
    {
        return Some(json!({ "json": json }));
    }
    Some(json!({ "text": el.text.trim() }))
}
