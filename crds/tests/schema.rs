//! The generated CRDs: checked-in files match the Rust types, every schema is structural,
//! printer columns point at real fields, and representative documents of every kind load.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use ferry_api::crd;

fn yaml_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("yaml")
}

#[test]
fn checked_in_crds_match_the_rust_types() {
    let dir = yaml_dir();
    if std::env::var_os("FERRY_BLESS").is_some() {
        crd::write_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, expected) in crd::rendered_files() {
        let actual = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        if actual != expected {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "crds/yaml is out of date ({stale:?}): run `make crds` (or FERRY_BLESS=1 cargo test -p ferry-api --test schema)"
    );
}

// === structural schemas ===

use serde_json::Value;

/// Keywords a `oneOf`/`anyOf`/`allOf`/`not` branch may not set in a structural schema.
const FORBIDDEN_IN_BRANCHES: &[&str] = &[
    "type",
    "description",
    "default",
    "nullable",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
];

/// Checks the Kubernetes structural-schema rules that can be checked locally, collecting
/// every violation as `path: problem`.
fn check_structural(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        problems.push(format!("{path}: a schema must be an object"));
        return;
    };
    for banned in [
        "$ref",
        "$schema",
        "definitions",
        "$defs",
        "uniqueItems",
        "additionalItems",
    ] {
        if obj.contains_key(banned) && !(banned == "uniqueItems" && obj[banned] == false) {
            problems.push(format!("{path}: `{banned}` is not allowed"));
        }
    }
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    let typed = obj
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !typed
        && !flag("x-kubernetes-int-or-string")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        problems.push(format!("{path}: no `type`"));
    }
    if obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        problems.push(format!(
            "{path}: x-kubernetes-preserve-unknown-fields: false is not allowed"
        ));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        problems.push(format!(
            "{path}: both `properties` and `additionalProperties`"
        ));
    }
    if let Some(t) = obj.get("type").and_then(Value::as_str) {
        if obj.contains_key("properties") && t != "object" {
            problems.push(format!("{path}: `properties` on type {t}"));
        }
        if obj.contains_key("items") && t != "array" {
            problems.push(format!("{path}: `items` on type {t}"));
        }
        if t == "array" && !obj.contains_key("items") {
            problems.push(format!("{path}: array without `items`"));
        }
    }
    let outside: Vec<&String> = obj
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    for junction in ["oneOf", "anyOf", "allOf"] {
        for (i, branch) in obj
            .get(junction)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_branch(
                branch,
                &format!("{path}.{junction}[{i}]"),
                &outside,
                obj.contains_key("items"),
                problems,
            );
        }
    }
    if let Some(not) = obj.get("not") {
        check_branch(
            not,
            &format!("{path}.not"),
            &outside,
            obj.contains_key("items"),
            problems,
        );
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let here = format!("{path}.{name}");
            if prop
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
                && !here.starts_with(".metadata")
            {
                problems.push(format!("{here}: no description"));
            }
            check_structural(prop, &here, problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check_structural(items, &format!("{path}[]"), problems);
    }
    if let Some(extra) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        check_structural(extra, &format!("{path}{{}}"), problems);
    }
}

fn check_branch(
    branch: &Value,
    path: &str,
    outside: &[&String],
    has_items: bool,
    problems: &mut Vec<String>,
) {
    let Some(obj) = branch.as_object() else {
        problems.push(format!("{path}: a branch must be an object"));
        return;
    };
    for key in FORBIDDEN_IN_BRANCHES {
        if obj.contains_key(*key) {
            problems.push(format!("{path}: `{key}` inside a logical junction"));
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for name in props.keys() {
            if !outside.contains(&name) {
                problems.push(format!(
                    "{path}: property `{name}` is only declared inside the junction"
                ));
            }
        }
    }
    if obj.contains_key("items") && !has_items {
        problems.push(format!("{path}: `items` only declared inside the junction"));
    }
    for junction in ["oneOf", "anyOf", "allOf"] {
        for (i, inner) in obj
            .get(junction)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_branch(
                inner,
                &format!("{path}.{junction}[{i}]"),
                outside,
                has_items,
                problems,
            );
        }
    }
}

