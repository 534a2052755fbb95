//! `ferry test`: the bundled samples' suites pass (so `make test` runs them); a suite that
//! fails prints a readable diff and exits 1; a mock no rule of which matches names the call;
//! a case that takes too long times out; an invalid suite stops the run (exit 2) and is
//! located by `ferry validate`, while `ferry run` ignores it; JUnit XML has what the JUnit
//! schema requires; coverage lists what was not exercised; `--no-mocks` calls the real
//! backend.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::{Command, Output};

use ferry_tests::backend::Reply;
use ferry_tests::{Backend, Ferry, client, ferry_bin, validate, workspace_root};

fn ferry_test(args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .arg("test")
        .args(args)
        .output()
        .expect("ferry runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An orders API calling a backend endpoint, with a switch to cover.
const CONFIG: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: backend}
spec:
  http: {uriTemplate: "http://127.0.0.1:${config.backend.port}/orders", method: post}
  timeout: {duration: 3000, responseAction: fault}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: orders}
spec:
  context: /orders
  resources:
    - methods: [POST]
      uriTemplate: /
      inSequence:
        - log: {level: custom, message: "order ${payload.id} received"}
        - switch:
            source: ${payload.kind}
            cases:
              - regex: express
                sequence:
                  - call: {endpoint: {key: backend}}
            default:
              - payloadFactory: {mediaType: json, format: '{"queued": ${payload.id}}'}
        - respond: {}
"#;

/// Writes CONFIG and a suite into a fresh folder.
fn project(suite: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.yaml"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/orders-test.yaml"), suite).unwrap();
    dir
}

const SUITE_HEAD: &str = r#"apiVersion: ferry.dev/v1alpha1
kind: TestSuite
metadata: {name: orders}
spec:
  config: {backend.port: "1"}
  mocks:
    - endpoint: backend
      rules:
        - match: {method: POST, path: /orders, body: '${payload.id == 1}'}
          respond: {status: 201, body: {json: {id: 1, state: accepted}}}
        - match: {method: POST, path: /orders, body: '${payload.id == 9}'}
          respond: {delay: 2000, body: {json: {id: 9}}}
  cases:
"#;

fn suite(cases: &str) -> String {
    format!("{SUITE_HEAD}{cases}")
}

const PASSING: &str = r#"
    - name: an express order goes to the backend
      request: {method: POST, path: /orders, body: {json: {id: 1, kind: express}}}
      expect:
        status: 201
        body: {json: {id: 1, state: accepted}}
        logs: [{contains: "order 1 received", level: INFO}]
        calls:
          - endpoint: backend
            count: 1
            payload: [{path: $.kind, equals: express}]
    - name: another order is queued without a call
      request: {method: POST, path: /orders, body: {json: {id: 2, kind: slow}}}
      expect:
        status: 200
        payload: [{path: $.queued, equals: 2}]
        calls: [{endpoint: backend, count: 0}]
"#;

