//! Checks of TestSuite documents against the configuration they test: every case, mock and
//! assertion refers to something that exists and is written in a form `ferry test` can run
//! (expressions parse, regexes compile, exactly one of each "one of"). `ferry validate` and
//! `ferry test` report these; `ferry run` and the operator never read suites.

use std::collections::HashSet;

use crate::bundle::{Bundle, LoadedSuite, Suites};
use crate::diagnostic::Diagnostic;
use crate::expr::Expression;
use crate::resources::Resource;
use crate::resources::test_suite::{
    Body, Expect, Mock, TestCase, TestSuite, TestSuiteSpec, ValueAssertion,
};

/// The scope a property key of a suite names: `NAME` (default), `axis2:NAME`,
/// `transport:NAME`, `operation:NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKeyScope {
    /// The message context.
    Default,
    /// The Axis2 message context (`HTTP_SC`, `messageType`, ...).
    Axis2,
    /// Transport headers.
    Transport,
    /// The operation context.
    Operation,
}

/// Splits a suite's property key into its scope and name; `None` for an unknown scope.
pub fn property_key(key: &str) -> Option<(PropertyKeyScope, &str)> {
    let Some((scope, name)) = key.split_once(':') else {
        return Some((PropertyKeyScope::Default, key));
    };
    let scope = match scope {
        "default" | "synapse" => PropertyKeyScope::Default,
        "axis2" => PropertyKeyScope::Axis2,
        "transport" => PropertyKeyScope::Transport,
        "operation" => PropertyKeyScope::Operation,
        _ => return None,
    };
    (!name.is_empty()).then_some((scope, name))
}

/// The expression a [`ValueAssertion`] reads: `path` as `json-eval(...)`, `xpath` as XPath
/// with its namespaces, `expression` as written. `Err` says why it does not parse (or that
/// not exactly one selector is set).
pub fn assertion_expression(a: &ValueAssertion) -> Result<Expression, String> {
    let namespaces: Vec<(String, String)> = a
        .namespaces
        .iter()
        .map(|(p, u)| (p.clone(), u.clone()))
        .collect();
    match (&a.path, &a.xpath, &a.expression) {
        (Some(path), None, None) => {
            if !path.starts_with('$') {
                return Err(format!("JSONPath \"{path}\" must start with '$'"));
            }
            Expression::parse(&format!("json-eval({path})"))
                .map_err(|e| format!("JSONPath \"{path}\": {}", e.message))
        }
        (None, Some(xpath), None) => {
            if xpath.trim_start().starts_with("${") || xpath.trim_start().starts_with("json-eval") {
                return Err(format!("\"{xpath}\" is not an XPath: use `expression`"));
            }
            Expression::parse_with_namespaces(xpath, &namespaces)
                .map_err(|e| format!("XPath \"{xpath}\": {}", e.message))
        }
        (None, None, Some(expr)) => {
            if !expr.trim_start().starts_with("${") {
                return Err(format!(
                    "\"{expr}\" is not a Synapse expression (`${{...}}`): use `path` for JSONPath, `xpath` for XPath"
                ));
            }
            Expression::parse_with_namespaces(expr, &namespaces)
                .map_err(|e| format!("expression \"{expr}\": {}", e.message))
        }
        _ => Err("set exactly one of path, xpath and expression".to_string()),
    }
}

/// Checks every suite; structural errors found while loading come first.
pub fn check_suites(bundle: &Bundle, suites: &Suites) -> Vec<Diagnostic> {
    let mut out = suites.diagnostics.clone();
    let mut names = HashSet::new();
    for loaded in &suites.suites {
        if !names.insert(loaded.suite.metadata.name.as_str()) {
            out.push(loaded.error(
                "metadata.name",
                format!(
                    "another TestSuite is named \"{}\"",
                    loaded.suite.metadata.name
                ),
            ));
        }
        check_suite(bundle, loaded, &mut out);
    }
    out
}

/// Where a suite's checks report.
struct SuiteCx<'a> {
    bundle: &'a Bundle,
    loaded: &'a LoadedSuite,
    out: &'a mut Vec<Diagnostic>,
}

