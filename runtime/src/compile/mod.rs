//! Compile: a [`Bundle`] becomes the immutable [`Compiled`] form the runtime serves.
//!
//! The checker (`ferry_api::check`) judges the resources and parses everything once; this
//! module walks its checked form and builds runtime objects from it (named sequences to
//! ids, endpoints with their pooled clients, stores opened, processors and tasks). The
//! request path only reads the result. A reload compiles a new `Compiled` beside the
//! running one (see `reload`). The context the components build in is [`cx::BuildCx`].

pub mod cx;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_api::bundle::{self, Bundle, Loaded};
use ferry_api::check::{self, CheckedResource, ConfigKeys, endpoint as checked_endpoint};
use ferry_api::diagnostic::Diagnostic;

use crate::admin::metrics::{Metrics, ResourceMetrics};
pub use crate::compiled::{Compiled, CompiledApi, CompiledResource};
use crate::coverage;
use crate::endpoints::Endpoint;
use crate::endpoints::client::EndpointClient;
use crate::inbound::CompiledInbound;
use crate::passthrough::Passthrough;
use crate::processors::CompiledProcessor;
use crate::sequence::{SeqId, Sequence};
use crate::stores::MessageStore;
use crate::stores::factory::StoreRegistry;
use crate::supervisor::fingerprint::Fingerprints;
use crate::tasks::CompiledTask;
pub use cx::{CompileEnv, TemplateId};

use crate::endpoints::BuildCx;

/// The configuration keys a compile environment sets.
fn config_keys(env: &CompileEnv) -> ConfigKeys {
    ConfigKeys::with(env.config.keys().cloned())
}

/// Loads, checks and builds `paths` (stores are checked, not opened); returns the
/// diagnostics and the resource count. This is `ferry validate`: exactly what `ferry run`
/// would reject, the environment (password variables, say) included.
pub fn check_paths(
    paths: &[PathBuf],
    properties: Vec<(String, String)>,
) -> (Vec<Diagnostic>, usize) {
    let (bundle, diagnostics, suites) = bundle::load_paths_with_suites(paths);
    check_loaded(bundle, diagnostics, suites, properties)
}

/// [`check_paths`] for YAML already in memory (`ferry import` checks what it wrote).
pub fn check_sources(
    sources: &[bundle::Source],
    properties: Vec<(String, String)>,
) -> (Vec<Diagnostic>, usize) {
    let (bundle, diagnostics, suites) = bundle::load_with_suites(sources);
    check_loaded(bundle, diagnostics, suites, properties)
}

fn check_loaded(
    bundle: Bundle,
    mut diagnostics: Vec<Diagnostic>,
    suites: bundle::Suites,
    properties: Vec<(String, String)>,
) -> (Vec<Diagnostic>, usize) {
    // TestSuites are checked too (a broken test fails CI), and counted as documents.
    diagnostics.extend(check::test_suite::check_suites(&bundle, &suites));
    let count = bundle.resources.len() + bundle.unreadable.len() + suites.suites.len();
    let env = CompileEnv {
        config: Arc::new(properties.into_iter().collect()),
        client: EndpointClient::new(Default::default()),
        metrics: Arc::new(Metrics::new()),
        stores: StoreRegistry::check_only(),
    };
    match compile(&bundle, &env) {
        Ok(compiled) => diagnostics.extend(compiled.warnings),
        Err(more) => diagnostics.extend(more),
    }
    diagnostics.dedup();
    (diagnostics, count)
}

