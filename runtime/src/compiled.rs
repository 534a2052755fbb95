//! The running configuration: what [`crate::compile`] builds from the checked resources
//! and every request, processor and task reads. Immutable; shared by `Arc`, and replaced
//! whole by a reload.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_api::diagnostic::Diagnostic;
use ferry_api::routes::RouteTable;

use crate::admin::metrics::ResourceMetrics;
use crate::compile::cx::TemplateId;
use crate::endpoints::Endpoint;
use crate::inbound::CompiledInbound;
use crate::passthrough::Passthrough;
use crate::processors::CompiledProcessor;
use crate::sequence::{SeqId, Sequence};
use crate::stores::MessageStore;
use crate::tasks::CompiledTask;

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
    /// What it requires of callers beyond the API's authentication.
    pub requirement: ferry_api::check::security::Requirement,
    /// The listeners that serve it (`protocol`, a proxy's `transports`).
    pub listeners: ferry_api::check::tls::Listeners,
    /// Counts its requests for `ferry test --coverage` (off otherwise).
    pub coverage: crate::coverage::Point,
}

/// An IntegrationAPI, ready to run.
pub struct CompiledApi {
    /// The API's name (a metrics label).
    pub name: Arc<str>,
    /// Its resources, indexed like the route table's resource indices.
    pub resources: Vec<CompiledResource>,
    /// The API-level fault sequence.
    pub fault_sequence: Option<Sequence>,
    /// Who may call it; `None`: anyone.
    pub authenticator: Option<crate::security::Authenticator>,
    /// Its CORS policy.
    pub cors: Option<crate::transports::http::cors::Cors>,
    /// Only requests over HTTPS with a verified client certificate are served.
    pub client_certificate: bool,
    /// `trace: true`: a span per mediator of its flows when tracing is on.
    pub trace: bool,
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
    /// Templates (sequence templates), indexed by [`TemplateId`].
    pub templates: Vec<crate::mediators::call_template::Template>,
    /// Named endpoints.
    pub endpoints: HashMap<String, Arc<Endpoint>>,
    /// Message stores by name.
    pub stores: HashMap<String, Arc<dyn MessageStore>>,
    /// Data sources by name (and Synapse name).
    pub data_sources: HashMap<String, Arc<crate::data::source::DataSource>>,
    /// Message processors, to be started when this configuration is installed.
    pub processors: Vec<Arc<CompiledProcessor>>,
    /// Scheduled tasks, to be started when this configuration is installed.
    pub tasks: Vec<Arc<CompiledTask>>,
    /// Inbound endpoints, to be started when this configuration is installed.
    pub inbound_endpoints: Vec<Arc<CompiledInbound>>,
    /// Configuration properties.
    pub config: Arc<HashMap<String, String>>,
    /// The LocalEntries' contents as text (XML as written, JSON serialized), by name and
    /// Synapse name: what `get-property('key')` reads when no such property is set.
    pub local_entries: Arc<HashMap<String, String>>,
    /// How many resources went into this configuration.
    pub resource_count: usize,
    /// The resources as loaded, for the management API to list and describe.
    pub catalog: Vec<ferry_api::resources::Resource>,
    /// What the checker found worth knowing (the configuration still runs).
    pub warnings: Vec<Diagnostic>,
}

impl Compiled {
    /// The named sequence with this id.
    pub fn sequence(&self, id: SeqId) -> &Sequence {
        &self.sequences[id.0]
    }

    /// The template with this id.
    pub fn template(&self, id: TemplateId) -> &crate::mediators::call_template::Template {
        &self.templates[id.0]
    }

    /// The id of the named sequence `name`, if there is one.
    pub fn sequence_id(&self, name: &str) -> Option<SeqId> {
        self.sequence_ids.get(name).copied()
    }
}
