//! Mediators that branch, split, join or guard the flow: filter, switch, clone, iterate,
//! aggregate, foreach, scatterGather, throttle, cache and validate. Each holds nested
//! mediator lists, which [`super::Mediator::children`] exposes to the validator and compiler.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Mediator, Namespaces, nested, nested_lists};
use crate::resources::common::{Feature, any_value, default_true};
use crate::resources::endpoint::{EndpointRef, endpoint_ref_schema};

// === filter, switch ===

/// `filter`: runs `then` when the condition holds, `else` otherwise. The condition is one of
/// `expression` (a boolean `${...}`), `xpath` (a boolean XPath), or `source` + `regex`
/// (the source's string value fully matches the regular expression).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterSpec {
    /// An expression whose string value is matched against `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The regular expression `source` must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A boolean XPath condition (Synapse `xpath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xpath: Option<String>,
    /// A boolean Synapse expression, e.g. `${payload.total > 100}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Mediators run when the condition holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub then: Vec<Mediator>,
    /// Mediators run when it does not.
    #[serde(default, rename = "else", skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub else_: Vec<Mediator>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// `switch`: runs the first case whose `regex` fully matches the source's string value, or
/// `default` when none does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchSpec {
    /// The expression whose string value picks the case.
    pub source: String,
    /// The cases, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<SwitchCase>,
    /// Mediators run when no case matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub default: Vec<Mediator>,
    /// XML namespace prefixes its XPath expressions use (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// One case of a switch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchCase {
    /// The regular expression the whole source value must match.
    pub regex: String,
    /// Mediators run for this case.
    #[serde(default)]
    #[schemars(schema_with = "nested")]
    pub sequence: Vec<Mediator>,
}

// === clone, iterate ===

/// Where a copy made by clone or iterate goes: a sequence (inline; a named Sequence is
/// `[{sequence: {key: Name}}]`), an endpoint, or both (the sequence runs first, then the
/// copy is sent to the endpoint as by `send`). Without an endpoint, a copy that finishes its
/// sequence continues with the mediators after the clone or iterate, as in Micro
/// Integrator 4.x (that is where an `aggregate` usually waits for it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// Mediators run on the copy (a named Sequence is `[{sequence: {key: Name}}]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub sequence: Vec<Mediator>,
    /// The endpoint the copy is sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_ref_schema")]
    pub endpoint: Option<EndpointRef>,
    /// The SOAP action set on the copy (its `SOAPAction`), before its sequence runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap_action: Option<String>,
    /// The address the copy is sent to, as to an address endpoint of that URI (instead of
    /// `endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `clone`: runs a copy of the message through each target; pair with `aggregate`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloneSpec {
    /// An id that the matching `aggregate` names, to tell nested splits apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Run the targets one after the other instead of concurrently. Default false.
    #[serde(default)]
    pub sequential: bool,
    /// Continue the original flow too (beside the copies). Default false: the original
    /// message stops at the clone.
    #[serde(default)]
    pub continue_parent: bool,
    /// The targets, one copy each.
    pub targets: Vec<Target>,
}

/// `iterate`: splits the message into one message per item the expression selects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IterateSpec {
    /// An id that the matching `aggregate` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Selects the fragments: a JSON array (`${payload.items}`, `json-eval($.items)`) or XML
    /// elements (an XPath).
    pub expression: String,
    /// Process the items one after the other. Default false (concurrently).
    #[serde(default)]
    pub sequential: bool,
    /// Continue the original flow after splitting. Default false.
    #[serde(default)]
    pub continue_parent: bool,
    /// Keep the original payload (its split array emptied) and put each fragment at
    /// `attachPath` instead of making it the whole payload (JSON only). Default false.
    #[serde(default)]
    pub preserve_payload: bool,
    /// Where each fragment goes when `preservePayload` is true: a simple JSON path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_path: Option<String>,
    /// What each item goes through.
    pub target: Target,
}

// === aggregate ===

/// `aggregate`: collects the responses of a clone or iterate into one message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AggregateSpec {
    /// The id of the clone or iterate whose messages this collects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An expression correlating messages into one aggregation (Synapse `correlateOn`; not
    /// supported yet: an aggregate collects the copies of one clone or iterate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlate_on: Option<String>,
    /// When the aggregation is complete.
    #[serde(default)]
    pub complete_condition: CompleteCondition,
    /// What to do with the aggregated message.
    pub on_complete: OnComplete,
}

/// When an aggregation completes: after `timeout`, or when `messageCount` is reached.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteCondition {
    /// Milliseconds to wait before completing with what arrived (Synapse: seconds).
    /// Default: no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// How many messages complete the aggregation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<MessageCount>,
}

