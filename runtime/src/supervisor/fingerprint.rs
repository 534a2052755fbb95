//! What a processor or task was built from, so a reload can tell whether it changed. Compile
//! computes a [`Fingerprint`] for each MessageProcessor and ScheduledTask from the bundle;
//! the [supervisor](super) keeps a unit running through a reload when its fingerprint is
//! equal.
//!
//! A fingerprint is the unit's own spec plus the spec of every resource it can reach: the
//! Sequences, Templates, Endpoints, MessageStores and LocalEntries it names, what those name, and so on. A running
//! unit keeps the configuration it was built in (its endpoints, stores and sequences), so
//! anything it could use must be in it, or a kept unit would go on with a stale definition.
//! Names are found without knowing any spec's layout: every string anywhere in a spec that
//! is the name of a Sequence, Endpoint or MessageStore counts as a reference. That catches
//! every static reference, fields added later included, and at worst counts a string that
//! only looks like a name (a restart that was not needed). Names computed per message
//! cannot be followed, so a Sequence with a `sequence` mediator's `keyExpression` reaches
//! every Sequence, and one with a `store` mediator's `{${expr}}` every MessageStore.
//! IntegrationAPIs are never reached: a task injecting into an API goes through the
//! dispatcher, which always serves the installed configuration.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ferry_api::bundle::{Bundle, Loaded};
use ferry_api::mediator::Mediator;
use ferry_api::resources::Resource;
use ferry_api::resources::message_processor::ProcessorType;
use serde_json::Value;

/// The specs a unit was built from, by `Kind/name`. Equal fingerprints: the same unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint(Arc<BTreeMap<String, Value>>);

impl Fingerprint {
    /// The `Kind/name` of every resource in it, the unit's own included.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// A bundle indexed for fingerprints.
pub struct Fingerprints<'a> {
    /// The resources a spec can name (Sequences, Endpoints, MessageStores), by name.
    named: HashMap<&'a str, Vec<&'a Loaded>>,
    sequences: Vec<&'a Loaded>,
    stores: Vec<&'a Loaded>,
    endpoints: Vec<&'a Loaded>,
    /// The files LocalEntries read: an entry's content is in its fingerprint, not only
    /// the path that names it.
    files: &'a BTreeMap<String, Result<String, String>>,
}

impl<'a> Fingerprints<'a> {
    /// Indexes `bundle`.
    pub fn new(bundle: &'a Bundle) -> Self {
        let mut named: HashMap<&str, Vec<&Loaded>> = HashMap::new();
        let (mut sequences, mut stores, mut endpoints) = (Vec::new(), Vec::new(), Vec::new());
        // LocalEntries and Templates are reached by name like the others, never all at once.
        let (mut entries, mut templates) = (Vec::new(), Vec::new());
        for loaded in &bundle.resources {
            let list = match &loaded.resource {
                Resource::Sequence(_) => &mut sequences,
                Resource::MessageStore(_) => &mut stores,
                Resource::LocalEntry(_) => &mut entries,
                Resource::Template(_) => &mut templates,
                // A task or processor whose flow runs dbLookup/dbReport names its source.
                Resource::DataSource(_) => &mut entries,
                Resource::Endpoint(_) => {
                    endpoints.push(loaded);
                    named
                        .entry(loaded.resource.name())
                        .or_default()
                        .push(loaded);
                    if let Some(alias) = loaded.resource.synapse_name() {
                        named.entry(alias).or_default().push(loaded);
                    }
                    continue;
                }
                Resource::IntegrationApi(_)
                | Resource::ProxyService(_)
                | Resource::MessageProcessor(_)
                | Resource::ScheduledTask(_)
                | Resource::DataService(_)
                | Resource::InboundEndpoint(_)
                | Resource::IntegrationRuntime(_) => continue,
            };
            list.push(loaded);
            named
                .entry(loaded.resource.name())
                .or_default()
                .push(loaded);
            if let Some(alias) = loaded.resource.synapse_name() {
                named.entry(alias).or_default().push(loaded);
            }
        }
        Self {
            named,
            sequences,
            stores,
            endpoints,
            files: &bundle.files,
        }
    }

