//! `throttle`: admits or rejects a message by its caller's rate, with token buckets, and
//! runs `onAccept` or `onReject` (Synapse's names).
//!
//! The caller key is the client's IP address (`REMOTE_ADDR`) or the `key` expression's value;
//! the first rule whose `range` is that key (or `other`) decides: `allow`, `deny`, or a bucket
//! of `maxCount` tokens refilled in full over `unitTime`. Buckets live per replica, shared by
//! every throttle with the same id and kept across reloads; with `redis` they live in Redis
//! and every replica draws from the same bucket. When Redis cannot be reached the replica
//! decides alone with its own buckets (a WARN once per outage, counted in
//! `ferry_throttle_redis_fallbacks_total`) and tries Redis again a few seconds later.
//!
//! A rejected message gets `ERROR_CODE` 900800 and `ERROR_MESSAGE`; with no `onReject` it is
//! answered 429 with `Retry-After`.

mod buckets;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use ferry_api::check::mediator::{self as checked, RuleAction};
use ferry_api::expr::Expression;
use http::StatusCode;
use serde_json::{Value, json};

use super::{BuildCx, Mediator};
use crate::admin::metrics::ThrottleMetrics;
use crate::expr::context::PropertyScope;
use crate::expr::value::eval;
use crate::fault::Fault;
use crate::message::Message;
use crate::message::properties::{ERROR_CODE, ERROR_MESSAGE, REMOTE_ADDR};
use crate::sequence::{self, Env, Flow};
pub use buckets::{Buckets, Decision};
pub use shared::RedisBuckets;

/// `ERROR_CODE` of a message the throttle rejected (API Manager's "message throttled out").
pub const THROTTLED: u32 = 900800;

/// A `throttle` mediator.
pub struct Throttle {
    id: String,
    key: Option<Expression>,
    rules: Vec<checked::ThrottleRule>,
    local: Arc<Buckets>,
    redis: Option<Arc<RedisBuckets>>,
    concurrency: Option<Arc<tokio::sync::Semaphore>>,
    metrics: ThrottleMetrics,
    on_accept: Vec<Mediator>,
    on_reject: Vec<Mediator>,
}

impl Throttle {
    /// Builds the mediator; buckets of the same id are shared (and survive reloads).
    pub fn build(c: &checked::Throttle, cx: &mut BuildCx<'_>) -> Option<Self> {
        let redis = match &c.redis {
            None => None,
            Some(r) => match RedisBuckets::shared(r) {
                Ok(redis) => Some(redis),
                Err(e) => {
                    cx.error("", format!("throttle {:?}: {e}", c.id));
                    return None;
                }
            },
        };
        Some(Throttle {
            id: c.id.clone(),
            key: c.key.clone(),
            rules: c.rules.clone(),
            local: Buckets::shared(&c.id, c.max_keys),
            redis,
            concurrency: c
                .max_concurrent
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize))),
            metrics: cx.env.metrics.throttle(&c.id),
            on_accept: super::build_list(&c.on_accept, cx),
            on_reject: super::build_list(&c.on_reject, cx),
        })
    }

    /// Decides, then runs `onAccept` or `onReject`.
    pub async fn mediate(&self, msg: &mut Message, env: Env<'_>) -> Result<Flow, Fault> {
        let key = self.caller(msg)?;
        let decision = self.decide(&key).await;
        let permit = match (&decision, &self.concurrency) {
            (Decision::Accept, Some(sem)) => match sem.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return self
                        .reject(msg, env, None, "too many messages in flight")
                        .await;
                }
            },
            _ => None,
        };
        match decision {
            Decision::Accept => {
                self.metrics.accepted.inc();
                let flow = if self.on_accept.is_empty() {
                    Ok(Flow::Continue)
                } else {
                    sequence::run(&self.on_accept, msg, env).await
                };
                drop(permit);
                flow
            }
            Decision::Reject { retry_after } => {
                self.reject(msg, env, retry_after, "the caller's rate limit is reached")
                    .await
            }
        }
    }

    /// The caller key: the `key` expression's value as text, else the client's address.
    fn caller(&self, msg: &Message) -> Result<String, Fault> {
        let value = match &self.key {
            Some(expr) => eval(expr, msg)?,
            None => msg
                .property(PropertyScope::Axis2, REMOTE_ADDR)
                .unwrap_or(Value::Null),
        };
        Ok(match value {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// The first matching rule's verdict; a caller no rule covers is admitted.
    async fn decide(&self, key: &str) -> Decision {
        let rule = self
            .rules
            .iter()
            .find(|r| r.range.as_deref().is_none_or(|range| range == key));
        let Some(rule) = rule else {
            return Decision::Accept;
        };
        match rule.action {
            RuleAction::Allow => Decision::Accept,
            RuleAction::Deny => Decision::Reject { retry_after: None },
            RuleAction::Limit {
                max_count,
                unit_time,
            } => {
                if let Some(redis) = &self.redis {
                    match redis.take(&self.id, key, max_count, unit_time).await {
                        Some(decision) => return decision,
                        None => {
                            self.metrics.redis_fallbacks.inc();
                        }
                    }
                }
                self.local.take(key, max_count, unit_time)
            }
        }
    }

    async fn reject(
        &self,
        msg: &mut Message,
        env: Env<'_>,
        retry_after: Option<Duration>,
        why: &str,
    ) -> Result<Flow, Fault> {
        self.metrics.rejected.inc();
        let message = format!("Message throttled out: {why}");
        msg.set_property(PropertyScope::Default, ERROR_CODE, Value::from(THROTTLED));
        msg.set_property(
            PropertyScope::Default,
            ERROR_MESSAGE,
            Value::String(message.clone()),
        );
        if !self.on_reject.is_empty() {
            return sequence::run(&self.on_reject, msg, env).await;
        }
        msg.set_json(json!({"error": {"code": THROTTLED, "message": message}}));
        msg.set_property(
            PropertyScope::Axis2,
            crate::message::properties::HTTP_SC,
            Value::from(StatusCode::TOO_MANY_REQUESTS.as_u16()),
        );
        let seconds = retry_after.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
        msg.set_header("Retry-After", &seconds.to_string())
            .map_err(|e| Fault::internal(crate::fault::codes::CUSTOM, e.to_string()))?;
        Ok(Flow::Respond)
    }
}

#[cfg(test)]
mod tests;
