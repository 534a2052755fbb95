//! The build context: what a component needs while it turns its checked form into runtime
//! objects — the compile environment, the named sequences, endpoints and stores built so
//! far, and where to record what failed.
//!
//! It sits below the components (mediators, endpoints, processors, tasks import it) and
//! imports none of them: the endpoints it hands out are a type parameter (the runtime's
//! `Endpoint`), so no import cycle runs through it; `compile` above walks the bundle.
//! Nothing here judges the resources: the checker did. What can still fail is what depends
//! on the machine (a store that did not open, a password variable that is not set), and an
//! internal inconsistency, reported as such.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_api::bundle::{Loaded, Origin};
use ferry_api::diagnostic::Diagnostic;

use crate::admin::metrics::Metrics;
use crate::endpoints::client::EndpointClient;
use crate::stores::MessageStore;
use crate::stores::factory::StoreRegistry;

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

/// Index of a named sequence in the compiled configuration's sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqId(pub usize);

/// Index of a Template in the compiled configuration's templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId(pub usize);

/// Shared state while building one resource.
pub struct BuildCx<'a, E> {
    /// The compile environment.
    pub env: &'a CompileEnv,
    sequence_ids: &'a HashMap<String, SeqId>,
    template_ids: &'a HashMap<String, TemplateId>,
    endpoints: &'a HashMap<String, Arc<E>>,
    stores: &'a HashMap<String, Arc<dyn MessageStore>>,
    origin: &'a Origin,
    resource: String,
    data_sources: Option<&'a HashMap<String, Arc<crate::data::source::DataSource>>>,
    /// Branching mediators built so far in this resource: numbers them for coverage.
    branching: u32,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a, E> BuildCx<'a, E> {
    /// A context for building `loaded`.
    pub fn new(
        env: &'a CompileEnv,
        sequence_ids: &'a HashMap<String, SeqId>,
        template_ids: &'a HashMap<String, TemplateId>,
        endpoints: &'a HashMap<String, Arc<E>>,
        stores: &'a HashMap<String, Arc<dyn MessageStore>>,
        loaded: &'a Loaded,
    ) -> Self {
        Self {
            env,
            sequence_ids,
            template_ids,
            endpoints,
            stores,
            origin: &loaded.origin,
            resource: loaded.id(),
            data_sources: None,
            branching: 0,
            diagnostics: Vec::new(),
        }
    }

    /// The same context, with the data sources the database mediators and data services
    /// run on.
    pub fn with_data_sources(
        mut self,
        sources: &'a HashMap<String, Arc<crate::data::source::DataSource>>,
    ) -> Self {
        self.data_sources = Some(sources);
        self
    }

    /// A data source, resolved when the configuration was compiled (the reason one could
    /// not be was reported then).
    pub fn data_source(&mut self, name: &str) -> Option<Arc<crate::data::source::DataSource>> {
        let source = self.data_sources.and_then(|all| all.get(name)).cloned();
        if source.is_none() {
            self.error(
                "",
                format!("data source \"{name}\" is not available (it could not be opened)"),
            );
        }
        source
    }

    /// The next number of a branching mediator (`switch #2`) in this resource, in build
    /// order: the same for every compile of the same resource, so coverage adds up.
    pub fn next_branching(&mut self) -> u32 {
        self.branching += 1;
        self.branching
    }

    /// `Kind/name` of the resource being built.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Records an error about `field` (empty: the resource as a whole).
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let d = self.origin.diagnostic(&self.resource, field, message);
        self.diagnostics.push(d);
    }

    /// Records a name the checker resolved but the build cannot find: a bug, not a user
    /// error, said as such rather than hidden.
    fn internal(&mut self, what: &str, name: &str) {
        self.error(
            "",
            format!("internal error: the checked {what} \"{name}\" was not built"),
        );
    }

    /// The id of a named sequence.
    pub fn sequence_id(&mut self, name: &str) -> Option<SeqId> {
        let id = self.sequence_ids.get(name).copied();
        if id.is_none() {
            self.internal("sequence", name);
        }
        id
    }

    /// The id of a Template.
    pub fn template_id(&mut self, name: &str) -> Option<TemplateId> {
        let id = self.template_ids.get(name).copied();
        if id.is_none() {
            self.internal("template", name);
        }
        id
    }

    /// A named endpoint, built before everything that refers to it.
    pub fn endpoint(&mut self, name: &str) -> Option<Arc<E>> {
        let ep = self.endpoints.get(name).cloned();
        if ep.is_none() {
            // The checker resolved the name, so the endpoint's own build failed and said why
            // (an unset secret variable, an unreadable CA file).
            self.error(
                "",
                format!("endpoint \"{name}\" is not available (it could not be built)"),
            );
        }
        ep
    }

    /// A message store, opened by the store registry (which reported why one did not
    /// open).
    pub fn store(&mut self, name: &str) -> Option<Arc<dyn MessageStore>> {
        let store = self.stores.get(name).cloned();
        if store.is_none() {
            self.error(
                "",
                format!("message store \"{name}\" is not available (it did not open)"),
            );
        }
        store
    }
}
