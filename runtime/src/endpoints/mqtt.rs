//! MQTT endpoints: a `call` or `send` to an address `mqtt:/...?...` publishes the message
//! to a topic, as Micro Integrator's MQTT transport sender does.
//!
//! - QoS 1 and 2 wait for the broker's acknowledgement (PUBACK, PUBCOMP) before the flow
//!   goes on; a refusal (MQTT 5 reason code), a lost connection or no acknowledgement
//!   within the endpoint's timeout is a fault (101500 sending failed, 101503 connection
//!   failed, 101504 timeout), so the flow never goes on believing a message was published
//!   that was not. QoS 0 goes on once the message is written to the connection.
//! - MQTT 5 carries the message's Content-Type (or `mqtt.message.content.type`) and its
//!   transport headers as user properties; 3.1.1 has no place for either.
//! - One connection per endpoint, made on first use (clean session: a publisher keeps no
//!   state at the broker) and made again, no sooner than its backoff allows, after it was
//!   lost; publishes in flight on a lost connection fail rather than being sent twice
//!   silently.
//! - Publishes of many messages share the connection: each is paired with its packet id
//!   in the order the client sent them, so each call waits for its own acknowledgement.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry_api::check::mqtt_address::MqttTarget;
use ferry_api::resources::{ConnectionRetry, MqttVersion};
use http::HeaderMap;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::endpoint::Delivery;
use crate::amqp::Backoff;
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::mqtt::{self, Client, Connect, Event};

/// An MQTT endpoint.
pub struct MqttEndpoint {
    target: MqttTarget,
    link: tokio::sync::Mutex<LinkState>,
}

struct LinkState {
    open: Option<Arc<Conn>>,
    retry_at: Option<Instant>,
    last_error: String,
    backoff: Backoff,
}

type Ack = oneshot::Sender<Result<(), String>>;

/// Calls waiting for their publish to be sent, then acknowledged.
#[derive(Default)]
struct Waiters {
    /// Publishes queued to the client, not yet given a packet id, in order.
    queued: VecDeque<Ack>,
    /// The publish waiting for a packet id to free up.
    held: Option<Ack>,
    /// Publishes sent, waiting for their acknowledgement, by packet id.
    sent: HashMap<u16, Ack>,
    /// The connection is gone: nothing more will be answered.
    closed: Option<String>,
}

/// One connection.
struct Conn {
    client: Client,
    waiters: Arc<Mutex<Waiters>>,
    /// Held while a publish is queued to the client, so the order of `queued` is the
    /// order the event loop sends in.
    order: tokio::sync::Mutex<()>,
    alive: Arc<AtomicBool>,
}

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

impl MqttEndpoint {
    /// The endpoint publishing as `target` says.
    pub fn new(target: &MqttTarget) -> Self {
        Self {
            target: target.clone(),
            link: tokio::sync::Mutex::new(LinkState {
                open: None,
                retry_at: None,
                last_error: String::new(),
                backoff: Backoff::new(&ConnectionRetry::default()),
            }),
        }
    }