/// Message counts of an aggregation; -1 or absent means "every message that was split".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageCount {
    /// Complete once this many arrived (-1: every copy of the split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Complete once this many arrived (-1: every copy of the split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// What an aggregation produces.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnComplete {
    /// Selects what each message contributes: JSON values are gathered into an array; an
    /// XPath's elements are enclosed in the `enclosingElementProperty` element.
    pub expression: String,
    /// Mediators run on the aggregated message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub sequence: Vec<Mediator>,
    /// A property holding the XML element that encloses the merged fragments (for a JSON
    /// aggregation, the element's name becomes the member holding the array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclosing_element_property: Option<String>,
    /// `root` or `child`: an Integration Studio attribute that MI's runtime does not read;
    /// accepted, and both values aggregate alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_element_type: Option<AggregateElementType>,
}

/// Integration Studio's aggregate element type (MI's runtime ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum AggregateElementType {
    /// Integration Studio's default.
    Root,
    /// The other value Integration Studio writes.
    Child,
}

// === foreach ===

/// `foreach`: runs `sequence` on each item and writes the results back. Two forms, as in
/// Micro Integrator: the legacy one with `expression` (results replace the items; no
/// call/send inside), and the 4.4 one with `collection` (parallel execution, result
/// targets, calls allowed). Exactly one of `expression` and `collection` is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForeachSpec {
    /// Legacy form: selects the items (XPath or JSONPath).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Legacy form: an id for nested foreach mediators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// 4.4 form: a `${...}` expression selecting the collection to loop over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// 4.4 form: run iterations concurrently. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_execution: Option<bool>,
    /// 4.4 form: write the results back into the original collection. Default true; when
    /// false, the results go to the variable `resultTarget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_original: Option<bool>,
    /// 4.4 form: the variable that receives the results when `updateOriginal` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_target: Option<String>,
    /// 4.4 form: the type of the result variable, JSON (default); XML is not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_type: Option<ContentKind>,
    /// 4.4 form: a variable holding the current index (from 0); sequential loops only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_variable: Option<String>,
    /// 4.4 form: continue without waiting for the iterations. Default false; true is not
    /// supported yet.
    #[serde(default)]
    pub continue_without_aggregation: bool,
    /// Mediators run for each item.
    #[schemars(schema_with = "nested")]
    pub sequence: Vec<Mediator>,
}

/// JSON or XML, for results built by foreach and scatterGather.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ContentKind {
    /// A JSON array.
    #[default]
    Json,
    /// An XML element.
    Xml,
}

// === scatterGather ===

/// `scatterGather`: runs each sequence on a copy of the message and aggregates the results.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScatterGatherSpec {
    /// Run the sequences concurrently. Default true.
    #[serde(default = "default_true")]
    pub parallel_execution: bool,
    /// Where the result goes: `body` (default) replaces the payload, or `variable` (the
    /// variable `targetVariable`; MI writes the variable's name here).
    #[serde(default = "default_result_target")]
    pub result_target: String,
    /// The variable receiving the result when `resultTarget` is `variable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_variable: Option<String>,
    /// The aggregate's format: JSON (default, an array) or XML.
    #[serde(default = "default_content_kind")]
    pub content_type: ContentKind,
    /// The root element name of an XML result (required for, and only for, XML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_element: Option<String>,
    /// How results are merged and when gathering completes.
    pub aggregation: ScatterAggregation,
    /// The sequences, one copy each.
    #[schemars(schema_with = "nested_lists")]
    pub sequences: Vec<Vec<Mediator>>,
}

fn default_result_target() -> String {
    "body".to_string()
}

fn default_content_kind() -> ContentKind {
    ContentKind::Json
}

/// The aggregation of scatterGather.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScatterAggregation {
    /// Selects what each sequence's message contributes, e.g. `${payload}` (XPath for XML).
    pub expression: String,
    /// Only messages for which this boolean expression holds are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Milliseconds to wait for results; then the result is what arrived. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Complete once this many results are kept (-1: all). Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_messages: Option<i64>,
    /// Complete once this many results are kept (-1: all). Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<i64>,
}

// === throttle ===

/// `throttle`: admits or rejects messages by rate and concurrency limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleSpec {
    /// The throttle's id; mediators with the same id share counters.
    pub id: String,
    /// What identifies a caller: an expression such as `${headers["X-Client"]}` or
    /// `${props.synapse.AUTH_USER}`, matched against each rule's `range`. Default: the
    /// client's IP address. A message whose key evaluates to nothing is counted under `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The limits.
    #[serde(default)]
    pub policy: ThrottlePolicy,
    /// Callers tracked at once per replica; beyond it the least recently seen caller is
    /// forgotten (its bucket starts full again). Default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u32>,
    /// Share the limits across replicas through Redis. Default: each replica counts alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<ThrottleRedis>,
    /// Mediators run for admitted messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub on_accept: Vec<Mediator>,
    /// Mediators run for rejected messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub on_reject: Vec<Mediator>,
}