#[test]
fn the_bundled_samples_suites_pass_with_junit_and_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let samples = workspace_root().join("config/samples");
    let out = ferry_test(&[
        samples.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--coverage",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    for suite in [
        "healthcare-routes",
        "healthcare-faults",
        "healthcare-store-and-forward",
    ] {
        assert!(
            stdout.contains(&format!("PASS  {suite} / ")),
            "{suite}: {stdout}"
        );
    }
    assert!(stdout.contains("coverage:"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let cases = check_junit(&xml);
    assert_eq!(
        cases,
        stdout.lines().filter(|l| l.starts_with("PASS  ")).count()
    );
}

#[test]
fn a_broken_healthcare_sample_is_caught_by_its_own_suite_with_a_diff() {
    let sample = workspace_root().join("config/samples/healthcare");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    for sub in ["", "tests"] {
        for entry in std::fs::read_dir(sample.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let mut text = std::fs::read_to_string(&path).unwrap();
            if path.file_name().unwrap() == "book-appointment.yaml" {
                // The hospital no longer learns the patient's social security number.
                let from = "\"ssn\": \"${payload.ssn}\",";
                assert!(text.contains(from));
                text = text.replacen(from, "", 1);
            }
            std::fs::write(dir.path().join(sub).join(path.file_name().unwrap()), text).unwrap();
        }
    }
    let out = ferry_test(&[
        dir.path().to_str().unwrap(),
        "--filter",
        "healthcare-routes",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("call 0 to \"grand-oak-ep\" body: the JSON differs (- expected, + actual)"),
        "{stdout}"
    );
    assert!(stdout.contains("-     \"ssn\": \"234-23-525\""), "{stdout}");
    assert!(
        stdout.contains(
            "call 0 to \"grand-oak-ep\" $.patient.ssn: expected \"234-23-525\", got nothing"
        ),
        "{stdout}"
    );
}

#[test]
fn a_passing_suite_exits_0_and_prints_a_line_per_case() {
    let dir = project(&suite(PASSING));
    let out = ferry_test(&[dir.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("PASS  orders / an express order goes to the backend ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS  orders / another order is queued without a call ("),
        "{stdout}"
    );
    assert!(stdout.contains("2 cases: 2 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_failing_case_exits_1_with_its_location_and_a_diff() {
    let dir = project(&suite(
        r#"
    - name: the backend's answer is passed on
      request: {method: POST, path: /orders, body: {json: {id: 1, kind: express}}}
      expect:
        status: 200
        body: {json: {id: 1, state: rejected}}
        payload: [{path: $.state, matches: "^rej"}]
"#,
    ));
    let out = ferry_test(&[dir.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL  orders / the backend's answer is passed on ("),
        "{stdout}"
    );
    assert!(stdout.contains("tests/orders-test.yaml:"), "{stdout}");
    assert!(stdout.contains("status: expected 200, got 201"), "{stdout}");
    assert!(
        stdout.contains("body: the JSON differs (- expected, + actual)"),
        "{stdout}"
    );
    assert!(stdout.contains("-   \"state\": \"rejected\""), "{stdout}");
    assert!(stdout.contains("+   \"state\": \"accepted\""), "{stdout}");
    assert!(
        stdout.contains("payload $.state: expected it to match /^rej/, got \"accepted\""),
        "{stdout}"
    );
    // The case's log lines come with a failure.
    assert!(stdout.contains("order 1 received"), "{stdout}");
    assert!(stdout.contains("1 case: 0 passed, 1 failed"), "{stdout}");
}

#[test]
fn a_call_no_mock_rule_matches_fails_the_case_naming_the_call() {
    let dir = project(&suite(
        r#"
    - name: an order the mock does not know
      request: {method: POST, path: /orders, body: {json: {id: 5, kind: express}}}
      expect:
        status: 501
"#,
    ));
    let out = ferry_test(&[dir.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("mock of endpoint \"backend\": no rule matches the call POST /orders"),
        "{stdout}"
    );
    assert!(
        stdout.contains("body: {\"id\":5,\"kind\":\"express\"}"),
        "{stdout}"
    );
}

#[test]
fn a_case_that_takes_too_long_times_out() {
    let dir = project(&suite(
        r#"
    - name: a slow backend
      timeout: 300
      request: {method: POST, path: /orders, body: {json: {id: 9, kind: express}}}
      expect:
        status: 200
"#,
    ));
    let out = ferry_test(&[dir.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("timed out after 300 ms while waiting for the answer"),
        "{stdout}"
    );
    // The mock's 2 s delay is not waited for: the case ends at its timeout.
    let line = stdout.lines().find(|l| l.starts_with("FAIL  ")).unwrap();
    let ms: u64 = line
        .split(" (")
        .nth(1)
        .and_then(|rest| rest.split(" ms)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line:?}"));
    assert!((300..1500).contains(&ms), "{line}");
}

#[test]
fn an_invalid_suite_stops_the_run_and_validate_locates_it_while_run_ignores_it() {
    let dir = project(&suite(
        r#"
    - name: a case with a typo
      request: {method: POST, path: /orders}
      expect:
        calls: [{endpoint: nowhere, count: 1}]
        properties: {x: 1}
"#,
    ));
    let out = ferry_test(&[dir.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("no case ran"), "{stderr}");
    let located = "orders-test.yaml:";
    assert!(
        stdout.contains(located)
            && stdout.contains(
                "TestSuite/orders spec.cases[0].expect.calls[0].endpoint: endpoint \"nowhere\" is not mocked"
            ),
        "{stdout}"
    );
    let out = validate(&[dir.path()]);
    let (vout, verr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{vout}{verr}");
    assert!(
        vout.contains(
            "spec.cases[0].expect.properties: properties are seen only after a sequence case"
        ),
        "{vout}"
    );
    // `ferry run` serves the configuration: a suite is not configuration.
    let ferry = Ferry::start(&[dir.path()], &["--set", "backend.port=1"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        client()
            .post(ferry.url("/orders"))
            .header("Content-Type", "application/json")
            .body(r#"{"id": 3}"#)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 200);
}

#[test]
fn coverage_lists_what_the_cases_did_not_exercise() {
    let dir = project(&suite(
        r#"
    - name: only the default branch
      request: {method: POST, path: /orders, body: {json: {id: 2}}}
      expect: {status: 200}
"#,
    ));
    let out = ferry_test(&[dir.path().to_str().unwrap(), "--coverage"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let table: HashMap<&str, &str> = stdout
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            ["resources", "sequences", "branches", "fault sequences"]
                .into_iter()
                .find(|k| l.starts_with(k) && l.contains('%'))
                .map(|k| (k, l[k.len()..].trim()))
        })
        .collect();
    assert!(table["resources"].starts_with("1/1 "), "{stdout}");
    assert!(table["branches"].starts_with("1/2 "), "{stdout}");
    assert!(
        stdout.contains("branches        IntegrationAPI/orders switch #1 case \"express\""),
        "{stdout}"
    );
}

#[test]
fn without_mocks_the_real_backend_is_called() {
    let backend = Backend::start(|_| Reply::json(serde_json::json!({"id": 1, "state": "real"})));
    let dir = project(&suite(
        r#"
    - name: the real backend answers
      request: {method: POST, path: /orders, body: {json: {id: 1, kind: express}}}
      expect:
        payload: [{path: $.state, equals: real}]
        calls: [{endpoint: backend, count: 1}]
"#,
    ));
    let port = format!("backend.port={}", backend.port());
    // The suite's own configuration would win over --set: point it at the backend.
    let text_of_suite = std::fs::read_to_string(dir.path().join("tests/orders-test.yaml"))
        .unwrap()
        .replace(
            "backend.port: \"1\"",
            &format!("backend.port: \"{}\"", backend.port()),
        );
    std::fs::write(dir.path().join("tests/orders-test.yaml"), text_of_suite).unwrap();
    let out = ferry_test(&[dir.path().to_str().unwrap(), "--no-mocks", "--set", &port]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("note: calls to \"backend\" not checked: mocks are off (--no-mocks)"),
        "{stdout}"
    );
    assert_eq!(backend.requests().len(), 1);
}

// === JUnit XML ===

/// An element of the parsed report.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: HashMap<String, String>,
    children: Vec<Element>,
}

fn parse_xml(xml: &str) -> Element {
    use quick_xml::events::{BytesStart, Event};
    fn element(e: &BytesStart<'_>) -> Element {
        Element {
            name: e.name().into_inner().to_string(),
            attributes: e
                .attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        a.key.into_inner().to_string(),
                        quick_xml::escape::unescape(&a.value).unwrap().into_owned(),
                    )
                })
                .collect(),
            children: Vec::new(),
        }
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(element(&e)),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced XML");
    stack.pop().unwrap().children.pop().unwrap()
}

/// Checks the report against what the JUnit schema (Ant's `junit-10.xsd`, which Jenkins,
/// GitLab and GitHub reporters read) requires: `testsuites` of `testsuite`s with name,
/// tests, failures, errors, time, timestamp, hostname, id and package; their children in
/// the order properties, testcase*, system-out, system-err; each `testcase` with name,
/// classname and time; each `failure` with a type; counts that add up. Returns the number
/// of test cases.
fn check_junit(xml: &str) -> usize {
    let root = parse_xml(xml);
    assert_eq!(root.name, "testsuites");
    let number = |el: &Element, attr: &str| -> f64 {
        el.attributes
            .get(attr)
            .unwrap_or_else(|| panic!("{} has no {attr}", el.name))
            .parse()
            .unwrap_or_else(|_| panic!("{}.{attr} is not a number", el.name))
    };
    let mut total = 0;
    assert!(!root.children.is_empty());
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite");
        for attr in ["name", "timestamp", "hostname", "id", "package"] {
            assert!(
                suite.attributes.contains_key(attr),
                "testsuite has no {attr}"
            );
        }
        let ts = &suite.attributes["timestamp"];
        assert!(
            ts.len() == 19 && ts.as_bytes()[10] == b'T' && ts.as_bytes()[4] == b'-',
            "timestamp {ts} is not an xs:dateTime without zone"
        );
        let names: Vec<&str> = suite.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"properties"), "{names:?}");
        assert_eq!(
            names[names.len() - 2..],
            ["system-out", "system-err"],
            "{names:?}"
        );
        let cases: Vec<&Element> = suite
            .children
            .iter()
            .filter(|c| c.name == "testcase")
            .collect();
        assert_eq!(cases.len(), names.len() - 3, "{names:?}");
        assert_eq!(number(suite, "tests") as usize, cases.len());
        assert_eq!(number(suite, "errors"), 0.0);
        number(suite, "time");
        let mut failures = 0;
        for case in &cases {
            for attr in ["name", "classname"] {
                assert!(case.attributes.contains_key(attr), "testcase has no {attr}");
            }
            number(case, "time");
            for child in &case.children {
                assert!(
                    ["failure", "error", "skipped", "system-out", "system-err"]
                        .contains(&child.name.as_str()),
                    "{}",
                    child.name
                );
                if child.name == "failure" {
                    assert!(child.attributes.contains_key("type"));
                    failures += 1;
                }
            }
        }
        assert_eq!(number(suite, "failures") as usize, failures);
        total += cases.len();
    }
    assert_eq!(number(&root, "tests") as usize, total);
    total
}

#[test]
fn junit_of_a_failing_run_has_a_failure_element_per_failed_case() {
    let dir = project(&suite(&format!(
        "{PASSING}{}",
        r#"
    - name: a wrong status
      request: {method: POST, path: /orders, body: {json: {id: 2}}}
      expect: {status: 418}
"#
    )));
    let junit = dir.path().join("report.xml");
    let out = ferry_test(&[
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(check_junit(&xml), 3);
    let root = parse_xml(&xml);
    assert_eq!(root.attributes["failures"], "1");
    let failed = root.children[0]
        .children
        .iter()
        .find(|c| c.attributes.get("name").map(String::as_str) == Some("a wrong status"))
        .unwrap();
    let failure = failed
        .children
        .iter()
        .find(|c| c.name == "failure")
        .unwrap();
    assert_eq!(
        failure.attributes["message"],
        "status: expected 418, got 200"
    );
}