/// Checks and builds a bundle. Every error is reported; nothing partial is returned.
pub fn compile(bundle: &Bundle, env: &CompileEnv) -> Result<Compiled, Vec<Diagnostic>> {
    let checked = check::check(bundle, &config_keys(env));
    if checked.has_errors() {
        return Err(checked.diagnostics);
    }
    let warnings = checked.diagnostics.clone();
    let mut diagnostics = Vec::new();
    let resources: Vec<(&Loaded, &CheckedResource)> = bundle
        .resources
        .iter()
        .zip(&checked.resources)
        .filter_map(|(l, c)| Some((l, c.as_ref()?)))
        .collect();

    // Names first, so bodies can refer to any sequence or endpoint, in any order.
    // A resource may be named by its Synapse name too: both names lead to it.
    let sequence_ids: HashMap<String, SeqId> = resources
        .iter()
        .filter(|(_, c)| matches!(c, CheckedResource::Sequence(_)))
        .enumerate()
        .flat_map(|(i, (l, _))| {
            let names = std::iter::once(l.resource.name()).chain(l.resource.synapse_name());
            names.map(move |n| (n.to_string(), SeqId(i)))
        })
        .collect();

    let template_ids: HashMap<String, TemplateId> = resources
        .iter()
        .filter(|(_, c)| matches!(c, CheckedResource::Template(_)))
        .enumerate()
        .flat_map(|(i, (l, _))| {
            let names = std::iter::once(l.resource.name()).chain(l.resource.synapse_name());
            names.map(move |n| (n.to_string(), TemplateId(i)))
        })
        .collect();

    let stores = env.stores.open_all(bundle, &mut diagnostics);
    let data_sources = crate::data::source::open_all(
        resources.iter().map(|(l, _)| *l),
        env.stores.data_dir().as_deref(),
        &mut diagnostics,
    );
    let ids = (&sequence_ids, &template_ids);
    let endpoints = build_endpoints(&resources, env, ids, &stores, &mut diagnostics);

    let mut sequences = Vec::new();
    let mut templates = Vec::new();
    let mut apis = Vec::new();
    let mut processors = Vec::new();
    let mut tasks = Vec::new();
    let mut inbound_endpoints = Vec::new();
    let fingerprints = Fingerprints::new(bundle);
    for (loaded, c) in &resources {
        let mut cx = BuildCx::new(
            env,
            &sequence_ids,
            &template_ids,
            &endpoints,
            &stores,
            loaded,
        )
        .with_data_sources(&data_sources);
        let name = loaded.resource.name();
        // Logs and metrics show the name the user knows the resource by.
        let shown = loaded.resource.display_name();
        match c {
            CheckedResource::Sequence(seq) => {
                let mediators = crate::mediators::build_list(&seq.mediators, &mut cx);
                let on_error = seq.on_error.as_deref().and_then(|n| cx.sequence_id(n));
                sequences.push(Sequence {
                    name: Some(Arc::from(shown)),
                    mediators,
                    on_error,
                    coverage: coverage::point(coverage::Kind::Sequence, &loaded.id(), String::new),
                    trace: seq.trace,
                });
            }
            CheckedResource::Template(t) => {
                templates.push(crate::mediators::call_template::Template::build(
                    shown, t, &mut cx,
                ));
            }
            CheckedResource::Api(api) => apis.push(build_api(shown, api, &mut cx)),
            CheckedResource::Processor(p) => {
                let fingerprint = fingerprints.of(loaded);
                if let Some(p) = CompiledProcessor::build(name, p, fingerprint, &mut cx) {
                    processors.push(Arc::new(p));
                }
            }
            CheckedResource::Task(t) => {
                let fingerprint = fingerprints.of(loaded);
                if let Some(t) = CompiledTask::build(name, t, fingerprint, &mut cx) {
                    tasks.push(Arc::new(t));
                }
            }
            CheckedResource::Inbound(i) => {
                let fingerprint = fingerprints.of(loaded);
                if let Some(i) = CompiledInbound::build(name, i, fingerprint, &mut cx) {
                    inbound_endpoints.push(Arc::new(i));
                }
            }
            // Entries were read into the mediators that name them when checked.
            CheckedResource::Endpoint(_)
            | CheckedResource::MessageStore
            | CheckedResource::LocalEntry(_)
            | CheckedResource::DataSource
            | CheckedResource::Runtime => {}
        }
        diagnostics.append(&mut cx.diagnostics);
    }

    let Some(routes) = checked.routes else {
        diagnostics.push(Diagnostic::error(
            "internal error: the checked configuration has no route table",
        ));
        return Err(diagnostics);
    };
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    Ok(Compiled {
        apis,
        routes,
        sequences,
        sequence_ids,
        templates,
        endpoints,
        stores,
        data_sources,
        processors,
        tasks,
        inbound_endpoints,
        config: env.config.clone(),
        local_entries: Arc::new(local_entries(&resources)),
        resource_count: bundle.resources.len(),
        catalog: bundle
            .resources
            .iter()
            .map(|l| l.resource.clone())
            .collect(),
        warnings,
    })
}

/// The LocalEntries' contents as text, under both names.
fn local_entries(resources: &[(&Loaded, &CheckedResource)]) -> HashMap<String, String> {
    use ferry_api::check::local_entry::Content;
    let mut out = HashMap::new();
    for (loaded, c) in resources {
        let CheckedResource::LocalEntry(content) = c else {
            continue;
        };
        let text = match content {
            Content::Text(t) | Content::Xml(t) => t.clone(),
            Content::Json(v) => v.to_string(),
        };
        for name in std::iter::once(loaded.resource.name()).chain(loaded.resource.synapse_name()) {
            out.insert(name.to_string(), text.clone());
        }
    }
    out
}

