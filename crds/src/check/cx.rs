//! The context every check of one resource works in: where the resource came from (to
//! locate what it reports), the names the bundle defines (to resolve references), the
//! configuration keys that will be set, and the diagnostics found so far.
//!
//! Checks parse through it (`expression`, `template`, `regex`), so each parse error is
//! reported once, located, and a parsed value is what the check keeps.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::bundle::{Bundle, Loaded};
use crate::diagnostic::Diagnostic;
use crate::expr::{Expression, Template};
use crate::mediator::Namespaces;
use crate::resources::{DEFAULT_RUNTIME, Resource, StoreType};

/// The configuration keys (`${config.KEY}`) a runtime will have. A resource that reads a
/// key nobody sets is refused when it loads, rather than reading an empty value on every
/// message (an endpoint URI `http://127.0.0.1:${config.port}/` would otherwise call port 80).
#[derive(Debug, Clone)]
pub struct ConfigKeys(BTreeSet<String>);

impl ConfigKeys {
    /// Keys every runtime sets itself: the ports it actually listens on.
    pub const BUILT_IN: [&'static str; 2] = ["http.port", "admin.port"];

    /// The built-in keys only: what a runtime in Kubernetes has.
    pub fn built_in() -> Self {
        Self::with(std::iter::empty::<String>())
    }

    /// The built-in keys and `keys` (`ferry run --set KEY=VALUE`).
    pub fn with<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> Self {
        let mut set: BTreeSet<String> = Self::BUILT_IN.iter().map(|k| k.to_string()).collect();
        set.extend(keys.into_iter().map(Into::into));
        Self(set)
    }

    /// Whether `key` will be set.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }
}

impl Default for ConfigKeys {
    fn default() -> Self {
        Self::built_in()
    }
}

/// Names of the bundle's resources, by kind and runtime group: references resolve within
/// the group that hosts the resource.
pub(crate) struct Index<'a> {
    names: HashMap<(&'static str, &'a str), HashSet<&'a str>>,
    /// `(runtime group, name)` of the memory stores.
    memory_stores: HashSet<(&'a str, &'a str)>,
    unreadable: &'a [(String, String)],
    /// LocalEntries by `(runtime group, name)`, under both names.
    entries: HashMap<(&'a str, &'a str), &'a Loaded>,
    /// Templates by `(runtime group, name)`, under both names.
    templates: HashMap<(&'a str, &'a str), &'a crate::resources::TemplateSpec>,
    files: &'a std::collections::BTreeMap<String, Result<String, String>>,
}

impl<'a> Index<'a> {
    pub(crate) fn new(bundle: &'a Bundle) -> Self {
        let mut names: HashMap<(&'static str, &'a str), HashSet<&'a str>> = HashMap::new();
        for l in &bundle.resources {
            let known = names
                .entry((l.resource.kind(), l.resource.runtime()))
                .or_default();
            known.insert(l.resource.name());
            // References may use the Synapse name too; the runtime knows both.
            known.extend(l.resource.synapse_name());
        }
        let memory_stores = bundle
            .resources
            .iter()
            .filter(|l| {
                matches!(&l.resource, Resource::MessageStore(s) if s.spec.type_ == StoreType::Memory)
            })
            .map(|l| (l.resource.runtime(), l.resource.name()))
            .collect();
        let mut entries = HashMap::new();
        for l in &bundle.resources {
            if matches!(l.resource, Resource::LocalEntry(_)) {
                let runtime = l.resource.runtime();
                for name in std::iter::once(l.resource.name()).chain(l.resource.synapse_name()) {
                    entries.entry((runtime, name)).or_insert(l);
                }
            }
        }
        let mut templates = HashMap::new();
        for l in &bundle.resources {
            if let Resource::Template(t) = &l.resource {
                let runtime = l.resource.runtime();
                for name in std::iter::once(l.resource.name()).chain(l.resource.synapse_name()) {
                    templates.entry((runtime, name)).or_insert(&t.spec);
                }
            }
        }
        Index {
            names,
            templates,
            memory_stores,
            unreadable: &bundle.unreadable,
            entries,
            files: &bundle.files,
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
pub struct Cx<'a> {
    loaded: &'a Loaded,
    resource: String,
    index: &'a Index<'a>,
    config: &'a ConfigKeys,
    diagnostics: Vec<Diagnostic>,
    unreadable_refs: usize,
    /// The namespace prefixes in scope, innermost declaration last.
    namespaces: Vec<(String, String)>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(loaded: &'a Loaded, index: &'a Index<'a>, config: &'a ConfigKeys) -> Self {
        Self {
            loaded,
            resource: loaded.id(),
            index,
            config,
            diagnostics: Vec::new(),
            unreadable_refs: 0,
            namespaces: Vec::new(),
        }
    }

    /// The resource being checked.
    pub fn loaded(&self) -> &'a Loaded {
        self.loaded
    }

    /// `Kind/name` of the resource being checked.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// How many errors this resource has so far.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// How many references so far named a document that failed to load: they do not
    /// resolve, and were reported by the loader, not here.
    pub fn unreadable_refs(&self) -> usize {
        self.unreadable_refs
    }

    /// What was found, handed back when the resource is done.
    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// Records an error about `field`.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let d = self
            .loaded
            .origin
            .diagnostic(&self.resource, field, message);
        self.diagnostics.push(d);
    }

