//! The MQTT inbound endpoint: one client subscribed to topic filters, injecting each
//! message into the endpoint's sequence.
//!
//! - Messages of QoS 1 and 2 are acknowledged (PUBACK, PUBREC) only after their sequence
//!   completed. With a persistent session (`cleanSession: false`, the default) a message
//!   taken but not acknowledged when Ferry dies is delivered again by the broker when the
//!   client (the same client id) connects again: at least once.
//! - A message whose sequence failed is acknowledged too, after the `onError` sequence ran:
//!   MQTT has no negative acknowledgement, and an unacknowledged message would hold one of
//!   the broker's in-flight slots until the next reconnection.
//! - Where it runs: a plain subscription on the replica that leads the group (each replica
//!   would otherwise get every message); an MQTT 5 shared subscription (`$share/GROUP/...`)
//!   on every replica, each with its own client id (the pod's name appended) and the
//!   broker handing each message to one of them.
//! - A lost connection is made again with backoff, as a new session of the client: messages
//!   in flight on the lost one finish but are not acknowledged (the broker redelivers
//!   them).
//! - Stopping (reload, lost lead, shutdown) stops taking messages, lets those in flight
//!   finish and be acknowledged, then disconnects cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferry_api::check::inbound::Mqtt as Checked;
use ferry_api::resources::MqttVersion;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::inject;
use super::runner::InboundUnit;
use super::state::InboundState;
use crate::amqp::Backoff;
use crate::expr::context::PropertyScope;
use crate::mqtt::{self, Client, Connect, Event, Received};
use crate::supervisor::Stop;

/// What an MQTT endpoint connects with.
pub struct Settings {
    connect: Connect,
    shared: bool,
    spec: ferry_api::resources::MqttInbound,
    default_content_type: HeaderValue,
}

impl Settings {
    /// The settings of `c` for the endpoint `name`: the password and the TLS material are
    /// read from the environment now.
    pub fn new(name: &str, c: &Checked) -> Result<Self, String> {
        let spec = &c.spec;
        let password = mqtt::password(c.password_env.as_deref())?;
        let credentials = spec
            .username
            .clone()
            .map(|user| (user, password.unwrap_or_default()));
        let tls = match &c.tls {
            Some(t) => Some(
                crate::tls::client::TlsProfile::build(t)
                    .map_err(|e| format!("tls: {e}"))?
                    .config_without_alpn(),
            ),
            None => None,
        };
        let mut client_id = spec
            .client_id
            .clone()
            .unwrap_or_else(|| format!("ferry-{name}"));
        if c.shared {
            // Every replica consumes: each needs a session of its own.
            let host =
                crate::leadership::hostname().unwrap_or_else(|| std::process::id().to_string());
            client_id = format!("{client_id}-{host}");
        }
        let session_expiry = match spec.version {
            MqttVersion::V5 if !spec.clean_session => {
                Some(spec.session_expiry_interval.unwrap_or(86_400))
            }
            MqttVersion::V5 => spec.session_expiry_interval,
            MqttVersion::V311 => None,
        };
        let default_content_type = HeaderValue::from_str(
            spec.content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        )
        .map_err(|_| "contentType: not a valid content type".to_string())?;
        Ok(Self {
            connect: Connect {
                host: spec.host.trim().to_string(),
                port: spec
                    .port
                    .unwrap_or(if spec.tls.is_some() { 8883 } else { 1883 }),
                version: spec.version,
                client_id,
                clean: spec.clean_session,
                session_expiry,
                keep_alive: Duration::from_secs(u64::from(spec.keep_alive)),
                credentials,
                tls,
                manual_acks: true,
                // MQTT 5: the broker sends at most this many unacknowledged messages, which
                // bounds the queue before the sequence (3.1.1 relies on the broker's own
                // in-flight limit, Mosquitto's max_inflight_messages).
                receive_maximum: Some(
                    u16::try_from(usize::from(spec.concurrency).saturating_mul(4))
                        .unwrap_or(u16::MAX)
                        .max(64),
                ),
            },
            shared: c.shared,
            spec: spec.clone(),
            default_content_type,
        })
    }
}