fn schemas() -> Vec<(String, Value)> {
    crd::all()
        .into_iter()
        .map(|c| {
            let name = c.metadata.name.clone().unwrap();
            let value = serde_json::to_value(
                &c.spec.versions[0]
                    .schema
                    .as_ref()
                    .unwrap()
                    .open_api_v3_schema,
            )
            .unwrap();
            (name, value)
        })
        .collect()
}

#[test]
fn every_crd_schema_is_structural() {
    let mut problems = Vec::new();
    for (name, schema) in schemas() {
        let before = problems.len();
        check_structural(&schema, "", &mut problems);
        for p in &mut problems[before..] {
            *p = format!("{name}: {p}");
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Formats kube-apiserver recognizes (k8s.io/apiextensions-apiserver's supported formats);
/// any other makes it warn "unrecognized format" on every apply of the CRD (found with
/// schemars' `uint16`/`uint64` on a real 1.36 API server).
const KUBERNETES_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "datetime",
    "duration",
    "password",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
];

fn unknown_formats(node: &Value, path: &str, found: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(format)) = map.get("format")
                && !KUBERNETES_FORMATS.contains(&format.as_str())
            {
                found.push(format!("{path}: format {format}"));
            }
            for (key, child) in map {
                unknown_formats(child, &format!("{path}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                unknown_formats(child, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_format_is_one_the_api_server_recognizes() {
    let mut found = Vec::new();
    for (name, schema) in schemas() {
        unknown_formats(&schema, &name, &mut found);
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_checker_catches_non_structural_schemas() {
    let bad = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"description": "untyped"},
            "b": {"description": "ref", "$ref": "#/x", "type": "object"},
            "c": {"description": "branch", "type": "object", "properties": {"x": {"type": "string", "description": "x"}},
                  "oneOf": [{"properties": {"y": {"type": "string"}}}, {"type": "object", "required": ["x"]}]},
            "d": {"type": "string"}
        }
    });
    let mut problems = Vec::new();
    check_structural(&bad, "", &mut problems);
    let text = problems.join("\n");
    assert!(text.contains(".a: no `type`"), "{text}");
    assert!(text.contains(".b: `$ref` is not allowed"), "{text}");
    assert!(
        text.contains("property `y` is only declared inside the junction"),
        "{text}"
    );
    assert!(
        text.contains(".c.oneOf[1]: `type` inside a logical junction"),
        "{text}"
    );
    assert!(text.contains(".d: no description"), "{text}");
}

#[test]
fn crds_fit_the_api_servers_size_limits() {
    // kubectl's client-side apply keeps the whole object in a 256 KiB annotation; etcd's
    // hard limit is 1.5 MiB. Staying under the first keeps `kubectl apply` working.
    for crd in crd::all() {
        let size = serde_json::to_vec(&crd).unwrap().len();
        assert!(size < 256 * 1024, "{:?} is {size} bytes", crd.metadata.name);
    }
}

#[test]
fn top_level_mediator_lists_carry_the_full_schema_and_nested_ones_are_cut() {
    let (_, api) = schemas()
        .into_iter()
        .find(|(n, _)| n == "integrationapis.ferry.dev")
        .unwrap();
    let items = &api["properties"]["spec"]["properties"]["resources"]["items"]["properties"]["inSequence"]
        ["items"];
    assert_eq!(items["type"], "object");
    assert!(
        items["properties"]["payloadFactory"]["properties"]["format"]["description"].is_string()
    );
    let nested = &items["properties"]["filter"]["properties"]["then"];
    assert_eq!(nested["type"], "array");
    assert_eq!(
        nested["items"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(
        items["oneOf"].as_array().unwrap().len(),
        ferry_api::mediator::MEDIATORS.len()
    );
}

// === printer columns and scale paths ===

/// Follows a printer-column JSONPath (`.spec.a`, `.status.conditions[?(@.type=="X")].status`)
/// through the schema; `metadata` is Kubernetes' own and always accepted.
fn resolve(schema: &Value, json_path: &str) -> Result<(), String> {
    let mut node = schema;
    let mut rest = json_path.strip_prefix('.').ok_or("must start with `.`")?;
    if rest.starts_with("metadata.") {
        return Ok(());
    }
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        node = node
            .get("properties")
            .and_then(|p| p.get(name))
            .ok_or_else(|| format!("no field `{name}`"))?;
        rest = &rest[end..];
        if rest.starts_with('[') {
            let close = rest.find(']').ok_or("unclosed `[`")?;
            node = node
                .get("items")
                .ok_or_else(|| format!("`{name}` is not a list"))?;
            rest = &rest[close + 1..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Ok(())
}

#[test]
fn printer_columns_and_scale_paths_point_at_schema_fields() {
    for crd in crd::all() {
        let version = &crd.spec.versions[0];
        let schema =
            serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema).unwrap();
        let columns = version
            .additional_printer_columns
            .clone()
            .unwrap_or_default();
        assert!(
            !columns.is_empty(),
            "{:?} has no printer columns",
            crd.metadata.name
        );
        let mut paths: Vec<String> = columns.iter().map(|c| c.json_path.clone()).collect();
        if let Some(scale) = version.subresources.as_ref().and_then(|s| s.scale.as_ref()) {
            paths.push(scale.spec_replicas_path.clone());
            paths.push(scale.status_replicas_path.clone());
            paths.extend(scale.label_selector_path.clone());
        }
        for path in paths {
            if let Err(e) = resolve(&schema, &path) {
                panic!("{:?}: {path}: {e}", crd.metadata.name);
            }
        }
    }
}

#[test]
fn the_path_resolver_rejects_missing_fields() {
    let schema = serde_json::json!({"properties": {"status": {"properties": {"conditions": {"items": {"properties": {"status": {}}}}}}}});
    assert!(resolve(&schema, ".status.conditions[?(@.type==\"Ready\")].status").is_ok());
    assert_eq!(
        resolve(&schema, ".status.replicas"),
        Err("no field `replicas`".to_string())
    );
    assert!(resolve(&schema, ".status.conditions.x").is_err());
}

#[test]
fn every_kind_has_its_short_name_the_ferry_category_and_a_status_subresource() {
    let expected = [
        ("IntegrationAPI", "iapi"),
        ("ProxyService", "proxy"),
        ("Sequence", "seq"),
        ("Endpoint", "ep"),
        ("MessageStore", "mstore"),
        ("MessageProcessor", "mproc"),
        ("ScheduledTask", "stask"),
        ("LocalEntry", "lentry"),
        ("Template", "tmpl"),
        ("InboundEndpoint", "inbound"),
        ("IntegrationRuntime", "irt"),
        ("DataSource", "dsrc"),
        ("DataService", "dss"),
    ];
    let crds = crd::all();
    assert_eq!(crds.len(), expected.len());
    for (crd, (kind, short)) in crds.iter().zip(expected) {
        assert_eq!(crd.spec.group, ferry_api::GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, kind);
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_string()][..])
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["ferry".to_string()][..])
        );
        assert_eq!(crd.spec.versions[0].name, ferry_api::VERSION);
        assert!(
            crd.spec.versions[0]
                .subresources
                .as_ref()
                .unwrap()
                .status
                .is_some()
        );
    }
    let irt = &crds[10].spec.versions[0]
        .subresources
        .as_ref()
        .unwrap()
        .scale
        .as_ref()
        .unwrap();
    assert_eq!(irt.spec_replicas_path, ".spec.replicas");
    assert_eq!(irt.label_selector_path.as_deref(), Some(".status.selector"));
}

#[test]
fn generated_yaml_reads_back_as_the_same_crds() {
    let crds = crd::all();
    let text = crd::to_yaml(&crds);
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(docs.len(), crds.len());
    for (doc, crd) in docs.iter().zip(&crds) {
        assert_eq!(yaml_to_json(doc), serde_json::to_value(crd).unwrap());
    }
}

fn yaml_to_json(y: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(r) => serde_json::from_str(r).unwrap(),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), yaml_to_json(v)))
                .collect(),
        ),
        Yaml::Null => Value::Null,
        other => panic!("unexpected YAML node {other:?}"),
    }
}

