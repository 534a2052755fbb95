//! Validation: the named checks every configuration passes before it runs, shared by
//! `ferry validate`, `ferry run` and the operator's `Accepted` condition.
//!
//! Each check looks at the whole bundle and reports every problem it finds as a located
//! [`Diagnostic`]; nothing stops at the first error. Schema errors and unknown fields were
//! already reported by the loader; these checks are about meaning: names, references,
//! routes, expression syntax, and what this version of the runtime can run.

use std::collections::{HashMap, HashSet};

use crate::bundle::{Bundle, Loaded};
use crate::diagnostic::Diagnostic;
use crate::expr::{Expression, Template};
use crate::mediator::Mediator;
use crate::resources::{EndpointRef, EndpointSpec, Resource};

/// Mediators this version of the runtime runs. Others are valid resources (the types cover
/// all of Synapse) but are reported, so a configuration never half-runs.
pub const SUPPORTED_MEDIATORS: &[&str] = &[
    "log",
    "property",
    "propertyGroup",
    "variable",
    "header",
    "filter",
    "switch",
    "payloadFactory",
    "enrich",
    "call",
    "send",
    "respond",
    "drop",
    "loopback",
    "sequence",
    "store",
    "throwError",
];

/// Kinds this version of the runtime does not run yet (the operator still renders them).
pub const KINDS_NOT_YET_RUN: &[&str] = &[];

/// Runs every check on the bundle.
pub fn validate(bundle: &Bundle) -> Vec<Diagnostic> {
    let index = Index::new(bundle);
    let mut out = Vec::new();
    check_duplicate_names(bundle, &mut out);
    check_kinds_supported(bundle, &mut out);
    check_api_contexts(bundle, &mut out);
    for loaded in &bundle.resources {
        let mut cx = Check {
            loaded,
            index: &index,
            out: &mut out,
        };
        match &loaded.resource {
            Resource::IntegrationApi(api) => {
                let spec = &api.spec;
                check_resources(&mut cx, spec);
                cx.mediators("spec.faultSequence", &spec.fault_sequence);
                for (i, r) in spec.resources.iter().enumerate() {
                    cx.mediators(&format!("spec.resources[{i}].inSequence"), &r.in_sequence);
                    cx.mediators(&format!("spec.resources[{i}].outSequence"), &r.out_sequence);
                    cx.mediators(
                        &format!("spec.resources[{i}].faultSequence"),
                        &r.fault_sequence,
                    );
                }
            }
            Resource::Sequence(seq) => {
                cx.mediators("spec.mediators", &seq.spec.mediators);
                if let Some(on_error) = &seq.spec.on_error {
                    cx.sequence_ref("spec.onError", on_error);
                }
            }
            Resource::Endpoint(ep) => cx.endpoint_spec("spec", &ep.spec),
            Resource::MessageProcessor(p) => {
                let s = &p.spec;
                cx.reference("spec.messageStore", "MessageStore", &s.message_store);
                if let Some(e) = &s.target_endpoint {
                    cx.reference("spec.targetEndpoint", "Endpoint", e);
                }
                if let Some(t) = &s.target_store {
                    cx.reference("spec.targetStore", "MessageStore", t);
                }
                if let Some(t) = &s.fail_messages_store {
                    cx.reference("spec.failMessagesStore", "MessageStore", t);
                }
                for (field, seq) in [
                    ("spec.sequence", &s.sequence),
                    ("spec.replySequence", &s.reply_sequence),
                    ("spec.faultSequence", &s.fault_sequence),
                    ("spec.deactivateSequence", &s.deactivate_sequence),
                ] {
                    if let Some(seq) = seq {
                        cx.sequence_ref(field, seq);
                    }
                }
            }
            Resource::MessageStore(s) => {
                if let Some(f) = &s.spec.failover_store {
                    cx.reference("spec.failoverStore", "MessageStore", f);
                }
            }
            Resource::ScheduledTask(_) | Resource::IntegrationRuntime(_) => {}
        }
    }
    out
}

/// Names of the bundle's resources, by kind and runtime group: references resolve within
/// the group that hosts the resource.
struct Index<'a> {
    names: HashMap<(&'static str, &'a str), HashSet<&'a str>>,
    unreadable: &'a [(String, String)],
}

