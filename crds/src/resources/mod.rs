//! The custom resource kinds of `ferry.dev/v1alpha1`, one module per kind, and [`Resource`],
//! the closed set of them that loading produces.
//!
//! The loader (`bundle`) turns each YAML document into a `serde_json::Value` and calls
//! [`Resource::from_value`]; everything after (validation, compilation, the operator's
//! rendering) works on these typed values.

pub mod common;
pub mod data_service;
pub mod data_source;
pub mod endpoint;
pub mod inbound_endpoint;
pub mod integration_api;
pub mod integration_runtime;
pub mod local_entry;
pub mod message_processor;
pub mod message_store;
pub mod proxy_service;
pub mod scheduled_task;
pub mod security;
pub mod sequence;
pub mod template;
pub mod test_suite;
pub mod transport_security;

pub use common::*;
pub use data_service::*;
pub use data_source::*;
pub use endpoint::*;
pub use inbound_endpoint::*;
pub use integration_api::*;
pub use integration_runtime::*;
pub use local_entry::*;
pub use message_processor::*;
pub use message_store::*;
pub use proxy_service::*;
pub use scheduled_task::*;
pub use security::*;
pub use sequence::*;
pub use template::*;
pub use transport_security::*;

use serde::Serialize;
use serde_json::Value;

/// Every kind, as written in `kind:`.
pub const KINDS: &[&str] = &[
    "IntegrationAPI",
    "ProxyService",
    "Sequence",
    "Endpoint",
    "MessageStore",
    "MessageProcessor",
    "ScheduledTask",
    "LocalEntry",
    "Template",
    "InboundEndpoint",
    "IntegrationRuntime",
    "DataSource",
    "DataService",
];

/// The plural of a kind, as its CRD names it (`sequences`, `localentries`): the resource
/// name of API paths and RBAC rules.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{lower}s"),
    }
}

/// One Ferry resource of any kind.
// Kinds differ in size, but resources are loaded once per (re)load and held in a Vec;
// boxing would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    /// An IntegrationAPI.
    IntegrationApi(IntegrationAPI),
    /// A ProxyService.
    ProxyService(ProxyService),
    /// A Sequence.
    Sequence(Sequence),
    /// An Endpoint.
    Endpoint(Endpoint),
    /// A MessageStore.
    MessageStore(MessageStore),
    /// A MessageProcessor.
    MessageProcessor(MessageProcessor),
    /// A ScheduledTask.
    ScheduledTask(ScheduledTask),
    /// A LocalEntry.
    LocalEntry(LocalEntry),
    /// A Template.
    Template(Template),
    /// An InboundEndpoint.
    InboundEndpoint(InboundEndpoint),
    /// An IntegrationRuntime.
    IntegrationRuntime(IntegrationRuntime),
    /// A DataSource.
    DataSource(DataSource),
    /// A DataService.
    DataService(DataService),
}

/// Why [`Resource::from_value`] failed: the serde error with the field path it occurred at
/// (`spec.resources[0].inSequence[2].call`).
pub type FromValueError = serde_path_to_error::Error<serde_json::Error>;

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, FromValueError> {
    serde_path_to_error::deserialize(value)
}

/// A document whose `kind` is not one of ours: it never deserializes, so the error carries
/// the path `kind` like every other field error.
#[derive(serde::Deserialize)]
struct KindOnly {
    kind: UnknownKind,
}

/// Uninhabited: deserializing it always fails with "unknown variant".
enum UnknownKind {}

impl<'de> serde::Deserialize<'de> for UnknownKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let kind = String::deserialize(deserializer)?;
        Err(serde::de::Error::unknown_variant(&kind, KINDS))
    }
}

impl Resource {
    /// Deserializes a whole document (`apiVersion`, `kind`, `metadata`, `spec`, optional
    /// `status`) as the given kind. The caller has checked `apiVersion` and that `kind` is
    /// one of [`KINDS`]; an unknown kind is reported as a serde error at `kind`.
    pub fn from_value(kind: &str, value: Value) -> Result<Resource, FromValueError> {
        Ok(match kind {
            "IntegrationAPI" => Resource::IntegrationApi(typed(value)?),
            "ProxyService" => Resource::ProxyService(typed(value)?),
            "Sequence" => Resource::Sequence(typed(value)?),
            "Endpoint" => Resource::Endpoint(typed(value)?),
            "MessageStore" => Resource::MessageStore(typed(value)?),
            "MessageProcessor" => Resource::MessageProcessor(typed(value)?),
            "ScheduledTask" => Resource::ScheduledTask(typed(value)?),
            "LocalEntry" => Resource::LocalEntry(typed(value)?),
            "Template" => Resource::Template(typed(value)?),
            "InboundEndpoint" => Resource::InboundEndpoint(typed(value)?),
            "IntegrationRuntime" => Resource::IntegrationRuntime(typed(value)?),
            "DataSource" => Resource::DataSource(typed(value)?),
            "DataService" => Resource::DataService(typed(value)?),
            other => match typed::<KindOnly>(serde_json::json!({ "kind": other })) {
                Err(e) => return Err(e),
                Ok(never) => match never.kind {},
            },
        })
    }

