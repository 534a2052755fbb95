//! Check of the `throttle` mediator (Synapse's, with token buckets): the caller key parsed,
//! each rule turned into what the runtime counts, Redis settings resolved. Synapse policy
//! features Ferry does not implement (DOMAIN callers, address ranges, prohibit periods) are
//! located errors, not settings that silently do nothing.

use std::time::Duration;

use super::{Mediator, check_list};
use crate::check::cx::Cx;
use crate::expr::Expression;
use crate::mediator::{ThrottleAccess, ThrottleRuleType, ThrottleSpec};

/// The Redis server a throttle uses when none is named.
pub const DEFAULT_THROTTLE_REDIS: &str = "redis://127.0.0.1:6379";
/// The default prefix of a throttle's Redis keys.
pub const DEFAULT_THROTTLE_PREFIX: &str = "ferry:throttle:";

/// A checked `throttle`.
#[derive(Debug, Clone)]
pub struct Throttle {
    /// The id; throttles with one id share their counters.
    pub id: String,
    /// The caller key; `None`: the client's IP address.
    pub key: Option<Expression>,
    /// Messages in flight through `onAccept` at once (per replica).
    pub max_concurrent: Option<u32>,
    /// The rules, first match wins; a caller no rule matches is not limited.
    pub rules: Vec<ThrottleRule>,
    /// Callers tracked at once per replica.
    pub max_keys: usize,
    /// Shared counting.
    pub redis: Option<ThrottleRedis>,
    /// Runs for admitted messages.
    pub on_accept: Vec<Mediator>,
    /// Runs for rejected messages; empty: a 429 answer.
    pub on_reject: Vec<Mediator>,
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRule {
    /// The key it covers; `None`: `other` (every key).
    pub range: Option<String>,
    /// What it does.
    pub action: RuleAction,
}

/// What a rule does with the callers it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Never limited.
    Allow,
    /// Always rejected.
    Deny,
    /// A token bucket of `max_count` tokens refilled in full over `unit_time`.
    Limit {
        /// The bucket's size: requests allowed in a burst.
        max_count: u32,
        /// The time to refill the whole bucket.
        unit_time: Duration,
    },
}

/// Checked Redis settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRedis {
    /// The URL, or the environment variable holding it.
    pub url: RedisUrl,
    /// Prefix of the keys.
    pub key_prefix: String,
    /// How long an answer may take.
    pub timeout: Duration,
    /// TLS settings for a `rediss://` URL; `None` there: the system roots alone.
    pub tls: Option<crate::check::tls::ClientTls>,
}

/// Where a Redis URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisUrl {
    /// Written in the resource.
    Literal(String),
    /// An environment variable (from a Secret).
    Env(String),
}

