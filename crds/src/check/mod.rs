//! The checker: one pass over a bundle that reports every problem, each located, and turns
//! every resource that has none into its checked form.
//!
//! It is the only place a configuration is judged. `ferry validate` prints its
//! diagnostics, the operator's admission sets each artifact's `Accepted` condition from
//! them, and `ferry run` builds its runtime objects from the [`Checked`] form: expressions,
//! templates, regexes, cron expressions, URI templates and the route table are parsed once,
//! here. What the runtime does after this (opening stores, reading environment variables)
//! depends on the machine, not on the resources.

#[cfg(any(test, feature = "test-corpus"))]
pub mod corpus;
mod cx;
pub mod data;
pub mod endpoint;
pub mod file_server;
pub mod file_target;
pub mod inbound;
pub mod local_entry;
pub mod mediator;
pub mod mqtt_address;
pub mod processor;
pub mod proxy;
pub mod rabbitmq_address;
pub mod runtime;
pub mod security;
pub mod smtp;
pub mod store;
pub mod task;
pub mod template;
pub mod test_suite;
pub mod tls;
pub mod value;

use std::collections::HashMap;

use cx::Index;
pub use cx::{ConfigKeys, Cx};

use crate::bundle::{Bundle, Loaded};
use crate::diagnostic::Diagnostic;
use crate::resources::{IntegrationApiSpec, Protocol, Resource};
use crate::routes::{self, ApiRoute, ResourcePattern, ResourceRoute, RouteError, RouteTable};
use mediator::{Mediator, check_list};

/// The outcome of checking a bundle.
pub struct Checked {
    /// Every problem found, errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked form of each resource, in bundle order; `None` for a resource with
    /// errors.
    pub resources: Vec<Option<CheckedResource>>,
    /// The route table over the bundle's APIs (indexed in bundle order of the APIs), when
    /// it builds.
    pub routes: Option<RouteTable>,
}

impl Checked {
    /// Whether any diagnostic is an error: then nothing of the bundle may run.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A resource that passed every check.
// One per resource, built once when a configuration loads and never on the request path:
// the size of the largest variant (an API with its security settings) costs nothing there.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CheckedResource {
    /// An IntegrationAPI.
    Api(Api),
    /// A named Sequence.
    Sequence(Sequence),
    /// A named Endpoint.
    Endpoint(endpoint::Endpoint),
    /// A MessageStore (opened by the runtime from its spec).
    MessageStore,
    /// A MessageProcessor.
    Processor(Box<processor::Processor>),
    /// A ScheduledTask.
    Task(task::Task),
    /// A LocalEntry, its content resolved (read by the mediators that name it; nothing to
    /// run of its own).
    LocalEntry(local_entry::Content),
    /// A Template (run by the `callTemplate` mediators that name it).
    Template(template::Template),
    /// An InboundEndpoint.
    Inbound(Box<inbound::Inbound>),
    /// An IntegrationRuntime (read by the operator).
    Runtime,
    /// A DataSource (opened by the runtime from its spec).
    DataSource,
}

/// A checked IntegrationAPI.
#[derive(Debug, Clone)]
pub struct Api {
    /// Its resources, in order (as the route table indexes them).
    pub resources: Vec<ApiResource>,
    /// The API-level fault sequence, when it has one.
    pub fault_sequence: Option<Vec<Mediator>>,
    /// Who may call it; `None`: anyone.
    pub authentication: Option<security::Authentication>,
    /// Its CORS policy, when it has one.
    pub cors: Option<tls::CheckedCors>,
    /// Only requests over HTTPS with a verified client certificate are served.
    pub client_certificate: bool,
    /// `trace: true`: a span per mediator of its sequences when tracing is on.
    pub trace: bool,
}

/// A checked resource of an API.
#[derive(Debug, Clone)]
pub struct ApiResource {
    /// The template or mapping as written (`/*` for neither): a metrics label.
    pub label: String,
    /// The in-flow.
    pub in_sequence: Vec<Mediator>,
    /// The out-flow, when it has one.
    pub out_sequence: Option<Vec<Mediator>>,
    /// The resource's fault sequence, when it has one.
    pub fault_sequence: Option<Vec<Mediator>>,
    /// What it requires of callers beyond the API's authentication.
    pub authentication: security::Requirement,
    /// The listeners that serve it (`protocol`, a proxy's `transports`).
    pub listeners: tls::Listeners,
}

/// A checked named Sequence.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Its mediators.
    pub mediators: Vec<Mediator>,
    /// The named Sequence run when it fails.
    pub on_error: Option<String>,
    /// `trace: true`: a span per mediator when tracing is on.
    pub trace: bool,
}

