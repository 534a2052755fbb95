//! Authentication through the dispatcher, without sockets: static keys and credential files
//! (the JWKS, rotation and key-server cases run against real servers in tests/tests/security.rs).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use base64::Engine;
use http::{Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::admin::metrics::Metrics;
use crate::compile::compile_test_yaml;
use crate::dispatch::Dispatcher;
use crate::transports::http::body::{self, read_body_limited};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

fn testdata(name: &str) -> String {
    format!(
        "{}/../tests/testdata/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// An API with every scheme: HS256 tokens (issuer `ferry-test`, audience `orders`), basic
/// users and API keys from files, and a resource that needs a scope.
fn api(dir: &std::path::Path, fault_sequence: bool) -> String {
    let key = dir.join("hs256.key");
    std::fs::write(&key, SECRET).unwrap();
    let users = dir.join("users");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&users, format!("alice:{hash}\n")).unwrap();
    let keys = dir.join("keys");
    std::fs::write(
        &keys,
        format!("partner:{}\n", super::credentials::api_key_hash("key-123")),
    )
    .unwrap();
    let fault = if fault_sequence {
        "  faultSequence:
    - payloadFactory:
        mediaType: json
        format: '{\"denied\": \"${props.synapse.ERROR_CODE}\"}'
    - respond: {}
"
    } else {
        ""
    };
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: orders}}
spec:
  context: /orders
  authentication:
    jwt:
      keyFile: {key}
      algorithms: [HS256]
      issuer: ferry-test
      audiences: [orders]
      leewaySeconds: 30
    basic: {{usersFile: {users}}}
    apiKey: {{header: X-API-Key, queryParameter: apikey, keysFile: {keys}}}
{fault}  resources:
    - uriTemplate: /who
      inSequence:
        - payloadFactory:
            mediaType: json
            format: '{{\"scheme\": \"${{props.synapse.AUTH_SCHEME}}\", \"user\": \"${{props.synapse.AUTH_USER}}\", \"tenant\": \"${{props.synapse.AUTH_CLAIMS.tenant}}\"}}'
        - respond: {{}}
    - uriTemplate: /write
      authentication: {{scopes: [orders:write]}}
      inSequence:
        - respond: {{}}
    - uriTemplate: /open
      authentication: {{anonymous: true}}
      inSequence:
        - payloadFactory:
            mediaType: json
            format: '{{\"user\": \"${{props.synapse.AUTH_USER}}\"}}'
        - respond: {{}}
",
        key = key.display(),
        users = users.display(),
        keys = keys.display(),
    )
}

fn dispatcher(yaml: &str) -> Dispatcher {
    let metrics = Arc::new(Metrics::new());
    let compiled = compile_test_yaml(yaml, metrics.clone());
    Dispatcher::new(Arc::new(ArcSwap::from_pointee(compiled)), metrics, 1 << 20)
}