/// Throttle limits: Synapse's WS-Policy throttle assertions as fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// Messages allowed in flight at once through this throttle. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_access: Option<u32>,
    /// Per-caller rate rules, the first matching one applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ThrottleRule>,
}

/// One throttle rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleRule {
    /// What callers are identified by: `IP` (default) or `DOMAIN`.
    #[serde(default = "default_throttle_type", rename = "type")]
    pub type_: ThrottleRuleType,
    /// The callers the rule covers: an address, a range `a-b`, a domain, or `other`.
    pub range: String,
    /// `control` (limit; the default), `allow` (never limit) or `deny` (always reject).
    #[serde(default = "default_throttle_access")]
    pub access: ThrottleAccess,
    /// Requests allowed per `unitTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// The counting window, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_time: Option<u64>,
    /// Milliseconds a caller stays rejected after exceeding the limit. Default: until the
    /// window ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prohibit_time_period: Option<u64>,
}

/// Redis for a throttle shared by every replica.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleRedis {
    /// The server, `redis://host:port[/db]`, or `rediss://` for TLS. Default
    /// `redis://127.0.0.1:6379`. One with a password goes in `urlFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL from a Secret or an environment variable (when it holds a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<crate::resources::SecretSource>,
    /// Prefix of the Redis keys. Default `ferry:throttle:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Milliseconds a Redis answer may take before this replica decides alone. Default 250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// TLS to a `rediss://` server: CA certificates trusted besides the system roots
    /// (`caFrom`), a client certificate (`certFrom`, `keyFrom`), `serverName`, `minVersion`,
    /// as for an endpoint. A `rediss://` URL without it verifies against the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::resources::endpoint::Tls>,
}

fn default_throttle_type() -> ThrottleRuleType {
    ThrottleRuleType::Ip
}

fn default_throttle_access() -> ThrottleAccess {
    ThrottleAccess::Control
}

/// How a throttle rule identifies callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ThrottleRuleType {
    /// By client address.
    #[default]
    Ip,
    /// By client domain.
    Domain,
}

/// What a throttle rule does with the callers it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = crate::resources::common::field_describes)]
pub enum ThrottleAccess {
    /// Apply the limits.
    #[default]
    Control,
    /// Never limit.
    Allow,
    /// Always reject.
    Deny,
}

// === cache ===

/// `cache`: answers repeated requests from a response cache, in Micro Integrator 4.x's
/// form: a *finder* (`collector: false`, the default) in the request flow looks the request
/// up and, on a hit, answers from the cache; a *collector* (`collector: true`) after the
/// backend call stores the response for the request its finder looked up. The cache is in
/// memory, per replica and per finder, bounded by `maxSize` entries and `maxTotalSize`
/// bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheSpec {
    /// True for the mediator after the backend call that stores responses; it takes no
    /// other field (its finder's settings apply). Default false: a finder.
    #[serde(default)]
    pub collector: bool,
    /// Milliseconds a stored response stays valid (Synapse `timeout` is in seconds; Ferry
    /// uses milliseconds for every duration). Default 5000000, Micro Integrator's 5000 s.
    #[serde(default = "default_cache_timeout")]
    pub timeout: u64,
    /// Responses whose body is larger than this many bytes are not stored. Default: no
    /// limit of its own (`maxTotalSize` still bounds the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<u64>,
    /// Mediators run on a hit, with the cached response as the message; the flow ends
    /// after them (answer with `respond`, as in Synapse). Default: answer with the cached
    /// response at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "nested")]
    pub on_cache_hit: Vec<Mediator>,
    /// A named Sequence run on a hit instead of `onCacheHit` (Synapse
    /// `<onCacheHit sequence="key">`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_cache_hit_sequence: Option<String>,
    /// What makes two requests the same, and which responses are stored.
    #[serde(default)]
    pub protocol: CacheProtocol,
    /// Responses kept (Synapse `<implementation maxSize>`); the oldest goes first when a
    /// new one needs room. Default 1000.
    #[serde(default = "default_cache_max_size")]
    pub max_size: u32,
    /// Bytes the stored responses may hold together (Ferry addition, so a cache's memory is
    /// bounded even without `maxMessageSize`); the oldest go first. Default 67108864
    /// (64 MiB).
    #[serde(default = "default_cache_max_total_size")]
    pub max_total_size: u64,
}