impl<'a> Index<'a> {
    fn new(bundle: &'a Bundle) -> Self {
        let mut names: HashMap<(&'static str, &'a str), HashSet<&'a str>> = HashMap::new();
        for l in &bundle.resources {
            names
                .entry((l.resource.kind(), l.resource.runtime()))
                .or_default()
                .insert(l.resource.name());
        }
        Index {
            names,
            unreadable: &bundle.unreadable,
        }
    }

    /// Whether a document of this kind and name failed to load (and was reported).
    fn unreadable(&self, kind: &str, name: &str) -> bool {
        self.unreadable.iter().any(|(k, n)| k == kind && n == name)
    }

    fn has(&self, kind: &'static str, runtime: &str, name: &str) -> bool {
        self.names
            .get(&(kind, runtime))
            .is_some_and(|n| n.contains(name))
    }
}

/// Checks of one resource.
struct Check<'a, 'b> {
    loaded: &'a Loaded,
    index: &'a Index<'a>,
    out: &'b mut Vec<Diagnostic>,
}

impl Check<'_, '_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.out.push(self.loaded.error(field, message));
    }

    /// A reference by name to another resource of `kind` in the same runtime group.
    fn reference(&mut self, field: &str, kind: &'static str, name: &str) {
        let runtime = self.loaded.resource.runtime();
        if !self.index.has(kind, runtime, name) && !self.index.unreadable(kind, name) {
            let group = if runtime == crate::resources::DEFAULT_RUNTIME {
                String::new()
            } else {
                format!(" in runtime group \"{runtime}\"")
            };
            let what = match kind {
                "MessageStore" => "message store",
                "Endpoint" => "endpoint",
                "Sequence" => "sequence",
                other => other,
            };
            self.error(field, format!("{what} \"{name}\" is not defined{group}"));
        }
    }

    fn sequence_ref(&mut self, field: &str, name: &str) {
        self.reference(field, "Sequence", name);
    }

    fn expression(&mut self, field: &str, src: &str) {
        if let Err(e) = Expression::parse(src) {
            self.error(field, format!("invalid expression {src:?}: {e}"));
        }
    }

    fn template(&mut self, field: &str, src: &str) {
        if let Err(e) = Template::parse(src) {
            self.error(field, format!("invalid template: {e}"));
        }
    }

    fn regex(&mut self, field: &str, src: &str) {
        if let Err(e) = regex::Regex::new(src) {
            self.error(field, format!("invalid regex {src:?}: {e}"));
        }
    }

    /// Walks a mediator list: support, references and expression syntax, recursively.
    fn mediators(&mut self, field: &str, list: &[Mediator]) {
        for (i, m) in list.iter().enumerate() {
            let f = format!("{field}[{i}].{}", m.name());
            if !SUPPORTED_MEDIATORS.contains(&m.name()) {
                self.error(
                    &f,
                    format!(
                        "the {} mediator is not supported by this Ferry runtime yet",
                        m.name()
                    ),
                );
                continue;
            }
            self.mediator(&f, m);
            for (child, nested) in m.children() {
                self.mediators(&format!("{f}.{child}"), nested);
            }
        }
    }

    fn mediator(&mut self, f: &str, m: &Mediator) {
        let opt = |s: &Option<String>| s.clone();
        match m {
            Mediator::Log(s) => {
                if let Some(msg) = &s.message {
                    self.template(&format!("{f}.message"), msg);
                }
                for (i, p) in s.properties.iter().enumerate() {
                    if let Some(e) = &p.expression {
                        self.expression(&format!("{f}.properties[{i}].expression"), e);
                    }
                }
            }
            Mediator::Property(s) => {
                if let Some(e) = opt(&s.expression) {
                    self.expression(&format!("{f}.expression"), &e);
                }
                if let Some(p) = &s.pattern {
                    self.regex(&format!("{f}.pattern"), p);
                }
            }
            Mediator::PropertyGroup(g) => {
                for (i, s) in g.properties.iter().enumerate() {
                    if let Some(e) = &s.expression {
                        self.expression(&format!("{f}.properties[{i}].expression"), e);
                    }
                }
            }
            Mediator::Variable(s) => {
                if let Some(e) = &s.expression {
                    self.expression(&format!("{f}.expression"), e);
                }
            }
            Mediator::Header(s) => {
                if let Some(e) = &s.expression {
                    self.expression(&format!("{f}.expression"), e);
                }
            }
            Mediator::Filter(s) => {
                for (name, src) in [
                    ("source", &s.source),
                    ("xpath", &s.xpath),
                    ("expression", &s.expression),
                ] {
                    if let Some(src) = src {
                        self.expression(&format!("{f}.{name}"), src);
                    }
                }
                if let Some(r) = &s.regex {
                    self.regex(&format!("{f}.regex"), r);
                }
            }
            Mediator::Switch(s) => {
                self.expression(&format!("{f}.source"), &s.source);
                for (i, c) in s.cases.iter().enumerate() {
                    self.regex(&format!("{f}.cases[{i}].regex"), &c.regex);
                }
            }
            Mediator::PayloadFactory(s) => {
                if let Some(format) = &s.format {
                    self.template(&format!("{f}.format"), format);
                }
                for (i, a) in s.args.iter().enumerate() {
                    if let Some(e) = &a.expression {
                        self.expression(&format!("{f}.args[{i}].expression"), e);
                    }
                }
            }
            Mediator::Enrich(s) => {
                if let Some(e) = &s.source.expression {
                    self.expression(&format!("{f}.source.expression"), e);
                }
                if let Some(p) = &s.source.property
                    && p.is_empty()
                {
                    self.error(&format!("{f}.source.property"), "must not be empty");
                }
            }
            Mediator::Call(s) => {
                if let Some(src) = s.source.as_ref().and_then(|s| s.expression.as_ref()) {
                    self.expression(&format!("{f}.source.expression"), src);
                }
                if let Some(ep) = &s.endpoint {
                    self.endpoint_ref(&format!("{f}.endpoint"), ep);
                }
            }
            Mediator::Send(s) => {
                if let Some(ep) = &s.endpoint {
                    self.endpoint_ref(&format!("{f}.endpoint"), ep);
                }
                if let Some(r) = &s.receive {
                    self.sequence_ref(&format!("{f}.receive"), r);
                }
            }
            Mediator::Sequence(s) => {
                if let Some(key) = &s.key {
                    self.sequence_ref(&format!("{f}.key"), key);
                }
                if let Some(e) = &s.key_expression {
                    self.expression(&format!("{f}.keyExpression"), e);
                }
            }
            Mediator::ThrowError(s) => {
                let src = s.error_message.trim();
                let src = match src.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(inner) if inner.starts_with("${") => inner,
                    _ => src,
                };
                self.template(&format!("{f}.errorMessage"), src);
            }
            _ => {}
        }
    }

    fn endpoint_ref(&mut self, field: &str, ep: &EndpointRef) {
        if let Some(key) = &ep.key {
            self.reference(&format!("{field}.key"), "Endpoint", key);
        }
        if let Some(e) = &ep.key_expression {
            self.expression(&format!("{field}.keyExpression"), e);
        }
        if let Some(inline) = ep.inline() {
            self.endpoint_spec(field, &inline);
        }
    }

    fn endpoint_spec(&mut self, field: &str, spec: &EndpointSpec) {
        let types = spec.types();
        if types.len() != 1 {
            self.error(
                field,
                if types.is_empty() {
                    "an endpoint needs exactly one of http, address, wsdl, failover, loadbalance, recipientList".to_string()
                } else {
                    format!("an endpoint has exactly one type, not {}", types.join(" and "))
                },
            );
        }
        if let Some(http) = &spec.http
            && let Err(e) = Template::parse(&http.uri_template)
        {
            self.error(
                &format!("{field}.http.uriTemplate"),
                format!("invalid template: {e}"),
            );
        }
        for (i, h) in spec.headers.iter().enumerate() {
            if let Some(e) = &h.expression {
                self.expression(&format!("{field}.headers[{i}].expression"), e);
            }
        }
        let own_name = match &self.loaded.resource {
            Resource::Endpoint(_) if field == "spec" => {
                Some(self.loaded.resource.name().to_string())
            }
            _ => None,
        };
        for (child, r) in spec.children() {
            if own_name.is_some() && r.key.as_deref() == own_name.as_deref() {
                self.error(
                    &format!("{field}.{child}.key"),
                    "an endpoint group cannot contain itself",
                );
                continue;
            }
            self.endpoint_ref(&format!("{field}.{child}"), r);
        }
    }
}