pub(super) fn throttle(cx: &mut Cx<'_>, field: &str, spec: &ThrottleSpec) -> Option<Throttle> {
    let before = cx.error_count();
    if spec.id.is_empty() {
        cx.error(&format!("{field}.id"), "may not be empty");
    }
    let key = match &spec.key {
        Some(k) => cx.expression(&format!("{field}.key"), k),
        None => None,
    };
    let mut rules = Vec::with_capacity(spec.policy.rules.len());
    for (i, r) in spec.policy.rules.iter().enumerate() {
        let at = |f: &str| format!("{field}.policy.rules[{i}].{f}");
        if r.type_ == ThrottleRuleType::Domain {
            cx.error(
                &at("type"),
                "DOMAIN callers are not supported (Ferry does no reverse DNS): use IP, or a key",
            );
        }
        if r.prohibit_time_period.is_some() {
            cx.error(
                &at("prohibitTimePeriod"),
                "prohibit periods are not supported: a caller is admitted again as its bucket refills",
            );
        }
        let range = r.range.trim();
        if range.is_empty() {
            cx.error(&at("range"), "name a caller key or `other`");
        } else if spec.key.is_none() && range.contains('-') && range != "other" {
            cx.error(
                &at("range"),
                "address ranges are not supported: name one address, or `other`",
            );
        }
        let action = match r.access {
            ThrottleAccess::Allow => RuleAction::Allow,
            ThrottleAccess::Deny => RuleAction::Deny,
            ThrottleAccess::Control => match (r.max_count, r.unit_time) {
                (Some(max_count), Some(unit)) if max_count > 0 && unit > 0 => RuleAction::Limit {
                    max_count,
                    unit_time: Duration::from_millis(unit),
                },
                _ => {
                    cx.error(
                        &format!("{field}.policy.rules[{i}]"),
                        "a control rule needs maxCount and unitTime, both above 0",
                    );
                    RuleAction::Allow
                }
            },
        };
        rules.push(ThrottleRule {
            range: (range != "other").then(|| range.to_string()),
            action,
        });
    }
    if rules.is_empty() && spec.policy.max_concurrent_access.is_none() {
        cx.error(
            &format!("{field}.policy"),
            "set rules, maxConcurrentAccess or both: a throttle without limits admits everything",
        );
    }
    if spec.policy.max_concurrent_access == Some(0) {
        cx.error(
            &format!("{field}.policy.maxConcurrentAccess"),
            "must be at least 1",
        );
    }
    if spec.policy.max_concurrent_access.is_some() && spec.on_accept.is_empty() {
        cx.error(
            &format!("{field}.policy.maxConcurrentAccess"),
            "needs onAccept: a message holds its place while onAccept runs",
        );
    }
    if spec.max_keys == Some(0) {
        cx.error(&format!("{field}.maxKeys"), "must be at least 1");
    }
    let redis = spec.redis.as_ref().and_then(|r| {
        let at = format!("{field}.redis");
        let url = match (&r.url, &r.url_from) {
            (Some(_), Some(_)) => {
                cx.error(&at, "set url or urlFrom, not both");
                return None;
            }
            (None, Some(from)) => match from.env_var() {
                Some(var) => RedisUrl::Env(var),
                None => {
                    cx.error(&format!("{at}.urlFrom"), "set env or secretKeyRef");
                    return None;
                }
            },
            (url, None) => {
                let url = url.as_deref().unwrap_or(DEFAULT_THROTTLE_REDIS);
                if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                    cx.error(
                        &format!("{at}.url"),
                        format!("{url:?} is not a redis:// URL"),
                    );
                    return None;
                }
                if url.starts_with("rediss://") && url.contains('#') {
                    cx.error(
                        &format!("{at}.url"),
                        "Ferry never turns certificate verification off (#insecure); trust the server's CA with tls.caFrom",
                    );
                    return None;
                }
                if r.tls.is_some() && !url.starts_with("rediss://") {
                    cx.error(
                        &format!("{at}.tls"),
                        "tls goes with a rediss:// URL",
                    );
                    return None;
                }
                if url.contains('@') {
                    cx.error(
                        &format!("{at}.url"),
                        "a URL with credentials belongs in urlFrom (a Secret), not in the resource",
                    );
                    return None;
                }
                RedisUrl::Literal(url.to_string())
            }
        };
        let tls = match &r.tls {
            Some(t) => Some(crate::check::tls::client(cx, &format!("{at}.tls"), t)?),
            None => None,
        };
        Some(ThrottleRedis {
            tls,
            url,
            key_prefix: r
                .key_prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_THROTTLE_PREFIX.to_string()),
            timeout: Duration::from_millis(r.timeout.unwrap_or(250).max(1)),
        })
    });
    if spec.redis.is_some() && spec.policy.max_concurrent_access.is_some() {
        cx.warning(
            &format!("{field}.policy.maxConcurrentAccess"),
            "counted per replica: Redis shares the rate rules only",
        );
    }
    let on_accept = check_list(cx, &format!("{field}.onAccept"), &spec.on_accept);
    let on_reject = check_list(cx, &format!("{field}.onReject"), &spec.on_reject);
    (cx.error_count() == before).then_some(())?;
    Some(Throttle {
        id: spec.id.clone(),
        key,
        max_concurrent: spec.policy.max_concurrent_access,
        rules,
        max_keys: spec.max_keys.unwrap_or(10_000) as usize,
        redis,
        on_accept: on_accept?,
        on_reject: on_reject?,
    })
}