    /// Publishes `msg`; the message itself is left as it was.
    pub async fn call(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, self.publish(name, msg)).await {
            Ok(result) => result,
            Err(_) => Err(Fault::upstream(
                codes::TIMEOUT,
                format!(
                    "endpoint {name}: the MQTT broker did not acknowledge within {} ms",
                    timeout.as_millis()
                ),
                true,
            )),
        }
    }

    async fn publish(&self, name: &str, msg: &mut Message) -> Result<Delivery, Fault> {
        let t = &self.target;
        let (body, content_type) = msg.body_bytes().map_err(Fault::unreadable_payload)?;
        let (content_type, user_properties) = match t.version {
            MqttVersion::V5 => (
                t.content_type
                    .clone()
                    .or_else(|| t.send_content_type.then_some(content_type)),
                user_properties(&msg.headers),
            ),
            MqttVersion::V311 => (None, Vec::new()),
        };
        let conn = self.connection(name).await?;
        let (tx, rx) = oneshot::channel();
        {
            let _order = conn.order.lock().await;
            {
                let mut w = conn.waiters.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(why) = &w.closed {
                    return Err(lost(name, why));
                }
                w.queued.push_back(tx);
            }
            let queued = conn
                .client
                .publish(
                    &t.topic,
                    t.qos,
                    t.retain,
                    body,
                    content_type,
                    user_properties,
                )
                .await;
            if queued.is_err() {
                conn.alive.store(false, Ordering::Relaxed);
                return Err(lost(name, "the connection closed"));
            }
        }
        match rx.await {
            Ok(Ok(())) => Ok(Delivery::Answered),
            Ok(Err(refused)) => Err(Fault::upstream(
                codes::SENDING_FAILED,
                format!("endpoint {name}: {refused} (topic {:?})", t.topic),
                false,
            )),
            Err(_) => Err(lost(name, "the connection closed")),
        }
    }

    /// The open connection, or a new one when the backoff allows.
    async fn connection(&self, name: &str) -> Result<Arc<Conn>, Fault> {
        let mut link = self.link.lock().await;
        if let Some(open) = &link.open
            && open.alive.load(Ordering::Relaxed)
        {
            return Ok(open.clone());
        }
        if link.open.take().is_some() {
            tracing::warn!(endpoint = %name, host = %self.target.host, "lost the connection to the MQTT broker");
        }
        if let Some(at) = link.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(Fault::upstream(
                    codes::CONNECTION_FAILED,
                    format!(
                        "endpoint {name}: the MQTT broker is unreachable ({}); reconnecting in {} ms",
                        link.last_error,
                        (at - now).as_millis()
                    ),
                    true,
                ));
            }
        }
        match self.connect().await {
            Ok(conn) => {
                let conn = Arc::new(conn);
                link.open = Some(conn.clone());
                link.retry_at = None;
                link.backoff.reset();
                tracing::info!(endpoint = %name, host = %self.target.host, topic = %self.target.topic, "connected to the MQTT broker");
                Ok(conn)
            }
            Err(e) => {
                let delay = link.backoff.next_delay();
                link.retry_at = Some(Instant::now() + delay);
                link.last_error = e.clone();
                Err(Fault::upstream(
                    codes::CONNECTION_FAILED,
                    format!("endpoint {name}: cannot connect to the MQTT broker: {e}"),
                    true,
                ))
            }
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        let t = &self.target;
        let password = mqtt::password(t.password_env.as_deref())?;
        let tls = if t.tls {
            let profile =
                crate::tls::client::TlsProfile::build(&ferry_api::check::tls::ClientTls {
                    ca_env: t.ca_env.clone(),
                    identity_env: None,
                    server_name: None,
                    min_version: ferry_api::resources::TlsVersion::Tls12,
                })?;
            Some(profile.config_without_alpn())
        } else {
            None
        };
        let client_id = t.client_id.clone().unwrap_or_else(|| {
            format!(
                "ferry-{}-{}",
                std::process::id(),
                NEXT_CLIENT.fetch_add(1, Ordering::Relaxed)
            )
        });
        let (client, mut events) = mqtt::session(&Connect {
            host: t.host.trim().to_string(),
            port: t.port,
            version: t.version,
            client_id,
            clean: true,
            session_expiry: None,
            keep_alive: Duration::from_secs(60),
            credentials: t
                .username
                .clone()
                .map(|u| (u, password.unwrap_or_default())),
            tls,
            manual_acks: false,
            receive_maximum: None,
        });
        // The first event is the broker's answer to CONNECT (or why there is none).
        loop {
            match events.poll().await? {
                Event::Connected { .. } => break,
                _ => continue,
            }
        }
        let waiters: Arc<Mutex<Waiters>> = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(drive(events, waiters.clone(), alive.clone()));
        Ok(Conn {
            client,
            waiters,
            order: tokio::sync::Mutex::new(()),
            alive,
        })
    }
}

/// Polls the connection, pairing each sent publish with its caller and answering each
/// caller when the broker acknowledges. Ends when the connection is lost or every client
/// handle is gone (the endpoint was dropped by a reload).
async fn drive(mut events: mqtt::Events, waiters: Arc<Mutex<Waiters>>, alive: Arc<AtomicBool>) {
    let why = loop {
        let event = match events.poll().await {
            Ok(e) => e,
            Err(e) => break e,
        };
        let mut w = waiters.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Sent(pkid) => {
                let Some(ack) = w.held.take().or_else(|| w.queued.pop_front()) else {
                    continue;
                };
                if pkid == 0 {
                    let _ = ack.send(Ok(()));
                } else {
                    w.sent.insert(pkid, ack);
                }
            }
            Event::Held => {
                if let Some(ack) = w.queued.pop_front() {
                    w.held = Some(ack);
                }
            }
            Event::Acknowledged(pkid, result) => {
                if let Some(ack) = w.sent.remove(&pkid) {
                    let _ = ack.send(result);
                }
            }
            // A reconnection inside rumqttc would resend what was in flight and break the
            // pairing: a new session is made instead (see below).
            Event::Connected { .. } | Event::Message(_) | Event::Subscribed(_) | Event::Other => {}
        }
    };
    alive.store(false, Ordering::Relaxed);
    let mut w = waiters.lock().unwrap_or_else(PoisonError::into_inner);
    w.closed = Some(why.clone());
    // Dropping the senders answers every waiting call with "connection closed".
    w.queued.clear();
    w.held = None;
    w.sent.clear();
    tracing::debug!(error = %why, "an MQTT endpoint's connection ended");
}

fn lost(name: &str, why: &str) -> Fault {
    Fault::upstream(
        codes::CONNECTION_CLOSED,
        format!(
            "endpoint {name}: the connection to the MQTT broker was lost ({why}); the message may not have been published"
        ),
        true,
    )
}

/// Transport headers sent as MQTT 5 user properties: those that describe the message,
/// not the HTTP exchange it came in.
fn user_properties(headers: &HeaderMap) -> Vec<(String, String)> {
    const NOT_FORWARDED: &[&str] = &[
        "host",
        "content-length",
        "content-type",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "accept-encoding",
        "expect",
        "authorization",
        "cookie",
    ];
    headers
        .iter()
        .filter(|(k, _)| !NOT_FORWARDED.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}
