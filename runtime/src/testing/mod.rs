//! `ferry test`: runs the TestSuite documents found beside a configuration against it,
//! in-process, and says which cases passed.
//!
//! The configuration under test is what `ferry run PATH...` would serve from the same
//! paths. Each case gets its own copy of it: its mocked endpoints pointed at mock listeners
//! on 127.0.0.1 ([`mock`]), compiled with the runtime's own compiler, its message stores in a
//! temporary folder, its message processors running, served by the runtime's own HTTP
//! server and dispatcher on an ephemeral port of 127.0.0.1. Cases share nothing, so they run
//! in parallel. A request case sends its request over HTTP; a sequence case runs the named
//! sequence on its input message inside the process. Then the assertions ([`assert`]) look
//! at the answer, the message, the mocks' calls, the stores and the case's log lines
//! ([`capture`]).

pub mod assert;
pub mod capture;
pub mod mock;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use ferry_api::bundle::{self, Bundle, LoadedSuite};
use ferry_api::check::test_suite::{self as suite_check, PropertyKeyScope};
use ferry_api::diagnostic::Diagnostic;
use ferry_api::resources::test_suite::{
    CallAssertion, Expect, StoreAssertion, TestCase, TestRequest, TestSequence, ValueAssertion,
};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument as _;

use crate::admin::metrics::Metrics;
use crate::compile::{self, CompileEnv, Compiled};
use crate::dispatch::Dispatcher;
use crate::endpoints::client::EndpointClient;
use crate::expr::context::PropertyScope;
use crate::leadership::Leadership;
use crate::message::Message;
use crate::processors::runner::Processors;
use crate::stores::factory::StoreRegistry;
use crate::transports::http::body::Body;
use crate::transports::http::server::{self, Handler, Peer, ServerOptions};
use assert::Failure;
use capture::LogLine;

/// Largest request body a case's server accepts.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How `ferry test` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration properties (`--set`), under every suite's own.
    pub set: Vec<(String, String)>,
    /// Replace endpoints by the suites' mocks (`--no-mocks` turns this off: calls go to
    /// the real backends, and call assertions are skipped).
    pub mocks: bool,
    /// Cases run at once.
    pub jobs: usize,
    /// Only cases whose `suite/case` name contains this.
    pub filter: Option<String>,
}

/// What was loaded to be tested.
pub struct Plan {
    bundle: Arc<Bundle>,
    /// The suites, in load order.
    pub suites: Vec<LoadedSuite>,
    /// Warnings of the configuration and the suites.
    pub warnings: Vec<Diagnostic>,
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The suite's name.
    pub suite: String,
    /// The file the suite came from, and the line of the case.
    pub file: String,
    /// The line of the case in the file.
    pub line: u32,
    /// The case's name.
    pub case: String,
    /// How long it took.
    pub duration: Duration,
    /// Every assertion that failed; empty: the case passed.
    pub failures: Vec<Failure>,
    /// What was not checked and why (`--no-mocks`).
    pub notes: Vec<String>,
    /// The log lines the case wrote.
    pub logs: Vec<LogLine>,
}

