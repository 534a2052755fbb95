//! `ferry validate`: every bundled sample is valid; a broken copy gets located errors.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ferry_tests::{validate, workspace_root};

#[test]
fn every_bundled_sample_validates() {
    let samples = workspace_root().join("config/samples");
    let out = validate(&[&samples]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("valid"), "{stderr}");
}

/// The variants need a broker or a server to run, never to validate: each folder is checked
/// on its own, as `ferry run config/variants/<name>` loads it (the healthcare one beside
/// the sample it completes). database-tls names the CA file its script makes: here a copy
/// of it names one made by the test, and the https one's CA variable holds that CA.
#[test]
fn every_variant_validates() {
    let root = workspace_root();
    let healthcare = root.join("config/samples/healthcare");
    let made = tempfile::tempdir().unwrap();
    let ca = made.path().join("ca.crt");
    let ca_pem = ferry_tests::tls::TestCa::new("variant CA").cert;
    std::fs::write(&ca, &ca_pem).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("config/variants")).unwrap() {
        let mut variant = entry.unwrap().path();
        if variant.ends_with("database-tls") {
            let copy = made.path().join("database-tls");
            std::fs::create_dir(&copy).unwrap();
            let text = std::fs::read_to_string(variant.join("orders.yaml")).unwrap();
            let text = text.replace("/tmp/ferry-database-tls/ca.crt", &ca.display().to_string());
            std::fs::write(copy.join("orders.yaml"), text).unwrap();
            variant = copy;
        }
        let mut paths = vec![variant.clone()];
        if variant.ends_with("healthcare-rabbitmq") {
            for file in [
                "book-appointment",
                "endpoints",
                "healthcare-api",
                "hospitals",
                "payments",
            ] {
                paths.push(healthcare.join(format!("{file}.yaml")));
            }
        }
        // The https variant reads its CA from SAMPLE_CA, as its comment shows.
        let out = std::process::Command::new(ferry_tests::ferry_bin())
            .arg("validate")
            .args(&paths)
            .env("SAMPLE_CA", &ca_pem)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: {stdout}{stderr}",
            variant.display()
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} variants");
}

#[test]
fn every_behaviour_file_validates() {
    assert_validates("tests/behavior");
}

/// Copies the healthcare sample and applies text replacements to one of its files.
fn broken_copy(dir: &Path, file: &str, edits: &[(&str, &str)]) {
    let sample = workspace_root().join("config/samples/healthcare");
    for entry in std::fs::read_dir(&sample).unwrap() {
        let path = entry.unwrap().path();
        // Files only: the sample's tests/ folder holds TestSuites for `ferry test`.
        if !path.is_file() {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == file {
            for (from, to) in edits {
                assert!(text.contains(from), "{from:?} not in {file}");
                text = text.replacen(from, to, 1);
            }
        }
        std::fs::write(dir.join(path.file_name().unwrap()), text).unwrap();
    }
}

#[test]
fn a_broken_sample_gets_every_error_located_and_exit_status_1() {
    let dir = tempfile::tempdir().unwrap();
    broken_copy(
        dir.path(),
        "healthcare-api.yaml",
        &[
            (
                "expression: \"${payload.cardNo}\"",
                "expression: \"${payload.cardNo +}\"",
            ),
            (
                "      uriTemplate: /categories",
                "      uriTemplat: /categories",
            ),
        ],
    );
    let out = validate(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = dir.path().join("healthcare-api.yaml");
    let file = file.display();
    // The unknown field stops that document from loading; its line and path are given.
    assert!(
        stdout.contains(&format!("{file}:"))
            && stdout.contains("IntegrationAPI/healthcare spec.resources[0]"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown field `uriTemplat`"), "{stdout}");
}

#[test]
fn reference_and_expression_errors_are_all_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    broken_copy(
        dir.path(),
        "book-appointment.yaml",
        &[
            ("{key: clemency-ep}", "{key: clemency-typo}"),
            (
                "expression: ${payload.hospital}",
                "expression: ${payload.hospital +}",
            ),
        ],
    );
    let out = validate(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let file = dir
        .path()
        .join("book-appointment.yaml")
        .display()
        .to_string();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{file}:15: Sequence/book-appointment spec.mediators[0].variable.expression: invalid expression"))),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{file}:43: Sequence/book-appointment spec.mediators[2].switch.cases[1].sequence[1].call.endpoint.key: endpoint \"clemency-typo\" is not defined"))),
        "{stdout}"
    );
}

#[test]
fn yaml_syntax_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: [\n",
    )
    .unwrap();
    let out = validate(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bad.yaml:"), "{stdout}");
    assert!(stdout.contains("invalid YAML"), "{stdout}");
}

#[test]
fn wrong_or_unsupported_messaging_settings_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    broken_copy(
        dir.path(),
        "payments.yaml",
        &[
            ("  interval: 1000\n", "  cronExpression: \"0 61 * * * ?\"\n"),
            (
                "  name: failed-payments\nspec:\n  type: sqlite\n",
                "  name: failed-payments\nspec:\n  type: rabbitmq\n  rabbitmq: {host: localhost, tls: {serverName: \"not a name\"}}\n",
            ),
        ],
    );
    let out = validate(&[dir.path()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains(
            "MessageProcessor/payment-processor spec.cronExpression: invalid cron expression"
        ),
        "{all}"
    );
    assert!(
        all.contains("MessageStore/failed-payments spec.rabbitmq.tls.serverName: \"not a name\" is neither a DNS name nor an IP address"),
        "{all}"
    );
}

#[test]
fn every_benchmark_api_validates() {
    assert_validates("tests/bench/apis");
    assert_validates("tests/bench/soak");
    assert_validates("tests/bench/overload");
}

