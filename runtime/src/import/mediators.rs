//! Synapse mediators to Ferry mediators, one function per mediator, all attributes mapped;
//! what Ferry does not run yet is reported located and left out of the sequence.
//! Expressions are copied as written: Ferry evaluates Synapse expressions (`${...}`),
//! legacy XPath with Synapse's variables (`$ctx:`, `get-property()`, `$axis2:`, `$trp:`,
//! `$url:`) and `json-eval()` itself, so nothing is rewritten that could change meaning.

use serde_json::{Value, json};

use super::cx::{Cx, Obj, dynamic, segment};
use super::dom::Element;
use super::endpoints;
use super::names::Family;

/// Mediators Synapse has that Ferry does not run, with the reason given in the report.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "class",
        "custom Java mediators cannot run in Ferry; rewrite it as a script or a sequence",
    ),
    ("pojoCommand", "custom Java commands cannot run in Ferry"),
    ("bean", "Java beans cannot run in Ferry"),
    ("ejb", "EJB calls cannot run in Ferry"),
    ("spring", "Spring beans cannot run in Ferry"),
    (
        "callout",
        "the callout mediator is not run by Ferry yet; use call with blocking=\"true\"",
    ),
    ("xquery", "the xquery mediator is not run by Ferry yet"),
    (
        "datamapper",
        "the datamapper mediator is not run by Ferry yet; rewrite the mapping with payloadFactory, script or xslt",
    ),
    (
        "rewrite",
        "the URL rewrite mediator is not run by Ferry yet",
    ),
    ("smooks", "the smooks mediator cannot run in Ferry"),
    (
        "builder",
        "the builder mediator is not needed in Ferry (payloads are parsed on demand) and is not run",
    ),
    (
        "transaction",
        "the transaction mediator is not run by Ferry",
    ),
    ("ntlm", "the NTLM mediator is not run by Ferry"),
    (
        "oauthService",
        "the OAuth mediator is not run by Ferry; secure the API with its authentication settings",
    ),
    (
        "entitlementService",
        "the entitlement mediator is not run by Ferry",
    ),
    ("event", "the event mediator is not run by Ferry"),
    (
        "publishEvent",
        "the publish-event mediator is not run by Ferry",
    ),
    (
        "dataServiceCall",
        "dataServiceCall is not run by Ferry; call the data service's HTTP resource with call",
    ),
    ("enqueue", "the enqueue mediator is not run by Ferry"),
    (
        "conditionalRouter",
        "the conditional router is not run by Ferry; use switch or filter",
    ),
    (
        "router",
        "the router mediator is not run by Ferry; use switch or filter",
    ),
];

/// Converts the mediators inside `el` (a sequence, an inSequence, a filter's `then`...).
pub fn list(cx: &mut Cx<'_>, el: &Element) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, child) in el.children.iter().enumerate() {
        let seg = segment(el, i);
        if let Some(m) = cx.within(seg, |cx| mediator(cx, child)) {
            out.push(m);
        }
    }
    out
}

/// A flow given as a child element and/or a `name="sequence"` attribute.
pub fn flow(cx: &mut Cx<'_>, el: &Element, name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    out.extend(sequence_call(cx, el.attr(name)));
    if let Some(child) = el.child(name) {
        cx.check_attrs(child, &[]);
        out.extend(cx.within(name.to_string(), |cx| list(cx, child)));
    }
    out
}

/// A call of the Sequence `key` names (MI's `sequence="name"` attributes), if any.
fn sequence_call(cx: &Cx<'_>, key: Option<&str>) -> Option<Value> {
    key.map(|k| json!({ "sequence": { "key": cx.reference(Family::Sequence, k) } }))
}

/// Converts one mediator, or reports why it was left out.
pub fn mediator(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    let (tag, body) = match el.name.as_str() {
        "log" => ("log", log(cx, el)),
        "property" => ("property", property(cx, el)),
        "propertyGroup" => ("propertyGroup", property_group(cx, el)),
        "variable" => ("variable", variable(cx, el)),
        "header" => ("header", header(cx, el)),
        "filter" => ("filter", filter(cx, el)),
        "switch" => ("switch", switch(cx, el)),
        "payloadFactory" => ("payloadFactory", payload_factory(cx, el)),
        "enrich" => ("enrich", enrich(cx, el)),
        "call" => ("call", call(cx, el)),
        "send" => ("send", send(cx, el)),
        "respond" => ("respond", bare(cx, el)),
        "drop" => ("drop", bare(cx, el)),
        "loopback" => ("loopback", bare(cx, el)),
        "sequence" => ("sequence", sequence_ref(cx, el)),
        "call-template" => ("callTemplate", call_template(cx, el)),
        "store" => ("store", store(cx, el)),
        "throwError" => ("throwError", throw_error(cx, el)),
        "makefault" => ("makefault", makefault(cx, el)),
        "clone" => ("clone", clone(cx, el)),
        "iterate" => ("iterate", iterate(cx, el)),
        "aggregate" => ("aggregate", aggregate(cx, el)),
        "foreach" => ("foreach", foreach(cx, el)),
        "scatter-gather" => ("scatterGather", scatter_gather(cx, el)),
        "validate" => ("validate", validate(cx, el)),
        "cache" => ("cache", cache(cx, el)),
        "throttle" => ("throttle", throttle::throttle(cx, el)),
        "xslt" => ("xslt", xslt(cx, el)),
        "jsontransform" => ("jsonTransform", json_transform(cx, el)),
        "dblookup" => ("dbLookup", db(cx, el, false)),
        "dbreport" => ("dbReport", db(cx, el, true)),
        "script" => ("script", script(cx, el)),
        other => {
            let reason = NOT_RUN.iter().find(|(name, _)| *name == other).map_or_else(
                || format!("<{other}> is not a mediator Ferry knows; left out"),
                |(_, why)| format!("{why}; left out"),
            );
            cx.not_imported(el, reason);
            return None;
        }
    };
    body.map(|b| json!({ tag: b }))
}