/// Checks a bundle: every error, each located, and the checked form of what is sound.
pub fn check(bundle: &Bundle, config: &ConfigKeys) -> Checked {
    let index = Index::new(bundle);
    let mut diagnostics = Vec::new();
    check_duplicate_names(bundle, &mut diagnostics);
    let api_problems = check_api_contexts(bundle, &mut diagnostics);
    check_endpoint_cycles(bundle, &mut diagnostics);

    let route_specs = route_specs(bundle);
    let api_prefixes: HashMap<(&str, &str), String> = bundle
        .resources
        .iter()
        .filter(|l| is_served(&l.resource))
        .zip(&route_specs)
        .filter_map(|(l, r)| {
            let prefix = routes::resolve_prefix(r).ok()?;
            Some(((l.resource.runtime(), l.resource.name()), prefix))
        })
        .collect();

    let mut resources = Vec::with_capacity(bundle.resources.len());
    for loaded in &bundle.resources {
        let mut cx = Cx::new(loaded, &index, config);
        let checked = match &loaded.resource {
            Resource::IntegrationApi(api) => cx
                .with_namespaces("spec", &api.spec.namespaces, |cx| check_api(cx, &api.spec))
                .map(CheckedResource::Api),
            Resource::ProxyService(p) => cx
                .with_namespaces("spec", &p.spec.namespaces, |cx| {
                    proxy::check(cx, loaded.resource.display_name(), &p.spec)
                })
                .map(CheckedResource::Api),
            Resource::Sequence(seq) => {
                let mediators = cx.with_namespaces("spec", &seq.spec.namespaces, |cx| {
                    check_list(cx, "spec.mediators", &seq.spec.mediators)
                });
                let on_error = match &seq.spec.on_error {
                    Some(name) => cx.sequence_ref("spec.onError", name).map(Some),
                    None => Some(None),
                };
                if seq.spec.statistics {
                    cx.error(
                        "spec.statistics",
                        "per-sequence statistics are not supported yet",
                    );
                }
                mediators.zip(on_error).map(|(mediators, on_error)| {
                    CheckedResource::Sequence(Sequence {
                        mediators,
                        on_error,
                        trace: seq.spec.trace,
                    })
                })
            }
            Resource::Endpoint(ep) => {
                endpoint::check(&mut cx, "spec", &ep.spec).map(CheckedResource::Endpoint)
            }
            Resource::MessageStore(s) => store::check(&mut cx, loaded.resource.name(), &s.spec)
                .then_some(CheckedResource::MessageStore),
            Resource::MessageProcessor(p) => {
                processor::check(&mut cx, &p.spec).map(|p| CheckedResource::Processor(Box::new(p)))
            }
            Resource::ScheduledTask(t) => {
                task::check(&mut cx, &t.spec, &api_prefixes).map(CheckedResource::Task)
            }
            Resource::LocalEntry(_) => match cx.own_entry_content() {
                Ok(content) => Some(CheckedResource::LocalEntry(content)),
                Err((field, message)) => {
                    cx.error(&field, message);
                    None
                }
            },
            Resource::Template(t) => {
                template::check(&mut cx, &t.spec).map(CheckedResource::Template)
            }
            Resource::DataSource(s) => {
                data::check_source(&mut cx, &s.spec).then_some(CheckedResource::DataSource)
            }
            Resource::DataService(s) => {
                data::check_service(&mut cx, loaded.resource.display_name(), &s.spec)
                    .map(CheckedResource::Api)
            }
            Resource::InboundEndpoint(i) => {
                inbound::check(&mut cx, &i.spec).map(|i| CheckedResource::Inbound(Box::new(i)))
            }
            Resource::IntegrationRuntime(r) => {
                for problem in runtime::problems(&r.spec) {
                    let (field, message) = problem.split_once(": ").unwrap_or(("spec", &problem));
                    cx.error(field, message);
                }
                Some(CheckedResource::Runtime)
            }
        };
        if let Some(problem) = runtime::group_name_problem(loaded.resource.runtime()) {
            let field = match &loaded.resource {
                Resource::IntegrationRuntime(_) => "metadata.name",
                _ => "spec.runtime",
            };
            let message = problem
                .split_once(": ")
                .map_or(problem.as_str(), |(_, m)| m);
            cx.error(field, message);
        }
        let failed = cx.error_count() > 0;
        diagnostics.extend(cx.into_diagnostics());
        resources.push(if failed { None } else { checked });
    }

    // An API refused above (its context, its resources, a mediator) is not reported a
    // second time by the route table.
    let mut refused_apis = api_problems;
    let apis_checked = bundle
        .resources
        .iter()
        .zip(&resources)
        .filter(|(l, _)| is_served(&l.resource));
    for (i, (_, checked)) in apis_checked.enumerate() {
        if checked.is_none() {
            refused_apis.push(i);
        }
    }
    let routes = match RouteTable::build(&route_specs) {
        Ok(table) => Some(table),
        Err(errors) => {
            let apis: Vec<&Loaded> = bundle
                .resources
                .iter()
                .filter(|l| is_served(&l.resource))
                .collect();
            for e in errors {
                if let Some(d) = route_diagnostic(&e, &apis, &refused_apis) {
                    diagnostics.push(d);
                }
            }
            None
        }
    };
    diagnostics.dedup();
    Checked {
        diagnostics,
        resources,
        routes,
    }
}