impl CaseResult {
    /// Whether every assertion held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Loads `paths` and checks the configuration and its suites: every error, located, or
/// the plan to run.
pub fn prepare(paths: &[PathBuf], options: &Options) -> Result<Plan, Vec<Diagnostic>> {
    let (bundle, mut diagnostics, suites) = bundle::load_paths_with_suites(paths);
    diagnostics.extend(suite_check::check_suites(&bundle, &suites));
    // The configuration as a case compiles it (ports and the suites' configuration keys
    // set), with stores checked, not opened.
    let mut config: HashMap<String, String> = options.set.iter().cloned().collect();
    for s in &suites.suites {
        config.extend(s.suite.spec.config.clone());
    }
    for key in ["http.port", "https.port", "admin.port"] {
        config.entry(key.to_string()).or_insert_with(|| "0".into());
    }
    let env = CompileEnv {
        config: Arc::new(config),
        client: EndpointClient::new(Default::default()),
        metrics: Arc::new(Metrics::new()),
        stores: StoreRegistry::check_only(),
    };
    if !diagnostics.iter().any(Diagnostic::is_error) {
        match compile::compile(&bundle, &env) {
            Ok(compiled) => diagnostics.extend(compiled.warnings),
            Err(more) => diagnostics.extend(more),
        }
    }
    ferry_api::diagnostic::sort(&mut diagnostics);
    diagnostics.dedup();
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    Ok(Plan {
        bundle: Arc::new(bundle),
        suites: suites.suites,
        warnings: diagnostics,
    })
}

/// Runs every selected case of the plan, `options.jobs` at once; results in suite and case
/// order.
pub async fn run(plan: &Plan, options: &Options) -> Vec<CaseResult> {
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut tasks = Vec::new();
    let mut next_id = 0u64;
    for loaded in &plan.suites {
        for case in &loaded.suite.spec.cases {
            let full_name = format!("{}/{}", loaded.suite.metadata.name, case.name);
            if options
                .filter
                .as_ref()
                .is_some_and(|f| !full_name.contains(f.as_str()))
            {
                continue;
            }
            next_id += 1;
            let work = CaseWork {
                id: next_id,
                bundle: plan.bundle.clone(),
                suite: loaded.clone(),
                case: case.clone(),
                options: options.clone(),
            };
            let permits = permits.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                work.run().await
            }));
        }
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(e) => results.push(CaseResult {
                suite: "?".into(),
                file: String::new(),
                line: 0,
                case: "?".into(),
                duration: Duration::ZERO,
                failures: vec![Failure::new(format!("the case panicked: {e}"))],
                notes: Vec::new(),
                logs: Vec::new(),
            }),
        }
    }
    results
}

/// One case to run.
struct CaseWork {
    id: u64,
    bundle: Arc<Bundle>,
    suite: LoadedSuite,
    case: TestCase,
    options: Options,
}

/// What a case's flow produced.
enum Outcome {
    /// A request case: the HTTP answer.
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// A sequence case: the message after the sequence, and its unhandled fault.
    Sequence {
        message: Box<Message>,
        fault: Option<crate::fault::Fault>,
    },
}

/// A running case: its configuration, server, mocks and processors.
struct Running {
    compiled: Arc<Compiled>,
    addr: SocketAddr,
    mocks: BTreeMap<String, Arc<mock::Mock>>,
    processors: Option<Arc<Processors>>,
    stores: StoreRegistry,
    stop: watch::Sender<bool>,
    _data: tempfile::TempDir,
}

impl CaseWork {
    async fn run(self) -> CaseResult {
        let started = Instant::now();
        let line = self
            .suite
            .origin
            .line_of(&format!("spec.cases[{}]", self.case_index()));
        let mut result = CaseResult {
            suite: self.suite.suite.metadata.name.clone(),
            file: self.suite.origin.file.to_string(),
            line,
            case: self.case.name.clone(),
            duration: Duration::ZERO,
            failures: Vec::new(),
            notes: Vec::new(),
            logs: Vec::new(),
        };
        let span = tracing::error_span!("ferry_test", ferry_test_case = self.id);
        match self.start(&span).await {
            Ok(running) => {
                let timeout = self.case.timeout.unwrap_or(self.suite.suite.spec.timeout);
                let stage = Arc::new(std::sync::Mutex::new("running the case"));
                let checked = tokio::time::timeout(
                    Duration::from_millis(timeout),
                    self.exercise(&running, &stage, &mut result.notes)
                        .instrument(span.clone()),
                )
                .await;
                match checked {
                    Ok(failures) => result.failures = failures,
                    Err(_) => {
                        let doing = stage.lock().map(|s| *s).unwrap_or("running");
                        let calls: String = self
                            .case
                            .expect
                            .calls
                            .iter()
                            .filter_map(|c| {
                                let mock = running.mocks.get(&c.endpoint)?;
                                Some(format!(
                                    "    \"{}\" received {} matching call(s); expected {}\n",
                                    c.endpoint,
                                    mock.matched_calls().len(),
                                    c.count.map_or_else(
                                        || format!("at least {}", c.index + 1),
                                        |n| n.to_string()
                                    )
                                ))
                            })
                            .collect();
                        result.failures.push(Failure {
                            message: format!("timed out after {timeout} ms while {doing}"),
                            detail: (!calls.is_empty()).then_some(calls),
                        });
                    }
                }
                result.failures.extend(unmatched_calls(&running.mocks));
                running.stop().await;
            }
            Err(failure) => result.failures.push(failure),
        }
        result.logs = capture::take(self.id);
        // Log assertions last: the lines of the whole case are in.
        result
            .failures
            .extend(check_logs(&self.case.expect, &result.logs));
        result.duration = started.elapsed();
        result
    }