fn bare(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &[]);
    cx.check_children(el, &[]);
    Some(json!({}))
}

/// `<property name value|expression>` children as `{name, value|expression}` pairs.
fn named_values(cx: &mut Cx<'_>, el: &Element, tag: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, p) in el.children.iter().enumerate() {
        if p.name != tag {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            cx.check_attrs(p, &["name", "value", "expression"]);
            out.push(
                Obj::new()
                    .s("name", p.attr("name"))
                    .s("value", p.attr("value"))
                    .s("expression", p.attr("expression"))
                    .build(),
            );
        });
    }
    out
}

// === core ===

fn log(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "level",
            "category",
            "separator",
            "logMessageID",
            "logFullPayload",
        ],
    );
    cx.check_children(el, &["property", "message"]);
    let level = el.attr("level").map(str::to_ascii_lowercase);
    if let Some(l) = &level
        && !matches!(l.as_str(), "simple" | "headers" | "full" | "custom")
    {
        cx.not_imported(
            el,
            format!("log level \"{l}\" is not a Synapse level; left out"),
        );
    }
    let level = level.filter(|l| matches!(l.as_str(), "simple" | "headers" | "full" | "custom"));
    if el.attr("logMessageID").is_some() || el.attr("logFullPayload").is_some() {
        cx.adjusted(el, "logMessageID and logFullPayload are not separate settings in Ferry; use level full to log the payload");
    }
    let message = el.child("message").map(|m| m.text_trimmed().to_string());
    Some(
        Obj::new()
            .s("level", level)
            .s("category", el.attr("category").map(str::to_ascii_uppercase))
            .s("message", message)
            .s("separator", el.attr("separator"))
            .list("properties", named_values(cx, el, "property"))
            .build(),
    )
}

const PROPERTY_TYPES: &[&str] = &[
    "STRING", "INTEGER", "BOOLEAN", "DOUBLE", "FLOAT", "LONG", "SHORT", "OM", "JSON",
];

fn property(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "name",
            "action",
            "value",
            "expression",
            "scope",
            "type",
            "pattern",
            "group",
        ],
    );
    cx.check_children(el, &[]);
    let scope = el.attr("scope").map(str::to_ascii_lowercase);
    if let Some(s) = &scope
        && !matches!(
            s.as_str(),
            "default" | "transport" | "axis2" | "axis2-client" | "operation"
        )
    {
        cx.not_imported(
            el,
            format!("property scope \"{s}\" is not available in Ferry; property left out"),
        );
        return None;
    }
    let type_ = el.attr("type").map(str::to_ascii_uppercase);
    if let Some(t) = &type_
        && !PROPERTY_TYPES.contains(&t.as_str())
    {
        cx.not_imported(
            el,
            format!("property type \"{t}\" is not a Synapse type; property left out"),
        );
        return None;
    }
    let group = match el.attr("group") {
        Some(g) => Some(json!(cx.number(el, "group", g)?)),
        None => None,
    };
    Some(
        Obj::new()
            .s("name", el.attr("name"))
            .s("action", el.attr("action").filter(|a| *a != "set"))
            .s("value", el.attr("value"))
            .s("expression", el.attr("expression"))
            .s("scope", scope.filter(|s| s != "default"))
            .s("type", type_)
            .s("pattern", el.attr("pattern"))
            .v("group", group)
            .build(),
    )
}

fn property_group(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &[]);
    cx.check_children(el, &["property"]);
    let mut properties = Vec::new();
    for (i, p) in el.children.iter().enumerate() {
        if p.name == "property"
            && let Some(v) = cx.within(segment(el, i), |cx| property(cx, p))
        {
            properties.push(v);
        }
    }
    Some(json!({ "properties": properties }))
}

fn variable(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "action", "value", "expression", "type"]);
    cx.check_children(el, &[]);
    Some(
        Obj::new()
            .s("name", el.attr("name"))
            .s("action", el.attr("action").filter(|a| *a != "set"))
            .s("value", el.attr("value"))
            .s("expression", el.attr("expression"))
            .s("type", el.attr("type").map(str::to_ascii_uppercase))
            .build(),
    )
}

fn header(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["name", "action", "value", "expression", "scope"]);
    if !el.children.is_empty() {
        cx.not_imported(
            el,
            "a header with inline XML content is not imported yet; header left out",
        );
        return None;
    }
    Some(
        Obj::new()
            .s("name", el.attr("name"))
            .s("action", el.attr("action").filter(|a| *a != "set"))
            .s("value", el.attr("value"))
            .s("expression", el.attr("expression"))
            .s("scope", el.attr("scope").filter(|s| *s != "transport"))
            .build(),
    )
}

fn sequence_ref(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["key"]);
    cx.check_children(el, &[]);
    let Some(key) = el.attr("key") else {
        cx.not_imported(el, "a sequence mediator without key; left out");
        return None;
    };
    Some(match dynamic(key) {
        Some(expr) => json!({ "keyExpression": expr }),
        None => json!({ "key": cx.reference(Family::Sequence, key) }),
    })
}

