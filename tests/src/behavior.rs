//! Data-driven behaviour tests: each `tests/behavior/*.yaml` holds Ferry resources plus one
//! `BehaviorTest` document (backends to start, requests to send, responses to expect).
//! A new mediator's test is one such file; [`run_file`] executes it against the real binary.
//!
//! ```yaml
//! apiVersion: test.ferry.dev/v1
//! kind: BehaviorTest
//! backends:                       # real HTTP servers on 127.0.0.1; port in ${config.backend.<name>.port}
//!   - name: echo
//!     echo: true
//!   - name: fixed
//!     reply: {status: 200, contentType: application/json, body: '{"ok":true}', delayMs: 0,
//!             headers: {Cache-Control: no-store}}
//! cases:
//!   - name: the body goes through untouched
//!     request: {method: POST, path: /api/x, headers: {X-A: b}, json: {"a": 1}}
//!     expect: {status: 200, headers: {content-type: application/json}, json: {"a": 1}}
//!     backend: {name: echo, count: 1, path: /x, json: {"a": 1}, headers: {x-a: b},
//!               bodyContains: ['"a"']}
//!   - name: later
//!     waitMs: 500                 # wait before sending (an expiry to pass)
//!     request: {path: /api/x}
//!     expect: {status: 200}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::backend::{Backend, Reply};
use crate::{Ferry, client};

