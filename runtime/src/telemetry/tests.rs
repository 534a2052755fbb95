use super::*;

fn settings(endpoint: &str) -> Settings {
    Settings {
        endpoint: endpoint.into(),
        protocol: Protocol::HttpProtobuf,
        sampling_ratio: 1.0,
        service_name: "ferry".into(),
        instance: None,
    }
}

/// A tracer that records every span and exports nowhere.
fn local_tracer() -> SdkTracer {
    SdkTracerProvider::builder().build().tracer("test")
}

#[test]
fn a_collector_base_url_gets_the_traces_path_and_a_full_url_is_kept() {
    assert_eq!(
        settings("http://collector:4318").traces_url(),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        settings("http://collector:4318/").traces_url(),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        settings("https://otlp.example/custom/v1/traces").traces_url(),
        "https://otlp.example/custom/v1/traces"
    );
}

#[test]
fn a_span_continues_the_callers_trace_and_hands_its_own_context_on() {
    let tracer = local_tracer();
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    headers.insert("tracestate", http::HeaderValue::from_static("vendor=x"));
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
    let server = Trace::start(&tracer, &parent, SpanKind::Server, "GET /x", Vec::new);
    assert_eq!(server.trace_id(), "0af7651916cd43dd8448eb211c80319c");

    let mut outbound = HeaderMap::new();
    server.inject(&mut outbound);
    let sent = outbound["traceparent"].to_str().unwrap_or_default();
    assert!(sent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
    assert!(
        !sent.contains("b7ad6b7169203331"),
        "the backend's parent is our span, not the caller's: {sent}"
    );
    assert_eq!(outbound["tracestate"], "vendor=x");
}

#[test]
fn a_stored_context_replaces_the_messages_own_and_is_read_back() {
    let tracer = local_tracer();
    let span = Trace::start(
        &tracer,
        &Context::new(),
        SpanKind::Producer,
        "send s",
        Vec::new,
    );
    let mut stored = vec![
        ("TraceParent".to_string(), "00-old-old-01".to_string()),
        ("x-other".to_string(), "kept".to_string()),
    ];
    store_context(&span, &mut stored);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0], ("x-other".to_string(), "kept".to_string()));
    let parent = TraceContextPropagator::new().extract(&PairsExtractor(&stored));
    let consumer = Trace::start(&tracer, &parent, SpanKind::Consumer, "process s", Vec::new);
    assert_eq!(consumer.trace_id(), span.trace_id());
}

#[test]
fn attributes_are_made_only_for_a_recorded_span() {
    let made = std::cell::Cell::new(0);
    let attributes = || {
        made.set(made.get() + 1);
        vec![KeyValue::new("k", "v")]
    };
    let unsampled = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build()
        .tracer("test");
    let span = Trace::start(
        &unsampled,
        &Context::new(),
        SpanKind::Server,
        "GET /x",
        attributes,
    );
    assert!(!span.is_recording());
    assert_eq!(made.get(), 0, "an unsampled span made its attributes");
    let span = Trace::start(
        &local_tracer(),
        &Context::new(),
        SpanKind::Server,
        "GET /x",
        attributes,
    );
    assert!(span.is_recording());
    assert_eq!(made.get(), 1);
}

#[test]
fn the_protocols_are_named_as_opentelemetrys_otlp_protocol_setting_names_them() {
    use clap::ValueEnum as _;
    assert_eq!(Protocol::from_str("grpc", false).ok(), Some(Protocol::Grpc));
    assert_eq!(
        Protocol::from_str("http/protobuf", false).ok(),
        Some(Protocol::HttpProtobuf)
    );
}

#[test]
fn a_ratio_outside_zero_to_one_or_a_non_http_endpoint_is_refused() {
    let mut s = settings("http://collector:4318");
    s.sampling_ratio = 1.5;
    assert!(matches!(install(&s), Err(TelemetryError::Ratio(_))));
    let s = settings("collector:4318");
    assert!(matches!(install(&s), Err(TelemetryError::Endpoint(_))));
}