/// Two resources of one kind with one name in one runtime group: the second is reported.
fn check_duplicate_names(bundle: &Bundle, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(&str, &str, &str), &Loaded> = HashMap::new();
    for l in &bundle.resources {
        let key = (l.resource.kind(), l.resource.runtime(), l.resource.name());
        if let Some(first) = seen.get(&key) {
            out.push(l.error(
                "metadata.name",
                format!(
                    "duplicate {} name \"{}\" (first defined at {}:{})",
                    l.resource.kind(),
                    l.resource.name(),
                    first.origin.file,
                    first.origin.line
                ),
            ));
        } else {
            seen.insert(key, l);
        }
    }
}

fn check_kinds_supported(bundle: &Bundle, out: &mut Vec<Diagnostic>) {
    for l in &bundle.resources {
        if KINDS_NOT_YET_RUN.contains(&l.resource.kind()) {
            out.push(l.error(
                "kind",
                format!(
                    "{} resources are not supported by this Ferry runtime yet",
                    l.resource.kind()
                ),
            ));
        }
    }
}

/// Contexts are paths; two APIs of one runtime group cannot share context and version.
fn check_api_contexts(bundle: &Bundle, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(&str, String), &Loaded> = HashMap::new();
    for l in &bundle.resources {
        let Resource::IntegrationApi(api) = &l.resource else {
            continue;
        };
        let ctx = &api.spec.context;
        if !ctx.starts_with('/') {
            out.push(l.error("spec.context", format!("context {ctx:?} must start with /")));
            continue;
        }
        if ctx.len() > 1 && ctx.ends_with('/') {
            out.push(l.error(
                "spec.context",
                format!("context {ctx:?} must not end with /"),
            ));
            continue;
        }
        if ctx.contains(['?', '#', '{', '}', '*', ' ']) {
            out.push(l.error(
                "spec.context",
                format!("context {ctx:?} must be a plain path (no ?, #, {{}}, * or spaces)"),
            ));
            continue;
        }
        let key = format!("{ctx}@{}", api.spec.version.as_deref().unwrap_or(""));
        if let Some(first) = seen.get(&(l.resource.runtime(), key.clone())) {
            out.push(l.error(
                "spec.context",
                format!(
                    "context {ctx} is already used by IntegrationAPI/{} ({}:{})",
                    first.resource.name(),
                    first.origin.file,
                    first.origin.line
                ),
            ));
        } else {
            seen.insert((l.resource.runtime(), key), l);
        }
    }
}