#[test]
fn the_editor_schema_selects_each_kind_and_recurses_through_definitions() {
    let schema = crd::editor_json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let branches = schema["allOf"].as_array().unwrap();
    // Every kind, and the TestSuite document `ferry test` reads.
    let kinds: Vec<&str> = ferry_api::resources::KINDS
        .iter()
        .copied()
        .chain(["TestSuite"])
        .collect();
    assert_eq!(branches.len(), kinds.len());
    for (branch, kind) in branches.iter().zip(&kinds) {
        assert_eq!(branch["if"]["properties"]["kind"]["const"], *kind);
        let target = branch["then"]["$ref"].as_str().unwrap();
        let name = target.strip_prefix("#/definitions/").unwrap();
        assert!(
            schema["definitions"][name].is_object(),
            "{target} is not defined"
        );
    }
    // Nested lists refer back to the mediator list rather than being cut.
    let filter = &schema["definitions"]["FilterSpec"]["properties"]["then"];
    assert!(
        filter.to_string().contains("#/definitions/Mediator"),
        "{filter}"
    );
    // Every $ref resolves.
    let text = schema.to_string();
    for part in text.split("\"$ref\":\"#/definitions/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(
            schema["definitions"][name].is_object(),
            "dangling $ref {name}"
        );
    }
}