fn check_api(cx: &mut Cx<'_>, spec: &IntegrationApiSpec) -> Option<Api> {
    check_routes(cx, spec);
    // Settings the runtime does not act on yet are refused, not silently ignored.
    let mut unsupported = vec![
        (
            spec.hostname.is_some(),
            "spec.hostname".to_string(),
            "restricting an API to a host",
        ),
        (
            spec.port.is_some(),
            "spec.port".into(),
            "restricting an API to a port",
        ),
        (
            spec.max_body_size.is_some(),
            "spec.maxBodySize".into(),
            "a per-API body limit (set the runtime's maxRequestBodyBytes)",
        ),
        (
            spec.statistics,
            "spec.statistics".into(),
            "per-API statistics",
        ),
    ];
    for (i, r) in spec.resources.iter().enumerate() {
        let at = |f: &str| format!("spec.resources[{i}].{f}");
        unsupported.extend([
            (
                r.content_type.is_some(),
                at("contentType"),
                "matching resources by Content-Type",
            ),
            (
                r.user_agent.is_some(),
                at("userAgent"),
                "matching resources by User-Agent",
            ),
        ]);
    }
    for (set, field, what) in unsupported {
        if set {
            cx.error(&field, format!("{what} is not supported yet"));
        }
    }
    let mut resources = Vec::with_capacity(spec.resources.len());
    let mut ok = true;
    for (i, r) in spec.resources.iter().enumerate() {
        let field = format!("spec.resources[{i}]");
        let in_sequence = check_list(cx, &format!("{field}.inSequence"), &r.in_sequence);
        let out_sequence = optional_list(cx, &format!("{field}.outSequence"), &r.out_sequence);
        let fault_sequence =
            optional_list(cx, &format!("{field}.faultSequence"), &r.fault_sequence);
        let authentication = security::requirement(
            cx,
            &format!("{field}.authentication"),
            r.authentication.as_ref(),
            spec.authentication.as_ref(),
        );
        match (in_sequence, out_sequence, fault_sequence) {
            (Some(in_sequence), Some(out_sequence), Some(fault_sequence)) => {
                resources.push(ApiResource {
                    label: match (&r.uri_template, &r.url_mapping) {
                        (Some(t), _) => t.clone(),
                        (None, Some(m)) => m.clone(),
                        (None, None) => "/*".to_string(),
                    },
                    in_sequence,
                    out_sequence,
                    fault_sequence,
                    authentication,
                    listeners: match r.protocol {
                        None => tls::Listeners::BOTH,
                        Some(Protocol::Http) => tls::Listeners {
                            http: true,
                            https: false,
                        },
                        Some(Protocol::Https) => tls::Listeners {
                            http: false,
                            https: true,
                        },
                    },
                })
            }
            _ => ok = false,
        }
    }
    let fault_sequence = optional_list(cx, "spec.faultSequence", &spec.fault_sequence);
    let authentication = match &spec.authentication {
        Some(a) => security::authentication(cx, "spec.authentication", a).map(Some),
        None => Some(None),
    };
    let cors = match &spec.cors {
        None => Some(None),
        Some(c) => tls::cors(cx, c).map(Some),
    };
    ok.then_some(())?;
    Some(Api {
        resources,
        fault_sequence: fault_sequence?,
        authentication: authentication?,
        cors: cors?,
        client_certificate: spec.client_certificate
            == crate::resources::transport_security::ClientCertificate::Required,
        trace: spec.trace,
    })
}

/// An empty list is no sequence at all (`Some(None)`); `None` when it has errors.
fn optional_list(
    cx: &mut Cx<'_>,
    field: &str,
    specs: &[crate::mediator::Mediator],
) -> Option<Option<Vec<Mediator>>> {
    if specs.is_empty() {
        return Some(None);
    }
    check_list(cx, field, specs).map(Some)
}

