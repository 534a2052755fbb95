use serde::Deserialize;
use serde_json::{Value, json};

use super::*;

/// A small stand-in for a resource: required and optional fields, a list, and an
/// externally tagged enum like `Mediator`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only deserialized
struct Doc {
    name: String,
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    pair: Option<Pair>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Item {
    id: u32,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
enum Step {
    Log(Log),
    Drop {},
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Log {
    level: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Pair {
    both: [u32; 2],
}

fn errors(value: Value) -> Vec<String> {
    match deserialize_all(value, serde_path_to_error::deserialize::<_, Doc>) {
        Ok(doc) => panic!("expected errors, loaded {doc:?}"),
        Err(errors) => errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
    }
}

#[test]
fn a_valid_document_loads() {
    let doc = json!({"name": "a", "items": [{"id": 1}], "steps": [{"log": {"level": "x"}}]});
    assert!(deserialize_all(doc, serde_path_to_error::deserialize::<_, Doc>).is_ok());
}

#[test]
fn independent_errors_are_all_reported_in_document_order() {
    let doc = json!({
        "name": "a",
        "items": [{"id": 1, "lable": "x"}, {"id": "two"}],
        "steps": [{"logg": {}}],
        "extra": true,
    });
    let found = errors(doc);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(
        found[0].starts_with("items[0].lable: unknown field `lable`"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("items[1].id: invalid type: string \"two\""),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with("steps[0]: unknown variant `logg`"),
        "{found:#?}"
    );
    assert!(
        found[3].starts_with("extra: unknown field `extra`"),
        "{found:#?}"
    );
}

#[test]
fn paths_keep_the_indices_as_written_after_list_elements_are_cut() {
    let doc = json!({
        "name": "a",
        "steps": [{"logg": {}}, {"drop": {}}, {"log": 5}, {}, {"log": {"levl": "x"}}],
    });
    let found = errors(doc);
    let fields: Vec<&str> = found
        .iter()
        .map(|e| e.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        ["steps[0]", "steps[2].log", "steps[3]", "steps[4].log.levl"],
        "{found:#?}"
    );
}

#[test]
fn a_required_field_cut_out_is_not_reported_as_missing() {
    let doc = json!({"name": 5, "items": [{"id": "one", "label": 7}]});
    let found = errors(doc);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("name: invalid type"), "{found:#?}");
    assert!(
        found[1].starts_with("items[0].id: invalid type"),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with("items[0].label: invalid type"),
        "{found:#?}"
    );
    assert!(
        !found.iter().any(|e| e.contains("missing field")),
        "{found:#?}"
    );
}

#[test]
fn a_misspelt_field_is_reported_once_not_also_as_missing() {
    assert_eq!(
        errors(json!({"name": "a", "items": [{"idd": 1}]})),
        ["items[0].idd: unknown field `idd`, expected `id` or `label`"]
    );
}

#[test]
fn a_field_missing_from_the_document_is_reported() {
    let doc = json!({"items": [{"label": "x"}, {"id": 2, "oops": 1}]});
    assert_eq!(
        errors(doc),
        [
            "items[0]: missing field `id`",
            "items[1].oops: unknown field `oops`, expected `id` or `label`",
            ": missing field `name`",
        ]
    );
}

#[test]
fn an_error_a_cut_may_have_caused_is_not_reported() {
    // Cutting the bad element leaves a one-element array where two are needed: that
    // "invalid length" is the cut's doing, not the document's.
    let doc = json!({"name": "a", "pair": {"both": [1, "x"]}, "extra": 1});
    let found = errors(doc);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("pair.both[1]: invalid type"),
        "{found:#?}"
    );
    assert!(found[1].starts_with("extra: unknown field"), "{found:#?}");
}

#[test]
fn an_error_about_the_whole_document_is_reported_once() {
    assert_eq!(
        errors(json!("x")),
        [": invalid type: string \"x\", expected struct Doc"]
    );
}

#[test]
fn errors_stop_at_the_bound() {
    let steps: Vec<Value> = (0..MAX_ERRORS + 10).map(|_| json!({"logg": {}})).collect();
    let found = errors(json!({"name": "a", "steps": steps}));
    assert_eq!(found.len(), MAX_ERRORS);
    assert!(found[MAX_ERRORS - 1].starts_with(&format!("steps[{}]", MAX_ERRORS - 1)));
}

#[test]
fn kept_indices_skip_the_cut_ones() {
    assert_eq!(nth_kept(0, &[]), 0);
    assert_eq!(nth_kept(0, &[0, 1]), 2);
    assert_eq!(nth_kept(1, &[0, 2]), 3);
    assert_eq!(nth_kept(1, &[3]), 1);
}
