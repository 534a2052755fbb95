//! Ferry's Prometheus metrics: one [`Metrics`] created at startup, shared by `Arc` with the
//! HTTP dispatcher, the endpoints and the reloader, and scraped at the admin port's
//! `/metrics`.
//!
//! Labels are typed and bounded: API names, resource templates and endpoint names come from
//! the configuration, methods are a closed set, and no raw path or message value ever
//! becomes a label (a client could otherwise grow the series without limit).

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s output (OpenMetrics text, which Prometheus
/// scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds, 100 µs to 10 s: mediation alone takes microseconds, a slow
/// backend seconds.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

// === labels ===

/// An HTTP method as a label: the standard methods, everything else folded into `OTHER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodLabel {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
    /// Any extension method.
    Other,
}

impl MethodLabel {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodLabel::Get => "GET",
            MethodLabel::Head => "HEAD",
            MethodLabel::Post => "POST",
            MethodLabel::Put => "PUT",
            MethodLabel::Delete => "DELETE",
            MethodLabel::Patch => "PATCH",
            MethodLabel::Options => "OPTIONS",
            MethodLabel::Other => "OTHER",
        }
    }
}

impl From<&Method> for MethodLabel {
    fn from(method: &Method) -> Self {
        match *method {
            Method::GET => MethodLabel::Get,
            Method::HEAD => MethodLabel::Head,
            Method::POST => MethodLabel::Post,
            Method::PUT => MethodLabel::Put,
            Method::DELETE => MethodLabel::Delete,
            Method::PATCH => MethodLabel::Patch,
            Method::OPTIONS => MethodLabel::Options,
            _ => MethodLabel::Other,
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// How an endpoint call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointOutcome {
    /// The backend answered (whatever the status).
    Success,
    /// The call failed (connection, timeout, protocol); see `endpoint_errors_total`.
    Failure,
    /// The endpoint was suspended and not called.
    Suspended,
}

impl EndpointOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointOutcome::Success => "success",
            EndpointOutcome::Failure => "failure",
            EndpointOutcome::Suspended => "suspended",
        }
    }
}

impl EncodeLabelValue for EndpointOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// Whether a reload installed a new configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ReloadResult {
    Success,
    Failure,
}

