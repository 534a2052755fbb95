use crate::bundle::{Source, load};

fn check(yaml: &str) -> Vec<String> {
    let (bundle, mut diagnostics) = load(&[Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    diagnostics.extend(crate::validate::validate(&bundle));
    diagnostics.iter().map(ToString::to_string).collect()
}

fn endpoint(tls: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: bank}}
spec:
  http: {{uriTemplate: \"https://bank.example/pay\"}}
  tls: {tls}
"
    )
}

#[test]
fn a_complete_tls_block_is_accepted() {
    let yaml = endpoint(
        "{caFrom: {env: CA}, certFrom: {secretKeyRef: {name: c, key: tls.crt}}, keyFrom: {secretKeyRef: {name: c, key: tls.key}}, serverName: bank.internal, minVersion: \"1.3\"}",
    );
    assert_eq!(check(&yaml), Vec::<String>::new());
}

#[test]
fn turning_verification_off_half_a_client_identity_and_a_bad_name_are_refused() {
    for (tls, field) in [
        ("{insecureSkipVerify: true}", "spec.tls.insecureSkipVerify"),
        ("{certFrom: {env: CERT}}", "spec.tls.keyFrom"),
        ("{keyFrom: {env: KEY}}", "spec.tls.certFrom"),
        ("{serverName: \"not a name\"}", "spec.tls.serverName"),
        ("{caFrom: {}}", "spec.tls.caFrom"),
    ] {
        let d = check(&endpoint(tls));
        assert_eq!(d.len(), 1, "{tls}: {d:?}");
        assert!(d[0].contains(&format!("{field}: ")), "{tls}: {d:?}");
    }
}

#[test]
fn an_unknown_tls_version_is_refused_where_it_is_written() {
    let d = check(&endpoint("{minVersion: \"1.1\"}"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("minVersion"), "{d:?}");
}

const API: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: shop}
spec:
  context: /shop
  cors: CORS
  resources:
    - methods: [GET]
      inSequence: [{respond: {}}]
";

#[test]
fn a_cors_policy_with_origins_is_accepted_and_a_broken_one_refused_field_by_field() {
    let ok = API.replace(
        "CORS",
        "{allowOrigins: [\"https://app.example\"], allowMethods: [GET], allowHeaders: [x-trace], allowCredentials: true, maxAge: 60}",
    );
    assert_eq!(check(&ok), Vec::<String>::new());
    for (cors, field) in [
        ("{allowOrigins: []}", "spec.cors.allowOrigins"),
        (
            "{allowOrigins: [\"https://a.example/path\"]}",
            "spec.cors.allowOrigins[0]",
        ),
        (
            "{allowOrigins: [\"*\"], allowCredentials: true}",
            "spec.cors.allowCredentials",
        ),
        (
            "{allowOrigins: [\"*\"], allowHeaders: [\"bad header\"]}",
            "spec.cors.allowHeaders[0]",
        ),
    ] {
        let d = check(&API.replace("CORS", cors));
        assert_eq!(d.len(), 1, "{cors}: {d:?}");
        assert!(d[0].contains(&format!("{field}: ")), "{cors}: {d:?}");
    }
}

#[test]
fn https_proxies_and_resources_are_accepted_now_that_the_listener_exists() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: ProxyService
metadata: {name: secure}
spec:
  transports: [https]
  target:
    inSequence: [{respond: {}}]
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: shop}
spec:
  context: /shop
  clientCertificate: required
  resources:
    - {methods: [GET], protocol: https, inSequence: [{respond: {}}]}
";
    assert_eq!(check(yaml), Vec::<String>::new());
}

#[test]
fn an_https_listener_sharing_a_port_or_verifying_without_a_ca_is_refused() {
    let yaml = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationRuntime
metadata: {name: default}
spec:
  https: {port: 8290, secretName: tls, clientAuth: required}
";
    let d = check(yaml);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().any(|d| d.contains("spec.https.port")), "{d:?}");
    assert!(
        d.iter().any(|d| d.contains("spec.https.clientAuth")),
        "{d:?}"
    );
}
