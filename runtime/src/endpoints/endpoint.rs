//! Endpoints at run time: how a message becomes a backend request and the answer becomes
//! the message again.
//!
//! An [`Endpoint`] is a leaf (`leaf`: `http`, `address`, with retries, timeouts and
//! suspension) or a group (`failover`, `loadbalance`) of endpoints. Every failure is a
//! [`Fault`] with Synapse's code, so fault sequences read the same `ERROR_CODE` a Synapse
//! user expects. Endpoints are built from their checked form (`ferry_api::check::endpoint`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ferry_api::check::endpoint::{self as checked, EndpointRef};
use http::{Request, Response};
use tokio::time::Instant;

use super::BuildCx;
use super::failover::Failover;
use super::leaf::Leaf;
use super::loadbalance::{Loadbalance, weighted_schedule};
use crate::fault::{Fault, codes};
use crate::message::Message;
use crate::telemetry::Trace;
use crate::transports::http::body::{self, Body};

/// How long a call may take when its endpoint sets no timeout (Synapse's global default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest backend answer read into memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How a successful call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The backend answered; the message now holds the response.
    Answered,
    /// The call timed out with `responseAction: discard`: the flow ends without an answer.
    Discarded,
}

/// How a streamed call ended.
pub enum Forwarded {
    /// The backend answered; its body streams.
    Answered(Response<Body>),
    /// The call timed out with `responseAction: discard`.
    Discarded,
}

/// An endpoint, shared by every mediator and processor that refers to it.
pub struct Endpoint {
    /// The name (named endpoints) or the location (inline ones): the metrics label.
    name: Arc<str>,
    pub(super) kind: Kind,
    /// Deactivated through the management API (MI's endpoint `inactive`): every call fails
    /// at once as a suspended endpoint's does, until activated. A reload starts active.
    deactivated: AtomicBool,
}

pub(super) enum Kind {
    Leaf(Box<Leaf>),
    Rabbitmq(Box<super::rabbitmq::RabbitMqEndpoint>),
    Mqtt(Box<super::mqtt::MqttEndpoint>),
    Smtp(Box<super::smtp::SmtpEndpoint>),
    File(Box<super::file::FileEndpoint>),
    Failover(Failover),
    Loadbalance(Loadbalance),
}

impl Endpoint {
    /// A mediator's (or group's) endpoint: a named one, built before, or an inline one,
    /// built now and named by where it is defined.
    pub fn build_ref(reference: &EndpointRef, cx: &mut BuildCx<'_>) -> Option<Arc<Endpoint>> {
        match reference {
            EndpointRef::Key(name) => cx.endpoint(name),
            EndpointRef::Inline { field, endpoint } => {
                let label = format!("{} {field}", cx.resource());
                Endpoint::build(&label, endpoint, cx).map(Arc::new)
            }
        }
    }

    /// Builds an endpoint from its checked form.
    pub fn build(name: &str, c: &checked::Endpoint, cx: &mut BuildCx<'_>) -> Option<Endpoint> {
        let kind = match c {
            checked::Endpoint::Leaf(leaf) => Kind::Leaf(Box::new(Leaf::build(leaf, cx)?)),
            checked::Endpoint::Rabbitmq(target) => Kind::Rabbitmq(Box::new(
                super::rabbitmq::RabbitMqEndpoint::new(name, target),
            )),
            checked::Endpoint::Mqtt(target) => {
                Kind::Mqtt(Box::new(super::mqtt::MqttEndpoint::new(target)))
            }
            checked::Endpoint::Smtp(target) => {
                Kind::Smtp(Box::new(super::smtp::SmtpEndpoint::new(target)))
            }
            checked::Endpoint::File(target) => {
                Kind::File(Box::new(super::file::FileEndpoint::new(target)))
            }
            checked::Endpoint::Failover { children, dynamic } => Kind::Failover(Failover {
                children: build_children(children, cx)?,
                dynamic: *dynamic,
                current: AtomicUsize::new(0),
            }),
            checked::Endpoint::Loadbalance {
                children,
                weights,
                failover,
            } => {
                let children = build_children(children, cx)?;
                let schedule = match weights {
                    None => (0..children.len()).collect(),
                    Some(weights) => weighted_schedule(weights),
                };
                Kind::Loadbalance(Loadbalance {
                    children,
                    schedule,
                    next: AtomicUsize::new(0),
                    failover: *failover,
                })
            }
        };
        Some(Endpoint {
            name: Arc::from(name),
            kind,
            deactivated: AtomicBool::new(false),
        })
    }