/// The test document of a behaviour file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BehaviorTest {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    backends: Vec<BackendSpec>,
    /// Extra `ferry run` arguments.
    #[serde(default)]
    args: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BackendSpec {
    name: String,
    #[serde(default)]
    echo: bool,
    reply: Option<ReplySpec>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplySpec {
    #[serde(default = "ok")]
    status: u16,
    #[serde(default = "json_type")]
    content_type: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    delay_ms: u64,
    /// More response headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn ok() -> u16 {
    200
}

fn json_type() -> String {
    "application/json".into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    name: String,
    /// Milliseconds to wait before sending the request (an expiry to pass, say).
    #[serde(default)]
    wait_ms: u64,
    request: RequestSpec,
    expect: Expect,
    backend: Option<BackendExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RequestSpec {
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    json: Option<Value>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expect {
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    json: Option<Value>,
    body: Option<String>,
    #[serde(default)]
    body_contains: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BackendExpect {
    name: String,
    count: Option<usize>,
    path: Option<String>,
    method: Option<String>,
    json: Option<Value>,
    body: Option<String>,
    #[serde(default)]
    body_contains: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The behaviour files under `tests/behavior`, sorted.
pub fn files() -> Vec<PathBuf> {
    let dir = crate::workspace_root().join("tests").join("behavior");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    // `FERRY_BEHAVIOR=clone` runs only the files whose name contains `clone`.
    if let Ok(only) = std::env::var("FERRY_BEHAVIOR") {
        files.retain(|p| {
            p.file_stem()
                .is_some_and(|s| s.to_string_lossy().contains(&only))
        });
    }
    files.sort();
    files
}

/// Reads the `BehaviorTest` document of a file.
pub fn read_test(path: &Path) -> Result<BehaviorTest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let docs = ferry_api::bundle::yaml::parse_documents(&text)
        .map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let doc = docs
        .into_iter()
        .find(|d| d.value.get("kind").and_then(Value::as_str) == Some("BehaviorTest"))
        .ok_or("no BehaviorTest document")?;
    serde_json::from_value(doc.value).map_err(|e| format!("BehaviorTest: {e}"))
}

/// Runs every case of one file; returns one message per failed case.
pub async fn run_file(path: &Path) -> Vec<String> {
    let test = match read_test(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: {e}", path.display())],
    };
    let mut backends = BTreeMap::new();
    let mut args: Vec<String> = Vec::new();
    for spec in &test.backends {
        let backend = if spec.echo {
            Backend::echo()
        } else {
            let reply = spec.reply.clone().unwrap_or(ReplySpec {
                status: 200,
                content_type: json_type(),
                body: String::new(),
                delay_ms: 0,
                headers: BTreeMap::new(),
            });
            Backend::start(move |_| {
                let mut r =
                    Reply::with_status(reply.status, &reply.content_type, reply.body.clone())
                        .delayed(Duration::from_millis(reply.delay_ms));
                r.headers
                    .extend(reply.headers.iter().map(|(n, v)| (n.clone(), v.clone())));
                r
            })
        };
        args.push("--set".into());
        args.push(format!("backend.{}.port={}", spec.name, backend.port()));
        backends.insert(spec.name.clone(), backend);
    }
    args.extend(test.args.iter().cloned());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let ferry = match Ferry::try_start(&[path], &arg_refs) {
        Ok(f) => f,
        Err(e) => return vec![format!("{}: {e}", path.display())],
    };
    let http = client();
    let mut failures = Vec::new();
    for case in &test.cases {
        let before: BTreeMap<&String, usize> = backends
            .iter()
            .map(|(n, b)| (n, b.requests().len()))
            .collect();
        if let Err(e) = run_case(&http, &ferry, case, &backends, &before).await {
            failures.push(format!(
                "{} — {}: {e}\n--- ferry log ---\n{}",
                path.display(),
                case.name,
                ferry.log()
            ));
        }
    }
    failures
}

async fn run_case(
    http: &reqwest::Client,
    ferry: &Ferry,
    case: &Case,
    backends: &BTreeMap<String, Backend>,
    before: &BTreeMap<&String, usize>,
) -> Result<(), String> {
    if case.wait_ms > 0 {
        tokio::time::sleep(Duration::from_millis(case.wait_ms)).await;
    }
    let method = reqwest::Method::from_bytes(case.request.method.as_bytes())
        .map_err(|e| format!("bad method: {e}"))?;
    let mut req = http.request(method, ferry.url(&case.request.path));
    for (n, v) in &case.request.headers {
        req = req.header(n, v);
    }
    if let Some(json) = &case.request.json {
        req = req
            .header("content-type", "application/json")
            .body(json.to_string());
    } else if let Some(body) = &case.request.body {
        req = req.body(body.clone());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let e = &case.expect;
    if status != e.status {
        return Err(format!(
            "status {status}, expected {}; body: {text}",
            e.status
        ));
    }
    for (name, want) in &e.headers {
        let got = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<absent>");
        if !got.starts_with(want.as_str()) {
            return Err(format!("header {name}: {got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &e.json {
        let got: Value = serde_json::from_slice(&body)
            .map_err(|err| format!("body is not JSON ({err}): {text}"))?;
        if &got != want {
            return Err(format!("JSON body {got}, expected {want}"));
        }
    }
    if let Some(want) = &e.body
        && &text != want
    {
        return Err(format!("body {text:?}, expected {want:?}"));
    }
    for want in &e.body_contains {
        if !text.contains(want.as_str()) {
            return Err(format!("body {text:?} does not contain {want:?}"));
        }
    }
    if let Some(b) = &case.backend {
        let backend = backends
            .get(&b.name)
            .ok_or_else(|| format!("no backend named {}", b.name))?;
        let seen = backend.requests();
        let new = &seen[before.get(&b.name).copied().unwrap_or(0).min(seen.len())..];
        if let Some(count) = b.count
            && new.len() != count
        {
            return Err(format!(
                "backend {} got {} requests, expected {count}",
                b.name,
                new.len()
            ));
        }
        if let Some(last) = new.last() {
            if let Some(path) = &b.path
                && &last.uri != path
            {
                return Err(format!("backend path {:?}, expected {path:?}", last.uri));
            }
            if let Some(method) = &b.method
                && &last.method != method
            {
                return Err(format!("backend method {}, expected {method}", last.method));
            }
            if let Some(want) = &b.json
                && &last.json() != want
            {
                return Err(format!("backend got JSON {}, expected {want}", last.json()));
            }
            if let Some(want) = &b.body
                && &last.text() != want
            {
                return Err(format!("backend got {:?}, expected {want:?}", last.text()));
            }
            let text = last.text();
            for want in &b.body_contains {
                if !text.contains(want.as_str()) {
                    return Err(format!(
                        "backend got {text:?}, expected it to contain {want:?}"
                    ));
                }
            }
            for (name, want) in &b.headers {
                let got = last.header(name).unwrap_or("<absent>");
                if got != want {
                    return Err(format!("backend header {name}: {got:?}, expected {want:?}"));
                }
            }
        } else if b.count != Some(0) {
            return Err(format!("backend {} got no request", b.name));
        }
    }
    Ok(())
}
