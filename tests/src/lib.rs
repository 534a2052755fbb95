//! Harness for the black-box tests: start the built `ferry` binary on ephemeral ports,
//! start real HTTP backends on 127.0.0.1, and talk to both over real sockets.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

pub mod backend;
pub mod behavior;
pub mod broker;
pub mod file_servers;
pub mod files;
pub mod process;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use backend::{Backend, Recorded};

/// The workspace root (the folder holding `config/`, `crds/`, `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The `ferry` binary under test: `$FERRY_BIN`, or the one cargo built beside this test
/// (built now with `cargo build -p ferry` if it is missing).
pub fn ferry_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("FERRY_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => workspace_bin("ferry", "ferry"),
    })
    .clone()
}

/// The `ferry-operator` binary, built beside this test like [`ferry_bin`].
pub fn operator_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("ferry-operator", "ferry-operator"))
        .clone()
}

/// A binary of a workspace package, built (or found up to date) in this test's profile.
fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    // target/<profile>/deps/<test-binary> -> target/<profile>/<bin>
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(bin);
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", package, "--bin", bin])
        .current_dir(workspace_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the {bin} binary failed");
    assert!(path.exists(), "no {bin} binary at {}", path.display());
    path
}

/// Runs `ferry validate` on paths and returns its output.
pub fn validate(paths: &[&Path]) -> Output {
    Command::new(ferry_bin())
        .arg("validate")
        .args(paths)
        .output()
        .expect("ferry runs")
}

/// A running `ferry run`, killed when dropped.
pub struct Ferry {
    child: Child,
    /// The HTTP listener.
    pub http: SocketAddr,
    /// The admin listener (`/livez`, `/readyz`, `/metrics`).
    pub admin: SocketAddr,
    /// The HTTPS listener, when started with `--tls-cert`.
    pub https: Option<SocketAddr>,
    log: tempfile::NamedTempFile,
    _ports: tempfile::TempDir,
}

