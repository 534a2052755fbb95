//! Scheduled tasks: inject a message (payload, headers, content type) into a sequence or
//! an API resource on an interval (optionally `count` times), on a cron schedule, or once
//! at start. A standalone `ferry run` is the one runner of its tasks.
//!
//! Tasks are compiled with the configuration ([`CompiledTask`]) and started by the
//! [`runner::Tasks`] supervisor when it is installed, stopped when it is replaced.

pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_api::resources::scheduled_task::ScheduledTaskSpec;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::compile::CompileCx;
use crate::schedule::CronSchedule;
use crate::sequence::SeqId;

/// When a task fires.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every `every`, the first at start, `count` times in all (no limit when `None`).
    Interval {
        /// The period.
        every: Duration,
        /// How many runs in total.
        count: Option<u64>,
    },
    /// At the times of a cron expression (UTC).
    Cron(Arc<CronSchedule>),
    /// Once, at start.
    Once,
}

/// Where the message goes.
pub enum Injection {
    /// Into a named sequence.
    Sequence(SeqId),
    /// As a request to an API: method and full path (context included).
    Api {
        /// The request method.
        method: Method,
        /// The path and query, context included.
        path: String,
    },
}

/// A task, ready to run.
pub struct CompiledTask {
    /// Its name.
    pub name: Arc<str>,
    /// When it fires.
    pub schedule: Schedule,
    /// The payload.
    pub payload: Bytes,
    /// The transport headers, Content-Type included.
    pub headers: HeaderMap,
    /// Where the message goes.
    pub inject: Injection,
}

impl CompiledTask {
    /// Compiles a ScheduledTask spec; `api_prefixes` maps API names to their resolved
    /// context. Every problem is a located error.
    pub fn compile(
        name: &str,
        spec: &ScheduledTaskSpec,
        api_prefixes: &std::collections::HashMap<String, String>,
        cx: &mut CompileCx<'_>,
    ) -> Option<Self> {
        let t = &spec.trigger;
        let set =
            usize::from(t.interval.is_some()) + usize::from(t.cron.is_some()) + usize::from(t.once);
        if set != 1 {
            cx.error("spec.trigger", "set exactly one of interval, cron and once");
            return None;
        }
        if t.count.is_some() && t.interval.is_none() {
            cx.error("spec.trigger.count", "count goes with interval");
            return None;
        }
        let schedule = match (t.interval, &t.cron) {
            (Some(0), _) => {
                cx.error("spec.trigger.interval", "must be at least 1 millisecond");
                return None;
            }
            (Some(ms), _) => Schedule::Interval {
                every: Duration::from_millis(ms),
                count: t.count,
            },
            (None, Some(expr)) => match CronSchedule::parse(expr) {
                Ok(c) => Schedule::Cron(Arc::new(c)),
                Err(e) => {
                    cx.error("spec.trigger.cron", e);
                    return None;
                }
            },
            (None, None) => Schedule::Once,
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &spec.message.headers {
            match (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => {
                    cx.error(
                        &format!("spec.message.headers.{k}"),
                        "not a valid HTTP header",
                    );
                    return None;
                }
            }
        }
        match HeaderValue::from_str(&spec.message.content_type) {
            Ok(ct) => {
                headers.insert(http::header::CONTENT_TYPE, ct);
            }
            Err(_) => {
                cx.error("spec.message.contentType", "not a valid content type");
                return None;
            }
        }
        let i = &spec.inject;
        let inject = match (&i.sequence, &i.api) {
            (Some(seq), None) => {
                if i.path.is_some() || i.method.is_some() {
                    cx.error("spec.inject", "path and method go with api, not sequence");
                    return None;
                }
                Injection::Sequence(cx.sequence_id("spec.inject.sequence", seq)?)
            }
            (None, Some(api)) => {
                let Some(prefix) = api_prefixes.get(api) else {
                    cx.error(
                        "spec.inject.api",
                        format!("IntegrationAPI \"{api}\" is not defined"),
                    );
                    return None;
                };
                let rest = i.path.as_deref().unwrap_or("/");
                if !rest.starts_with('/') {
                    cx.error("spec.inject.path", "must start with '/'");
                    return None;
                }
                let path = if prefix == "/" {
                    rest.to_string()
                } else if rest == "/" {
                    prefix.clone()
                } else {
                    format!("{prefix}{rest}")
                };
                let method = i
                    .method
                    .as_ref()
                    .map(ferry_api::validate::method_name)
                    .unwrap_or_else(|| "POST".to_string());
                let Ok(method) = Method::from_bytes(method.as_bytes()) else {
                    cx.error("spec.inject.method", "not an HTTP method");
                    return None;
                };
                Injection::Api { method, path }
            }
            _ => {
                cx.error("spec.inject", "set exactly one of sequence and api");
                return None;
            }
        };
        Some(Self {
            name: Arc::from(name),
            schedule,
            payload: Bytes::from(spec.message.payload.clone().unwrap_or_default()),
            headers,
            inject,
        })
    }
}