impl SuiteCx<'_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        let d = self.loaded.error(field, message);
        self.out.push(d);
    }

    fn find(&self, kind: &str, name: &str) -> Option<&Resource> {
        self.bundle
            .resources
            .iter()
            .map(|l| &l.resource)
            .find(|r| r.kind() == kind && (r.name() == name || r.synapse_name() == Some(name)))
    }

    fn known(&self, kind: &str, name: &str) -> bool {
        self.find(kind, name).is_some()
            || self
                .bundle
                .unreadable
                .iter()
                .any(|(k, n)| k == kind && n == name)
    }
}

fn check_suite(bundle: &Bundle, loaded: &LoadedSuite, out: &mut Vec<Diagnostic>) {
    let TestSuite {
        api_version, kind, ..
    } = &loaded.suite;
    debug_assert!(api_version == crate::API_VERSION && kind == "TestSuite");
    let mut cx = SuiteCx {
        bundle,
        loaded,
        out,
    };
    let spec: &TestSuiteSpec = &loaded.suite.spec;
    if spec.timeout == 0 {
        cx.error(
            "spec.timeout",
            "a timeout of 0 ms leaves no time to run a case",
        );
    }
    if spec.cases.is_empty() {
        cx.error("spec.cases", "a suite needs at least one case");
    }
    check_mocks(&mut cx, "spec.mocks", &spec.mocks);
    for (i, store) in spec.memory_stores.iter().enumerate() {
        if !cx.known("MessageStore", store) {
            cx.error(
                &format!("spec.memoryStores[{i}]"),
                format!("message store \"{store}\" is not defined"),
            );
        }
    }
    let mut names = HashSet::new();
    for (i, case) in spec.cases.iter().enumerate() {
        let at = format!("spec.cases[{i}]");
        if case.name.trim().is_empty() {
            cx.error(&format!("{at}.name"), "a case needs a name");
        } else if !names.insert(case.name.as_str()) {
            cx.error(
                &format!("{at}.name"),
                format!("another case of the suite is named \"{}\"", case.name),
            );
        }
        check_case(&mut cx, &at, case, &spec.mocks);
    }
}

fn check_case(cx: &mut SuiteCx<'_>, at: &str, case: &TestCase, suite_mocks: &[Mock]) {
    if case.timeout == Some(0) {
        cx.error(
            &format!("{at}.timeout"),
            "a timeout of 0 ms leaves no time to run the case",
        );
    }
    match (&case.request, &case.sequence) {
        (Some(req), None) => {
            if http::Method::from_bytes(req.method.as_bytes()).is_err() {
                cx.error(
                    &format!("{at}.request.method"),
                    format!("\"{}\" is not an HTTP method", req.method),
                );
            }
            if !req.path.starts_with('/') || http::Uri::try_from(req.path.as_str()).is_err() {
                cx.error(
                    &format!("{at}.request.path"),
                    format!(
                        "\"{}\" is not a request path (it starts with '/')",
                        req.path
                    ),
                );
            }
            check_headers(cx, &format!("{at}.request.headers"), &req.headers);
            if let Some(body) = &req.body {
                check_body(cx, &format!("{at}.request.body"), body);
            }
        }
        (None, Some(seq)) => {
            if !cx.known("Sequence", &seq.name) {
                cx.error(
                    &format!("{at}.sequence.name"),
                    format!("sequence \"{}\" is not defined", seq.name),
                );
            }
            check_headers(cx, &format!("{at}.sequence.headers"), &seq.headers);
            if let Some(body) = &seq.body {
                check_body(cx, &format!("{at}.sequence.body"), body);
            }
            for key in seq.properties.keys() {
                if property_key(key).is_none() {
                    cx.error(
                        &format!("{at}.sequence.properties.{key}"),
                        format!(
                            "\"{key}\": write NAME, or default:, axis2:, transport: or operation: before it"
                        ),
                    );
                }
            }
        }
        (Some(_), Some(_)) => cx.error(at, "set one of request and sequence, not both"),
        (None, None) => cx.error(
            at,
            "a case needs a request (an API resource) or a sequence to run",
        ),
    }
    check_mocks(cx, &format!("{at}.mocks"), &case.mocks);
    let mocked: HashSet<&str> = suite_mocks
        .iter()
        .chain(&case.mocks)
        .map(|m| m.endpoint.as_str())
        .collect();
    check_expect(
        cx,
        &format!("{at}.expect"),
        &case.expect,
        case.sequence.is_some(),
        &mocked,
    );
}