    /// The resource's kind, as written in `kind:`.
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::IntegrationApi(_) => "IntegrationAPI",
            Resource::ProxyService(_) => "ProxyService",
            Resource::Sequence(_) => "Sequence",
            Resource::Endpoint(_) => "Endpoint",
            Resource::MessageStore(_) => "MessageStore",
            Resource::MessageProcessor(_) => "MessageProcessor",
            Resource::ScheduledTask(_) => "ScheduledTask",
            Resource::LocalEntry(_) => "LocalEntry",
            Resource::Template(_) => "Template",
            Resource::InboundEndpoint(_) => "InboundEndpoint",
            Resource::IntegrationRuntime(_) => "IntegrationRuntime",
            Resource::DataSource(_) => "DataSource",
            Resource::DataService(_) => "DataService",
        }
    }

    /// `metadata.name` (empty if absent; the loader rejects such documents first).
    pub fn name(&self) -> &str {
        let meta = match self {
            Resource::IntegrationApi(r) => &r.metadata,
            Resource::ProxyService(r) => &r.metadata,
            Resource::Sequence(r) => &r.metadata,
            Resource::Endpoint(r) => &r.metadata,
            Resource::MessageStore(r) => &r.metadata,
            Resource::MessageProcessor(r) => &r.metadata,
            Resource::ScheduledTask(r) => &r.metadata,
            Resource::LocalEntry(r) => &r.metadata,
            Resource::Template(r) => &r.metadata,
            Resource::InboundEndpoint(r) => &r.metadata,
            Resource::IntegrationRuntime(r) => &r.metadata,
            Resource::DataSource(r) => &r.metadata,
            Resource::DataService(r) => &r.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }

    /// The resource's Synapse / Micro Integrator name (`05_EP_XML`), from the annotation
    /// [`SYNAPSE_NAME_ANNOTATION`]: MI artifact names are often not valid Kubernetes names,
    /// so a migrated resource keeps its Kubernetes name and carries the old one beside it.
    pub fn synapse_name(&self) -> Option<&str> {
        let meta = match self {
            Resource::IntegrationApi(r) => &r.metadata,
            Resource::ProxyService(r) => &r.metadata,
            Resource::Sequence(r) => &r.metadata,
            Resource::Endpoint(r) => &r.metadata,
            Resource::MessageStore(r) => &r.metadata,
            Resource::MessageProcessor(r) => &r.metadata,
            Resource::ScheduledTask(r) => &r.metadata,
            Resource::LocalEntry(r) => &r.metadata,
            Resource::Template(r) => &r.metadata,
            Resource::DataSource(r) => &r.metadata,
            Resource::DataService(r) => &r.metadata,
            Resource::InboundEndpoint(r) => &r.metadata,
            Resource::IntegrationRuntime(_) => return None,
        };
        meta.annotations
            .as_ref()?
            .get(SYNAPSE_NAME_ANNOTATION)
            .map(String::as_str)
    }

    /// The name logs and metrics show: the Synapse name when the resource has one, so a
    /// migrated configuration reads as it did, else `metadata.name`.
    pub fn display_name(&self) -> &str {
        self.synapse_name().unwrap_or_else(|| self.name())
    }

    /// The runtime group the resource belongs to: `spec.runtime` for artifacts, the
    /// resource's own name for an IntegrationRuntime (it *is* the group).
    pub fn runtime(&self) -> &str {
        match self {
            Resource::IntegrationApi(r) => &r.spec.runtime,
            Resource::ProxyService(r) => &r.spec.runtime,
            Resource::Sequence(r) => &r.spec.runtime,
            Resource::Endpoint(r) => &r.spec.runtime,
            Resource::MessageStore(r) => &r.spec.runtime,
            Resource::MessageProcessor(r) => &r.spec.runtime,
            Resource::ScheduledTask(r) => &r.spec.runtime,
            Resource::LocalEntry(r) => &r.spec.runtime,
            Resource::Template(r) => &r.spec.runtime,
            Resource::DataSource(r) => &r.spec.runtime,
            Resource::DataService(r) => &r.spec.runtime,
            Resource::InboundEndpoint(r) => &r.spec.runtime,
            Resource::IntegrationRuntime(_) => self.name(),
        }
    }
}

/// The annotation holding a resource's Synapse name; references may use either name.
pub const SYNAPSE_NAME_ANNOTATION: &str = "ferry.dev/synapse-name";

#[cfg(test)]
mod tests;
