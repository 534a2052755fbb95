//! The TestSuite document: cases that send a request to an API resource (or a message into
//! a Sequence) with chosen endpoints replaced by mocks, and the assertions on what comes
//! out. `ferry test PATH...` runs them; `ferry validate` checks them.
//!
//! A TestSuite is a *local* document, not a custom resource: it is written beside the
//! resources it tests (`config/samples/healthcare/tests/*.yaml`) and shares their
//! `apiVersion`, so editors and `ferry validate` know it, but it describes a CI step, not
//! state of a cluster. It has no CRD, the operator never sees it, and `ferry run` skips it,
//! so a broken test never stops a deployment (`ferry validate` and `ferry test` report it).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `kind` of a test suite document.
pub const TEST_SUITE_KIND: &str = "TestSuite";

/// A test suite: mocks and cases for the configuration `ferry test` loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    title = "TestSuite",
    description = "Unit tests of integrations (`ferry test`): cases that call an API resource or a Sequence, with endpoints replaced by mocks, and assertions on what comes out. A local document: no CRD, ignored by `ferry run` and the operator."
)]
pub struct TestSuite {
    /// `ferry.dev/v1alpha1`.
    pub api_version: String,
    /// `TestSuite`.
    pub kind: String,
    /// The suite's name (reports and JUnit name it).
    pub metadata: TestSuiteMetadata,
    /// Mocks and cases.
    pub spec: TestSuiteSpec,
}

/// A suite's metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSuiteMetadata {
    /// The suite's name.
    pub name: String,
    /// Labels (kept for tooling; not read by Ferry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (kept for tooling; not read by Ferry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What a suite holds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSuiteSpec {
    /// Configuration properties (`${config.KEY}`) the cases run with, on top of
    /// `ferry test --set`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Milliseconds a case may take, its mocks' delays included, before it fails as timed
    /// out. Default 10000.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Endpoints replaced by mocks for every case (a case's own mocks of the same endpoint
    /// are tried first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mocks: Vec<Mock>,
    /// MessageStores replaced by an in-process memory store for every case (a RabbitMQ or
    /// PostgreSQL store, say: the suite then needs no broker or database, and
    /// `expect.stored` sees what the case left there). Its failover store is dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_stores: Vec<String>,
    /// The cases, run in parallel (each on its own copy of the configuration, its own
    /// ephemeral port, mocks and message stores).
    pub cases: Vec<TestCase>,
}

/// Default of [`TestSuiteSpec::timeout`].
pub fn default_timeout() -> u64 {
    10_000
}

/// An endpoint replaced by a mock: a listener on 127.0.0.1 that answers by the first rule
/// whose match holds, and records every call. A call no rule matches fails the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mock {
    /// The Endpoint (by `metadata.name` or Synapse name) the mock replaces: an `http` or
    /// `address` endpoint. The endpoint's path and settings (timeout, headers) stay; its
    /// scheme, host and port become the mock's.
    pub endpoint: String,
    /// The rules, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<MockRule>,
    /// A backend that is down: the endpoint is pointed at a closed port of 127.0.0.1, so
    /// every call fails to connect (Synapse error 101503), as when the real one is
    /// unreachable. No rules then. Default false.
    #[serde(default)]
    pub unreachable: bool,
}

/// One answer of a mock, and the calls it answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MockRule {
    /// Which calls this rule answers. Default: every call.
    #[serde(rename = "match", default)]
    pub matches: MockMatch,
    /// The answer.
    #[serde(default)]
    pub respond: MockResponse,
}

/// Conditions on a call to a mock; all that are set must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MockMatch {
    /// The HTTP method (`GET`, `POST`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path, exactly (no query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A regular expression the whole path (no query) must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    /// Headers the call must carry with these values (names case-insensitive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A boolean expression on the call as a message (`${payload.patient.name == "John"}`,
    /// `json-eval(...)`, XPath): the call matches when it is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// What a mock answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MockResponse {
    /// The HTTP status. Default 200.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Headers of the answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Milliseconds to wait before answering (to test endpoint timeouts). Default 0.
    #[serde(default)]
    pub delay: u64,
}

impl Default for MockResponse {
    fn default() -> Self {
        Self {
            status: default_status(),
            headers: BTreeMap::new(),
            body: None,
            delay: 0,
        }
    }
}

fn default_status() -> u16 {
    200
}