    /// The metrics label of this endpoint.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Delivers `msg` on a task of its own and forgets it (Synapse's `OUT_ONLY`): the flow
    /// goes on at once; the answer is read and dropped, a failure is logged. The endpoint's
    /// timeout bounds how long the task lives.
    pub fn deliver_detached(self: &Arc<Self>, mut msg: Message) {
        let endpoint = Arc::clone(self);
        tokio::spawn(async move {
            match endpoint.call(&mut msg).await {
                Ok(_) => tracing::debug!(
                    endpoint = %endpoint.name,
                    status = msg.status().as_u16(),
                    "out-only delivery answered"
                ),
                Err(fault) => tracing::warn!(
                    endpoint = %endpoint.name,
                    error = %fault.chain(),
                    "an out-only delivery failed; nobody waits for it"
                ),
            }
        });
    }

    /// Sends `msg` and replaces it with the answer. A backend's error status is an answer,
    /// not a fault; a failed call is a fault with Synapse's code.
    pub async fn call(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        Box::pin(self.call_inner(msg)).await
    }

    async fn call_inner(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        self.check_active()?;
        // A group's span holds its children's attempts and its failover events.
        let group = match (&self.kind, msg.trace()) {
            (Kind::Failover(_) | Kind::Loadbalance(_), Some(parent)) => {
                let kind = if matches!(self.kind, Kind::Failover(_)) {
                    "failover"
                } else {
                    "loadbalance"
                };
                let span = parent.child(
                    crate::telemetry::Kind::Internal,
                    format!("{kind} {}", self.name),
                    || {
                        vec![
                            opentelemetry::KeyValue::new("ferry.endpoint", self.name.to_string()),
                            opentelemetry::KeyValue::new("ferry.endpoint.kind", kind),
                        ]
                    },
                );
                let parent = msg.trace.replace(span.clone());
                Some((span, parent))
            }
            _ => None,
        };
        let result = self.call_kind(msg).await;
        if let Some((span, parent)) = group {
            if let Err(fault) = &result {
                span.error(fault.message.clone());
            }
            span.end();
            msg.trace = parent;
        }
        result
    }

    async fn call_kind(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        match &self.kind {
            Kind::Leaf(leaf) => leaf.call(&self.name, msg).await,
            Kind::Rabbitmq(rabbit) => rabbit.call(&self.name, msg).await,
            Kind::Mqtt(mqtt) => mqtt.call(&self.name, msg).await,
            Kind::Smtp(smtp) => smtp.call(&self.name, msg).await,
            Kind::File(file) => file.call(&self.name, msg).await,
            Kind::Failover(group) => group.call(&self.name, msg).await,
            Kind::Loadbalance(group) => group.call(&self.name, msg).await,
        }
    }

    /// Whether [`Endpoint::forward`] can serve this endpoint: a single leaf that sends the
    /// body once and never computes anything from it (groups resend the body to the next
    /// child, so they need it buffered).
    pub fn streams(&self) -> bool {
        matches!(&self.kind, Kind::Leaf(leaf) if leaf.streams())
    }

    /// The request [`Endpoint::forward`] sends for `msg` (method, URI, headers; its payload
    /// is not read), with `body` streaming behind it; the message is used up. Only for
    /// endpoints that [`Endpoint::streams`].
    pub fn forward_request(&self, msg: Message, body: Body) -> Result<Request<Body>, Fault> {
        self.check_active()?;
        match &self.kind {
            Kind::Leaf(leaf) => leaf.forward_request(&self.name, msg, body),
            _ => Err(Fault::internal(
                codes::SENDING_FAILED,
                format!("endpoint {} cannot stream a body", self.name),
            )),
        }
    }

    /// Whether [`Endpoint::forward_head`] makes this endpoint's streamed requests: a leaf
    /// whose URL is fixed and whose headers need no message.
    pub fn forwards_heads(&self) -> bool {
        matches!(&self.kind, Kind::Leaf(leaf) if leaf.forwards_heads())
    }

    /// [`Endpoint::forward_request`] from the client's request head, for an endpoint that
    /// [`Endpoint::forwards_heads`]: no message is made for the call.
    pub fn forward_head(
        &self,
        head: http::request::Parts,
        body: Body,
        trace: Option<&Trace>,
    ) -> Result<Request<Body>, Fault> {
        self.check_active()?;
        match &self.kind {
            Kind::Leaf(leaf) => leaf.forward_head(&self.name, head, body, trace),
            _ => Err(Fault::internal(
                codes::SENDING_FAILED,
                format!("endpoint {} cannot stream a body", self.name),
            )),
        }
    }

    /// Sends a request from [`Endpoint::forward_request`] and returns the backend's answer
    /// with its body streaming back.
    pub async fn forward(&self, request: Request<Body>) -> Result<Forwarded, Fault> {
        match &self.kind {
            Kind::Leaf(leaf) => leaf.forward(&self.name, request).await,
            _ => Err(Fault::internal(
                codes::SENDING_FAILED,
                format!("endpoint {} cannot stream a body", self.name),
            )),
        }
    }

