use super::*;
use crate::bundle::{Source, load};

fn check(yaml: &str) -> Vec<String> {
    let (bundle, mut diagnostics) = load(&[Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    diagnostics.extend(crate::validate::validate(&bundle));
    diagnostics.iter().map(ToString::to_string).collect()
}

const API: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: shop
spec:
  context: /shop
  resources:
    - methods: [GET]
      uriTemplate: /orders/{id}
      inSequence:
        - respond: {}
";

#[test]
fn a_valid_api_has_no_diagnostics() {
    assert_eq!(check(API), Vec::<String>::new());
}

#[test]
fn an_undefined_endpoint_is_reported_at_its_line_and_path() {
    let yaml = API.replace(
        "        - respond: {}\n",
        "        - log: {}\n        - call:\n            endpoint: {key: settle-payment-ep}\n",
    );
    assert_eq!(
        check(&yaml),
        vec![
            "test.yaml:13: IntegrationAPI/shop spec.resources[0].inSequence[1].call.endpoint.key: \
             endpoint \"settle-payment-ep\" is not defined"
        ]
    );
}

#[test]
fn undefined_sequences_are_reported_inside_nested_branches() {
    let yaml = API.replace(
        "        - respond: {}\n",
        "        - filter:\n            expression: ${true}\n            then:\n              - sequence: {key: missing}\n",
    );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("test.yaml:14: IntegrationAPI/shop spec.resources[0].inSequence[0].filter.then[0].sequence.key: sequence \"missing\" is not defined"),
        "{d:?}"
    );
}

#[test]
fn expression_syntax_errors_are_located() {
    let yaml = API.replace(
        "        - respond: {}\n",
        "        - variable: {name: x, expression: \"${payload.a +}\"}\n",
    );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("test.yaml:11: IntegrationAPI/shop spec.resources[0].inSequence[0].variable.expression: invalid expression \"${payload.a +}\": unexpected end of expression at column 14"),
        "{d:?}"
    );
}

#[test]
fn bad_regexes_are_reported() {
    let yaml = API.replace(
        "        - respond: {}\n",
        "        - switch:\n            source: ${payload.a}\n            cases:\n              - regex: \"(\"\n                sequence: []\n",
    );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("switch.cases[0].regex: invalid regex"),
        "{d:?}"
    );
}

#[test]
fn unsupported_mediators_are_errors_not_silently_skipped() {
    let yaml = API.replace("        - respond: {}\n", "        - xquery: {key: q}\n");
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("the xquery mediator is not supported"),
        "{d:?}"
    );
}

#[test]
fn duplicate_names_and_contexts_are_reported_once_each() {
    let yaml = format!("{API}---\n{API}");
    let d = check(&yaml);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().any(|d| {
        d.contains("duplicate IntegrationAPI name \"shop\" (first defined at test.yaml:1)")
    }));
    assert!(
        d.iter()
            .any(|d| d.contains("context /shop is already used by IntegrationAPI/shop"))
    );
}

#[test]
fn conflicting_routes_in_one_api_are_reported() {
    let yaml = format!(
        "{API}    - methods: [GET, POST]\n      uriTemplate: /orders/{{order}}\n      inSequence: [{{respond: {{}}}}]\n"
    );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("spec.resources[1]: GET /orders/{} is already served by spec.resources[0]"),
        "{d:?}"
    );
}

#[test]
fn contexts_must_be_plain_absolute_paths() {
    let d = check(&API.replace("context: /shop", "context: shop"));
    assert!(
        d[0].contains("spec.context: context \"shop\" must start with /"),
        "{d:?}"
    );
    let d = check(&API.replace("context: /shop", "context: /shop/"));
    assert!(d[0].contains("must not end with /"), "{d:?}");
}

#[test]
fn references_resolve_within_the_runtime_group() {
    let yaml = format!(
        "{}---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata:\n  name: audit\nspec:\n  runtime: other\n  mediators: [{{log: {{}}}}]\n",
        API.replace(
            "        - respond: {}\n",
            "        - sequence: {key: audit}\n"
        )
    );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("sequence \"audit\" is not defined"), "{d:?}");
}

