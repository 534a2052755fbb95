use serde_json::json;

use super::*;

fn parse(value: serde_json::Value) -> Vec<Mediator> {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_log_mediator_reads_its_synapse_attributes() {
    let list = parse(
        json!([{"log": {"level": "full", "category": "WARN", "message": "got ${payload.id}",
        "properties": [{"name": "id", "expression": "${payload.id}"}]}}]),
    );
    let Mediator::Log(log) = &list[0] else {
        panic!("not a log: {list:?}")
    };
    assert_eq!(log.level, Some(LogLevel::Full));
    assert_eq!(log.category, LogCategory::Warn);
    // MI separates the items of a log line with ", ".
    assert_eq!(log.separator, ", ");
    assert_eq!(
        log.properties[0].expression.as_deref(),
        Some("${payload.id}")
    );
}

#[test]
fn name_is_the_yaml_tag_of_every_variant() {
    // Serialising a value of each variant yields its tag; `name()` must agree with it and
    // with MEDIATORS, which documentation and the validator list from.
    let samples = parse(crate::check::corpus::one_of_each_mediator());
    assert_eq!(samples.len(), MEDIATORS.len());
    for (mediator, expected) in samples.iter().zip(mediator_names()) {
        assert_eq!(mediator.name(), expected);
        let value = serde_json::to_value(mediator).unwrap();
        let tag = value.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(tag, expected);
        let back: Mediator = serde_json::from_value(value).unwrap();
        assert_eq!(&back, mediator, "{expected} does not round-trip");
    }
}

#[test]
fn children_name_every_nested_list_with_its_field_path() {
    let list = parse(json!([{"switch": {"source": "${var.h}",
        "cases": [{"regex": "a", "sequence": [{"drop": {}}]}, {"regex": "b", "sequence": []}],
        "default": [{"respond": {}}]}}]));
    let paths: Vec<(String, usize)> = list[0]
        .children()
        .into_iter()
        .map(|(p, l)| (p, l.len()))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("cases[0].sequence".to_string(), 1),
            ("cases[1].sequence".to_string(), 0),
            ("default".to_string(), 1)
        ]
    );
    let filter = parse(json!([{"filter": {"source": "${var.x}", "regex": "y",
        "then": [{"log": {}}], "else": [{"drop": {}}, {"respond": {}}]}}]));
    let names: Vec<(String, usize)> = filter[0]
        .children()
        .into_iter()
        .map(|(p, l)| (p, l.len()))
        .collect();
    assert_eq!(
        names,
        vec![("then".to_string(), 1), ("else".to_string(), 2)]
    );
    assert!(parse(json!([{"log": {}}]))[0].children().is_empty());
}

#[test]
fn unknown_mediators_and_unknown_attributes_are_rejected() {
    let err = serde_json::from_value::<Vec<Mediator>>(json!([{"class": {"name": "a.B"}}]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `class`"), "{err}");
    let err = serde_json::from_value::<Vec<Mediator>>(json!([{"log": {"levle": "full"}}]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `levle`"), "{err}");
}

#[test]
fn defaults_follow_synapse() {
    let list = parse(json!([
        {"property": {"name": "p", "value": "v"}},
        {"payloadFactory": {"format": "<a/>"}},
        {"enrich": {"source": {"type": "body"}, "target": {"type": "property", "property": "orig"}}},
        {"header": {"name": "X-A", "value": "1"}}
    ]));
    let Mediator::Property(p) = &list[0] else {
        panic!()
    };
    assert_eq!(
        (p.action, p.scope, p.type_),
        (
            crate::resources::common::SetOrRemove::Set,
            PropertyScope::Default,
            None
        )
    );
    let Mediator::PayloadFactory(pf) = &list[1] else {
        panic!()
    };
    assert_eq!(
        (pf.media_type, pf.template_type),
        (MediaType::Xml, TemplateType::Default)
    );
    let Mediator::Enrich(e) = &list[2] else {
        panic!()
    };
    assert!(e.source.clone);
    assert_eq!(e.target.action, EnrichAction::Replace);
    let Mediator::Header(h) = &list[3] else {
        panic!()
    };
    assert_eq!(h.scope, HeaderScope::Transport);
}