    /// The fingerprint of `unit` (a resource of the indexed bundle).
    pub fn of(&self, unit: &'a Loaded) -> Fingerprint {
        let mut specs = BTreeMap::new();
        let mut todo = vec![unit];
        while let Some(loaded) = todo.pop() {
            let id = loaded.id();
            if specs.contains_key(&id) {
                continue;
            }
            let spec = self.spec(loaded);
            each_string(&spec, &mut |s| {
                if let Some(found) = self.named.get(s) {
                    todo.extend(found);
                }
            });
            // A forwarding processor delivers where each message's `target.endpoint` says:
            // any Endpoint of the runtime.
            if let Resource::MessageProcessor(p) = &loaded.resource
                && p.spec.type_ == ProcessorType::Forwarding
            {
                todo.extend(&self.endpoints);
            }
            let mediators = match &loaded.resource {
                Resource::Sequence(seq) => Some(&seq.spec.mediators),
                Resource::Template(t) => Some(&t.spec.mediators),
                _ => None,
            };
            if let Some(mediators) = mediators {
                let dynamic = dynamic_references(mediators);
                if dynamic.sequences {
                    todo.extend(&self.sequences);
                }
                if dynamic.stores {
                    todo.extend(&self.stores);
                }
            }
            specs.insert(id, spec);
        }
        Fingerprint(Arc::new(specs))
    }
}

impl Fingerprints<'_> {
    /// A resource's spec as JSON; for a LocalEntry read from a file, with the file's
    /// content (or read error) beside it, so an edited file changes the fingerprint.
    fn spec(&self, loaded: &Loaded) -> Value {
        let mut spec = match serde_json::to_value(&loaded.resource) {
            Ok(mut v) => v.get_mut("spec").map(Value::take).unwrap_or(Value::Null),
            // Specs are plain data and always serialize; were one not to, its debug form
            // still tells one spec from another.
            Err(_) => Value::String(format!("{:?}", loaded.resource)),
        };
        if let Resource::LocalEntry(e) = &loaded.resource
            && let Some(file) = &e.spec.file
            && let Value::Object(fields) = &mut spec
        {
            let path = ferry_api::bundle::file_path(&loaded.origin.file, &file.path);
            let content = match self.files.get(&path) {
                Some(Ok(text)) => text.clone(),
                Some(Err(e)) => format!("unreadable: {e}"),
                None => String::new(),
            };
            fields.insert("fileContent".into(), Value::String(content));
        }
        spec
    }
}