fn call_template(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["target", "onError"]);
    cx.check_children(el, &["with-param"]);
    if el.attr("onError").is_some() {
        cx.not_imported(el, "call-template onError is not available in Ferry; left out (the template's fault handling applies)");
    }
    let Some(target) = el.attr("target") else {
        cx.not_imported(el, "call-template without target; left out");
        return None;
    };
    let mut params = Vec::new();
    for (i, p) in el.children.iter().enumerate() {
        if p.name != "with-param" {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            cx.check_attrs(p, &["name", "value"]);
            let value = p.attr("value").unwrap_or_default();
            let param = match dynamic(value) {
                Some(expr) => Obj::new()
                    .s("name", p.attr("name"))
                    .s("expression", Some(expr)),
                None => Obj::new().s("name", p.attr("name")).s("value", Some(value)),
            };
            params.push(param.build());
        });
    }
    Some(
        Obj::new()
            .s("target", Some(cx.reference(Family::Template, target)))
            .list("withParams", params)
            .build(),
    )
}

fn store(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["messageStore", "sequence"]);
    cx.check_children(el, &[]);
    let Some(store) = el.attr("messageStore") else {
        cx.not_imported(el, "store without messageStore; left out");
        return None;
    };
    if dynamic(store).is_some() {
        cx.not_imported(
            el,
            "a store chosen by an expression is not available in Ferry; left out",
        );
        return None;
    }
    Some(
        Obj::new()
            .s("messageStore", Some(cx.reference(Family::Store, store)))
            .s(
                "sequence",
                el.attr("sequence")
                    .map(|s| cx.reference(Family::Sequence, s)),
            )
            .build(),
    )
}

fn throw_error(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["type", "errorMessage"]);
    cx.check_children(el, &[]);
    Some(
        Obj::new()
            .s("type", el.attr("type"))
            .s(
                "errorMessage",
                Some(el.attr("errorMessage").unwrap_or_default()),
            )
            .build(),
    )
}

fn value_or_expression(cx: &mut Cx<'_>, el: &Element) -> Value {
    cx.check_attrs(el, &["value", "expression"]);
    Obj::new()
        .s("value", el.attr("value"))
        .s("expression", el.attr("expression"))
        .build()
}

fn makefault(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["version", "response"]);
    cx.check_children(el, &["code", "reason", "role", "node", "detail"]);
    let version = match el.attr("version").unwrap_or("soap11") {
        "soap11" => "soap11",
        "soap12" => "soap12",
        "pox" => "pox",
        other => {
            cx.not_imported(
                el,
                format!("fault version \"{other}\" is not soap11, soap12 or pox; left out"),
            );
            return None;
        }
    };
    let response = cx.bool_attr(el, "response").unwrap_or(false);
    if el.attr("response").is_none() {
        cx.adjusted(el, "MI's makefault response defaults to true but only marks the message; Ferry's response: false keeps the flow going, as the send or respond after it expects");
    }
    let part = |cx: &mut Cx<'_>, name: &str| {
        el.child(name)
            .map(|c| cx.within(name.to_string(), |cx| value_or_expression(cx, c)))
    };
    let code = part(cx, "code");
    let reason = part(cx, "reason");
    let detail = el.child("detail").map(|d| {
        if d.attr("value").is_some() || d.attr("expression").is_some() {
            value_or_expression(cx, d)
        } else {
            json!({ "value": d.text_trimmed() })
        }
    });
    Some(
        Obj::new()
            .s("version", Some(version))
            .v("code", code)
            .v("reason", reason)
            .s(
                "role",
                el.child("role").map(|r| r.text_trimmed().to_string()),
            )
            .s(
                "node",
                el.child("node").map(|r| r.text_trimmed().to_string()),
            )
            .v("detail", detail)
            .v("response", response.then_some(json!(true)))
            .build(),
    )
}

// === flow ===

fn filter(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["source", "regex", "xpath"]);
    let mut out = Obj::new()
        .s("source", el.attr("source"))
        .s("regex", el.attr("regex"));
    if let Some(x) = el.attr("xpath") {
        let key = if x.trim_start().starts_with("${") {
            "expression"
        } else {
            "xpath"
        };
        out = out.s(key, Some(x));
    }
    let has_branches = el.child("then").is_some() || el.child("else").is_some();
    if has_branches {
        cx.check_children(el, &["then", "else"]);
        if let Some(t) = el.child("then") {
            cx.check_attrs(t, &["sequence"]);
            let then = cx.within("then", |cx| branch(cx, t));
            out = out.list("then", then);
        }
        if let Some(e) = el.child("else") {
            cx.check_attrs(e, &["sequence"]);
            let else_ = cx.within("else", |cx| branch(cx, e));
            out = out.list("else", else_);
        }
    } else {
        out = out.list("then", list(cx, el));
    }
    Some(out.build())
}

/// A branch: its mediators, or a `sequence="name"` attribute as a sequence call.
fn branch(cx: &mut Cx<'_>, el: &Element) -> Vec<Value> {
    let mut out = Vec::new();
    out.extend(sequence_call(cx, el.attr("sequence")));
    out.extend(list(cx, el));
    out
}

