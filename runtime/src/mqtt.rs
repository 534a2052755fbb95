//! The MQTT client shared by the MQTT inbound endpoint and MQTT endpoints: one type over
//! rumqttc's MQTT 3.1.1 and MQTT 5 clients, so the two users speak of connecting,
//! subscribing, publishing and acknowledging once, whatever the version.
//!
//! A [`Session`] is one network connection's life: its [`Client`] (cheap to clone, queues
//! requests) and its [`Events`] (must be polled all the time: it does the network I/O,
//! keep-alive pings included). A session that fails is dropped whole and a new one made,
//! so no state of the old connection (packet ids, pending acknowledgements) leaks into the
//! next: a message taken on a lost connection is never acknowledged on another.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_api::resources::MqttVersion;
use rumqttc::v5::mqttbytes::v5 as v5b;
use rumqttc::{TlsConfiguration, Transport};

/// The largest MQTT packet sent or received (a message's payload and topic).
pub const MAX_PACKET: usize = 64 * 1024 * 1024;

/// How to connect.
pub struct Connect {
    /// The broker's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The protocol version.
    pub version: MqttVersion,
    /// The client identifier.
    pub client_id: String,
    /// Start a new session (`false`: resume the broker's session for `client_id`).
    pub clean: bool,
    /// MQTT 5: seconds the broker keeps the session after a disconnect.
    pub session_expiry: Option<u32>,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// User name and password.
    pub credentials: Option<(String, String)>,
    /// TLS, when asked (a configuration offering no ALPN protocol: MQTT is not HTTP).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Received messages of QoS 1 and 2 are acknowledged by [`Client::ack`], not at once.
    pub manual_acks: bool,
    /// MQTT 5: messages the broker may send before we acknowledge (receive maximum).
    pub receive_maximum: Option<u16>,
}

/// A client's requests: subscribe, publish, acknowledge, disconnect.
#[derive(Clone)]
pub enum Client {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(rumqttc::v5::AsyncClient),
}

/// A connection's events, to be polled continuously.
pub enum Events {
    /// MQTT 3.1.1.
    V4(Box<rumqttc::EventLoop>),
    /// MQTT 5.
    V5(Box<rumqttc::v5::EventLoop>),
}

/// A received message.
pub struct Received {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// Its QoS (0, 1, 2).
    pub qos: u8,
    /// The broker's retained message for the topic.
    pub retain: bool,
    /// Sent before (a redelivery).
    pub dup: bool,
    /// MQTT 5: its content type.
    pub content_type: Option<String>,
    /// MQTT 5: its user properties.
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5: its response topic.
    pub response_topic: Option<String>,
    /// MQTT 5: its correlation data.
    pub correlation_data: Option<Bytes>,
    raw: Raw,
}

enum Raw {
    V4(rumqttc::Publish),
    V5(v5b::Publish),
}

/// What polling a connection gave.
pub enum Event {
    /// The broker accepted the connection.
    Connected {
        /// The broker resumed a session it kept.
        session_present: bool,
    },
    /// A message arrived.
    Message(Box<Received>),
    /// The broker answered a subscription: the QoS granted per filter, or why refused.
    Subscribed(Vec<Result<u8, String>>),
    /// A publish of ours was written (QoS 0: done; packet id 0) or is waiting for its
    /// acknowledgement (its packet id).
    Sent(u16),
    /// A publish of ours waits until a packet id frees up (the broker acknowledges out of
    /// order); it is [`Event::Sent`] later.
    Held,
    /// The broker acknowledged a publish of ours (QoS 1 PUBACK, QoS 2 PUBCOMP), or refused
    /// it (MQTT 5 reason code).
    Acknowledged(u16, Result<(), String>),
    /// Anything else (pings, our acknowledgements).
    Other,
}