/// Two resources of one kind with one name in one runtime group: the second is reported.
/// A Synapse name (annotation) is a second name: it may not be another resource's name or
/// Synapse name of the same kind and group either.
fn check_duplicate_names(bundle: &Bundle, out: &mut Vec<Diagnostic>) {
    let annotation = format!(
        "metadata.annotations.{}",
        crate::resources::SYNAPSE_NAME_ANNOTATION
    );
    let mut seen: HashMap<(&str, &str, &str), &Loaded> = HashMap::new();
    for l in &bundle.resources {
        let mut names = vec![("metadata.name", l.resource.name())];
        match l.resource.synapse_name() {
            Some(s) if s.trim().is_empty() => {
                out.push(l.error(&annotation, "a Synapse name must not be empty"));
            }
            Some(s) if s != l.resource.name() => names.push((annotation.as_str(), s)),
            _ => {}
        }
        for (field, name) in names {
            let key = (l.resource.kind(), l.resource.runtime(), name);
            if let Some(first) = seen.get(&key) {
                out.push(l.error(
                    field,
                    format!(
                        "duplicate {} name \"{}\" (first defined at {}:{})",
                        l.resource.kind(),
                        name,
                        first.origin.file,
                        first.origin.line
                    ),
                ));
            } else {
                seen.insert(key, l);
            }
        }
    }
}