impl Settings {
    /// An MQTT 5 shared subscription: runs on every replica.
    pub fn shared(&self) -> bool {
        self.shared
    }
}

fn settings(unit: &InboundUnit) -> Option<&Settings> {
    match &unit.inbound.source {
        super::Source::Mqtt(s) => Some(s),
        _ => None,
    }
}

/// Consumes until stopped, connecting again with backoff whenever the connection is lost.
pub async fn run(unit: Arc<InboundUnit>, state: Arc<InboundState>, stop: Stop) {
    let Some(settings) = settings(&unit) else {
        return;
    };
    let mut backoff = Backoff::new(&settings.spec.connection_retry);
    let mut down = false;
    loop {
        if stop.is_stopped() {
            return;
        }
        match session(&unit, settings, &state, &stop, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                let wait = backoff.next_delay();
                if !down {
                    tracing::warn!(inbound = %unit.inbound.name, host = %settings.connect.host, error = %e, retry_ms = wait.as_millis() as u64, "MQTT subscriber lost its connection; reconnecting");
                    down = true;
                }
                state.set_error(e);
                let mut stop = stop.clone();
                if !stop.sleep(wait).await {
                    return;
                }
            }
        }
    }
}

/// QoS 0 messages that may wait for the sequence; more are dropped.
const QOS0_BACKLOG: usize = 10_000;

/// One connection's life: connect, subscribe, hand messages to the worker until stopped
/// (`Ok`) or until the connection fails (`Err`).
async fn session(
    unit: &Arc<InboundUnit>,
    settings: &Settings,
    state: &Arc<InboundState>,
    stop: &Stop,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let spec = &settings.spec;
    let (client, mut events) = mqtt::session(&settings.connect);
    let limit = if unit.inbound.sequential {
        1
    } else {
        usize::from(spec.concurrency)
    };
    // Messages wait here for the worker. The event loop never waits on the worker: the
    // worker's acknowledgements go out through this loop, so a loop blocked on a full
    // queue while the worker waits to acknowledge would stop both (it did, after about 270
    // messages under load). Messages of QoS 1 and 2 are bounded by the broker's window of
    // unacknowledged ones; QoS 0 ones beyond QOS0_BACKLOG are dropped (at most once),
    // counted as failed and logged.
    let (tx, rx) = mpsc::unbounded_channel::<Box<Received>>();
    let qos0 = Arc::new(AtomicUsize::new(0));
    let mut worker = tokio::spawn(work(
        unit.clone(),
        state.clone(),
        client.clone(),
        rx,
        qos0.clone(),
        stop.clone(),
        limit,
    ));
    let mut stopping = stop.clone();
    let outcome = loop {
        tokio::select! {
            biased;
            () = stopping.stopped() => break Ok(()),
            event = events.poll() => match event {
                Ok(Event::Connected { session_present }) => {
                    if client.subscribe(&spec.topics, spec.qos).await.is_err() {
                        break Err("the MQTT client closed".to_string());
                    }
                    tracing::info!(inbound = %unit.inbound.name, topics = ?spec.topics, session_present, "subscribed to MQTT");
                }
                Ok(Event::Subscribed(granted)) => {
                    if let Some(Err(e)) = granted.iter().find(|g| g.is_err()) {
                        break Err(e.clone());
                    }
                    backoff.reset();
                    state.set_connected();
                }
                Ok(Event::Message(message)) => {
                    if message.qos == 0 {
                        if qos0.load(Ordering::Relaxed) >= QOS0_BACKLOG {
                            state.received().failed();
                            tracing::warn!(inbound = %unit.inbound.name, topic = %message.topic, "QoS 0 message dropped: {QOS0_BACKLOG} are waiting for the sequence already");
                            continue;
                        }
                        qos0.fetch_add(1, Ordering::Relaxed);
                    }
                    if tx.send(message).is_err() {
                        break Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => break Err(e),
            },
        }
    };
    drop(tx);
    match outcome {
        Ok(()) => {
            // Keep the connection going while the messages in flight finish, so their
            // acknowledgements reach the broker; messages arriving now are not taken (and
            // not acknowledged: the broker keeps them for the session).
            loop {
                tokio::select! {
                    _ = &mut worker => break,
                    event = events.poll() => if event.is_err() {
                        let _ = (&mut worker).await;
                        return Ok(());
                    },
                }
            }
            client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while events.poll().await.is_ok() {}
            })
            .await;
            Ok(())
        }
        Err(e) => {
            // The connection is gone: what is in flight finishes unacknowledged.
            let _ = worker.await;
            Err(e)
        }
    }
}