#[test]
fn unknown_fields_are_reported_with_their_path_and_line() {
    let yaml = API.replace(
        "      uriTemplate:",
        "      uriTemplates: /x\n      uriTemplate:",
    );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("test.yaml:9: IntegrationAPI/shop spec.resources[0]"),
        "{d:?}"
    );
    assert!(d[0].contains("unknown field `uriTemplates`"), "{d:?}");
}

#[test]
fn kubernetes_names_are_required() {
    let d = check(&API.replace("name: shop", "name: Shop_API"));
    assert!(
        d[0].contains("metadata.name: metadata.name \"Shop_API\" is not a valid Kubernetes name"),
        "{d:?}"
    );
}

#[test]
fn other_api_groups_are_skipped_and_wrong_versions_reported() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\n";
    assert_eq!(check(&format!("{secret}{API}")), Vec::<String>::new());
    let d = check(&API.replace("ferry.dev/v1alpha1", "ferry.dev/v2"));
    assert!(
        d[0].contains("apiVersion: unsupported apiVersion \"ferry.dev/v2\""),
        "{d:?}"
    );
}

#[test]
fn every_kind_is_run_now() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: ScheduledTask\nmetadata:\n  name: t\nspec:\n  trigger:\n    once: true\n  inject:\n    sequence: s\n";
    let d = check(yaml);
    assert!(
        !d.iter()
            .any(|d| d.contains("not supported by this Ferry runtime yet")),
        "{d:?}"
    );
}

#[test]
fn an_endpoint_group_cannot_contain_itself() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: Endpoint\nmetadata:\n  name: lb\nspec:\n  failover:\n    endpoints:\n      - key: lb\n";
    let d = check(yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("spec.failover.endpoints[0].key: an endpoint group cannot contain itself"),
        "{d:?}"
    );
}

#[test]
fn templates_are_normalized_for_conflicts() {
    assert_eq!(normalize_template("/a/{x}/b?q={q}"), "/a/{}/b");
    assert_eq!(normalize_template("/a/"), "/a");
    assert_eq!(normalize_template("/"), "/");
}

#[test]
fn a_reference_to_a_resource_that_failed_to_load_is_not_reported_twice() {
    let yaml = API.replace(
        "        - respond: {}\n",
        "        - call:\n            endpoint: {key: broken-ep}\n",
    ) + "---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: broken-ep
spec:
  http: {uriTemplat: http://127.0.0.1/}
";
    let diagnostics = check(&yaml);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert!(diagnostics[0].contains("Endpoint/broken-ep spec.http.uriTemplat: unknown field"));
}

// === warnings ===

/// The warnings of a configuration that loads and checks without errors.
fn warnings(text: &str) -> Vec<Diagnostic> {
    let (bundle, diagnostics) = load(&[Source {
        name: "config.yaml".into(),
        text: text.into(),
    }]);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let checked = super::check(&bundle, &ConfigKeys::built_in());
    let (warnings, errors): (Vec<_>, Vec<_>) = checked
        .diagnostics
        .into_iter()
        .partition(|d| d.severity == crate::diagnostic::Severity::Warning);
    assert!(errors.is_empty(), "{errors:?}");
    warnings
}

/// A store of `store_type` (none: the default) and a processor reading it.
fn store_and_processor(store_type: Option<&str>) -> String {
    let store_type = match store_type {
        None => String::new(),
        Some("rabbitmq") => "type: rabbitmq, rabbitmq: {host: localhost}".to_string(),
        Some(t) => format!("type: {t}"),
    };
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
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: backend}}
spec: {{http: {{uriTemplate: \"http://127.0.0.1:9/\"}}}}
"
    )
}

#[test]
fn a_processor_reading_a_memory_store_is_warned_about_where_it_names_the_store() {
    let warnings = warnings(&store_and_processor(Some("memory")));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(w.severity, crate::diagnostic::Severity::Warning);
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
        assert_eq!(warnings(&text), vec![], "{store_type:?}");
    }
    let unread = "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: scratch}
spec: {type: memory}
";
    assert_eq!(warnings(unread), vec![]);
}

#[test]
fn blank_property_and_variable_names_and_a_task_without_trigger_are_refused() {
    let d = check(&format!(
        "{API}---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {{name: s}}\nspec:\n  mediators:\n    - property: {{name: \"\", value: \"1\"}}\n    - variable: {{name: \"\", value: \"1\"}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: ScheduledTask\nmetadata: {{name: t}}\nspec:\n  trigger: {{}}\n  inject: {{sequence: s}}\n"
    ));
    assert_eq!(
        d,
        vec![
            "test.yaml:18: Sequence/s spec.mediators[0].property.name: name must not be empty",
            "test.yaml:19: Sequence/s spec.mediators[1].variable.name: name must not be empty",
            "test.yaml:25: ScheduledTask/t spec.trigger: set exactly one of interval, cron and once",
        ]
    );
}

#[test]
fn a_configuration_key_nobody_sets_is_refused_where_it_is_read() {
    let d = check(&API.replace(
        "        - respond: {}\n",
        "        - call:\n            endpoint:\n              http: {uriTemplate: \"http://127.0.0.1:${config.backend.port}/x\"}\n",
    ));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains(
            "call.endpoint.http.uriTemplate: configuration key \"backend.port\" is not set"
        ),
        "{d:?}"
    );
    let (bundle, _) = load(&[Source {
        name: "test.yaml".into(),
        text: API.replace("respond: {}", "log: {message: \"${config.region}\"}"),
    }]);
    let with_key = super::check(&bundle, &ConfigKeys::with(["region"]));
    assert!(
        with_key.diagnostics.is_empty(),
        "{:?}",
        with_key.diagnostics
    );
}

