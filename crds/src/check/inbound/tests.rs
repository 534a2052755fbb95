use crate::bundle::{Source, load};

fn check(yaml: &str) -> Vec<String> {
    let (bundle, mut diagnostics) = load(&[Source {
        name: "test.yaml".into(),
        text: yaml.into(),
    }]);
    diagnostics.extend(crate::validate::validate(&bundle));
    diagnostics.iter().map(ToString::to_string).collect()
}

const SEQUENCE: &str = "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: handle
spec:
  mediators:
    - log: {}
---
";

fn with(inbound: &str) -> String {
    format!(
        "{SEQUENCE}apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: in
spec:
{inbound}"
    )
}

#[test]
fn a_rabbitmq_consumer_and_a_file_poller_are_valid() {
    let rabbit = with(
        "  protocol: rabbitmq
  sequence: handle
  rabbitmq:
    host: 127.0.0.1
    queue: orders
    declareQueue: {durable: true, deadLetterExchange: dlx}
    exchange: {name: orders, type: topic, routingKey: 'orders.#'}
    onFault: reject
",
    );
    assert_eq!(check(&rabbit), Vec::<String>::new());
    let file = with(
        "  protocol: file
  sequence: handle
  file:
    directory: inbox
    fileNamePattern: '.*\\.csv'
    content: csv
    actionAfterProcess: move
    moveAfterProcess: done
    moveAfterFailure: failed
",
    );
    assert_eq!(check(&file), Vec::<String>::new());
}

#[test]
fn sequences_must_exist_and_only_the_protocols_block_may_be_set() {
    let yaml = with(
        "  protocol: rabbitmq
  sequence: missing
  onError: gone
  rabbitmq: {host: h, queue: q}
  file: {directory: d, moveAfterFailure: f}
",
    );
    assert_eq!(
        check(&yaml),
        vec![
            "test.yaml:15: InboundEndpoint/in spec.sequence: sequence \"missing\" is not defined",
            "test.yaml:16: InboundEndpoint/in spec.onError: sequence \"gone\" is not defined",
            "test.yaml:18: InboundEndpoint/in spec.file: only the block of the endpoint's protocol may be set (protocol is rabbitmq)",
        ]
    );
}

#[test]
fn rabbitmq_settings_that_cannot_work_are_located() {
    let yaml = with(
        "  protocol: rabbitmq
  sequence: handle
  rabbitmq:
    host: ''
    queue: q
    prefetch: 0
    consumers: 0
    tls: {insecureSkipVerify: true}
    username: app
",
    );
    let d = check(&yaml);
    for field in [
        "spec.rabbitmq.tls.insecureSkipVerify: Ferry never turns certificate verification off",
        "spec.rabbitmq.host: host is required",
        "spec.rabbitmq.prefetch: must be at least 1",
        "spec.rabbitmq.consumers: must be at least 1",
        "spec.rabbitmq.passwordFrom: passwordFrom is required with username",
    ] {
        assert!(d.iter().any(|l| l.contains(field)), "{field} in {d:?}");
    }
    let missing = with("  protocol: rabbitmq\n  sequence: handle\n");
    assert!(check(&missing)[0].contains("spec.rabbitmq: a rabbitmq inbound endpoint needs"));
}

#[test]
fn file_actions_need_their_directories_and_a_pattern_must_compile() {
    let yaml = with(
        "  protocol: file
  sequence: handle
  sequential: false
  file:
    directory: inbox/
    fileNamePattern: '(*'
    actionAfterProcess: move
    moveAfterFailure: ./inbox
    stableFor: 0
    partSuffix: ''
",
    );
    let d = check(&yaml);
    for field in [
        "spec.sequential: a file endpoint processes its files one at a time",
        "spec.file.fileNamePattern: not a regular expression",
        "spec.file.moveAfterProcess: actionAfterProcess move needs the directory moveAfterProcess",
        "spec.file.moveAfterFailure: must not be the polled directory",
        "spec.file.stableFor: with stableFor 0 set a partSuffix",
    ] {
        assert!(d.iter().any(|l| l.contains(field)), "{field} in {d:?}");
    }
}

