//! Loading as `ferry validate` sees it: every error of every document and file, located.

use super::*;

fn load_texts(files: &[(&str, &str)]) -> (Bundle, Vec<String>) {
    let sources: Vec<Source> = files
        .iter()
        .map(|(name, text)| Source {
            name: (*name).into(),
            text: (*text).into(),
        })
        .collect();
    let (bundle, diagnostics) = load(&sources);
    (
        bundle,
        diagnostics.iter().map(ToString::to_string).collect(),
    )
}

fn names(bundle: &Bundle) -> Vec<String> {
    bundle.resources.iter().map(Loaded::id).collect()
}

const ENDPOINT: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: backend
spec:
  http: {uriTemplate: http://127.0.0.1/}
";

#[test]
fn three_independent_errors_in_one_api_are_each_reported_at_their_line() {
    let api = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: shop
spec:
  context: /shop
  resources:
    - methods: [GET]
      uriTemplate: /a
      inSequnce:
        - respond: {}
    - methods: [GET]
      uriTemplate: 7
    - methods: [GET]
      uriTemplate: /c
      inSequence:
        - logg: {}
        - respond: {}
";
    let (bundle, diagnostics) = load_texts(&[("api.yaml", api)]);
    assert_eq!(diagnostics.len(), 3, "{diagnostics:#?}");
    assert!(
        diagnostics[0].starts_with(
            "api.yaml:10: IntegrationAPI/shop spec.resources[0].inSequnce: unknown field `inSequnce`"
        ),
        "{diagnostics:#?}"
    );
    assert_eq!(
        diagnostics[1],
        "api.yaml:13: IntegrationAPI/shop spec.resources[1].uriTemplate: \
         invalid type: integer `7`, expected a string"
    );
    assert!(
        diagnostics[2].starts_with(
            "api.yaml:17: IntegrationAPI/shop spec.resources[2].inSequence[0]: unknown variant `logg`"
        ),
        "{diagnostics:#?}"
    );
    assert!(bundle.resources.is_empty());
    assert_eq!(
        bundle.unreadable,
        [("IntegrationAPI".to_string(), "shop".to_string())]
    );
}

#[test]
fn a_bad_name_and_bad_fields_are_reported_together() {
    let endpoint = ENDPOINT
        .replace("name: backend", "name: Backend")
        .replace("uriTemplate:", "uriTemplat:");
    let (_, diagnostics) = load_texts(&[("ep.yaml", &endpoint)]);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert!(diagnostics[0].contains("metadata.name: metadata.name \"Backend\" is not a valid"));
    assert!(diagnostics[1].contains("spec.http.uriTemplat: unknown field `uriTemplat`"));
}

#[test]
fn a_syntax_error_in_one_file_does_not_hide_an_unknown_field_in_another() {
    let broken = "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: s\n";
    let typo = ENDPOINT.replace("uriTemplate:", "uriTemplat:");
    let (_, diagnostics) = load_texts(&[("a.yaml", broken), ("b.yaml", &typo)]);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert!(diagnostics[0].starts_with("a.yaml:"), "{diagnostics:#?}");
    assert!(diagnostics[0].contains("invalid YAML"), "{diagnostics:#?}");
    assert!(
        diagnostics[1].starts_with(
            "b.yaml:6: Endpoint/backend spec.http.uriTemplat: unknown field `uriTemplat`"
        ),
        "{diagnostics:#?}"
    );
}

#[test]
fn documents_around_a_syntax_error_still_load_and_are_checked_at_their_lines() {
    let broken = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: broken
spec:
  http: {uriTemplate: [http://127.0.0.1/}
";
    let after = ENDPOINT
        .replace("name: backend", "name: after")
        .replace("uriTemplate:", "uriTemplat:");
    let text = format!(
        "{ENDPOINT}---\n{broken}---\n{after}---\n{}",
        ENDPOINT.replace("backend", "last")
    );
    let (bundle, diagnostics) = load_texts(&[("all.yaml", &text)]);
    assert_eq!(names(&bundle), ["Endpoint/backend", "Endpoint/last"]);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert!(diagnostics[0].starts_with("all.yaml:"), "{diagnostics:#?}");
    assert!(diagnostics[0].contains("invalid YAML"), "{diagnostics:#?}");
    // `after` starts on line 15: its `uriTemplat` is on line 20 of the file.
    assert!(
        diagnostics[1].starts_with("all.yaml:20: Endpoint/after spec.http.uriTemplat"),
        "{diagnostics:#?}"
    );
    assert_eq!(bundle.resources[1].origin.line, 22);
    // The broken document named itself before the error: references to it are not
    // reported as undefined on top.
    assert!(
        bundle
            .unreadable
            .contains(&("Endpoint".to_string(), "broken".to_string())),
        "{:?}",
        bundle.unreadable
    );
}
