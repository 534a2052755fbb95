//! ScheduledTask checks: exactly one trigger, the message's headers, and one injection
//! target that exists (an API's path is resolved here, context and version included).

use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::cx::Cx;
use crate::resources::scheduled_task::ScheduledTaskSpec;
use crate::schedule::CronSchedule;

/// A checked ScheduledTask.
#[derive(Debug, Clone)]
pub struct Task {
    /// When it fires.
    pub schedule: Schedule,
    /// The payload.
    pub payload: String,
    /// The transport headers, Content-Type included.
    pub headers: HeaderMap,
    /// Where the message goes.
    pub inject: Injection,
}

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
    Cron(Box<CronSchedule>),
    /// Once, at start.
    Once,
}

/// Where a task's message goes.
#[derive(Debug, Clone)]
pub enum Injection {
    /// Into a named Sequence, which exists.
    Sequence(String),
    /// As a request to an API: method and full path (context included).
    Api {
        /// The request method.
        method: Method,
        /// The path and query, context included.
        path: String,
    },
}

/// Checks a ScheduledTask; `api_prefixes` maps `(runtime group, API name)` to the API's
/// resolved context.
pub fn check(
    cx: &mut Cx<'_>,
    spec: &ScheduledTaskSpec,
    api_prefixes: &HashMap<(&str, &str), String>,
) -> Option<Task> {
    let schedule = schedule(cx, spec);
    let headers = headers(cx, spec);
    let inject = injection(cx, spec, api_prefixes);
    Some(Task {
        schedule: schedule?,
        payload: spec.message.payload.clone().unwrap_or_default(),
        headers: headers?,
        inject: inject?,
    })
}

fn schedule(cx: &mut Cx<'_>, spec: &ScheduledTaskSpec) -> Option<Schedule> {
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
    match (t.interval, &t.cron) {
        (Some(0), _) => {
            cx.error("spec.trigger.interval", "must be at least 1 millisecond");
            None
        }
        (Some(ms), _) => Some(Schedule::Interval {
            every: Duration::from_millis(ms),
            count: t.count,
        }),
        (None, Some(expr)) => match CronSchedule::parse(expr) {
            Ok(c) => Some(Schedule::Cron(Box::new(c))),
            Err(e) => {
                cx.error("spec.trigger.cron", e);
                None
            }
        },
        (None, None) => Some(Schedule::Once),
    }
}

fn headers(cx: &mut Cx<'_>, spec: &ScheduledTaskSpec) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    let mut ok = true;
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
                ok = false;
            }
        }
    }
    match HeaderValue::from_str(&spec.message.content_type) {
        Ok(ct) => {
            headers.insert(http::header::CONTENT_TYPE, ct);
        }
        Err(_) => {
            cx.error("spec.message.contentType", "not a valid content type");
            ok = false;
        }
    }
    ok.then_some(headers)
}

fn injection(
    cx: &mut Cx<'_>,
    spec: &ScheduledTaskSpec,
    api_prefixes: &HashMap<(&str, &str), String>,
) -> Option<Injection> {
    let i = &spec.inject;
    match (&i.sequence, &i.api) {
        (Some(seq), None) => {
            if i.path.is_some() || i.method.is_some() {
                cx.error("spec.inject", "path and method go with api, not sequence");
                return None;
            }
            cx.sequence_ref("spec.inject.sequence", seq)
                .map(Injection::Sequence)
        }
        (None, Some(api)) => {
            if !cx.reference("spec.inject.api", "IntegrationAPI", api) {
                return None;
            }
            // An API whose context does not resolve was reported on the API itself.
            let runtime = cx.loaded().resource.runtime();
            let prefix = api_prefixes.get(&(runtime, api.as_str()))?;
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
                .map(crate::validate::method_name)
                .unwrap_or_else(|| "POST".to_string());
            let Ok(method) = Method::from_bytes(method.as_bytes()) else {
                cx.error("spec.inject.method", "not an HTTP method");
                return None;
            };
            Some(Injection::Api { method, path })
        }
        _ => {
            cx.error("spec.inject", "set exactly one of sequence and api");
            None
        }
    }
}