fn switch(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["source"]);
    cx.check_children(el, &["case", "default"]);
    let mut cases = Vec::new();
    for (i, c) in el.children.iter().enumerate() {
        if c.name != "case" {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            cx.check_attrs(c, &["regex"]);
            let sequence = list(cx, c);
            cases.push(
                json!({ "regex": c.attr("regex").unwrap_or_default(), "sequence": sequence }),
            );
        });
    }
    let default = el
        .child("default")
        .map(|d| cx.within("default", |cx| list(cx, d)));
    Some(
        Obj::new()
            .s("source", el.attr("source"))
            .list("cases", cases)
            .list("default", default.unwrap_or_default())
            .build(),
    )
}

/// A clone or iterate `<target>`.
fn target(cx: &mut Cx<'_>, el: &Element) -> Value {
    cx.check_attrs(el, &["sequence", "endpoint", "soapAction", "to"]);
    cx.check_children(el, &["sequence", "endpoint"]);
    let mut sequence = Vec::new();
    sequence.extend(sequence_call(cx, el.attr("sequence")));
    if let Some(s) = el.child("sequence") {
        cx.check_attrs(s, &[]);
        sequence.extend(cx.within("sequence", |cx| list(cx, s)));
    }
    let endpoint = match (el.attr("endpoint"), el.child("endpoint")) {
        (Some(name), _) => Some(json!({ "key": cx.reference(Family::Endpoint, name) })),
        (None, Some(e)) => cx.within("endpoint", |cx| endpoints::reference(cx, e)),
        (None, None) => None,
    };
    Obj::new()
        .list("sequence", sequence)
        .v("endpoint", endpoint)
        .s("soapAction", el.attr("soapAction"))
        .s("to", el.attr("to"))
        .build()
}

fn clone(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["id", "sequential", "continueParent"]);
    cx.check_children(el, &["target"]);
    let mut targets = Vec::new();
    for (i, t) in el.children.iter().enumerate() {
        if t.name == "target" {
            targets.push(cx.within(segment(el, i), |cx| target(cx, t)));
        }
    }
    Some(
        Obj::new()
            .s("id", el.attr("id"))
            .v(
                "sequential",
                cx.bool_attr(el, "sequential")
                    .filter(|b| *b)
                    .map(Value::Bool),
            )
            .v(
                "continueParent",
                cx.bool_attr(el, "continueParent")
                    .filter(|b| *b)
                    .map(Value::Bool),
            )
            .list("targets", targets)
            .build(),
    )
}

fn iterate(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "id",
            "expression",
            "sequential",
            "continueParent",
            "preservePayload",
            "attachPath",
        ],
    );
    cx.check_children(el, &["target"]);
    let Some(t) = el.child("target") else {
        cx.not_imported(el, "iterate without a target; left out");
        return None;
    };
    let target = cx.within("target", |cx| target(cx, t));
    Some(
        Obj::new()
            .s("id", el.attr("id"))
            .s("expression", el.attr("expression"))
            .v(
                "sequential",
                cx.bool_attr(el, "sequential")
                    .filter(|b| *b)
                    .map(Value::Bool),
            )
            .v(
                "continueParent",
                cx.bool_attr(el, "continueParent")
                    .filter(|b| *b)
                    .map(Value::Bool),
            )
            .v(
                "preservePayload",
                cx.bool_attr(el, "preservePayload")
                    .filter(|b| *b)
                    .map(Value::Bool),
            )
            .s("attachPath", el.attr("attachPath"))
            .v("target", Some(target))
            .build(),
    )
}

fn aggregate(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["id"]);
    cx.check_children(el, &["correlateOn", "completeCondition", "onComplete"]);
    let correlate = el.child("correlateOn").and_then(|c| {
        cx.within("correlateOn", |cx| cx.check_attrs(c, &["expression"]));
        c.attr("expression").map(str::to_string)
    });
    let mut condition = Obj::new();
    if let Some(c) = el.child("completeCondition") {
        cx.within("completeCondition", |cx| {
            cx.check_attrs(c, &["timeout"]);
            cx.check_children(c, &["messageCount"]);
            if let Some(t) = c.attr("timeout")
                && let Some(secs) = cx.number(c, "timeout", t)
                && secs > 0
            {
                condition = std::mem::take(&mut condition)
                    .v("timeout", Some(json!(secs.saturating_mul(1000))));
                cx.adjusted(
                    c,
                    format!(
                        "timeout {secs} s written as {} ms",
                        secs.saturating_mul(1000)
                    ),
                );
            }
            if let Some(m) = c.child("messageCount") {
                cx.within("messageCount", |cx| {
                    cx.check_attrs(m, &["min", "max"]);
                    let mut count = Obj::new();
                    for key in ["min", "max"] {
                        if let Some(v) = m.attr(key)
                            && let Some(n) = cx.number(m, key, v)
                        {
                            count = count.v(key, Some(json!(n)));
                        }
                    }
                    condition =
                        std::mem::take(&mut condition).v("messageCount", Some(count.build()));
                });
            }
        });
    }
    let Some(on) = el.child("onComplete") else {
        cx.not_imported(el, "aggregate without onComplete; left out");
        return None;
    };
    let on_complete = cx.within("onComplete", |cx| {
        cx.check_attrs(
            on,
            &[
                "expression",
                "sequence",
                "enclosingElementProperty",
                "aggregateElementType",
            ],
        );
        let mut sequence = Vec::new();
        sequence.extend(sequence_call(cx, on.attr("sequence")));
        sequence.extend(list(cx, on));
        Obj::new()
            .s("expression", on.attr("expression"))
            .list("sequence", sequence)
            .s(
                "enclosingElementProperty",
                on.attr("enclosingElementProperty"),
            )
            .s("aggregateElementType", on.attr("aggregateElementType"))
            .build()
    });
    let condition = condition.build();
    Some(
        Obj::new()
            .s("id", el.attr("id"))
            .s("correlateOn", correlate)
            .v(
                "completeCondition",
                (condition != json!({})).then_some(condition),
            )
            .v("onComplete", Some(on_complete))
            .build(),
    )
}