/// Builds an API's resources and decides, once, which of them stream.
fn build_api(name: &str, api: &check::Api, cx: &mut BuildCx<'_>) -> CompiledApi {
    let owner = cx.resource().to_string();
    let fault_sequence = api.fault_sequence.as_ref().map(|list| Sequence {
        coverage: coverage::point(coverage::Kind::Fault, &owner, || "faultSequence".into()),
        ..Sequence::anonymous(crate::mediators::build_list(list, cx))
    });
    let resources = api
        .resources
        .iter()
        .map(|res| {
            let mut in_sequence =
                Sequence::anonymous(crate::mediators::build_list(&res.in_sequence, cx));
            let out_sequence = res
                .out_sequence
                .as_ref()
                .map(|list| Sequence::anonymous(crate::mediators::build_list(list, cx)));
            let own_fault = res.fault_sequence.as_ref().map(|list| Sequence {
                coverage: coverage::point(coverage::Kind::Fault, &owner, || {
                    format!("{} faultSequence", res.label)
                }),
                ..Sequence::anonymous(crate::mediators::build_list(list, cx))
            });
            let fault_handled = own_fault.is_some() || fault_sequence.is_some();
            if !fault_handled && out_sequence.is_none() {
                crate::passthrough::stream_final_answers(&mut in_sequence.mediators);
            }
            CompiledResource {
                label: Arc::from(res.label.as_str()),
                passthrough: Passthrough::plan(&in_sequence, fault_handled),
                in_sequence,
                out_sequence,
                fault_sequence: own_fault,
                metrics: ResourceMetrics::default(),
                requirement: res.authentication.clone(),
                listeners: res.listeners,
                coverage: coverage::point(coverage::Kind::Resource, &owner, || res.label.clone()),
            }
        })
        .collect();
    let authenticator = api
        .authentication
        .as_ref()
        .and_then(|a| crate::security::Authenticator::build(name, a, cx));
    CompiledApi {
        name: Arc::from(name),
        resources,
        fault_sequence,
        authenticator,
        cors: api
            .cors
            .clone()
            .map(crate::transports::http::cors::Cors::new),
        client_certificate: api.client_certificate,
        trace: api.trace,
    }
}

/// Builds the named endpoints, each after the endpoints its groups name, so a group holds
/// its children themselves (and shares their suspension state). The checker refused
/// cycles, so every round builds at least one.
fn build_endpoints(
    resources: &[(&Loaded, &CheckedResource)],
    env: &CompileEnv,
    (sequence_ids, template_ids): (&HashMap<String, SeqId>, &HashMap<String, TemplateId>),
    stores: &HashMap<String, Arc<dyn MessageStore>>,
    diagnostics: &mut Vec<Diagnostic>,
) -> HashMap<String, Arc<Endpoint>> {
    let mut pending: Vec<(&Loaded, &checked_endpoint::Endpoint, Vec<&str>)> = resources
        .iter()
        .filter_map(|(l, c)| match c {
            CheckedResource::Endpoint(ep) => {
                let mut refs = Vec::new();
                named_children(ep, &mut refs);
                Some((*l, ep, refs))
            }
            _ => None,
        })
        .collect();
    let mut endpoints: HashMap<String, Arc<Endpoint>> = HashMap::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for (loaded, ep, refs) in pending {
            if !refs.iter().all(|r| endpoints.contains_key(*r)) {
                waiting.push((loaded, ep, refs));
                continue;
            }
            let name = loaded.resource.name();
            let mut cx = BuildCx::new(env, sequence_ids, template_ids, &endpoints, stores, loaded);
            let built = Endpoint::build(loaded.resource.display_name(), ep, &mut cx);
            diagnostics.append(&mut cx.diagnostics);
            if let Some(ep) = built {
                let ep = Arc::new(ep);
                if let Some(alias) = loaded.resource.synapse_name() {
                    endpoints.insert(alias.to_string(), ep.clone());
                }
                endpoints.insert(name.to_string(), ep);
            }
        }
        if waiting.len() == before {
            // A child failed to build (and was reported); its groups cannot be built.
            for (loaded, _, _) in &waiting {
                diagnostics.push(loaded.error("spec", "a member endpoint could not be built"));
            }
            break;
        }
        pending = waiting;
    }
    endpoints
}

/// The named endpoints a checked endpoint's groups refer to, inline groups included.
fn named_children<'a>(ep: &'a checked_endpoint::Endpoint, out: &mut Vec<&'a str>) {
    use checked_endpoint::{Endpoint as E, EndpointRef as R};
    let children = match ep {
        E::Leaf(_) | E::Rabbitmq(_) | E::Mqtt(_) | E::Smtp(_) | E::File(_) => return,
        E::Failover { children, .. } | E::Loadbalance { children, .. } => children,
    };
    for child in children {
        match child {
            R::Key(name) => out.push(name),
            R::Inline { endpoint, .. } => named_children(endpoint, out),
        }
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

#[cfg(test)]
mod invariant;

#[cfg(test)]
mod layering;
