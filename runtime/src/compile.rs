//! Compile: a validated [`Bundle`] becomes the immutable [`Compiled`] form the runtime serves.
//!
//! Everything that can be done once is done here: expressions and templates parsed, regexes
//! built, names resolved to indices, the route table built. The request path only reads the
//! result. A reload compiles a new `Compiled` beside the running one (see `reload`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_api::bundle::{self, Bundle, Loaded, Origin};
use ferry_api::diagnostic::Diagnostic;
use ferry_api::expr::{Expression, Template};
use ferry_api::mediator::Mediator as MediatorSpec;
use ferry_api::resources::Resource;
use ferry_api::resources::endpoint::EndpointSpec;

use crate::admin::metrics::{Metrics, ResourceMetrics};
use crate::endpoints::Endpoint;
use crate::endpoints::client::EndpointClient;
use crate::mediators::Mediator;
use crate::passthrough::Passthrough;
use crate::processors::CompiledProcessor;
use crate::sequence::{SeqId, Sequence};
use crate::stores::MessageStore;
use crate::stores::factory::StoreRegistry;
use crate::tasks::CompiledTask;
use crate::transports::http::router::{self, RouteTable};

/// What compiling needs from outside the bundle.
#[derive(Clone)]
pub struct CompileEnv {
    /// Configuration properties (`${config.x}`), including `http.port`.
    pub config: Arc<HashMap<String, String>>,
    /// The shared, pooled HTTP client endpoints call through.
    pub client: EndpointClient,
    /// Where endpoints and APIs record metrics.
    pub metrics: Arc<Metrics>,
    /// Opens message stores, and keeps them open across reloads.
    pub stores: StoreRegistry,
}

/// An API resource, ready to run.
pub struct CompiledResource {
    /// The template or mapping as written, for metrics labels and logs.
    pub label: Arc<str>,
    /// The in-flow.
    pub in_sequence: Sequence,
    /// The out-flow (responses of `send`, and `loopback`).
    pub out_sequence: Option<Sequence>,
    /// The resource's fault sequence.
    pub fault_sequence: Option<Sequence>,
    /// Set when the flow only forwards the request and answers with the reply: such a
    /// request streams through without buffering either body.
    pub passthrough: Option<Passthrough>,
    /// This resource's request counters and latency histogram.
    pub metrics: ResourceMetrics,
}

/// An IntegrationAPI, ready to run.
pub struct CompiledApi {
    /// The API's name (a metrics label).
    pub name: Arc<str>,
    /// Its resources, indexed like the route table's resource indices.
    pub resources: Vec<CompiledResource>,
    /// The API-level fault sequence.
    pub fault_sequence: Option<Sequence>,
}

/// The whole compiled configuration. Immutable; shared by `Arc` with every request in flight.
pub struct Compiled {
    /// APIs, indexed like the route table's API indices.
    pub apis: Vec<CompiledApi>,
    /// The route table over `apis`.
    pub routes: RouteTable,
    /// Named sequences, indexed by [`SeqId`].
    pub sequences: Vec<Sequence>,
    /// Named sequences by name (for `keyExpression`).
    pub sequence_ids: HashMap<String, SeqId>,
    /// Named endpoints.
    pub endpoints: HashMap<String, Arc<Endpoint>>,
    /// Message stores by name.
    pub stores: HashMap<String, Arc<dyn MessageStore>>,
    /// Message processors, to be started when this configuration is installed.
    pub processors: Vec<Arc<CompiledProcessor>>,
    /// Scheduled tasks, to be started when this configuration is installed.
    pub tasks: Vec<Arc<CompiledTask>>,
    /// Configuration properties.
    pub config: Arc<HashMap<String, String>>,
    /// How many resources went into this configuration.
    pub resource_count: usize,
}

impl Compiled {
    /// The named sequence with this id.
    pub fn sequence(&self, id: SeqId) -> &Sequence {
        &self.sequences[id.0]
    }

    /// The id of the named sequence `name`, if there is one.
    pub fn sequence_id(&self, name: &str) -> Option<SeqId> {
        self.sequence_ids.get(name).copied()
    }
}