fn foreach(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "expression",
            "id",
            "sequence",
            "collection",
            "parallel-execution",
            "update-original",
            "result-target",
            "result-type",
            "counter-variable",
            "continue-without-aggregation",
        ],
    );
    cx.check_children(el, &["sequence"]);
    let mut sequence = Vec::new();
    sequence.extend(sequence_call(cx, el.attr("sequence")));
    if let Some(s) = el.child("sequence") {
        sequence.extend(cx.within("sequence", |cx| list(cx, s)));
    }
    let flag = |cx: &mut Cx<'_>, name: &str| cx.bool_attr(el, name).map(Value::Bool);
    Some(
        Obj::new()
            .s("expression", el.attr("expression"))
            .s("id", el.attr("id"))
            .s("collection", el.attr("collection"))
            .v("parallelExecution", flag(cx, "parallel-execution"))
            .v("updateOriginal", flag(cx, "update-original"))
            .s("resultTarget", el.attr("result-target"))
            .s(
                "resultType",
                el.attr("result-type").map(str::to_ascii_uppercase),
            )
            .s("counterVariable", el.attr("counter-variable"))
            .v(
                "continueWithoutAggregation",
                flag(cx, "continue-without-aggregation"),
            )
            .v("sequence", Some(Value::Array(sequence)))
            .build(),
    )
}

fn scatter_gather(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "parallel-execution",
            "result-target",
            "content-type",
            "root-element",
        ],
    );
    cx.check_children(el, &["aggregation", "sequence"]);
    let Some(a) = el.child("aggregation") else {
        cx.not_imported(el, "scatter-gather without aggregation; left out");
        return None;
    };
    let aggregation = cx.within("aggregation", |cx| {
        cx.check_attrs(
            a,
            &[
                "expression",
                "condition",
                "timeout",
                "min-messages",
                "max-messages",
            ],
        );
        let mut o = Obj::new()
            .s("expression", a.attr("expression"))
            .s("condition", a.attr("condition"));
        for (attr, key) in [
            ("timeout", "timeout"),
            ("min-messages", "minMessages"),
            ("max-messages", "maxMessages"),
        ] {
            if let Some(v) = a.attr(attr)
                && let Some(n) = cx.number(a, attr, v)
            {
                o = o.v(key, Some(json!(n)));
            }
        }
        o.build()
    });
    let mut sequences = Vec::new();
    for (i, s) in el.children.iter().enumerate() {
        if s.name == "sequence" {
            let seq = cx.within(segment(el, i), |cx| {
                cx.check_attrs(s, &[]);
                list(cx, s)
            });
            sequences.push(Value::Array(seq));
        }
    }
    // MI writes a variable's name in result-target; Ferry says `variable` and names it.
    let (result_target, variable) = match el.attr("result-target") {
        None => (None, None),
        Some(t) if t.eq_ignore_ascii_case("body") => (None, None),
        Some(name) => (Some("variable"), Some(name)),
    };
    Some(
        Obj::new()
            .v(
                "parallelExecution",
                cx.bool_attr(el, "parallel-execution")
                    .filter(|p| !p)
                    .map(Value::Bool),
            )
            .s("resultTarget", result_target)
            .s("targetVariable", variable)
            .s(
                "contentType",
                el.attr("content-type").map(str::to_ascii_uppercase),
            )
            .s("rootElement", el.attr("root-element"))
            .v("aggregation", Some(aggregation))
            .v("sequences", Some(Value::Array(sequences)))
            .build(),
    )
}

fn validate(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["source", "cache-schema"]);
    cx.check_children(el, &["schema", "resource", "feature", "on-fail"]);
    if cx.bool_attr(el, "cache-schema") == Some(false) {
        cx.adjusted(el, "cache-schema=\"false\": Ferry compiles every schema once, when the configuration loads");
    }
    let mut schemas = Vec::new();
    let mut resources = Vec::new();
    for (i, c) in el.children.iter().enumerate() {
        cx.within(segment(el, i), |cx| match c.name.as_str() {
            "schema" => {
                cx.check_attrs(c, &["key"]);
                match c.attr("key") {
                    Some(k) if dynamic(k).is_none() => {
                        schemas.push(json!(cx.reference(Family::LocalEntry, k)));
                    }
                    _ => cx.not_imported(c, "a schema without a fixed key is not imported"),
                }
            }
            "resource" => {
                cx.check_attrs(c, &["location", "key"]);
                resources.push(json!({
                    "location": c.attr("location").unwrap_or_default(),
                    "key": cx.reference(Family::LocalEntry, c.attr("key").unwrap_or_default()),
                }));
            }
            "feature" => cx.not_imported(
                c,
                "XML parser features do not apply: Ferry validates against JSON Schemas; left out",
            ),
            _ => {}
        });
    }
    let on_fail = el
        .child("on-fail")
        .map(|f| cx.within("on-fail", |cx| list(cx, f)))
        .unwrap_or_default();
    Some(
        Obj::new()
            .s("source", el.attr("source"))
            .list("schemas", schemas)
            .list("resources", resources)
            .v("onFail", Some(Value::Array(on_fail)))
            .build(),
    )
}