impl Ferry {
    /// Starts `ferry run` on `paths` with extra arguments, on ephemeral ports, and waits until
    /// `/readyz` answers 200.
    pub fn start(paths: &[&Path], extra: &[&str]) -> Ferry {
        Self::try_start(paths, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Ferry::start`], with `dir` as ferry's current directory: how relative paths
    /// (`ferry run config/samples`, as `make run` gives them) are tested.
    pub fn start_in(dir: &Path, paths: &[&Path], extra: &[&str]) -> Ferry {
        Self::try_start_in(Some(dir), paths, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Ferry::start`], but returns the reason (with ferry's log) when it fails.
    pub fn try_start(paths: &[&Path], extra: &[&str]) -> Result<Ferry, String> {
        Self::try_start_in(None, paths, extra)
    }

    /// Like [`Ferry::try_start`], in `dir` when given (else this test's directory).
    pub fn try_start_in(
        dir: Option<&Path>,
        paths: &[&Path],
        extra: &[&str],
    ) -> Result<Ferry, String> {
        Self::try_start_env(dir, paths, extra, &[])
    }

    /// Like [`Ferry::start`], with environment variables set for ferry (secrets a
    /// configuration reads with `env`).
    pub fn start_with_env(paths: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> Ferry {
        Self::try_start_env(None, paths, extra, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Ferry::try_start_in`], with environment variables for ferry (secrets that
    /// resources read with `env:`).
    pub fn try_start_env(
        dir: Option<&Path>,
        paths: &[&Path],
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Ferry, String> {
        let ports = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ports_file = ports.path().join("ports.json");
        let log = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        let stderr = log.reopen().map_err(|e| e.to_string())?;
        let mut command = Command::new(ferry_bin());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .arg("run")
            .args(paths)
            .args([
                "--http-port",
                "0",
                "--admin-port",
                "0",
                "--host",
                "127.0.0.1",
            ])
            .arg("--ports-file")
            .arg(&ports_file)
            .args(extra)
            // Durable stores go to a fresh folder unless the test picks one (to restart on it).
            .args(if extra.contains(&"--data-dir") {
                Vec::new()
            } else {
                vec![
                    std::ffi::OsString::from("--data-dir"),
                    ports.path().join("data").into_os_string(),
                ]
            })
            .env(
                "FERRY_LOG",
                std::env::var("FERRY_LOG").unwrap_or_else(|_| "info".into()),
            )
            // Tests read the human-readable lines (a log file is JSON by default).
            .env("FERRY_LOG_FORMAT", "text")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start ferry: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let (http, admin, https) = loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let http = v["http"].as_str().and_then(|s| s.parse().ok());
                let admin = v["admin"].as_str().and_then(|s| s.parse().ok());
                let https = v["https"].as_str().and_then(|s| s.parse().ok());
                if let (Some(h), Some(a)) = (http, admin) {
                    break (h, a, https);
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(log.path()).unwrap_or_default();
                return Err(format!("ferry exited with {status} before serving:\n{log}"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let log = std::fs::read_to_string(log.path()).unwrap_or_default();
                return Err(format!("ferry did not write its ports in time:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let ferry = Ferry {
            child,
            http,
            admin,
            https,
            log,
            _ports: ports,
        };
        ferry.wait_ready(Duration::from_secs(20))?;
        Ok(ferry)
    }

    /// Polls `/readyz` until it answers 200.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(200) = blocking_status(self.admin, "/readyz") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("ferry never became ready:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:port` of the HTTP listener, plus `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// `http://127.0.0.1:port` of the admin listener, plus `path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// Everything ferry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The process id, to send signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `HUP`, `KILL`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking GET used while waiting for readiness (no runtime needed).
fn blocking_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The token management API writes carry in tests.
pub const MANAGEMENT_TOKEN: &str = "ferry-test-management-token";

/// A file holding [`MANAGEMENT_TOKEN`], for `--management-token-file` (kept while it lives).
pub fn management_token_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(file.path(), format!("{MANAGEMENT_TOKEN}\n")).expect("token written");
    file
}

/// A reqwest client that never uses a proxy (tests only talk to 127.0.0.1).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

/// An Endpoint `name` at the broker address `uri` (`timeout_ms` to wait for the broker) and
/// an API, `POST /publish`, that calls it and answers its reply; a fault answers 503 with
/// `{"code": <the Synapse error code>}`.
pub fn publish_config(name: &str, uri: &str, timeout_ms: u64) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: {name}
spec:
  address:
    uri: {uri}
  timeout: {{duration: {timeout_ms}}}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: publish
spec:
  context: /publish
  resources:
    - methods: [POST]
      inSequence:
        - call: {{endpoint: {{key: {name}}}}}
        - respond: {{}}
      faultSequence:
        - property: {{name: HTTP_SC, scope: axis2, value: '503'}}
        - payloadFactory: {{mediaType: json, format: '{{\"code\": \"${{props.synapse.ERROR_CODE}}\"}}'}}
        - respond: {{}}
"
    )
}

/// Writes `text` as the `config.yaml` of the configuration folder `dir`.
pub fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("config.yaml"), text).expect("config.yaml written");
}

/// Waits until `done` holds, checking every 20 ms; past `timeout` the test fails saying it
/// timed out waiting for `what`.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The management API's view of the inbound endpoint `name` (its state and counts).
pub async fn inbound_endpoint(ferry: &Ferry, name: &str) -> serde_json::Value {
    client()
        .get(ferry.admin_url(&format!("/management/inbound-endpoints/{name}")))
        .send()
        .await
        .expect("the management API answers")
        .json()
        .await
        .expect("JSON")
}

/// Polls the inbound endpoint `name` every 50 ms until `done` holds of its state, and
/// returns that state; past `timeout` the test fails saying it timed out waiting for
/// `what`, with the last state and Ferry's log.
pub async fn wait_inbound_endpoint(
    ferry: &Ferry,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let state = inbound_endpoint(ferry, name).await;
        if done(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {state}\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What `ferry validate` says about `paths` (stderr, then stdout), once it failed.
pub fn validate_fails(paths: &[&Path]) -> String {
    let out = validate(paths);
    assert!(!out.status.success(), "validate accepted {paths:?}");
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

/// Fails, naming the first missing one, unless `text` contains every needle.
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing in:\n{text}");
    }
}