/// Opens a session: no network I/O happens until [`Events::poll`].
pub fn session(c: &Connect) -> (Client, Events) {
    // Requests queue here while the event loop writes; big enough for a burst of
    // acknowledgements and publishes.
    const CAPACITY: usize = 256;
    let transport = c
        .tls
        .as_ref()
        .map(|config| Transport::tls_with_config(TlsConfiguration::Rustls(Arc::clone(config))));
    match c.version {
        MqttVersion::V311 => {
            let mut o = rumqttc::MqttOptions::new(&c.client_id, &c.host, c.port);
            o.set_keep_alive(c.keep_alive)
                .set_clean_session(c.clean)
                .set_manual_acks(c.manual_acks)
                .set_max_packet_size(MAX_PACKET, MAX_PACKET);
            if let Some((user, password)) = &c.credentials {
                o.set_credentials(user, password);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, events) = rumqttc::AsyncClient::new(o, CAPACITY);
            (Client::V4(client), Events::V4(Box::new(events)))
        }
        MqttVersion::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(&c.client_id, &c.host, c.port);
            o.set_keep_alive(c.keep_alive)
                .set_clean_start(c.clean)
                .set_manual_acks(c.manual_acks)
                .set_max_packet_size(Some(MAX_PACKET as u32))
                .set_session_expiry_interval(c.session_expiry);
            if c.receive_maximum.is_some() {
                o.set_receive_maximum(c.receive_maximum);
            }
            if let Some((user, password)) = &c.credentials {
                o.set_credentials(user, password);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, events) = rumqttc::v5::AsyncClient::new(o, CAPACITY);
            (Client::V5(client), Events::V5(Box::new(events)))
        }
    }
}

fn qos(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

/// How a client request failed: the session is gone.
#[derive(Debug, thiserror::Error)]
#[error("the MQTT session is closed")]
pub struct Closed;

impl Client {
    /// Subscribes to `filters` with QoS `q`.
    pub async fn subscribe(&self, filters: &[String], q: u8) -> Result<(), Closed> {
        match self {
            Client::V4(c) => c
                .subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos(q))),
                )
                .await
                .map_err(|_| Closed),
            Client::V5(c) => c
                .subscribe_many(filters.iter().map(|f| v5b::Filter::new(f.clone(), qos5(q))))
                .await
                .map_err(|_| Closed),
        }
    }

    /// Queues a publish. MQTT 5 carries `content_type` and `user_properties`; 3.1.1 has
    /// no place for them.
    pub async fn publish(
        &self,
        topic: &str,
        q: u8,
        retain: bool,
        payload: Bytes,
        content_type: Option<String>,
        user_properties: Vec<(String, String)>,
    ) -> Result<(), Closed> {
        match self {
            Client::V4(c) => c
                .publish_bytes(topic, qos(q), retain, payload)
                .await
                .map_err(|_| Closed),
            Client::V5(c) => {
                let properties = v5b::PublishProperties {
                    content_type,
                    user_properties,
                    ..v5b::PublishProperties::default()
                };
                c.publish_bytes_with_properties(topic, qos5(q), retain, payload, properties)
                    .await
                    .map_err(|_| Closed)
            }
        }
    }

    /// Acknowledges a received message (QoS 1: PUBACK; QoS 2: PUBREC, the rest of the
    /// exchange follows by itself).
    pub async fn ack(&self, message: &Received) -> Result<(), Closed> {
        match (self, &message.raw) {
            (Client::V4(c), Raw::V4(p)) => c.ack(p).await.map_err(|_| Closed),
            (Client::V5(c), Raw::V5(p)) => c.ack(p).await.map_err(|_| Closed),
            _ => Err(Closed),
        }
    }

    /// Asks for a clean disconnect (written by the event loop).
    pub async fn disconnect(&self) {
        let _ = match self {
            Client::V4(c) => c.disconnect().await.map_err(|_| Closed),
            Client::V5(c) => c.disconnect().await.map_err(|_| Closed),
        };
    }
}

impl Events {
    /// The next event; `Err` when the connection failed (the session is over).
    pub async fn poll(&mut self) -> Result<Event, String> {
        match self {
            Events::V4(e) => e.poll().await.map(v4_event).map_err(|e| e.to_string()),
            Events::V5(e) => e.poll().await.map(v5_event).map_err(|e| e.to_string()),
        }
    }
}