    fn case_index(&self) -> usize {
        self.suite
            .suite
            .spec
            .cases
            .iter()
            .position(|c| c.name == self.case.name)
            .unwrap_or(0)
    }

    /// Starts the mocks, compiles the case's configuration and serves it.
    async fn start(&self, span: &tracing::Span) -> Result<Running, Failure> {
        let (stop, stop_rx) = watch::channel(false);
        let mut bundle = (*self.bundle).clone();
        let mut mocks = BTreeMap::new();
        if self.options.mocks {
            for store in &self.suite.suite.spec.memory_stores {
                mock::in_memory(&mut bundle, store).map_err(Failure::new)?;
            }
            // Per endpoint: the case's rules first, then the suite's.
            let mut rules: BTreeMap<&str, Vec<&ferry_api::resources::test_suite::MockRule>> =
                BTreeMap::new();
            let mut unreachable = Vec::new();
            for m in self.case.mocks.iter().chain(&self.suite.suite.spec.mocks) {
                if m.unreachable {
                    // The case's mock of an endpoint wins over the suite's.
                    if !rules.contains_key(m.endpoint.as_str()) {
                        unreachable.push(m.endpoint.as_str());
                    }
                    continue;
                }
                if unreachable.contains(&m.endpoint.as_str()) {
                    continue;
                }
                rules.entry(&m.endpoint).or_default().extend(&m.rules);
            }
            for endpoint in unreachable {
                let addr = mock::closed_port().await.map_err(|e| {
                    Failure::new(format!("cannot find a closed port for \"{endpoint}\": {e}"))
                })?;
                mock::redirect(&mut bundle, endpoint, addr).map_err(Failure::new)?;
            }
            for (endpoint, rules) in rules {
                let mock = Arc::new(mock::Mock::new(endpoint, &rules).map_err(Failure::new)?);
                let addr = mock.start(stop_rx.clone()).await.map_err(|e| {
                    Failure::new(format!("cannot start the mock of \"{endpoint}\": {e}"))
                })?;
                mock::redirect(&mut bundle, endpoint, addr).map_err(Failure::new)?;
                mocks.insert(endpoint.to_string(), mock);
            }
        }
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Failure::new(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::new(format!("cannot listen on 127.0.0.1: {e}")))?;
        let mut config: HashMap<String, String> = self.options.set.iter().cloned().collect();
        config.extend(self.suite.suite.spec.config.clone());
        config.insert("http.port".into(), addr.port().to_string());
        config
            .entry("admin.port".into())
            .or_insert_with(|| "0".into());
        config
            .entry("https.port".into())
            .or_insert_with(|| "0".into());
        let data = tempfile::tempdir()
            .map_err(|e| Failure::new(format!("cannot make a data folder: {e}")))?;
        let metrics = Arc::new(Metrics::new());
        let env = CompileEnv {
            config: Arc::new(config),
            client: EndpointClient::new(Default::default()),
            metrics: metrics.clone(),
            stores: StoreRegistry::new(data.path().to_path_buf()),
        };
        let compiled = match compile::compile(&bundle, &env) {
            Ok(c) => Arc::new(c),
            Err(diagnostics) => {
                let listing: String = diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("    {d}\n"))
                    .collect();
                return Err(Failure {
                    message: "the configuration does not compile for this case".into(),
                    detail: Some(listing),
                });
            }
        };
        let current = Arc::new(ArcSwap::from(compiled.clone()));
        let processors = if self.case.processors {
            let p = Processors::new(metrics.clone(), Leadership::standalone());
            p.install(compiled.clone()).await;
            Some(p)
        } else {
            None
        };
        let handler = Arc::new(CaseHandler {
            dispatcher: Dispatcher::new(current, metrics, MAX_BODY_BYTES),
            span: span.clone(),
        });
        let options = ServerOptions {
            graceful_timeout: Duration::from_millis(100),
            ..ServerOptions::default()
        };
        let mut stopped = stop_rx.clone();
        tokio::spawn(server::serve(listener, handler, options, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Ok(Running {
            compiled,
            addr,
            mocks,
            processors,
            stores: env.stores.clone(),
            stop,
            _data: data,
        })
    }

    /// Runs the case's flow and checks everything but the log lines.
    async fn exercise(
        &self,
        running: &Running,
        stage: &std::sync::Mutex<&'static str>,
        notes: &mut Vec<String>,
    ) -> Vec<Failure> {
        let set_stage = |s: &'static str| {
            if let Ok(mut current) = stage.lock() {
                *current = s;
            }
        };
        let outcome = if let Some(req) = &self.case.request {
            set_stage("waiting for the answer");
            match send(running.addr, req).await {
                Ok(o) => o,
                Err(f) => return vec![f],
            }
        } else if let Some(seq) = &self.case.sequence {
            set_stage("running the sequence");
            match run_sequence(&running.compiled, seq).await {
                Ok(o) => o,
                Err(f) => return vec![f],
            }
        } else {
            return vec![Failure::new(
                "the case has neither a request nor a sequence",
            )];
        };
        let expect = &self.case.expect;
        let mut failures = check_outcome(expect, &outcome);
        set_stage("waiting for the mocks' calls");
        for call in &expect.calls {
            match running.mocks.get(&call.endpoint) {
                Some(mock) => failures.extend(check_calls(call, mock).await),
                None => notes.push(format!(
                    "calls to \"{}\" not checked: mocks are off (--no-mocks)",
                    call.endpoint
                )),
            }
        }
        set_stage("reading the message stores");
        for stored in &expect.stored {
            failures.extend(check_store(stored, &running.compiled).await);
        }
        failures
    }
}