fn check_mocks(cx: &mut SuiteCx<'_>, at: &str, mocks: &[Mock]) {
    let mut seen = HashSet::new();
    for (i, mock) in mocks.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if !seen.insert(mock.endpoint.as_str()) {
            cx.error(
                &format!("{at}.endpoint"),
                format!(
                    "endpoint \"{}\" is mocked twice here: put its rules in one mock",
                    mock.endpoint
                ),
            );
        }
        match cx.find("Endpoint", &mock.endpoint) {
            Some(Resource::Endpoint(ep)) => {
                let types = ep.spec.types();
                if !(types == ["http"] || types == ["address"]) {
                    cx.error(
                        &format!("{at}.endpoint"),
                        format!(
                            "endpoint \"{}\" is a {} endpoint: only http and address endpoints can be mocked (mock the members of a group by their names)",
                            mock.endpoint,
                            types.first().copied().unwrap_or("typeless")
                        ),
                    );
                }
            }
            _ if cx.known("Endpoint", &mock.endpoint) => {}
            _ => cx.error(
                &format!("{at}.endpoint"),
                format!("endpoint \"{}\" is not defined", mock.endpoint),
            ),
        }
        if mock.unreachable && !mock.rules.is_empty() {
            cx.error(
                &format!("{at}.rules"),
                "an unreachable mock answers nothing: leave its rules out",
            );
        } else if !mock.unreachable && mock.rules.is_empty() {
            cx.error(
                &format!("{at}.rules"),
                "a mock needs at least one rule (`- respond: {status: 200}` answers every call)",
            );
        }
        for (j, rule) in mock.rules.iter().enumerate() {
            let at = format!("{at}.rules[{j}]");
            let m = &rule.matches;
            if let Some(method) = &m.method
                && http::Method::from_bytes(method.as_bytes()).is_err()
            {
                cx.error(
                    &format!("{at}.match.method"),
                    format!("\"{method}\" is not an HTTP method"),
                );
            }
            if let Some(path) = &m.path
                && !path.starts_with('/')
            {
                cx.error(
                    &format!("{at}.match.path"),
                    format!("\"{path}\" is not a path (it starts with '/')"),
                );
            }
            if let Some(re) = &m.path_regex
                && let Err(e) = regex::Regex::new(&format!("^(?:{re})$"))
            {
                cx.error(
                    &format!("{at}.match.pathRegex"),
                    format!("invalid regular expression: {e}"),
                );
            }
            if m.path.is_some() && m.path_regex.is_some() {
                cx.error(&format!("{at}.match"), "set one of path and pathRegex");
            }
            if let Some(expr) = &m.body
                && let Err(e) = Expression::parse(expr)
            {
                cx.error(
                    &format!("{at}.match.body"),
                    format!("expression \"{expr}\": {}", e.message),
                );
            }
            let status = rule.respond.status;
            if !(100..=599).contains(&status) {
                cx.error(
                    &format!("{at}.respond.status"),
                    format!("{status} is not an HTTP status (100-599)"),
                );
            }
            check_headers(cx, &format!("{at}.respond.headers"), &rule.respond.headers);
            if let Some(body) = &rule.respond.body {
                check_body(cx, &format!("{at}.respond.body"), body);
            }
        }
    }
}

fn check_headers(
    cx: &mut SuiteCx<'_>,
    at: &str,
    headers: &std::collections::BTreeMap<String, String>,
) {
    for (name, value) in headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            cx.error(
                &format!("{at}.{name}"),
                format!("\"{name}\" is not a header name"),
            );
        } else if http::HeaderValue::from_str(value).is_err() {
            cx.error(
                &format!("{at}.{name}"),
                "the value is not a valid header value",
            );
        }
    }
}

fn check_body(cx: &mut SuiteCx<'_>, at: &str, body: &Body) {
    if body.forms().len() != 1 {
        cx.error(at, "set exactly one of json, xml and text");
    }
    if let Some(xml) = &body.xml
        && let Err(e) = sxd_document::parser::parse(xml)
    {
        cx.error(&format!("{at}.xml"), format!("not well-formed XML: {e}"));
    }
}