fn v4_event(event: rumqttc::Event) -> Event {
    use rumqttc::{Event as E, Outgoing, Packet};
    match event {
        E::Incoming(Packet::ConnAck(a)) => Event::Connected {
            session_present: a.session_present,
        },
        E::Incoming(Packet::Publish(p)) => Event::Message(Box::new(Received {
            topic: p.topic.clone(),
            payload: p.payload.clone(),
            qos: p.qos as u8,
            retain: p.retain,
            dup: p.dup,
            content_type: None,
            user_properties: Vec::new(),
            response_topic: None,
            correlation_data: None,
            raw: Raw::V4(p),
        })),
        E::Incoming(Packet::SubAck(a)) => Event::Subscribed(
            a.return_codes
                .iter()
                .map(|c| match c {
                    rumqttc::SubscribeReasonCode::Success(q) => Ok(*q as u8),
                    rumqttc::SubscribeReasonCode::Failure => {
                        Err("the broker refused the subscription".to_string())
                    }
                })
                .collect(),
        ),
        E::Incoming(Packet::PubAck(a)) => Event::Acknowledged(a.pkid, Ok(())),
        E::Incoming(Packet::PubComp(a)) => Event::Acknowledged(a.pkid, Ok(())),
        E::Outgoing(Outgoing::Publish(pkid)) => Event::Sent(pkid),
        E::Outgoing(Outgoing::AwaitAck(_)) => Event::Held,
        _ => Event::Other,
    }
}

fn v5_event(event: rumqttc::v5::Event) -> Event {
    use rumqttc::Outgoing;
    use rumqttc::v5::{Event as E, Incoming};
    match event {
        E::Incoming(Incoming::ConnAck(a)) => Event::Connected {
            session_present: a.session_present,
        },
        E::Incoming(Incoming::Publish(p)) => {
            let props = p.properties.clone().unwrap_or_default();
            Event::Message(Box::new(Received {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload.clone(),
                qos: p.qos as u8,
                retain: p.retain,
                dup: p.dup,
                content_type: props.content_type,
                user_properties: props.user_properties,
                response_topic: props.response_topic,
                correlation_data: props.correlation_data,
                raw: Raw::V5(p),
            }))
        }
        E::Incoming(Incoming::SubAck(a)) => Event::Subscribed(
            a.return_codes
                .iter()
                .map(|c| match c {
                    v5b::SubscribeReasonCode::Success(q) => Ok(*q as u8),
                    other => Err(format!("the broker refused the subscription ({other:?})")),
                })
                .collect(),
        ),
        E::Incoming(Incoming::PubAck(a)) => {
            let ok = matches!(
                a.reason,
                v5b::PubAckReason::Success | v5b::PubAckReason::NoMatchingSubscribers
            );
            Event::Acknowledged(
                a.pkid,
                if ok {
                    Ok(())
                } else {
                    Err(format!("the broker refused the message ({:?})", a.reason))
                },
            )
        }
        // A refusal of a QoS 2 message comes in its PUBREC; rumqttc then ends the exchange
        // there, so no PUBCOMP follows.
        E::Incoming(Incoming::PubRec(a))
            if !matches!(
                a.reason,
                v5b::PubRecReason::Success | v5b::PubRecReason::NoMatchingSubscribers
            ) =>
        {
            Event::Acknowledged(
                a.pkid,
                Err(format!("the broker refused the message ({:?})", a.reason)),
            )
        }
        E::Incoming(Incoming::PubComp(a)) => {
            let ok = matches!(a.reason, v5b::PubCompReason::Success);
            Event::Acknowledged(
                a.pkid,
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "the broker did not complete the message ({:?})",
                        a.reason
                    ))
                },
            )
        }
        E::Outgoing(Outgoing::Publish(pkid)) => Event::Sent(pkid),
        E::Outgoing(Outgoing::AwaitAck(_)) => Event::Held,
        _ => Event::Other,
    }
}

/// The password of `env`, read now.
pub fn password(env: Option<&str>) -> Result<Option<String>, String> {
    match env {
        None => Ok(None),
        Some(var) => std::env::var(var)
            .map(Some)
            .map_err(|_| format!("the environment variable {var} holding the password is not set")),
    }
}