// === documents of every kind ===

use ferry_api::mediator::Mediator;
use ferry_api::resources::{self, Resource};

/// Loads a YAML document the way the bundle loader does: YAML to JSON value, then
/// `Resource::from_value` on its kind.
fn load(text: &str) -> Result<Resource, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).unwrap();
    let value = yaml_to_json(&docs[0]);
    let kind = value["kind"].as_str().unwrap().to_string();
    Resource::from_value(&kind, value).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

const HEALTHCARE: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: healthcare}
spec:
  context: /healthcare
  resources:
    - methods: [POST]
      uriTemplate: /categories/{category}/reserve
      inSequence:
        - variable: {name: hospital, expression: "${payload.hospital}"}
        - switch:
            source: "${var.hospital}"
            cases:
              - regex: grand oak community hospital
                sequence:
                  - call: {endpoint: {key: GrandOakEP}}
            default:
              - payloadFactory: {mediaType: json, format: '{"error": "unknown hospital ${var.hospital}"}'}
              - property: {name: HTTP_SC, scope: axis2, value: "400"}
        - respond: {}
"#;

const GRAND_OAK: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: GrandOakEP}
spec:
  http:
    uriTemplate: "http://127.0.0.1:${config.http.port}/grandoak/categories/{uri.var.category}/reserve"
    method: post
  timeout: {duration: 30000, responseAction: fault}
"#;

#[test]
fn the_healthcare_sample_loads() {
    let Resource::IntegrationApi(api) = load(HEALTHCARE).unwrap() else {
        panic!("wrong kind")
    };
    assert_eq!(api.spec.context, "/healthcare");
    assert_eq!(api.spec.runtime, "default");
    let resource = &api.spec.resources[0];
    assert_eq!(resource.methods, vec![resources::ApiMethod::Post]);
    assert_eq!(resource.in_sequence.len(), 3);
    let Mediator::Switch(switch) = &resource.in_sequence[1] else {
        panic!("not a switch")
    };
    let Mediator::Call(call) = &switch.cases[0].sequence[0] else {
        panic!("not a call")
    };
    assert_eq!(
        call.endpoint.as_ref().unwrap().key.as_deref(),
        Some("GrandOakEP")
    );
    assert!(call.endpoint.as_ref().unwrap().inline().is_none());
    let Mediator::Property(p) = &switch.default[1] else {
        panic!("not a property")
    };
    assert_eq!(p.scope, ferry_api::mediator::PropertyScope::Axis2);

    let Resource::Endpoint(ep) = load(GRAND_OAK).unwrap() else {
        panic!("wrong kind")
    };
    assert_eq!(ep.spec.types(), vec!["http"]);
    assert_eq!(
        ep.spec.http.as_ref().unwrap().method,
        Some(resources::HttpMethod::Post)
    );
    let timeout = ep.spec.timeout.as_ref().unwrap();
    assert_eq!(
        (timeout.duration, timeout.response_action),
        (Some(30000), resources::ResponseAction::Fault)
    );
}