fn each_string(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| each_string(v, f)),
        Value::Object(map) => map.values().for_each(|v| each_string(v, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Which kinds a mediator list names per message.
#[derive(Default)]
struct Dynamic {
    sequences: bool,
    stores: bool,
}

fn dynamic_references(mediators: &[Mediator]) -> Dynamic {
    let mut found = Dynamic::default();
    let mut todo = vec![mediators];
    while let Some(list) = todo.pop() {
        for m in list {
            if let Mediator::Sequence(s) = m {
                found.sequences |= s.key_expression.is_some();
            }
            if let Mediator::Store(s) = m {
                found.stores |= s.message_store.trim_start().starts_with('{');
            }
            todo.extend(m.children().into_iter().map(|(_, list)| list));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(yaml: &str) -> Bundle {
        let (bundle, d) = ferry_api::bundle::load(&[ferry_api::bundle::Source {
            name: "test.yaml".into(),
            text: yaml.into(),
        }]);
        assert!(d.is_empty(), "{d:?}");
        bundle
    }

    fn fingerprint(yaml: &str, id: &str) -> Fingerprint {
        let b = bundle(yaml);
        let unit = b.resources.iter().find(|l| l.id() == id).unwrap();
        Fingerprints::new(&b).of(unit)
    }

    fn doc(kind: &str, name: &str, spec: &str) -> String {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}\n---\n"
        )
    }

    /// `send` reads `held` (failing over to `spill`) and posts to the group `both`, whose
    /// members are `a` and `b`; its fault sequence `oops` stores into `dead`. An API, an
    /// unrelated store, endpoint and sequence, and a task stand beside it.
    fn config(api_answer: &str, b_port: u16, unrelated_port: u16) -> String {
        [
            doc(
                "IntegrationAPI",
                "hello",
                &format!("{{context: /hello, resources: [{{inSequence: [{{payloadFactory: {{mediaType: text, format: {api_answer}}}}}, {{respond: {{}}}}]}}]}}"),
            ),
            doc("MessageStore", "held", "{type: memory, failoverStore: spill}"),
            doc("MessageStore", "spill", "{type: memory}"),
            doc("MessageStore", "dead", "{type: memory}"),
            doc("MessageStore", "other", "{type: memory}"),
            doc("Endpoint", "a", "{http: {uriTemplate: 'http://127.0.0.1:1/a'}}"),
            doc("Endpoint", "b", &format!("{{http: {{uriTemplate: 'http://127.0.0.1:{b_port}/b'}}}}")),
            doc("Endpoint", "both", "{failover: {endpoints: [{key: a}, {key: b}]}}"),
            doc("Endpoint", "unrelated", &format!("{{http: {{uriTemplate: 'http://127.0.0.1:{unrelated_port}/u'}}}}")),
            doc("Sequence", "oops", "{mediators: [{store: {messageStore: dead}}]}"),
            doc("Sequence", "tick", "{mediators: [{log: {message: tick}}]}"),
            doc(
                "MessageProcessor",
                "send",
                "{type: forwarding, messageStore: held, targetEndpoint: both, faultSequence: oops}",
            ),
            doc(
                "ScheduledTask",
                "ticker",
                "{trigger: {interval: 1000}, message: {payload: x}, inject: {sequence: tick}}",
            ),
        ]
        .concat()
    }

    #[test]
    fn a_processor_reaches_its_store_endpoints_and_sequences_transitively() {
        let f = fingerprint(&config("one", 2, 3), "MessageProcessor/send");
        let reached: Vec<&str> = f.resources().collect();
        assert_eq!(
            reached,
            [
                "Endpoint/a",
                "Endpoint/b",
                "Endpoint/both",
                // A stored message may name any endpoint in `target.endpoint`.
                "Endpoint/unrelated",
                "MessageProcessor/send",
                "MessageStore/dead",
                "MessageStore/held",
                "MessageStore/spill",
                "Sequence/oops",
            ]
        );
    }

    #[test]
    fn an_edit_outside_what_a_unit_reaches_leaves_its_fingerprint_equal() {
        let before = fingerprint(&config("one", 2, 3), "ScheduledTask/ticker");
        assert_eq!(
            before,
            fingerprint(&config("two", 2, 4), "ScheduledTask/ticker")
        );
        let before = fingerprint(&config("one", 2, 3), "MessageProcessor/send");
        assert_eq!(
            before,
            fingerprint(&config("two", 2, 3), "MessageProcessor/send")
        );
    }

    #[test]
    fn a_forwarding_processor_reaches_every_endpoint_a_message_may_name() {
        let before = fingerprint(&config("one", 2, 3), "MessageProcessor/send");
        assert_ne!(
            before,
            fingerprint(&config("one", 2, 4), "MessageProcessor/send")
        );
    }

    #[test]
    fn an_edit_to_a_resource_a_unit_reaches_changes_its_fingerprint() {
        let before = fingerprint(&config("one", 2, 3), "MessageProcessor/send");
        // `b` is reached only through the group `both`.
        assert_ne!(
            before,
            fingerprint(&config("one", 5, 3), "MessageProcessor/send")
        );
        let failover_store = config("one", 2, 3).replace(
            "name: spill}\nspec: {type: memory}",
            "name: spill}\nspec: {type: memory, memory: {capacity: 5}}",
        );
        assert_ne!(
            before,
            fingerprint(&failover_store, "MessageProcessor/send")
        );
        let own =
            config("one", 2, 3).replace("faultSequence: oops", "faultSequence: oops, interval: 5");
        assert_ne!(before, fingerprint(&own, "MessageProcessor/send"));
    }

    #[test]
    fn a_sequence_named_per_message_reaches_every_sequence() {
        let yaml = config("one", 2, 3).replace(
            "{mediators: [{log: {message: tick}}]}",
            "{mediators: [{filter: {source: '1', regex: '1', then: [{sequence: {keyExpression: \"'oops'\"}}]}}]}",
        );
        let f = fingerprint(&yaml, "ScheduledTask/ticker");
        let reached: Vec<&str> = f.resources().collect();
        assert!(reached.contains(&"Sequence/oops"), "{reached:?}");
        assert!(reached.contains(&"MessageStore/dead"), "{reached:?}");
        assert!(!reached.contains(&"MessageStore/other"), "{reached:?}");

        let yaml = config("one", 2, 3).replace(
            "{mediators: [{log: {message: tick}}]}",
            "{mediators: [{store: {messageStore: '{${vars.where}}'}}]}",
        );
        let f = fingerprint(&yaml, "ScheduledTask/ticker");
        let reached: Vec<&str> = f.resources().collect();
        assert!(reached.contains(&"MessageStore/other"), "{reached:?}");
    }

    #[test]
    fn a_unit_reaches_the_local_entries_its_sequences_read_by_either_name() {
        let yaml = |format: &str, other: &str| {
            [
                doc(
                    "ScheduledTask",
                    "t",
                    "{trigger: {interval: 1000}, inject: {sequence: s}}",
                ),
                doc(
                    "Sequence",
                    "s",
                    "{mediators: [{payloadFactory: {formatKey: Fmt, mediaType: text}}, {validate: {schemas: [schema], onFail: []}}]}",
                ),
                format!(
                    "apiVersion: ferry.dev/v1alpha1\nkind: LocalEntry\nmetadata: {{name: fmt, annotations: {{ferry.dev/synapse-name: Fmt}}}}\nspec: {{text: {format}}}\n---\n"
                ),
                doc("LocalEntry", "schema", "{json: {type: object}}"),
                doc("LocalEntry", "other", &format!("{{text: {other}}}")),
            ]
            .concat()
        };
        let f = fingerprint(&yaml("a", "x"), "ScheduledTask/t");
        let reached: Vec<&str> = f.resources().collect();
        assert_eq!(
            reached,
            [
                "LocalEntry/fmt",
                "LocalEntry/schema",
                "ScheduledTask/t",
                "Sequence/s"
            ]
        );
        assert_ne!(f, fingerprint(&yaml("b", "x"), "ScheduledTask/t"));
        assert_eq!(f, fingerprint(&yaml("a", "y"), "ScheduledTask/t"));
    }

    #[test]
    fn a_unit_reaches_the_templates_its_sequences_call_and_what_they_call() {
        let yaml = |text: &str| {
            [
                doc(
                    "ScheduledTask",
                    "t",
                    "{trigger: {interval: 1000}, inject: {sequence: s}}",
                ),
                doc(
                    "Sequence",
                    "s",
                    "{mediators: [{callTemplate: {target: greet}}]}",
                ),
                doc(
                    "Template",
                    "greet",
                    &format!("{{mediators: [{{log: {{message: {text}}}}}, {{sequence: {{key: inner}}}}]}}"),
                ),
                doc("Sequence", "inner", "{mediators: [{log: {}}]}"),
            ]
            .concat()
        };
        let f = fingerprint(&yaml("a"), "ScheduledTask/t");
        let reached: Vec<&str> = f.resources().collect();
        assert_eq!(
            reached,
            [
                "ScheduledTask/t",
                "Sequence/inner",
                "Sequence/s",
                "Template/greet"
            ]
        );
        assert_ne!(f, fingerprint(&yaml("b"), "ScheduledTask/t"));
    }

    #[test]
    fn the_content_of_an_entry_file_is_in_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = [
            doc(
                "ScheduledTask",
                "t",
                "{trigger: {interval: 1000}, inject: {sequence: s}}",
            ),
            doc(
                "Sequence",
                "s",
                "{mediators: [{payloadFactory: {formatKey: fmt, mediaType: text}}]}",
            ),
            doc("LocalEntry", "fmt", "{file: {path: fmt.txt}}"),
        ]
        .concat();
        std::fs::write(dir.path().join("c.yaml"), yaml).unwrap();
        let load = |content: &str| {
            std::fs::write(dir.path().join("fmt.txt"), content).unwrap();
            let (b, d) = ferry_api::bundle::load_paths(&[dir.path().to_path_buf()]);
            assert!(d.is_empty(), "{d:?}");
            b
        };
        let (a, b) = (load("one"), load("two"));
        let of = |b: &Bundle| {
            let unit = b
                .resources
                .iter()
                .find(|l| l.id() == "ScheduledTask/t")
                .unwrap();
            Fingerprints::new(b).of(unit)
        };
        assert_ne!(of(&a), of(&b));
    }
}