/// Shared state while compiling one resource: name lookups and the diagnostics so far.
pub struct CompileCx<'a> {
    /// The compile environment.
    pub env: &'a CompileEnv,
    /// Named sequences by name.
    pub sequence_ids: &'a HashMap<String, SeqId>,
    /// Named endpoints by name.
    pub endpoints: &'a HashMap<String, Arc<Endpoint>>,
    /// Message stores by name.
    pub stores: &'a HashMap<String, Arc<dyn MessageStore>>,
    /// Where the resource came from.
    origin: &'a Origin,
    /// `Kind/name` of the resource being compiled.
    resource: String,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> CompileCx<'a> {
    /// A context for compiling `loaded`.
    pub fn new(
        env: &'a CompileEnv,
        sequence_ids: &'a HashMap<String, SeqId>,
        endpoints: &'a HashMap<String, Arc<Endpoint>>,
        stores: &'a HashMap<String, Arc<dyn MessageStore>>,
        loaded: &'a Loaded,
    ) -> Self {
        Self {
            env,
            sequence_ids,
            endpoints,
            stores,
            origin: &loaded.origin,
            resource: loaded.id(),
            diagnostics: Vec::new(),
        }
    }

    /// `Kind/name` of the resource being compiled.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Records an error about `field`.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let d = self.origin.diagnostic(&self.resource, field, message);
        self.diagnostics.push(d);
    }

    /// Parses an expression, recording a located error when it is wrong.
    pub fn expression(&mut self, field: &str, src: &str) -> Option<Expression> {
        match Expression::parse(src) {
            Ok(e) => Some(e),
            Err(e) => {
                self.error(field, format!("invalid expression {src:?}: {e}"));
                None
            }
        }
    }

    /// Parses a template with inline `${...}` parts, recording a located error when wrong.
    pub fn template(&mut self, field: &str, src: &str) -> Option<Template> {
        match Template::parse(src) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(field, format!("invalid template: {e}"));
                None
            }
        }
    }

    /// Builds a regex, recording a located error when it is wrong.
    pub fn regex(&mut self, field: &str, src: &str) -> Option<regex::Regex> {
        match regex::Regex::new(src) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(field, format!("invalid regex {src:?}: {e}"));
                None
            }
        }
    }

    /// Compiles a mediator list at `field`.
    pub fn sequence(&mut self, field: &str, specs: &[MediatorSpec]) -> Vec<Mediator> {
        specs
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| {
                let path = format!("{field}[{i}].{}", spec.name());
                Mediator::compile(spec, self, &path)
            })
            .collect()
    }

    /// Resolves a named sequence.
    pub fn sequence_id(&mut self, field: &str, name: &str) -> Option<SeqId> {
        let id = self.sequence_ids.get(name).copied();
        if id.is_none() {
            self.error(field, format!("sequence \"{name}\" is not defined"));
        }
        id
    }
}

/// Loads, validates and compiles `paths`; returns the diagnostics and the resource count.
/// This is `ferry validate`: exactly what `ferry run` would reject.
pub fn check_paths(
    paths: &[PathBuf],
    properties: Vec<(String, String)>,
) -> (Vec<Diagnostic>, usize) {
    let (bundle, mut diagnostics) = bundle::load_paths(paths);
    let count = bundle.resources.len() + bundle.unreadable.len();
    let env = CompileEnv {
        config: Arc::new(properties.into_iter().collect()),
        client: EndpointClient::new(Default::default()),
        metrics: Arc::new(Metrics::new()),
        stores: StoreRegistry::check_only(),
    };
    if diagnostics.iter().any(Diagnostic::is_error) {
        // Compiling would report what failed to load a second time (as undefined names);
        // the bundle's own checks still add what else is wrong.
        diagnostics.extend(ferry_api::validate::validate(&bundle));
    } else if let Err(more) = compile(&bundle, &env) {
        diagnostics.extend(more);
    }
    diagnostics.dedup();
    (diagnostics, count)
}