#[test]
fn an_unknown_protocol_is_refused_with_the_supported_ones() {
    let yaml = with("  protocol: jms\n  sequence: handle\n");
    let d = check(&yaml);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("spec.protocol") && d[0].contains("rabbitmq") && d[0].contains("file"),
        "{d:?}"
    );
}

#[test]
fn an_mqtt_subscriber_plain_or_shared_is_valid() {
    let plain = with(
        "  protocol: mqtt
  sequence: handle
  mqtt:
    host: 127.0.0.1
    topics: ['plant/+/temperature', 'alarms/#']
    qos: 2
    username: ingest
    passwordFrom: {env: MQTT_PASSWORD}
    tls: {}
",
    );
    assert_eq!(check(&plain), Vec::<String>::new());
    let shared = with(
        "  protocol: mqtt
  sequence: handle
  mqtt:
    host: 127.0.0.1
    version: \"5\"
    topics: ['$share/ferry/plant/#']
    sessionExpiryInterval: 3600
",
    );
    assert_eq!(check(&shared), Vec::<String>::new());
}

#[test]
fn bad_mqtt_settings_are_refused_each_at_its_field() {
    let bad = with(
        "  protocol: mqtt
  sequence: handle
  mqtt:
    host: ' '
    topics: ['a/b#', '$share/g/x', '']
    qos: 3
    keepAlive: 0
    concurrency: 0
    sessionExpiryInterval: 5
    passwordFrom: {env: PW}
    contentType: \"bad\\ntype\"
    tls: {serverName: other, insecureSkipVerify: true}
",
    );
    let all = check(&bad).join("\n");
    for needle in [
        "spec.mqtt.host: host is required",
        "spec.mqtt.topics[0]: \"a/b#\": # must be a whole level",
        "spec.mqtt.topics[1]: either every filter is a shared subscription",
        "spec.mqtt.topics[2]: a topic filter must not be empty",
        "spec.mqtt.qos: must be 0, 1 or 2",
        "spec.mqtt.keepAlive: must be at least 1 second",
        "spec.mqtt.concurrency: must be at least 1",
        "spec.mqtt.sessionExpiryInterval: the session expiry interval is an MQTT 5 setting",
        "spec.mqtt.passwordFrom: a password goes with a username",
        "spec.mqtt.tls.serverName",
        "spec.mqtt.tls.insecureSkipVerify",
    ] {
        assert!(all.contains(needle), "{needle:?} missing in:\n{all}");
    }
    let shared_v3 = with(
        "  protocol: mqtt
  sequence: handle
  mqtt:
    host: h
    topics: ['$share/g/x']
",
    );
    assert!(
        check(&shared_v3)
            .join("\n")
            .contains("spec.mqtt.version: shared subscriptions ($share/...) are an MQTT 5 feature")
    );
    let other_block = with(
        "  protocol: mqtt
  sequence: handle
  mqtt: {host: h, topics: [t]}
  file: {directory: d}
",
    );
    assert!(
        check(&other_block)
            .join("\n")
            .contains("spec.file: only the block of the endpoint's protocol may be set")
    );
}

#[test]
fn a_shared_mqtt_subscription_runs_on_every_replica_a_plain_one_on_the_leader() {
    use crate::resources::{InboundEndpointSpec, InboundProtocol, MqttInbound};
    let spec = |topics: &[&str]| InboundEndpointSpec {
        runtime: "default".into(),
        protocol: InboundProtocol::Mqtt,
        sequence: "s".into(),
        on_error: None,
        suspend: false,
        sequential: true,
        rabbitmq: None,
        file: None,
        mqtt: Some(MqttInbound {
            host: "h".into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..MqttInbound::default()
        }),
    };
    assert!(spec(&["a/#"]).once_per_group());
    assert!(!spec(&["$share/g/a/#"]).once_per_group());
}