    /// Sends `msg` as [`Endpoint::call`] does, but leaves the answer's body streaming from
    /// the backend ([`Message::set_streamed_response`]) instead of reading it: for a call
    /// whose answer nothing reads before it goes to the client. Endpoints that do not
    /// [`Endpoint::streams`] read the answer as `call` does.
    pub async fn call_streaming_answer(&self, msg: &mut Message) -> Result<Delivery, Fault> {
        let Kind::Leaf(leaf) = &self.kind else {
            return self.call(msg).await;
        };
        if !leaf.streams() {
            return self.call(msg).await;
        }
        self.check_active()?;
        leaf.check_suspension(&self.name)?;
        let mut request = leaf.final_request(msg)?.map(body::full);
        if let Some(trace) = msg.trace() {
            let trace = super::leaf::client_trace(trace, &self.name, &mut request, 0);
            request.extensions_mut().insert(trace);
        }
        match leaf.forward(&self.name, request).await? {
            Forwarded::Answered(answer) => {
                let (parts, body) = answer.into_parts();
                msg.set_streamed_response(parts.status, parts.headers, body);
                Ok(Delivery::Answered)
            }
            Forwarded::Discarded => Ok(Delivery::Discarded),
        }
    }

    /// Deactivates (`false`) or activates (`true`) the endpoint, as MI's management API
    /// does: a deactivated endpoint fails every call as suspended (303001) until activated;
    /// activating also ends a suspension after failures.
    pub fn set_active(&self, active: bool) {
        self.deactivated.store(!active, Ordering::Relaxed);
        if active
            && let Kind::Leaf(leaf) = &self.kind
            && let Some(s) = &leaf.suspension
        {
            s.on_success();
        }
    }

    /// Whether the management API deactivated it.
    pub fn is_deactivated(&self) -> bool {
        self.deactivated.load(Ordering::Relaxed)
    }

    fn check_active(&self) -> Result<(), Fault> {
        if self.is_deactivated() {
            return Err(Fault::upstream(
                codes::ENDPOINT_SUSPENDED,
                format!("endpoint {} is deactivated", self.name),
                false,
            ));
        }
        Ok(())
    }

    /// The endpoint's state for the management API: `kind`, `state` (`active`,
    /// `suspended` with the milliseconds left, `inactive` when deactivated) and a group's
    /// children.
    pub fn state_json(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let now = Instant::now();
        let (kind, mut out) = match &self.kind {
            Kind::Leaf(leaf) => {
                let (state, remaining, suspensions) = match &leaf.suspension {
                    Some(s) => match s.remaining(now) {
                        Some(left) => ("suspended", Some(left.as_millis() as u64), s.suspensions()),
                        None => ("active", None, s.suspensions()),
                    },
                    None => ("active", None, 0),
                };
                let mut v = json!({"state": state, "suspensions": suspensions});
                if let Some(ms) = remaining {
                    v["suspendedForMs"] = json!(ms);
                }
                if let Some(uri) = &leaf.fixed_uri {
                    v["address"] = json!(uri.to_string());
                }
                ("http", v)
            }
            Kind::Rabbitmq(_) => ("rabbitmq", json!({"state": "active"})),
            Kind::Mqtt(_) => ("mqtt", json!({"state": "active"})),
            Kind::Smtp(_) => ("smtp", json!({"state": "active"})),
            Kind::File(_) => ("file", json!({"state": "active"})),
            Kind::Failover(g) => (
                "failover",
                json!({
                    "state": if self.is_ready() { "active" } else { "suspended" },
                    "children": g.children.iter().map(|c| c.name().to_string()).collect::<Vec<_>>(),
                }),
            ),
            Kind::Loadbalance(g) => (
                "loadbalance",
                json!({
                    "state": if self.is_ready() { "active" } else { "suspended" },
                    "children": g.children.iter().map(|c| c.name().to_string()).collect::<Vec<_>>(),
                }),
            ),
        };
        if self.is_deactivated() {
            out["state"] = json!("inactive");
        }
        // Name and kind first: the order `ferry ctl` shows columns in.
        let mut ordered = serde_json::Map::new();
        ordered.insert("name".into(), json!(&*self.name));
        ordered.insert("kind".into(), json!(kind));
        if let Value::Object(fields) = out {
            ordered.extend(fields);
        }
        Value::Object(ordered)
    }

    /// Whether a call now would be tried (a suspended leaf, or a group of only suspended
    /// children, is not ready).
    pub(super) fn is_ready(&self) -> bool {
        if self.is_deactivated() {
            return false;
        }
        match &self.kind {
            Kind::Leaf(leaf) => leaf
                .suspension
                .as_ref()
                .is_none_or(|s| s.remaining(Instant::now()).is_none()),
            Kind::Rabbitmq(_) | Kind::Mqtt(_) | Kind::Smtp(_) | Kind::File(_) => true,
            Kind::Failover(g) => g.children.iter().any(|c| c.is_ready()),
            Kind::Loadbalance(g) => g.children.iter().any(|c| c.is_ready()),
        }
    }
}

fn build_children(refs: &[EndpointRef], cx: &mut BuildCx<'_>) -> Option<Vec<Arc<Endpoint>>> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        out.push(Endpoint::build_ref(r, cx)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