fn cache(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &["collector", "timeout", "maxMessageSize", "id", "scope"],
    );
    cx.check_children(el, &["onCacheHit", "protocol", "implementation"]);
    if cx.bool_attr(el, "collector") == Some(true) {
        return Some(json!({ "collector": true }));
    }
    if el.attr("scope").is_some_and(|s| s != "per-host") {
        cx.adjusted(
            el,
            "scope: a Ferry cache is kept per replica (MI's local caching)",
        );
    }
    let mut out = Obj::new();
    if let Some(t) = el.attr("timeout")
        && let Some(secs) = cx.number(el, "timeout", t)
    {
        cx.adjusted(
            el,
            format!(
                "timeout {secs} s written as {} ms",
                secs.saturating_mul(1000)
            ),
        );
        out = out.v("timeout", Some(json!(secs.saturating_mul(1000))));
    }
    if let Some(m) = el.attr("maxMessageSize")
        && let Some(n) = cx.number(el, "maxMessageSize", m).filter(|n| *n > 0)
    {
        out = out.v("maxMessageSize", Some(json!(n)));
    }
    if let Some(hit) = el.child("onCacheHit") {
        cx.within("onCacheHit", |cx| {
            cx.check_attrs(hit, &["sequence"]);
            out = std::mem::take(&mut out)
                .s(
                    "onCacheHitSequence",
                    hit.attr("sequence")
                        .map(|s| cx.reference(Family::Sequence, s)),
                )
                .list("onCacheHit", list(cx, hit));
        });
    }
    if let Some(p) = el.child("protocol") {
        let protocol = cx.within("protocol", |cx| {
            cx.check_attrs(p, &["type"]);
            cx.check_children(
                p,
                &[
                    "methods",
                    "headersToExcludeInHash",
                    "headersToIncludeInHash",
                    "responseCodes",
                    "enableCacheControl",
                    "includeAgeHeader",
                    "hashGenerator",
                ],
            );
            let split = |name: &str| -> Vec<Value> {
                p.child(name)
                    .map(|c| {
                        c.text
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| json!(s))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let text = |name: &str| p.child(name).map(|c| c.text_trimmed().to_string());
            let flag = |name: &str| {
                text(name)
                    .filter(|t| t == "true")
                    .map(|_| Value::Bool(true))
            };
            Obj::new()
                .s(
                    "type",
                    p.attr("type")
                        .map(str::to_ascii_lowercase)
                        .filter(|t| t != "http"),
                )
                .list("methods", split("methods"))
                .list("headersToExcludeInHash", split("headersToExcludeInHash"))
                .list("headersToIncludeInHash", split("headersToIncludeInHash"))
                .s("responseCodes", text("responseCodes"))
                .v("enableCacheControl", flag("enableCacheControl"))
                .v("includeAgeHeader", flag("includeAgeHeader"))
                .s("hashGenerator", text("hashGenerator"))
                .build()
        });
        if protocol != json!({}) {
            out = out.v("protocol", Some(protocol));
        }
    }
    if let Some(i) = el.child("implementation") {
        cx.within("implementation", |cx| {
            cx.check_attrs(i, &["maxSize", "type"]);
            if let Some(m) = i.attr("maxSize")
                && let Some(n) = cx.number(i, "maxSize", m)
            {
                out = std::mem::take(&mut out).v("maxSize", Some(json!(n)));
            }
        });
    }
    Some(out.build())
}

// === transform ===

fn payload_factory(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["media-type", "template-type"]);
    cx.check_children(el, &["format", "args"]);
    let media = el.attr("media-type").unwrap_or("xml");
    if !matches!(media, "xml" | "json" | "text") {
        cx.not_imported(
            el,
            format!("media-type \"{media}\" is not xml, json or text; left out"),
        );
        return None;
    }
    let template = el.attr("template-type").map(str::to_ascii_lowercase);
    let mut out = Obj::new()
        .s("mediaType", (media != "xml").then_some(media))
        .s("templateType", template.filter(|t| t != "default"));
    if let Some(f) = el.child("format") {
        cx.note_namespaces(f);
        if let Some(key) = f.attr("key") {
            out = out.s("formatKey", Some(cx.reference(Family::LocalEntry, key)));
        } else if f.children.is_empty() {
            out = out.s("format", Some(f.text.trim().to_string()));
        } else {
            out = out.s("format", Some(cx.inner_xml(f).trim().to_string()));
        }
    }
    let mut args = Vec::new();
    if let Some(a) = el.child("args") {
        cx.within("args", |cx| {
            cx.check_children(a, &["arg"]);
            for (i, arg) in a.children.iter().enumerate() {
                if arg.name != "arg" {
                    continue;
                }
                cx.within(segment(a, i), |cx| {
                    cx.check_attrs(arg, &["expression", "value", "evaluator", "literal"]);
                    let literal = cx.bool_attr(arg, "literal").filter(|b| *b);
                    args.push(
                        Obj::new()
                            .s("expression", arg.attr("expression"))
                            .s("value", arg.attr("value"))
                            .s("evaluator", arg.attr("evaluator"))
                            .v("literal", literal.map(Value::Bool))
                            .build(),
                    );
                });
            }
        });
    }
    Some(out.list("args", args).build())
}