impl Default for CacheSpec {
    fn default() -> Self {
        Self {
            collector: false,
            timeout: default_cache_timeout(),
            max_message_size: None,
            on_cache_hit: Vec::new(),
            on_cache_hit_sequence: None,
            protocol: CacheProtocol::default(),
            max_size: default_cache_max_size(),
            max_total_size: default_cache_max_total_size(),
        }
    }
}

fn default_cache_timeout() -> u64 {
    5_000_000
}

fn default_cache_max_size() -> u32 {
    1000
}

fn default_cache_max_total_size() -> u64 {
    64 * 1024 * 1024
}

/// The HTTP side of caching (Synapse `<protocol type="HTTP">`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheProtocol {
    /// The protocol: `http`, the one Micro Integrator's default hash generator serves.
    /// Default `http`.
    #[serde(default = "default_cache_protocol", rename = "type")]
    pub type_: String,
    /// HTTP methods whose responses are stored. Default `[*]`: all.
    #[serde(default = "default_cache_methods")]
    pub methods: Vec<String>,
    /// Headers left out of the request hash; `*` leaves out all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_exclude_in_hash: Vec<String>,
    /// Only these headers go into the request hash (instead of all but the excluded ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_include_in_hash: Vec<String>,
    /// A regular expression the response status code must match in full to be stored.
    /// Default `.*`.
    #[serde(default = "default_cache_codes")]
    pub response_codes: String,
    /// Honour the response's `Cache-Control`: `no-store` is not stored, `no-cache` and an
    /// expired `max-age` send the request on to the backend. Default false.
    #[serde(default)]
    pub enable_cache_control: bool,
    /// Add an `Age` header (seconds since it was stored) to answers from the cache.
    /// Default false.
    #[serde(default)]
    pub include_age_header: bool,
    /// The hash generator class: only Micro Integrator's default,
    /// `org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator`, is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_generator: Option<String>,
}

impl Default for CacheProtocol {
    fn default() -> Self {
        Self {
            type_: default_cache_protocol(),
            methods: default_cache_methods(),
            headers_to_exclude_in_hash: Vec::new(),
            headers_to_include_in_hash: Vec::new(),
            response_codes: default_cache_codes(),
            enable_cache_control: false,
            include_age_header: false,
            hash_generator: None,
        }
    }
}

fn default_cache_protocol() -> String {
    "http".to_string()
}

fn default_cache_methods() -> Vec<String> {
    vec!["*".to_string()]
}

fn default_cache_codes() -> String {
    ".*".to_string()
}

// === validate ===

/// `validate`: checks the payload (or the part `source` selects) against JSON Schemas,
/// running `onFail` when it does not conform. Schemas are compiled once, when the
/// configuration loads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateSpec {
    /// An expression selecting what is validated (`${payload.order}`, `json-eval($.order)`,
    /// XPath); its value is validated as JSON. Default: the whole payload as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Keys of the LocalEntries holding the schemas (Synapse `<schema key>`): each must hold
    /// a JSON Schema (`json`, or a `.json` file), and the message must conform to every one.
    /// XML Schema (XSD) is not supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// A JSON Schema given inline (Ferry addition; Synapse takes schemas only by key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub json_schema: Option<serde_json::Value>,
    /// XML parser features (Synapse `<feature>`): they apply to XML Schema validation, which
    /// is not supported, so setting any is refused by validation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<Feature>,
    /// Schemas that the main schemas import (`$ref`), each location as written in the
    /// referring schema mapped to the key of the LocalEntry holding it (Synapse
    /// `<resource location key>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<SchemaResource>,
    /// Cache compiled schemas (Synapse `cache-schema`). Default true; schemas are always
    /// compiled once at load (and again on reload), so `false` is refused by validation.
    #[serde(default = "default_true")]
    pub cache_schema: bool,
    /// Mediators run when validation fails, with the reason in the `ERROR_MESSAGE`
    /// property (Synapse `<on-fail>`). When they do not respond or drop, the flow goes on
    /// after the validate mediator.
    #[schemars(schema_with = "nested")]
    pub on_fail: Vec<Mediator>,
    /// XML namespace prefixes an XPath `source` uses (`prefix: uri`; Synapse `xmlns:`).
    #[serde(default, skip_serializing_if = "Namespaces::is_empty")]
    pub namespaces: Namespaces,
}

/// A schema import location resolved to a key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaResource {
    /// The location as written in the importing schema.
    pub location: String,
    /// The key that holds it.
    pub key: String,
}