/// A message body: exactly one of `json`, `xml` and `text`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Body {
    /// A JSON document (written as YAML); sent as `application/json`, compared as JSON
    /// (key order does not matter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// An XML document; sent as `application/xml`, compared as XML (whitespace between
    /// elements does not matter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml: Option<String>,
    /// Text; sent as `text/plain`, compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Body {
    /// The forms that are set (`json`, `xml`, `text`): a valid body has exactly one.
    pub fn forms(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.json.is_some() {
            out.push("json");
        }
        if self.xml.is_some() {
            out.push("xml");
        }
        if self.text.is_some() {
            out.push("text");
        }
        out
    }
}

/// One case: exactly one of `request` and `sequence`, and what to expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestCase {
    /// The case's name (unique in the suite).
    pub name: String,
    /// An HTTP request to an API (or proxy) resource, sent to the configuration on an
    /// ephemeral port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<TestRequest>,
    /// A message run through a named Sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<TestSequence>,
    /// Mocks for this case only, tried before the suite's for the same endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mocks: Vec<Mock>,
    /// Milliseconds this case may take. Default: the suite's `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Run the configuration's message processors during the case (store-and-forward).
    /// Default true; false leaves stored messages where they are for `expect.stored`.
    #[serde(default = "default_true")]
    pub processors: bool,
    /// The assertions.
    #[serde(default)]
    pub expect: Expect,
}

fn default_true() -> bool {
    true
}

/// The request of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestRequest {
    /// The HTTP method. Default `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    /// The path and query (`/healthcare/categories/surgery/reserve?x=1`).
    pub path: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body (its content type unless `headers` sets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// The Sequence under test and its input message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSequence {
    /// The Sequence's name (or Synapse name).
    pub name: String,
    /// Transport headers of the input message.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The input payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Properties set before the sequence runs: `NAME` (default scope) or `axis2:NAME`,
    /// `transport:NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
    /// Variables set before the sequence runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Value>,
}

/// What a case expects; every assertion given must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// The answer's HTTP status (for a sequence: `axis2:HTTP_SC` when set, else 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Answer headers and their exact values (names case-insensitive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The whole payload, exactly (JSON and XML compared structurally); a diff on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Assertions on parts of the payload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload: Vec<ValueAssertion>,
    /// Properties after a sequence (`NAME`, `axis2:NAME`, `transport:NAME`) and their
    /// values; `null` expects the property unset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
    /// Variables after a sequence and their values; `null` expects the variable unset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Value>,
    /// The fault a sequence ends with (and that no fault sequence handled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultAssertion>,
    /// Log lines the case's flow writes (the `log` mediator's, and warnings and errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogAssertion>,
    /// Calls the mocks received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallAssertion>,
    /// Messages left in message stores when the flow is over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored: Vec<StoreAssertion>,
}

/// One value read from a message, and the condition it must meet: exactly one of `path`,
/// `xpath` and `expression`, and exactly one of `equals`, `contains`, `matches` and
/// `exists`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueAssertion {
    /// A JSONPath into a JSON payload (`$.doctor.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An XPath 1.0 into an XML payload (`//quote/price`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xpath: Option<String>,
    /// A Synapse expression on the message (`${payload.fee * 2}`, `${headers["X-Id"]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// XML namespace prefixes `xpath` may use, `prefix: uri`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, String>,
    /// The value, as JSON (a number equals a number, a string a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// Text the value (as text) contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A regular expression the value (as text) matches somewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Whether the value is there at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// The fault a sequence case ends with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultAssertion {
    /// The Synapse error code (`101503`, `101504`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Text the fault's message contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A log line the case must (or must not) write: exactly one of `contains` and `matches`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogAssertion {
    /// Text a line contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A regular expression a line matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// The line's level (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`). Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Expect no such line. Default false.
    #[serde(default)]
    pub absent: bool,
}

/// Calls a mocked endpoint received.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallAssertion {
    /// The mocked endpoint.
    pub endpoint: String,
    /// How many calls it received (waited for until the case's timeout: a processor may
    /// call later than the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Which call `method`, `path`, `body` and `payload` look at, from 0. Default 0.
    #[serde(default)]
    pub index: usize,
    /// That call's method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// That call's path (no query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// That call's whole body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Assertions on that call's body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload: Vec<ValueAssertion>,
}

/// Messages a message store holds after the flow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreAssertion {
    /// The MessageStore.
    pub store: String,
    /// How many messages it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Assertions on the payload of the first message it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload: Vec<ValueAssertion>,
}