fn enrich(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &[]);
    cx.check_children(el, &["source", "target"]);
    let (Some(s), Some(t)) = (el.child("source"), el.child("target")) else {
        cx.not_imported(el, "enrich needs a source and a target; left out");
        return None;
    };
    let source = cx.within("source", |cx| {
        cx.check_attrs(s, &["type", "clone", "xpath", "property", "key"]);
        let type_ = s.attr("type").unwrap_or("custom");
        let inline = (type_ == "inline").then(|| {
            if s.children.is_empty() {
                let text = s.text.trim();
                serde_json::from_str::<Value>(text)
                    .unwrap_or_else(|_| Value::String(text.to_string()))
            } else {
                Value::String(cx.inner_xml(s).trim().to_string())
            }
        });
        let (property, variable) = match type_ {
            "variable" => (None, s.attr("property")),
            _ => (s.attr("property"), None),
        };
        Obj::new()
            .s("type", Some(type_))
            .v(
                "clone",
                cx.bool_attr(s, "clone").filter(|c| !c).map(Value::Bool),
            )
            .s("expression", s.attr("xpath"))
            .s("property", property)
            .s("variable", variable)
            .v("inline", inline)
            .s(
                "key",
                s.attr("key").map(|k| cx.reference(Family::LocalEntry, k)),
            )
            .build()
    });
    let target = cx.within("target", |cx| {
        cx.check_attrs(t, &["type", "action", "xpath", "property"]);
        let type_ = t.attr("type").unwrap_or("custom");
        let (property, variable) = match type_ {
            "variable" => (None, t.attr("property")),
            _ => (t.attr("property"), None),
        };
        Obj::new()
            .s("type", Some(type_))
            .s("action", t.attr("action").filter(|a| *a != "replace"))
            .s("expression", t.attr("xpath"))
            .s("property", property)
            .s("variable", variable)
            .build()
    });
    Some(json!({ "source": source, "target": target }))
}

/// MI's `jsontransform`: a schema (a local entry key) and conversion properties.
fn json_transform(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["schema"]);
    cx.check_children(el, &["property"]);
    let mut properties = Vec::new();
    for (i, p) in el.children.iter().enumerate() {
        if p.name != "property" {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            cx.check_attrs(p, &["name", "value"]);
            properties.push(json!({
                "name": p.attr("name").unwrap_or_default(),
                "value": p.attr("value").unwrap_or_default(),
            }));
        });
    }
    Some(
        Obj::new()
            .s(
                "schema",
                el.attr("schema")
                    .map(|k| cx.reference(Family::LocalEntry, k)),
            )
            .list("properties", properties)
            .build(),
    )
}

/// MI's `dblookup` / `dbreport`: a connection by data source name and the statements.
/// Ferry takes connections from DataSources only, so an inline pool (driver, url, user,
/// password) is reported with what to write instead.
fn db(cx: &mut Cx<'_>, el: &Element, report: bool) -> Option<Value> {
    let mut attrs = vec![];
    if report {
        attrs.push("useTransaction");
    }
    cx.check_attrs(el, &attrs);
    cx.check_children(el, &["connection", "statement"]);
    let pool = el.child("connection").and_then(|c| c.child("pool"));
    let ds_name = pool
        .and_then(|p| p.child("dsName"))
        .map(|d| d.text_trimmed().to_string())
        .filter(|d| !d.is_empty());
    let Some(ds_name) = ds_name else {
        cx.not_imported(el, format!("{}: an inline connection (driver, url, user, password) is not available in Ferry; declare a DataSource and name it in connection.dsName (docs/data.md); left out", el.name));
        return None;
    };
    if let Some(pool) = pool {
        for c in &pool.children {
            if c.name != "dsName" {
                cx.adjusted(
                    c,
                    format!(
                        "<{}> of a pool with dsName: the DataSource {ds_name} holds the connection in Ferry; left out",
                        c.name
                    ),
                );
            }
        }
    }
    let mut statements = Vec::new();
    for (i, st) in el.children.iter().enumerate() {
        if st.name != "statement" {
            continue;
        }
        cx.within(segment(el, i), |cx| {
            cx.check_children(st, &["sql", "parameter", "result"]);
            let sql = st.child("sql").map(|s| s.text_trimmed().to_string());
            let Some(sql) = sql.filter(|s| !s.is_empty()) else {
                cx.not_imported(st, "a statement without <sql>; left out");
                return;
            };
            let mut parameters = Vec::new();
            let mut results = Vec::new();
            for (j, c) in st.children.iter().enumerate() {
                cx.within(segment(st, j), |cx| match c.name.as_str() {
                    "parameter" => {
                        cx.check_attrs(c, &["value", "expression", "type"]);
                        parameters.push(
                            Obj::new()
                                .s("value", c.attr("value"))
                                .s("expression", c.attr("expression"))
                                .s("type", Some(c.attr("type").unwrap_or("VARCHAR")))
                                .build(),
                        );
                    }
                    "result" if report => {
                        cx.not_imported(c, "a dbreport has no results; left out");
                    }
                    "result" => {
                        cx.check_attrs(c, &["name", "column"]);
                        results.push(json!({
                            "name": c.attr("name").unwrap_or_default(),
                            "column": c.attr("column").unwrap_or_default(),
                        }));
                    }
                    _ => {}
                });
            }
            statements.push(
                Obj::new()
                    .s("sql", Some(sql))
                    .list("parameters", parameters)
                    .list("results", results)
                    .build(),
            );
        });
    }
    let use_transaction =
        (report && cx.bool_attr(el, "useTransaction") == Some(true)).then(|| json!(true));
    Some(
        Obj::new()
            .v("connection", Some(json!({ "dsName": ds_name })))
            .v("useTransaction", use_transaction)
            .list("statements", statements)
            .build(),
    )
}