/// Takes messages (one at a time, or up to `limit` at once) until stopped or until the
/// session ends, then lets those in flight finish.
async fn work(
    unit: Arc<InboundUnit>,
    state: Arc<InboundState>,
    client: Client,
    mut rx: mpsc::UnboundedReceiver<Box<Received>>,
    qos0: Arc<AtomicUsize>,
    mut stop: Stop,
    limit: usize,
) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.stopped() => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            next = rx.recv(), if in_flight.len() < limit => match next {
                Some(message) => {
                    if message.qos == 0 {
                        qos0.fetch_sub(1, Ordering::Relaxed);
                    }
                    let (unit, state, client) = (unit.clone(), state.clone(), client.clone());
                    in_flight.spawn(async move { handle(&unit, &state, &client, *message).await });
                }
                None => break,
            },
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Runs one message through the sequence and acknowledges it.
async fn handle(unit: &InboundUnit, state: &Arc<InboundState>, client: &Client, m: Received) {
    let Some(settings) = settings(unit) else {
        return;
    };
    let taken = state.received();
    let compiled = &unit.compiled;
    let mut msg = message(compiled, settings, &m);
    let result = inject::run(&unit.inbound, compiled, &mut msg).await;
    drop(msg);
    if m.qos > 0 && client.ack(&m).await.is_err() {
        // The session is gone: the broker delivers the message again.
        tracing::debug!(inbound = %unit.inbound.name, topic = %m.topic, "could not acknowledge a message; the broker redelivers it");
        return;
    }
    match result {
        Ok(_) => taken.succeeded(),
        Err(_) => taken.failed(),
    }
}

/// The message an MQTT message becomes: its content type (MQTT 5), else the endpoint's;
/// its MQTT 5 user properties as transport headers (those that are valid HTTP headers);
/// and the properties `mqtt.topic`, `mqtt.qos`, `mqtt.retained`, `mqtt.duplicate`,
/// `mqtt.response.topic` and `mqtt.correlation.data`.
fn message(
    compiled: &crate::compiled::Compiled,
    settings: &Settings,
    m: &Received,
) -> crate::message::Message {
    let mut headers = HeaderMap::new();
    for (k, v) in &m.user_properties {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, value);
        }
    }
    let content_type = m
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or_else(|| settings.default_content_type.clone());
    headers.insert(header::CONTENT_TYPE, content_type);
    let mut msg = inject::message(compiled, headers, Bytes::clone(&m.payload));
    let mut set = |name: &str, value: Value| msg.set_property(PropertyScope::Default, name, value);
    set("mqtt.topic", Value::String(m.topic.clone()));
    set("mqtt.qos", Value::from(m.qos));
    set("mqtt.retained", Value::Bool(m.retain));
    set("mqtt.duplicate", Value::Bool(m.dup));
    if let Some(t) = &m.response_topic {
        set("mqtt.response.topic", Value::String(t.clone()));
    }
    if let Some(c) = &m.correlation_data {
        set(
            "mqtt.correlation.data",
            Value::String(String::from_utf8_lossy(c).into_owned()),
        );
    }
    msg
}
