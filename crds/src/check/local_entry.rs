//! Checks of the LocalEntry kind: exactly one source, XML well-formed, JSON parsed, a file
//! read, a URL refused. [`content`] is also what a reference by key resolves to, so a
//! mediator that reads an entry (`payloadFactory.formatKey`, `validate.schemas`) gets the
//! same content the entry's own check accepted.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::bundle::{Loaded, file_path};
use crate::resources::{EntryFormat, LocalEntrySpec, Resource};

/// A LocalEntry's content, resolved when the configuration loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// A well-formed XML document, as written.
    Xml(String),
    /// A JSON value.
    Json(Value),
}

impl Content {
    /// The content's format.
    pub fn format(&self) -> EntryFormat {
        match self {
            Content::Text(_) => EntryFormat::Text,
            Content::Xml(_) => EntryFormat::Xml,
            Content::Json(_) => EntryFormat::Json,
        }
    }
}

/// The content of a LocalEntry, or the first problem as `(field, message)`.
pub fn content(
    loaded: &Loaded,
    files: &BTreeMap<String, Result<String, String>>,
) -> Result<Content, (String, String)> {
    let Resource::LocalEntry(entry) = &loaded.resource else {
        return Err(("kind".into(), "not a LocalEntry".into()));
    };
    let spec: &LocalEntrySpec = &entry.spec;
    let set: Vec<&str> = [
        ("text", spec.text.is_some()),
        ("xml", spec.xml.is_some()),
        ("json", spec.json.is_some()),
        ("file", spec.file.is_some()),
        ("url", spec.url.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if set.len() != 1 {
        let found = if set.is_empty() {
            "none".to_string()
        } else {
            set.join(", ")
        };
        return Err((
            "spec".into(),
            format!("set exactly one of text, xml, json, file and url (found: {found})"),
        ));
    }
    if let Some(text) = &spec.text {
        return Ok(Content::Text(text.clone()));
    }
    if let Some(xml) = &spec.xml {
        return xml_content("spec.xml", xml);
    }
    if let Some(json) = &spec.json {
        return Ok(Content::Json(json.clone()));
    }
    if let Some(url) = &spec.url {
        return Err((
            "spec.url".into(),
            format!(
                "URL sources ({url}) are not supported: put the content in text, xml or json, or in a file"
            ),
        ));
    }
    let Some(file) = &spec.file else {
        return Err(("spec".into(), "no content".into()));
    };
    let path = file_path(&loaded.origin.file, &file.path);
    let text = match files.get(&path) {
        Some(Ok(text)) => text,
        Some(Err(e)) => return Err(("spec.file.path".into(), format!("cannot read {path}: {e}"))),
        None => {
            return Err((
                "spec.file".into(),
                "a file source is read by `ferry run` and `ferry validate` from disk; here (in \
                 Kubernetes) there are no files: give the content inline in text, xml or json"
                    .into(),
            ));
        }
    };
    let format = file
        .format
        .unwrap_or_else(|| EntryFormat::of_path(&file.path));
    match format {
        EntryFormat::Text => Ok(Content::Text(text.clone())),
        EntryFormat::Xml => xml_content("spec.file", text),
        EntryFormat::Json => serde_json::from_str(text)
            .map(Content::Json)
            .map_err(|e| ("spec.file".into(), format!("{path} is not valid JSON: {e}"))),
    }
}

fn xml_content(field: &str, xml: &str) -> Result<Content, (String, String)> {
    match sxd_document::parser::parse(xml) {
        Ok(_) => Ok(Content::Xml(xml.to_string())),
        Err(e) => Err((
            field.into(),
            format!("not well-formed XML (at byte {}): {e}", e.location()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::bundle::{Source, load};

    fn check(yaml: &str) -> Vec<String> {
        let (bundle, mut diagnostics) = load(&[Source {
            name: "test.yaml".into(),
            text: yaml.into(),
        }]);
        diagnostics.extend(crate::validate::validate(&bundle));
        diagnostics.iter().map(ToString::to_string).collect()
    }

    fn entry(name: &str, spec: &str) -> String {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: LocalEntry\nmetadata:\n  name: {name}\n  \
             annotations: {{ferry.dev/synapse-name: {name}_SYN}}\nspec:\n{spec}---\n"
        )
    }

    fn sequence(mediators: &str) -> String {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata:\n  name: s\nspec:\n  \
             mediators:\n{mediators}"
        )
    }

    const SCHEMA: &str = "  json:\n    type: object\n    required: [id]\n";

    #[test]
    fn entries_of_each_inline_form_are_accepted() {
        let yaml = [
            entry("t", "  text: hello\n"),
            entry("x", "  xml: '<a><b/></a>'\n"),
            entry("j", SCHEMA),
        ]
        .concat();
        assert_eq!(check(&yaml), Vec::<String>::new());
    }

    #[test]
    fn an_entry_needs_exactly_one_source_and_well_formed_xml() {
        let d = check(&entry("a", "  text: a\n  xml: '<a/>'\n"));
        assert!(
            d[0].contains("LocalEntry/a spec: set exactly one of text, xml, json, file and url (found: text, xml)"),
            "{d:?}"
        );
        let d = check(&entry("a", "  xml: '<a>'\n"));
        assert!(d[0].contains("spec.xml: not well-formed XML"), "{d:?}");
        let d = check(&entry("a", "  url: http://example.com/a.json\n"));
        assert!(d[0].contains("spec.url: URL sources"), "{d:?}");
    }

    #[test]
    fn a_file_source_outside_a_disk_load_is_refused_with_the_reason() {
        let d = check(&entry("a", "  file: {path: a.json}\n"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains("spec.file: a file source is read by"),
            "{d:?}"
        );
    }

    #[test]
    fn a_file_source_is_read_relative_to_its_yaml_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("formats")).unwrap();
        std::fs::write(dir.path().join("formats/order.txt"), "{\"id\": $1}").unwrap();
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        let yaml = [
            entry("f", "  file: {path: formats/order.txt}\n"),
            entry("b", "  file: {path: bad.json}\n"),
            entry("m", "  file: {path: missing.txt}\n"),
        ]
        .concat();
        std::fs::write(dir.path().join("entries.yaml"), yaml).unwrap();
        let (bundle, mut d) = crate::bundle::load_paths(&[dir.path().to_path_buf()]);
        d.extend(crate::validate::validate(&bundle));
        let d: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].contains("LocalEntry/b spec.file: ") && d[0].contains("is not valid JSON"),
            "{d:?}"
        );
        assert!(
            d[1].contains("LocalEntry/m spec.file.path: cannot read"),
            "{d:?}"
        );
    }

    #[test]
    fn a_format_key_reads_a_text_entry_by_either_name() {
        let pf = "    - payloadFactory: {mediaType: json, formatKey: KEY, args: [{value: x}]}\n";
        let entries = entry("fmt", "  text: '{\"id\": \"$1\"}'\n") + &entry("x", "  xml: '<a/>'\n");
        for key in ["fmt", "fmt_SYN"] {
            let yaml = format!("{entries}{}", sequence(&pf.replace("KEY", key)));
            assert_eq!(check(&yaml), Vec::<String>::new(), "{key}");
        }
        let d = check(&format!("{entries}{}", sequence(&pf.replace("KEY", "x"))));
        assert!(
            d[0].contains("spec.mediators[0].payloadFactory.formatKey: local entry \"x\" holds xml, but a payload format is text"),
            "{d:?}"
        );
        let d = check(&format!(
            "{entries}{}",
            sequence(&pf.replace("KEY", "nope"))
        ));
        assert!(
            d[0].contains("formatKey: local entry \"nope\" is not defined"),
            "{d:?}"
        );
        // The template from the entry is checked like an inline one.
        let bad = entry("fmt", "  text: '{\"id\": $2}'\n");
        let d = check(&format!("{bad}{}", sequence(&pf.replace("KEY", "fmt"))));
        assert!(
            d[0].contains("formatKey: $2 is used but only 1 args are given"),
            "{d:?}"
        );
    }

    #[test]
    fn a_broken_entry_is_reported_once_at_the_entry() {
        let pf = "    - payloadFactory: {formatKey: fmt}\n";
        let yaml = format!("{}{}", entry("fmt", "  xml: '<a>'\n"), sequence(pf));
        let d = check(&yaml);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("LocalEntry/fmt spec.xml"), "{d:?}");
    }

    #[test]
    fn validate_compiles_its_schemas_at_load() {
        let v = |body: &str| sequence(&format!("    - validate:\n{body}        onFail: []\n"));
        let entries = entry("order", SCHEMA)
            + &entry(
                "xsd",
                "  xml: '<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"/>'\n",
            )
            + &entry("txt", "  text: a\n")
            + &entry("addr", "  json: {type: string}\n");
        let ok = [
            "        schemas: [order]\n",
            "        schemas: [order_SYN]\n        source: ${payload.order}\n",
            "        jsonSchema: {$schema: 'http://json-schema.org/draft-07/schema#', type: object}\n",
            "        jsonSchema: {properties: {a: {$ref: 'addr.json'}}}\n        resources: [{location: addr.json, key: addr}]\n",
        ];
        for body in ok {
            assert_eq!(
                check(&format!("{entries}{}", v(body))),
                Vec::<String>::new(),
                "{body}"
            );
        }
        let bad = [
            (
                "        jsonSchema: {type: 12}\n",
                "validate.jsonSchema: invalid JSON Schema",
            ),
            (
                "        schemas: [xsd]\n",
                "validate.schemas[0]: local entry \"xsd\" holds XML: XML Schema (XSD) validation is not supported",
            ),
            (
                "        schemas: [txt]\n",
                "validate.schemas[0]: local entry \"txt\" holds text",
            ),
            (
                "        schemas: [none]\n",
                "validate.schemas[0]: local entry \"none\" is not defined",
            ),
            (
                "        jsonSchema: {$ref: 'other.json'}\n",
                "validate.jsonSchema: invalid JSON Schema",
            ),
            (
                "        jsonSchema: {}\n        features: [{name: f, value: true}]\n",
                "validate.features: parser features apply to XML Schema",
            ),
            (
                "        jsonSchema: {}\n        cacheSchema: false\n",
                "validate.cacheSchema: schemas are always compiled once",
            ),
            (
                "        source: '${'\n        jsonSchema: {}\n",
                "validate.source: invalid expression",
            ),
            (
                "        features: []\n",
                "spec.mediators[0].validate: give a schema",
            ),
        ];
        for (body, expected) in bad {
            let d = check(&format!("{entries}{}", v(body)));
            assert_eq!(d.len(), 1, "{body}: {d:?}");
            assert!(d[0].contains(expected), "{body}: {d:?}");
        }
    }
}