fn token(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn claims() -> Value {
    json!({"sub": "svc-a", "iss": "ferry-test", "aud": "orders", "exp": now() + 300, "tenant": "t1", "scope": "orders:read"})
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    body: Value,
}

async fn get(d: &Dispatcher, path: &str, auth: Option<(&str, &str)>) -> Answer {
    let mut req = Request::get(path);
    if let Some((name, value)) = auth {
        req = req.header(name, value);
    }
    let resp = d.dispatch(req.body(body::empty()).unwrap()).await;
    let status = resp.status();
    let challenges = resp
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = read_body_limited(resp.into_body(), 1 << 20).await.unwrap();
    Answer {
        status,
        challenges,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[tokio::test]
async fn a_valid_token_admits_the_caller_and_its_claims_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let auth = bearer(&token(claims()));
    let a = get(&d, "/orders/who", Some(("authorization", &auth))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body,
        json!({"scheme": "jwt", "user": "svc-a", "tenant": "t1"})
    );
}

#[tokio::test]
async fn no_credentials_get_a_401_with_a_challenge_per_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let a = get(&d, "/orders/who", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.challenges,
        vec![
            "Bearer realm=\"orders\"".to_string(),
            "Basic realm=\"orders\", charset=\"UTF-8\"".to_string(),
            "ApiKey realm=\"orders\", header=\"x-api-key\", query=\"apikey\"".to_string(),
        ]
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_as_invalid_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let good = token(claims());
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut forged = claims();
    forged["sub"] = json!("admin");
    let tampered = format!("{head}.{}.{signature}", engine.encode(forged.to_string()));
    let none = format!(
        "{}.{payload}.",
        engine.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let mut expired = claims();
    expired["exp"] = json!(now() - 120);
    let mut wrong_issuer = claims();
    wrong_issuer["iss"] = json!("someone-else");
    let mut wrong_audience = claims();
    wrong_audience["aud"] = json!("billing");
    let mut not_yet = claims();
    not_yet["nbf"] = json!(now() + 120);
    let cases = [
        ("tampered", tampered, "signature"),
        ("alg none", none, "malformed"),
        ("expired", token(expired), "expired"),
        ("issuer", token(wrong_issuer), "issuer"),
        ("audience", token(wrong_audience), "audience"),
        ("nbf", token(not_yet), "not valid yet"),
        ("garbage", "not-a-jwt".to_string(), "malformed"),
    ];
    for (what, t, reason) in cases {
        let auth = bearer(&t);
        let a = get(&d, "/orders/who", Some(("authorization", &auth))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            a.challenges[0].starts_with("Bearer realm=\"orders\", error=\"invalid_token\""),
            "{what}: {:?}",
            a.challenges
        );
        assert!(
            a.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{what}: {}",
            a.body
        );
    }
}

#[tokio::test]
async fn clock_skew_within_the_leeway_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let mut c = claims();
    c["exp"] = json!(now() - 10);
    c["nbf"] = json!(now() + 10);
    let auth = bearer(&token(c));
    let a = get(&d, "/orders/who", Some(("authorization", &auth))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn a_resource_needing_a_scope_answers_403_insufficient_scope_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let auth = bearer(&token(claims()));
    let a = get(&d, "/orders/write", Some(("authorization", &auth))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        a.challenges[0].contains("error=\"insufficient_scope\"")
            && a.challenges[0].contains("scope=\"orders:write\""),
        "{:?}",
        a.challenges
    );
    let mut c = claims();
    c["scp"] = json!(["orders:read", "orders:write"]);
    let auth = bearer(&token(c));
    let a = get(&d, "/orders/write", Some(("authorization", &auth))).await;
    assert_eq!(a.status, StatusCode::OK);
    // Basic callers have no scopes.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );
    let a = get(&d, "/orders/write", Some(("authorization", &basic))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn basic_auth_admits_a_good_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let basic = |pair: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let a = get(
        &d,
        "/orders/who",
        Some(("authorization", &basic("alice:s3cret"))),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["scheme"], "basic");
    assert_eq!(a.body["user"], "alice");
    for bad in ["alice:wrong", "bob:s3cret", "no-colon"] {
        let a = get(&d, "/orders/who", Some(("authorization", &basic(bad)))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(a.challenges.iter().any(|c| c.starts_with("Basic realm=")));
        assert!(!a.body.to_string().contains("s3cret"));
    }
}

#[tokio::test]
async fn api_keys_are_read_from_the_header_or_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let a = get(&d, "/orders/who", Some(("x-api-key", "key-123"))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["user"], "partner");
    let a = get(&d, "/orders/who?apikey=key-123", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = get(&d, "/orders/who", Some(("x-api-key", "key-124"))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_anonymous_resource_admits_callers_without_credentials_but_checks_sent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), false));
    let a = get(&d, "/orders/open", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = get(&d, "/orders/open", Some(("authorization", "Bearer nope"))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_refusal_runs_the_fault_sequence_and_keeps_the_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let d = dispatcher(&api(dir.path(), true));
    let a = get(&d, "/orders/who", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, json!({"denied": "900902"}));
    assert_eq!(a.challenges.len(), 3);
}

#[test]
fn scopes_come_from_scope_or_scp() {
    assert_eq!(
        super::granted_scopes(&json!({"scope": "a b", "scp": ["c"]})),
        vec!["a", "b", "c"]
    );
}

#[tokio::test]
async fn a_static_public_key_never_verifies_an_hmac_token_made_with_it() {
    let pem = std::fs::read(testdata("rsa-1.pub.pem")).unwrap();
    let yaml = format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: rs}}
spec:
  context: /rs
  authentication:
    jwt: {{keyFile: {}, algorithms: [RS256]}}
  resources:
    - inSequence: [{{respond: {{}}}}]
",
        testdata("rsa-1.pub.pem")
    );
    let d = dispatcher(&yaml);
    let claims = json!({"sub": "x", "exp": now() + 300});
    // The confusion attack: HS256 keyed with the public key's PEM.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&pem),
    )
    .unwrap();
    let a = get(&d, "/rs/x", Some(("authorization", &bearer(&confused)))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let private = std::fs::read(testdata("rsa-1.key.pem")).unwrap();
    let good = encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    let a = get(&d, "/rs/x", Some(("authorization", &bearer(&good)))).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn es256_and_eddsa_static_keys_verify_their_tokens() {
    for (name, alg, algorithm) in [
        ("ec-1", "ES256", Algorithm::ES256),
        ("ed-1", "EdDSA", Algorithm::EdDSA),
    ] {
        let yaml = format!(
            "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: k}}
spec:
  context: /k
  authentication:
    jwt: {{keyFile: {}, algorithms: [{alg}]}}
  resources:
    - inSequence: [{{respond: {{}}}}]
",
            testdata(&format!("{name}.pub.pem"))
        );
        let d = dispatcher(&yaml);
        let private = std::fs::read(testdata(&format!("{name}.key.pem"))).unwrap();
        let key = match algorithm {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&private).unwrap(),
            _ => EncodingKey::from_ed_pem(&private).unwrap(),
        };
        let t = encode(
            &Header::new(algorithm),
            &json!({"sub": "x", "exp": now() + 300}),
            &key,
        )
        .unwrap();
        let a = get(&d, "/k/x", Some(("authorization", &bearer(&t)))).await;
        assert_eq!(a.status, StatusCode::OK, "{alg}: {}", a.body);
    }
}