#[test]
fn a_document_of_every_kind_loads_and_round_trips() {
    let documents = [
        HEALTHCARE,
        GRAND_OAK,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: hospital-route}
spec:
  runtime: payments
  onError: route-fault
  mediators:
    - log: {level: custom, message: "routing ${var.h}"}
    - filter:
        expression: "${payload.urgent == true}"
        then: [{call: {endpoint: {failover: {endpoints: [{key: primary}, {key: backup}]}}}}]
        else: [{store: {messageStore: pending}}]
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: MessageStore
metadata: {name: pending}
spec:
  type: rabbitmq
  rabbitmq:
    host: rabbitmq.infra
    queue: pending
    passwordFrom: {secretKeyRef: {name: rabbit, key: password}}
  failoverStore: pending-local
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: MessageProcessor
metadata: {name: pending-forwarder}
spec:
  type: forwarding
  messageStore: pending
  targetEndpoint: settle-payment
  maxDeliveryAttempts: -1
  nonRetryStatusCodes: [400, 404]
  throttle: {interval: 500}
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata: {name: heartbeat}
spec:
  trigger: {interval: 5000, count: 10}
  message: {payload: '{"ping": true}'}
  inject: {api: healthcare, path: /health, method: GET}
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: ProxyService
metadata: {name: stock-quote, annotations: {ferry.dev/synapse-name: StockQuoteProxy}}
spec:
  transports: [http]
  target:
    inSequence: [{log: {level: full}}]
    endpoint: {key: stock}
    outSequence: [{respond: {}}]
  wsdl: {inline: "<definitions/>"}
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: LocalEntry
metadata: {name: order-schema, annotations: {ferry.dev/synapse-name: OrderSchema}}
spec:
  json: {type: object, required: [id]}
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: Template
metadata: {name: greet, annotations: {ferry.dev/synapse-name: GreetTemplate}}
spec:
  parameters: [{name: who, isMandatory: true}, {name: greeting, defaultValue: Hello}]
  mediators: [{log: {message: "${params.functionParams.greeting}"}}]
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata: {name: orders-in}
spec:
  protocol: rabbitmq
  sequence: hospital-route
  onError: route-fault
  sequential: false
  rabbitmq:
    host: rabbitmq.infra
    queue: orders
    passwordFrom: {secretKeyRef: {name: rabbit, key: password}}
    username: ferry
    declareQueue: {deadLetterExchange: orders-dlx}
    exchange: {name: orders, type: topic, routingKey: 'orders.#'}
    onFault: reject
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: payments}
spec:
  replicas: 3
  resources: {requests: {cpu: 100m, memory: 64Mi}}
  autoscaling: {maxReplicas: 6, targetCPUUtilizationPercentage: 70}
  podDisruptionBudget: {minAvailable: 50%}
  env: [{name: RUST_LOG, value: info}]
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {name: clinic-db}
spec:
  type: postgres
  url: postgres://clinic@db:5432/clinic
  passwordFrom: {secretKeyRef: {name: clinic-db, key: password}}
  pool: {maxConnections: 20, acquireTimeoutMs: 2000}
  readinessCheck: true
"#,
        r#"
