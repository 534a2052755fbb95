//! Transport security, black box: real TLS handshakes against the built `ferry` with
//! certificates made at test time. Outbound: an HTTPS backend with its own CA, trusted,
//! untrusted, expired, self-signed, called by a wrong name, demanding a client certificate.
//! Inbound: the HTTPS listener over HTTP/1.1 and HTTP/2 (ALPN), mutual TLS with good and
//! bad client certificates, the client's identity in expressions, listeners per resource
//! and proxy, the certificate reloaded without a restart. And CORS and the header limit.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_tests::tls::{HttpsClient, Pem, TestCa, TlsBackend, Usage, der, self_signed};
use ferry_tests::{Ferry, client, workspace_root};

/// Ferry on tests/tls with the backend's port and `envs` (the PEM the endpoints read).
/// Every endpoint's PEM must load for the configuration to run: those a test does not
/// give come from a CA of their own, which no backend here trusts.
fn ferry_for(backend_port: u16, extra: &[&str], envs: &[(&str, &str)]) -> Ferry {
    let config = workspace_root().join("tests/tls");
    let port = format!("backend.port={backend_port}");
    let mut args = vec!["--set", port.as_str()];
    args.extend_from_slice(extra);
    let filler = TestCa::new("unrelated CA");
    let identity = filler.issue("unrelated", &["unrelated.test"], Usage::Client);
    let mut all: Vec<(&str, &str)> = vec![
        ("TEST_BACKEND_CA", &filler.cert),
        ("TEST_CLIENT_CERT", &identity.cert),
        ("TEST_CLIENT_KEY", &identity.key),
    ];
    all.retain(|(name, _)| !envs.iter().any(|(given, _)| given == name));
    all.extend_from_slice(envs);
    Ferry::try_start_env(None, &[&config], &args, &all).unwrap_or_else(|e| panic!("{e}"))
}