fn check_value_assertion(cx: &mut SuiteCx<'_>, at: &str, a: &ValueAssertion) {
    if let Err(message) = assertion_expression(a) {
        cx.error(at, message);
    }
    let conditions = [
        a.equals.is_some(),
        a.contains.is_some(),
        a.matches.is_some(),
        a.exists.is_some(),
    ];
    if conditions.iter().filter(|c| **c).count() != 1 {
        cx.error(
            at,
            "set exactly one of equals, contains, matches and exists",
        );
    }
    if let Some(re) = &a.matches
        && let Err(e) = regex::Regex::new(re)
    {
        cx.error(
            &format!("{at}.matches"),
            format!("invalid regular expression: {e}"),
        );
    }
}

fn check_expect(
    cx: &mut SuiteCx<'_>,
    at: &str,
    expect: &Expect,
    sequence: bool,
    mocked: &HashSet<&str>,
) {
    if let Some(status) = expect.status
        && !(100..=599).contains(&status)
    {
        cx.error(
            &format!("{at}.status"),
            format!("{status} is not an HTTP status (100-599)"),
        );
    }
    check_headers(cx, &format!("{at}.headers"), &expect.headers);
    if let Some(body) = &expect.body {
        check_body(cx, &format!("{at}.body"), body);
    }
    for (i, a) in expect.payload.iter().enumerate() {
        check_value_assertion(cx, &format!("{at}.payload[{i}]"), a);
    }
    if !sequence {
        for (field, set) in [
            ("properties", !expect.properties.is_empty()),
            ("variables", !expect.variables.is_empty()),
            ("fault", expect.fault.is_some()),
        ] {
            if set {
                cx.error(
                    &format!("{at}.{field}"),
                    format!(
                        "{field} are seen only after a sequence case: a request case sees the HTTP answer (status, headers, body, payload)"
                    ),
                );
            }
        }
    }
    for key in expect.properties.keys() {
        if property_key(key).is_none() {
            cx.error(
                &format!("{at}.properties.{key}"),
                format!(
                    "\"{key}\": write NAME, or default:, axis2:, transport: or operation: before it"
                ),
            );
        }
    }
    for (i, log) in expect.logs.iter().enumerate() {
        let at = format!("{at}.logs[{i}]");
        match (&log.contains, &log.matches) {
            (Some(_), None) => {}
            (None, Some(re)) => {
                if let Err(e) = regex::Regex::new(re) {
                    cx.error(
                        &format!("{at}.matches"),
                        format!("invalid regular expression: {e}"),
                    );
                }
            }
            _ => cx.error(&at, "set exactly one of contains and matches"),
        }
        if let Some(level) = &log.level
            && !["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level.as_str())
        {
            cx.error(
                &format!("{at}.level"),
                format!("\"{level}\" is not a level (ERROR, WARN, INFO, DEBUG, TRACE)"),
            );
        }
    }
    for (i, call) in expect.calls.iter().enumerate() {
        let at = format!("{at}.calls[{i}]");
        if !mocked.contains(call.endpoint.as_str()) {
            cx.error(
                &format!("{at}.endpoint"),
                format!(
                    "endpoint \"{}\" is not mocked in this case: only a mock records calls",
                    call.endpoint
                ),
            );
        }
        if let Some(body) = &call.body {
            check_body(cx, &format!("{at}.body"), body);
        }
        for (j, a) in call.payload.iter().enumerate() {
            check_value_assertion(cx, &format!("{at}.payload[{j}]"), a);
        }
    }
    for (i, stored) in expect.stored.iter().enumerate() {
        let at = format!("{at}.stored[{i}]");
        if !cx.known("MessageStore", &stored.store) {
            cx.error(
                &format!("{at}.store"),
                format!("message store \"{}\" is not defined", stored.store),
            );
        }
        for (j, a) in stored.payload.iter().enumerate() {
            check_value_assertion(cx, &format!("{at}.payload[{j}]"), a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Source, load_with_suites};

    fn diagnostics(yaml: &str) -> Vec<String> {
        let (bundle, d, suites) = load_with_suites(&[Source {
            name: "t.yaml".into(),
            text: yaml.into(),
        }]);
        assert!(d.is_empty(), "{d:?}");
        check_suites(&bundle, &suites)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const CONFIG: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: backend}
spec: {http: {uriTemplate: "http://example.invalid/orders"}}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: enrich}
spec: {mediators: [{log: {level: custom, message: hi}}]}
"#;

    #[test]
    fn a_valid_suite_has_no_diagnostics() {
        let yaml = format!(
            "{CONFIG}---\n{}",
            r#"
apiVersion: ferry.dev/v1alpha1
kind: TestSuite
metadata: {name: orders}
spec:
  mocks:
    - endpoint: backend
      rules:
        - match: {method: POST, path: /orders, body: '${payload.id == 1}'}
          respond: {status: 201, body: {json: {ok: true}}}
  cases:
    - name: posts
      request: {method: POST, path: /orders, body: {json: {id: 1}}}
      expect:
        status: 201
        payload: [{path: $.ok, equals: true}]
        calls: [{endpoint: backend, count: 1}]
    - name: sequence
      sequence: {name: enrich, properties: {"axis2:HTTP_SC": 200}}
      expect:
        variables: {x: null}
        logs: [{contains: hi}]
"#
        );
        assert_eq!(diagnostics(&yaml), Vec::<String>::new());
    }

    #[test]
    fn every_dangling_reference_and_bad_form_is_located() {
        let yaml = format!(
            "{CONFIG}---\n{}",
            r#"
apiVersion: ferry.dev/v1alpha1
kind: TestSuite
metadata: {name: broken}
spec:
  mocks:
    - endpoint: nowhere
      rules: []
  cases:
    - name: one
      sequence: {name: missing}
      expect:
        payload: [{path: "doctor", equals: 1}]
        calls: [{endpoint: backend}]
    - name: one
      request: {path: /x}
      expect:
        properties: {a: 1}
        logs: [{matches: "("}]
        stored: [{store: nope}]
"#
        );
        let found = diagnostics(&yaml);
        let expected = [
            "spec.mocks[0].endpoint: endpoint \"nowhere\" is not defined",
            "spec.mocks[0].rules: a mock needs at least one rule",
            "spec.cases[0].sequence.name: sequence \"missing\" is not defined",
            "spec.cases[0].expect.payload[0]: JSONPath \"doctor\" must start with '$'",
            "spec.cases[0].expect.calls[0].endpoint: endpoint \"backend\" is not mocked",
            "spec.cases[1].name: another case of the suite is named \"one\"",
            "spec.cases[1].expect.properties: properties are seen only after a sequence case",
            "spec.cases[1].expect.logs[0].matches: invalid regular expression",
            "spec.cases[1].expect.stored[0].store: message store \"nope\" is not defined",
        ];
        for e in expected {
            assert!(
                found.iter().any(|d| d.contains(e)),
                "missing {e:?} in {found:#?}"
            );
        }
        assert!(found.iter().all(|d| d.starts_with("t.yaml:")), "{found:#?}");
    }

    #[test]
    fn a_suite_is_not_a_resource_of_the_bundle() {
        let yaml = format!(
            "{CONFIG}---\n{}",
            "apiVersion: ferry.dev/v1alpha1\nkind: TestSuite\nmetadata: {name: s}\nspec: {cases: [], bogus: 1}\n"
        );
        let (bundle, d, suites) = load_with_suites(&[Source {
            name: "t.yaml".into(),
            text: yaml,
        }]);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(bundle.resources.len(), 2);
        assert!(suites.suites.is_empty());
        assert!(
            suites.diagnostics[0].to_string().contains("spec.bogus"),
            "{:?}",
            suites.diagnostics
        );
    }

    #[test]
    fn property_keys_name_their_scope() {
        assert_eq!(
            property_key("axis2:HTTP_SC"),
            Some((PropertyKeyScope::Axis2, "HTTP_SC"))
        );
        assert_eq!(property_key("x"), Some((PropertyKeyScope::Default, "x")));
        assert_eq!(property_key("nope:x"), None);
    }
}
