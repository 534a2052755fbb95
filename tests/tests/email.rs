//! Email, black box: an API whose `call` goes to an `smtp` endpoint, against a real SMTP
//! server on 127.0.0.1 that each test starts (Python's aiosmtpd, tests/support/
//! smtp_server.py; the tests skip with a reason when it is not installed). What the server
//! received is asserted: envelope recipients (to, cc, bcc), headers, body, attachments,
//! AUTH over STARTTLS; and a refusal is a fault carrying the server's code and text.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_tests::tls::{TestCa, Usage};
use ferry_tests::{
    Ferry, assert_contains_all, client, validate_fails, workspace_root, write_config,
};
use serde_json::{Value, json};

/// The test's SMTP server.
struct SmtpServer {
    child: Child,
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
}

impl SmtpServer {
    /// Starts the server with `args`; `None` (after printing why) when aiosmtpd is missing.
    fn start(args: &[&str]) -> Option<SmtpServer> {
        let available = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            eprintln!(
                "skipped: Python's aiosmtpd is not installed (.ci/services.sh installs it with pip)"
            );
            return None;
        }
        let script = workspace_root().join("tests/support/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let store = received.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("port ") {
                    let _ = port_tx.send(port.trim().parse::<u16>().unwrap());
                } else if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    store.lock().unwrap().push(v);
                }
            }
        });
        let port = port_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        Some(SmtpServer {
            child,
            port,
            received,
        })
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// The mails accepted once `n` are in, or after 10 s. The server prints each mail
    /// before it answers 250, but the line reaches this process's reader thread on its own
    /// time: on a loaded machine after the call that sent it returned.
    fn received_at_least(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing its input stops it.
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API sending each POSTed order as an email through the endpoint `mail`, whose
/// `smtp` block is `SMTP`; the fault sequence answers 503 with the code and message.
const MAIL: &str = "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: mail
spec:
  smtp:
SMTP
  timeout: {duration: 10000}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: mail
spec:
  context: /mail
  resources:
    - methods: [POST]
      inSequence:
        - call: {endpoint: {key: mail}}
        - respond: {}
      faultSequence:
        - property: {name: HTTP_SC, scope: axis2, value: '503'}
        - payloadFactory:
            mediaType: json
            format: '{\"code\": \"${props.synapse.ERROR_CODE}\", \"message\": \"${props.synapse.ERROR_MESSAGE}\"}'
        - respond: {}
";

fn mail_config(smtp: &str) -> String {
    MAIL.replace("SMTP", smtp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_mailed_with_recipients_headers_body_and_an_attachment() {
    let Some(server) = SmtpServer::start(&["--auth", "mailer:s3cret"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let smtp = format!(
        "    host: 127.0.0.1
    port: {}
    security: none
    username: mailer
    passwordFrom: {{env: TEST_SMTP_PASSWORD}}
    from: 'Orders <orders@example.org>'
    to: '${{payload.customer}}, ops@example.org'
    cc: audit@example.org
    bcc: archive@example.org
    replyTo: support@example.org
    subject: 'Order ${{payload.id}} received'
    content: 'Hello, your order ${{payload.id}} of ${{payload.qty}} items is in.'
    headers: {{X-Order-Id: '${{payload.id}}'}}
    attachments:
      - {{fileName: 'order-${{payload.id}}.json'}}",
        server.port
    );
    write_config(dir.path(), &mail_config(&smtp));
    let ferry = Ferry::start_with_env(&[dir.path()], &[], &[("TEST_SMTP_PASSWORD", "s3cret")]);
    let order = json!({"id": 7, "qty": 3, "customer": "ada@example.org"});
    let resp = client()
        .post(ferry.url("/mail"))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        order,
        "the message goes on unchanged"
    );
    // Accepted before the call returned.
    let got = server.received_at_least(1);
    assert_eq!(got.len(), 1, "{got:?}");
    let mail = &got[0];
    assert_eq!(mail["mail_from"], "orders@example.org");
    let mut rcpt: Vec<String> = mail["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "ada@example.org",
            "archive@example.org",
            "audit@example.org",
            "ops@example.org"
        ]
    );
    let h = &mail["headers"];
    assert_eq!(h["subject"], "Order 7 received");
    assert_eq!(h["from"], "Orders <orders@example.org>");
    assert_eq!(h["to"], "ada@example.org, ops@example.org");
    assert_eq!(h["cc"], "audit@example.org");
    assert_eq!(h["reply-to"], "support@example.org");
    assert_eq!(h["x-order-id"], "7");
    assert!(h.get("bcc").is_none(), "bcc stays in the envelope: {h}");
    assert_eq!(mail["authenticated"], true);
    assert_eq!(mail["login"], "mailer");
    let parts = mail["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(
        parts[0]["content"].as_str().unwrap().trim(),
        "Hello, your order 7 of 3 items is in."
    );
    assert_eq!(parts[1]["filename"], "order-7.json");
    assert_eq!(parts[1]["content_type"], "application/json");
    let attached: Value = serde_json::from_str(parts[1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(attached, order);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_through_starttls_with_auth_and_the_payload_as_the_body() {
    let ca = TestCa::new("smtp test CA");
    let pem = ca.issue("127.0.0.1", &["127.0.0.1"], Usage::Server);
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, &pem.cert).unwrap();
    std::fs::write(&key, &pem.key).unwrap();
    let Some(server) = SmtpServer::start(&[
        "--auth",
        "mailer:s3cret",
        "--starttls",
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    ]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let smtp = format!(
        "    host: 127.0.0.1
    port: {}
    security: starttls
    caFrom: {{env: TEST_SMTP_CA}}
    username: mailer
    passwordFrom: {{env: TEST_SMTP_PASSWORD}}
    from: orders@example.org
    to: ada@example.org
    subject: report",
        server.port
    );
    write_config(dir.path(), &mail_config(&smtp));
    let ferry = Ferry::start_with_env(
        &[dir.path()],
        &[],
        &[("TEST_SMTP_PASSWORD", "s3cret"), ("TEST_SMTP_CA", &ca.cert)],
    );
    let resp = client()
        .post(ferry.url("/mail"))
        .header("content-type", "text/csv")
        .body("id,qty\n7,3\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", ferry.log());
    let got = server.received_at_least(1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["tls"], true, "upgraded with STARTTLS");
    assert_eq!(got[0]["login"], "mailer");
    let part = &got[0]["parts"][0];
    assert_eq!(part["content_type"], "text/csv");
    // Mail lines end with CRLF; the body's own line ends and trailing newline aside, it is
    // the payload.
    let text = part["content"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(text.trim_end(), "id,qty\n7,3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_and_a_wrong_password_are_faults_with_the_servers_code() {
    let Some(server) = SmtpServer::start(&["--auth", "mailer:s3cret"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let smtp = format!(
        "    host: 127.0.0.1
    port: {}
    security: none
    username: mailer
    passwordFrom: {{env: TEST_SMTP_PASSWORD}}
    from: orders@example.org
    to: '${{payload.to}}'
    subject: hi",
        server.port
    );
    write_config(dir.path(), &mail_config(&smtp));
    let ferry = Ferry::start_with_env(&[dir.path()], &[], &[("TEST_SMTP_PASSWORD", "s3cret")]);
    let resp = client()
        .post(ferry.url("/mail"))
        .json(&json!({"to": "refused@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "101500", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("550") && message.contains("mailbox unavailable"),
        "{message}"
    );
    // A rendered address that is not one: a fault naming the field, nothing sent.
    let resp = client()
        .post(ferry.url("/mail"))
        .json(&json!({"to": "not an address"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("endpoint mail: to:"),
        "{body}"
    );
    assert!(server.received().is_empty());
    drop(ferry);

    // The wrong password: AUTH is refused (535).
    let ferry = Ferry::start_with_env(&[dir.path()], &[], &[("TEST_SMTP_PASSWORD", "wrong")]);
    let resp = client()
        .post(ferry.url("/mail"))
        .json(&json!({"to": "ada@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "101500", "{body}");
    assert!(body["message"].as_str().unwrap().contains("535"), "{body}");
    assert!(server.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_is_not_there_is_a_connection_fault() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let smtp = format!(
        "    host: 127.0.0.1\n    port: {port}\n    security: none\n    from: a@example.org\n    to: b@example.org"
    );
    write_config(dir.path(), &mail_config(&smtp));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let resp = client()
        .post(ferry.url("/mail"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "101503", "{body}");
}

#[test]
fn validate_refuses_bad_smtp_settings_with_located_messages() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-mail
spec:
  smtp:
    host: ''
    from: 'not an address'
    passwordFrom: {env: PW}
    contentType: plain
    subject: '${payload.'
    headers: {Subject: x}
  retry: {count: 2}
",
    );
    let text = validate_fails(&[dir.path()]);
    assert_contains_all(
        &text,
        &[
            "Endpoint/bad-mail spec.smtp.host: host is required",
            "spec.smtp.from: \"not an address\" is not an email address",
            "spec.smtp.passwordFrom: a password goes with a username",
            "spec.smtp: an email needs recipients",
            "spec.smtp.contentType: not a valid content type",
            "spec.smtp.subject: invalid template",
            "spec.smtp.headers.Subject",
            "spec.retry: retry is not supported on an smtp endpoint",
        ],
    );
}
