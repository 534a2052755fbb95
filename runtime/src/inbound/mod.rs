//! Inbound endpoints: listeners and pollers outside HTTP (a RabbitMQ queue, MQTT topics, a
//! directory)
//! that inject each message they take into a sequence, the counterpart of Micro
//! Integrator's inbound endpoints.
//!
//! An endpoint is compiled with the configuration ([`CompiledInbound`]) and run by the
//! [`runner::Inbounds`] supervisors when the configuration is installed: queue consumers on
//! every replica (competing for the queue's messages), pollers that must not run twice on
//! the replica that leads the group (see [`crate::leadership`]). A message is settled with
//! its source (acknowledged, requeued, its file moved) only after its sequence finished, so
//! what was not processed is never lost: at least once.

pub mod file;
pub mod inject;
pub mod management;
pub mod mqtt;
pub mod rabbitmq;
pub mod runner;
pub mod state;

use std::sync::Arc;

use ferry_api::check::inbound as checked;
use ferry_api::resources::InboundProtocol;

use crate::endpoints::BuildCx;
use crate::sequence::SeqId;
use crate::supervisor::fingerprint::Fingerprint;

/// An inbound endpoint, ready to run.
pub struct CompiledInbound {
    /// Its name (metrics label, management API).
    pub name: Arc<str>,
    /// Its protocol.
    pub protocol: InboundProtocol,
    /// The sequence messages go into, and its name (for the management API).
    pub sequence: SeqId,
    /// The sequence's name.
    pub sequence_name: String,
    /// The sequence run when `sequence` fails (else that sequence's own `onError`).
    pub on_error: Option<SeqId>,
    /// Deployed but not started.
    pub suspend: bool,
    /// One message at a time.
    pub sequential: bool,
    /// What the protocol needs to run.
    pub source: Source,
    /// What it was built from: a reload keeps it running while this stays equal.
    pub fingerprint: Fingerprint,
}

/// The protocol side of an endpoint.
pub enum Source {
    /// A RabbitMQ queue.
    Rabbitmq(Box<rabbitmq::Settings>),
    /// A directory.
    File(Box<checked::File>),
    /// MQTT topic filters.
    Mqtt(Box<mqtt::Settings>),
}

impl CompiledInbound {
    /// Builds an endpoint from its checked form: its sequences resolve, and a broker
    /// password is read from the environment now (a missing one is reported here, like a
    /// store's).
    pub fn build(
        name: &str,
        c: &checked::Inbound,
        fingerprint: Fingerprint,
        cx: &mut BuildCx<'_>,
    ) -> Option<Self> {
        let sequence = cx.sequence_id(&c.sequence)?;
        let on_error = match &c.on_error {
            Some(n) => Some(cx.sequence_id(n)?),
            None => None,
        };
        let source = match &c.settings {
            checked::Settings::Rabbitmq(spec) => match rabbitmq::Settings::new(spec) {
                Ok(s) => Source::Rabbitmq(Box::new(s)),
                Err(e) => {
                    cx.error("spec.rabbitmq", e);
                    return None;
                }
            },
            checked::Settings::File(f) => Source::File(f.clone()),
            checked::Settings::Mqtt(m) => match mqtt::Settings::new(name, m) {
                Ok(s) => Source::Mqtt(Box::new(s)),
                Err(e) => {
                    cx.error("spec.mqtt", e);
                    return None;
                }
            },
        };
        Some(Self {
            name: Arc::from(name),
            protocol: c.protocol,
            sequence,
            sequence_name: c.sequence.clone(),
            on_error,
            suspend: c.suspend,
            sequential: c.sequential,
            source,
            fingerprint,
        })
    }

    /// Whether it runs on the one replica that leads the group, rather than on each (an
    /// MQTT 5 shared subscription runs on each).
    pub fn once_per_group(&self) -> bool {
        match &self.source {
            Source::Mqtt(m) => !m.shared(),
            _ => self.protocol.once_per_group(),
        }
    }
}
