//! Distributed tracing with OpenTelemetry: spans for API resources, endpoint calls (one per
//! attempt, so retries show), failover groups, message stores and processors, inbound
//! endpoints, exported over OTLP (HTTP/protobuf or gRPC) to a collector; W3C `traceparent`/`tracestate` read from requests and
//! written on every outbound call and into every stored message.
//!
//! Off by default, and then it costs one branch: [`tracer`] reads a `OnceLock` set once at
//! start (`ferry run --otlp-endpoint`), the dispatcher starts no span, a message carries no
//! [`Trace`] and nothing downstream allocates for tracing. Incoming trace headers still pass
//! through to backends and stores untouched, as any other header does.
//!
//! Spans are not `tracing` spans: their lifetimes follow the message (a stored message's
//! trace continues in another task, hours later), so a [`Trace`] rides in the [`Message`]
//! and is ended explicitly.
//!
//! [`Message`]: crate::message::Message

pub mod correlation;
mod export;
pub mod log_level;

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

pub use opentelemetry::trace::SpanKind as Kind;

/// The path OTLP/HTTP collectors receive traces on, added to an endpoint given without one.
const TRACES_PATH: &str = "/v1/traces";

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The installed tracer; unset (tracing off) unless [`install`] ran.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The tracer when tracing is on. The one check on the request path.
#[inline]
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// How spans travel to the collector (OpenTelemetry's `OTEL_EXPORTER_OTLP_PROTOCOL`
/// values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies, to `<endpoint>/v1/traces` (port 4318 by convention).
    #[default]
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/gRPC, the collector's `TraceService/Export` (port 4317 by convention).
    #[value(name = "grpc")]
    Grpc,
}

/// How tracing is set up (`ferry run --otlp-endpoint ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The collector's OTLP base URL (`http://otel-collector:4318`); over HTTP also its full
    /// traces URL (`.../v1/traces`).
    pub endpoint: String,
    /// HTTP/protobuf or gRPC.
    pub protocol: Protocol,
    /// The share of new traces recorded, 0.0 to 1.0; a trace started upstream keeps the
    /// caller's decision (parent-based sampling).
    pub sampling_ratio: f64,
    /// `service.name` of the spans.
    pub service_name: String,
    /// `service.instance.id` (the pod), when known.
    pub instance: Option<String>,
}

impl Settings {
    /// The URL spans are posted to.
    pub fn traces_url(&self) -> String {
        let trimmed = self.endpoint.trim_end_matches('/');
        let has_path = trimmed
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        if has_path {
            trimmed.to_string()
        } else {
            format!("{trimmed}{TRACES_PATH}")
        }
    }
}

/// Why tracing cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The exporter refused its configuration.
    #[error("the OTLP exporter cannot start: {0}")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// The endpoint is not an http(s) URL.
    #[error("--otlp-endpoint {0:?} is not an http:// or https:// URL")]
    Endpoint(String),
    /// The ratio is outside 0..=1.
    #[error("--trace-sampling-ratio {0} is not between 0 and 1")]
    Ratio(f64),
    /// Installed twice (tests).
    #[error("tracing is already installed")]
    Installed,
}

/// What [`install`] returns: flushes the spans still queued when dropped through
/// [`Installed::shutdown`].
pub struct Installed {
    provider: SdkTracerProvider,
}

impl Installed {
    /// Exports what is queued and stops the exporter. Runs on a blocking thread: the SDK's
    /// shutdown waits for its exporter thread, whose posts run on this runtime.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(5))
        });
        match done.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot flush the last trace spans"),
            Err(e) => tracing::warn!(error = %e, "cannot flush the last trace spans"),
        }
    }
}

/// Starts exporting spans to `settings.endpoint`; from now on [`tracer`] answers. Must run
/// inside the Tokio runtime: the exporter posts through it.
pub fn install(settings: &Settings) -> Result<Installed, TelemetryError> {
    if !(0.0..=1.0).contains(&settings.sampling_ratio) {
        return Err(TelemetryError::Ratio(settings.sampling_ratio));
    }
    let url = match settings.protocol {
        Protocol::HttpProtobuf => settings.traces_url(),
        // gRPC names the service and method itself: the endpoint is the collector's root.
        Protocol::Grpc => settings.endpoint.trim_end_matches('/').to_string(),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(TelemetryError::Endpoint(settings.endpoint.clone()));
    }
    let processor = match settings.protocol {
        Protocol::HttpProtobuf => BatchSpanProcessor::builder(
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(url)
                .with_timeout(EXPORT_TIMEOUT)
                .with_http_client(export::RuntimeClient::current())
                .build()
                .map_err(TelemetryError::Exporter)?,
        )
        .build(),
        Protocol::Grpc => {
            let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(url.clone())
                .with_timeout(EXPORT_TIMEOUT);
            if url.starts_with("https://") {
                exporter = exporter
                    .with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
            }
            let exporter = exporter.build().map_err(TelemetryError::Exporter)?;
            BatchSpanProcessor::builder(export::OnRuntime::current(exporter)).build()
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if let Some(instance) = &settings.instance {
        resource = resource.with_attribute(KeyValue::new("service.instance.id", instance.clone()));
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sampling_ratio,
        ))))
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("ferry");
    TRACER.set(tracer).map_err(|_| TelemetryError::Installed)?;
    Ok(Installed { provider })
}