impl EncodeLabelValue for ReloadResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        let text = match self {
            ReloadResult::Success => "success",
            ReloadResult::Failure => "failure",
        };
        EncodeLabelValue::encode(&text, encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    api: Arc<str>,
    resource: Arc<str>,
    method: MethodLabel,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    api: Arc<str>,
    resource: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointCallLabels {
    endpoint: Arc<str>,
    outcome: EndpointOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointErrorLabels {
    endpoint: Arc<str>,
    code: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProcessorLabels {
    processor: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProcessorOutcomeLabels {
    processor: Arc<str>,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InboundLabels {
    inbound: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InboundOutcomeLabels {
    inbound: Arc<str>,
    outcome: &'static str,
}

/// The series of one inbound endpoint: messages received, succeeded and failed, and in
/// flight now.
#[derive(Clone, Debug)]
pub struct InboundMetrics {
    /// Messages taken from the source.
    pub received: Counter,
    /// Messages whose sequence completed, settled with the source.
    pub succeeded: Counter,
    /// Messages whose sequence failed.
    pub failed: Counter,
    /// Messages taken and not yet settled.
    pub in_flight: Gauge,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLookupLabels {
    result: &'static str,
}

/// The series a response cache (cache mediator) updates: shared by every cache, so the
/// series stay bounded whatever the configuration holds.
#[derive(Clone)]
pub struct CacheMetrics {
    /// Lookups answered from the cache.
    pub hits: Counter,
    /// Lookups that found nothing fresh.
    pub misses: Counter,
    /// Responses held now, over every cache.
    pub entries: Gauge,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ThrottleLabels {
    throttle: String,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ThrottleIdLabels {
    throttle: String,
}

/// The series a throttle mediator updates (labelled by throttle id: bounded by the
/// configuration).
#[derive(Clone)]
pub struct ThrottleMetrics {
    /// Messages admitted.
    pub accepted: Counter,
    /// Messages rejected.
    pub rejected: Counter,
    /// Decisions this replica made alone because Redis was unreachable.
    pub redis_fallbacks: Counter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReloadLabels {
    result: ReloadResult,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The request metrics of one API resource, kept with the compiled resource. Finding a
/// series in the registry hashes all its labels under a lock; a resource does that once per
/// method and status it answers with, not on every request.
#[derive(Debug, Default)]
pub struct ResourceMetrics {
    latency: OnceLock<Histogram>,
    counts: RwLock<Vec<(Method, u16, Counter)>>,
}

impl ResourceMetrics {
    /// Counts one answered request and records its latency (as [`Metrics::record_request`]).
    pub fn record(
        &self,
        metrics: &Metrics,
        api: &Arc<str>,
        resource: &Arc<str>,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        let counted = {
            let counts = self.counts.read().unwrap_or_else(PoisonError::into_inner);
            counts
                .iter()
                .find(|(m, s, _)| *s == status && m == method)
                .map(|(_, _, counter)| counter.inc())
                .is_some()
        };
        if !counted {
            let counter = metrics.http_requests.get_or_create_owned(&RequestLabels {
                api: Arc::clone(api),
                resource: Arc::clone(resource),
                method: method.into(),
                status,
            });
            counter.inc();
            self.counts
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .push((method.clone(), status, counter));
        }
        self.latency
            .get_or_init(|| metrics.request_histogram(api, resource))
            .observe(elapsed.as_secs_f64());
    }
}

/// The call metrics of one endpoint, kept with the compiled endpoint and looked up in the
/// registry on first use only (see [`ResourceMetrics`]).
#[derive(Debug, Default)]
pub struct EndpointMetrics {
    success: OnceLock<Counter>,
    failure: OnceLock<Counter>,
    suspended: OnceLock<Counter>,
    latency: OnceLock<Histogram>,
}

impl EndpointMetrics {
    /// Counts one call and records how long it took (as [`Metrics::record_endpoint_call`]).
    pub fn record(
        &self,
        metrics: &Metrics,
        endpoint: &Arc<str>,
        outcome: EndpointOutcome,
        elapsed: Duration,
    ) {
        let cell = match outcome {
            EndpointOutcome::Success => &self.success,
            EndpointOutcome::Failure => &self.failure,
            EndpointOutcome::Suspended => &self.suspended,
        };
        cell.get_or_init(|| {
            metrics
                .endpoint_calls
                .get_or_create_owned(&EndpointCallLabels {
                    endpoint: Arc::clone(endpoint),
                    outcome,
                })
        })
        .inc();
        if outcome != EndpointOutcome::Suspended {
            self.latency
                .get_or_init(|| metrics.endpoint_histogram(endpoint))
                .observe(elapsed.as_secs_f64());
        }
    }
}

// === impl Metrics ===

/// Every metric Ferry exports, registered under the `ferry_` prefix.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: HistogramFamily<ResourceLabels>,
    endpoint_calls: Family<EndpointCallLabels, Counter>,
    endpoint_errors: Family<EndpointErrorLabels, Counter>,
    endpoint_duration: HistogramFamily<EndpointLabels>,
    config_reloads: Family<ReloadLabels, Counter>,
    processor_active: Family<ProcessorLabels, Gauge>,
    processor_backlog: Family<ProcessorLabels, Gauge>,
    processor_messages: Family<ProcessorOutcomeLabels, Counter>,
    processor_delivery_duration: HistogramFamily<ProcessorLabels>,
    inbound_messages: Family<InboundOutcomeLabels, Counter>,
    inbound_in_flight: Family<InboundLabels, Gauge>,
    last_reload_success: Gauge<f64, AtomicU64>,
    leader: Gauge,
    open_aggregations: Gauge,
    cache_lookups: Family<CacheLookupLabels, Counter>,
    cache_entries: Gauge,
    throttle_decisions: Family<ThrottleLabels, Counter>,
    throttle_redis_fallbacks: Family<ThrottleIdLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric. Call once per process.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by API, resource, method and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<ResourceLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from routing a request to its response, by API and resource",
            Unit::Seconds,
            http_duration.clone(),
        );
        let endpoint_calls = Family::<EndpointCallLabels, Counter>::default();
        registry.register(
            "endpoint_calls",
            "Calls to backend endpoints, by endpoint and outcome",
            endpoint_calls.clone(),
        );
        let endpoint_errors = Family::<EndpointErrorLabels, Counter>::default();
        registry.register(
            "endpoint_errors",
            "Failed endpoint calls, by endpoint and Synapse error code",
            endpoint_errors.clone(),
        );
        let endpoint_duration: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "endpoint_duration",
            "Time a backend call took, by endpoint",
            Unit::Seconds,
            endpoint_duration.clone(),
        );
        registry.register(
            "panics",
            "Panics (bugs) since the process started; a panicking request was answered 500",
            crate::panics::PANICS.clone(),
        );
        let config_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads, by result",
            config_reloads.clone(),
        );
        let last_reload_success = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "config_last_reload_success_timestamp",
            "When a configuration was last installed, as a Unix timestamp",
            Unit::Seconds,
            last_reload_success.clone(),
        );
        let processor_active = Family::<ProcessorLabels, Gauge>::default();
        registry.register(
            "processor_active",
            "Whether a message processor is active (1) or deactivated (0)",
            processor_active.clone(),
        );
        let processor_backlog = Family::<ProcessorLabels, Gauge>::default();
        registry.register(
            "processor_backlog",
            "Messages waiting in a processor's store, as last seen",
            processor_backlog.clone(),
        );
        let processor_messages = Family::<ProcessorOutcomeLabels, Counter>::default();
        registry.register(
            "processor_messages",
            "Messages handled by processors, by outcome (delivered, failed_attempt, dropped, parked)",
            processor_messages.clone(),
        );
        let processor_delivery_duration: HistogramFamily<ProcessorLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "processor_delivery_duration",
            "Time of one delivery attempt of a forwarding processor, answer or failure",
            Unit::Seconds,
            processor_delivery_duration.clone(),
        );
        let inbound_messages = Family::<InboundOutcomeLabels, Counter>::default();
        registry.register(
            "inbound_messages",
            "Messages taken by inbound endpoints, by outcome (received, succeeded, failed)",
            inbound_messages.clone(),
        );
        let inbound_in_flight = Family::<InboundLabels, Gauge>::default();
        registry.register(
            "inbound_in_flight",
            "Messages an inbound endpoint took and has not settled yet",
            inbound_in_flight.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "Whether this process leads its group and runs the scheduled tasks and message processors (1), or stands by (0)",
            leader.clone(),
        );
        let open_aggregations = Gauge::default();
        registry.register(
            "open_aggregations",
            "Aggregations (aggregate mediator) collecting the copies of a clone or iterate, not yet complete",
            open_aggregations.clone(),
        );
        let cache_lookups = Family::<CacheLookupLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Lookups of the response caches (cache mediator), by result: hit or miss",
            cache_lookups.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "cache_entries",
            "Responses held by the response caches (cache mediator), over all of them",
            cache_entries.clone(),
        );
        let throttle_decisions = Family::<ThrottleLabels, Counter>::default();
        registry.register(
            "throttle_decisions",
            "Messages a throttle mediator admitted or rejected, by throttle id and result",
            throttle_decisions.clone(),
        );
        let throttle_redis_fallbacks = Family::<ThrottleIdLabels, Counter>::default();
        registry.register(
            "throttle_redis_fallbacks",
            "Throttle decisions taken by this replica alone because Redis was unreachable",
            throttle_redis_fallbacks.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            endpoint_calls,
            endpoint_errors,
            endpoint_duration,
            config_reloads,
            processor_active,
            processor_backlog,
            processor_messages,
            processor_delivery_duration,
            inbound_messages,
            inbound_in_flight,
            last_reload_success,
            leader,
            open_aggregations,
            cache_lookups,
            cache_entries,
            throttle_decisions,
            throttle_redis_fallbacks,
        }
    }

    /// The series of the throttle `id`.
    pub fn throttle(&self, id: &str) -> ThrottleMetrics {
        // A closure per series, as `cache` does: the family's read guard must be gone before
        // the next series is created (that takes its write lock).
        let decision = |result| {
            self.throttle_decisions
                .get_or_create(&ThrottleLabels {
                    throttle: id.to_string(),
                    result,
                })
                .clone()
        };
        let accepted = decision("accepted");
        let rejected = decision("rejected");
        let labels = ThrottleIdLabels {
            throttle: id.to_string(),
        };
        let redis_fallbacks = self.throttle_redis_fallbacks.get_or_create(&labels).clone();
        ThrottleMetrics {
            accepted,
            rejected,
            redis_fallbacks,
        }
    }

    /// The series a response cache updates.
    pub fn cache(&self) -> CacheMetrics {
        let lookups = |result| {
            self.cache_lookups
                .get_or_create(&CacheLookupLabels { result })
                .clone()
        };
        CacheMetrics {
            hits: lookups("hit"),
            misses: lookups("miss"),
            entries: self.cache_entries.clone(),
        }
    }

    /// The gauge of open aggregations (a clone shares the series).
    pub fn open_aggregations(&self) -> Gauge {
        self.open_aggregations.clone()
    }

    /// Counts one answered request and records its latency.
    pub fn record_request(
        &self,
        api: &Arc<str>,
        resource: &Arc<str>,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        self.http_requests
            .get_or_create(&RequestLabels {
                api: Arc::clone(api),
                resource: Arc::clone(resource),
                method: method.into(),
                status,
            })
            .inc();
        self.request_histogram(api, resource)
            .observe(elapsed.as_secs_f64());
    }

    /// A guard that records a request's latency when dropped, for code paths with many
    /// exits. Count the request itself with [`Metrics::count_request`].
    pub fn request_timer(&self, api: &Arc<str>, resource: &Arc<str>) -> DurationGuard {
        DurationGuard::start(self.request_histogram(api, resource))
    }

    /// Counts one answered request without recording latency (see
    /// [`Metrics::request_timer`]).
    pub fn count_request(&self, api: &Arc<str>, resource: &Arc<str>, method: &Method, status: u16) {
        self.http_requests
            .get_or_create(&RequestLabels {
                api: Arc::clone(api),
                resource: Arc::clone(resource),
                method: method.into(),
                status,
            })
            .inc();
    }

    /// Counts one endpoint call and records how long it took.
    pub fn record_endpoint_call(
        &self,
        endpoint: &Arc<str>,
        outcome: EndpointOutcome,
        elapsed: Duration,
    ) {
        self.endpoint_calls
            .get_or_create(&EndpointCallLabels {
                endpoint: Arc::clone(endpoint),
                outcome,
            })
            .inc();
        if outcome != EndpointOutcome::Suspended {
            self.endpoint_histogram(endpoint)
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts one failed endpoint call under its Synapse error code.
    pub fn record_endpoint_error(&self, endpoint: &Arc<str>, code: u32) {
        self.endpoint_errors
            .get_or_create(&EndpointErrorLabels {
                endpoint: Arc::clone(endpoint),
                code,
            })
            .inc();
    }

    /// A guard that records an endpoint call's latency when dropped.
    pub fn endpoint_timer(&self, endpoint: &Arc<str>) -> DurationGuard {
        DurationGuard::start(self.endpoint_histogram(endpoint))
    }

    /// Counts a reload; a successful one also stamps the last-success time.
    pub fn record_reload(&self, success: bool) {
        let result = if success {
            ReloadResult::Success
        } else {
            ReloadResult::Failure
        };
        self.config_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
        if success {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.last_reload_success.set(now.as_secs_f64());
        }
    }

    /// Sets whether this process leads its group (runs tasks and processors).
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Sets whether processor `name` is active.
    pub fn set_processor_active(&self, processor: &Arc<str>, active: bool) {
        self.processor_active
            .get_or_create(&ProcessorLabels {
                processor: Arc::clone(processor),
            })
            .set(i64::from(active));
    }

    /// Sets the backlog processor `name` last saw.
    pub fn set_processor_backlog(&self, processor: &Arc<str>, backlog: i64) {
        self.processor_backlog
            .get_or_create(&ProcessorLabels {
                processor: Arc::clone(processor),
            })
            .set(backlog);
    }

    /// Counts a message a processor handled: `delivered`, `failed_attempt`, `dropped`,
    /// `parked`.
    pub fn count_processor_message(&self, processor: &Arc<str>, outcome: &'static str) {
        self.processor_messages
            .get_or_create(&ProcessorOutcomeLabels {
                processor: Arc::clone(processor),
                outcome,
            })
            .inc();
    }

    /// Records how long one delivery attempt of processor `name` took.
    pub fn observe_processor_delivery(&self, processor: &Arc<str>, elapsed: std::time::Duration) {
        self.processor_delivery_duration
            .get_or_create(&ProcessorLabels {
                processor: Arc::clone(processor),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The series of inbound endpoint `inbound` (the same ones across reloads).
    pub fn inbound(&self, inbound: &Arc<str>) -> InboundMetrics {
        let count = |outcome| {
            self.inbound_messages
                .get_or_create(&InboundOutcomeLabels {
                    inbound: Arc::clone(inbound),
                    outcome,
                })
                .clone()
        };
        InboundMetrics {
            received: count("received"),
            succeeded: count("succeeded"),
            failed: count("failed"),
            in_flight: self
                .inbound_in_flight
                .get_or_create(&InboundLabels {
                    inbound: Arc::clone(inbound),
                })
                .clone(),
        }
    }

    /// The whole registry in the OpenMetrics text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn request_histogram(&self, api: &Arc<str>, resource: &Arc<str>) -> Histogram {
        let labels = ResourceLabels {
            api: Arc::clone(api),
            resource: Arc::clone(resource),
        };
        self.http_duration.get_or_create_owned(&labels)
    }

    fn endpoint_histogram(&self, endpoint: &Arc<str>) -> Histogram {
        self.endpoint_duration.get_or_create_owned(&EndpointLabels {
            endpoint: Arc::clone(endpoint),
        })
    }
}

// === impl DurationGuard ===

/// Observes the time since it was created into a histogram when dropped, so every return
/// path of the timed code is measured.
#[must_use = "the duration is recorded when the guard is dropped"]
#[derive(Debug)]
pub struct DurationGuard {
    histogram: Histogram,
    started: Instant,
}

impl DurationGuard {
    fn start(histogram: Histogram) -> Self {
        Self {
            histogram,
            started: Instant::now(),
        }
    }
}

impl Drop for DurationGuard {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn scrape(metrics: &Metrics) -> String {
        metrics.encode().unwrap()
    }

    #[test]
    fn a_recorded_request_appears_as_counter_and_histogram_series() {
        let metrics = Metrics::new();
        let (api, resource) = (name("healthcare"), name("/doctors/{category}"));
        metrics.record_request(&api, &resource, &Method::GET, 200, Duration::from_millis(3));
        metrics.record_request(&api, &resource, &Method::GET, 200, Duration::from_millis(3));
        let text = scrape(&metrics);
        assert!(text.contains(
            "ferry_http_requests_total{api=\"healthcare\",resource=\"/doctors/{category}\",method=\"GET\",status=\"200\"} 2"
        ), "{text}");
        assert!(text.contains(
            "ferry_http_request_duration_seconds_count{api=\"healthcare\",resource=\"/doctors/{category}\"} 2"
        ), "{text}");
        assert!(text.contains(
            "ferry_http_request_duration_seconds_bucket{le=\"0.005\",api=\"healthcare\",resource=\"/doctors/{category}\"} 2"
        ), "{text}");
    }

    #[test]
    fn extension_methods_fold_into_one_label_value() {
        let metrics = Metrics::new();
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let (api, resource) = (name("a"), name("/r"));
        metrics.count_request(&api, &resource, &purge, 404);
        assert!(scrape(&metrics).contains("method=\"OTHER\",status=\"404\"} 1"));
    }

    #[test]
    fn endpoint_calls_errors_and_latency_are_exported() {
        let metrics = Metrics::new();
        let ep = name("SettlePaymentEP");
        metrics.record_endpoint_call(&ep, EndpointOutcome::Success, Duration::from_millis(20));
        metrics.record_endpoint_call(&ep, EndpointOutcome::Failure, Duration::from_secs(1));
        metrics.record_endpoint_error(&ep, 101504);
        metrics.record_endpoint_call(&ep, EndpointOutcome::Suspended, Duration::ZERO);
        let text = scrape(&metrics);
        for series in [
            "ferry_endpoint_calls_total{endpoint=\"SettlePaymentEP\",outcome=\"success\"} 1",
            "ferry_endpoint_calls_total{endpoint=\"SettlePaymentEP\",outcome=\"failure\"} 1",
            "ferry_endpoint_calls_total{endpoint=\"SettlePaymentEP\",outcome=\"suspended\"} 1",
            "ferry_endpoint_errors_total{endpoint=\"SettlePaymentEP\",code=\"101504\"} 1",
            // A suspended call never reached the backend, so it has no latency.
            "ferry_endpoint_duration_seconds_count{endpoint=\"SettlePaymentEP\"} 2",
        ] {
            assert!(text.contains(series), "missing {series} in\n{text}");
        }
    }

    #[test]
    fn a_duration_guard_records_once_when_dropped() {
        let metrics = Metrics::new();
        let ep = name("ep");
        {
            let _timer = metrics.endpoint_timer(&ep);
        }
        let (api, resource) = (name("a"), name("/r"));
        drop(metrics.request_timer(&api, &resource));
        let text = scrape(&metrics);
        assert!(text.contains("ferry_endpoint_duration_seconds_count{endpoint=\"ep\"} 1"));
        assert!(
            text.contains("ferry_http_request_duration_seconds_count{api=\"a\",resource=\"/r\"} 1")
        );
    }

    #[test]
    fn panics_are_counted_where_prometheus_scrapes() {
        let metrics = Metrics::new();
        let before = crate::panics::PANICS.get();
        crate::panics::PANICS.inc();
        assert!(
            scrape(&metrics).contains(&format!("ferry_panics_total {}", before + 1)),
            "{}",
            scrape(&metrics)
        );
    }

    #[test]
    fn reloads_are_counted_by_result_and_success_is_timestamped() {
        let metrics = Metrics::new();
        metrics.record_reload(false);
        assert!(scrape(&metrics).contains("ferry_config_last_reload_success_timestamp_seconds 0"));
        metrics.record_reload(true);
        let text = scrape(&metrics);
        assert!(text.contains("ferry_config_reloads_total{result=\"failure\"} 1"));
        assert!(text.contains("ferry_config_reloads_total{result=\"success\"} 1"));
        let stamp: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("ferry_config_last_reload_success_timestamp_seconds "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(stamp > 1.6e9, "{stamp}");
    }

    #[test]
    fn build_info_carries_the_crate_version() {
        let text = scrape(&Metrics::new());
        let expected = format!(
            "ferry_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&expected), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