fn xslt(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["key", "source"]);
    cx.check_children(el, &["property", "feature", "resource"]);
    let Some(key) = el.attr("key") else {
        cx.not_imported(el, "xslt without key; left out");
        return None;
    };
    if dynamic(key).is_some() {
        cx.not_imported(
            el,
            "an XSLT chosen by an expression is not available in Ferry; left out",
        );
        return None;
    }
    let mut features = Vec::new();
    let mut resources = Vec::new();
    for (i, c) in el.children.iter().enumerate() {
        cx.within(segment(el, i), |cx| match c.name.as_str() {
            "feature" => {
                cx.check_attrs(c, &["name", "value"]);
                let value = cx.bool_attr(c, "value").unwrap_or(false);
                features
                    .push(json!({ "name": c.attr("name").unwrap_or_default(), "value": value }));
            }
            "resource" => {
                cx.check_attrs(c, &["location", "key"]);
                resources.push(json!({
                    "location": c.attr("location").unwrap_or_default(),
                    "key": cx.reference(Family::LocalEntry, c.attr("key").unwrap_or_default()),
                }));
            }
            _ => {}
        });
    }
    Some(
        Obj::new()
            .s("key", Some(cx.reference(Family::LocalEntry, key)))
            .s("source", el.attr("source"))
            .list("properties", named_values(cx, el, "property"))
            .list("features", features)
            .list("resources", resources)
            .build(),
    )
}

fn script(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["language", "key", "function"]);
    cx.check_children(el, &["include"]);
    let language = match el.attr("language").unwrap_or("js") {
        "js" => "js",
        "graaljs" | "graalJs" => "graalJs",
        "nashornJs" | "nashornjs" => "nashornJs",
        "rhinoJs" | "rhinojs" => "rhinoJs",
        other => {
            cx.not_imported(
                el,
                format!("script language \"{other}\" is not run by Ferry; left out"),
            );
            return None;
        }
    };
    let includes: Vec<Value> = el
        .children_named("include")
        .filter_map(|i| i.attr("key"))
        .map(|k| Value::String(cx.reference(Family::LocalEntry, k)))
        .collect();
    let inline = el.attr("key").is_none().then(|| el.text.trim().to_string());
    Some(
        Obj::new()
            .s("language", (language != "js").then_some(language))
            .s(
                "key",
                el.attr("key").map(|k| cx.reference(Family::LocalEntry, k)),
            )
            .s("function", el.attr("function"))
            .s("inline", inline)
            .list("includes", includes)
            .build(),
    )
}

// === endpoints in mediators ===

fn call(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["blocking", "initAxis2ClientOptions"]);
    cx.check_children(el, &["endpoint", "source", "target"]);
    let endpoint = el
        .child("endpoint")
        .and_then(|e| cx.within("endpoint", |cx| endpoints::reference(cx, e)));
    let blocking = cx.bool_attr(el, "blocking").filter(|b| *b);
    let init = cx.bool_attr(el, "initAxis2ClientOptions").filter(|b| !b);
    let source = el.child("source").map(|s| {
        cx.within("source", |cx| {
            cx.check_attrs(s, &["type", "contentType"]);
            let type_ = s.attr("type").unwrap_or("body");
            let text = s.text.trim().to_string();
            let mut o = Obj::new()
                .s("type", Some(type_))
                .s("contentType", s.attr("contentType"));
            o = match type_ {
                "custom" => o.s("expression", Some(text)),
                "property" => o.s("property", Some(text)),
                "variable" => o.s("variable", Some(text)),
                "inline" => {
                    let inline = if s.children.is_empty() {
                        serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
                    } else {
                        Value::String(cx.inner_xml(s).trim().to_string())
                    };
                    o.v("inline", Some(inline))
                }
                _ => o,
            };
            o.build()
        })
    });
    let target = el.child("target").map(|t| {
        cx.within("target", |cx| {
            cx.check_attrs(t, &["type"]);
            let name = t.text.trim();
            Obj::new()
                .s("type", Some(t.attr("type").unwrap_or("body")))
                .s("name", (!name.is_empty()).then_some(name))
                .build()
        })
    });
    Some(
        Obj::new()
            .v("endpoint", endpoint)
            .v("blocking", blocking.map(Value::Bool))
            .v("source", source)
            .v("target", target)
            .v("initAxis2ClientOptions", init.map(Value::Bool))
            .build(),
    )
}

fn send(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(el, &["buildmessage", "receive"]);
    cx.check_children(el, &["endpoint"]);
    let endpoint = el
        .child("endpoint")
        .and_then(|e| cx.within("endpoint", |cx| endpoints::reference(cx, e)));
    Some(
        Obj::new()
            .v("endpoint", endpoint)
            .v(
                "buildMessage",
                cx.bool_attr(el, "buildmessage")
                    .filter(|b| *b)
                    .map(Value::Bool),
            )
            .s(
                "receive",
                el.attr("receive")
                    .map(|r| cx.reference(Family::Sequence, r)),
            )
            .build(),
    )
}

mod throttle;

#[cfg(test)]
mod tests;