/// Each resource has one pattern; no two resources of an API take the same method on the
/// same pattern (parameter names do not matter: `/a/{x}` and `/a/{y}` are the same route).
fn check_resources(cx: &mut Check<'_, '_>, spec: &crate::resources::IntegrationApiSpec) {
    if spec.resources.is_empty() {
        cx.error("spec.resources", "an API needs at least one resource");
    }
    let mut routes: HashMap<(String, String), usize> = HashMap::new();
    for (i, r) in spec.resources.iter().enumerate() {
        let field = format!("spec.resources[{i}]");
        let pattern = match (&r.uri_template, &r.url_mapping) {
            (Some(_), Some(_)) => {
                cx.error(&field, "set either uriTemplate or urlMapping, not both");
                continue;
            }
            (Some(t), None) => {
                if !t.starts_with('/') {
                    cx.error(&format!("{field}.uriTemplate"), "must start with /");
                    continue;
                }
                normalize_template(t)
            }
            (None, Some(m)) => m.clone(),
            (None, None) => "/*".to_string(),
        };
        if r.in_sequence.is_empty() {
            cx.error(
                &format!("{field}.inSequence"),
                "a resource needs an inSequence",
            );
        }
        let methods: Vec<String> = if r.methods.is_empty() {
            vec!["*".to_string()]
        } else {
            r.methods.iter().map(method_name).collect()
        };
        for method in methods {
            let key = (method.clone(), pattern.clone());
            if let Some(first) = routes.get(&key) {
                cx.error(
                    &field,
                    format!("{method} {pattern} is already served by spec.resources[{first}]"),
                );
            } else {
                routes.insert(key, i);
            }
        }
    }
}

/// The HTTP method name of an API method (`GET`, ...).
pub fn method_name(m: &crate::resources::ApiMethod) -> String {
    match serde_json::to_value(m) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{m:?}").to_uppercase(),
    }
}

/// `/a/{x}/b?q={q}` → `/a/{}/b`: what a request must look like to match.
fn normalize_template(t: &str) -> String {
    let path = t.split('?').next().unwrap_or(t);
    let mut out = String::with_capacity(path.len());
    let mut in_var = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_var = true;
                out.push_str("{}");
            }
            '}' => in_var = false,
            _ if in_var => {}
            c => out.push(c),
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests;
