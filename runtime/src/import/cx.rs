//! The conversion context of one Synapse file: where it came from, the names of every
//! imported artifact (for references), the element path being converted, the namespace
//! prefixes its expressions use, and the report lines it has written so far.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::dom::Element;
use super::names::{Family, Names};
use super::report::{Entry, Status};

/// The Synapse configuration namespace; never needed by a Ferry expression.
pub const SYNAPSE_NS: &str = "http://ws.apache.org/ns/synapse";

/// The state of converting one source file.
pub struct Cx<'a> {
    /// The source's display name (`apis/Orders.xml`, `app.car!/Orders_1.0.0/Orders.xml`).
    pub file: &'a str,
    /// The source text (inline XML is copied from it).
    pub text: &'a str,
    /// The Kubernetes names of everything imported.
    pub names: &'a Names,
    /// Report lines written while converting.
    pub entries: Vec<Entry>,
    /// Namespace prefixes declared in the file, for the resource's `namespaces`.
    pub namespaces: BTreeMap<String, String>,
    /// The Kubernetes name of the resource being converted (names its secrets' variables).
    pub artifact: String,
    /// The local entries of the import by Synapse key, for what a mapper must read rather
    /// than reference (a throttle's policy).
    pub local_entries: &'a Elements,
    /// The endpoint templates of the import by name: Ferry has none, so each use is
    /// expanded.
    pub endpoint_templates: &'a Elements,
    path: Vec<String>,
}

/// Artifact elements of an import by Synapse name.
pub type Elements = BTreeMap<String, Element>;

static NONE: Elements = BTreeMap::new();

impl<'a> Cx<'a> {
    /// A context for one source file.
    pub fn new(file: &'a str, text: &'a str, names: &'a Names) -> Self {
        Self {
            file,
            text,
            names,
            entries: Vec::new(),
            namespaces: BTreeMap::new(),
            artifact: String::new(),
            local_entries: &NONE,
            endpoint_templates: &NONE,
            path: Vec::new(),
        }
    }

    /// The same context, reading local entries and endpoint templates from these.
    pub fn with_lookups(
        mut self,
        local_entries: &'a Elements,
        endpoint_templates: &'a Elements,
    ) -> Self {
        self.local_entries = local_entries;
        self.endpoint_templates = endpoint_templates;
        self
    }

    /// Runs `f` one step deeper in the element path.
    pub fn within<T>(&mut self, segment: impl Into<String>, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(segment.into());
        let out = f(self);
        self.path.pop();
        out
    }

    /// The current element path.
    pub fn path(&self) -> String {
        self.path.join("/")
    }

    fn entry(&mut self, status: Status, line: u32, message: String) {
        self.entries.push(Entry {
            status,
            file: self.file.to_string(),
            line,
            path: self.path(),
            message,
        });
    }

    /// Reports a change made on the way, with its reason.
    pub fn adjusted(&mut self, el: &Element, message: impl Into<String>) {
        self.entry(Status::Adjusted, el.line, message.into());
    }

    /// Reports something left out.
    pub fn not_imported(&mut self, el: &Element, message: impl Into<String>) {
        self.entry(Status::NotImported, el.line, message.into());
    }

    /// Reports a mapped artifact.
    pub fn mapped(&mut self, el: &Element, message: impl Into<String>) {
        self.entry(Status::Mapped, el.line, message.into());
    }

    /// Reports every attribute of `el` not in `known` (`description` is always known: it is
    /// documentation, kept in the source) and records its namespace prefixes.
    pub fn check_attrs(&mut self, el: &Element, known: &[&str]) {
        self.note_namespaces(el);
        for (name, value) in &el.attrs {
            if name == "description" || known.contains(&name.as_str()) {
                continue;
            }
            self.within(format!("@{name}"), |cx| {
                cx.not_imported(
                    el,
                    format!("attribute {name}=\"{value}\" has no Ferry counterpart; left out"),
                )
            });
        }
    }

    /// Reports every child element of `el` not in `known`.
    pub fn check_children(&mut self, el: &Element, known: &[&str]) {
        for (i, child) in el.children.iter().enumerate() {
            if known.contains(&child.name.as_str()) {
                continue;
            }
            let segment = segment(el, i);
            self.within(segment, |cx| {
                cx.not_imported(child, format!("element <{}> is not imported", child.name))
            });
        }
    }