apiVersion: ferry.dev/v1alpha1
kind: DataService
metadata: {name: clinic}
spec:
  dataSource: clinic-db
  outputType: xml
  queries:
    - name: doctorById
      sql: SELECT id, name FROM doctors WHERE id = :id
      params: [{name: id, type: integer, minimum: 1}]
      result: {element: doctors, rowName: doctor, columns: [{column: name, name: doctorName}]}
  resources:
    - {method: GET, path: "/doctors/{id}", query: doctorById, notFound: true}
"#,
    ];
    let mut kinds = Vec::new();
    for text in documents {
        let resource = load(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        kinds.push(resource.kind());
        let value = serde_json::to_value(&resource).unwrap();
        let again = Resource::from_value(resource.kind(), value).unwrap();
        assert_eq!(again, resource, "{} does not round-trip", resource.kind());
    }
    kinds.sort();
    let mut all = resources::KINDS.to_vec();
    all.sort();
    assert_eq!(kinds, all);
}

#[test]
fn defaults_are_filled_in_when_fields_are_left_out() {
    let Resource::MessageProcessor(p) = load(
        "apiVersion: ferry.dev/v1alpha1\nkind: MessageProcessor\nmetadata: {name: p}\nspec: {type: sampling, messageStore: s, sequence: q}",
    )
    .unwrap() else { panic!() };
    let s = &p.spec;
    assert_eq!(
        (s.interval, s.client_retry_interval, s.max_delivery_attempts),
        (1000, 1000, 4)
    );
    assert!(s.active && !s.drop_message_after_max_delivery_attempts);
    assert_eq!(s.max_store_connection_attempts, -1);
    let Resource::IntegrationRuntime(r) =
        load("apiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {name: default}\nspec: {}").unwrap()
    else { panic!() };
    assert_eq!(
        (r.spec.replicas, r.spec.http_port, r.spec.admin_port),
        (1, 8290, 9201)
    );
    assert_eq!(r.spec.mode, resources::RuntimeMode::Deployment);
    let Resource::MessageStore(m) =
        load("apiVersion: ferry.dev/v1alpha1\nkind: MessageStore\nmetadata: {name: m}\nspec: {}")
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(m.spec.type_, resources::StoreType::Sqlite);
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let cases = [
        (
            HEALTHCARE.replace("uriTemplate:", "uriTemplat:"),
            "spec.resources[0].uriTemplat",
        ),
        (
            HEALTHCARE.replace("regex: grand", "regexp: grand"),
            "spec.resources[0].inSequence[1].switch.cases[0].regexp",
        ),
        (
            GRAND_OAK.replace("responseAction", "onTimeout"),
            "spec.timeout.onTimeout",
        ),
        (
            GRAND_OAK.replace("method: post", "method: fetch"),
            "spec.http.method",
        ),
    ];
    for (text, path) in cases {
        let err = load(&text).unwrap_err();
        assert!(
            err.starts_with(&format!("{path}:")),
            "expected an error at {path}, got {err}"
        );
    }
}

#[test]
fn an_unknown_kind_is_an_error_at_kind() {
    let err = Resource::from_value("Proxy", serde_json::json!({"kind": "Proxy"})).unwrap_err();
    assert_eq!(err.path().to_string(), "kind");
    assert!(
        err.inner().to_string().contains("unknown variant `Proxy`"),
        "{}",
        err.inner()
    );
}

#[test]
fn helm_chart_ships_the_same_crds_as_crds_yaml() {
    // The chart installs CRDs from its own `crds/` folder (Helm cannot reach outside the
    // chart), so the copy must track the generated files or `helm install` ships stale schemas.
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/ferry/crds");
    let mut stale = Vec::new();
    for (name, expected) in crd::rendered_files() {
        if !name.ends_with(".ferry.dev.yaml") {
            continue;
        }
        let actual = std::fs::read_to_string(chart.join(&name)).unwrap_or_default();
        if actual != expected {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "charts/ferry/crds is out of date ({stale:?}): run `make crds`"
    );
}