/// Status and body of a call through the API resource that calls `endpoint`; a failed
/// call's body is `{"code": ERROR_CODE, "message": "ERROR_MESSAGE"}`, read as text (the
/// message may quote names).
async fn outbound(ferry: &Ferry, endpoint: &str) -> (u16, String) {
    let resp = client()
        .get(ferry.url(&format!("/outbound/{endpoint}")))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

fn code(text: &str) -> u64 {
    let rest = text.split("\"code\": ").nth(1).unwrap_or_default();
    rest.split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_https_backend_signed_by_the_configured_ca_is_called_and_others_are_refused_with_101500()
{
    let ca = TestCa::new("backend CA");
    let backend = TlsBackend::start(&ca.issue("backend", &["localhost"], Usage::Server), None);
    let ferry = ferry_for(backend.port(), &[], &[("TEST_BACKEND_CA", &ca.cert)]);

    let resp = client()
        .get(ferry.url("/outbound/trusted"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "tls backend");

    // The system roots do not know the test CA: refused, never downgraded.
    let (status, v) = outbound(&ferry, "system-roots-only").await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(code(&v), 101500, "{v}");
    assert!(v.contains("unknown issuer"), "{v}");

    // Called by address, the certificate (for localhost) does not fit ...
    let (status, v) = outbound(&ferry, "by-address").await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(code(&v), 101500, "{v}");
    assert!(v.contains("not valid for the host name"), "{v}");
    // ... unless serverName names what the certificate says.
    let (status, v) = outbound(&ferry, "by-address-named").await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn an_expired_or_self_signed_backend_certificate_is_refused_with_its_reason() {
    let ca = TestCa::new("backend CA");
    let expired = TlsBackend::start(&ca.issue_expired(&["localhost"]), None);
    let ferry = ferry_for(expired.port(), &[], &[("TEST_BACKEND_CA", &ca.cert)]);
    let (status, v) = outbound(&ferry, "trusted").await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(code(&v), 101500, "{v}");
    assert!(v.contains("expired"), "{v}");
    drop(ferry);

    let own = self_signed(&["localhost"]);
    let selfish = TlsBackend::start(&own, None);
    let ferry = ferry_for(selfish.port(), &[], &[("TEST_BACKEND_CA", &ca.cert)]);
    let (status, v) = outbound(&ferry, "trusted").await;
    assert_eq!(status, 502, "{v}");
    assert!(v.contains("unknown issuer"), "{v}");
}

#[tokio::test]
async fn a_backend_demanding_a_client_certificate_gets_the_endpoints_and_refuses_a_call_without() {
    let ca = TestCa::new("mesh CA");
    let backend = TlsBackend::start(
        &ca.issue("backend", &["localhost"], Usage::Server),
        Some(&ca.cert),
    );
    let identity = ca.issue("ferry", &["ferry.test"], Usage::Client);
    let ferry = ferry_for(
        backend.port(),
        &[],
        &[
            ("TEST_BACKEND_CA", &ca.cert),
            ("TEST_CLIENT_CERT", &identity.cert),
            ("TEST_CLIENT_KEY", &identity.key),
        ],
    );
    let resp = client()
        .get(ferry.url("/outbound/with-client-cert"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-client-cert"], "yes");

    let (status, v) = outbound(&ferry, "trusted").await;
    assert_eq!(status, 502, "{v}");
    // TLS 1.3 reports the refusal after the handshake, on the first read: either way the
    // call fails, and never reaches the backend's handler.
    assert!([101500, 101503, 101505].contains(&code(&v)), "{v}");
}

/// The listener's files: certificate and key for `localhost`, and the client CA.
struct Listener {
    dir: tempfile::TempDir,
    server_ca: TestCa,
    client_ca: TestCa,
}

impl Listener {
    fn new() -> Listener {
        let server_ca = TestCa::new("server CA");
        let client_ca = TestCa::new("client CA");
        let dir = tempfile::tempdir().unwrap();
        let l = Listener {
            dir,
            server_ca,
            client_ca,
        };
        l.write_server(&l.server_ca.issue("ferry", &["localhost"], Usage::Server));
        std::fs::write(l.path("clients.pem"), &l.client_ca.cert).unwrap();
        l
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Replaces the certificate as Kubernetes does: new files, then a rename over the old.
    fn write_server(&self, pem: &Pem) {
        let dir: &Path = self.dir.path();
        std::fs::write(dir.join("tls.crt.new"), &pem.cert).unwrap();
        std::fs::write(dir.join("tls.key.new"), &pem.key).unwrap();
        std::fs::rename(dir.join("tls.key.new"), dir.join("tls.key")).unwrap();
        std::fs::rename(dir.join("tls.crt.new"), dir.join("tls.crt")).unwrap();
    }

    fn args(&self, client_auth: &str) -> Vec<String> {
        vec![
            "--https-port".into(),
            "0".into(),
            "--tls-cert".into(),
            self.path("tls.crt"),
            "--tls-key".into(),
            self.path("tls.key"),
            "--tls-client-ca".into(),
            self.path("clients.pem"),
            "--tls-client-auth".into(),
            client_auth.into(),
            "--tls-reload-interval".into(),
            "1".into(),
        ]
    }

    fn start(&self, client_auth: &str) -> Ferry {
        let args = self.args(client_auth);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ferry_for(1, &args, &[("TEST_BACKEND_CA", &self.server_ca.cert)])
    }

    fn client(&self) -> HttpsClient {
        HttpsClient::new(&self.server_ca.cert, "localhost")
    }
}

#[tokio::test]
async fn the_https_listener_serves_the_apis_over_http1_and_http2_by_alpn() {
    let l = Listener::new();
    let ferry = l.start("none");
    let https = ferry.https.expect("the HTTPS port in the ports file");

    let answer = l.client().get(https, "/listeners/any").await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.version, http::Version::HTTP_11);
    assert!(answer.body.contains("any"), "{}", answer.body);

    let mut h2 = l.client();
    h2.alpn = vec!["h2", "http/1.1"];
    let answer = h2.get(https, "/listeners/any").await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.version, http::Version::HTTP_2);

    // A client that does not trust the server's CA does not get through.
    let stranger = HttpsClient::new(&TestCa::new("other").cert, "localhost");
    assert!(stranger.get(https, "/listeners/any").await.is_err());
}

#[tokio::test]
async fn resources_and_proxies_are_served_only_on_their_listeners() {
    let l = Listener::new();
    let ferry = l.start("none");
    let https = ferry.https.unwrap();
    let tls = l.client();
    let http = client();
    let over_http = |path: &str| http.get(ferry.url(path)).send();

    assert_eq!(over_http("/listeners/secure").await.unwrap().status(), 404);
    assert_eq!(
        tls.get(https, "/listeners/secure").await.unwrap().status,
        200
    );
    assert_eq!(over_http("/listeners/plain").await.unwrap().status(), 200);
    assert_eq!(
        tls.get(https, "/listeners/plain").await.unwrap().status,
        404
    );

    assert_eq!(
        over_http("/services/secure-proxy").await.unwrap().status(),
        404
    );
    let answer = tls.get(https, "/services/secure-proxy").await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        over_http("/services/plain-proxy").await.unwrap().status(),
        200
    );
    assert_eq!(
        tls.get(https, "/services/plain-proxy")
            .await
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        over_http("/services/both-proxy").await.unwrap().status(),
        200
    );
    assert_eq!(
        tls.get(https, "/services/both-proxy").await.unwrap().status,
        200
    );
}

#[tokio::test]
async fn an_api_demanding_a_client_certificate_reads_its_subject_and_refuses_the_others() {
    let l = Listener::new();
    let ferry = l.start("optional");
    let https = ferry.https.unwrap();

    let mut good = l.client();
    good.identity = Some(l.client_ca.issue(
        "orders-client",
        &["client.test", "127.0.0.1"],
        Usage::Client,
    ));
    let answer = good.get(https, "/whoami").await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("CN=orders-client"), "{}", answer.body);
    assert!(answer.body.contains("DNS:client.test"), "{}", answer.body);
    assert!(answer.body.contains("IP:127.0.0.1"), "{}", answer.body);
    assert!(answer.body.contains("SUCCESS"), "{}", answer.body);
    assert!(answer.body.contains("https"), "{}", answer.body);

    // No certificate: the handshake passes (optional), the API answers 401.
    let answer = l.client().get(https, "/whoami").await.unwrap();
    assert_eq!(answer.status, 401, "{}", answer.body);
    // Plain HTTP: 403.
    let resp = client().get(ferry.url("/whoami")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    // A certificate from another CA fails the handshake.
    let mut bad = l.client();
    bad.identity = Some(TestCa::new("rogue").issue("rogue", &["rogue.test"], Usage::Client));
    let refused = bad.get(https, "/whoami").await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn a_listener_requiring_client_certificates_refuses_a_client_without_one() {
    let l = Listener::new();
    let ferry = l.start("required");
    let https = ferry.https.unwrap();
    assert!(l.client().get(https, "/listeners/any").await.is_err());
    let mut good = l.client();
    good.identity = Some(l.client_ca.issue("c", &["c.test"], Usage::Client));
    assert_eq!(good.get(https, "/listeners/any").await.unwrap().status, 200);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let l = Listener::new();
    let ferry = l.start("none");
    let https = ferry.https.unwrap();
    let before = l.client().get(https, "/listeners/any").await.unwrap();
    let renewed = l
        .server_ca
        .issue("ferry renewed", &["localhost"], Usage::Server);
    l.write_server(&renewed);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = l.client().get(https, "/listeners/any").await.unwrap();
        if answer.server_cert == der(&renewed.cert) {
            assert_ne!(answer.server_cert, before.server_cert);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served:\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ferry.log().contains("HTTPS certificate reloaded"),
        "{}",
        ferry.log()
    );
}

#[tokio::test]
async fn cors_preflights_are_answered_and_actual_answers_carry_the_headers() {
    let ferry = ferry_for(1, &[], &[]);
    let http = client();
    let resp = http
        .request(reqwest::Method::OPTIONS, ferry.url("/browser/orders"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-trace")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(h["access-control-allow-headers"], "x-trace");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");

    let refused = http
        .request(reqwest::Method::OPTIONS, ferry.url("/browser/orders"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let refused = http
        .request(reqwest::Method::OPTIONS, ferry.url("/browser/orders"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let resp = http
        .get(ferry.url("/browser/orders"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(resp.headers()["access-control-expose-headers"], "x-order");
    let other = http
        .get(ferry.url("/browser/orders"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_request_head_over_the_header_limit_is_answered_431() {
    let ferry = ferry_for(1, &["--max-header-bytes", "8192"], &[]);
    let resp = client()
        .get(ferry.url("/listeners/any"))
        .header("x-big", "a".repeat(16 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    let resp = client()
        .get(ferry.url("/listeners/any"))
        .header("x-small", "a".repeat(1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Limits per listener: the HTTPS listener's own body limit refuses what the HTTP listener
/// takes, and the head limit it does not override stays the shared one.
#[tokio::test]
async fn the_https_listener_takes_its_own_request_limits() {
    let data = tempfile::tempdir().unwrap();
    let ferry = ferry_for(
        1,
        &[
            "--https-port",
            "0",
            "--tls-self-signed",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--https-max-body-bytes",
            "1024",
            "--max-header-bytes",
            "8192",
        ],
        &[],
    );
    let body = "x".repeat(4096);
    let plain = client()
        .post(ferry.url("/listeners/echo"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200, "HTTP keeps the 10 MiB default");
    assert_eq!(plain.text().await.unwrap(), body);

    let cert = std::fs::read_to_string(data.path().join("tls/self-signed.crt")).unwrap();
    let https = ferry.https.unwrap();
    let tls = HttpsClient::new(&cert, "localhost");
    let post = |len: usize| {
        http::Request::post("/listeners/echo")
            .header("content-type", "text/plain")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                "x".repeat(len),
            )))
            .unwrap()
    };
    assert_eq!(tls.send(https, post(4096)).await.unwrap().status, 413);
    assert_eq!(tls.send(https, post(1000)).await.unwrap().status, 200);
    let big_head = http::Request::get("/listeners/any")
        .header("x-big", "a".repeat(16 * 1024))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(tls.send(https, big_head).await.unwrap().status, 431);
}