/// Contexts are paths; two APIs of one runtime group cannot share context and version.
/// Returns the indices (among the bundle's APIs) of the APIs reported here.
fn check_api_contexts(bundle: &Bundle, out: &mut Vec<Diagnostic>) -> Vec<usize> {
    let mut seen: HashMap<(&str, String), &Loaded> = HashMap::new();
    let mut reported = Vec::new();
    let apis = bundle.resources.iter().filter_map(|l| match &l.resource {
        Resource::IntegrationApi(api) => Some((l, api)),
        _ => None,
    });
    for (i, (l, api)) in apis.enumerate() {
        let ctx = &api.spec.context;
        let problem = if !ctx.starts_with('/') {
            Some(format!("context {ctx:?} must start with /"))
        } else if ctx.len() > 1 && ctx.ends_with('/') {
            Some(format!("context {ctx:?} must not end with /"))
        } else if ctx.contains(['?', '#', '{', '}', '*', ' ']) {
            Some(format!(
                "context {ctx:?} must be a plain path (no ?, #, {{}}, * or spaces)"
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            out.push(l.error("spec.context", message));
            reported.push(i);
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
            reported.push(i);
        } else {
            seen.insert((l.resource.runtime(), key), l);
        }
    }
    reported
}

/// Each resource has one pattern; no two resources of an API take the same method on the
/// same pattern (parameter names do not matter: `/a/{x}` and `/a/{y}` are the same route).
fn check_routes(cx: &mut Cx<'_>, spec: &IntegrationApiSpec) {
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
            r.methods.iter().map(crate::validate::method_name).collect()
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

/// `/a/{x}/b?q={q}` → `/a/{}/b`: what a request must look like to match.
pub(crate) fn normalize_template(t: &str) -> String {
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

/// The route table's view of the bundle's APIs, in bundle order.
/// Whether the resource is served on the HTTP listener: an API, or a proxy (served as
/// one). The route table and the runtime's API list hold them in bundle order.
fn is_served(r: &Resource) -> bool {
    matches!(
        r,
        Resource::IntegrationApi(_) | Resource::ProxyService(_) | Resource::DataService(_)
    )
}

fn route_specs(bundle: &Bundle) -> Vec<ApiRoute> {
    bundle
        .resources
        .iter()
        .filter(|l| is_served(&l.resource))
        .map(|l| match &l.resource {
            Resource::IntegrationApi(api) => api_route(l, &api.spec),
            Resource::DataService(ds) => data_service_route(l, &ds.spec),
            // Every method and path under /services/<name>; a name that cannot be a path
            // segment was reported by the proxy's check and matches nothing here.
            _ => ApiRoute {
                name: l.resource.name().to_string(),
                context: proxy::context(l.resource.display_name())
                    .unwrap_or_else(|_| format!("{}{}", proxy::SERVICES_PREFIX, l.resource.name())),
                version: None,
                version_type: routes::VersionType::Context,
                resources: vec![ResourceRoute {
                    methods: Vec::new(),
                    pattern: ResourcePattern::Any,
                }],
            },
        })
        .collect()
}

/// A data service's routes: each resource's method and path under `/services/<name>`.
fn data_service_route(l: &Loaded, spec: &crate::resources::DataServiceSpec) -> ApiRoute {
    let name = l.resource.display_name();
    ApiRoute {
        name: l.resource.name().to_string(),
        context: proxy::context(name)
            .unwrap_or_else(|_| format!("{}{}", proxy::SERVICES_PREFIX, l.resource.name())),
        version: None,
        version_type: routes::VersionType::Context,
        resources: spec
            .resources
            .iter()
            .map(|r| ResourceRoute {
                methods: http::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
                    .into_iter()
                    .collect(),
                pattern: ResourcePattern::UriTemplate(r.path.clone()),
            })
            .collect(),
    }
}

fn api_route(l: &Loaded, spec: &IntegrationApiSpec) -> ApiRoute {
    use crate::resources::integration_api::VersionType;
    {
        ApiRoute {
            name: l.resource.name().to_string(),
            context: spec.context.clone(),
            version: spec.version.clone(),
            version_type: match spec.version_type {
                VersionType::Url => routes::VersionType::Url,
                VersionType::Context => routes::VersionType::Context,
            },
            resources: spec
                .resources
                .iter()
                .map(|r| ResourceRoute {
                    methods: r
                        .methods
                        .iter()
                        .filter_map(|m| {
                            http::Method::from_bytes(crate::validate::method_name(m).as_bytes())
                                .ok()
                        })
                        .collect(),
                    pattern: match (&r.uri_template, &r.url_mapping) {
                        (Some(t), _) => ResourcePattern::UriTemplate(t.clone()),
                        (None, Some(m)) => ResourcePattern::UrlMapping(m.clone()),
                        (None, None) => ResourcePattern::Any,
                    },
                })
                .collect(),
        }
    }
}

/// Locates a route-table error at the API (and resource) it is about; `None` for an API
/// already reported.
fn route_diagnostic(e: &RouteError, apis: &[&Loaded], reported: &[usize]) -> Option<Diagnostic> {
    use RouteError as E;
    let (api, field, message) = match e {
        E::InvalidContext { api, message } => (*api, "spec.context".to_string(), message.clone()),
        E::DuplicateContext { api, other, prefix } => (
            *api,
            "spec.context".to_string(),
            format!(
                "context {prefix} is already used by IntegrationAPI/{}",
                apis.get(*other).map_or("?", |l| l.resource.name())
            ),
        ),
        E::InvalidPattern {
            api,
            resource,
            pattern,
            message,
        } => (
            *api,
            format!("spec.resources[{resource}]"),
            format!("invalid pattern {pattern:?}: {message}"),
        ),
        E::Conflict {
            api,
            resource,
            other,
            method,
            pattern,
        } => (
            *api,
            format!("spec.resources[{resource}]"),
            format!("{method} {pattern} is also matched by spec.resources[{other}]"),
        ),
    };
    if reported.contains(&api) {
        return None;
    }
    Some(match apis.get(api) {
        Some(l) => l.error(&field, message),
        None => Diagnostic::error(message),
    })
}

/// Endpoint groups that refer to each other by name in a cycle could never be built: each
/// Endpoint on a cycle is reported.
fn check_endpoint_cycles(bundle: &Bundle, out: &mut Vec<Diagnostic>) {
    let endpoints: Vec<(&Loaded, Vec<String>)> = bundle
        .resources
        .iter()
        .filter_map(|l| match &l.resource {
            Resource::Endpoint(ep) => Some((l, endpoint::key_refs(&ep.spec))),
            _ => None,
        })
        .collect();
    let edges: HashMap<(&str, &str), &Vec<String>> = endpoints
        .iter()
        .map(|(l, refs)| ((l.resource.runtime(), l.resource.name()), refs))
        .collect();
    for (l, refs) in &endpoints {
        let runtime = l.resource.runtime();
        let name = l.resource.name();
        // A group that contains itself directly is reported where the reference is.
        let mut stack: Vec<&str> = refs
            .iter()
            .map(String::as_str)
            .filter(|r| *r != name)
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        let mut cyclic = false;
        while let Some(next) = stack.pop() {
            if next == name {
                cyclic = true;
                break;
            }
            if seen.contains(&next) {
                continue;
            }
            seen.push(next);
            if let Some(more) = edges.get(&(runtime, next)) {
                stack.extend(more.iter().map(String::as_str));
            }
        }
        if cyclic {
            out.push(l.error(
                "spec",
                format!(
                    "endpoint groups refer to each other in a cycle (through {})",
                    refs.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