    /// Records a warning about `field`: worth knowing, the configuration still loads.
    pub fn warning(&mut self, field: &str, message: impl Into<String>) {
        let mut d = self
            .loaded
            .origin
            .diagnostic(&self.resource, field, message);
        d.severity = crate::diagnostic::Severity::Warning;
        self.diagnostics.push(d);
    }

    /// The namespace prefixes XPath may use here, as `(prefix, uri)`, innermost last.
    pub fn namespaces(&self) -> &[(String, String)] {
        &self.namespaces
    }

    /// Runs `check` with the prefixes declared at `field` (`namespaces` of a resource or a
    /// mediator) in scope, as XML scopes `xmlns:` declarations: a prefix declared here
    /// hides the same prefix declared further out, for this element and what it nests.
    pub fn with_namespaces<R>(
        &mut self,
        field: &str,
        declared: &Namespaces,
        check: impl FnOnce(&mut Self) -> R,
    ) -> R {
        if declared.is_empty() {
            return check(self);
        }
        let outer = self.namespaces.clone();
        for (prefix, uri) in declared {
            if let Err(e) = check_declaration(prefix, uri) {
                self.error(&format!("{field}.namespaces.{prefix}"), e);
                continue;
            }
            self.namespaces.retain(|(p, _)| p != prefix);
            self.namespaces.push((prefix.clone(), uri.clone()));
        }
        let result = check(self);
        self.namespaces = outer;
        result
    }

    /// Parses an expression; a syntax error or an unset configuration key is a located
    /// error.
    pub fn expression(&mut self, field: &str, src: &str) -> Option<Expression> {
        match Expression::parse_with_namespaces(src, &self.namespaces) {
            Ok(e) => self.config_set(field, &e).then_some(e),
            Err(e) => {
                self.error(field, format!("invalid expression {src:?}: {e}"));
                None
            }
        }
    }

    /// Parses a template with inline `${...}` parts (same errors as [`Cx::expression`]).
    pub fn template(&mut self, field: &str, src: &str) -> Option<Template> {
        match Template::parse_with_namespaces(src, &self.namespaces) {
            Ok(t) => self.template_config_set(field, &t).then_some(t),
            Err(e) => {
                self.error(field, format!("invalid template: {e}"));
                None
            }
        }
    }

    /// Whether every configuration key a template's expressions read will be set (each
    /// unset one is reported).
    pub fn template_config_set(&mut self, field: &str, template: &Template) -> bool {
        let mut ok = true;
        for e in template.expressions() {
            ok &= self.config_set(field, e);
        }
        ok
    }