/// Validates and compiles a bundle. Every error is reported; nothing partial is returned.
pub fn compile(bundle: &Bundle, env: &CompileEnv) -> Result<Compiled, Vec<Diagnostic>> {
    let mut diagnostics = ferry_api::validate::validate(bundle);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }

    // Names first, so bodies can refer to any sequence or endpoint, in any order.
    let mut sequence_ids = HashMap::new();
    let mut sequence_specs = Vec::new();
    for loaded in &bundle.resources {
        if let Resource::Sequence(seq) = &loaded.resource {
            let name = loaded.resource.name().to_string();
            sequence_ids.insert(name, SeqId(sequence_specs.len()));
            sequence_specs.push((loaded, seq));
        }
    }

    let stores = env.stores.open_all(bundle, &mut diagnostics);
    let endpoints = compile_endpoints(bundle, env, &sequence_ids, &stores, &mut diagnostics);

    let mut sequences = Vec::with_capacity(sequence_specs.len());
    for (loaded, seq) in &sequence_specs {
        let mut cx = CompileCx::new(env, &sequence_ids, &endpoints, &stores, loaded);
        let mediators = cx.sequence("spec.mediators", &seq.spec.mediators);
        let on_error = seq
            .spec
            .on_error
            .as_deref()
            .and_then(|name| cx.sequence_id("spec.onError", name));
        sequences.push(Sequence {
            name: Some(Arc::from(loaded.resource.name())),
            mediators,
            on_error,
        });
        diagnostics.append(&mut cx.diagnostics);
    }

    let mut apis = Vec::new();
    let mut route_specs = Vec::new();
    let mut api_origins = Vec::new();
    for loaded in &bundle.resources {
        let Resource::IntegrationApi(api) = &loaded.resource else {
            continue;
        };
        let mut cx = CompileCx::new(env, &sequence_ids, &endpoints, &stores, loaded);
        let spec = &api.spec;
        let mut resources = Vec::with_capacity(spec.resources.len());
        let mut route_resources = Vec::with_capacity(spec.resources.len());
        for (i, res) in spec.resources.iter().enumerate() {
            let field = format!("spec.resources[{i}]");
            let (label, pattern) = match (&res.uri_template, &res.url_mapping) {
                (Some(t), _) => (t.clone(), router::ResourcePattern::UriTemplate(t.clone())),
                (None, Some(m)) => (m.clone(), router::ResourcePattern::UrlMapping(m.clone())),
                (None, None) => ("/*".to_string(), router::ResourcePattern::Any),
            };
            let in_sequence = cx.sequence(&format!("{field}.inSequence"), &res.in_sequence);
            let out_sequence = (!res.out_sequence.is_empty())
                .then(|| cx.sequence(&format!("{field}.outSequence"), &res.out_sequence));
            let fault_sequence = (!res.fault_sequence.is_empty())
                .then(|| cx.sequence(&format!("{field}.faultSequence"), &res.fault_sequence));
            let methods = res
                .methods
                .iter()
                .filter_map(|m| {
                    http::Method::from_bytes(ferry_api::validate::method_name(m).as_bytes()).ok()
                })
                .collect();
            route_resources.push(router::ResourceRoute { methods, pattern });
            let mut in_sequence = Sequence::anonymous(in_sequence);
            let fault_handled = fault_sequence.is_some() || !spec.fault_sequence.is_empty();
            if !fault_handled && out_sequence.is_none() {
                crate::passthrough::stream_final_answers(&mut in_sequence.mediators);
            }
            resources.push(CompiledResource {
                label: Arc::from(label.as_str()),
                passthrough: Passthrough::plan(&in_sequence, fault_handled),
                in_sequence,
                out_sequence: out_sequence.map(Sequence::anonymous),
                fault_sequence: fault_sequence.map(Sequence::anonymous),
                metrics: ResourceMetrics::default(),
            });
        }
        let fault_sequence = (!spec.fault_sequence.is_empty())
            .then(|| Sequence::anonymous(cx.sequence("spec.faultSequence", &spec.fault_sequence)));
        diagnostics.append(&mut cx.diagnostics);
        route_specs.push(router::ApiRoute {
            name: loaded.resource.name().to_string(),
            context: spec.context.clone(),
            version: spec.version.clone(),
            version_type: match spec.version_type {
                ferry_api::resources::integration_api::VersionType::Url => router::VersionType::Url,
                ferry_api::resources::integration_api::VersionType::Context => {
                    router::VersionType::Context
                }
            },
            resources: route_resources,
        });
        api_origins.push(loaded);
        apis.push(CompiledApi {
            name: Arc::from(loaded.resource.name()),
            resources,
            fault_sequence,
        });
    }

    let mut processors = Vec::new();
    for loaded in &bundle.resources {
        if let Resource::MessageProcessor(p) = &loaded.resource {
            let mut cx = CompileCx::new(env, &sequence_ids, &endpoints, &stores, loaded);
            if let Some(p) = CompiledProcessor::compile(loaded.resource.name(), &p.spec, &mut cx) {
                processors.push(Arc::new(p));
            }
            diagnostics.append(&mut cx.diagnostics);
        }
    }

    let api_prefixes: HashMap<String, String> = route_specs
        .iter()
        .filter_map(|r| Some((r.name.clone(), router::resolve_prefix(r).ok()?)))
        .collect();
    let mut tasks = Vec::new();
    for loaded in &bundle.resources {
        if let Resource::ScheduledTask(t) = &loaded.resource {
            let mut cx = CompileCx::new(env, &sequence_ids, &endpoints, &stores, loaded);
            let name = loaded.resource.name();
            if let Some(t) = CompiledTask::compile(name, &t.spec, &api_prefixes, &mut cx) {
                tasks.push(Arc::new(t));
            }
            diagnostics.append(&mut cx.diagnostics);
        }
    }

    let routes = match RouteTable::build(&route_specs) {
        Ok(routes) => Some(routes),
        Err(errors) => {
            for e in errors {
                diagnostics.push(route_diagnostic(&e, &api_origins));
            }
            None
        }
    };

    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let Some(routes) = routes else {
        return Err(diagnostics);
    };
    Ok(Compiled {
        apis,
        routes,
        sequences,
        sequence_ids,
        endpoints,
        stores,
        processors,
        tasks,
        config: env.config.clone(),
        resource_count: bundle.resources.len(),
    })
}