impl Running {
    async fn stop(self) {
        if let Some(p) = &self.processors {
            p.stop().await;
        }
        let _ = self.stop.send(true);
        self.stores.close_all().await;
    }
}

/// The case's handler: the runtime's dispatcher, run inside the case's span so the flow's
/// log lines are the case's.
struct CaseHandler {
    dispatcher: Dispatcher,
    span: tracing::Span,
}

impl Handler for CaseHandler {
    fn handle(
        &self,
        req: Request<Body>,
        peer: Peer,
    ) -> impl Future<Output = Response<Body>> + Send {
        self.dispatcher
            .handle(req, peer)
            .instrument(self.span.clone())
    }
}

/// Sends the case's request to the case's server.
async fn send(addr: SocketAddr, req: &TestRequest) -> Result<Outcome, Failure> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let method = Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| Failure::new(format!("\"{}\" is not an HTTP method", req.method)))?;
    let uri = format!("http://{addr}{}", req.path);
    let mut builder = Request::builder().method(method.clone()).uri(&uri);
    let (body, content_type) = match &req.body {
        Some(spec) => {
            let (bytes, ct) = mock::body_bytes(spec);
            (bytes, Some(ct))
        }
        None => (Bytes::new(), None),
    };
    let has_type = req
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    if let (Some(ct), false) = (content_type, has_type) {
        builder = builder.header(CONTENT_TYPE, ct);
    }
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(Full::new(body))
        .map_err(|e| Failure::new(format!("cannot build the request: {e}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.request(request).await.map_err(|e| {
        Failure::new(format!(
            "{method} {}: no answer from the configuration: {e}",
            req.path
        ))
    })?;
    let (parts, incoming) = response.into_parts();
    let body = incoming
        .collect()
        .await
        .map_err(|e| Failure::new(format!("cannot read the answer's body: {e}")))?
        .to_bytes();
    Ok(Outcome::Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Runs the named sequence on the case's input message.
async fn run_sequence(compiled: &Arc<Compiled>, seq: &TestSequence) -> Result<Outcome, Failure> {
    let Some(id) = compiled.sequence_id(&seq.name) else {
        return Err(Failure::new(format!(
            "sequence \"{}\" is not defined",
            seq.name
        )));
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &seq.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    let (body, method) = match &seq.body {
        Some(spec) => {
            let (bytes, ct) = mock::body_bytes(spec);
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            (bytes, Method::POST)
        }
        None => (Bytes::new(), Method::GET),
    };
    let mut msg = Message::from_request(method, http::Uri::from_static("/"), headers, body);
    msg.set_config(compiled.config.clone());
    msg.set_local_entries(compiled.local_entries.clone());
    for (key, value) in &seq.properties {
        let Some((scope, name)) = suite_check::property_key(key) else {
            continue;
        };
        if let Err(e) = msg.try_set_property(scope_of(scope), name, value.clone()) {
            return Err(Failure::new(format!("property {key}: {e}")));
        }
    }
    for (name, value) in &seq.variables {
        msg.set_variable(name.clone(), value.clone());
    }
    let env = crate::sequence::Env::new(compiled);
    let fault = crate::sequence::run_named(id, &mut msg, env).await.err();
    Ok(Outcome::Sequence {
        message: Box::new(msg),
        fault,
    })
}

fn scope_of(scope: PropertyKeyScope) -> PropertyScope {
    match scope {
        PropertyKeyScope::Default => PropertyScope::Default,
        PropertyKeyScope::Axis2 => PropertyScope::Axis2,
        PropertyKeyScope::Transport => PropertyScope::Transport,
        PropertyKeyScope::Operation => PropertyScope::Operation,
    }
}

/// Checks status, headers, body, payload, properties, variables and fault.
fn check_outcome(expect: &Expect, outcome: &Outcome) -> Vec<Failure> {
    let mut failures = Vec::new();
    let answer_message;
    let (status, headers, body, message): (StatusCode, &HeaderMap, Bytes, &Message) = match outcome
    {
        Outcome::Answer {
            status,
            headers,
            body,
        } => {
            answer_message = Message::from_request(
                Method::GET,
                http::Uri::from_static("/"),
                headers.clone(),
                body.clone(),
            );
            (*status, headers, body.clone(), &answer_message)
        }
        Outcome::Sequence { message, .. } => {
            let body = message.body_bytes().map(|(b, _)| b).unwrap_or_default();
            (message.status(), &message.headers, body, message)
        }
    };
    if let Some(want) = expect.status
        && want != status.as_u16()
    {
        let shown = String::from_utf8_lossy(&body);
        let shown: String = shown.chars().take(500).collect();
        failures.push(Failure {
            message: format!("status: expected {want}, got {}", status.as_u16()),
            detail: (!shown.is_empty()).then(|| format!("    body: {shown}\n")),
        });
    }
    for (name, want) in &expect.headers {
        let got = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if got != Some(want.as_str()) {
            failures.push(Failure::new(format!(
                "header {name}: expected {want:?}, got {}",
                got.map_or("none".to_string(), |g| format!("{g:?}"))
            )));
        }
    }
    if let Some(want) = &expect.body {
        failures.extend(assert::check_body("body", want, &body));
    }
    failures.extend(check_values("payload", &expect.payload, message));
    if let Outcome::Sequence { message, fault } = outcome {
        for (key, want) in &expect.properties {
            let Some((scope, name)) = suite_check::property_key(key) else {
                continue;
            };
            let got = message.property(scope_of(scope), name);
            failures.extend(compare_named("property", key, want, got.as_ref()));
        }
        for (name, want) in &expect.variables {
            failures.extend(compare_named(
                "variable",
                name,
                want,
                message.variable(name),
            ));
        }
        match (&expect.fault, fault) {
            (Some(want), Some(got)) => {
                if let Some(code) = want.code
                    && got.code.to_value() != code
                {
                    failures.push(Failure::new(format!(
                        "fault: expected code {code}, got {} ({})",
                        got.code.to_value(),
                        got.message
                    )));
                }
                if let Some(part) = &want.message
                    && !got.message.contains(part.as_str())
                {
                    failures.push(Failure::new(format!(
                        "fault: expected a message containing {part:?}, got {:?}",
                        got.message
                    )));
                }
            }
            (Some(_), None) => failures.push(Failure::new(
                "fault: expected the sequence to fail, it finished",
            )),
            (None, Some(got)) => failures.push(Failure::new(format!(
                "the sequence failed: {} ({})",
                got.message,
                got.code.to_value()
            ))),
            (None, None) => {}
        }
    }
    failures
}

fn compare_named(what: &str, name: &str, want: &Value, got: Option<&Value>) -> Option<Failure> {
    let ok = match (want, got) {
        (Value::Null, None) | (Value::Null, Some(Value::Null)) => true,
        (want, Some(got)) => {
            assert::json_equal(want, got)
                || (got.is_string()
                    && !want.is_object()
                    && !want.is_array()
                    && crate::expr::value::to_text(want) == crate::expr::value::to_text(got))
        }
        (_, None) => false,
    };
    (!ok).then(|| {
        Failure::new(format!(
            "{what} {name}: expected {want}, got {}",
            got.map_or("none (unset)".to_string(), Value::to_string)
        ))
    })
}

fn check_values(what: &str, assertions: &[ValueAssertion], msg: &Message) -> Vec<Failure> {
    assertions
        .iter()
        .filter_map(|a| match suite_check::assertion_expression(a) {
            Ok(expr) => assert::check_value(what, a, &expr, msg),
            Err(e) => Some(Failure::new(format!("{what}: {e}"))),
        })
        .collect()
}

/// Waits (within the case's timeout) until the mock has the calls the assertion needs,
/// then checks them.
async fn check_calls(call: &CallAssertion, mock: &mock::Mock) -> Vec<Failure> {
    let needed = call.count.map_or(call.index + 1, |c| c as usize);
    loop {
        let notified = mock.called.notified();
        if mock.matched_calls().len() >= needed {
            break;
        }
        notified.await;
    }
    // A count is exact: let a call that is already on its way arrive.
    if call.count.is_some() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = mock.matched_calls();
    let mut failures = Vec::new();
    let what = format!("calls to \"{}\"", call.endpoint);
    if let Some(count) = call.count
        && calls.len() != count as usize
    {
        failures.push(Failure {
            message: format!("{what}: expected {count}, got {}", calls.len()),
            detail: Some(
                calls
                    .iter()
                    .map(|c| format!("    {}\n", c.describe()))
                    .collect(),
            ),
        });
    }
    let Some(one) = calls.get(call.index) else {
        return failures;
    };
    let what = format!("call {} to \"{}\"", call.index, call.endpoint);
    if let Some(method) = &call.method
        && !one.method.as_str().eq_ignore_ascii_case(method)
    {
        failures.push(Failure::new(format!(
            "{what}: expected method {method}, got {}",
            one.method
        )));
    }
    if let Some(path) = &call.path
        && one.path != *path
    {
        failures.push(Failure::new(format!(
            "{what}: expected path {path}, got {}",
            one.path
        )));
    }
    if let Some(body) = &call.body {
        failures.extend(assert::check_body(&format!("{what} body"), body, &one.body));
    }
    failures.extend(check_values(&what, &call.payload, &one.message()));
    failures
}

/// Checks what a store holds; a payload is read from its first message, which is left
/// where it was.
async fn check_store(stored: &StoreAssertion, compiled: &Compiled) -> Vec<Failure> {
    let Some(store) = compiled.stores.get(&stored.store) else {
        return vec![Failure::new(format!(
            "message store \"{}\" is not open",
            stored.store
        ))];
    };
    let what = format!("store \"{}\"", stored.store);
    let mut failures = Vec::new();
    if let Some(want) = stored.count {
        // A processor may still be moving a message (to a fail store, say): wait a little
        // for the count to settle on the expected one.
        let settle = Instant::now() + Duration::from_secs(3);
        while Instant::now() < settle && store.count().await.is_ok_and(|n| n != want) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match store.count().await {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(Failure::new(format!(
                "{what}: expected {want} message(s), it holds {got}"
            ))),
            Err(e) => failures.push(Failure::new(format!("{what}: cannot count: {e}"))),
        }
    }
    if !stored.payload.is_empty() {
        match store.next().await {
            Ok(Some(lease)) => {
                let m = &lease.message;
                let mut headers = HeaderMap::new();
                if let Some(ct) = m.content_type.as_deref().and_then(|c| c.parse().ok()) {
                    headers.insert(CONTENT_TYPE, ct);
                }
                let msg = Message::from_request(
                    Method::POST,
                    http::Uri::from_static("/"),
                    headers,
                    m.body.clone(),
                );
                failures.extend(check_values(&what, &stored.payload, &msg));
                let _ = store.release(&lease).await;
            }
            Ok(None) => failures.push(Failure::new(format!(
                "{what}: holds no message to check the payload of"
            ))),
            Err(e) => failures.push(Failure::new(format!("{what}: cannot read: {e}"))),
        }
    }
    failures
}

/// Every call a mock received that no rule matched: each fails the case.
fn unmatched_calls(mocks: &BTreeMap<String, Arc<mock::Mock>>) -> Vec<Failure> {
    let mut out = Vec::new();
    for mock in mocks.values() {
        for call in mock.calls().iter().filter(|c| c.rule.is_none()) {
            let body = String::from_utf8_lossy(&call.body);
            let body: String = body.chars().take(500).collect();
            out.push(Failure {
                message: format!(
                    "mock of endpoint \"{}\": no rule matches the call {}",
                    mock.endpoint,
                    call.describe()
                ),
                detail: (!body.is_empty()).then(|| format!("    body: {body}\n")),
            });
        }
    }
    out
}

/// Checks the log assertions on the captured lines.
fn check_logs(expect: &Expect, lines: &[LogLine]) -> Vec<Failure> {
    let mut failures = Vec::new();
    for a in &expect.logs {
        let re = match &a.matches {
            Some(re) => match regex::Regex::new(re) {
                Ok(re) => Some(re),
                Err(e) => {
                    failures.push(Failure::new(format!("logs: /{re}/: {e}")));
                    continue;
                }
            },
            None => None,
        };
        let found = lines.iter().any(|l| {
            a.level
                .as_deref()
                .is_none_or(|lv| l.level.as_str().eq_ignore_ascii_case(lv))
                && match (&a.contains, &re) {
                    (Some(part), _) => l.text.contains(part.as_str()),
                    (None, Some(re)) => re.is_match(&l.text),
                    (None, None) => false,
                }
        });
        let shown = a
            .contains
            .as_ref()
            .map(|c| format!("{c:?}"))
            .or_else(|| a.matches.as_ref().map(|m| format!("/{m}/")))
            .unwrap_or_default();
        if found == a.absent {
            let listing: String = lines
                .iter()
                .map(|l| format!("    {} {}\n", l.level, l.text))
                .collect();
            failures.push(Failure {
                message: if a.absent {
                    format!("logs: expected no line with {shown}, found one")
                } else {
                    format!("logs: expected a line with {shown}, found none")
                },
                detail: Some(if listing.is_empty() {
                    "    (the case wrote no log lines)\n".into()
                } else {
                    listing
                }),
            });
        }
    }
    failures
}