    fn config_set(&mut self, field: &str, e: &Expression) -> bool {
        let mut ok = true;
        for key in e.config_keys() {
            if !self.config.contains(key) {
                self.error(
                    field,
                    format!(
                        "configuration key {key:?} is not set (give it with `--set {key}=VALUE`)"
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    /// Builds a regex; a bad one is a located error.
    pub fn regex(&mut self, field: &str, src: &str) -> Option<regex::Regex> {
        match regex::Regex::new(src) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(field, format!("invalid regex {src:?}: {e}"));
                None
            }
        }
    }

    /// A reference by name to another resource of `kind` in the same runtime group; an
    /// undefined one is a located error. Returns whether it resolves.
    pub fn reference(&mut self, field: &str, kind: &'static str, name: &str) -> bool {
        let runtime = self.loaded.resource.runtime();
        if self.index.has(kind, runtime, name) {
            return true;
        }
        // A document that failed to load was reported already; the reference is not
        // reported a second time, but it does not resolve either.
        if self.index.unreadable(kind, name) {
            self.unreadable_refs += 1;
        } else {
            let group = if runtime == DEFAULT_RUNTIME {
                String::new()
            } else {
                format!(" in runtime group \"{runtime}\"")
            };
            let what = match kind {
                "MessageStore" => "message store",
                "Endpoint" => "endpoint",
                "Sequence" => "sequence",
                "LocalEntry" => "local entry",
                "Template" => "template",
                "DataSource" => "data source",
                other => other,
            };
            self.error(field, format!("{what} \"{name}\" is not defined{group}"));
        }
        false
    }

    /// The content of the LocalEntry `key` (its name or Synapse name) of this resource's
    /// runtime group. An undefined key is a located error; an entry that has problems of
    /// its own (reported at the entry) does not resolve, and is not reported again here.
    pub fn local_entry(&mut self, field: &str, key: &str) -> Option<super::local_entry::Content> {
        let runtime = self.loaded.resource.runtime();
        let Some(entry) = self.index.entries.get(&(runtime, key)).copied() else {
            self.reference(field, "LocalEntry", key);
            return None;
        };
        match super::local_entry::content(entry, self.index.files) {
            Ok(content) => Some(content),
            Err(_) => {
                self.unreadable_refs += 1;
                None
            }
        }
    }

    /// The spec of the Template `name` (its name or Synapse name) of this resource's
    /// runtime group; an undefined one is a located error.
    pub fn template_spec(
        &mut self,
        field: &str,
        name: &str,
    ) -> Option<&'a crate::resources::TemplateSpec> {
        let runtime = self.loaded.resource.runtime();
        let found = self.index.templates.get(&(runtime, name)).copied();
        if found.is_none() {
            self.reference(field, "Template", name);
        }
        found
    }

    /// The content of this resource, when it is a LocalEntry.
    pub(crate) fn own_entry_content(
        &self,
    ) -> Result<super::local_entry::Content, (String, String)> {
        super::local_entry::content(self.loaded, self.index.files)
    }

    /// Whether `name` is a memory MessageStore of this resource's runtime group.
    pub fn is_memory_store(&self, name: &str) -> bool {
        let runtime = self.loaded.resource.runtime();
        self.index.memory_stores.contains(&(runtime, name))
    }

    /// A reference to a named Sequence.
    pub fn sequence_ref(&mut self, field: &str, name: &str) -> Option<String> {
        self.reference(field, "Sequence", name)
            .then(|| name.to_string())
    }

    /// Exactly one of `value` and `expression`, else a located error.
    pub fn value_source(
        &mut self,
        field: &str,
        value: Option<&str>,
        expression: Option<&str>,
    ) -> Option<super::value::ValueSource> {
        use super::value::ValueSource;
        match (value, expression) {
            (Some(v), None) => Some(ValueSource::Literal(v.to_string())),
            (None, Some(e)) => {
                let expr = self.expression(&format!("{field}.expression"), e)?;
                Some(ValueSource::Expr(expr))
            }
            (Some(_), Some(_)) => {
                self.error(field, "set either value or expression, not both");
                None
            }
            (None, None) => {
                self.error(field, "value or expression is required");
                None
            }
        }
    }
}

/// A namespace declaration XPath can use: the prefix an XML name (NCName), not one XML
/// reserves, bound to a non-empty URI (XML 1.0 namespaces cannot undeclare a prefix).
fn check_declaration(prefix: &str, uri: &str) -> Result<(), String> {
    let mut chars = prefix.chars();
    let starts = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    if !starts || !chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(format!(
            "{prefix:?} is not a namespace prefix: a letter or '_', then letters, digits, '_', '-' or '.'"
        ));
    }
    if prefix.to_ascii_lowercase().starts_with("xml") {
        return Err(format!("the prefix {prefix:?} is reserved by XML"));
    }
    if crate::expr::xpath::VARIABLE_PREFIXES.contains(&prefix) {
        return Err(format!(
            "the prefix {prefix:?} is Synapse's variable prefix (`${prefix}:name`); choose another"
        ));
    }
    if uri.trim().is_empty() {
        return Err(format!("the namespace URI of {prefix:?} is empty"));
    }
    Ok(())
}
