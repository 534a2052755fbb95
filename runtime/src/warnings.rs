//! Warnings about a configuration that is valid and runs, but may not do what its author
//! expects. Computed from the loaded [`Bundle`] beside validation; [`crate::reload::load`]
//! logs them each time a configuration loads (at start and on every reload).

use ferry_api::bundle::Bundle;
use ferry_api::diagnostic::{Diagnostic, Severity};
use ferry_api::resources::{Resource, StoreType};

/// One warning per message processor that reads a `memory` store. Store-and-forward exists
/// so an accepted message outlives a dead backend, but a memory store's messages die with
/// the process (a kill, an OOM, a pod eviction, a deploy): the client was told "accepted"
/// for messages that may never be delivered. Easy to get by copying a test configuration.
pub fn memory_stores_read_by_processors(bundle: &Bundle) -> Vec<Diagnostic> {
    let memory_store = |name: &str| {
        bundle.resources.iter().any(|loaded| {
            matches!(&loaded.resource, Resource::MessageStore(store)
                if loaded.resource.name() == name && store.spec.type_ == StoreType::Memory)
        })
    };
    bundle
        .resources
        .iter()
        .filter_map(|loaded| match &loaded.resource {
            Resource::MessageProcessor(p) if memory_store(&p.spec.message_store) => {
                let message = format!(
                    "reads the memory store {:?}: its messages are lost when the process stops \
                     or is killed; use a sqlite (the default), postgres or rabbitmq store to \
                     keep them",
                    p.spec.message_store
                );
                Some(Diagnostic {
                    severity: Severity::Warning,
                    ..loaded.error("spec.messageStore", message)
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ferry_api::bundle::{self, Source};

    use super::*;

    fn bundle(text: &str) -> Bundle {
        let (bundle, diagnostics) = bundle::load(&[Source {
            name: "config.yaml".into(),
            text: text.into(),
        }]);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        bundle
    }

    /// A store of `store_type` (none: the default) and a processor reading it.
    fn store_and_processor(store_type: Option<&str>) -> String {
        let store_type = store_type.map_or_else(String::new, |t| format!("type: {t}"));
        format!(
            "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {{name: orders}}
spec: {{{store_type}}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata: {{name: deliver}}
spec:
  type: forwarding
  messageStore: orders
  targetEndpoint: backend
"
        )
    }

    #[test]
    fn a_processor_reading_a_memory_store_is_warned_about_where_it_names_the_store() {
        let warnings =
            memory_stores_read_by_processors(&bundle(&store_and_processor(Some("memory"))));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert_eq!(w.severity, Severity::Warning);
        assert_eq!(w.resource.as_deref(), Some("MessageProcessor/deliver"));
        assert_eq!(w.field.as_deref(), Some("spec.messageStore"));
        assert_eq!(w.file.as_deref(), Some("config.yaml"));
        assert_eq!(w.line, Some(11), "the line of `messageStore: orders`");
        assert!(w.message.contains("\"orders\""), "{}", w.message);
        assert!(w.message.contains("lost"), "{}", w.message);
    }

    #[test]
    fn durable_stores_and_memory_stores_no_processor_reads_are_not_warned_about() {
        for store_type in [None, Some("sqlite"), Some("postgres"), Some("rabbitmq")] {
            let text = store_and_processor(store_type);
            assert_eq!(
                memory_stores_read_by_processors(&bundle(&text)),
                vec![],
                "{store_type:?}"
            );
        }
        let unread = "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: scratch}
spec: {type: memory}
";
        assert_eq!(memory_stores_read_by_processors(&bundle(unread)), vec![]);
    }
}
