//! Gateway security, black box: JWTs verified with keys from a JWKS server the test runs
//! (rotation, unknown kids, the key server down), OAuth2 client credentials against a token
//! server the test runs (caching, expiry, refresh on 401, one fetch for concurrent calls),
//! and throttling measured exactly, per replica and shared by two Ferry processes through
//! the machine's Redis.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_tests::backend::{Backend, Reply};
use ferry_tests::{Ferry, client, workspace_root};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

fn testdata(name: &str) -> PathBuf {
    workspace_root().join("tests/testdata/jwt").join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RS256 token signed with the test key `kid` (`rsa-1`, `rsa-2`).
fn rs256(kid: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    let pem = std::fs::read(testdata(&format!("{kid}.key.pem"))).unwrap();
    encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn claims() -> Value {
    json!({"sub": "svc", "iss": "https://issuer.test", "exp": now() + 600})
}

/// A JWKS of the test keys named.
fn jwks(kids: &[&str]) -> String {
    let keys: Vec<Value> = kids
        .iter()
        .map(|k| {
            serde_json::from_str(
                &std::fs::read_to_string(testdata(&format!("{k}.jwk.json"))).unwrap(),
            )
            .unwrap()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// A JWKS server whose set the test can change, counting its fetches.
struct KeyServer {
    backend: Backend,
    served: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    fn start(kids: &[&str]) -> KeyServer {
        let served = Arc::new(Mutex::new(jwks(kids)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (s, f) = (served.clone(), fetches.clone());
        let backend = Backend::start(move |_| {
            f.fetch_add(1, Ordering::SeqCst);
            let body = s.lock().unwrap().clone();
            Reply::with_status(200, "application/json", body)
        });
        KeyServer {
            backend,
            served,
            fetches,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.backend.port())
    }

    fn serve(&self, kids: &[&str]) {
        *self.served.lock().unwrap() = jwks(kids);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// An API at `/{name}` checking RS256 tokens from `jwks_url`.
fn jwt_api(name: &str, jwks_url: &str, extra: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: {name}}}
spec:
  context: /{name}
  authentication:
    jwt:
      jwksUrl: {jwks_url}
      issuer: https://issuer.test
{extra}  resources:
    - inSequence:
        - payloadFactory: {{mediaType: json, format: '{{\"sub\": \"${{props.synapse.AUTH_CLAIMS.sub}}\"}}'}}
        - respond: {{}}
---
"
    )
}

async fn status_with(ferry: &Ferry, path: &str, token: &str) -> (u16, String) {
    let resp = client()
        .get(ferry.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_rotate_unknown_kids_are_refetched_once_and_refused() {
    let rotating = KeyServer::start(&["rsa-1"]);
    let limited = KeyServer::start(&["rsa-1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "apis.yaml",
        &format!(
            "{}{}",
            jwt_api(
                "rotating",
                &rotating.url(),
                "      jwksMinRefetchSeconds: 0\n"
            ),
            jwt_api(
                "limited",
                &limited.url(),
                "      jwksMinRefetchSeconds: 3600\n"
            ),
        ),
    );
    let ferry = Ferry::start(&[&config], &[]);

    // The set is fetched on first use; the token verifies and its claims are readable.
    let resp = client()
        .get(ferry.url("/rotating/x"))
        .bearer_auth(rs256("rsa-1", claims()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"sub": "svc"}));
    assert_eq!(rotating.fetches(), 1);

    // The issuer rotates to rsa-2: the unknown kid triggers a refetch, and it verifies.
    rotating.serve(&["rsa-1", "rsa-2"]);
    let (status, _) = status_with(&ferry, "/rotating/x", &rs256("rsa-2", claims())).await;
    assert_eq!(status, 200);
    assert_eq!(rotating.fetches(), 2);

    // Unknown kids against a rate-limited set: one refetch, then refused without fetching.
    let (status, _) = status_with(&ferry, "/limited/x", &rs256("rsa-1", claims())).await;
    assert_eq!(status, 200);
    assert_eq!(limited.fetches(), 1);
    for _ in 0..5 {
        let (status, challenge) =
            status_with(&ferry, "/limited/x", &rs256("rsa-2", claims())).await;
        assert_eq!(status, 401);
        assert!(
            challenge.contains("error=\"invalid_token\"") && challenge.contains("rsa-2"),
            "{challenge}"
        );
    }
    assert!(limited.fetches() <= 2, "{} fetches", limited.fetches());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_keep_working_when_the_key_server_is_down() {
    let keys = KeyServer::start(&["rsa-1"]);
    let dir = tempfile::tempdir().unwrap();
    let never = "http://127.0.0.1:9/never.json";
    let config = write(
        dir.path(),
        "apis.yaml",
        &format!(
            "{}{}",
            jwt_api(
                "cached",
                &keys.url(),
                "      jwksRefreshSeconds: 1\n      jwksMinRefetchSeconds: 0\n"
            ),
            jwt_api("unreachable", never, ""),
        ),
    );
    let ferry = Ferry::start(&[&config], &[]);
    let token = rs256("rsa-1", claims());
    assert_eq!(status_with(&ferry, "/cached/x", &token).await.0, 200);
    drop(keys);
    // Past the refresh period the refetch fails; the cached key still verifies.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_with(&ferry, "/cached/x", &token).await.0, 200);
    // A key the cache does not have is refused clearly.
    let (status, challenge) = status_with(&ferry, "/cached/x", &rs256("rsa-2", claims())).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    // No key ever fetched: refused, saying why.
    let (status, challenge) = status_with(&ferry, "/unreachable/x", &token).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains("the signing keys cannot be fetched"),
        "{challenge}"
    );
}

/// A token server counting its requests; tokens are `t1`, `t2`, ... valid `expires_in`
/// seconds, after `delay`.
fn token_server(expires_in: u64, delay: Duration) -> (Backend, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let count = issued.clone();
    let backend = Backend::start(move |req| {
        let form = req.text();
        let auth = req.header("authorization").unwrap_or_default().to_string();
        // client_secret_basic: base64("client-a:s3cr3t")
        if !form.contains("grant_type=client_credentials")
            || !form.contains("scope=orders%3Aread")
            || !form.contains("audience=orders-api")
            || auth != "Basic Y2xpZW50LWE6czNjcjN0"
        {
            return Reply::with_status(
                400,
                "application/json",
                json!({"error": "invalid_request"}).to_string(),
            );
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::json(json!({"access_token": format!("t{n}"), "token_type": "Bearer", "expires_in": expires_in}))
            .delayed(delay)
    });
    (backend, issued)
}

fn oauth_config(dir: &Path, token_port: u16, backend_port: u16) -> PathBuf {
    write(
        dir,
        "oauth.yaml",
        &format!(
            "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: orders-backend}}
spec:
  http: {{uriTemplate: 'http://127.0.0.1:{backend_port}/orders'}}
  oauth:
    tokenUrl: http://127.0.0.1:{token_port}/token
    clientId: client-a
    clientSecretFrom: {{env: ORDERS_CLIENT_SECRET}}
    scopes: ['orders:read']
    audience: orders-api
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: front}}
spec:
  context: /front
  resources:
    - inSequence:
        - call: {{endpoint: {{key: orders-backend}}}}
        - respond: {{}}
"
        ),
    )
}

/// A backend that accepts only the tokens in `valid` and records which it got.
fn protected_backend(valid: &'static [&'static str]) -> Backend {
    Backend::start(move |req| {
        let auth = req.header("authorization").unwrap_or_default();
        if valid.iter().any(|t| auth == format!("Bearer {t}")) {
            Reply::json(json!({"ok": auth}))
        } else {
            Reply::with_status(401, "application/json", "{}")
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_token_is_fetched_once_cached_and_shared_by_concurrent_calls() {
    let (tokens, issued) = token_server(3600, Duration::from_millis(300));
    let backend = protected_backend(&["t1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = oauth_config(dir.path(), tokens.port(), backend.port());
    let ferry = Ferry::start_with_env(&[&config], &[], &[("ORDERS_CLIENT_SECRET", "s3cr3t")]);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let url = ferry.url("/front/x");
            tokio::spawn(async move { client().get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(issued.load(Ordering::SeqCst), 1, "one fetch for ten calls");
    let resp = client().get(ferry.url("/front/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        issued.load(Ordering::SeqCst),
        1,
        "the cached token is reused"
    );
    assert!(
        !ferry.log().contains("s3cr3t"),
        "the secret is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_token_is_renewed_before_expiry_and_once_on_a_401() {
    // Tokens live 2 s and are renewed 1 s before they expire.
    let (tokens, issued) = token_server(2, Duration::ZERO);
    // The backend takes t2 and t3 only: t1 is refused, so the first call renews once.
    let backend = protected_backend(&["t2", "t3"]);
    let dir = tempfile::tempdir().unwrap();
    let config = oauth_config(dir.path(), tokens.port(), backend.port());
    let ferry = Ferry::start_with_env(&[&config], &[], &[("ORDERS_CLIENT_SECRET", "s3cr3t")]);
    let resp = client().get(ferry.url("/front/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(issued.load(Ordering::SeqCst), 2, "t1 refused, t2 fetched");
    assert_eq!(backend.requests().len(), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resp = client().get(ferry.url("/front/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(issued.load(Ordering::SeqCst), 3, "renewed before expiry");
    assert_eq!(
        backend.requests().last().unwrap().header("authorization"),
        Some("Bearer t3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_refusing_every_token_is_retried_once_then_answered() {
    let (tokens, issued) = token_server(3600, Duration::ZERO);
    let backend = protected_backend(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = oauth_config(dir.path(), tokens.port(), backend.port());
    let ferry = Ferry::start_with_env(&[&config], &[], &[("ORDERS_CLIENT_SECRET", "s3cr3t")]);
    let resp = client().get(ferry.url("/front/x")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(backend.requests().len(), 2, "one retry, not a loop");
}

fn throttle_config(dir: &Path, id: &str, redis: &str, max: u32) -> PathBuf {
    write(
        dir,
        "throttle.yaml",
        &format!(
            "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: limited}}
spec:
  context: /limited
  resources:
    - inSequence:
        - throttle:
            id: {id}
            key: '${{headers[\"x-client\"]}}'
{redis}            policy:
              rules: [{{range: other, maxCount: {max}, unitTime: 600000}}]
        - respond: {{}}
"
        ),
    )
}

async fn hit(ferry: &Ferry, client_id: &str) -> u16 {
    client()
        .get(ferry.url("/limited/x"))
        .header("x-client", client_id)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn redis_reachable() -> bool {
    std::net::TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), Duration::from_secs(1))
        .is_ok()
}

/// A Redis key prefix no other test run shares.
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("ferry-test:{}:{nanos}:", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_replica_throttle_admits_exactly_max_count_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = throttle_config(dir.path(), "local-exact", "", 7);
    let ferry = Ferry::start(&[&config], &[]);
    for i in 0..7 {
        assert_eq!(hit(&ferry, "a").await, 200, "request {}", i + 1);
    }
    assert_eq!(hit(&ferry, "a").await, 429);
    assert_eq!(hit(&ferry, "b").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_limit_through_redis() {
    if !redis_reachable() {
        eprintln!("skipped: no Redis on 127.0.0.1:6379");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let redis = format!(
        "            redis: {{url: 'redis://127.0.0.1:6379', keyPrefix: '{}'}}\n",
        unique_prefix()
    );
    let config = throttle_config(dir.path(), "shared-exact", &redis, 6);
    let one = Ferry::start(&[&config], &[]);
    let two = Ferry::start(&[&config], &[]);
    let mut admitted = 0;
    for i in 0..6 {
        let ferry = if i % 2 == 0 { &one } else { &two };
        assert_eq!(hit(ferry, "shared").await, 200, "request {}", i + 1);
        admitted += 1;
    }
    assert_eq!(admitted, 6);
    assert_eq!(hit(&one, "shared").await, 429);
    assert_eq!(hit(&two, "shared").await, 429);
    assert_eq!(hit(&two, "other").await, 200);
}

/// A `redis-server` of this test alone, serving only TLS on a free port of 127.0.0.1 with
/// a certificate `server` issued by a test CA, in a temporary folder; killed when dropped.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    /// `None` (after saying why the test skips) when redis-server is not installed.
    fn start_tls(server: &ferry_tests::tls::Pem, ca: &str) -> Option<PrivateRedis> {
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [("server.pem", &server.cert), ("server.key", &server.key)] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let at = |name: &str| dir.path().join(name).display().to_string();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string()])
            .args(["--tls-cert-file", &at("server.pem")])
            .args(["--tls-key-file", &at("server.key")])
            .args(["--tls-ca-cert-file", &at("ca.pem")])
            .args(["--tls-auth-clients", "no", "--dir", &at("")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("skipped: redis-server is not installed (make services installs it)");
            return None;
        };
        let redis = PrivateRedis {
            port,
            child,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(redis)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_limit_through_redis_over_tls_and_a_wrong_ca_is_refused() {
    use ferry_tests::tls::{TestCa, Usage};
    let ca = TestCa::new("redis CA");
    let server = ca.issue("redis", &["localhost"], Usage::Server);
    let Some(redis) = PrivateRedis::start_tls(&server, &ca.cert) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let redis_block = |ca_var: &str| {
        format!(
            "            redis: {{url: 'rediss://127.0.0.1:{}', tls: {{caFrom: {{env: {ca_var}}}, serverName: localhost}}, timeout: 2000}}\n",
            redis.port
        )
    };
    let config = throttle_config(dir.path(), "shared-tls", &redis_block("REDIS_CA"), 4);
    let env = [("REDIS_CA", ca.cert.as_str())];
    let one = Ferry::start_with_env(&[&config], &[], &env);
    let two = Ferry::start_with_env(&[&config], &[], &env);
    for i in 0..4 {
        let ferry = if i % 2 == 0 { &one } else { &two };
        assert_eq!(
            hit(ferry, "shared").await,
            200,
            "request {}\n{}",
            i + 1,
            one.log()
        );
    }
    assert_eq!(hit(&one, "shared").await, 429, "{}", one.log());
    assert_eq!(hit(&two, "shared").await, 429, "{}", two.log());
    assert!(!one.log().contains("Redis is unreachable"), "{}", one.log());

    // Trusting another CA: the handshake fails, this replica counts alone and says why.
    let other = TestCa::new("another CA");
    let wrong_dir = tempfile::tempdir().unwrap();
    let config = throttle_config(wrong_dir.path(), "wrong-ca", &redis_block("OTHER_CA"), 2);
    let wrong = Ferry::start_with_env(&[&config], &[], &[("OTHER_CA", other.cert.as_str())]);
    assert_eq!(hit(&wrong, "a").await, 200);
    let log = wrong.log();
    assert!(
        log.contains("Redis is unreachable")
            && log.contains("TLS handshake with Redis failed")
            && log.contains("not signed by a trusted CA"),
        "{log}"
    );
    drop((one, two, wrong, redis));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_throttle_counts_per_replica_warns_once_and_counts_the_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 (discard) here: connections are refused at once.
    let redis = "            redis: {url: 'redis://127.0.0.1:9', timeout: 200}\n";
    let config = throttle_config(dir.path(), "fallback", redis, 3);
    let ferry = Ferry::start(&[&config], &[]);
    for _ in 0..3 {
        assert_eq!(hit(&ferry, "a").await, 200);
    }
    assert_eq!(hit(&ferry, "a").await, 429);
    let log = ferry.log();
    assert_eq!(
        log.matches("Redis is unreachable").count(),
        1,
        "one warning per outage:\n{log}"
    );
    let metrics = client()
        .get(ferry.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fallbacks: f64 = metrics
        .lines()
        .find(|l| l.starts_with("ferry_throttle_redis_fallbacks_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(fallbacks >= 4.0, "{metrics}");
}

#[test]
fn hash_password_makes_list_lines() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(ferry_tests::ferry_bin())
        .args(["hash-password", "--api-key", "--name", "partner"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"key-123\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("partner:{}\n", sha256_hex("key-123"))
    );
}

fn sha256_hex(s: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn demo_token(which: &str) -> String {
    let text = std::fs::read_to_string(testdata("demo-tokens.txt")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{which} ")))
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secured_sample_checks_tokens_scopes_and_throttles_per_client() {
    let sample = workspace_root().join("config/samples/secured");
    let ferry = Ferry::start(&[&sample], &[]);
    let url = ferry.url("/secured-orders/orders/7");
    let reader = demo_token("reader");

    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"secured-orders\""
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "credentials are missing", "code": 900902})
    );

    let resp = client()
        .delete(&url)
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client()
        .delete(&url)
        .bearer_auth(demo_token("writer"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    for i in 0..5 {
        let resp = client()
            .get(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "request {}", i + 1);
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"order": "7", "client": "demo-client", "tenant": "acme"})
        );
    }
    let resp = client()
        .get(&url)
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
}

/// The sample as `make run` serves it: over HTTPS with the self-signed development
/// certificate, which a client trusts through the file Ferry wrote; the token, its scopes
/// and the throttle apply there as over HTTP (one bucket for both listeners).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secured_sample_is_served_over_https_with_the_development_certificate() {
    let sample = workspace_root().join("config/samples/secured");
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let args = [
        "--https-port",
        "0",
        "--tls-self-signed",
        "--data-dir",
        data_dir,
    ];
    let ferry = Ferry::start(&[&sample], &args);
    let https = ferry.https.expect("the HTTPS listener listens");
    let cert = std::fs::read_to_string(data.path().join("tls/self-signed.crt")).unwrap();
    let reader = demo_token("reader");
    let get = |token: Option<&str>| {
        let mut req = http::Request::get("/secured-orders/orders/7");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        req.body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    for name in ["localhost", "127.0.0.1"] {
        let tls = ferry_tests::tls::HttpsClient::new(&cert, name);
        let answer = tls.send(https, get(None)).await.unwrap();
        assert_eq!(answer.status, 401, "over {name}");
    }
    let tls = ferry_tests::tls::HttpsClient::new(&cert, "localhost");
    for i in 0..4 {
        let answer = tls.send(https, get(Some(&reader))).await.unwrap();
        assert_eq!(answer.status, 200, "request {} over HTTPS", i + 1);
        assert_eq!(
            serde_json::from_str::<Value>(&answer.body).unwrap(),
            json!({"order": "7", "client": "demo-client", "tenant": "acme"})
        );
    }
    // The fifth of the minute over plain HTTP, the sixth over HTTPS again: refused.
    let resp = client()
        .get(ferry.url("/secured-orders/orders/7"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer = tls.send(https, get(Some(&reader))).await.unwrap();
    assert_eq!(answer.status, 429);
    drop(ferry);

    // A restart keeps the certificate clients were told to trust.
    let again = Ferry::start(&[&sample], &args);
    let answer = ferry_tests::tls::HttpsClient::new(&cert, "localhost")
        .send(again.https.unwrap(), get(None))
        .await
        .unwrap();
    assert_eq!(answer.status, 401);
}