    /// Records the namespace prefixes declared on `el` (XPath expressions may use them).
    pub fn note_namespaces(&mut self, el: &Element) {
        for (prefix, uri) in &el.namespaces {
            if prefix.is_empty() || uri == SYNAPSE_NS {
                continue;
            }
            if let Some(old) = self.namespaces.get(prefix)
                && old != uri
            {
                let message = format!(
                    "prefix {prefix} is bound to {old} and to {uri} in this file; Ferry declares it once per resource, as {old}"
                );
                self.adjusted(el, message);
                continue;
            }
            self.namespaces.insert(prefix.clone(), uri.clone());
        }
    }

    /// The XML written inside `el`, as it is in the source.
    pub fn inner_xml(&self, el: &Element) -> &'a str {
        self.text.get(el.inner.clone()).unwrap_or_default()
    }

    /// A boolean attribute (`true`/`false`); anything else is reported and ignored.
    pub fn bool_attr(&mut self, el: &Element, name: &str) -> Option<bool> {
        let value = el.attr(name)?;
        match value.trim() {
            "true" | "TRUE" | "True" => Some(true),
            "false" | "FALSE" | "False" => Some(false),
            other => {
                let message = format!("{name}=\"{other}\" is not a boolean; left out");
                self.not_imported(el, message);
                None
            }
        }
    }

    /// A number from attribute or text `value` of `el`; anything else is reported.
    pub fn number(&mut self, el: &Element, what: &str, value: &str) -> Option<i64> {
        match value.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let message = format!("{what} \"{value}\" is not a whole number; left out");
                self.not_imported(el, message);
                None
            }
        }
    }

    /// A secret the source wrote in clear (a password, a client secret), as a `...From`
    /// reference: never copied, read from the environment variable `<RESOURCE>_<SUFFIX>`
    /// (or the `$SYSTEM:VAR` the source named), with the "adjusted" line saying so. `what`
    /// names the secret in that line.
    pub fn secret_from(&mut self, el: &Element, value: &str, suffix: &str, what: &str) -> Value {
        let env = match value.trim().strip_prefix("$SYSTEM:") {
            Some(var) => var.to_string(),
            None => format!(
                "{}_{suffix}",
                self.artifact.to_ascii_uppercase().replace(['-', '.'], "_")
            ),
        };
        self.adjusted(el, format!("the {what} is not copied into the resource: it is read from the environment variable {env}; set it, or point the reference at a Kubernetes Secret (secretKeyRef)"));
        serde_json::json!({ "env": env })
    }

    /// The reference to an artifact of `family`, rewritten to its Kubernetes name.
    pub fn reference(&self, family: Family, synapse: &str) -> String {
        self.names.reference(family, synapse)
    }
}

/// The XPath-like segment of child `i` of `parent`: `log[2]` for the second `log`.
pub fn segment(parent: &Element, i: usize) -> String {
    let Some(child) = parent.children.get(i) else {
        return String::new();
    };
    let same = parent
        .children
        .iter()
        .filter(|c| c.name == child.name)
        .count();
    if same == 1 {
        return child.name.clone();
    }
    let position = parent.children[..i]
        .iter()
        .filter(|c| c.name == child.name)
        .count()
        + 1;
    format!("{}[{position}]", child.name)
}

/// A JSON object built field by field, skipping absent values.
#[derive(Debug, Default)]
pub struct Obj(pub Map<String, Value>);

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to a string when present.
    pub fn s(mut self, key: &str, value: Option<impl Into<String>>) -> Self {
        if let Some(v) = value {
            self.0.insert(key.to_string(), Value::String(v.into()));
        }
        self
    }

    /// Sets `key` to any value when present.
    pub fn v(mut self, key: &str, value: Option<Value>) -> Self {
        if let Some(v) = value {
            self.0.insert(key.to_string(), v);
        }
        self
    }

    /// Sets `key` to a list when it is not empty.
    pub fn list(mut self, key: &str, items: Vec<Value>) -> Self {
        if !items.is_empty() {
            self.0.insert(key.to_string(), Value::Array(items));
        }
        self
    }

    /// The finished object.
    pub fn build(self) -> Value {
        Value::Object(self.0)
    }
}

/// `{expr}`, Synapse's dynamic attribute value, as its expression.
pub fn dynamic(value: &str) -> Option<&str> {
    let v = value.trim();
    v.strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|_| !v.starts_with("${"))
}