// === impl Trace ===

/// A message's place in a trace: the span it is in. Cloning shares the span.
#[derive(Clone, Debug)]
pub struct Trace(Context);

impl Trace {
    /// A root or remote-child span for a request or a stored message whose headers may carry
    /// a W3C trace context. `None` when tracing is off.
    pub fn start_from_headers(
        headers: &HeaderMap,
        kind: SpanKind,
        name: impl Into<Cow<'static, str>>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Option<Trace> {
        let tracer = tracer()?;
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        Some(Trace::start(tracer, &parent, kind, name, attributes))
    }

    /// A span that continues a trace whose context is given as stored `(name, value)` headers.
    pub fn start_from_pairs(
        pairs: &[(String, String)],
        kind: SpanKind,
        name: impl Into<Cow<'static, str>>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Option<Trace> {
        let tracer = tracer()?;
        let parent = TraceContextPropagator::new().extract(&PairsExtractor(pairs));
        Some(Trace::start(tracer, &parent, kind, name, attributes))
    }

    /// The attributes are made only for a span that is recorded: with 1 % sampling, 99 % of
    /// requests build none. (The sampler, parent-based trace-id ratio, decides without them.)
    fn start(
        tracer: &SdkTracer,
        parent: &Context,
        kind: SpanKind,
        name: impl Into<Cow<'static, str>>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Trace {
        let mut span = tracer
            .span_builder(name)
            .with_kind(kind)
            .start_with_context(tracer, parent);
        if span.is_recording() {
            span.set_attributes(attributes());
        }
        Trace(parent.with_span(span))
    }

    /// A child span of this one.
    pub fn child(
        &self,
        kind: SpanKind,
        name: impl Into<Cow<'static, str>>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Trace {
        match tracer() {
            Some(tracer) => Trace::start(tracer, &self.0, kind, name, attributes),
            // Unreachable in practice (a Trace exists only when tracing is on): stay in
            // this span rather than fail.
            None => self.clone(),
        }
    }

    /// Whether the span is recorded (sampled): attributes computed only for recorded spans
    /// are skipped otherwise.
    pub fn is_recording(&self) -> bool {
        self.0.span().is_recording()
    }

    /// Writes `traceparent` (and `tracestate`) for this span into `headers`, replacing the
    /// caller's.
    pub fn inject(&self, headers: &mut HeaderMap) {
        TraceContextPropagator::new().inject_context(&self.0, &mut HeaderInjector(headers));
    }

    /// This span's trace context as `(header, value)` pairs (to store with a message).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = PairsInjector(Vec::with_capacity(2));
        TraceContextPropagator::new().inject_context(&self.0, &mut pairs);
        pairs.0
    }

    /// The trace id in hex (for log lines).
    pub fn trace_id(&self) -> String {
        self.0.span().span_context().trace_id().to_string()
    }

    /// Adds an attribute.
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.0.span().set_attribute(attribute);
    }

    /// Records an event (a retry, a failover).
    pub fn event(&self, name: &'static str, attributes: Vec<KeyValue>) {
        self.0.span().add_event(name, attributes);
    }

    /// Marks the span failed with `description`.
    pub fn error(&self, description: impl Into<Cow<'static, str>>) {
        self.0.span().set_status(Status::error(description));
    }

    /// An HTTP status: `http.response.status_code`, and an error status for a 5xx (and a
    /// 4xx on a client span), as the HTTP conventions say.
    pub fn http_status(&self, status: u16, client: bool) {
        let span = self.0.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 || (client && status >= 400) {
            span.set_status(Status::error(""));
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
        }
    }

    /// Ends the span now (later ends are ignored).
    pub fn end(&self) {
        self.0.span().end();
    }
}

/// Reads a stored message's `(name, value)` headers.
struct PairsExtractor<'a>(&'a [(String, String)]);

impl opentelemetry::propagation::Extractor for PairsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct PairsInjector(Vec<(String, String)>);

impl opentelemetry::propagation::Injector for PairsInjector {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` says nothing; a stored message does not carry it.
        if !value.is_empty() {
            self.0.push((key.to_string(), value));
        }
    }
}

/// Writes `trace`'s context into stored `(name, value)` headers, replacing any there.
pub fn store_context(trace: &Trace, headers: &mut Vec<(String, String)>) {
    headers.retain(|(k, _)| {
        !k.eq_ignore_ascii_case("traceparent") && !k.eq_ignore_ascii_case("tracestate")
    });
    headers.extend(trace.to_pairs());
}

#[cfg(test)]
mod tests;