/// Compiles the named endpoints, each after the endpoints its groups name by `key`, so a
/// group holds its children themselves (and shares their suspension state).
fn compile_endpoints(
    bundle: &Bundle,
    env: &CompileEnv,
    sequence_ids: &HashMap<String, SeqId>,
    stores: &HashMap<String, Arc<dyn MessageStore>>,
    diagnostics: &mut Vec<Diagnostic>,
) -> HashMap<String, Arc<Endpoint>> {
    let mut pending: Vec<(&Loaded, &EndpointSpec, Vec<String>)> = bundle
        .resources
        .iter()
        .filter_map(|loaded| match &loaded.resource {
            Resource::Endpoint(ep) => Some((loaded, &ep.spec, key_refs(&ep.spec))),
            _ => None,
        })
        .collect();
    let mut endpoints: HashMap<String, Arc<Endpoint>> = HashMap::new();
    let mut failed: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for (loaded, spec, refs) in pending {
            let name = loaded.resource.name().to_string();
            if refs.iter().any(|r| failed.contains(r)) {
                // Its child failed and was reported; the group cannot be built either.
                failed.push(name);
                continue;
            }
            if !refs.iter().all(|r| endpoints.contains_key(r)) {
                waiting.push((loaded, spec, refs));
                continue;
            }
            let mut cx = CompileCx::new(env, sequence_ids, &endpoints, stores, loaded);
            let endpoint = Endpoint::compile(&name, spec, &mut cx, "spec");
            diagnostics.append(&mut cx.diagnostics);
            match endpoint {
                Some(ep) => {
                    endpoints.insert(name, Arc::new(ep));
                }
                None => failed.push(name),
            }
        }
        if waiting.len() == before {
            for (loaded, _, refs) in &waiting {
                diagnostics.push(loaded.error(
                    "spec",
                    format!(
                        "endpoint groups refer to each other in a cycle (through {})",
                        refs.join(", ")
                    ),
                ));
            }
            break;
        }
        pending = waiting;
    }
    endpoints
}

/// The names of the endpoints a spec's groups refer to by `key`, inline groups included.
fn key_refs(spec: &EndpointSpec) -> Vec<String> {
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

/// Locates a route-table error at the API (and resource) it is about.
fn route_diagnostic(e: &router::RouteError, apis: &[&Loaded]) -> Diagnostic {
    use router::RouteError as E;
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
    match apis.get(api) {
        Some(l) => l.error(&field, message),
        None => Diagnostic::error(message),
    }
}

/// Compiles `yaml` for a unit test (stores in memory), failing the test with every
/// diagnostic when it does not compile.
#[cfg(test)]
pub(crate) fn compile_test_yaml(yaml: &str, metrics: Arc<Metrics>) -> Compiled {
    compile_test_yaml_with(yaml, metrics, HashMap::new())
}

/// [`compile_test_yaml`] with configuration properties (`${config.x}`).
#[cfg(test)]
pub(crate) fn compile_test_yaml_with(
    yaml: &str,
    metrics: Arc<Metrics>,
    config: HashMap<String, String>,
) -> Compiled {
    let (bundle, diagnostics) = ferry_api::bundle::load(&[ferry_api::bundle::Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let env = CompileEnv {
        config: Arc::new(config),
        client: EndpointClient::default(),
        metrics,
        stores: crate::stores::factory::StoreRegistry::check_only(),
    };
    match compile(&bundle, &env) {
        Ok(c) => c,
        Err(d) => panic!("does not compile: {d:?}"),
    }
}