/// `ferry validate` accepts the folder `path` (relative to the workspace) once the ports of
/// the backends its files call are set, as the behaviour runner and the benchmark set them
/// (`--set backend.NAME.port=...`), and the benchmarks' other `bench.` keys (a backend's
/// delay): a key nobody sets is an error of its own.
fn assert_validates(path: &str) {
    let root = workspace_root().join(path);
    let mut keys = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        for piece in text.split("${config.").skip(1) {
            let key = piece.split('}').next().unwrap();
            if (key.ends_with(".port") && key != "http.port") || key.starts_with("bench.") {
                keys.insert(key.to_string());
            }
        }
    }
    let mut args: Vec<String> = vec!["validate".into(), root.display().to_string()];
    for key in keys {
        args.push("--set".into());
        args.push(format!("{key}=1"));
    }
    let out = std::process::Command::new(ferry_tests::ferry_bin())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The three artifacts the operator once accepted while the runtime refused them, an unset
/// configuration key and an https endpoint: `ferry validate` reports every one, located,
/// in one run.
#[test]
fn what_the_runtime_cannot_run_is_refused_in_one_run_each_error_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: blanks}
spec:
  mediators:
    - property: {name: \"\", value: \"1\"}
    - variable: {name: \"\", value: \"1\"}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata: {name: no-trigger}
spec:
  trigger: {}
  inject: {sequence: blanks}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: backend}
spec:
  http: {uriTemplate: \"http://127.0.0.1:${config.backend.port}/x\"}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: secure}
spec:
  address: {uri: \"ftp://127.0.0.1:8443/x\"}
",
    )
    .unwrap();
    let out = validate(&[dir.path()]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    for expected in [
        "broken.yaml:6: Sequence/blanks spec.mediators[0].property.name: name must not be empty",
        "broken.yaml:7: Sequence/blanks spec.mediators[1].variable.name: name must not be empty",
        "broken.yaml:13: ScheduledTask/no-trigger spec.trigger: set exactly one of interval, cron and once",
        "Endpoint/backend spec.http.uriTemplate: configuration key \"backend.port\" is not set",
        "Endpoint/secure spec.address.uri: the ftp scheme is not supported",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}

#[test]
fn template_cache_and_json_transform_mistakes_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flows.yaml");
    std::fs::write(
        &file,
        "apiVersion: ferry.dev/v1alpha1
kind: Template
metadata: {name: notify}
spec:
  parameters: [{name: channel, isMandatory: true}, {name: text}]
  mediators: [{log: {message: '${params.functionParams.text}'}}]
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: flow}
spec:
  mediators:
    - callTemplate: {target: notify, withParams: [{name: txt, value: hi}]}
    - cache: {protocol: {hashGenerator: org.wso2.carbon.mediator.cache.digest.DOMHASHGenerator}}
    - jsonTransform: {properties: [{name: synapse.commons.json.output.autoPrimitive, value: 'no'}]}
",
    )
    .unwrap();
    let out = validate(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = file.display();
    for expected in [
        format!(
            "{file}:13: Sequence/flow spec.mediators[0].callTemplate.withParams[0].name: template \"notify\" has no parameter \"txt\""
        ),
        format!(
            "{file}:13: Sequence/flow spec.mediators[0].callTemplate.withParams: template \"notify\" requires parameter \"channel\""
        ),
        format!(
            "{file}:14: Sequence/flow spec.mediators[1].cache.protocol.hashGenerator: hash generator"
        ),
        format!(
            "{file}:15: Sequence/flow spec.mediators[2].jsonTransform.properties[0].value: synapse.commons.json.output.autoPrimitive takes true or false"
        ),
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&expected)),
            "{expected}\n{stdout}"
        );
    }
}

#[test]
fn broken_stylesheets_and_scripts_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("transform.yaml"),
        r#"apiVersion: ferry.dev/v1alpha1
kind: LocalEntry
metadata: {name: broken-xsl}
spec:
  xml: '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><xsl:bogus/></xsl:template></xsl:stylesheet>'
---
apiVersion: ferry.dev/v1alpha1
kind: LocalEntry
metadata: {name: broken-js}
spec:
  text: "function mediate(mc) {\n  var = 1;\n}\n"
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: transform}
spec:
  context: /t
  resources:
    - methods: [POST]
      uriTemplate: /x
      inSequence:
        - xslt: {key: broken-xsl}
        - xslt: {key: "{$ctx:sheet}"}
        - xslt:
            key: broken-xsl
            features: [{name: "http://ws.apache.org/ns/synapse/transform/feature/dom", value: true}]
        - script: {key: broken-js}
        - script: {inline: "if ("}
        - script: {language: groovy, inline: "x"}
        - respond: {}
"#,
    )
    .unwrap();
    let out = validate(&[dir.path()]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    let at = |line: usize, i: usize, rest: &str| {
        format!(
            "transform.yaml:{line}: IntegrationAPI/transform spec.resources[0].inSequence[{i}].{rest}"
        )
    };
    for expected in [
        at(
            22,
            0,
            "xslt.key: stylesheet \"broken-xsl\" does not compile: xsl:template: xsl:bogus is not an XSLT 1.0 instruction",
        ),
        at(23, 1, "xslt.key: a stylesheet key chosen per message"),
        at(26, 2, "xslt.features[0]: transformer feature"),
        at(
            27,
            3,
            "script.key: syntax error: variable name expected (line 2)",
        ),
        at(28, 4, "script.inline: syntax error"),
        at(29, 5, "script.language: only JavaScript runs in Ferry"),
    ] {
        assert!(all.contains(&expected), "{expected}\n{all}");
    }
}