#[test]
fn enable_addressing_sits_on_leaves_and_answers_on_the_same_connection() {
    let d = check_flow(
        "        - call: {endpoint: {address: {uri: \"http://127.0.0.1/x\"}, enableAddressing: {version: submission}}}\n\
         \x20       - call: {endpoint: {address: {uri: \"http://127.0.0.1/x\"}, enableAddressing: {separateListener: true}}}\n\
         \x20       - call: {endpoint: {failover: {endpoints: [{address: {uri: \"http://127.0.0.1/x\"}}]}, enableAddressing: {}}}\n\
         \x20       - call: {}\n\
         \x20       - send: {}\n",
    );
    let want = [
        "inSequence[1].call.endpoint.enableAddressing.separateListener: a separate listener",
        "inSequence[2].call.endpoint.enableAddressing: enableAddressing belongs on the leaf endpoints",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(
        d.len(),
        want.len(),
        "call and send without an endpoint go to To: {d:#?}"
    );
}

#[test]
fn http_settings_on_broker_endpoints_are_refused_with_where_tls_is_set() {
    let broker = |uri: &str| {
        format!(
            "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: out}}
spec:
  address: {{uri: \"{uri}\"}}
  tls: {{minVersion: \"1.3\"}}
  oauth: {{tokenUrl: \"http://127.0.0.1/token\", clientId: c, clientSecretFrom: {{env: S}}}}
  retry: {{count: 2}}
"
        )
    };
    let d = check(&broker(
        "rabbitmq:/q?rabbitmq.server.host.name=127.0.0.1&rabbitmq.queue.name=q",
    ));
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(
        d.iter().any(|e| e.contains("spec.tls")
            && e.contains("not supported on a rabbitmq endpoint")
            && e.contains("rabbitmq.connection.ssl.*")),
        "{d:?}"
    );
    assert!(d.iter().any(|e| e.contains("spec.oauth")), "{d:?}");
    assert!(d.iter().any(|e| e.contains("spec.retry")), "{d:?}");
    let d = check(&broker(
        "mqtt:/t?mqtt.server.host.name=127.0.0.1&mqtt.topic.name=t",
    ));
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(
        d.iter()
            .any(|e| e.contains("spec.tls") && e.contains("mqtt.ssl.enable")),
        "{d:?}"
    );
}

#[test]
fn endpoints_the_runtime_cannot_call_are_refused_and_https_is_not_one() {
    let d = check(&API.replace(
        "        - respond: {}\n",
        "        - call: {endpoint: {http: {uriTemplate: \"https://127.0.0.1:8443/x\"}}}\n        - call: {endpoint: {address: {uri: \"ftp://127.0.0.1/x\"}}}\n",
    ));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("the ftp scheme is not supported"), "{d:?}");
}

#[test]
fn synapse_control_properties_ferry_does_not_implement_are_refused_by_name() {
    let d = check(&API.replace(
        "        - respond: {}\n",
        "        - property: {name: OUT_ONLY, value: \"true\"}\n        - property: {name: FORCE_SC_ACCEPTED, value: \"true\", scope: axis2}\n        - property: {name: PRESERVE_WS_ADDRESSING, value: \"true\"}\n        - property: {name: DISABLE_CHUNKING, value: \"true\", scope: axis2}\n        - property: {name: NO_KEEPALIVE, value: x, scope: transport}\n        - respond: {}\n",
    ));
    assert_eq!(
        d.len(),
        1,
        "OUT_ONLY, FORCE_SC_ACCEPTED and PRESERVE_WS_ADDRESSING run; a header named \
         NO_KEEPALIVE is just a header: {d:?}"
    );
    assert!(
        d[0].contains(
            "inSequence[3].property.name: Synapse gives the property DISABLE_CHUNKING a meaning"
        ),
        "{d:?}"
    );
}

#[test]
fn every_error_of_one_resource_is_reported_in_one_pass() {
    let d = check(&API.replace(
        "        - respond: {}\n",
        "        - property: {name: \"\", value: \"1\"}\n        - switch:\n            source: \"${payload.a +}\"\n            cases: [{regex: \"(\", sequence: [{sequence: {key: nowhere}}]}]\n        - store: {messageStore: nostore}\n",
    ));
    assert_eq!(d.len(), 5, "{d:#?}");
}

#[test]
fn api_settings_the_runtime_does_not_act_on_are_refused_not_ignored() {
    let d = check(
        &API.replace(
            "  context: /shop\n",
            "  context: /shop\n  hostname: shop.example\n  statistics: true\n",
        )
        .replace(
            "      uriTemplate: /orders/{id}\n",
            "      uriTemplate: /orders/{id}\n      userAgent: curl.*\n      protocol: https\n",
        ),
    );
    assert_eq!(d.len(), 3, "{d:#?}");
    for field in [
        "spec.hostname",
        "spec.statistics",
        "spec.resources[0].userAgent",
    ] {
        assert!(
            d.iter().any(|d| d.contains(&format!("{field}: "))),
            "{field}: {d:#?}"
        );
    }
}

#[test]
fn xpath_prefixes_resolve_from_the_api_and_from_enclosing_mediators_only() {
    let yaml = API
        .replace(
            "  context: /shop\n",
            "  context: /shop\n  namespaces: {o: \"http://example.com/orders\"}\n",
        )
        .replace(
            "        - respond: {}\n",
            "        - property: {name: a, expression: \"//o:order\"}\n\
             \x20       - filter:\n\
             \x20           namespaces: {s: \"http://example.com/s\"}\n\
             \x20           xpath: \"//s:x\"\n\
             \x20           then:\n\
             \x20             - property: {name: b, expression: \"//s:y\"}\n\
             \x20       - property: {name: c, expression: \"//s:z\"}\n",
        );
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("inSequence[2].property.expression: invalid expression \"//s:z\": namespace prefix 's' is not declared"),
        "{d:?}"
    );
}

#[test]
fn a_sequence_declares_prefixes_for_its_mediators() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: s
spec:
  namespaces: {m: \"urn:m\"}
  mediators:
    - log: {properties: [{name: id, expression: \"//m:id\"}]}
";
    assert_eq!(check(yaml), Vec::<String>::new());
}

#[test]
fn bad_namespace_declarations_are_located() {
    let yaml = API.replace(
        "        - respond: {}\n",
        "        - property:\n            name: a\n            expression: \"//o:a\"\n            namespaces: {xmlns: \"urn:x\", o: \"\", ctx: \"urn:c\", \"1a\": \"urn:1\"}\n",
    );
    let d = check(&yaml);
    let has = |s: &str| d.iter().any(|x| x.contains(s));
    assert!(
        has("property.namespaces.xmlns: the prefix \"xmlns\" is reserved by XML"),
        "{d:?}"
    );
    assert!(
        has("property.namespaces.o: the namespace URI of \"o\" is empty"),
        "{d:?}"
    );
    assert!(
        has("property.namespaces.ctx: the prefix \"ctx\" is Synapse's variable prefix"),
        "{d:?}"
    );
    assert!(
        has("property.namespaces.1a: \"1a\" is not a namespace prefix"),
        "{d:?}"
    );
    // The refused binding of `o` leaves it undeclared.
    assert!(has("namespace prefix 'o' is not declared"), "{d:?}");
}

#[test]
fn enrich_remove_is_checked_for_what_it_can_remove() {
    let case = |source: &str, target: &str| {
        check(&API.replace(
            "        - respond: {}\n",
            &format!(
                "        - enrich:\n            source: {source}\n            target: {target}\n"
            ),
        ))
    };
    assert_eq!(
        case(
            "{type: custom, expression: \"json-eval($.a[*].b,$.c['x,y'])\"}",
            "{type: body, action: remove}"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        case(
            "{type: custom, expression: \"//a/b\"}",
            "{type: body, action: remove}"
        ),
        Vec::<String>::new()
    );
    let d = case(
        "{type: custom, expression: \"json-eval($..a)\"}",
        "{type: body, action: remove}",
    );
    assert!(
        d.len() == 1
            && d[0]
                .contains("enrich.source.expression: \"json-eval($..a)\": remove takes JSON paths"),
        "{d:?}"
    );
    let d = case("{type: body}", "{type: body, action: remove}");
    assert!(
        d.len() == 1 && d[0].contains("enrich.source.type: remove needs a custom source"),
        "{d:?}"
    );
    let d = case(
        "{type: custom, expression: \"//a\"}",
        "{type: property, property: p, action: remove}",
    );
    assert!(
        d.len() == 1 && d[0].contains("an XPath removes nodes of the XML body only"),
        "{d:?}"
    );
    let d = case(
        "{type: custom, expression: \"$.a\"}",
        "{type: custom, expression: \"$.b\", action: remove}",
    );
    assert!(
        d.len() == 1
            && d[0].contains("enrich.target.type: remove takes from body, property or variable"),
        "{d:?}"
    );
}

/// Diagnostics of `mediators` (YAML flow items, one per line) as the in-sequence.
fn check_flow(mediators: &str) -> Vec<String> {
    check(&API.replace("        - respond: {}\n", mediators))
}

#[test]
fn split_mediators_report_every_problem_located() {
    let d = check_flow(
        "        - clone: {targets: []}\n\
         \x20       - clone: {id: '', targets: [{}, {to: x, endpoint: {key: nope}, soapAction: \"a\\tb\", sequence: [{sequence: {key: nope}}]}]}\n",
    );
    let want = [
        "inSequence[0].clone.targets: at least one target is required",
        "inSequence[1].clone.id: must not be empty when set",
        "inSequence[1].clone.targets[0]: a target needs a sequence, an endpoint (or a to address), or both",
        "inSequence[1].clone.targets[1].soapAction: must be a non-empty action URI",
        "inSequence[1].clone.targets[1].to: set endpoint or to",
        "inSequence[1].clone.targets[1].sequence[0].sequence.key: sequence \"nope\" is not defined",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn iterate_refuses_attributes_it_would_ignore_and_bad_paths() {
    let d = check_flow(
        "        - iterate: {expression: '${payload.a', target: {sequence: [{drop: {}}]}}\n\
         \x20       - iterate: {expression: '${payload.a}', attachPath: '${payload.b}', target: {sequence: [{drop: {}}]}}\n\
         \x20       - iterate: {expression: '${payload.a}', preservePayload: true, target: {sequence: [{drop: {}}]}}\n\
         \x20       - iterate: {expression: '//a', preservePayload: true, attachPath: '${payload.b}', target: {sequence: [{drop: {}}]}}\n\
         \x20       - iterate: {expression: '${payload.a[?(@.x)]}', preservePayload: true, attachPath: '${payload.b}', target: {sequence: [{drop: {}}]}}\n",
    );
    let want = [
        "inSequence[0].iterate.expression: invalid expression",
        "inSequence[1].iterate.attachPath: attachPath needs preservePayload: true",
        "inSequence[2].iterate.attachPath: preservePayload needs attachPath",
        "inSequence[3].iterate.attachPath: with an XPath expression the attachPath is an XPath too",
        "inSequence[4].iterate.expression: with preservePayload the expression must be a simple JSON path",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn aggregate_checks_counts_timeout_and_unsupported_forms() {
    let d = check_flow(
        "        - aggregate: {correlateOn: '${payload.id}', completeCondition: {timeout: 0, messageCount: {min: 0, max: -2}}, onComplete: {expression: '${payload}'}}\n\
         \x20       - aggregate: {completeCondition: {messageCount: {min: 3, max: 2}}, onComplete: {expression: '//a', aggregateElementType: child}}\n\
         \x20       - aggregate: {id: x, correlateOn: '${payload.id}', onComplete: {expression: '${payload}'}}\n",
    );
    let want = [
        "inSequence[2].aggregate.id: an aggregate joins either the copies of the split with this id or the messages correlateOn groups",
        "inSequence[2].aggregate.correlateOn: a correlated aggregation needs a completeCondition",
        "inSequence[0].aggregate.completeCondition.timeout: must be positive",
        "inSequence[0].aggregate.completeCondition.messageCount.min: must be -1",
        "inSequence[0].aggregate.completeCondition.messageCount.max: must be -1",
        "inSequence[1].aggregate.completeCondition.messageCount: min (3) is greater than max (2)",
        "inSequence[1].aggregate.onComplete.enclosingElementProperty: an XPath aggregation needs enclosingElementProperty",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn foreach_forms_and_their_attributes_are_checked() {
    let d = check_flow(
        "        - foreach: {sequence: []}\n\
         \x20       - foreach: {expression: 'json-eval($.a)', collection: '${payload.a}', sequence: []}\n\
         \x20       - foreach: {expression: '//a', parallelExecution: true, sequence: []}\n\
         \x20       - foreach: {collection: '${payload.a[?(@.x)]}', sequence: []}\n\
         \x20       - foreach: {collection: '${payload.a}', counterVariable: i, resultTarget: r, resultType: XML, continueWithoutAggregation: true, id: x, sequence: []}\n\
         \x20       - foreach: {collection: '${payload.a}', updateOriginal: false, sequence: []}\n\
         \x20       - foreach: {collection: '${payload.a}', updateOriginal: false, resultTarget: r, resultType: XML, sequence: []}\n\
         \x20       - foreach: {collection: '${payload.a}', continueWithoutAggregation: true, sequence: []}\n",
    );
    let want = [
        "inSequence[0].foreach: set either collection",
        "inSequence[1].foreach: set either collection",
        "inSequence[2].foreach.parallelExecution: parallelExecution belongs to the collection form",
        "inSequence[3].foreach.collection: updateOriginal needs a collection that is a simple path",
        "inSequence[4].foreach.id: id belongs to the legacy expression form",
        "inSequence[4].foreach.continueWithoutAggregation: continueWithoutAggregation gathers no results",
        "inSequence[4].foreach.counterVariable: counterVariable needs parallelExecution: false",
        "inSequence[5].foreach.resultTarget: updateOriginal: false needs resultTarget",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn scatter_gather_checks_targets_formats_and_counts() {
    let d = check_flow(
        "        - scatterGather: {resultTarget: somewhere, aggregation: {expression: '${payload'}, sequences: []}\n\
         \x20       - scatterGather: {resultTarget: variable, contentType: XML, aggregation: {expression: '${payload}', timeout: 0, minMessages: 3, maxMessages: 2}, sequences: [[{drop: {}}]]}\n\
         \x20       - scatterGather: {targetVariable: v, rootElement: 'a b', aggregation: {expression: '${payload}', condition: '${', maxMessages: 0}, sequences: [[{sequence: {key: nope}}]]}\n",
    );
    let want = [
        "inSequence[0].scatterGather.resultTarget: \"somewhere\" is neither body nor variable",
        "inSequence[0].scatterGather.aggregation.expression: invalid expression",
        "inSequence[0].scatterGather.sequences: at least one sequence is required",
        "inSequence[1].scatterGather.targetVariable: resultTarget: variable needs targetVariable",
        "inSequence[1].scatterGather.rootElement: contentType: XML needs rootElement",
        "inSequence[1].scatterGather.aggregation.timeout: must be positive",
        "inSequence[1].scatterGather.aggregation: minMessages (3) is greater than maxMessages (2)",
        "inSequence[1].scatterGather.aggregation.minMessages: 3 is more than the 1 sequences can bring",
        "inSequence[1].scatterGather.aggregation.maxMessages: 2 is more than the 1 sequences can bring",
        "inSequence[2].scatterGather.targetVariable: targetVariable needs resultTarget: variable",
        "inSequence[2].scatterGather.rootElement: rootElement applies to contentType: XML only",
        "inSequence[2].scatterGather.aggregation.condition: invalid expression",
        "inSequence[2].scatterGather.aggregation.maxMessages: must be -1",
        "inSequence[2].scatterGather.sequences[0][0].sequence.key: sequence \"nope\" is not defined",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn makefault_codes_resolve_their_prefix_and_soap12_codes_are_soap12s() {
    let d = check_flow(
        "        - makefault: {code: {value: 'x:Client'}, reason: {value: r}}\n\
         \x20       - makefault: {version: soap12, code: {value: Client}, reason: {value: r}}\n\
         \x20       - makefault: {version: pox, code: {value: Client}, reason: {value: r}}\n\
         \x20       - makefault: {code: {value: Client}}\n\
         \x20       - makefault: {version: soap11, node: 'urn:n', code: {value: Client}, reason: {value: r}}\n\
         \x20       - makefault: {version: soap12, namespaces: {e: 'http://www.w3.org/2003/05/soap-envelope'}, code: {value: 'e:Sender'}, reason: {expression: '${payload.why}'}}\n",
    );
    let want = [
        "inSequence[0].makefault.code.value: the prefix 'x' of fault code \"x:Client\" is not declared",
        "inSequence[1].makefault.code.value: \"Client\" is not a SOAP 1.2 fault code",
        "inSequence[2].makefault.code: a pox fault has no code",
        "inSequence[3].makefault.reason: a fault needs a reason",
        "inSequence[4].makefault.node: only a SOAP 1.2 fault has a node",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn an_address_takes_configuration_keys_but_nothing_computed_per_message() {
    let endpoint = |uri: &str| {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Endpoint\nmetadata: {{name: e}}\nspec:\n  address: {{uri: \"{uri}\", format: soap11}}\n"
        )
    };
    let config = crate::check::ConfigKeys::with(["stock.port"]);
    let run = |yaml: String| {
        let (bundle, mut d) = load(&[Source {
            name: "test.yaml".into(),
            text: yaml,
        }]);
        d.extend(crate::check::check(&bundle, &config).diagnostics);
        d.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    assert_eq!(
        run(endpoint(
            "http://127.0.0.1:${config.stock.port}/services/StockQuote"
        )),
        Vec::<String>::new()
    );
    let d = run(endpoint("http://127.0.0.1/q/${payload.id}"));
    assert!(
        d.len() == 1 && d[0].contains("spec.address.uri: an address is a fixed URL"),
        "{d:?}"
    );
}

#[test]
fn soap_headers_need_a_declared_qualified_name_unless_they_are_ws_addressing_ones() {
    let d = check_flow(
        "        - header: {scope: default, name: 't:Trace', value: x}\n\
         \x20       - header: {scope: default, name: MessageID, value: x}\n\
         \x20       - header: {scope: default, name: Trace, value: x}\n\
         \x20       - header: {scope: default, namespaces: {t: 'urn:t'}, name: 't:Trace', value: x}\n",
    );
    let want = [
        "inSequence[0].header.name: the prefix 't' of \"t:Trace\" is not declared",
        "inSequence[2].header.name: \"Trace\": a SOAP header needs a qualified name",
    ];
    for w in want {
        assert!(d.iter().any(|l| l.contains(w)), "missing {w:?} in {d:#?}");
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn queue_scaling_settings_the_schema_cannot_judge_are_located_errors() {
    let d = check(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata:
  name: orders
spec:
  autoscaling:
    maxReplicas: 4
    queue:
      store: ''
      targetBacklogPerReplica: 0
      prometheusServerAddress: prometheus:9090
",
    );
    assert_eq!(d.len(), 3, "{d:#?}");
    for field in [
        "spec.autoscaling.queue.store",
        "spec.autoscaling.queue.targetBacklogPerReplica",
        "spec.autoscaling.queue.prometheusServerAddress",
    ] {
        assert!(
            d.iter()
                .any(|d| d.contains("IntegrationRuntime/orders")
                    && d.contains(&format!("{field}: "))),
            "{field}: {d:#?}"
        );
    }
}

#[test]
fn tls_to_brokers_and_databases_that_would_not_verify_is_located() {
    let d = check(
        "apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: amqps}
spec:
  type: rabbitmq
  rabbitmq: {host: rabbit, tls: {insecureSkipVerify: true}}
---
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: pg}
spec:
  type: postgres
  postgres: {url: 'postgres://db/x?sslmode=require'}
---
apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {name: db}
spec: {type: mysql, url: 'mysql://db/x', tls: {mode: require}}
---
apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {name: lite}
spec: {type: sqlite, url: 'sqlite:x.db', tls: {}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: limited}
spec:
  context: /limited
  resources:
    - inSequence:
        - throttle:
            id: t
            redis: {url: 'redis://127.0.0.1:6379', tls: {}}
            policy: {rules: [{range: other, maxCount: 1, unitTime: 1000}]}
        - throttle:
            id: u
            redis: {url: 'rediss://127.0.0.1:6379/#insecure'}
            policy: {rules: [{range: other, maxCount: 1, unitTime: 1000}]}
",
    );
    for expected in [
        "MessageStore/amqps spec.rabbitmq.tls.insecureSkipVerify: Ferry never turns",
        "MessageStore/pg spec.postgres.url: the URL's TLS mode require encrypts without verifying",
        "DataSource/db spec.tls.mode: require encrypts without verifying",
        "DataSource/lite spec.tls: a SQLite database is a file",
        "spec.resources[0].inSequence[0].throttle.redis.tls: tls goes with a rediss:// URL",
        "spec.resources[0].inSequence[1].throttle.redis.url: Ferry never turns certificate verification off",
    ] {
        assert!(
            d.iter().any(|l| l.contains(expected)),
            "{expected} in {d:?}"
        );
    }
}

#[test]
fn database_urls_name_their_tls_mode_per_driver() {
    use crate::check::data::{UrlTls, url_tls};
    use crate::resources::DatabaseType::{Mysql, Postgres};
    assert_eq!(url_tls(Postgres, "postgres://h/db"), Ok(UrlTls::Unset));
    assert_eq!(
        url_tls(
            Postgres,
            "postgres://h/db?sslmode=verify-full&sslrootcert=ca.pem"
        ),
        Ok(UrlTls::Verified)
    );
    assert_eq!(
        url_tls(Postgres, "postgres://h/db?sslmode=disable"),
        Ok(UrlTls::Disabled)
    );
    assert!(url_tls(Postgres, "postgres://h/db?sslmode=prefer").is_err());
    assert_eq!(
        url_tls(Mysql, "mysql://h/db?ssl-mode=VERIFY_IDENTITY"),
        Ok(UrlTls::Verified)
    );
    assert!(url_tls(Mysql, "mysql://h/db?ssl-mode=REQUIRED").is_err());
    assert!(url_tls(Mysql, "mysql://h/db?ssl-mode=bogus").is_err());
}
